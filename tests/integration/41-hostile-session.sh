# Hostile input after a genuine handshake (a yamux protocol error, a failed
# muxer negotiation, a Noise frame that does not authenticate) closes that
# connection only and says why in the log and in
# rendezvousd_connection_errors_total; a peer that stops reading is held
# back instead (its connection is not read while output waits). The
# daemon's memory stays bounded, and a session opened before keeps working.
# Over TCP and /tls/ws.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/metrics_lib.sh"
source "$(dirname "$0")/probe_lib.sh"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=localhost \
    -addext 'subjectAltName=IP:127.0.0.1' 2>/dev/null || fail "openssl req failed"
start_daemon d --metrics 127.0.0.1:0 --max-connection-output 65536 \
    --listen /ip4/127.0.0.1/tcp/0/tls/ws --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
MPORT=$(metrics_port d)
TLSADDR=$(grep -m1 '/tls/ws/p2p/' "$TMP/d.out") || fail "no /tls/ws line: $(cat "$TMP/d.out")"
TLSPORT=$(echo "$TLSADDR" | sed -n 's#^/ip4/[^/]*/tcp/\([0-9]*\)/.*#\1#p')

# A subscriber that must live through everything below.
spawn W "$BIN/rdv" watch --server "$DADDR" survivors
expect_metric rendezvousd_subscriptions 1

# kind LOG_REASON: one hostile session over TCP, closed with that reason.
hostile() {
    local out
    out=$("$PROBE" hostile "$DPORT" "$1") || fail "$1: $out"
    [ "$out" = "$1: closed by the daemon" ] || fail "$1: $out"
    wait_for "$TMP/d.err" "closed 12D3KooW[^ ]* /ip4/127\.0\.0\.1/tcp/[0-9]+: $2\$"
}
hostile yamux-version 'unsupported yamux version'
hostile yamux-type 'unknown yamux frame type'
hostile window-overflow 'send window overflow'
hostile beyond-window 'data beyond the receive window'
hostile syn-parity 'SYN on a stream id of the wrong parity'
expect_metric 'rendezvousd_connection_errors_total{reason="yamux"}' 5
hostile noise-flip 'noise decryption failed'
hostile noise-short 'noise decryption failed'
expect_metric 'rendezvousd_connection_errors_total{reason="decrypt"}' 2
# The muxer negotiation fails: a handshake failure, not a session error.
out=$("$PROBE" hostile "$DPORT" muxer-garbage) || fail "muxer-garbage: $out"
expect_metric 'rendezvousd_handshake_failures_total{reason="muxer"}' 1
expect_metric 'rendezvousd_connection_errors_total{reason="output_limit"}' 0

# A peer that grants us window but never reads (4 KiB receive buffer): the
# daemon echoes its pings only as far as the connection's output budget
# allows, holds the rest (withheld from the peer's window), and stops
# reading that connection while its output waits - nothing piles up and the
# connection is not cut. Killing the peer ends it.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }
before=$(rss_kb)
spawn F "$PROBE" flood "$DPORT" --rcvbuf 4096
expect_metric rendezvousd_read_pauses_total 1
# Without backpressure the daemon would hold up to 64 MiB of echoes.
after=$(rss_kb)
# ASan's quarantine and shadow memory grow RSS on their own: a looser bound
# there; the buffered-bytes metric below holds the exact one in both builds.
bound=$((24 * 1024))
ldd "$BIN/rendezvousd" | grep -q libasan && bound=$((96 * 1024))
(( after - before < bound )) || fail "RSS grew from $before to $after kB during the flood"
scrape
out_bytes=$(metric 'rendezvousd_buffered_bytes{direction="out"}')
(( out_bytes <= 65536 + 65537 )) || fail "$out_bytes bytes buffered for the socket, limit 65536"
kill "$PID_F"
expect_metric 'rendezvousd_connection_errors_total{reason="output_limit"}' 0

# The same over /tls/ws: TLS write backpressure pauses it the same way.
spawn G "$PROBE" --tls-ws flood "$TLSPORT" --rcvbuf 4096
expect_metric rendezvousd_read_pauses_total 2
kill "$PID_G"
expect_metric 'rendezvousd_connection_errors_total{reason="output_limit"}' 0
out=$("$PROBE" --tls-ws hostile "$TLSPORT" noise-flip) || fail "noise-flip over /tls/ws: $out"
expect_metric 'rendezvousd_connection_errors_total{reason="decrypt"}' 3
# close_notify from the client ends the connection; so does a reset in the
# middle of a TLS record, and the listener keeps serving.
out=$("$PROBE" tls-close-notify "$TLSPORT") || fail "$out"
"$PROBE" tls-reset "$TLSPORT" >/dev/null || fail "tls-reset"
SSL_CERT_FILE="$TMP/cert.pem" "$BIN/rdv" ping --server "$TLSADDR" >/dev/null ||
    fail "/tls/ws stopped serving after a reset mid-record"

# The subscriber from the start still hears announcements.
spawn R "$BIN/rdv" register --server "$DADDR" survivors
R=$(registered R)
wait_for "$TMP/W.out" "^\+ $R\$"
expect_metric 'rendezvousd_connection_errors_total{reason="yamux"}' 5
kill "$PID_R" "$PID_W"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
no_sanitizer_report d
echo "ALL CHECKS PASSED"
