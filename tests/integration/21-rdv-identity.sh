# rdv's default identity: without --key, rdv uses
# $XDG_CONFIG_HOME/rdv/identity.key (else ~/.config/rdv/identity.key),
# created 0600 in a 0700 folder on first use, so that a register and a later
# unregister are the same peer; `rdv id` prints its peer id and file;
# --key and RDV_KEY override it ("-": a fresh identity per run).
source "$(dirname "$0")/lib.sh"
unset RDV_KEY
export XDG_CONFIG_HOME=$TMP/xdg HOME=$TMP/home
mkdir -p "$HOME"
KEY=$XDG_CONFIG_HOME/rdv/identity.key

out=$("$BIN/rdv" id) || fail "rdv id: $out"
ID=${out%% *}
[ "$out" = "$ID $KEY" ] || fail "rdv id printed: $out"
[ -f "$KEY" ] || fail "no $KEY"
[ "$(stat -c %a "$KEY")" = 600 ] || fail "identity mode $(stat -c %a "$KEY")"
[ "$(stat -c %a "$XDG_CONFIG_HOME/rdv")" = 700 ] || fail "folder mode $(stat -c %a "$XDG_CONFIG_HOME/rdv")"
[ "$("$BIN/rdv" id)" = "$ID $KEY" ] || fail "the identity changed"
"$BIN/rdv" id --json | grep -qx "{\"peer_id\":\"$ID\",\"key_file\":\"$KEY\"}" || fail "rdv id --json: $("$BIN/rdv" id --json)"

start_daemon d
S=(--server "$DADDR")
out=$("$BIN/rdv" register "${S[@]}" --dialect standard --ttl 60 --addr /ip4/192.0.2.1/tcp/1 lobby)
[ "$out" = "registered $ID in lobby for 60 s" ] || fail "register: $out"
"$BIN/rdv" discover "${S[@]}" --dialect standard lobby | grep -q "^$ID lobby " || fail "not registered"
out=$("$BIN/rdv" unregister "${S[@]}" lobby)
[ "$out" = "unregistered $ID from lobby" ] || fail "unregister: $out"
"$BIN/rdv" discover "${S[@]}" --dialect standard lobby | grep -q "^$ID " && fail "still registered after unregister"

# ~/.config without XDG_CONFIG_HOME.
out=$(env -u XDG_CONFIG_HOME "$BIN/rdv" id) || fail "rdv id with HOME: $out"
[ "${out#* }" = "$HOME/.config/rdv/identity.key" ] || fail "HOME identity: $out"
[ "${out%% *}" != "$ID" ] || fail "two files, one identity"

# --key and RDV_KEY win; "-" is a new peer each run.
"$BIN/rdv" keygen "$TMP/other.key" >/dev/null
other=$("$BIN/rdv" id "$TMP/other.key")
[ "$("$BIN/rdv" register "${S[@]}" --dialect standard --key "$TMP/other.key" --addr /ip4/192.0.2.2/tcp/2 x)" = \
  "registered $other in x for 7200 s" ] || fail "--key did not win"
[ "$(RDV_KEY=$TMP/other.key "$BIN/rdv" register "${S[@]}" --dialect standard --addr /ip4/192.0.2.2/tcp/2 x)" = \
  "registered $other in x for 7200 s" ] || fail "RDV_KEY did not win"
a=$(RDV_KEY=- "$BIN/rdv" register "${S[@]}" --dialect standard --addr /ip4/192.0.2.3/tcp/3 y)
b=$("$BIN/rdv" register "${S[@]}" --key - --dialect standard --addr /ip4/192.0.2.3/tcp/3 y)
[ "$a" != "$b" ] && [ "${a#registered $ID}" = "$a" ] || fail "- is not a fresh identity: $a / $b"
echo 'ALL CHECKS PASSED'
