# Hostile and idle peers are cut off; the daemon keeps serving others.
source "$(dirname "$0")/lib.sh"

# The handshake deadline is long enough (5 s) that "closed at once" below
# means closed by the check itself, not by the deadline, even under ASan on a
# loaded machine.
start_daemon h --handshake-timeout 5 --max-connections-per-ip 3

# Garbage instead of multistream-select: closed at once.
expect_eof "$DPORT" 4 '\xff\xff\xff\xff garbage' || fail "garbage not closed"
# A proposal without a header, an oversized length, TLS only.
expect_eof "$DPORT" 4 '\x07/noise\n' || fail "missing header not closed"
expect_eof "$DPORT" 4 '\xff\xff\x03' || fail "oversized length not closed"
# Valid header, then noise with a bad first handshake message.
expect_eof "$DPORT" 4 '\x13/multistream/1.0.0\n\x07/noise\n\x00\x05hello' || fail "bad noise msg1 not closed"

# Silence: the handshake deadline closes it, and not before.
start=$(mono_ms)
expect_eof "$DPORT" 20 || fail "silent connection not closed by the handshake timeout"
[ $(( $(mono_ms) - start )) -ge 4900 ] || fail "silent connection closed after $(( $(mono_ms) - start )) ms, before the 5 s deadline"

# A handshake dribbled one byte every 0.3 s (8 s in all) is cut by the
# deadline, which counts from accept: the dribbler finds the connection closed
# before its last byte. A silent connection opened beside it is closed too.
timeout 30 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$DPORT"'
    exec 4<>/dev/tcp/127.0.0.1/'"$DPORT"'
    (trap "" PIPE; msg=$(printf "\x13/multistream/1.0.0\n\x07/noise\n")
     for ((i = 0; i < ${#msg}; i++)); do
         printf "%s" "${msg:i:1}" >&3 2>/dev/null || { echo "cut at byte $i of ${#msg}"; exit 0; }
         sleep 0.3
     done
     echo "all ${#msg} bytes sent") >"$1" &
    cat <&3 >/dev/null; cat <&4 >/dev/null; wait' _ "$TMP/dribble" || fail "a dribbling or silent connection outlived the handshake timeout"
grep -q '^cut at byte' "$TMP/dribble" || fail "the handshake deadline was extended by dribbled bytes: $(cat "$TMP/dribble")"

# Per-IP limit: with 3 held open, a 4th is closed at once. (Accepts are
# handled in order, so the daemon counts the 3 before it sees the 4th.)
for i in 1 2 3; do exec {fd}<>/dev/tcp/127.0.0.1/"$DPORT"; held+=("$fd"); done
expect_eof "$DPORT" 4 || fail "4th connection from one address not refused"
for fd in "${held[@]}"; do exec {fd}>&-; done

# Once the daemon has seen those three close, it serves this address again.
retry 10 "$BIN/rdv" ping --server "$DADDR" >/dev/null 2>&1 || fail "daemon stopped serving after hostile input"
stop_daemon
echo 'ALL CHECKS PASSED'
