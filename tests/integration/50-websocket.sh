# WebSocket listeners (WIRE.md §12): rdv over /ws and /tls/ws, bad upgrades
# answered 400/403/431 and closed, oversized frames and silent peers cut
# off, TLS options checked, and the seed 001 default listeners.
source "$(dirname "$0")/lib.sh"

# probe PORT BYTES: sends BYTES (printf %b escapes), reads until the server
# closes (FIN or reset) and leaves what came back in $TMP/probe. Fails if it
# cannot connect, or if the connection is still open after 3 s (the handshake
# deadline is 5 s: this is "closed at once").
probe() {
    local rc=0
    timeout 3 bash -c 'trap "" PIPE; exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 99
        printf "%b" "$1" >&3 2>/dev/null; cat <&3 2>/dev/null' _ "$2" >"$TMP/probe" || rc=$?
    [ $rc -ne 99 ] || fail "cannot connect to port $1"
    [ $rc -ne 124 ]
}
status() { head -1 "$TMP/probe" | tr -d '\r'; }
hexdump() { od -An -tx1 "$TMP/probe" | tr -d ' \n'; }
ws_port() { sed -n 's#^/ip4/127.0.0.1/tcp/\([0-9]*\)/'"$2"'/p2p/.*#\1#p' "$TMP/$1.out"; }

KEY='dGhlIHNhbXBsZSBub25jZQ=='   # RFC 6455's example key and answer
ACCEPT='s3pPLMBiTxaQ9kYGzzhZRbK+xOo='
upgrade() { # [extra header lines]: a valid request, in printf %b escapes
    echo -n 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Key: '"$KEY"'\r\nSec-WebSocket-Version: 13\r\n'"${1-}"'\r\n'
}

start_daemon w --listen /ip4/127.0.0.1/tcp/0/ws --handshake-timeout 5 --ws-allow-origin https://app.example \
    --log-level debug
WSPORT=$(ws_port w ws)
[ -n "$WSPORT" ] || fail "no /ws line with a real port: $(cat "$TMP/w.out")"
WSADDR=$(grep -m1 '/ws/p2p/' "$TMP/w.out")

# Our dialer over /ws: multistream-select, Noise and yamux inside the frames.
out=$("$BIN/rdv" ping --server "$WSADDR" --count 3) || fail "rdv ping over /ws failed"
[ "$(grep -Ec "^pong from $DID in [0-9.]+ ms$" <<<"$out")" -eq 3 ] || fail "unexpected /ws ping output: $out"

CLOSE='\x88\x82\x00\x00\x00\x00\x03\xe8'   # masked Close 1000 (zero mask)

# A good upgrade is answered 101 with the RFC's accept value; a Close after
# it is answered and the connection ends.
probe "$WSPORT" "$(upgrade 'Origin: https://app.example\r\n')$CLOSE" || fail "upgrade + Close: still open"
[ "$(status)" = 'HTTP/1.1 101 Switching Protocols' ] || fail "upgrade not answered 101: $(status)"
grep -q "^Sec-WebSocket-Accept: $ACCEPT" "$TMP/probe" || fail "wrong Sec-WebSocket-Accept: $(cat "$TMP/probe")"
hexdump | grep -q '880203e8$' || fail "Close not answered: $(hexdump)"

# Bad requests: 400, then closed.
expect_400() {
    probe "$WSPORT" "$1" || fail "$2: still open 3 s after the request"
    [ "$(status)" = 'HTTP/1.1 400 Bad Request' ] || fail "$2: not answered 400: $(status)"
}
expect_400 'garbage\r\n\r\n' "garbage"
expect_400 'POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: '$KEY'\r\nSec-WebSocket-Version: 13\r\n\r\n' "POST"
expect_400 'GET / HTTP/1.1\r\nHost: x\r\n\r\n' "plain GET"
expect_400 'GET / HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: '$KEY'\r\nSec-WebSocket-Version: 13\r\n\r\n' "HTTP/1.0"
expect_400 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n' "no key"
expect_400 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\nSec-WebSocket-Version: 13\r\n\r\n' "bad key"
expect_400 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nSec-WebSocket-Key: '$KEY'\r\nSec-WebSocket-Version: 13\r\n\r\n' "no Connection: Upgrade"
expect_400 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Key: '$KEY'\r\nSec-WebSocket-Version: 13\r\n\r\n' "Upgrade: h2c"
expect_400 'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: '$KEY'\r\nSec-WebSocket-Version: 8\r\n\r\n' "version 8"
grep -q '^Sec-WebSocket-Version: 13' "$TMP/probe" || fail "400 does not name version 13: $(cat "$TMP/probe")"

