# --data-dir refusals and failures: a second daemon on one directory, a
# damaged data file, a read-only directory,
# --check-config on each; a store whose writes fail (a file size limit)
# answers E_UNAVAILABLE (400) instead of OK, logs it once, keeps what it had
# acknowledged, and works again after a restart without the limit; the store
# metrics. (Surviving SIGKILL is tests/interop/persist.test.mjs.)
source "$(dirname "$0")/lib.sh"

RDV=("$BIN/rdv")
D=$TMP/data

# Without CAP_DAC_OVERRIDE when run as root, so that modes apply.
UNPRIV=()
[ "$(id -u)" -ne 0 ] || UNPRIV=(setpriv --bounding-set=-dac_override,-dac_read_search,-fowner --)

# expect_refusal WHAT PATTERN ARGS...: rendezvousd ARGS exits 1 with PATTERN on stderr
expect_refusal() {
    local what=$1 pat=$2; shift 2
    local rc=0
    timeout 10 "$@" >"$TMP/r.out" 2>"$TMP/r.err" || rc=$?
    [ $rc -eq 1 ] || fail "$what: exit $rc, $(cat "$TMP/r.err")"
    grep -q -- "$pat" "$TMP/r.err" || fail "$what: no \"$pat\" in: $(cat "$TMP/r.err")"
}

# --- check-config on a directory that does not exist yet, then first start ------
out=$("$BIN/rendezvousd" --data-dir "$D" --check-config) || fail "check-config of a new dir: $out"
[ "$out" = "config ok" ] || fail "check-config: $out"
expect_refusal "check-config, no parent" "folder $TMP/no does not exist" \
    "$BIN/rendezvousd" --data-dir "$TMP/no/such" --check-config

start_daemon a --data-dir "$D" --key "$TMP/d.key" --metrics 127.0.0.1:0
A=$DPID
grep -q "store: loaded 0 registrations from $D" "$TMP/a.err" || fail "no load line: $(cat "$TMP/a.err")"
out=$("${RDV[@]}" register --server "$DADDR" --ttl 600 --key "$TMP/p1.key" chat) || fail "register: $out"

# --- a second daemon on the same directory ------------------------------------------
expect_refusal "second daemon" "data directory $D is in use by another rendezvousd (pid $A)" \
    "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 --metrics off --data-dir "$D"
# ... while --check-config of the running daemon's directory is fine
out=$("$BIN/rendezvousd" --data-dir "$D" --check-config) || fail "check-config of a live dir: $out"

# --- metrics ---------------------------------------------------------------------
maddr=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/a.out")
m=$(curl -sf "http://$maddr/metrics") || fail "metrics"
grep -Eq '^rendezvousd_store_commits_total [1-9]' <<<"$m" || fail "store_commits_total: $(echo "$m" | grep store_)"
grep -Eq '^rendezvousd_store_commit_duration_seconds_count [1-9]' <<<"$m" || fail "commit histogram"
grep -q '^rendezvousd_store_errors_total 0$' <<<"$m" || fail "store_errors_total"
grep -q '^rendezvousd_store_loaded_registrations 0$' <<<"$m" || fail "store_loaded_registrations"
stop_daemon
[ "$DRC" -eq 0 ] || fail "exit $DRC after SIGTERM"

start_daemon b --data-dir "$D" --key "$TMP/d.key" --metrics 127.0.0.1:0
grep -q "store: loaded 1 registrations" "$TMP/b.err" || fail "reload: $(cat "$TMP/b.err")"
maddr=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/b.out")
m=$(curl -sf "http://$maddr/metrics") || fail "metrics of b"
grep -q '^rendezvousd_store_loaded_registrations 1$' <<<"$m" || fail "loaded metric"
stop_daemon

# --- a damaged data file (another program's LMDB file: see test_store) ----------
cp "$D/data.mdb" "$TMP/good.mdb"
head -c 65536 /dev/urandom >"$D/data.mdb"
expect_refusal "damaged file" "$D/data.mdb is not an LMDB file" \
    "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 --metrics off --data-dir "$D"
