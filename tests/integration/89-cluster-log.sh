# Cluster mode: TTL expiry runs once for the whole cluster - announced once
# to every subscriber, also after the node that took the registration has
# stopped; a node that fell further behind than cluster-log-max (stopped
# while the log moved on and was trimmed) notices the gap, reloads, and
# its subscribers' member lists come out equal to the registry.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

RDV=("$BIN/rdv")

start_redis
OPTS=(--cluster-node-timeout 10 --cluster-log-max 5 --ttl-min 5)
start_node a "${OPTS[@]}" --metrics 127.0.0.1:0
MA=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/a.out")
start_node b "${OPTS[@]}" --metrics 127.0.0.1:0
MB=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/b.out")
start_node c "${OPTS[@]}"
watch_on wa a room
watch_on wb b room
barrier a room wa wb

# --- TTL expiry: once, whichever nodes are up -----------------------------------------
out=$("${RDV[@]}" register --dialect standard --ttl 5 --key "$TMP/t.key" --server "$ADDR_c" room) ||
    fail "register: $out"
PT=$("${RDV[@]}" id "$TMP/t.key")
wait_for "$TMP/wa.out" "^\+ $PT "
wait_for "$TMP/wb.out" "^\+ $PT "
term_wait "$PID_c" "$STOP_WAIT" || fail "c did not stop"
wait_for "$TMP/wa.out" "^- $PT\$" 15
wait_for "$TMP/wb.out" "^- $PT\$" 15
barrier a room wa wb
for w in wa wb; do
    [ "$(count "$TMP/$w.out" "^- $PT\$")" -eq 1 ] || fail "$w: expiry not announced exactly once: $(cat "$TMP/$w.out")"
done
m=$(curl -sf "http://$MA/metrics") || fail "metrics of a"
grep -q '^rendezvousd_registrations_expired_total 1$' <<<"$m" || fail "expired: $(grep expired <<<"$m")"

# --- the log trimmed past a stopped node -------------------------------------------------
kill -STOP "$PID_b"
for i in $(seq 8); do
    out=$("${RDV[@]}" register --dialect standard --ttl 600 --key "$TMP/s$i.key" --server "$ADDR_a" room) ||
        fail "register $i: $out"
done
spawn gone "${RDV[@]}" register --server "$ADDR_a" room
PG=$(registered gone)
kill "$PID_gone"
wait_for "$TMP/wa.out" "^- $PG\$"
kill -CONT "$PID_b"
wait_log b 'cluster: the change log has a gap'
barrier a room wa wb
for w in a b; do
    [ "$(members "$TMP/w$w.out")" = "$(listed "$w" room)" ] ||
        fail "w$w's members differ from the registry: $(members "$TMP/w$w.out") / $(listed "$w" room)"
done
# b's subscriber never heard of the one that came and went while b was behind
[ "$(count "$TMP/wb.out" "$PG")" -eq 0 ] || fail "wb was told of $PG: $(cat "$TMP/wb.out")"
[ "$(wc -l <<<"$(members "$TMP/wb.out")")" -eq 11 ] || fail "wb (8 + 3 barriers): $(members "$TMP/wb.out")"
m=$(curl -sf "http://$MB/metrics") || fail "metrics of b"
grep -q '^rendezvousd_cluster_resyncs_total 2$' <<<"$m" || fail "resyncs: $(grep cluster_ <<<"$m")"
grep -q '^rendezvousd_cluster_up 1$' <<<"$m" || fail "cluster_up"
grep -q '^rendezvousd_cluster_nodes_alive 2$' <<<"$m" || fail "nodes_alive: $(grep cluster_nodes <<<"$m")"

echo 'ALL CHECKS PASSED'
