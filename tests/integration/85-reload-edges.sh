# SIGHUP at the edges: limits lowered below what is live (the sessions keep
# working under the limits they started with, new ones get the new limits),
# a configuration file that cannot be read or is gone (the daemon keeps its
# settings and says why), and SIGHUP while draining (ignored; exit 0).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
source "$(dirname "$0")/probe_lib.sh"
reload() { # PATTERN: SIGHUP, then until the log says PATTERN (once more)
    local n
    n=$(grep -c -- "$1" "$TMP/r.err" || true)
    kill -HUP "$DPID"
    for _ in $(seq 200); do
        (( $(grep -c -- "$1" "$TMP/r.err" || true) > n )) && return 0
        sleep 0.05
    done
    fail "no '$1' after SIGHUP: $(cat "$TMP/r.err")"
}

CONF=$TMP/r.conf
printf 'max-connections = 3\nmax-streams = 8\nlog-level = debug\n' >"$CONF"
start_daemon r --config "$CONF" --metrics 127.0.0.1:0
MPORT=$(metrics_port r)
hold_start 3
hold_cmd ping "answering 3 of 3"

# Below the live state: 2 connections, 2 streams each.
printf 'max-connections = 2\nmax-streams = 2\nlog-level = debug\n' >"$CONF"
reload "SIGHUP: reloaded $CONF"
hold_cmd ping "answering 3 of 3"    # a second stream each: under either limit
hold_cmd ping "answering 3 of 3"    # a third: the old sessions keep 8
hold_cmd extra "extra refused"
expect_metric 'rendezvousd_connections_refused_total{reason="max_connections"}' 1
hold_end
expect_metric 'rendezvousd_connections{transport="tcp"}' 0
# A new session gets 2 streams: its third ping stream is refused.
hold_start 1
hold_cmd ping "answering 1 of 1"
hold_cmd ping "answering 1 of 1"
hold_cmd ping "answering 0 of 1"
hold_cmd extra "extra accepted"     # 2 connections are allowed
# The extra session is closed by the client at once, but the daemon counts
# it until it has read that: wait for it before anything else connects (or
# a 2-connection limit refuses the next one as too many).
expect_metric 'rendezvousd_connections{transport="tcp"}' 1

# A file that cannot be read (a directory now), then none at all: the
# reload is refused, logged with the reason, and debug logging stays on.
rm "$CONF" && mkdir "$CONF"
reload "SIGHUP: reload refused, the running configuration stays: cannot read $CONF"
rmdir "$CONF"
reload "SIGHUP: reload refused, the running configuration stays: cannot read $CONF: No such file or directory"
kill -0 "$DPID" 2>/dev/null || fail "the daemon died on a failed reload"
n=$(grep -c ' debug ' "$TMP/r.err" || true)
expect_eof "$DPORT" 3 '\xff\xff\xff\xff garbage' || fail "garbage not closed"
wait_for "$TMP/r.err" ' debug closed /ip4/127\.0\.0\.1/tcp/[0-9]+ before the handshake'
(( $(grep -c ' debug ' "$TMP/r.err") > n )) || fail "debug logging was lost"
hold_cmd extra "extra accepted"     # the limits did not change either
expect_metric 'rendezvousd_connections{transport="tcp"}' 1
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "ping after the failed reloads"
hold_end

# SIGHUP while draining: a peer that does not read keeps the drain busy;
# the reload is ignored, even with a readable file, and the exit is clean.
printf 'max-connections = 2\nlog-level = info\n' >"$CONF"
printf 'max-connection-output = 1GiB\nhandshake-timeout = 2\n' >>"$CONF"
reload "SIGHUP: reloaded $CONF"
spawn P "$PROBE" flood "$DPORT" --rcvbuf 4096 --hold
wait_for "$TMP/P.out" '^holding after'
kill -TERM "$DPID"
wait_for "$TMP/r.err" 'received SIGTERM, draining connections'
# The held peer's echoes are withheld, not queued, so the drain can end
# before the SIGHUP arrives; then there is no drain left to test, and the
# checks below still hold (one reload, exit 0).
if kill -HUP "$DPID" 2>/dev/null; then echo "SIGHUP sent during the drain"; fi
DRC=0
wait "$DPID" || DRC=$?
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
[ "$(grep -c 'SIGHUP: reloaded' "$TMP/r.err")" -eq 2 ] || fail "a reload during the drain: $(cat "$TMP/r.err")"
kill "$PID_P"
no_sanitizer_report r
echo "ALL CHECKS PASSED"
