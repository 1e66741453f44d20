#!/usr/bin/env bash
# Runs every test: the unit test binaries (cmocka), the integration scripts
# (daemon on ephemeral ports) and the js-libp2p interop tests (node --test).
# Ends with one line "N passed, N failed" and a non-zero exit on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export RDV_BUILD=$BUILD
pass=0 fail=0 failed=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

count() { # name, passed, failed
    pass=$((pass + $2)); fail=$((fail + $3))
    ((${3} == 0)) || failed+=("$1")
}

echo "== unit"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$log/$name.out
    "$t" >"$out" 2>&1; rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0} f=${f:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    printf '%-28s %3d passed, %d failed\n' "$name" "$p" "$f"
    [ "$f" -eq 0 ] || cat "$out"
    count "$name" "$p" "$f"
done

echo "== integration"
for t in tests/integration/[0-9]*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    out=$log/$name.out
    if bash "$t" >"$out" 2>&1; then
        printf '%-28s ok\n' "$name"; count "$name" 1 0
    else
        printf '%-28s FAILED\n' "$name"; cat "$out"; count "$name" 0 1
    fi
done

if compgen -G "tests/interop/*.test.mjs" >/dev/null; then
    echo "== interop (js-libp2p)"
    out=$log/interop.out
    (cd tests/interop && node --test --test-concurrency=1 --test-reporter=spec ./*.test.mjs) >"$out" 2>&1
    rc=$?
    cat "$out"
    p=$(sed -n 's/^ℹ pass \([0-9]*\)/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^ℹ fail \([0-9]*\)/\1/p' "$out" | tail -1)
    p=${p:-0} f=${f:-0}
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    count interop "$p" "$f"
fi

echo
((${#failed[@]} == 0)) || echo "failing: ${failed[*]}"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
