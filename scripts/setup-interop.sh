#!/usr/bin/env bash
# Installs the npm packages of the @ethereumjs/devp2p interop peer (tests/interop) exactly as pinned by
# the committed package-lock.json. Idempotent: when node_modules already matches the lockfile it
# returns at once. Needs node >= 20.15 (zlib.crc32) and npm; only the npm registry (or npm's cache)
# is used. The interop tests (tests/it/interop/ethereumjs.rs, driver in src/testkit/ethereumjs.rs)
# fail with a pointer here when the packages are missing.
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop"
lock="$dir/package-lock.json"
stamp="$dir/node_modules/.histd-lock.sha256"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "setup-interop: '$tool' is not installed; the ethereumjs interop tests need Node.js >= 20.15 and npm" >&2
        exit 1
    fi
done
if ! node -e 'process.exit(typeof require("node:zlib").crc32 === "function" ? 0 : 1)'; then
    echo "setup-interop: node $(node --version) is too old: the interop peer needs Node.js >= 20.15 (zlib.crc32)" >&2
    exit 1
fi
if [ ! -f "$lock" ]; then
    echo "setup-interop: $lock is missing" >&2
    exit 1
fi

want="$(sha256sum "$lock" | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$dir/node_modules/@ethereumjs/devp2p" ]; then
    exit 0
fi

echo "setup-interop: installing the interop peer's npm packages into $dir/node_modules" >&2
npm ci --prefix "$dir" --no-audit --no-fund --prefer-offline --loglevel=error
echo "$want" > "$stamp"
