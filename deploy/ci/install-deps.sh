#!/usr/bin/env bash
# Installs what Ferry's devnet and tests need on a fresh Debian machine, and nothing when it is
# already there: Go (builds ibc-go's simd from Go modules), promtool/prometheus (alert rules and
# the live Prometheus test), Node.js/npm (anvil for the EVM tests), PostgreSQL (initdb/postgres/psql
# for the tests' throwaway database server), a C toolchain for cargo, helm (built from Go
# modules into ~/.cache/ferry/bin), Chromium with playwright-core (the console test) and
# schemathesis (the API's property test), all cached outside the checkout.
set -euo pipefail

need_apt=()
command -v go >/dev/null 2>&1 || need_apt+=(golang-go)
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# Debian keeps initdb/postgres off PATH, in /usr/lib/postgresql/<version>/bin.
command -v initdb >/dev/null 2>&1 || compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null ||
    need_apt+=(postgresql)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
# The container test: Debian's dockerd and client (20.10), and debootstrap for its base image.
[ -x /usr/sbin/dockerd ] || need_apt+=(docker.io)
[ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need_apt+=(python3-venv)

if [ ${#need_apt[@]} -gt 0 ]; then
    echo "install-deps: installing ${need_apt[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "install-deps: cargo not found; install Rust (rustup) first" >&2
    exit 1
fi
# Go from Debian may be older than the go.mod asks for; let Go fetch a matching toolchain only
# through the module proxy (GOTOOLCHAIN=auto is Go's default).
go version

# helm, built once from Go modules into Ferry's cache (the Makefile puts it on PATH): the
# deployment tests run `helm lint` and `helm template` on deploy/helm/ferry.
FERRY_BIN_CACHE="${HOME}/.cache/ferry/bin"
if ! command -v helm >/dev/null 2>&1 && [ ! -x "${FERRY_BIN_CACHE}/helm" ]; then
    echo "install-deps: building helm v3.22.0 from Go modules into ${FERRY_BIN_CACHE}"
    mkdir -p "${FERRY_BIN_CACHE}"
    GOBIN="${FERRY_BIN_CACHE}" go install helm.sh/helm/v3/cmd/helm@v3.22.0
fi
# docker compose v2, built once from Go modules (Debian's docker-compose 1.29 cannot read the
# Compose Specification that deploy/compose/compose.yaml uses). `go install pkg@version` refuses
# its go.mod (exclude directives), so it is built from a throwaway module that requires it.
if [ ! -x "${FERRY_BIN_CACHE}/docker-compose" ]; then
    echo "install-deps: building docker compose v2.40.3 from Go modules into ${FERRY_BIN_CACHE}"
    build="$(mktemp -d)"
    printf 'module ferry.local/composebuild\n\ngo 1.24\n' > "${build}/go.mod"
    (cd "${build}" && GOFLAGS=-mod=mod go get github.com/docker/compose/v2@v2.40.3 &&
        GOFLAGS=-mod=mod go build -o "${FERRY_BIN_CACHE}/docker-compose" github.com/docker/compose/v2/cmd)
    rm -rf "${build}"
fi

# playwright-core drives Debian's Chromium (it downloads no browser of its own).
FERRY_NODE_CACHE="${HOME}/.cache/ferry/node"
if [ ! -d "${FERRY_NODE_CACHE}/node_modules/playwright-core" ]; then
    echo "install-deps: installing playwright-core into ${FERRY_NODE_CACHE}"
    mkdir -p "${FERRY_NODE_CACHE}"
    npm install --no-audit --no-fund --prefix "${FERRY_NODE_CACHE}" playwright-core@1.64.1 >/dev/null
fi

# schemathesis, in a virtualenv of Ferry's own.
FERRY_VENV="${HOME}/.cache/ferry/venv"
if [ ! -x "${FERRY_VENV}/bin/schemathesis" ]; then
    echo "install-deps: installing schemathesis into ${FERRY_VENV}"
    python3 -m venv "${FERRY_VENV}"
    "${FERRY_VENV}/bin/pip" install -q schemathesis==4.32.5
fi
echo "install-deps: ok"
