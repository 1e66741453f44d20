# Push mode: every way a session ends removes its registrations and tells
# the subscribers - stream FIN (rdv interrupted), connection close (rdv
# killed with SIGKILL), idle timeout, and server shutdown for the watchers
# (one reconnects, as watch does by default; one exits, --no-reconnect).
# (Stream reset and socket errors are covered by test_push and the js-libp2p
# interop test.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

RDV=("$BIN/rdv")
start_daemon d --log-level debug --idle-timeout 3
S=(--server "$DADDR")

# The watcher pings more often than the idle timeout; the members do not.
spawn W "${RDV[@]}" watch "${S[@]}" --keepalive 0.5 --register room
W=$(registered W)

# FIN: SIGINT makes rdv half-close its session; it exits 0.
spawn F "${RDV[@]}" register "${S[@]}" --addr /ip4/192.0.2.1/tcp/1 room
F=$(registered F)
wait_for "$TMP/W.out" "^\+ $F /ip4/192.0.2.1/tcp/1\$"
kill -INT "$PID_F"
wait_exit "$PID_F"
[ "$XRC" -eq 0 ] || fail "rdv register exit code $XRC after SIGINT"
wait_for "$TMP/W.out" "^- $F\$"
grep -q "push: $F half-closed its session" "$TMP/d.err" || fail "the session did not end by FIN"

# Connection close: the client process is killed outright.
spawn K "${RDV[@]}" register "${S[@]}" room
K=$(registered K)
wait_for "$TMP/W.out" "^\+ $K\$"
kill -9 "$PID_K"
wait_for "$TMP/W.out" "^- $K\$"

# Idle timeout: a member that sends nothing for 3 s is closed by the daemon.
spawn I "${RDV[@]}" register "${S[@]}" room
I=$(registered I)
wait_for "$TMP/W.out" "^\+ $I\$"
wait_for "$TMP/d.err" "closed $I .*idle timeout" 10
wait_for "$TMP/W.out" "^- $I\$"
wait_exit "$PID_I"
[ "$XRC" -eq 1 ] || fail "rdv register exit code $XRC after the server closed it"

# A second watcher, and the member list is as expected after all that.
spawn V "${RDV[@]}" watch "${S[@]}" --keepalive 0.5 --no-reconnect room
wait_for "$TMP/V.out" "^\+ $W\$"
same "$TMP/W.out" "+ $F /ip4/192.0.2.1/tcp/1"$'\n'"- $F"$'\n'"+ $K"$'\n'"- $K"$'\n'"+ $I"$'\n'"- $I"
kill -0 "$PID_W" || fail "the watcher died: $(cat "$TMP/W.err")"

# Server shutdown: the watchers see their connection end; W says it
# reconnects and goes on, V (--no-reconnect) exits 1 with the reason.
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
wait_exit "$PID_V"
[ "$XRC" -eq 1 ] || fail "watch --no-reconnect exit code $XRC after server shutdown"
grep -q '^rdv: ' "$TMP/V.err" || fail "watch --no-reconnect gave no reason: $(cat "$TMP/V.err")"
wait_for "$TMP/W.err" '^rdv: .*; reconnecting'
kill -0 "$PID_W" || fail "the reconnecting watcher exited: $(cat "$TMP/W.err")"
kill -INT "$PID_W"
wait_exit "$PID_W"
[ "$XRC" -eq 0 ] || fail "watch exit code $XRC after SIGINT while reconnecting"
no_sanitizer_report d
echo 'ALL CHECKS PASSED'
