#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 20) and fails on the first crash.
#
#   fuzz/run.sh [SECONDS]
#
# Needs a nightly toolchain (rustup toolchain install nightly) and a C++ compiler
# for libFuzzer; installs cargo-fuzz when missing. New inputs go to
# fuzz/corpus/<target>/ and crashes to fuzz/artifacts/<target>/ (both
# git-ignored); reproduce a crash with
#   cargo +nightly fuzz run <target> fuzz/artifacts/<target>/crash-...
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-20}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: fuzz/run.sh [SECONDS]  (a positive number of seconds per target)" >&2
    exit 2
fi

if ! cargo +nightly --version >/dev/null 2>&1; then
    cat >&2 <<'MSG'
############################################################################
##  fuzz/run.sh: no nightly Rust toolchain. cargo-fuzz needs one:         ##
##      rustup toolchain install nightly                                  ##
##  The fuzz step FAILED (not skipped).                                   ##
############################################################################
MSG
    exit 1
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

# Its own build cache: the fuzz build (nightly, sanitizer flags) shares nothing
# with the workspace's.
export CARGO_TARGET_DIR="${CARGO_FUZZ_TARGET_DIR:-$PWD/target}"

# No sanitizer: hotline-core forbids unsafe code, so AddressSanitizer would only
# halve the executions per second. Debug assertions and overflow checks stay on.
flags=(--sanitizer none)
logs="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$logs"

targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build "${flags[@]}"
for target in $targets; do
    echo "== fuzz $target (${seconds} s)"
    mkdir -p "corpus/$target"
    if ! cargo +nightly fuzz run "${flags[@]}" "$target" "corpus/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$logs/$target.log" 2>&1; then
        tail -n 60 "$logs/$target.log" >&2
        echo "fuzz/run.sh: $target crashed; the input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
    # libFuzzer's summary: coverage, features, corpus size, executions per second.
    grep -E '^#[0-9]+[[:space:]]+DONE|^Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec' \
        "$logs/$target.log" || true
done
echo "== fuzz: no crash in $(echo "$targets" | wc -w) targets, ${seconds} s each"
