#!/usr/bin/env bash
# Builds Hermes (ibc-relayer-cli) 1.13.2, the benchmark peer of `make bench-compare`, from its crates.io
# source into Ferry's cache, once; prints the binary's path. Hermes is never a dependency of Ferry.
#
# Why not a plain `cargo install ibc-relayer-cli --version 1.13.2 --bin hermes --locked`: one of its
# dependencies, penumbra-sdk-proof-params 2.0.1, downloads Penumbra proving keys from GitHub in its
# build script, which fails on a machine that reaches only package registries. The keys are only read
# when relaying for a Penumbra chain, so the build uses a copy of that crate whose build script does
# nothing ([patch.crates-io]), and otherwise the crate's own Cargo.lock (`--locked` cannot be kept: the
# patch changes one lock entry).
set -euo pipefail

VERSION=1.13.2
PROOF_PARAMS=2.0.1
CACHE="${FERRY_CACHE:-${HOME}/.cache/ferry}"
ROOT="${CACHE}/hermes-${VERSION}"
BIN="${ROOT}/bin/hermes"
if [ -x "${BIN}" ]; then
    echo "${BIN}"
    exit 0
fi

# bindgen (zstd-sys) needs libclang; namada's build scripts need protoc.
need_apt=()
compgen -G '/usr/lib/llvm-*/lib/libclang.so*' >/dev/null || need_apt+=(libclang-dev)
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-hermes: installing ${need_apt[*]} (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

SRC="${ROOT}/src"
rm -rf "${SRC}"
mkdir -p "${SRC}"
fetch_crate() { # name version
    curl -fsSL "https://static.crates.io/crates/$1/$1-$2.crate" | tar xz -C "${SRC}"
}
fetch_crate ibc-relayer-cli "${VERSION}"
fetch_crate penumbra-sdk-proof-params "${PROOF_PARAMS}"
echo 'fn main() {}' > "${SRC}/penumbra-sdk-proof-params-${PROOF_PARAMS}/build.rs"
cat >> "${SRC}/ibc-relayer-cli-${VERSION}/Cargo.toml" <<TOML

[patch.crates-io]
penumbra-sdk-proof-params = { path = "../penumbra-sdk-proof-params-${PROOF_PARAMS}" }
TOML

echo "install-hermes: building hermes ${VERSION} (release; about 45 min on 2 cores, first run only)" >&2
CARGO_TARGET_DIR="${CACHE}/hermes-target" cargo build --release --bin hermes \
    --manifest-path "${SRC}/ibc-relayer-cli-${VERSION}/Cargo.toml" -j "${FERRY_HERMES_JOBS:-2}" >&2
mkdir -p "${ROOT}/bin"
cp "${CACHE}/hermes-target/release/hermes" "${BIN}.tmp"
mv "${BIN}.tmp" "${BIN}"
"${BIN}" version >&2
echo "${BIN}"
