# Cluster mode: register-rate and register-burst hold cluster-wide. A peer
# that spends its burst across two nodes is refused on both with the rate
# status (counted in rendezvousd_registrations_rate_limited_total), gets a
# token back after 1/rate seconds, and a well-behaved peer meanwhile is not
# affected; an unchanged re-REGISTER (a refresh) costs a tenth of a token in
# the script; at exit no node applies log entries into its closed registry.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
source "$(dirname "$0")/cluster_lib.sh"

RDV=("$BIN/rdv")
RATE_MS=5000 # one token per 5 s
OPTS=(--register-rate 0.2 --register-burst 3 --max-registrations-per-peer 100000)

start_redis
start_node a "${OPTS[@]}" --metrics 127.0.0.1:0
MA=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/a.out")
start_node b "${OPTS[@]}" --metrics 127.0.0.1:0
MB=$(sed -n 's#^Metrics: http://\(.*\)/metrics$#\1#p' "$TMP/b.out")
[ -n "$MA" ] && [ -n "$MB" ] || fail "no Metrics line"

# reg KEY NODE DIALECT NS: a signed registration (a change: a new record each time).
reg() {
    local addr=ADDR_$2 ttl=()
    [ "$3" = waku ] || ttl=(--ttl 600)
    "${RDV[@]}" register --server "${!addr}" --dialect "$3" "${ttl[@]}" --key "$TMP/$1.key" "$4" \
        >"$TMP/o" 2>"$TMP/e"
}
ok() { reg "$@" || fail "$1 in $4 on $2 ($3) refused: $(cat "$TMP/o" "$TMP/e")"; }
limited() {
    local rc=0
    reg "$@" || rc=$?
    [ $rc -eq 1 ] && grep -Eq '^rdv: registration changes too frequent.* \(status 400\)$' "$TMP/e" ||
        fail "$1 in $4 on $2 ($3): expected a rate-limit refusal, rc $rc: $(cat "$TMP/o" "$TMP/e")"
}
metric() {
    curl -sf "http://$1/metrics" | awk -v m="$2" '$1 == m { print $2 }'
}

# --- the burst, spent on both nodes; refused on both ---------------------------------
t0=$(mono_ms)
ok noisy a standard n1
t1=$(mono_ms) # the first token went at most now (Redis time)
ok noisy b waku n2
ok noisy a standard n3
limited noisy b standard n4
limited noisy a waku n5
# (refusals mean something only before the first token is back)
[ $(($(mono_ms) - t0)) -lt "$RATE_MS" ] || fail "too slow to test a rate of 1/${RATE_MS} ms"

# a well-behaved peer meanwhile, on both nodes
ok calm a standard c1
ok calm b waku c2
out=$("${RDV[@]}" discover --dialect standard --server "$ADDR_b" c1) || fail "discover c1: $out"
[ "$(grep -c ' c1 ' <<<"$out")" -eq 1 ] || fail "discover c1 on b: $out"

# refusals are counted by the node that refused
[ "$(metric "$MA" rendezvousd_registrations_rate_limited_total)" = 1 ] || fail "a: rate_limited"
[ "$(metric "$MB" rendezvousd_registrations_rate_limited_total)" = 1 ] || fail "b: rate_limited"

# what was refused is nowhere
out=$("${RDV[@]}" discover --dialect standard --server "$ADDR_a") || fail "discover all: $out"
! grep -Eq ' n4 | n5 ' <<<"$out" || fail "a refused registration is there: $out"

# --- refill: one token 1/rate after the first change, on either node -------------------
left=$((t1 + RATE_MS + 200 - $(mono_ms)))
[ "$left" -le 0 ] || sleep "$(awk -v ms="$left" 'BEGIN { printf "%.3f", ms / 1000 }')"
ok noisy b standard n4
limited noisy a standard n5

