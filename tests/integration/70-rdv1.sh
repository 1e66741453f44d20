# rdv register | discover | unregister in the standard dialect (and register
# | discover with --dialect waku): output formats, --ttl, --limit, --cookie
# paging, --json, refusals with their status, and a TTL expiry that a push
# watcher sees as an UNREGISTER.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

RDV=("$BIN/rdv")
start_daemon d --ttl-min 1
S=(--server "$DADDR")
STD=(--dialect standard)
hexns=$(printf 'chat' | od -An -tx1 | tr -d ' \n')

# --- register ----------------------------------------------------------------
out=$("${RDV[@]}" register "${S[@]}" "${STD[@]}" --key "$TMP/a.key" --addr /ip4/10.0.0.1/tcp/4001 chat) ||
    fail "register failed: $out"
[[ $out =~ ^registered\ (12D3KooW[1-9A-HJ-NP-Za-km-z]+)\ in\ chat\ for\ 7200\ s$ ]] || fail "register: $out"
A=${BASH_REMATCH[1]}
# --ttl alone selects the standard dialect. Without --addr the record holds
# the address the daemon saw us at (identify's observedAddr), and rdv says so.
out=$("${RDV[@]}" register "${S[@]}" --ttl 600 --key "$TMP/b.key" chat 2>"$TMP/e") || fail "register --ttl failed"
grep -Eq "^rdv: no --addr: registering /ip4/127.0.0.1/tcp/[0-9]+, the address $DID sees us at" "$TMP/e" ||
    fail "register without --addr: $(cat "$TMP/e")"
