# Per-peer rate limit on registration changes (register-rate, register-burst):
# a peer that changes its registrations faster than allowed gets E_UNAVAILABLE
# (400) with a statusText in the standard and Waku dialects, counted in
# rendezvousd_registrations_rate_limited_total; another peer, registering at
# the same time, is not affected. The rate is tiny (one token per 100 s), so
# nothing refills while the test runs, however slow the machine.
source "$(dirname "$0")/lib.sh"

RDV=("$BIN/rdv")
start_daemon d --register-rate 0.01 --register-burst 3 --metrics 127.0.0.1:0
MADDR=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/d.out")
[ -n "$MADDR" ] || fail "no Metrics line: $(cat "$TMP/d.out")"
MPORT=${MADDR##*:}
S=(--server "$DADDR")

# limited KEY NS DIALECT: this REGISTER must be refused by the rate limit.
limited() {
    local rc=0
    "${RDV[@]}" register "${S[@]}" --dialect "$3" --key "$TMP/$1.key" "$2" >"$TMP/o" 2>"$TMP/e" || rc=$?
    [ $rc -eq 1 ] && grep -Eq '^rdv: registration changes too frequent.* \(status 400\)$' "$TMP/e" ||
        fail "$1 in $2 ($3): expected a rate-limit refusal, rc $rc: $(cat "$TMP/o" "$TMP/e")"
}
registered() {
    "${RDV[@]}" register "${S[@]}" --dialect "$3" --key "$TMP/$1.key" "$2" >"$TMP/o" 2>"$TMP/e" ||
        fail "$1 in $2 ($3) refused: $(cat "$TMP/e")"
    grep -q "^registered .* in $2 for " "$TMP/o" || fail "$1 in $2: $(cat "$TMP/o")"
}

# The noisy peer: three changes (the burst, across dialects), then refused.
registered noisy a standard
registered noisy b waku
registered noisy c standard
limited noisy d standard
limited noisy e waku
limited noisy a standard   # a new signed record is a change too

# A well-behaved peer meanwhile: unaffected.
registered calm d standard
registered calm d waku     # changes the dialect: its second change of three
out=$("${RDV[@]}" discover "${S[@]}" --dialect standard d) || fail "discover d"
[ "$(grep -c ' d ' <<<"$out")" -eq 1 ] || fail "discover d: $out"

# What the noisy peer got stays; what was refused is not there.
out=$("${RDV[@]}" discover "${S[@]}" --dialect standard) || fail "discover all"
[ "$(grep -c '^12D3KooW' <<<"$out")" -eq 4 ] || fail "discover all (a, b, c, calm's d): $out"

# The refusals are counted.
exec 3<>"/dev/tcp/127.0.0.1/$MPORT"
printf 'GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n' >&3
scrape=$(cat <&3)
exec 3<&-
got=$(awk '$1 == "rendezvousd_registrations_rate_limited_total" { print $2 }' <<<"$scrape")
[ "$got" = 3 ] || fail "rendezvousd_registrations_rate_limited_total is '$got', expected 3"

stop_daemon
[ "$DRC" -eq 0 ] || fail "daemon exit code $DRC"
echo "ALL CHECKS PASSED"
