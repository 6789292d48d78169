#!/usr/bin/env bash
# Install anvil (Foundry's local EVM devnet) from npm into a per-user cache and print the binary path.
#
#   deploy/devnet/evm/install-anvil.sh            # installs once, prints e.g. ~/.cache/ferry/npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
#   FERRY_ANVIL=$(deploy/devnet/evm/install-anvil.sh)
#
# Only the install's progress goes to stderr; stdout is exactly the path, so callers can capture it.
set -euo pipefail

VERSION="${ANVIL_VERSION:-1.7.1}"
PACKAGE="@foundry-rs/anvil-linux-amd64"
PREFIX="${FERRY_NPM_PREFIX:-$HOME/.cache/ferry/npm}"
BIN="$PREFIX/node_modules/$PACKAGE/bin/anvil"

if [ ! -x "$BIN" ]; then
    command -v npm >/dev/null || { echo "install-anvil: npm not found" >&2; exit 1; }
    mkdir -p "$PREFIX"
    npm install --no-audit --no-fund --prefix "$PREFIX" "$PACKAGE@$VERSION" >&2
    chmod +x "$BIN" 2>/dev/null || true
fi

[ -x "$BIN" ] || { echo "install-anvil: $BIN missing after install" >&2; exit 1; }
echo "$BIN"