expect_refusal "check-config, damaged file" "$D/data.mdb is not an LMDB file" \
    "$BIN/rendezvousd" --data-dir "$D" --check-config
[ "$(stat -c %s "$D/data.mdb")" -eq 65536 ] || fail "the damaged file was touched"
cp "$TMP/good.mdb" "$D/data.mdb"

# --- a read-only directory ---------------------------------------------------------
mkdir "$TMP/ro"
chmod 0555 "$TMP/ro"
expect_refusal "read-only dir" "data directory $TMP/ro is not usable: cannot create $TMP/ro/rendezvousd.lock" \
    "${UNPRIV[@]}" "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 --metrics off --data-dir "$TMP/ro"
expect_refusal "check-config, read-only dir" "data directory $TMP/ro is not writable" \
    "${UNPRIV[@]}" "$BIN/rendezvousd" --data-dir "$TMP/ro" --check-config
chmod 0755 "$TMP/ro"

# --- writes that fail: E_UNAVAILABLE, logged once, nothing acknowledged lost ------
# A file size limit makes the data file's writes fail with EFBIG once it
# would grow past it.
size=$(stat -c %s "$D/data.mdb")
limit=$(( (size + 65536) / 1024 ))
(ulimit -f "$limit"; exec "$BIN/rendezvousd" --listen /ip4/127.0.0.1/tcp/0 --metrics off \
    --data-dir "$D" --key "$TMP/d.key" >"$TMP/c.out" 2>"$TMP/c.err") &
DPID=$!
DPIDS+=("$DPID")
for _ in $(seq 100); do grep -q '^/' "$TMP/c.out" 2>/dev/null && break; sleep 0.05; done
DADDR=$(grep -m1 '^/' "$TMP/c.out") || fail "daemon c: $(cat "$TMP/c.err")"
acked=()
refused=0
addrs=()
for k in $(seq 16); do addrs+=(--addr "/dns4/host-$k.a-rather-long-name-that-makes-the-signed-record-large.example-of-a-long-domain.net/tcp/4001"); done
for i in $(seq 200); do
    rc=0
    out=$("${RDV[@]}" register --server "$DADDR" --ttl 600 --key "$TMP/f$i.key" "${addrs[@]}" full 2>&1) || rc=$?
    if [ $rc -eq 0 ]; then
        acked+=("$(echo "$out" | awk '{print $2}')")
    else
        grep -q '(status 400)$' <<<"$out" || fail "refusal is not E_UNAVAILABLE: $out"
        refused=$((refused + 1))
        [ $refused -ge 3 ] && break
    fi
done
[ $refused -ge 3 ] || fail "the file size limit was never reached (${#acked[@]} acknowledged)"
[ ${#acked[@]} -ge 1 ] || fail "nothing was acknowledged before the limit"
echo "file size limit: ${#acked[@]} REGISTERs acknowledged, then E_UNAVAILABLE"
n=$(grep -c 'store: commit failed' "$TMP/c.err")
[ "$n" -eq 1 ] || fail "commit failure logged $n times: $(cat "$TMP/c.err")"
grep -q 'store: commit failed: .*data.mdb: File too large' "$TMP/c.err" || fail "reason: $(cat "$TMP/c.err")"
# the refused REGISTERs were answered, the daemon is alive
"${RDV[@]}" discover --server "$DADDR" full >/dev/null || fail "discover while failing"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null || true

start_daemon d --data-dir "$D" --key "$TMP/d.key" --metrics off
out=$("${RDV[@]}" discover --server "$DADDR" --limit 1000 full) || fail "discover after restart"
for p in "${acked[@]}"; do
    grep -q "^$p " <<<"$out" || fail "acknowledged $p was lost"
done
out=$("${RDV[@]}" discover --server "$DADDR" chat)
[ "$(grep -c '^12D3KooW' <<<"$out")" -eq 1 ] || fail "chat: $out"
# and registering works again
"${RDV[@]}" register --server "$DADDR" --ttl 600 --key "$TMP/g.key" full >/dev/null || fail "register after"
stop_daemon

echo "ALL CHECKS PASSED"
