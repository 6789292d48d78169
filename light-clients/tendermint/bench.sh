#!/usr/bin/env bash
# Benchmark header verification (150 validators) against tendermint-light-client-verifier's
# ProdVerifier, and write bench-results/verify-150.json from criterion's estimates.
# Extra arguments go to criterion, e.g. ./bench.sh --sample-size 50
set -euo pipefail
cd "$(dirname "$0")"
cargo bench -j 1 -p ferry-light-client-tendermint --bench verify -- \
    --sample-size 20 --measurement-time 5 --warm-up-time 2 "$@"
cat bench-results/verify-150.json
