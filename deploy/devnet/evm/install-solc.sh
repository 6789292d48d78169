#!/usr/bin/env bash
# Install solc-js (the Solidity compiler as wasm, run by node) from npm into a per-user cache and
# print its module directory, for `node contracts/compile.mjs <out_dir> <module dir>`.
#
#   deploy/devnet/evm/install-solc.sh            # installs once, prints e.g. ~/.cache/ferry/npm/node_modules/solc
#   SOLC_DIR=$(deploy/devnet/evm/install-solc.sh)
#
# Only the install's progress goes to stderr; stdout is exactly the path, so callers can capture it.
set -euo pipefail

VERSION="0.8.28" # pinned; contracts/package.json and deploy/devnet/src/contracts.rs say the same
PREFIX="${FERRY_NPM_PREFIX:-$HOME/.cache/ferry/npm}"
DIR="$PREFIX/node_modules/solc"

installed() {
    [ -f "$DIR/soljson.js" ] && grep -q "\"version\": \"$VERSION\"" "$DIR/package.json" 2>/dev/null
}

if ! installed; then
    command -v npm >/dev/null || { echo "install-solc: npm not found" >&2; exit 1; }
    mkdir -p "$PREFIX"
    npm install --no-audit --no-fund --prefix "$PREFIX" "solc@$VERSION" >&2
fi

installed || { echo "install-solc: solc $VERSION missing in $DIR after install" >&2; exit 1; }
echo "$DIR"
