# The key file: created with mode 0600, and the peer id survives a restart.
source "$(dirname "$0")/lib.sh"

start_daemon a --key "$TMP/id.key"
first=$DID
[ -f "$TMP/id.key" ] || fail "key file not created"
[ "$(stat -c %a "$TMP/id.key")" = 600 ] || fail "key file mode $(stat -c %a "$TMP/id.key")"
case $first in 12D3KooW*) ;; *) fail "not an Ed25519 peer id: $first" ;; esac
stop_daemon

start_daemon b --key "$TMP/id.key"
[ "$DID" = "$first" ] || fail "peer id changed across restart: $first -> $DID"
stop_daemon

start_daemon c
[ "$DID" != "$first" ] || fail "no --key should give a new identity"
stop_daemon
echo ok
