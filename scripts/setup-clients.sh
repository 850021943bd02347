#!/usr/bin/env bash
# Installs the JSON-RPC client libraries the client tests (tests/it/rpc/clients.rs, driver in
# src/testkit/clients.rs) run against histd: viem from tests/clients/package-lock.json into
# tests/clients/node_modules (npm ci), and web3.py from tests/clients/requirements.txt (every
# package pinned) into the venv tests/clients/.venv. Only the npm registry and PyPI (or their
# caches) are used. Idempotent: a stamp of each lockfile's hash skips an install that already
# matches. Needs Node.js >= 20 with npm, and python3 >= 3.11 with venv.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/clients"

for tool in node npm python3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "setup-clients: '$tool' is not installed; the client tests need Node.js >= 20, npm and python3 >= 3.11" >&2
        exit 1
    fi
done

lock="$dir/package-lock.json"
stamp="$dir/node_modules/.histd-lock.sha256"
want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || [ ! -f "$dir/node_modules/viem/package.json" ]; then
    echo "setup-clients: installing viem into $dir/node_modules" >&2
    npm ci --prefix "$dir" --no-audit --no-fund --prefer-offline --loglevel=error
    echo "$want" > "$stamp"
fi

reqs="$dir/requirements.txt"
venv="$dir/.venv"
stamp="$venv/.histd-requirements.sha256"
want="$(sha256sum "$reqs" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
    exit 0
fi
echo "setup-clients: installing web3.py into $venv" >&2
if [ ! -x "$venv/bin/python" ]; then
    # Debian's python3 ships venv separately (python3-venv); say so rather than fail obscurely.
    python3 -m venv "$venv" || {
        echo "setup-clients: 'python3 -m venv' failed; on Debian: apt-get install python3-venv" >&2
        exit 1
    }
fi
# --no-deps: requirements.txt pins every package (a lockfile); pip check proves it is complete.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -r "$reqs"
"$venv/bin/python" -m pip check --disable-pip-version-check >/dev/null
echo "$want" > "$stamp"