# --- a refresh costs a tenth of a token -----------------------------------------------
# The push registration's own script call, taken from Redis's MONITOR and
# sent again (same owner, same body: a refresh) with the rate made tiny
# (nothing refills) and a burst of 1: ten refreshes at most, then "!RATE".
redis-cli -s "$REDIS_SOCK" monitor >"$TMP/monitor" 2>/dev/null &
MON=$!
DPIDS+=("$MON")
wait_for "$TMP/monitor" '^OK'
spawn pushy "${RDV[@]}" register --server "$ADDR_a" --key "$TMP/pushy.key" --addr /ip4/10.0.0.9/tcp/9 live
registered pushy >/dev/null
# The acknowledgement came after Redis ran the call, but redis-cli may not
# have written its MONITOR line yet: wait for it before stopping redis-cli.
push_call_captured() {
    python3 - "$TMP/monitor" <<'EOF'
import re, sys
for line in open(sys.argv[1], encoding='latin-1'):
    args = re.findall(r'"((?:[^"\\]|\\.)*)"', line)
    if len(args) == 3 + 7 + 11 and args[0].upper() == 'EVALSHA' and args[11]:
        sys.exit(0)
sys.exit(1)
EOF
}
retry 10 push_call_captured || fail "no push register script call in MONITOR's output"
kill "$MON"
wait "$MON" 2>/dev/null || true
# replay MODE: the captured call again, in $TMP/replay: "refresh" 15 times as
# it was, but for the rate; "flood" 20,000 times as fast as Redis takes
# them, each in a namespace of its own, with no rate.
replay() {
python3 - "$TMP/monitor" "$REDIS_SOCK" "$1" >"$TMP/replay" <<'EOF' || fail "replay: $(cat "$TMP/replay")"
import re, socket, sys

def unrepr(s):  # Redis's sdscatrepr, undone
    out, i = bytearray(), 0
    while i < len(s):
        c = s[i]
        if c != '\\':
            out += c.encode('latin-1'); i += 1; continue
        n = s[i + 1]
        if n == 'x':
            out.append(int(s[i + 2:i + 4], 16)); i += 4; continue
        out += {'n': b'\n', 'r': b'\r', 't': b'\t', 'a': b'\a', 'b': b'\b'}.get(n, n.encode('latin-1'))
        i += 2
    return bytes(out)

cmd = None
for line in open(sys.argv[1], encoding='latin-1'):
    args = [unrepr(a) for a in re.findall(r'"((?:[^"\\]|\\.)*)"', line)]
    # EVALSHA sha 7 KEYS... and the register script's 11 ARGV, with an owner
    if len(args) == 3 + 7 + 11 and args[0].upper() == b'EVALSHA' and args[11]:
        cmd = args
if cmd is None:
    sys.exit('no push register script call seen')
flood = sys.argv[3] == 'flood'
A = 3 + 7  # ARGV[1] is cmd[A]
cmd[A + 7] = b'0' if flood else b'0.000001'  # rate
cmd[A + 8] = b'1'                             # burst
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[2])
f = s.makefile('rb')
n, batch = (20000, 200) if flood else (15, 15)
for first in range(0, n, batch):
    for i in range(first, first + batch):
        if flood:
            cmd[A] = cmd[A][:1 + cmd[A][0]] + b'flood%d' % i
        s.sendall(b'*%d\r\n' % len(cmd) + b''.join(b'$%d\r\n%s\r\n' % (len(a), a) for a in cmd))
    for i in range(batch):
        head = f.readline()
        if head.startswith(b'$'):
            body = f.read(int(head[1:]) + 2)[:-2]
            print('RATE' if body == b'!RATE' else 'ok')
        else:
            sys.exit('reply %r' % head)
EOF
}
replay refresh
accepted=$(grep -c '^ok$' "$TMP/replay" || true)
first=$(grep -n '^RATE$' "$TMP/replay" | head -1 | cut -d: -f1)
echo "refreshes accepted with one token: $accepted"
# 1 token / 0.1: ten, or nine when 1 - 9 * 0.1 rounds below 0.1
[ "$accepted" -ge 9 ] && [ "$accepted" -le 10 ] && [ "$first" = $((accepted + 1)) ] ||
    fail "refreshes accepted: $accepted (first refusal: ${first:-none}): $(tr '\n' ' ' <"$TMP/replay")"
# the registration is still there, unchanged
out=$("${RDV[@]}" discover --server "$ADDR_b" live) || fail "discover live: $out"
grep -q '/ip4/10.0.0.9/tcp/9' <<<"$out" || fail "pushy's registration after its refreshes: $out"

# --- at exit, nothing is applied into a closed registry --------------------------------
# a stops while the log keeps moving: what it reads while leaving (after its
# registry is gone) is dropped, not applied
base=$(redis_out hlen '{rdv}:reg')
replay flood &
FLOOD=$!
for ((i = 0; i < WAIT * 20; i++)); do
    [ "$(redis_out hlen '{rdv}:reg')" -lt $((base + 2000)) ] || break
    sleep 0.05
done
kill "$PID_pushy" 2>/dev/null || true
kill -TERM "$PID_a"
wait_exit "$PID_a" "$STOP_WAIT"
[ "$XRC" -eq 0 ] || fail "node a exit code $XRC"
wait "$FLOOD" || fail "flood: $(cat "$TMP/replay")"
[ "$(grep -c '^ok$' "$TMP/replay")" -eq 20000 ] || fail "flood: $(sort "$TMP/replay" | uniq -c)"
term_wait "$PID_b" "$STOP_WAIT" || fail "node b did not stop"
[ "$TRC" -eq 0 ] || fail "node b exit code $TRC"
for n in a b; do
    ! grep -q 'this node refuses\|refused a registration of the log' "$TMP/$n.err" ||
        fail "node $n applied log entries while closing: $(grep -c 'refuse' "$TMP/$n.err")"
    no_sanitizer_report "$n"
done

echo 'ALL CHECKS PASSED'
