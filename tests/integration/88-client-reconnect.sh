# librendezvous across a daemon restart: a subscribed client (the
# examples/c/presence program) reconnects by itself, subscribes again and
# reports only the difference. Members: A stays (a standard registration the
# daemon keeps in --data-dir), B leaves during the outage (a push
# registration, gone with its session), C arrives during the outage (while
# the client is still away or syncing). After the restart the client must
# print exactly "- B" and "+ C": nothing about A.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# The example against the build tree's library (87-client-lib builds it from
# an installed tree).
san=()
nm -D "$BIN/librendezvous.so" | grep -c __asan_ >/dev/null && san=(-fsanitize=address,undefined)
cc -std=c11 -Wall -Wextra -Werror "${san[@]}" -I"$ROOT/include" "$ROOT/examples/c/presence.c" \
    -L"$BIN" -lrendezvous -lev -o "$TMP/presence" || fail "presence does not build"
export LD_LIBRARY_PATH=$BIN

"$BIN/rdv" keygen "$TMP/daemon.key" >/dev/null
start_daemon d1 --key "$TMP/daemon.key" --data-dir "$TMP/data"
ADDR=$DADDR
spawn w "$TMP/presence" "$ADDR" lobby
wait_for "$TMP/w.err" '^connected as 12D3KooW'
"$BIN/rdv" register --dialect standard --ttl 3600 --key "$TMP/a.key" --server "$ADDR" \
    --addr /ip4/192.0.2.1/tcp/1 lobby >"$TMP/a.out" || fail "A: $(cat "$TMP/a.out")"
A=$(sed -n 's/^registered \([^ ]*\) in .*/\1/p' "$TMP/a.out")
spawn b "$BIN/rdv" register --server "$ADDR" --addr /ip4/192.0.2.2/tcp/2 lobby
B=$(registered b)
wait_for "$TMP/w.out" "^\+ $A /ip4/192.0.2.1/tcp/1\$"
wait_for "$TMP/w.out" "^\+ $B /ip4/192.0.2.2/tcp/2\$"
before=$(wc -l <"$TMP/w.out")
[ "$before" -eq 2 ] || fail "before the restart: $(cat "$TMP/w.out")"

# --- the outage -----------------------------------------------------------------------
stop_daemon
wait_for "$TMP/w.err" '^disconnected'
wait_exit "$PID_b" # push mode ends with the connection: B is gone
DLISTEN=/ip4/127.0.0.1/tcp/$DPORT start_daemon d2 --key "$TMP/daemon.key" --data-dir "$TMP/data"
[ "$DADDR" = "$ADDR" ] || fail "the daemon came back as $DADDR, not $ADDR"
"$BIN/rdv" register --dialect standard --ttl 3600 --key "$TMP/c.key" --server "$ADDR" \
    --addr /ip4/192.0.2.3/tcp/3 lobby >"$TMP/c.out" || fail "C: $(cat "$TMP/c.out")"
C=$(sed -n 's/^registered \([^ ]*\) in .*/\1/p' "$TMP/c.out")
reconnected() { [ "$(grep -c '^connected as' "$TMP/w.err")" -eq 2 ]; }
retry "$WAIT" reconnected || fail "no reconnect: $(cat "$TMP/w.err")"
wait_for "$TMP/w.out" "^- $B\$"
wait_for "$TMP/w.out" "^\+ $C /ip4/192.0.2.3/tcp/3\$"
# A barrier: a member registered now is reported after everything before it.
"$BIN/rdv" register --dialect standard --ttl 3600 --key "$TMP/d.key" --server "$ADDR" \
    --addr /ip4/192.0.2.4/tcp/4 lobby >"$TMP/d.out" || fail "D: $(cat "$TMP/d.out")"
D=$(sed -n 's/^registered \([^ ]*\) in .*/\1/p' "$TMP/d.out")
wait_for "$TMP/w.out" "^\+ $D /ip4/192.0.2.4/tcp/4\$"
tail -n +3 "$TMP/w.out" | sort >"$TMP/after"
same "$TMP/after" "$(printf '%s\n' "+ $C /ip4/192.0.2.3/tcp/3" "+ $D /ip4/192.0.2.4/tcp/4" "- $B" | sort)"
grep -q "^[-+] $A" <(tail -n +3 "$TMP/w.out") && fail "A was reported again: $(cat "$TMP/w.out")"
echo 'ALL CHECKS PASSED'
