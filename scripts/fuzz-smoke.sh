#!/usr/bin/env bash
# Fuzz smoke run: builds every cargo-fuzz target in fuzz/ and runs each one for a short time.
#
# Only the stable toolchain exists here. cargo-fuzz passes nightly-only -Z flags (sanitizer
# coverage, AddressSanitizer), which stable rustc accepts with RUSTC_BOOTSTRAP=1.
#
#   scripts/fuzz-smoke.sh                # each target for $FUZZ_SECS seconds (default 20)
#   FUZZ_SECS=300 scripts/fuzz-smoke.sh  # longer
#   FUZZ_SANITIZER=none ...              # without ASan (faster, less thorough)
#
# Findings land in fuzz/artifacts/<target>/ and make the script fail; the reproducer can be
# replayed on stable by `cargo test --test p2p_fuzz_corpus` (it replays fuzz/artifacts too).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${FUZZ_SECS:-20}"
sanitizer="${FUZZ_SANITIZER:-address}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz (one time, ~2 min)"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

targets=$(cargo fuzz list)
start=$(date +%s)
echo "fuzz-smoke: building targets ($sanitizer sanitizer)"
cargo fuzz build -O -s "$sanitizer"
echo "fuzz-smoke: built in $(( $(date +%s) - start ))s"

for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
    echo "fuzz-smoke: $t for ${secs}s"
    cargo fuzz run -O -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
        | grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done|INFO: seed corpus)' || true
    # libFuzzer exits non-zero on a finding; with the pipe above, check the artifacts instead.
    if compgen -G "fuzz/artifacts/$t/*" >/dev/null; then
        echo "fuzz-smoke: $t FOUND A CRASH: $(ls fuzz/artifacts/"$t")" >&2
        exit 1
    fi
done
echo "fuzz-smoke: all targets ran clean in $(( $(date +%s) - start ))s"
