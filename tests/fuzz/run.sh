#!/usr/bin/env bash
# Runs every built fuzz target for a bounded time, starting from the seed
# corpus in tests/fuzz/corpus/<target>/ when there is one.
#
# What libFuzzer finds (crash-*, leak-*, timeout-*, oom-* files) is kept in
# BUILD/crashes/<target>/, printed (path and the first bytes), and fails the
# run. Reproduce one with: BUILD/fuzz/<target> BUILD/crashes/<target>/<file>
set -uo pipefail
cd "$(dirname "$0")/../.."
build=$1 seconds=$2
status=0
for t in "$build"/fuzz/fuzz_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    kept=$build/crashes/$name
    mkdir -p "$kept"
    work=$(mktemp -d)
    seeds=()
    [ -d "tests/fuzz/corpus/$name" ] && seeds=("tests/fuzz/corpus/$name")
    [ ${#seeds[@]} -gt 0 ] || echo "$name: (no seed corpus in tests/fuzz/corpus/$name)"
    mkdir -p "$work/corpus"
    touch "$work/start"
    # -timeout: one input taking longer is a finding (a hang); the outer
    # timeout stops a target that does not stop itself.
    rc=0
    timeout -k 10 "$((seconds * 3 + 120))" "$t" -max_total_time="$seconds" -max_len=70000 \
        -rss_limit_mb=2048 -timeout=30 -artifact_prefix="$kept/" \
        "$work/corpus" "${seeds[@]+"${seeds[@]}"}" >"$work/log" 2>&1 || rc=$?
    mapfile -t found < <(find "$kept" -type f -newer "$work/start" | sort)
    if [ $rc -eq 0 ] && [ ${#found[@]} -eq 0 ]; then
        echo "$name: ok ($(grep -o 'Done [0-9]* runs' "$work/log" | tail -1))"
    else
        status=1
        case $rc in 124 | 137) echo "$name: FAILED (still running after $((seconds * 3 + 120)) s)" ;;
                   *) echo "$name: FAILED (exit code $rc)" ;; esac
        tail -60 "$work/log"
        for f in "${found[@]+"${found[@]}"}"; do
            echo "--- kept: $f ($(stat -c %s "$f") bytes; reproduce: $t $f)"
            od -A x -t x1z -v "$f" | head -8
        done
    fi
    rm -rf "$work"
done
exit $status
