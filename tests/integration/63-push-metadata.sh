# Push mode presence metadata (Peer field 3) with rdv: sent with a
# registration, seen by watchers in the snapshot and in announcements, in
# DISCOVER answers, replaced on a re-registration that changes only it,
# refused past --max-metadata-bytes, and changed by a reload.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

RDV=("$BIN/rdv")
CONF=$TMP/d.conf
printf 'max-metadata-bytes = 16\n' >"$CONF"
start_daemon d --config "$CONF"
S=(--server "$DADDR")
addr=/ip4/10.0.0.1/tcp/4001

spawn W "${RDV[@]}" watch "${S[@]}" --register room
W=$(registered W)
spawn A1 "${RDV[@]}" register "${S[@]}" --key "$TMP/a.key" --addr $addr --metadata 'alice' room
A=$(registered A1)
wait_for "$TMP/W.out" "^\+ $A $addr metadata=\"alice\"\$"
# A second session of A with the same address and other metadata takes the
# registration over: announced with the new metadata.
spawn A2 "${RDV[@]}" register "${S[@]}" --key "$TMP/a.key" --addr $addr --metadata 'alice "away"' room
registered A2 >/dev/null
wait_for "$TMP/W.out" "^\+ $A $addr metadata=\"alice \\\\\"away\\\\\"\"\$"
# A newcomer's snapshot and a DISCOVER carry the latest; W has none.
spawn J "${RDV[@]}" watch "${S[@]}" --json room
wait_for "$TMP/J.out" "\"peer\":\"$A\""
wait_for "$TMP/J.out" "\"peer\":\"$W\""
same "$TMP/J.out" "{\"event\":\"register\",\"ns\":\"room\",\"peer\":\"$W\",\"addrs\":[]}"$'\n'"{\"event\":\"register\",\"ns\":\"room\",\"peer\":\"$A\",\"addrs\":[\"$addr\"],\"metadata\":\"alice \\\"away\\\"\"}"
out=$("${RDV[@]}" discover "${S[@]}" room) || fail "discover failed"
[ "$out" = "$W"$'\n'"$A $addr metadata=\"alice \\\"away\\\"\"" ] || fail "discover: $out"

# Over the limit: a clear status, nothing registered.
rc=0
timeout "$WAIT" "${RDV[@]}" register "${S[@]}" --metadata 'seventeen bytes!!' room >"$TMP/x.out" 2>"$TMP/x.err" || rc=$?
[ $rc -eq 1 ] || fail "17 bytes of metadata: exit code $rc: $(cat "$TMP/x.err")"
grep -qx "rdv: metadata is at most 16 bytes (status 101)" "$TMP/x.err" || fail "17 bytes: $(cat "$TMP/x.err")"
# --metadata belongs to push registrations.
rc=0
"${RDV[@]}" discover "${S[@]}" --metadata x room >/dev/null 2>"$TMP/x.err" || rc=$?
[ $rc -ne 0 ] && grep -q -- "--metadata go" "$TMP/x.err" || fail "discover --metadata: $rc $(cat "$TMP/x.err")"

# A reload that allows none refuses it from then on; registrations made
# before keep theirs.
printf 'max-metadata-bytes = 0\n' >"$CONF"
kill -HUP "$DPID"
wait_for "$TMP/d.err" "SIGHUP: reloaded $CONF"
rc=0
timeout "$WAIT" "${RDV[@]}" register "${S[@]}" --metadata 'x' room >"$TMP/x.out" 2>"$TMP/x.err" || rc=$?
[ $rc -eq 1 ] && grep -qx "rdv: metadata is at most 0 bytes (status 101)" "$TMP/x.err" \
    || fail "after the reload: $rc $(cat "$TMP/x.err")"
out=$("${RDV[@]}" discover "${S[@]}" room) || fail "discover failed"
[ "$out" = "$W"$'\n'"$A $addr metadata=\"alice \\\"away\\\"\"" ] || fail "discover after the reload: $out"

# A's session ends: watchers hear it go.
kill -INT "$PID_A2"
wait_for "$TMP/W.out" "^- $A\$"
kill -9 "$PID_W" "$PID_J" "$PID_A1"
stop_daemon
echo 'ALL CHECKS PASSED'
