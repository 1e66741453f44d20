# librendezvous as a user gets it: `make install DESTDIR=` puts the shared
# and static libraries, include/rendezvous/client.h and rendezvous.pc in the
# tree; the shared library has the soname librendezvous.so.0 and exports
# only rdv_client_* symbols, and so does the static one; examples/c/presence.c
# builds from the installed tree alone (pkg-config, no -Isrc), and run
# against the daemon sees a member registered by rdv arrive and leave.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/push_lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

D=$TMP/root
make -s -C "$ROOT" install BUILD="$BIN" PREFIX=/usr DESTDIR="$D" \
    -o "$BIN/rendezvousd" -o "$BIN/rdv" >"$TMP/make.out" 2>&1 || fail "make install: $(cat "$TMP/make.out")"
for f in usr/lib/librendezvous.so.0.1.0 usr/lib/librendezvous.a usr/include/rendezvous/client.h \
         usr/lib/pkgconfig/rendezvous.pc; do
    [ -f "$D/$f" ] || fail "missing $f: $(cd "$D" && find . -path '*lib*' -o -path '*include*')"
done
[ "$(readlink "$D/usr/lib/librendezvous.so.0")" = librendezvous.so.0.1.0 ] || fail "librendezvous.so.0 link"
[ "$(readlink "$D/usr/lib/librendezvous.so")" = librendezvous.so.0 ] || fail "librendezvous.so link"
grep -qx 'prefix=/usr' "$D/usr/lib/pkgconfig/rendezvous.pc" || fail "rendezvous.pc prefix"

# --- ABI: the soname, and nothing but the API exported -----------------------------
SO=$D/usr/lib/librendezvous.so.0.1.0
readelf -d "$SO" | grep -q 'SONAME.*\[librendezvous\.so\.0\]' || fail "soname: $(readelf -d "$SO" | grep SONAME)"
nm -D --defined-only "$SO" | awk '{print $NF}' >"$TMP/dynsyms"
grep -q '^rdv_client_new$' "$TMP/dynsyms" || fail "rdv_client_new is not exported"
others=$(grep -v '^rdv_client_' "$TMP/dynsyms" | grep -v '^_\(init\|fini\|edata\|end\|_bss_start\)$' || true)
[ -z "$others" ] || fail "exported beyond rdv_client_*: $others"
# Every exported function is declared in the public header.
while read -r sym; do
    grep -q "\b$sym(" "$D/usr/include/rendezvous/client.h" || fail "$sym is exported but not in client.h"
done <"$TMP/dynsyms"
nm -g --defined-only "$D/usr/lib/librendezvous.a" | awk 'NF == 3 {print $3}' >"$TMP/stsyms"
others=$(grep -v '^rdv_client_' "$TMP/stsyms" || true)
[ -z "$others" ] || fail "librendezvous.a has global symbols beyond rdv_client_*: $(echo "$others" | head -5)"

# --- the example, from the installed tree only ----------------------------------------
export PKG_CONFIG_PATH=$D/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
flags=$(pkg-config --cflags --libs rendezvous) || fail "pkg-config rendezvous"
case $flags in *"$ROOT"* | *"/src"*) fail "pkg-config points into the source tree: $flags" ;; esac
san=()
# An ASan build's library needs the sanitizer runtime in the program too.
nm -D "$SO" | grep -c __asan_ >/dev/null && san=(-fsanitize=address,undefined)
cp "$ROOT/examples/c/presence.c" "$TMP/presence.c"
(cd "$TMP" && cc -std=c11 -Wall -Wextra -Werror "${san[@]}" presence.c $flags -o presence) ||
    fail "examples/c/presence.c does not build against the installed tree"
readelf -d "$TMP/presence" | grep -q 'NEEDED.*librendezvous\.so\.0' || fail "presence does not use librendezvous.so.0"
# ... and statically, where only the API is visible too.
(cd "$TMP" && cc -std=c11 "${san[@]}" presence.c $(pkg-config --cflags rendezvous) \
    "$D/usr/lib/librendezvous.a" $(pkg-config --static --libs-only-l rendezvous | sed 's/-lrendezvous//') \
    -o presence-static) || fail "presence does not link with librendezvous.a"

start_daemon d
spawn presence env LD_LIBRARY_PATH="$D/usr/lib" "$TMP/presence" "$DADDR" game
wait_for "$TMP/presence.err" '^connected as 12D3KooW'
spawn member "$BIN/rdv" register --server "$DADDR" --addr /ip4/192.0.2.7/tcp/4001 game
ID=$(registered member)
wait_for "$TMP/presence.out" "^\+ $ID /ip4/192.0.2.7/tcp/4001\$"
kill -TERM "$PID_member"
wait_for "$TMP/presence.out" "^- $ID\$"
same "$TMP/presence.out" "+ $ID /ip4/192.0.2.7/tcp/4001
- $ID"
# The static build works the same way.
spawn pstatic "$TMP/presence-static" "$DADDR" game /ip4/192.0.2.8/tcp/4001
wait_for "$TMP/pstatic.err" '^connected as 12D3KooW'
SID=$(sed -n 's/^connected as //p' "$TMP/pstatic.err")
spawn watcher "$BIN/rdv" watch --server "$DADDR" game
wait_for "$TMP/watcher.out" "^\+ $SID /ip4/192.0.2.8/tcp/4001\$"

# --- the member bound: a subscription holding max_members takes no more ---------------
# game has one member (the static presence); a watcher bound to one sees it,
# and when a second arrives its subscription ends (RDV_CLIENT_ERR_LIMIT).
spawn capped "$BIN/rdv" watch --max-members 1 --server "$DADDR" game
wait_for "$TMP/capped.out" "^\+ $SID /ip4/192.0.2.8/tcp/4001\$"
spawn second "$BIN/rdv" register --server "$DADDR" --addr /ip4/192.0.2.9/tcp/4001 game
ID2=$(registered second)
wait_for "$TMP/watcher.out" "^\+ $ID2 /ip4/192.0.2.9/tcp/4001\$"
wait_exit "$PID_capped"
[ "$XRC" = 1 ] || fail "rdv watch --max-members 1 exited $XRC, not 1"
grep -q 'more members than the subscription may hold' "$TMP/capped.err" ||
    fail "rdv watch --max-members 1 did not say why it stopped: $(cat "$TMP/capped.err")"
grep -q "$ID2" "$TMP/capped.out" && fail "the member beyond the bound was reported"
echo 'ALL CHECKS PASSED'
