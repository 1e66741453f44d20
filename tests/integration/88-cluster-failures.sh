# Cluster mode when things fail: a node stopped (SIGSTOP) for longer than
# the node timeout is reaped, and when it resumes it registers its live
# sessions' registrations again - everybody sees them back, its own
# subscribers see no change at all; Redis stopped and restarted (AOF): the
# nodes answer E_UNAVAILABLE meanwhile, keep their sessions, reconnect,
# reload, and every subscriber's member list equals the registry after;
# the scripts flushed from Redis are loaded again.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

RDV=("$BIN/rdv")

start_redis
start_node a --cluster-node-timeout 2
start_node c --cluster-node-timeout 2
watch_on wa a room
watch_on wc c room
spawn ra "${RDV[@]}" register --server "$ADDR_a" --addr /ip4/10.0.0.1/tcp/1 room
PA=$(registered ra)
spawn rc "${RDV[@]}" register --server "$ADDR_c" --addr /ip4/10.0.0.3/tcp/3 room
PC=$(registered rc)
barrier a room wa wc

# --- SIGSTOP node c past the timeout, then SIGCONT ----------------------------------
kill -STOP "$PID_c"
wait_for "$TMP/wa.out" "^- $PC\$" 10
wait_log a 'cluster: reaped 1 node'
# a change while c sleeps: c's subscriber gets it when c resumes
spawn rb "${RDV[@]}" register --server "$ADDR_a" --addr /ip4/10.0.0.2/tcp/2 room
PB=$(registered rb)
kill -CONT "$PID_c"
wait_log c 'cluster: this node had been reaped|cluster: in sync .* log at entry [1-9]'
# everybody sees c's registration again
# (its first announcement already matches: wait for the second)
wait_count "$TMP/wa.out" "^\+ $PC /ip4/10.0.0.3/tcp/3\$" 2 10
wait_for "$TMP/wc.out" "^\+ $PB "
barrier a room wa wc
[ "$(count "$TMP/wa.out" "^\+ $PC ")" -eq 2 ] || fail "a: $PC not announced back once: $(cat "$TMP/wa.out")"
# c's own subscriber: no removal of PC (c never lost it), no repeat
[ "$(count "$TMP/wc.out" "^- $PC\$")" -eq 0 ] || fail "c's subscriber was told $PC left: $(cat "$TMP/wc.out")"
[ "$(count "$TMP/wc.out" "^\+ $PC ")" -eq 1 ] || fail "c's subscriber was told $PC twice: $(cat "$TMP/wc.out")"
for w in a c; do
    [ "$(members "$TMP/w$w.out")" = "$(listed "$w" room)" ] ||
        fail "w$w's members differ from the registry: $(members "$TMP/w$w.out") / $(listed "$w" room)"
done

# --- Redis stopped and restarted -------------------------------------------------------
stop_redis
wait_log a 'cluster: .*writes are refused'
wait_log c 'cluster: .*writes are refused'
# writes are refused: standard REGISTER answers E_UNAVAILABLE, push REGISTER a status
out=$("${RDV[@]}" register --dialect standard --server "$ADDR_a" --ttl 600 std 2>&1) &&
    fail "a standard REGISTER succeeded with Redis down: $out"
grep -q 'unreachable.*(status 400)' <<<"$out" || fail "not E_UNAVAILABLE: $out"
out=$("${RDV[@]}" register --server "$ADDR_c" room 2>&1) && fail "a push REGISTER with Redis down: $out"
grep -q 'unreachable' <<<"$out" || fail "push REGISTER: $out"
# sessions stay: the subscribers are still connected; one registered session ends meanwhile
kill "$PID_ra"
wait_exit "$PID_ra"
out=$("${RDV[@]}" discover --server "$ADDR_c" room) || fail "c does not serve with Redis down: $out"
kill -0 "$PID_wa" && kill -0 "$PID_wc" || fail "a subscriber was cut while Redis was down"
start_redis
wait_log a 'cluster: .* is reachable again'
wait_log c 'cluster: .* is reachable again'
# the session that ended while Redis was down is removed, announced everywhere once
wait_for "$TMP/wa.out" "^- $PA\$" 10
wait_for "$TMP/wc.out" "^- $PA\$" 10
barrier c room wa wc
[ "$(count "$TMP/wc.out" "^- $PA\$")" -eq 1 ] || fail "c: $PA removed more than once"
for w in a c; do
    [ "$(members "$TMP/w$w.out")" = "$(listed "$w" room)" ] ||
        fail "after the restart, w$w's members differ from the registry: $(members "$TMP/w$w.out") / $(listed "$w" room)"
done
# writes work again
out=$("${RDV[@]}" register --dialect standard --server "$ADDR_a" --ttl 600 std) || fail "after the restart: $out"

# --- the scripts flushed from Redis (SCRIPT FLUSH, a failover to a fresh primary) -----
redis script flush
# the first node whose script call fails loads them again (for everybody:
# Redis's script cache is one)
flushed() { grep -q 'cluster: .*scripts were flushed' "$TMP/a.err" "$TMP/c.err"; }
retry 10 flushed || fail "no node noticed the scripts were flushed"
retry 10 "${RDV[@]}" register --dialect standard --server "$ADDR_a" --ttl 600 std >/dev/null 2>&1 ||
    fail "no registration after the scripts were flushed"
barrier a room wa wc
for w in a c; do
    [ "$(members "$TMP/w$w.out")" = "$(listed "$w" room)" ] ||
        fail "after the flush, w$w's members differ from the registry"
done

echo 'ALL CHECKS PASSED'
