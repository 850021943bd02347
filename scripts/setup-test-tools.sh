#!/usr/bin/env bash
# Installs every tool the test suite needs beyond cargo, from the package registries only:
# - the @ethereumjs/devp2p interop peer's npm packages (scripts/setup-interop.sh);
# - viem (npm) and web3.py (PyPI, in a venv) for the JSON-RPC client tests (scripts/setup-clients.sh);
# - dnsmasq (Debian package dnsmasq-base), the local DNS server the EIP-1459 discovery test queries.
# - systemd-analyze and promtool (Debian packages systemd, prometheus) for the ops tests.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-interop.sh
scripts/setup-clients.sh

if ! command -v dnsmasq >/dev/null 2>&1 && [ ! -x /usr/sbin/dnsmasq ]; then
    echo "setup-test-tools: installing dnsmasq-base (Debian) for the DNS discovery test" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dnsmasq-base >/dev/null
    else
        echo "setup-test-tools: dnsmasq is missing and this user cannot install it: apt-get install dnsmasq-base" >&2
        exit 1
    fi
fi

# systemd-analyze (Debian package systemd) checks config/histd.service; promtool (Debian package
# prometheus) checks the alert rules and our /metrics output. Both are optional for the rest of the
# suite: the ops tests that need them say so and are skipped without them.
install_debian() {
    local pkg="$1"
    echo "setup-test-tools: installing $pkg (Debian) for the ops tests" >&2
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null
    else
        echo "setup-test-tools: $pkg is missing and this user cannot install it: apt-get install $pkg" >&2
        exit 1
    fi
}
if ! command -v systemd-analyze >/dev/null 2>&1; then
    install_debian systemd
fi
if ! command -v promtool >/dev/null 2>&1; then
    install_debian prometheus
fi
