#!/usr/bin/env bash
# Runs every test: the unit test binaries (cmocka), the integration scripts
# (daemon on ephemeral ports), the js-libp2p interop tests and the tests of
# the JavaScript client package (node --test).
# Ends with one line "N passed, N failed, N skipped" and a non-zero exit on
# any failure.
#
# What counts as a failure, besides a failed assertion:
#  * a unit binary or interop file that ran no test ("0 passed"), or exited
#    non-zero without saying which test failed;
#  * an integration script that exits non-zero, or whose last line of
#    standard output is not exactly "ALL CHECKS PASSED" (an early "exit 0");
#  * anything still running after its time limit (RDV_UNIT_TIMEOUT,
#    RDV_INTEGRATION_TIMEOUT, RDV_INTEROP_TIMEOUT, in seconds, per binary,
#    script or file);
#  * a skipped test (cmocka skip(), node's test.skip / t.skip / test.todo, an
#    integration script printing "SKIPPED: ..." or "... skipped ...") unless
#    tests/skip-allowlist names it with a reason. RDV_ALLOW_SKIPS=1 turns an
#    unlisted skip into a warning on a developer's machine; never with CI=true.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$PWD/$BUILD ;; esac
export RDV_BUILD=$BUILD
# Generous for an ASan build on a loaded 2-core machine.
UNIT_TIMEOUT=${RDV_UNIT_TIMEOUT:-300}
INTEGRATION_TIMEOUT=${RDV_INTEGRATION_TIMEOUT:-300}
INTEROP_TIMEOUT=${RDV_INTEROP_TIMEOUT:-600}
ALLOWLIST=tests/skip-allowlist
strict_skips=1
[ "${RDV_ALLOW_SKIPS:-}" = 1 ] && [ "${CI:-}" != true ] && strict_skips=0

pass=0 fail=0 skipped=0 failed=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# Test binaries and scripts open many sockets (test_push holds 4,000); take
# every descriptor the hard limit allows, and raise that too where we may.
ulimit -Hn 65536 2>/dev/null || true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---- the allow-list: "name<TAB>reason" lines, # comments ---------------------
declare -A allowed=()
if [ -f "$ALLOWLIST" ]; then
    n=0
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        case $line in '' | '#'*) continue ;; esac
        name=${line%%$'\t'*} reason=${line#*$'\t'}
        if [ "$name" = "$line" ] || [ -z "${reason//[[:space:]]/}" ]; then
            echo "$ALLOWLIST:$n: expected NAME<TAB>REASON: $line"
            fail=$((fail + 1)); failed+=("$ALLOWLIST")
            continue
        fi
        allowed[$name]=$reason
    done <"$ALLOWLIST"
fi

# skip NAME WHAT: a skipped test (NAME as the allow-list spells it).
# Returns non-zero if it fails the run.
skip() {
    skipped=$((skipped + 1))
    if [ -n "${allowed[$1]+x}" ]; then
        printf '    skipped %s (allowed: %s)\n' "$1" "${allowed[$1]}"
        return 0
    fi
    if [ $strict_skips -eq 0 ]; then
        printf '    skipped %s (not in %s; allowed by RDV_ALLOW_SKIPS=1)\n' "$1" "$ALLOWLIST"
        return 0
    fi
    printf '    SKIPPED %s: not in %s (a skip fails unless listed there with a reason)\n' "$1" "$ALLOWLIST"
    return 1
}

# result NAME PASSED FAILED
result() {
    pass=$((pass + $2)); fail=$((fail + $3))
    ((${3} == 0)) || failed+=("$1")
}

# limited SECONDS CMD...: CMD under `timeout` (TERM, then KILL 10 s later, to
# its whole process group); 124 or 137 means it ran out of time.
limited() {
    local secs=$1; shift
    timeout -k 10 "$secs" "$@"
}
timed_out() { [ "$1" -eq 124 ] || [ "$1" -eq 137 ]; }

echo "== unit"
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    name=$(basename "$t")
    out=$log/$name.out
    CMOCKA_MESSAGE_OUTPUT=STDOUT limited "$UNIT_TIMEOUT" "$t" >"$out" 2>&1; rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -1)
    p=${p:-0} f=${f:-0} why=
    if timed_out $rc; then why="timed out after ${UNIT_TIMEOUT}s"
    elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then why="exit code $rc"
    elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then why="no test ran"
    fi
    [ -z "$why" ] || f=$((f + 1))
    s=0
    mapfile -t skips < <(sed -n 's/^\[  SKIPPED \] //p' "$out" | grep -v '^[0-9]* test(s)' | sort -u)
    printf '%-28s %3d passed, %d failed, %d skipped%s\n' "$name" "$p" "$f" "${#skips[@]}" "${why:+ ($why)}"
    for k in "${skips[@]+"${skips[@]}"}"; do skip "$name/$k" || s=$((s + 1)); done
    f=$((f + s))
    [ "$f" -eq 0 ] || cat "$out"
    result "$name" "$p" "$f"
