#!/usr/bin/env bash
# Runs every built fuzz target for a bounded time, starting from the seed
# corpus in tests/fuzz/corpus/<target>/ when there is one.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$1 seconds=$2
status=0
for t in "$build"/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    work=$(mktemp -d)
    seeds=()
    [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
    if "$t" -max_total_time="$seconds" -max_len=70000 -rss_limit_mb=2048 \
            -artifact_prefix="$work/" "$work" "${seeds[@]+"${seeds[@]}"}" >"$work/log" 2>&1; then
        echo "$name: ok ($(grep -o 'Done [0-9]* runs' "$work/log" | tail -1))"
    else
        echo "$name: FAILED"; tail -60 "$work/log"; status=1
    fi
    rm -rf "$work"
done
exit $status
