# Admission at accept: a source address may hold at most half of
# max-handshakes, max-handshakes in progress pause the listeners until one
# ends (the newcomer waits, then succeeds), an empty token bucket refuses
# before any crypto, SIGHUP changes the rate, and refusals are counted by
# reason. IPv4 127.0.0.1 and IPv6 ::1 are two sources.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

printf 'handshake-rate = 0.001\nhandshake-burst = 3\n' >"$TMP/rate.conf"
start_daemon d --listen /ip6/::1/tcp/0 --metrics 127.0.0.1:0 --max-handshakes 2 \
    --config "$TMP/rate.conf" --log-level debug
MPORT=$(metrics_port d)
V4=$DADDR
V6=$(grep -m1 '^/ip6/' "$TMP/d.out")
V6PORT=$(echo "$V6" | sed -n 's#^/ip6/[^/]*/tcp/\([0-9]*\)/.*#\1#p')
[ -n "$V6PORT" ] || fail "no /ip6 listener: $(cat "$TMP/d.out")"
refused() { metric "rendezvousd_connections_refused_total{reason=\"$1\"}"; }

# A (v4) handshakes forever: it holds one of the two slots, all a source may.
exec {A}<>"/dev/tcp/127.0.0.1/$DPORT"
expect_metric rendezvousd_handshakes_in_progress 1
expect_eof "$DPORT" 5 || fail "a second handshake from 127.0.0.1 was not refused"
scrape
expect 'rendezvousd_connections_refused_total{reason="handshake_share"}' 1
expect rendezvousd_accept_pauses_total 0

# B (v6) takes the other slot: the listeners pause.
exec {B}<>"/dev/tcp/::1/$V6PORT"
expect_metric rendezvousd_handshakes_in_progress 2
expect rendezvousd_accept_pauses_total 1
expect 'rendezvousd_connections_accepted_total{transport="tcp"}' 2

# C: a real client. Its TCP connection completes in the kernel's queue and
# waits there: nothing is accepted while the listeners are paused.
# (Without A and B: an inherited copy would keep A open after we close it.)
"$BIN/rdv" ping --server "$V4" >"$TMP/C.out" 2>"$TMP/C.err" {A}<&- {B}<&- &
PID_C=$!
DPIDS+=("$PID_C")
for _ in $(seq 10); do # the scrape is the barrier: C is queued before it
    scrape
    [ "$(metric 'rendezvousd_connections_accepted_total{transport="tcp"}')" = 2 ] ||
        fail "accepted a connection while paused"
done
kill -0 "$PID_C" 2>/dev/null || fail "ping finished while the listeners were paused: $(cat "$TMP/C.err")"

# A goes: a slot is free, the listeners resume, C is served.
exec {A}<&-
wait_exit "$PID_C"
[ "$XRC" -eq 0 ] || fail "ping after the pause: $(cat "$TMP/C.err")"
grep -q '^pong from' "$TMP/C.out" || fail "no pong: $(cat "$TMP/C.out")"
exec {B}<&-
expect_metric rendezvousd_handshakes_in_progress 0

# 127.0.0.1 has used two of its three tokens (A, C); the burst is spent
# after one more, and with 0.001 per second nothing comes back in time.
"$BIN/rdv" ping --server "$V4" >/dev/null || fail "third connection from 127.0.0.1 refused"
expect_eof "$DPORT" 5 || fail "a fourth connection from 127.0.0.1 was not refused"
"$BIN/rdv" ping --server "$V4" >/dev/null 2>&1 && fail "ping got through an empty bucket"
scrape
[ "$(refused handshake_rate)" -ge 2 ] || fail "handshake_rate refusals: $(refused handshake_rate)"
expect 'rendezvousd_connections_accepted_total{transport="tcp"}' 4
expect 'rendezvousd_handshake_failures_total{reason="noise"}' 0
grep -q 'debug /ip4/127.0.0.1/tcp/[0-9]*: new connections from this address too fast' \
    "$TMP/d.err" || fail "no refusal line: $(cat "$TMP/d.err")"
# ::1 has its own bucket.
"$BIN/rdv" ping --server "$V6" >/dev/null || fail "::1 refused for 127.0.0.1's rate"

# SIGHUP with a higher rate: 127.0.0.1 is served again.
printf 'handshake-rate = 1000\nhandshake-burst = 3\n' >"$TMP/rate.conf"
kill -HUP "$DPID"
wait_for "$TMP/d.err" "SIGHUP: reloaded"
"$BIN/rdv" ping --server "$V4" >/dev/null || fail "ping refused after raising the rate"

stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
no_sanitizer_report d
echo "ALL CHECKS PASSED"
