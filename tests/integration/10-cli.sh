# Command line: help, version, bad options and addresses give clear errors.
source "$(dirname "$0")/lib.sh"

"$BIN/rendezvousd" --help | grep -q -- '--listen MULTIADDR' || fail "--help does not list --listen"
"$BIN/rendezvousd" --version | grep -Eq '^rendezvousd [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"

rc=0; "$BIN/rendezvousd" --no-such-flag 2>"$TMP/e" || rc=$?
[ $rc -eq 2 ] || fail "unknown flag exit code $rc"

rc=0; "$BIN/rendezvousd" --listen /ip4/127.0.0.1/udp/1 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "udp listen exit code $rc"
grep -q 'udp' "$TMP/e" || fail "udp listen error does not name the problem: $(cat "$TMP/e")"

rc=0; "$BIN/rendezvousd" --listen /ip4/999.0.0.1/tcp/1 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "bad ip exit code $rc"

rc=0; "$BIN/rendezvousd" --max-streams 0 2>"$TMP/e" || rc=$?
[ $rc -eq 2 ] || fail "--max-streams 0 accepted"

printf 'not a key' >"$TMP/bad.key"
rc=0; "$BIN/rendezvousd" --key "$TMP/bad.key" 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] || fail "corrupt key file exit code $rc"
grep -q 'bad.key' "$TMP/e" || fail "corrupt key error does not name the file"

# Two listeners: one line each, with the real port and our id.
start_daemon two --listen /ip6/::1/tcp/0
[ "$(grep -c '^/' "$TMP/two.out")" -eq 2 ] || fail "expected two address lines: $(cat "$TMP/two.out")"
head -1 "$TMP/two.out" | grep -qx 'Rendezvous server listening on:' || fail "header line"
grep -Eq '^/ip6/::1/tcp/[1-9][0-9]*/p2p/12D3KooW[1-9A-HJ-NP-Za-km-z]+$' "$TMP/two.out" || fail "ip6 line"
stop_daemon
[ "$DRC" -eq 0 ] || fail "SIGTERM exit code $DRC"
echo 'ALL CHECKS PASSED'
