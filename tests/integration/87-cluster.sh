# Cluster mode (--cluster) with a real redis-server: push registrations made
# on one node (with their metadata) are announced to subscribers on every
# node, in the same order;
# a node killed with SIGKILL is reaped and its registrations announced gone
# exactly once; a /rendezvous/1.0.0 registration made on one node is found
# on another, its cookie pages there, and it survives a restart of every
# node; config refusals.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

RDV=("$BIN/rdv")

# --- configuration ------------------------------------------------------------------
expect_usage() {
    local rc=0
    "$BIN/rendezvousd" "$@" --check-config >"$TMP/c.out" 2>&1 || rc=$?
    [ $rc -ne 0 ] || fail "accepted: $*"
}
expect_usage --cluster http://127.0.0.1:6379
expect_usage --cluster redis://127.0.0.1:99999
expect_usage --cluster unix://relative/path
expect_usage --cluster redis://127.0.0.1:6379 --data-dir "$TMP/d"
out=$("$BIN/rendezvousd" --cluster redis://:secret@127.0.0.1:6379/2 --check-config) || fail "$out"
[ "$out" = "config ok" ] || fail "check-config: $out"

# --- redis:// over TCP: a password (in the URL or apart), a database; a wrong one -----
# (redis-server cannot pick its own port: take a free one, again if another
# process takes it first)
for _ in 1 2 3 4 5; do
    TPORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$TPORT" --bind 127.0.0.1 --requirepass s3cret --save '' --appendonly no \
        --dir "$TMP" >"$TMP/redis-tcp.log" 2>&1 &
    TCP_PID=$!
    retry 5 redis-cli -p "$TPORT" -a s3cret --no-auth-warning ping >/dev/null 2>&1 && break
    kill "$TCP_PID" 2>/dev/null; wait "$TCP_PID" 2>/dev/null || true
    TCP_PID=
done
[ -n "$TCP_PID" ] || fail "redis-server on TCP did not start: $(cat "$TMP/redis-tcp.log")"
DPIDS+=("$TCP_PID")
start_daemon t1 --cluster "redis://:s3cret@127.0.0.1:$TPORT/3" --metrics off
wait_log t1 'cluster: in sync with 127.0.0.1:'"$TPORT"' db 3'
T1=$DADDR
start_daemon t2 --cluster "redis://127.0.0.1:$TPORT/3" --cluster-password s3cret --metrics off
wait_log t2 'cluster: in sync'
T2=$DADDR; T2PID=$DPID
out=$("${RDV[@]}" register --dialect standard --ttl 600 --server "$T1" tcp) || fail "over TCP: $out"
out=$("${RDV[@]}" discover --dialect standard --server "$T2" tcp)
grep -q ' tcp 600 ' <<<"$out" || fail "t2 does not see t1's registration: $out"
[ "$(redis-cli -p "$TPORT" -a s3cret --no-auth-warning -n 3 exists '{rdv}:log')" = 1 ] || fail "not in db 3"
[ "$(redis-cli -p "$TPORT" -a s3cret --no-auth-warning -n 0 exists '{rdv}:log')" = 0 ] || fail "in db 0"
! grep -q s3cret "$TMP/t1.err" "$TMP/t2.err" || fail "the password was logged"
start_daemon t3 --cluster "redis://:wrong@127.0.0.1:$TPORT/3" --metrics off
wait_log t3 'cluster: 127.0.0.1:'"$TPORT"' db 3: .*(WRONGPASS|invalid|denied).*writes are refused'
out=$("${RDV[@]}" register --dialect standard --ttl 600 --server "$DADDR" tcp 2>&1) && fail "with a wrong password: $out"
grep -q 'status 400' <<<"$out" || fail "wrong password: $out"
stop_daemon
DPID=$T2PID
stop_daemon

start_redis
start_node a --cluster-node-timeout 2
start_node b --cluster-node-timeout 2
start_node c --cluster-node-timeout 2

# --- push: a change on one node reaches every node, in one order ----------------------
watch_on wa a room
watch_on wb b room
watch_on wc c room
# each subscriber has its snapshot (empty) once its stream is open
sleep 0.5
spawn r1 "${RDV[@]}" register --server "$ADDR_b" --addr /ip4/10.0.0.1/tcp/1 room
P1=$(registered r1)
spawn r2 "${RDV[@]}" register --server "$ADDR_c" --addr /ip4/10.0.0.2/tcp/2 --metadata carol room
P2=$(registered r2)
spawn r3 "${RDV[@]}" register --server "$ADDR_a" --addr /ip4/10.0.0.3/tcp/3 room
P3=$(registered r3)
for w in wa wb wc; do
    wait_for "$TMP/$w.out" "^\+ $P1 /ip4/10.0.0.1/tcp/1\$"
    wait_for "$TMP/$w.out" "^\+ $P2 /ip4/10.0.0.2/tcp/2 metadata=\"carol\"\$"
    wait_for "$TMP/$w.out" "^\+ $P3 /ip4/10.0.0.3/tcp/3\$"
done
kill "$PID_r1"
for w in wa wb wc; do wait_for "$TMP/$w.out" "^- $P1\$"; done
# the same changes in the same order everywhere
cmp -s "$TMP/wa.out" "$TMP/wb.out" || fail "a and b saw different sequences: $(cat "$TMP/wa.out") / $(cat "$TMP/wb.out")"
cmp -s "$TMP/wa.out" "$TMP/wc.out" || fail "a and c saw different sequences"
# a late subscriber's snapshot, on any node, holds the members
out=$("${RDV[@]}" discover --server "$ADDR_b" room) || fail "discover: $out"
grep -q "$P2" <<<"$out" && grep -q "$P3" <<<"$out" && ! grep -q "$P1" <<<"$out" ||
    fail "discover on b: $out"

# --- SIGKILL of node c: its registration is reaped, announced once ----------------------
t0=$(mono_ms)
kill -KILL "$PID_c"
unset "DNAMES[$PID_c]" # its exit code is ours
wait "$PID_c" 2>/dev/null || true
wait_for "$TMP/wa.out" "^- $P2\$" 10
wait_for "$TMP/wb.out" "^- $P2\$" 10
elapsed=$(($(mono_ms) - t0))
echo "reaped after ${elapsed} ms (node timeout 2 s)"
[ "$elapsed" -le 4000 ] || fail "the reap took ${elapsed} ms, more than node timeout + 2 s"
wait_log a 'cluster: reaped|cluster: in sync' # (any node may reap: a or b)
# a barrier: a change made after the reap reaches both subscribers after it
spawn r4 "${RDV[@]}" register --server "$ADDR_a" room
P4=$(registered r4)
wait_for "$TMP/wa.out" "^\+ $P4"
wait_for "$TMP/wb.out" "^\+ $P4"
[ "$(count "$TMP/wa.out" "^- $P2\$")" -eq 1 ] || fail "a: not exactly one UNREGISTER of $P2: $(cat "$TMP/wa.out")"
[ "$(count "$TMP/wb.out" "^- $P2\$")" -eq 1 ] || fail "b: not exactly one UNREGISTER of $P2"
cmp -s "$TMP/wa.out" "$TMP/wb.out" || fail "a and b saw different sequences after the reap"

# --- /rendezvous/1.0.0 across nodes: discover, cookies, restart of every node ----------
for i in 1 2 3; do
    out=$("${RDV[@]}" register --dialect standard --ttl 600 --key "$TMP/s$i.key" --server "$ADDR_a" std) ||
        fail "standard register $i: $out"
done
# the OK came after Redis took it and a applied it: a's own DISCOVER sees it
out=$("${RDV[@]}" discover --dialect standard --server "$ADDR_a" std)
[ "$(grep -c ' std 600 ' <<<"$out")" -eq 3 ] || fail "discover on a: $out"
# b: two, then the rest with a's cookie
out=$("${RDV[@]}" discover --dialect standard --limit 2 --server "$ADDR_a" std)
cookie=$(sed -n 's/^cookie \([0-9a-f]*\).*/\1/p' <<<"$out")
[ -n "$cookie" ] || fail "no cookie: $out"
first=$(grep ' std ' <<<"$out" | cut -d' ' -f1)
wait_for "$TMP/wb.out" "^\+ $P4" # b is in step (the log applies in order)
out=$("${RDV[@]}" discover --dialect standard --cookie "$cookie" --server "$ADDR_b" std)
rest=$(grep ' std ' <<<"$out" | cut -d' ' -f1)
[ "$(wc -l <<<"$rest")" -eq 1 ] || fail "a's cookie on b: $out"
grep -qF "$rest" <<<"$first" && fail "a's cookie on b returned one already seen: $rest"
all=$(printf '%s\n%s\n' "$first" "$rest" | sort)
for i in 1 2 3; do
    id=$("${RDV[@]}" id "$TMP/s$i.key")
    grep -qF "$id" <<<"$all" || fail "$id missing from the pages: $all"
done

# a cookie from a node that has applied more of the log than b is good on b:
# here one a second ahead of now; nothing newer, and paging never goes back
ahead=$(printf '%016x%s' $((($(date +%s%3N) + 1000) << 20)) "$(printf std | od -An -tx1 | tr -d ' \n')")
out=$("${RDV[@]}" discover --dialect standard --cookie "$ahead" --server "$ADDR_b" std) ||
    fail "a cookie slightly ahead refused: $out"
! grep -q ' std ' <<<"$out" || fail "entries after a cookie from the future: $out"
grep -q "^cookie $ahead" <<<"$out" || fail "the cookie went backwards: $out (sent $ahead)"

# --- limits are cluster-wide: a peer over its limit on another node is refused -------
start_node la --max-registrations-per-peer 2
start_node lb --max-registrations-per-peer 2
"${RDV[@]}" keygen "$TMP/lim.key" >/dev/null
out=$("${RDV[@]}" register --dialect standard --ttl 600 --key "$TMP/lim.key" --server "$ADDR_la" lim1) ||
    fail "limit: first: $out"
spawn lim2 "${RDV[@]}" register --key "$TMP/lim.key" --server "$ADDR_lb" lim2
registered lim2 >/dev/null
# (the push registration took the second place: both kinds count)
out=$("${RDV[@]}" register --dialect standard --ttl 600 --key "$TMP/lim.key" --server "$ADDR_lb" lim3 2>&1) &&
    fail "a third registration of one peer was accepted on another node: $out"
grep -q 'too many registrations for this peer' <<<"$out" || fail "limit refusal: $out"
# a push REGISTER over the limit: the session is told (a status), as on one node
out=$("${RDV[@]}" register --key "$TMP/lim.key" --server "$ADDR_la" lim4 2>&1) &&
    fail "a push registration over the limit: $out"
grep -q 'at most 2 registrations per peer' <<<"$out" || fail "push limit refusal: $out"
kill "$PID_lim2"

# every node restarts (Redis keeps the registry)
for n in a b la lb; do
    pid=PID_$n
    term_wait "${!pid}" "$STOP_WAIT" || fail "node $n did not stop"
    # nothing applied from the log after the registry closed
    ! grep -q 'this node refuses\|refused a registration of the log' "$TMP/$n.err" ||
        fail "node $n: $(grep -m1 refuse "$TMP/$n.err")"
done
start_node d
out=$("${RDV[@]}" discover --dialect standard --server "$ADDR_d" std)
[ "$(grep -c ' std ' <<<"$out")" -eq 3 ] || fail "after restarting every node: $out"
# the cookie issued before the restart still pages
out=$("${RDV[@]}" discover --dialect standard --cookie "$cookie" --server "$ADDR_d" std)
[ "$(grep -c ' std ' <<<"$out")" -eq 1 ] || fail "old cookie after the restart: $out"
# push registrations ended with their nodes: none is left
out=$("${RDV[@]}" discover --server "$ADDR_d" room)
! grep -q 12D3 <<<"$out" || fail "push registrations outlived their nodes: $out"

echo 'ALL CHECKS PASSED'