# --ws-allow-origin: other origins get 403; no Origin (not a browser) is fine.
probe "$WSPORT" "$(upgrade 'Origin: https://evil.example\r\n')" || fail "foreign origin: still open"
[ "$(status)" = 'HTTP/1.1 403 Forbidden' ] || fail "foreign origin not answered 403: $(status)"
probe "$WSPORT" "$(upgrade)$CLOSE" || fail "no Origin: still open"
[ "$(status)" = 'HTTP/1.1 101 Switching Protocols' ] || fail "upgrade without Origin refused: $(status)"

# More than 8 KiB of headers: refused with 431 and closed. The answer may be
# lost to the reset that closing with unread input causes, so the daemon's
# log says what it did.
pad=$(head -c 9000 /dev/zero | tr '\0' a)
probe "$WSPORT" "GET / HTTP/1.1\r\nX-Pad: $pad\r\n\r\n" || fail "oversized headers: still open"
wait_log w 'WebSocket upgrade refused \(431\): headers too large'
if [ -s "$TMP/probe" ]; then
    [ "$(status)" = 'HTTP/1.1 431 Request Header Fields Too Large' ] || fail "oversized headers: answered $(status)"
fi

# A frame announcing 2 MiB (over the 1 MiB cap): Close 1009 as soon as its
# payload starts, then closed.
probe "$WSPORT" "$(upgrade)"'\x82\xff\x00\x00\x00\x00\x00\x20\x00\x00\x01\x02\x03\x04abcd' || fail "oversized frame: still open"
hexdump | grep -q '880203f1$' || fail "oversized frame not answered with Close 1009: $(hexdump)"
# An unmasked client frame is a protocol error: Close 1002.
probe "$WSPORT" "$(upgrade)"'\x82\x03abc' || fail "unmasked frame: still open"
hexdump | grep -q '880203ea$' || fail "unmasked frame not answered with Close 1002: $(hexdump)"
# A ping is answered with a pong carrying the same bytes (read right after
# the 101 answer: the server sends nothing else before the client does).
answer=$(probe "$WSPORT" "$(upgrade)$CLOSE" && wc -c <"$TMP/probe")
answer=$((answer - 4)) # without the Close frame
r=$(timeout 3 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$WSPORT"'; printf "%b" "$1" >&3; head -c '"$((answer + 4))"' <&3' \
    _ "$(upgrade)"'\x89\x82\x00\x00\x00\x00hi' | od -An -tx1 | tr -d ' \n')
[ "${r: -8}" = 8a026869 ] || fail "ping not answered with its pong: $r"

# Silence, before and after the upgrade: the handshake deadline closes both,
# and not before.
start=$(mono_ms)
expect_eof "$WSPORT" 20 & silent=$!
expect_eof "$WSPORT" 20 "$(upgrade)" || fail "silent upgraded connection not closed"
wait $silent || fail "silent connection not closed"
[ $(( $(mono_ms) - start )) -ge 4900 ] || fail "silent connections closed after $(( $(mono_ms) - start )) ms, before the 5 s deadline"

"$BIN/rdv" ping --server "$WSADDR" >/dev/null || fail "daemon stopped serving /ws after hostile input"
"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "daemon stopped serving TCP after hostile input"
stop_daemon

# ---- TLS ---------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=localhost \
    -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' 2>/dev/null || fail "openssl req failed"

rc=0; "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0/tls/ws 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "/tls/ws without a certificate: exit code $rc"
grep -q -- '--tls-cert' "$TMP/e" || fail "/tls/ws without a certificate: $(cat "$TMP/e")"
rc=0; "$BIN/rendezvousd" --tls-cert "$TMP/cert.pem" 2>"$TMP/e" || rc=$?
[ $rc -eq 2 ] || fail "--tls-cert without --tls-key: exit code $rc"
rc=0; "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0/tls/ws --tls-cert "$TMP/cert.pem" --tls-key "$TMP/nope.pem" 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "missing key file: exit code $rc"
grep -q 'nope.pem' "$TMP/e" || fail "missing key file not named: $(cat "$TMP/e")"

start_daemon t --listen /ip4/127.0.0.1/tcp/0/tls/ws --listen /ip4/127.0.0.1/tcp/0/wss \
    --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
TLSADDR=$(grep -m1 '/tls/ws/p2p/' "$TMP/t.out") || fail "no /tls/ws line: $(cat "$TMP/t.out")"
WSSADDR=$(grep -m1 '/wss/p2p/' "$TMP/t.out") || fail "no /wss line: $(cat "$TMP/t.out")"
for a in "$TLSADDR" "$WSSADDR"; do
    out=$(SSL_CERT_FILE="$TMP/cert.pem" "$BIN/rdv" ping --server "$a" --count 2) || fail "rdv ping $a failed"
    [ "$(grep -c "^pong from $DID" <<<"$out")" -eq 2 ] || fail "unexpected ping output over $a: $out"
done
# The certificate is checked: without trusting it, the dial fails and says why.
rc=0; SSL_CERT_FILE=/dev/null "$BIN/rdv" ping --server "$TLSADDR" 2>"$TMP/e" || rc=$?
[ $rc -ne 0 ] || fail "an untrusted certificate was accepted"
grep -qi 'certificate' "$TMP/e" || fail "untrusted certificate error: $(cat "$TMP/e")"
# Plain bytes on a TLS port are no handshake: closed.
TLSPORT=$(ws_port t tls/ws)
probe "$TLSPORT" "$(upgrade)" || fail "plain HTTP on the TLS port not closed"
"$BIN/rdv" ping --server "$TLSADDR" -t 5 >/dev/null 2>&1 && fail "untrusted ping succeeded"
SSL_CERT_FILE="$TMP/cert.pem" "$BIN/rdv" ping --server "$TLSADDR" >/dev/null || fail "TLS listener stopped serving"
stop_daemon

# ---- default listeners (seed 001) --------------------------------------
# The daemon without --listen binds the fixed ports 8000 and 15003. So that
# nothing else on this machine can hold them, it runs in a network namespace
# of its own, with only a loopback interface.
command -v unshare >/dev/null || fail "unshare (util-linux) is needed for the default-listener check"
command -v ip >/dev/null || fail "ip (iproute2) is needed for the default-listener check"
unshare --net true 2>"$TMP/e" ||
    fail "cannot make a network namespace for the default-listener check (needs root or user namespaces): $(cat "$TMP/e")"
rc=0
unshare --net -- bash -c '
    set -u
    bin=$1 tmp=$2
    ip link set lo up || { echo "ip link set lo up failed"; exit 1; }
    "$bin/rendezvousd" --metrics off >"$tmp/def.out" 2>"$tmp/def.err" &
    pid=$!
    for _ in $(seq 200); do
        [ "$(grep -c "^/" "$tmp/def.out")" -ge 2 ] && break
        kill -0 $pid 2>/dev/null || break
        sleep 0.05
    done
    "$bin/rdv" ping --server "$(grep -m1 /ws/ "$tmp/def.out")" >"$tmp/def.ping" 2>&1; echo $? >"$tmp/def.ping.rc"
    kill -TERM $pid; wait $pid' _ "$BIN" "$TMP" >"$TMP/def.ns" 2>&1 || rc=$?
[ $rc -eq 0 ] || fail "default-listener daemon exit code $rc: $(cat "$TMP/def.ns" "$TMP/def.err")"
no_sanitizer_report def
grep -Eqx '/ip4/127\.0\.0\.1/tcp/15003/ws/p2p/12D3KooW[1-9A-HJ-NP-Za-km-z]+' "$TMP/def.out" || fail "default /ws line: $(cat "$TMP/def.out" "$TMP/def.err")"
grep -Eqx '/ip4/127\.0\.0\.1/tcp/8000/p2p/12D3KooW[1-9A-HJ-NP-Za-km-z]+' "$TMP/def.out" || fail "default TCP line: $(cat "$TMP/def.out")"
[ "$(cat "$TMP/def.ping.rc")" = 0 ] || fail "ping on the default /ws listener: $(cat "$TMP/def.ping")"
echo 'ALL CHECKS PASSED'
