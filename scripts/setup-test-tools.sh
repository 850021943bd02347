#!/usr/bin/env bash
# Installs every tool the test suite needs beyond cargo, from the package registries only:
# - the @ethereumjs/devp2p interop peer's npm packages (scripts/setup-interop.sh);
# - dnsmasq (Debian package dnsmasq-base), the local DNS server the EIP-1459 discovery test queries.
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-interop.sh

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
