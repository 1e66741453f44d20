# Helpers for the integration tests: start rendezvousd on an ephemeral port,
# read its listening block, stop it. Sourced, not run.
#
# A script ends with `echo 'ALL CHECKS PASSED'` as its last action; tests/run.sh
# fails a script whose standard output does not end with that line.
set -euo pipefail
BIN=${RDV_BUILD:-build}
TMP=$(mktemp -d)
DPIDS=()           # every background process, killed at exit
declare -A DNAMES=() # daemon pid -> name (its output is $TMP/NAME.out/.err)
# How long a daemon may take to exit after SIGTERM (ASan leak checks included).
STOP_WAIT=${RDV_STOP_WAIT:-30}

# Every rdv run is a peer of its own unless a test passes --key (rdv's
# default identity, ~/.config/rdv/identity.key, would make them one peer
# and write to the home folder).
export RDV_KEY=-

fail() { echo "FAIL: $*" >&2; exit 1; }

# no_sanitizer_report NAME: the daemon's stderr has no ASan/UBSan report.
no_sanitizer_report() {
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$TMP/$1.err" 2>/dev/null; then
        fail "sanitizer report from $1: $(cat "$TMP/$1.err")"
    fi
}

# term_wait PID SECONDS: SIGTERM, then wait up to SECONDS for the exit; sets
# TRC to its exit code. Returns non-zero (after SIGKILL) if it did not exit.
term_wait() {
    local pid=$1 secs=$2 i
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < secs * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        return 1
    fi
    TRC=0
    wait "$pid" 2>/dev/null || TRC=$?
}

# At exit: clients and daemons still running get SIGTERM (SIGKILL after a
# while). After a passing script a daemon left running must still exit 0
# without a sanitizer report; after a failure the daemons' last log lines
# are shown.
cleanup() {
    local rc=$? p name running=()
    for p in "${DPIDS[@]+"${DPIDS[@]}"}"; do
        name=${DNAMES[$p]-}
        if ! kill -0 "$p" 2>/dev/null; then
            # A daemon that ended by itself (127: the script waited for it).
            TRC=0
            wait "$p" 2>/dev/null || TRC=$?
            if [ -n "$name" ] && [ "$TRC" -ne 0 ] && [ "$TRC" -ne 127 ]; then
                echo "FAIL: daemon $name exited with code $TRC during the test" >&2; rc=1
                running+=("$name")
            fi
            continue
        fi
        [ -z "$name" ] || running+=("$name")
        if ! term_wait "$p" "$STOP_WAIT"; then
            [ -z "$name" ] || { echo "FAIL: daemon $name did not exit within ${STOP_WAIT}s of SIGTERM; killed" >&2; rc=1; }
        elif [ -n "$name" ] && [ "$TRC" -ne 0 ]; then
            echo "FAIL: daemon $name exited with code $TRC at cleanup" >&2; rc=1
        fi
    done
    for p in "${!DNAMES[@]}"; do
        name=${DNAMES[$p]}
        if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$TMP/$name.err" 2>/dev/null; then
            echo "FAIL: sanitizer report from daemon $name:" >&2; cat "$TMP/$name.err" >&2; rc=1
        fi
    done
    if [ "$rc" -ne 0 ]; then
        for name in "${running[@]+"${running[@]}"}"; do
            echo "--- last lines of daemon $name's stderr:" >&2; tail -n 20 "$TMP/$name.err" >&2
        done
    fi
    rm -rf "$TMP"
    exit "$rc"
}
trap cleanup EXIT

# start_daemon NAME ARGS... : sets DPID, DADDR (first printed multiaddr), DID (peer id)
# and DPORT. It listens on DLISTEN (default an ephemeral port; set it to
# restart a daemon on the port it had).
start_daemon() {
    local name=$1; shift
    "$BIN/rendezvousd" --listen "${DLISTEN:-/ip4/127.0.0.1/tcp/0}" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    DPID=$!
    DPIDS+=("$DPID")
    DNAMES[$DPID]=$name
    for _ in $(seq 200); do
        if grep -q '^/' "$TMP/$name.out" 2>/dev/null; then
            DADDR=$(grep -m1 '^/' "$TMP/$name.out")
            DID=${DADDR##*/p2p/}
            DPORT=$(echo "$DADDR" | sed -n 's#^/ip4/[^/]*/tcp/\([0-9]*\)/.*#\1#p')
            return 0
        fi
        kill -0 "$DPID" 2>/dev/null || { cat "$TMP/$name.err" >&2; fail "daemon $name exited"; }
        sleep 0.05
    done
    fail "daemon $name printed no address"
}

# stop_daemon: SIGTERM to the last started daemon and wait; sets DRC to its
# exit code, and fails unless that is 0 with no sanitizer report.
stop_daemon() {
    local name=${DNAMES[$DPID]-}
    term_wait "$DPID" "$STOP_WAIT" || fail "daemon ${name:-$DPID} did not exit within ${STOP_WAIT}s of SIGTERM; killed"
    DRC=$TRC
    [ "$DRC" -eq 0 ] || fail "daemon ${name:-$DPID} exit code $DRC after SIGTERM${name:+: $(tail -n 20 "$TMP/$name.err")}"
    [ -z "$name" ] || no_sanitizer_report "$name"
}

# expect_eof PORT SECONDS [BYTES]: connects, optionally sends bytes, and
# succeeds if the server closes the connection (or resets it, as a refusal
# at accept does) within SECONDS.
expect_eof() {
    local port=$1 secs=$2 bytes=${3-}
    timeout "$secs" bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$port"' || exit 0
        [ -n "$1" ] && printf "%b" "$1" >&3 2>/dev/null
        cat <&3 >/dev/null 2>&1
        exit 0' _ "$bytes"
}

# mono_ms: a monotonic clock in milliseconds (10 ms resolution), for elapsed times.
mono_ms() {
    local up
    read -r up _ </proc/uptime
    echo $((10#${up/./} * 10))
}

# retry SECONDS CMD...: runs CMD every 0.1 s until it succeeds; fails after
# SECONDS. For "wait until the daemon has noticed", never for a pass/fail
# deadline.
retry() {
    local secs=$1 i; shift
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# wait_log NAME ERE [SECONDS]: until a line of daemon NAME's stderr matches.
wait_log() {
    local f=$TMP/$1.err secs=${3:-15} i
    for ((i = 0; i < secs * 20; i++)); do
        grep -Eq -- "$2" "$f" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "no line matching /$2/ in the stderr of daemon $1 after ${secs}s"
}
