# Metrics: after a scripted session (pings, registrations in all three
# dialects, a push subscription and its announcement, a failed handshake)
# GET /metrics shows exactly those counts; other paths get 404.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"

start_daemon d --metrics 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0/ws
MPORT=$(metrics_port d)
S=(--server "$DADDR")
WSADDR=$(grep -m1 '/ws/p2p/' "$TMP/d.out")

# Before anything: the families exist, at zero.
http /metrics >"$TMP/answer"
head -1 "$TMP/answer" | grep -q '^HTTP/1.1 200 OK' || fail "status: $(head -1 "$TMP/answer")"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$TMP/answer" || fail "content type"
sed '1,/^\r$/d' "$TMP/answer" >"$TMP/scrape"
expect 'rendezvousd_connections_accepted_total{transport="tcp"}' 0
expect 'rendezvousd_requests_total{dialect="standard",type="register",status="ok"}' 0
expect 'rendezvousd_build_info{version="0.1.0"}' 1

# --- scripted activity --------------------------------------------------------------
"$BIN/rdv" ping "${S[@]}" --count 3 >/dev/null || fail "ping"                       # conn 1
"$BIN/rdv" ping --server "$WSADDR" >/dev/null || fail "ping over /ws"                  # conn 2 (ws)
"$BIN/rdv" register "${S[@]}" --dialect standard --key "$TMP/a.key" --addr /ip4/10.0.0.1/tcp/1 room >/dev/null ||
    fail "standard register"                                                          # conn 3
"$BIN/rdv" discover "${S[@]}" --dialect standard room >/dev/null || fail "discover" # conn 4
"$BIN/rdv" register "${S[@]}" --dialect standard --ttl 1 room >/dev/null 2>&1 &&
    fail "a TTL below ttl-min was accepted"                                           # conn 5
"$BIN/rdv" register "${S[@]}" --dialect waku --key "$TMP/w.key" room >/dev/null ||
    fail "waku register"                                                              # conn 6
spawn W "$BIN/rdv" watch "${S[@]}" room                                              # conn 7
expect_metric rendezvousd_subscriptions 1   # subscribed before R registers: an announcement
spawn R "$BIN/rdv" register "${S[@]}" room                                           # conn 8
R=$(registered R)
wait_for "$TMP/W.out" "^\+ $R\$"
expect_eof "$DPORT" 5 '\xff\xff\xff\xff garbage' || fail "garbage not closed"          # conn 9

# The one-shot clients' connections end asynchronously: scrape until the
# gauge shows only the two long-running ones.
expect_metric 'rendezvousd_connections{transport="tcp"}' 2
expect 'rendezvousd_connections{transport="ws"}' 0
expect 'rendezvousd_connections_accepted_total{transport="tcp"}' 8
expect 'rendezvousd_connections_accepted_total{transport="ws"}' 1
for r in max_connections per_ip handshake_rate handshake_share draining descriptors memory; do
    expect "rendezvousd_connections_refused_total{reason=\"$r\"}" 0
done
expect rendezvousd_handshakes_in_progress 0
expect rendezvousd_accept_pauses_total 0
expect rendezvousd_admission_sources 1   # 127.0.0.1, with its two connections
expect rendezvousd_handshakes_total 8
expect 'rendezvousd_handshake_failures_total{reason="security"}' 1
expect 'rendezvousd_handshake_failures_total{reason="noise"}' 0
expect 'rendezvousd_handshake_failures_total{reason="timeout"}' 0
expect 'rendezvousd_sessions{dialect="push"}' 2
expect 'rendezvousd_sessions{dialect="standard"}' 0
expect 'rendezvousd_registrations{dialect="push"}' 1
expect 'rendezvousd_registrations{dialect="standard"}' 1
expect 'rendezvousd_registrations{dialect="waku"}' 1
expect rendezvousd_namespaces 1
expect rendezvousd_registered_peers 3
expect rendezvousd_subscriptions 1
expect rendezvousd_announcements_queued_total 1
expect rendezvousd_announcements_sent_total 1
expect rendezvousd_slow_subscribers_disconnected_total 0
expect 'rendezvousd_requests_total{dialect="standard",type="register",status="ok"}' 1
expect 'rendezvousd_requests_total{dialect="standard",type="register",status="error"}' 1
expect 'rendezvousd_requests_total{dialect="standard",type="discover",status="ok"}' 1
expect 'rendezvousd_requests_total{dialect="standard",type="unregister",status="ok"}' 0
expect 'rendezvousd_requests_total{dialect="waku",type="register",status="ok"}' 1
expect 'rendezvousd_requests_total{dialect="push",type="register",status="ok"}' 1
expect 'rendezvousd_requests_total{dialect="push",type="rendezvous",status="ok"}' 1
# rdv register's acknowledgement, and rdv watch's end of the snapshot
expect 'rendezvousd_requests_total{dialect="push",type="discover",status="ok"}' 2
expect 'rendezvousd_error_replies_total{dialect="standard"}' 1
expect 'rendezvousd_error_replies_total{dialect="push"}' 0
expect 'rendezvousd_request_duration_seconds_count{dialect="standard"}' 3
expect 'rendezvousd_request_duration_seconds_count{dialect="waku"}' 1
expect 'rendezvousd_request_duration_seconds_bucket{dialect="standard",le="+Inf"}' 3
expect 'rendezvousd_request_duration_seconds_count{dialect="push"}' 4   # REGISTER, RENDEZVOUS, two DISCOVERs
expect rendezvousd_announcement_delay_seconds_count 1
expect 'rendezvousd_announcement_delay_seconds_bucket{le="+Inf"}' 1
[ "$(metric rendezvousd_received_bytes_total)" -gt 1000 ] || fail "bytes received: $(metric rendezvousd_received_bytes_total)"
[ "$(metric rendezvousd_sent_bytes_total)" -gt 1000 ] || fail "bytes sent: $(metric rendezvousd_sent_bytes_total)"
# Every write carried at least one byte, and the answers above took several writes.
W=$(metric rendezvousd_socket_writes_total)
[ "$W" -gt 3 ] && [ "$W" -le "$(metric rendezvousd_sent_bytes_total)" ] || fail "socket writes: $W"
# No namespace or peer id ever appears in a label.
grep -q 'room\|12D3KooW' "$TMP/scrape" && fail "a namespace or peer id in the metrics"
# Every sample belongs to a family announced with # TYPE.
awk '/^# TYPE/ { t[$3] = 1; next } /^#/ { next }
     { n = $1; sub(/\{.*/, "", n); b = n; sub(/_(bucket|sum|count)$/, "", b)
       if (!(n in t) && !(b in t)) { print "untyped: " $0; bad = 1 } }
     END { exit bad }' "$TMP/scrape" || fail "samples without a TYPE"

# --- other requests ---------------------------------------------------------------
http /nope | head -1 | grep -q '^HTTP/1.1 404 ' || fail "/nope is not 404"
http /metrics POST | head -1 | grep -q '^HTTP/1.1 405 ' || fail "POST is not 405"
http /metrics HEAD >"$TMP/head"
head -1 "$TMP/head" | grep -q '^HTTP/1.1 200 ' || fail "HEAD is not 200: $(head -1 "$TMP/head")"
grep -q $'^\r$' "$TMP/head" || fail "HEAD answer has no end of headers: $(cat "$TMP/head")"
[ -z "$(sed '1,/^\r$/d' "$TMP/head")" ] || fail "HEAD answered with a body: $(cat "$TMP/head")"

kill "$PID_W" "$PID_R"
stop_daemon
echo 'ALL CHECKS PASSED'
