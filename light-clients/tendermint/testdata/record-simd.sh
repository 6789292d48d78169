#!/usr/bin/env bash
# Records the CometBFT 0.38 RPC answers that tests/simd_fixtures.rs verifies, from a running devnet
# chain (ibc-go v8.8.0 simd, one validator): `ferry devnet up`, then
#   light-clients/tendermint/testdata/record-simd.sh http://127.0.0.1:<rpc port of l3-appchain-1>
# Writes testdata/simd-v8/*.json (the JSON-RPC answers as served). The chain must be past height 10.
set -euo pipefail
rpc="${1:?usage: record-simd.sh RPC_URL}"
out="$(cd "$(dirname "$0")" && pwd)/simd-v8"
mkdir -p "$out"
get() { curl -fsS "$rpc/$1" | python3 -m json.tool --indent 1 > "$out/$2"; }
get "validators?height=1" validators_at_height_1.json
get "block?height=1" block_at_height_1.json
get "block?height=10" block_at_height_10.json
get "blockchain?minHeight=1&maxHeight=10" blockchain_from_1_to_10.json
get "commit?height=10" commit_at_height_10.json
ls -l "$out"
