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

# A js-libp2p PeerId JSON file from rdv keygen --json: the daemon keeps its id
# (under --key and seed 001's --peerId), and rdv id reads it too.
json_id=$("$BIN/rdv" keygen --json "$TMP/peer.json" | sed -n 's/.*"peer_id":"\([^"]*\)".*/\1/p')
[ "$(stat -c %a "$TMP/peer.json")" = 600 ] || fail "PeerId JSON mode $(stat -c %a "$TMP/peer.json")"
file_id=$(sed -n 's/^ *"id": "\([^"]*\)",$/\1/p' "$TMP/peer.json")
[ "$file_id" = "$json_id" ] || fail "keygen --json: id '$file_id' in the file, $json_id printed"
[ "$("$BIN/rdv" id "$TMP/peer.json")" = "$json_id" ] || fail "rdv id of the JSON file"
start_daemon json --peerId "$TMP/peer.json"
[ "$DID" = "$json_id" ] || fail "--peerId JSON: daemon id $DID, file id $json_id"
stop_daemon
start_daemon json2 --key "$TMP/peer.json"
[ "$DID" = "$json_id" ] || fail "--key JSON: daemon id $DID, file id $json_id"
stop_daemon

# A file whose id is another peer's: refused, naming both ids, the file once.
sed "s/$json_id/$first/" "$TMP/peer.json" >"$TMP/other.json"
rc=0; "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 --metrics off --key "$TMP/other.json" \
    >/dev/null 2>"$TMP/err" || rc=$?
[ $rc -eq 1 ] || fail "mismatched PeerId JSON: exit $rc"
grep -q "$first does not match its privKey, whose peer id is $json_id" "$TMP/err" || fail "mismatch message: $(cat "$TMP/err")"
[ "$(grep -o "$TMP/other.json" "$TMP/err" | wc -l)" -eq 1 ] || fail "file named more than once: $(cat "$TMP/err")"
out=$("$BIN/rendezvousd" --metrics off --key "$TMP/other.json" --check-config 2>&1) && fail "check-config accepted it"
case $out in *"does not match its privKey"*) ;; *) fail "check-config: $out" ;; esac
echo 'ALL CHECKS PASSED'
