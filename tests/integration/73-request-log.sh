# Debug logs: with -v (= --log-level debug) one line per protocol negotiated
# or refused and one per request (dialect, type, namespace, status, peer,
# microseconds); at the default level none of them.
source "$(dirname "$0")/lib.sh"

RDV=("$BIN/rdv")
start_daemon v -v --metrics off
S=(--server "$DADDR")
ERR=$TMP/v.err

# Each rdv command waits for its answer, so the lines about it are written
# by the time it exits.
out=$("${RDV[@]}" register "${S[@]}" --dialect standard --key "$TMP/a.key" --addr /ip4/10.0.0.1/tcp/4001 'chat "room"') ||
    fail "register: $out"
A=$("${RDV[@]}" id "$TMP/a.key")
grep -q "from $A: protocol /rendezvous/1.0.0\$" "$ERR" || fail "no negotiation line: $(cat "$ERR")"
grep -Eq "request standard REGISTER ns=\"chat \?room\?\" status=OK peer=$A [0-9]+ µs\$" "$ERR" ||
    fail "no REGISTER line: $(cat "$ERR")"
"${RDV[@]}" discover "${S[@]}" --dialect waku --key "$TMP/a.key" nobody >/dev/null || fail "waku discover"
grep -Eq "request waku DISCOVER ns=\"nobody\" status=OK peer=$A [0-9]+ µs\$" "$ERR" ||
    fail "no Waku DISCOVER line: $(cat "$ERR")"
# A refusal carries its status name.
"${RDV[@]}" register "${S[@]}" --dialect standard --key "$TMP/a.key" --ttl 1 chat >/dev/null 2>&1 &&
    fail "a TTL of 1 s was accepted"
grep -Eq "request standard REGISTER ns=\"chat\" status=E_INVALID_TTL peer=$A [0-9]+ µs\$" "$ERR" ||
    fail "no refused REGISTER line: $(cat "$ERR")"
# Push mode: a DISCOVER is answered, so its line is there once rdv has the answer.
"${RDV[@]}" discover "${S[@]}" --dialect push --key "$TMP/a.key" chat >/dev/null || fail "push discover"
grep -Eq "request push DISCOVER ns=\"chat\" status=OK peer=$A [0-9]+ µs\$" "$ERR" ||
    fail "no push DISCOVER line: $(cat "$ERR")"

# A protocol the daemon does not speak: rdv reports it, the daemon logs it.
out=$("${RDV[@]}" discover "${S[@]}" --dialect standard --protocol /canvas/rendezvous/1.0.0 --key "$TMP/a.key" chat 2>&1) &&
    fail "an unknown protocol was accepted: $out"
grep -q "from $A: protocol /canvas/rendezvous/1.0.0 refused (not supported)" "$ERR" ||
    fail "no refused-protocol line: $(cat "$ERR")"
stop_daemon

# At the default level (info) none of these lines.
start_daemon quiet --metrics off
"${RDV[@]}" discover --server "$DADDR" --dialect standard chat >/dev/null || fail "discover (quiet)"
"${RDV[@]}" discover --server "$DADDR" --dialect standard --protocol /nope/1.0.0 chat >/dev/null 2>&1 || true
stop_daemon
! grep -Eq "request |protocol " "$TMP/quiet.err" || fail "request lines at info: $(cat "$TMP/quiet.err")"
echo "ALL CHECKS PASSED"
