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
# Fails when a target finds anything (non-zero libFuzzer exit, or a file in fuzz/artifacts/<target>/)
# or does not run for its time. The reproducer can be replayed on stable by
# `cargo test --test it p2p::fuzz_corpus` (it replays fuzz/artifacts too).
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
if [ -z "$targets" ]; then
    echo "fuzz-smoke: cargo fuzz list found no targets in fuzz/" >&2
    exit 1
fi
# A run that ends early (the fuzzer did not start, or stopped) is a failure, not a pass: libFuzzer's
# last line must say it ran for the time asked (to the second, hence 1 s of slack) and ran inputs.
min_secs=$(( secs > 1 ? secs - 1 : secs ))
logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

start=$(date +%s)
echo "fuzz-smoke: building targets ($sanitizer sanitizer)"
cargo fuzz build -O -s "$sanitizer"
echo "fuzz-smoke: built in $(( $(date +%s) - start ))s"

for t in $targets; do
    mkdir -p "fuzz/corpus/$t"
    cp -n fuzz/seeds/"$t"/* "fuzz/corpus/$t/" 2>/dev/null || true
    echo "fuzz-smoke: $t for ${secs}s"
    log="$logs/$t.log"
    status=0
    cargo fuzz run -O -s "$sanitizer" "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1 || status=$?
    # Only a summary on the console; the whole log when something is wrong.
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|==[0-9]+==|SUMMARY|Done|INFO: seed corpus)' \
        "$log" || true
    # libFuzzer exits non-zero on a finding (crash, leak, timeout, OOM) and leaves the input in
    # fuzz/artifacts/<target>/; either one fails the run.
    if [ "$status" -ne 0 ] || compgen -G "fuzz/artifacts/$t/*" >/dev/null; then
        tail -n 60 "$log" >&2
        echo "fuzz-smoke: $t FAILED (exit $status): $(ls fuzz/artifacts/"$t" 2>/dev/null)" >&2
        exit 1
    fi
    done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
    runs=$(echo "$done_line" | awk '{print $2}')
    ran=$(echo "$done_line" | awk '{print $5}')
    if [ -z "$done_line" ] || [ "$runs" -le 0 ] || [ "$ran" -lt "$min_secs" ]; then
        tail -n 60 "$log" >&2
        echo "fuzz-smoke: $t did not run for ${secs}s (final stats: '${done_line:-none}')" >&2
        exit 1
    fi
done
echo "fuzz-smoke: all targets ran clean in $(( $(date +%s) - start ))s"
