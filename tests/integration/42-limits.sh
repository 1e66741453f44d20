# Connection limits and shutdown: --max-connections refuses the one too
# many and counts it while the others keep working; running out of file
# descriptors sheds connections (and pauses the metrics listener) without
# dying, and the daemon serves again once they close; SIGTERM with a peer
# that never reads exits 0, closing that connection when it cannot flush.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
source "$(dirname "$0")/probe_lib.sh"

# served_again WHY: pings $DADDR until one succeeds (connections the test
# just closed are released as the daemon reads their end), else fails.
served_again() {
    for _ in $(seq 100); do
        "$BIN/rdv" ping --server "$DADDR" -t 2 >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    fail "$1"
}

# ---- --max-connections 2 ----------------------------------------------------
start_daemon m --metrics 127.0.0.1:0 --max-connections 2
MPORT=$(metrics_port m)
hold_start 2
hold_cmd extra "extra refused"
expect_metric 'rendezvousd_connections_refused_total{reason="max_connections"}' 1
hold_cmd ping "answering 2 of 2"    # the first two, after the refusal
hold_end
# Both gone: a new connection is accepted again.
expect_metric 'rendezvousd_connections{transport="tcp"}' 0
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "not serving once below the limit"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
no_sanitizer_report m

# ---- per-address limit over IPv6 (counted per /64) -------------------------
"$BIN/rendezvousd" --listen /ip6/::1/tcp/0 --max-connections-per-ip 1 --metrics off \
    >"$TMP/v6.out" 2>"$TMP/v6.err" &
DPID=$!
DPIDS+=("$DPID")
wait_for "$TMP/v6.out" '^/ip6/::1/tcp/[0-9]+/p2p/'
DADDR=$(grep -m1 '^/ip6/' "$TMP/v6.out")
DPORT=$(echo "$DADDR" | sed -n 's#^/ip6/::1/tcp/\([0-9]*\)/.*#\1#p')
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping over IPv6"
wait_for "$TMP/v6.err" 'closed 12D3KooW[^ ]* /ip6/::1/tcp/'   # its slot is free again
exec {v6fd}<>"/dev/tcp/::1/$DPORT"
rc=0; "$BIN/rdv" ping --server "$DADDR" -t 3 >/dev/null 2>&1 || rc=$?
[ $rc -ne 0 ] || fail "a second connection from ::1 was accepted with --max-connections-per-ip 1"
exec {v6fd}>&-
served_again "::1 not served again once its connection closed"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
no_sanitizer_report v6

# ---- out of file descriptors ------------------------------------------------
# 32 descriptors: the listeners, the loop, the spare fd and a dozen or so
# connections. 40 peers exhaust them.
prlimit --nofile=32:32 -- "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 --metrics 127.0.0.1:0 \
    --handshake-timeout 30 >"$TMP/f.out" 2>"$TMP/f.err" &
DPID=$!
DPIDS+=("$DPID")
DNAMES[$DPID]=f
wait_for "$TMP/f.out" '^Metrics: '
DADDR=$(grep -m1 '^/' "$TMP/f.out")
DPORT=$(echo "$DADDR" | sed -n 's#^/ip4/[^/]*/tcp/\([0-9]*\)/.*#\1#p')
MPORT=$(metrics_port f)
held=()
for i in $(seq 40); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$DPORT" || fail "connect $i"
    held+=("$fd")
done
wait_for "$TMP/f.err" 'out of file descriptors: refused a connection'
# The metrics listener cannot accept either: it pauses instead of spinning.
exec {mfd}<>"/dev/tcp/127.0.0.1/$MPORT"
wait_for "$TMP/f.err" 'metrics: accept: Too many open files; pausing for a second'
exec {mfd}>&-
kill -0 "$DPID" 2>/dev/null || fail "the daemon died out of descriptors"
for fd in "${held[@]}"; do exec {fd}>&-; done
# Once they are closed (the daemon sees it at once), it serves again.
served_again "not serving after the descriptors came back"
scrape
refused=$(metric 'rendezvousd_connections_refused_total{reason="descriptors"}')
(( refused > 0 )) || fail "refusals out of descriptors not counted: $refused"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
no_sanitizer_report f

# ---- SIGTERM with a peer that never reads -----------------------------------
# log_ms FILE PATTERN: the time of the first log line matching PATTERN, in
# milliseconds since the epoch (log lines start with an ISO 8601 time).
log_ms() {
    local t
    t=$(grep -m1 -E -- "$2" "$1" | cut -d' ' -f1)
    [ -n "$t" ] || fail "no log line '$2' in $1"
    date -d "$t" +%s%3N
}

# output_queued: until the daemon holds at least 1 MiB of output for the
# probe. "holding after" only says the probe's bytes are in the kernel's
# buffers; a busy daemon may not have read them yet, and with nothing
# queued a drain rightly closes the connection at once.
output_queued() {
    for _ in $(seq 200); do
        scrape
        local out
        out=$(metric 'rendezvousd_buffered_bytes{direction="out"}')
        (( ${out:-0} >= 1048576 )) && return 0
        sleep 0.05
    done
    fail "the daemon queued no output for the flooding probe: $(metric 'rendezvousd_buffered_bytes{direction="out"}') B"
}

# The daemon has megabytes queued for it; the drain gives a closing
# connection the handshake timeout to flush, then drops it.
start_daemon s --handshake-timeout 1 --max-connection-output 1GiB --metrics 127.0.0.1:0
MPORT=$(metrics_port s)
spawn P "$PROBE" flood "$DPORT" --rcvbuf 4096 --hold
wait_for "$TMP/P.out" '^holding after'
output_queued
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC after a drain"
CLOSED='closed 12D3KooW[^ ]* /ip4/127\.0\.0\.1/tcp/[0-9]+: shutting down$'
grep -Eq "$CLOSED" "$TMP/s.err" || fail "the unread connection was not closed: $(cat "$TMP/s.err")"
# The drain grace is 5 s; the handshake timeout (1 s) comes first: no grace
# message, and by the daemon's own clock (its log lines' times, not the
# wall clock around the process's exit, which a loaded machine or a
# sanitizer's exit checks stretch) the drop came before the grace.
grep -q 'still open after the grace period' "$TMP/s.err" && fail "the drain needed its grace period"
elapsed=$(($(log_ms "$TMP/s.err" "$CLOSED") - $(log_ms "$TMP/s.err" 'received SIGTERM')))
(( elapsed < 5000 )) || fail "the drain took $elapsed ms by the daemon's log"

no_sanitizer_report s
kill "$PID_P"

# With a handshake timeout longer than the grace, the grace period ends it.
start_daemon g --handshake-timeout 60 --max-connection-output 1GiB --metrics 127.0.0.1:0
MPORT=$(metrics_port g)
spawn Q "$PROBE" flood "$DPORT" --rcvbuf 4096 --hold
wait_for "$TMP/Q.out" '^holding after'
output_queued
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC after the grace period"
grep -q 'drain: 1 connections still open after the grace period' "$TMP/g.err" ||
    fail "no grace period message: $(cat "$TMP/g.err")"
no_sanitizer_report g
kill "$PID_Q"
echo "ALL CHECKS PASSED"
