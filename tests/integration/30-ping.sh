# Our dialer against our listener: Noise, yamux, ping; wrong peer id and
# unreachable servers give useful errors; SIGTERM exits cleanly.
source "$(dirname "$0")/lib.sh"

start_daemon d
out=$("$BIN/rdv" ping --server "$DADDR" --count 3) || fail "rdv ping failed"
[ "$(grep -Ec "^pong from $DID in [0-9.]+ ms$" <<<"$out")" -eq 3 ] || fail "unexpected ping output: $out"

# Without /p2p/ the dial still works (no identity pinned).
"$BIN/rdv" ping --server "/ip4/127.0.0.1/tcp/$DPORT" >/dev/null || fail "ping without /p2p failed"

other=12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq
rc=0; "$BIN/rdv" ping --server "/ip4/127.0.0.1/tcp/$DPORT/p2p/$other" 2>"$TMP/e" || rc=$?
[ $rc -ne 0 ] || fail "ping with the wrong peer id succeeded"
grep -q 'peer id mismatch' "$TMP/e" || fail "wrong-id error: $(cat "$TMP/e")"

stop_daemon
[ "$DRC" -eq 0 ] || fail "SIGTERM exit code $DRC"

rc=0; "$BIN/rdv" ping --server "/ip4/127.0.0.1/tcp/$DPORT" 2>"$TMP/e" || rc=$?
[ $rc -ne 0 ] || fail "ping to a stopped daemon succeeded"
grep -qi 'refused' "$TMP/e" || fail "unreachable error: $(cat "$TMP/e")"
echo 'ALL CHECKS PASSED'
