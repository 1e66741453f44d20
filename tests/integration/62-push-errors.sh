# Push mode: limits and rejections reach rdv as clear errors; the daemon's
# push options; unreachable servers, wrong peer ids and unsupported
# protocols. (Malformed Messages are sent by test_push.)
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

RDV=("$BIN/rdv")
start_daemon d --max-registrations-per-peer 2 --push-discover-max 2
S=(--server "$DADDR")

# expect_error STATUS TEXT rdv-ARGS...: rdv exits 1 with "rdv: TEXT (status STATUS)".
expect_error() {
    local status=$1 text=$2 rc=0; shift 2
    timeout "$WAIT" "${RDV[@]}" "$@" >"$TMP/x.out" 2>"$TMP/x.err" || rc=$?
    [ $rc -eq 1 ] || fail "rdv $* exit code $rc: $(cat "$TMP/x.err")"
    grep -q "^rdv: .*$text.* (status $status)\$" "$TMP/x.err" || fail "rdv $*: $(cat "$TMP/x.err")"
}

long=$(printf 'n%.0s' {1..256})
expect_error 100 'namespace must be 1 to 255 bytes of UTF-8' register "${S[@]}" "$long"
expect_error 100 'namespace' watch "${S[@]}" "$long"
expect_error 100 'namespace' discover "${S[@]}" $'bad\xff'
expect_error 100 'namespace' watch "${S[@]}" --register $'\xc3('
# 255 bytes is fine.
ok=$(printf 'n%.0s' {1..255})
"${RDV[@]}" discover "${S[@]}" "$ok" >/dev/null || fail "a 255-byte namespace was refused"

# Registrations per peer: the third namespace of one peer is refused.
# (One after the other: the first creates the key file.)
spawn R1 "${RDV[@]}" register "${S[@]}" --key "$TMP/r.key" one
registered R1 >/dev/null
spawn R2 "${RDV[@]}" register "${S[@]}" --key "$TMP/r.key" two
registered R2 >/dev/null
expect_error 400 'at most 2 registrations per peer' register "${S[@]}" --key "$TMP/r.key" three
# ... but re-registering in one of them is not a new registration.
spawn R3 "${RDV[@]}" register "${S[@]}" --key "$TMP/r.key" two
registered R3 >/dev/null

# DISCOVER is capped by --push-discover-max.
spawn X1 "${RDV[@]}" register "${S[@]}" three
spawn X2 "${RDV[@]}" register "${S[@]}" three
spawn X3 "${RDV[@]}" register "${S[@]}" three
for n in X1 X2 X3; do registered $n >/dev/null; done
[ "$("${RDV[@]}" discover "${S[@]}" three | wc -l)" -eq 2 ] || fail "discover not capped at 2"
[ "$("${RDV[@]}" discover "${S[@]}" --limit 5 three | wc -l)" -eq 2 ] || fail "discover --limit 5 not capped at 2"
[ "$("${RDV[@]}" discover "${S[@]}" --limit 1 three | wc -l)" -eq 1 ] || fail "discover --limit 1"

# push mode has no TTLs or cookies.
rc=0; "${RDV[@]}" register "${S[@]}" --dialect push --ttl 7200 ns 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q 'no TTL' "$TMP/e" || fail "--dialect push --ttl: $rc $(cat "$TMP/e")"
rc=0; "${RDV[@]}" watch "${S[@]}" --dialect standard ns 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q 'push mode only' "$TMP/e" || fail "watch --dialect standard: $rc $(cat "$TMP/e")"

# Another protocol id: the peer does not speak it.
rc=0; "${RDV[@]}" watch "${S[@]}" --protocol /no/such/1.0.0 ns 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "watch with an unknown protocol id: exit code $rc"
grep -q "does not support /no/such/1.0.0" "$TMP/e" || fail "unsupported protocol error: $(cat "$TMP/e")"

# Wrong peer id in /p2p/.
other=12D3KooWBtg3aaRMjxwedh83aGiUkwSxDwUZkzuJcfaqUmo7R3pq
rc=0; "${RDV[@]}" watch --server "/ip4/127.0.0.1/tcp/$DPORT/p2p/$other" ns 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q 'peer id mismatch' "$TMP/e" || fail "wrong peer id: $rc $(cat "$TMP/e")"

kill -9 "$PID_R1" "$PID_R2" "$PID_R3" "$PID_X1" "$PID_X2" "$PID_X3"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
no_sanitizer_report d

# A daemon with another push protocol id answers only under it.
start_daemon p --push-protocol /my/push/2.0.0
rc=0; "${RDV[@]}" discover --server "$DADDR" ns 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q 'does not support /rendezvous/legacy/1.0.0' "$TMP/e" || fail "default id on a renamed daemon: $rc $(cat "$TMP/e")"
"${RDV[@]}" discover --server "$DADDR" --protocol /my/push/2.0.0 ns >/dev/null || fail "--push-protocol"
stop_daemon

# Unreachable: nothing listens there any more.
rc=0; "${RDV[@]}" watch --server "/ip4/127.0.0.1/tcp/$DPORT" ns 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -qi 'refused' "$TMP/e" || fail "unreachable: $rc $(cat "$TMP/e")"
no_sanitizer_report p
echo 'ALL CHECKS PASSED'
