# The command line helps: rdv --version and rdv help COMMAND, rendezvousd -v,
# and errors that say what to do (a refused connection, a wrong peer id).
source "$(dirname "$0")/lib.sh"

RDV=("$BIN/rdv")
[ "$("${RDV[@]}" --version)" = "rdv $("$BIN/rendezvousd" --version | awk '{print $2}')" ] ||
    fail "rdv --version: $("${RDV[@]}" --version)"
out=$("${RDV[@]}" help register) || fail "rdv help register"
[[ $out == "Usage: rdv register --server MULTIADDR"* ]] || fail "rdv help register: $out"
grep -q -- '--addr MULTIADDR' <<<"$out" || fail "rdv help register lists no options: $out"
rc=0; "${RDV[@]}" help frobnicate 2>"$TMP/e" || rc=$?
[ $rc -eq 2 ] && grep -q "unknown command 'frobnicate' (rdv --help lists them)" "$TMP/e" || fail "help of nothing: $rc $(cat "$TMP/e")"
[ "$("$BIN/rendezvousd" -v --metrics off --check-config)" = "config ok" ] || fail "rendezvousd -v"

# A wrong /p2p/ id: both ids, and where the right one is printed.
start_daemon a --metrics off
other=$("${RDV[@]}" keygen "$TMP/other.key")
wrong=${DADDR%/p2p/*}/p2p/$other
rc=0; "${RDV[@]}" ping --server "$wrong" 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "ping of a wrong id: exit $rc"
grep -q "the peer there is $DID, not $other" "$TMP/e" || fail "wrong id: $(cat "$TMP/e")"
# Nothing listening any more: is rendezvousd running there?
stop_daemon
rc=0; "${RDV[@]}" ping --server "$DADDR" 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "ping of a stopped daemon: exit $rc"
grep -q "^rdv: $DADDR: connection refused: is rendezvousd running at that address?" "$TMP/e" ||
    fail "refused: $(cat "$TMP/e")"
echo "ALL CHECKS PASSED"
