# Hostile and idle peers are cut off; the daemon keeps serving others.
source "$(dirname "$0")/lib.sh"

start_daemon h --handshake-timeout 1 --max-connections-per-ip 3

# Garbage instead of multistream-select: closed at once.
expect_eof "$DPORT" 3 '\xff\xff\xff\xff garbage' || fail "garbage not closed"
# A proposal without a header, an oversized length, TLS only.
expect_eof "$DPORT" 3 '\x07/noise\n' || fail "missing header not closed"
expect_eof "$DPORT" 3 '\xff\xff\x03' || fail "oversized length not closed"
# Valid header, then noise with a bad first handshake message.
expect_eof "$DPORT" 3 '\x13/multistream/1.0.0\n\x07/noise\n\x00\x05hello' || fail "bad noise msg1 not closed"
# Silence: the handshake deadline closes it.
start=$(date +%s)
expect_eof "$DPORT" 4 || fail "silent connection not closed by the handshake timeout"
[ $(( $(date +%s) - start )) -ge 1 ] || fail "silent connection closed too early"

# A handshake dribbled one byte at a time still meets the deadline, which
# counts from accept, and does not hold up the deadline of a silent one.
start=$(date +%s)
timeout 5 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$DPORT"'
    exec 4<>/dev/tcp/127.0.0.1/'"$DPORT"'
    (msg=$(printf "\x13/multistream/1.0.0\n\x07/noise\n")
     for ((i = 0; i < ${#msg}; i++)); do printf "%s" "${msg:i:1}" >&3 2>/dev/null || exit 0; sleep 0.3; done) &
    cat <&3 >/dev/null; cat <&4 >/dev/null' || fail "a dribbling handshake outlived the handshake timeout"
[ $(( $(date +%s) - start )) -le 3 ] || fail "handshake deadline was extended by dribbled bytes"

# Per-IP limit: with 3 held open, a 4th is closed at once.
for i in 1 2 3; do exec {fd}<>/dev/tcp/127.0.0.1/"$DPORT"; held+=("$fd"); done
sleep 0.2
timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/'"$DPORT"'; cat <&3 >/dev/null' || fail "4th connection from one address not refused"
for fd in "${held[@]}"; do exec {fd}>&-; done
sleep 0.3

"$BIN/rdv" ping --server "$DADDR" >/dev/null || fail "daemon stopped serving after hostile input"
kill -0 "$DPID" || fail "daemon died"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit code $DRC"
grep -qi 'AddressSanitizer\|runtime error' "$TMP/h.err" && fail "sanitizer report: $(cat "$TMP/h.err")"
echo ok