[[ $out =~ ^registered\ (12D3KooW[1-9A-HJ-NP-Za-km-z]+)\ in\ chat\ for\ 600\ s$ ]] || fail "register --ttl: $out"
B=${BASH_REMATCH[1]}
out=$("${RDV[@]}" register "${S[@]}" "${STD[@]}" --json --key "$TMP/c.key" --ttl 300 other) || fail "register --json"
[[ $out =~ ^\{\"registered\":\"(12D3KooW[^\"]+)\",\"ns\":\"other\",\"ttl\":300\}$ ]] || fail "register --json: $out"
C=${BASH_REMATCH[1]}

# --- discover ----------------------------------------------------------------
out=$("${RDV[@]}" discover "${S[@]}" "${STD[@]}" chat) || fail "discover failed"
lines=$(echo "$out" | wc -l)
[ "$lines" -eq 3 ] || fail "discover: $out"
echo "$out" | sed -n 1p | grep -Eq "^$A chat (7200|7199) /ip4/10.0.0.1/tcp/4001\$" || fail "discover line 1: $out"
echo "$out" | sed -n 2p | grep -Eq "^$B chat (600|599) /ip4/127.0.0.1/tcp/[0-9]+\$" || fail "discover line 2: $out"
echo "$out" | sed -n 3p | grep -Eq "^cookie [0-9a-f]{16}$hexns\$" || fail "discover cookie: $out"

# All namespaces (no NS), as JSON.
out=$("${RDV[@]}" discover "${S[@]}" "${STD[@]}" --json) || fail "discover --json failed"
grep -Eq "^\{\"peer\":\"$A\",\"ns\":\"chat\",\"ttl\":[0-9]+,\"addrs\":\[\"/ip4/10.0.0.1/tcp/4001\"\]\}\$" <<<"$out" ||
    fail "discover --json (A): $out"
grep -Eq "^\{\"peer\":\"$C\",\"ns\":\"other\",\"ttl\":[0-9]+,\"addrs\":\[\"/ip4/127.0.0.1/tcp/[0-9]+\"\]\}\$" <<<"$out" ||
    fail "discover --json (C): $out"
echo "$out" | tail -1 | grep -Eq '^\{"cookie":"[0-9a-f]{16}"\}$' || fail "discover --json cookie: $out"

# Paging: --limit 1, then --cookie.
out=$("${RDV[@]}" discover "${S[@]}" --limit 1 "${STD[@]}" chat)
echo "$out" | sed -n 1p | grep -q "^$A chat " || fail "page 1: $out"
cookie=$(echo "$out" | sed -n 's/^cookie //p')
out=$("${RDV[@]}" discover "${S[@]}" --limit 1 --cookie "$cookie" chat) || fail "page 2 failed"
echo "$out" | sed -n 1p | grep -q "^$B chat " || fail "page 2: $out"
cookie=$(echo "$out" | sed -n 's/^cookie //p')
out=$("${RDV[@]}" discover "${S[@]}" --limit 1 --cookie "$cookie" chat)
[ "$(echo "$out" | wc -l)" -eq 1 ] && grep -q '^cookie ' <<<"$out" || fail "page 3 is not just a cookie: $out"

# --- refusals: "rdv: <statusText> (status N)", exit 1 ----------------------------
rc=0; "${RDV[@]}" register "${S[@]}" "${STD[@]}" --ttl 999999 chat >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -Eq '^rdv: .*ttl.* \(status 102\)$' "$TMP/e" || fail "ttl over max: rc $rc, $(cat "$TMP/e")"
rc=0; "${RDV[@]}" discover "${S[@]}" --cookie "$cookie" other >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -Eq '^rdv: .* \(status 103\)$' "$TMP/e" || fail "cookie of another ns: rc $rc, $(cat "$TMP/e")"
rc=0; "${RDV[@]}" discover "${S[@]}" --cookie ffffffffffffffff "${STD[@]}" >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q '(status 103)$' "$TMP/e" || fail "forged cookie: rc $rc, $(cat "$TMP/e")"
ns256=$(printf 'n%.0s' $(seq 256))
rc=0; "${RDV[@]}" register "${S[@]}" "${STD[@]}" "$ns256" >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q '(status 100)$' "$TMP/e" || fail "256-byte namespace: rc $rc, $(cat "$TMP/e")"
rc=0; "${RDV[@]}" unregister "${S[@]}" --dialect waku chat >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q 'no UNREGISTER' "$TMP/e" || fail "waku unregister: rc $rc, $(cat "$TMP/e")"

# --- unregister --------------------------------------------------------------------
out=$("${RDV[@]}" unregister "${S[@]}" --key "$TMP/a.key" chat) || fail "unregister failed"
[ "$out" = "unregistered $A from chat" ] || fail "unregister: $out"
out=$("${RDV[@]}" discover "${S[@]}" "${STD[@]}" chat) || fail "discover after unregister failed"
grep -q "^$B chat " <<<"$out" && ! grep -q "^$A " <<<"$out" || fail "still registered after unregister: $out"
"${RDV[@]}" unregister "${S[@]}" --key "$TMP/a.key" never-there >/dev/null || fail "unregister of nothing failed"

# --- Waku ------------------------------------------------------------------------
out=$("${RDV[@]}" register "${S[@]}" --dialect waku --key "$TMP/w.key" --addr /ip4/10.0.0.9/tcp/9 chat) ||
    fail "waku register failed: $out"
[[ $out =~ ^registered\ (12D3KooW[^ ]+)\ in\ chat\ for\ 20\ s$ ]] || fail "waku register: $out"
W=${BASH_REMATCH[1]}
out=$("${RDV[@]}" discover "${S[@]}" --dialect waku chat) || fail "waku discover failed"
grep -Eq "^$W chat (20|19) /ip4/10.0.0.9/tcp/9\$" <<<"$out" || fail "waku discover: $out"
grep -q '^cookie' <<<"$out" && fail "waku discover printed a cookie: $out"
# The Waku registration is in the standard DISCOVER too.
"${RDV[@]}" discover "${S[@]}" "${STD[@]}" chat | grep -q "^$W chat " || fail "waku registration not in standard discover"
rc=0; "${RDV[@]}" register "${S[@]}" --dialect waku --ttl 21 chat >/dev/null 2>"$TMP/e" || rc=$?
[ $rc -eq 1 ] && grep -q '(status 102)$' "$TMP/e" || fail "waku ttl 21: rc $rc, $(cat "$TMP/e")"

# --- expiry, seen by a push watcher -------------------------------------------------
# The watcher learns of the registration whether it subscribes before or after
# it (a subscription starts with the members so far); its TTL leaves time to
# discover it first even under ASan on a loaded machine.
spawn WATCH "${RDV[@]}" watch "${S[@]}" expiring
out=$("${RDV[@]}" register "${S[@]}" "${STD[@]}" --ttl 6 --key "$TMP/e.key" --addr /ip4/10.0.0.5/tcp/5 expiring) ||
    fail "register --ttl 6 failed: $out"
E=$(echo "$out" | awk '{print $2}')
"${RDV[@]}" discover "${S[@]}" "${STD[@]}" expiring | grep -q "^$E " || fail "not discoverable before expiry"
wait_for "$TMP/WATCH.out" "^\+ $E /ip4/10.0.0.5/tcp/5\$"
wait_for "$TMP/WATCH.out" "^- $E" 30
out=$("${RDV[@]}" discover "${S[@]}" "${STD[@]}" --json expiring) || fail "discover after expiry failed"
[[ $out =~ ^\{\"cookie\":\"[0-9a-f]+\"\}$ ]] || fail "discoverable after expiry: $out"

stop_daemon
echo 'ALL CHECKS PASSED'
