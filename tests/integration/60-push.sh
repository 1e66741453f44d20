# Push mode with rdv: the seed 003 scenario announcement by announcement,
# DISCOVER, re-registration and takeover, and that nobody hears about itself.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"

RDV=("$BIN/rdv")
start_daemon d --log-level debug
S=(--server "$DADDR")
addrA=/ip4/10.0.0.1/tcp/4001 addrB=/ip4/10.0.0.2/tcp/4002 addrC=/ip6/::1/tcp/4003/ws

# --- seed 003 ------------------------------------------------------------
# A registers and enters rendezvous.
spawn A "${RDV[@]}" watch "${S[@]}" --register --addr $addrA my-app
A=$(registered A)
# B registers and enters: B receives A, A receives B.
spawn B "${RDV[@]}" watch "${S[@]}" --register --addr $addrB my-app
B=$(registered B)
wait_for "$TMP/B.out" "^\+ $A $addrA\$"
wait_for "$TMP/A.out" "^\+ $B $addrB\$"
# C: C receives A and B; A and B each receive C.
spawn C "${RDV[@]}" watch "${S[@]}" --register --addr $addrC --addr $addrA my-app
C=$(registered C)
wait_for "$TMP/C.out" "^\+ $B $addrB\$"
wait_for "$TMP/A.out" "^\+ $C $addrC $addrA\$"
wait_for "$TMP/B.out" "^\+ $C $addrC $addrA\$"
# D discovers: A, B, C, in registration order.
out=$("${RDV[@]}" discover "${S[@]}" my-app) || fail "discover failed"
[ "$out" = "$A $addrA"$'\n'"$B $addrB"$'\n'"$C $addrC $addrA" ] || fail "discover: $out"
# Exactly those announcements, in order, none about oneself.
same "$TMP/A.out" "+ $B $addrB"$'\n'"+ $C $addrC $addrA"
same "$TMP/B.out" "+ $A $addrA"$'\n'"+ $C $addrC $addrA"
same "$TMP/C.out" "+ $A $addrA"$'\n'"+ $B $addrB"

# --- DISCOVER ------------------------------------------------------------
out=$("${RDV[@]}" discover "${S[@]}" --limit 2 my-app)
[ "$out" = "$A $addrA"$'\n'"$B $addrB" ] || fail "discover --limit 2: $out"
out=$("${RDV[@]}" discover "${S[@]}" nobody-here) || fail "discover of an empty namespace failed"
[ -z "$out" ] || fail "discover of an empty namespace: $out"
out=$("${RDV[@]}" discover "${S[@]}" --json --limit 1 my-app)
[ "$out" = "{\"ns\":\"my-app\",\"peer\":\"$A\",\"addrs\":[\"$addrA\"]}" ] || fail "discover --json: $out"

# --- re-registration and takeover --------------------------------------
# P registers from one session, then from a second one with other
# addresses: announced again; the first session's end then removes nothing.
spawn P1 "${RDV[@]}" register "${S[@]}" --key "$TMP/p.key" --addr /ip4/10.0.1.1/tcp/1 my-app
P=$(registered P1)
wait_for "$TMP/A.out" "^\+ $P /ip4/10.0.1.1/tcp/1\$"
# A registered peer does not find itself, but finds the others.
out=$("${RDV[@]}" discover "${S[@]}" --key "$TMP/p.key" my-app)
[ "$out" = "$A $addrA"$'\n'"$B $addrB"$'\n'"$C $addrC $addrA" ] || fail "discover by a member: $out"
spawn P2 "${RDV[@]}" register "${S[@]}" --key "$TMP/p.key" --addr /ip4/10.0.1.2/tcp/2 my-app
[ "$(registered P2)" = "$P" ] || fail "same key, different peer id"
wait_for "$TMP/A.out" "^\+ $P /ip4/10.0.1.2/tcp/2\$"
kill -9 "$PID_P1"
wait_for "$TMP/d.err" "closed $P .*closed by peer|closed $P .*reset"
# A marker registered after P1's end: the watcher sees it with nothing before.
spawn M "${RDV[@]}" register "${S[@]}" my-app
M=$(registered M)
wait_for "$TMP/A.out" "^\+ $M\$"
same "$TMP/A.out" "+ $B $addrB"$'\n'"+ $C $addrC $addrA"$'\n'"+ $P /ip4/10.0.1.1/tcp/1"$'\n'"+ $P /ip4/10.0.1.2/tcp/2"$'\n'"+ $M"
out=$("${RDV[@]}" discover "${S[@]}" my-app)
grep -qx "$P /ip4/10.0.1.2/tcp/2" <<<"$out" || fail "takeover lost the registration: $out"
# The session that took over ends: now it goes.
kill -INT "$PID_P2"
wait_exit "$PID_P2"
[ "$XRC" -eq 0 ] || fail "rdv register exit code $XRC after SIGINT"
wait_for "$TMP/A.out" "^- $P\$"
wait_for "$TMP/C.out" "^- $P\$"

# --- JSON watch ------------------------------------------------------------
spawn J "${RDV[@]}" watch "${S[@]}" --json my-app
wait_for "$TMP/J.out" "\"peer\":\"$M\""
kill -9 "$PID_M"
wait_for "$TMP/J.out" "^\{\"event\":\"unregister\",\"ns\":\"my-app\",\"peer\":\"$M\"\}\$"
head -1 "$TMP/J.out" | grep -qx "{\"event\":\"register\",\"ns\":\"my-app\",\"peer\":\"$A\",\"addrs\":\[\"$addrA\"\]}" \
    || fail "JSON snapshot line: $(head -1 "$TMP/J.out")"

# Nobody was ever told about itself.
for n in A B C; do
    id=${!n}
    ! grep -q "$id" "$TMP/$n.out" || fail "$n was told about itself: $(cat "$TMP/$n.out")"
done

kill -9 "$PID_A" "$PID_B" "$PID_C" "$PID_J"
stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
no_sanitizer_report d
echo 'ALL CHECKS PASSED'
