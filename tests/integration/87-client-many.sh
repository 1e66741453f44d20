# librendezvous for programs that run many clients (rdv-bench is one): an
# identity in memory shared by two clients, a raw subscription (a member's
# registration and its end as the server's bytes), standard requests
# pipelined on one stream (reuse_streams), and rdv_client_connect after
# rdv_client_close. tests/integration/client/many.c, built on the public
# header against the build tree's library, does the checks.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

san=()
nm -D "$BIN/librendezvous.so" | grep -c __asan_ >/dev/null && san=(-fsanitize=address,undefined)
cc -std=c11 -Wall -Wextra -Werror "${san[@]}" -I"$ROOT/include" "$ROOT/tests/integration/client/many.c" \
    -L"$BIN" -lrendezvous -lev -o "$TMP/many" || fail "client/many.c does not build"
export LD_LIBRARY_PATH=$BIN

start_daemon d
"$TMP/many" "$DADDR" >"$TMP/many.out" 2>"$TMP/many.err" ||
    fail "$(tail -3 "$TMP/many.out") $(cat "$TMP/many.err")"
grep -q '^ok every step done$' "$TMP/many.out" || fail "$(cat "$TMP/many.out")"
echo 'ALL CHECKS PASSED'
