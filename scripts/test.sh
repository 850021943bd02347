#!/usr/bin/env bash
# Run every check histd's CI runs, from a fresh machine: toolchain components, formatting, lints,
# all tests (unit, integration with the real binary, property tests).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: install Rust (https://rustup.rs), then rerun $0" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

echo "== test tools (npm packages, viem and web3.py, dnsmasq, systemd-analyze, promtool)"
scripts/setup-test-tools.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --all-targets -- -D warnings
echo "== cargo test"
# --include-ignored: tests that need a tool installed above are #[ignore]d so a bare `cargo test`
# works anywhere; this script installs the tools and runs them all.
cargo test --all-targets -- --include-ignored

# Fuzz targets (frame decoder, eth messages, handshake) really run, briefly; findings fail the run.
# HISTD_FUZZ_SECS=0 skips this step for a quick local run (the corpus replay test above still runs).
if [ "${HISTD_FUZZ_SECS:-10}" != 0 ]; then
    echo "== fuzz smoke"
    FUZZ_SECS="${HISTD_FUZZ_SECS:-10}" scripts/fuzz-smoke.sh
fi

# The product binary must not contain the testkit (scripted workers are test-only).
echo "== product binary has no testkit"
# Clippy of the product alone too: code used only by tests or testkit warns only here (the
# all-targets run above builds the library with its dev-dependencies' features).
cargo clippy --bin histd -- -D warnings
cargo build --bin histd
if grep -q HISTD_TESTKIT_SCRIPT target/debug/histd; then
    echo "target/debug/histd contains testkit code: the testkit feature leaked into the product" >&2
    exit 1
fi
echo "== all checks passed"