done

echo "== integration"
for t in tests/integration/[0-9]*.sh; do
    [ -f "$t" ] || continue
    name=$(basename "$t" .sh)
    out=$log/$name.out err=$log/$name.err
    limited "$INTEGRATION_TIMEOUT" bash "$t" >"$out" 2>"$err"; rc=$?
    why=
    if timed_out $rc; then why="timed out after ${INTEGRATION_TIMEOUT}s"
    elif [ $rc -ne 0 ]; then why="exit code $rc"
    elif [ "$(tail -n 1 "$out")" != 'ALL CHECKS PASSED' ]; then
        why="exit code 0, but the last line is not ALL CHECKS PASSED (an early exit?)"
    fi
    s=0
    mapfile -t skips < <(cat "$out" "$err" | grep -Ei '^skip(ped)?:|\bskipped\b')
    for k in "${skips[@]+"${skips[@]}"}"; do
        echo "    $name: $k"
        skip "$name" || s=1
    done
    if [ -z "$why" ] && [ $s -eq 0 ]; then
        printf '%-28s ok\n' "$name"; result "$name" 1 0
    else
        printf '%-28s FAILED%s\n' "$name" "${why:+ ($why)}"
        cat "$out"; [ -s "$err" ] && { echo "--- stderr"; cat "$err"; }
        result "$name" 0 1
    fi
done

# node_tests DIR LABEL: every DIR/*.test.mjs with node --test, run from DIR,
# one file at a time; LABEL prefixes the names it reports.
node_tests() {
    local dir=$1 label=$2 t name out tally rc p f why
    for t in "$dir"/*.test.mjs; do
        name=$label$(basename "$t")
        out=$log/${name//\//_}.out tally=$log/${name//\//_}.tally
        # --test-timeout bounds the file (and, on newer Node, each test);
        # every test also sets its own timeout.
        (cd "$dir" && limited "$((INTEROP_TIMEOUT + 30))" node --test --test-concurrency=1 \
            --test-timeout="$((INTEROP_TIMEOUT * 1000))" \
            --test-reporter=spec --test-reporter-destination=stdout \
            --test-reporter="$TALLY" --test-reporter-destination="$tally" \
            "./$(basename "$t")") >"$out" 2>&1
        rc=$?
        cat "$out"
        p=$(grep -c '^pass	' "$tally" 2>/dev/null); f=$(grep -c '^fail	' "$tally" 2>/dev/null)
        p=${p:-0} f=${f:-0} why=
        if timed_out $rc; then why="timed out after ${INTEROP_TIMEOUT}s"
        elif grep -q '^empty	' "$tally" 2>/dev/null; then why="the file ran no test"
        elif [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then why="exit code $rc"
        elif [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then why="no test ran"
        fi
        [ -z "$why" ] || f=$((f + 1))
        # A test past its own timeout, or the file past --test-timeout.
        grep -q "test timed out after" "$out" && why=${why:-a test timed out}
        mapfile -t skips < <(sed -n 's/^skip	//p' "$tally" 2>/dev/null)
        printf '%-28s %3d passed, %d failed, %d skipped%s\n' "$name" "$p" "$f" "${#skips[@]}" "${why:+ ($why)}"
        for k in "${skips[@]+"${skips[@]}"}"; do skip "$name/$k" || f=$((f + 1)); done
        result "$name" "$p" "$f"
    done
}
TALLY=$PWD/tests/interop/lib/tally-reporter.mjs

if compgen -G "tests/interop/*.test.mjs" >/dev/null; then
    echo "== interop (js-libp2p)"
    node_tests tests/interop ""
fi

if compgen -G "clients/js/test/*.test.mjs" >/dev/null; then
    echo "== JavaScript client (clients/js)"
    node_tests clients/js/test "clients/js/"
fi

echo
((${#failed[@]} == 0)) || echo "failing: ${failed[*]}"
echo "$pass passed, $fail failed, $skipped skipped"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
