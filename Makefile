# Ferry: `make demo` runs the main job on the local devnet; `make test` runs every test.
# Compiled artefacts are cached outside the checkout so a fresh clone reuses them.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/ferry/target
# Tools built for the tests (helm) live in Ferry's cache, outside the checkout.
export PATH := $(HOME)/.cache/ferry/bin:$(PATH)
CARGO ?= cargo
SHELL := /bin/bash
TEST_LOG := $(CARGO_TARGET_DIR)/ferry-test.log

.PHONY: demo test deps build lint bench bench-evm bench-v2 bench-takeover bench-compare bench-light-client devnet-up devnet-down

## The main job: devnet up, path opened, relayer started, one transfer each way, balances and metrics.
demo: deps
	$(CARGO) build --release -p ferry -p ferry-devnet --bins
	$(CARGO_TARGET_DIR)/release/ferry devnet demo

## Every test: formatting and clippy (-D warnings), unit, light client, live-devnet integration
## (the HTTP API with schemathesis, the console in headless Chromium), dashboards and alert rules.
## `deps` installs every tool the tests use (promtool, systemd-analyze, helm, Chromium, ...); a missing
## one fails its test.
# Incremental state only pays back on edits; on CI clones it just fills the cached target dir.
test: export CARGO_INCREMENTAL = 0
test: deps
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) build -p ferry -p ferry-devnet --bins
	mkdir -p $(CARGO_TARGET_DIR)
	set -o pipefail; $(CARGO) test --workspace --lib --bins --tests 2>&1 | tee $(TEST_LOG)
	dashboards/check.sh
	@awk '/^test result:/ {p += $$4; f += $$6} END {printf "tests: %d passed, %d failed\n", p, f}' $(TEST_LOG)

## What the tests and the devnet need on a fresh machine (Go, promtool, ...).
deps:
	deploy/ci/install-deps.sh

build:
	$(CARGO) build --release -p ferry -p ferry-devnet --bins

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## End-to-end benchmark: 1,000 transfers on the devnet; writes bench-results/e2e-1000.json.
bench: deps build
	FERRY_BIN=$(CARGO_TARGET_DIR)/release/ferry $(CARGO) run --release -p ferry-tests --bin e2e-bench -- bench-results/e2e-1000.json

## EVM end to end: 1,000 ERC-20 transfers over the anvil path (writes bench-results/evm-1000.json; FERRY_BENCH_N=… for another count).
bench-evm: deps build
	FERRY_BIN=$(CARGO_TARGET_DIR)/release/ferry $(CARGO) run --release -p ferry-tests --bin evm-bench -- bench-results/evm-1000.json

## IBC v2 cosmos–evm path: 500 transfers each way between v2-appchain-1 (ibc-go v11) and evm-settlement
## (writes bench-results/v2-500.json; FERRY_BENCH_N=… for another count).
bench-v2: deps build
	FERRY_BIN=$(CARGO_TARGET_DIR)/release/ferry $(CARGO) run --release -p ferry-tests --bin v2-bench -- bench-results/v2-500.json

## Takeover: three instances on one PostgreSQL, the lane owner killed in each of three rounds of 300
## transfers (writes bench-results/takeover.json). `FERRY_BENCH_POSTGRES=1 make bench`: the 1,000-transfer
## bench with its state in PostgreSQL.
bench-takeover: deps build
	FERRY_BIN=$(CARGO_TARGET_DIR)/release/ferry $(CARGO) run --release -p ferry-tests --bin takeover-bench -- bench-results/takeover.json

## Ferry and Hermes 1.13.2 side by side on one devnet (writes bench-results/compare.json). The
## first run builds Hermes from crates.io into ~/.cache/ferry (about 45 min on 2 cores).
## FERRY_BENCH_WORKLOADS=1,2,3 and FERRY_BENCH_REPEATS=3 by default.
bench-compare: deps build
	tests/bench/compare/install-hermes.sh >/dev/null
	$(CARGO) build --release -p ferry-tests --bin compare-bench
	FERRY_BIN=$(CARGO_TARGET_DIR)/release/ferry $(CARGO_TARGET_DIR)/release/compare-bench bench-results/compare.json

bench-light-client:
	light-clients/tendermint/bench.sh

devnet-up:
	$(CARGO) build -p ferry -p ferry-devnet --bins
	$(CARGO_TARGET_DIR)/debug/ferry devnet up

devnet-down:
	$(CARGO) build -p ferry -p ferry-devnet --bins
	$(CARGO_TARGET_DIR)/debug/ferry devnet down
