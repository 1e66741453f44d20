# Helpers for the integration tests: start rendezvousd on an ephemeral port,
# read its listening block, stop it. Sourced, not run.
set -euo pipefail
BIN=${RDV_BUILD:-build}
TMP=$(mktemp -d)
DPIDS=()
cleanup() {
    for p in "${DPIDS[@]+"${DPIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# start_daemon NAME ARGS... : sets DPID, DADDR (first printed multiaddr), DID (peer id)
start_daemon() {
    local name=$1; shift
    "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
    DPID=$!
    DPIDS+=("$DPID")
    for _ in $(seq 100); do
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

# stop_daemon: SIGTERM and wait; sets DRC to the exit code
stop_daemon() {
    kill -TERM "$DPID"
    DRC=0
    wait "$DPID" || DRC=$?
}

# expect_eof PORT SECONDS [BYTES]: connects, optionally sends bytes, and
# succeeds if the server closes the connection within SECONDS.
expect_eof() {
    local port=$1 secs=$2 bytes=${3-}
    timeout "$secs" bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$port"'
        [ -n "$1" ] && printf "%b" "$1" >&3
        cat <&3 >/dev/null' _ "$bytes"
}

# mono_ms: a monotonic clock in milliseconds (10 ms resolution), for elapsed times.
mono_ms() {
    local up
    read -r up _ </proc/uptime
    echo $((10#${up/./} * 10))
}
