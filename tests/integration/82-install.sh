# make install into a staging folder (DESTDIR): binaries, man pages, the
# configuration (kept if present), the example and the systemd unit with the
# installed paths; the pages render without warnings; the installed
# configuration passes --check-config. The binaries under test are installed
# as they are (make -o: never rebuilt here with other flags).
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)

# The build folder as the Makefile names it (relative to the tree): objects
# rebuilt under an absolute name would write their dependency files with
# targets no later build matches, and header changes would go unseen.
BUILD_REL=$(realpath --relative-to="$ROOT" "$BIN")

# install PREFIX: into $TMP/PREFIX-tree, quietly.
install_to() {
    make -s -C "$ROOT" install BUILD="$BUILD_REL" PREFIX="$1" DESTDIR="$2" \
        -o "$BUILD_REL/rendezvousd" -o "$BUILD_REL/rdv" >"$TMP/make.out" 2>&1 ||
        fail "make install PREFIX=$1: $(cat "$TMP/make.out")"
}

# --- PREFIX=/usr: configuration in /etc --------------------------------------------
D=$TMP/usr-root
install_to /usr "$D"
for f in usr/bin/rendezvousd usr/bin/rdv \
         usr/share/man/man8/rendezvousd.8 usr/share/man/man1/rdv.1 usr/share/man/man5/rendezvousd.conf.5 \
         etc/rendezvousd/rendezvousd.conf usr/share/doc/rendezvousd/rendezvousd.conf.example \
         usr/lib/systemd/system/rendezvousd.service; do
    [ -f "$D/$f" ] || fail "missing $f: $(cd "$D" && find . -type f)"
done
[ -x "$D/usr/bin/rendezvousd" ] && [ -x "$D/usr/bin/rdv" ] || fail "binaries not executable"
cmp -s "$D/usr/bin/rendezvousd" "$BIN/rendezvousd" || fail "installed daemon differs from $BIN"
[ "$(stat -c %a "$D/usr/share/man/man8/rendezvousd.8")" = 644 ] || fail "man page mode"
[ "$(stat -c %a "$D/etc/rendezvousd/rendezvousd.conf")" = 644 ] || fail "config mode"
U=$D/usr/lib/systemd/system/rendezvousd.service
grep -q '@[A-Z]*@' "$U" && fail "unsubstituted placeholder in the unit: $(grep '@[A-Z]*@' "$U")"
grep -qx 'ExecStart=/usr/bin/rendezvousd --config /etc/rendezvousd/rendezvousd.conf --key ${STATE_DIRECTORY}/identity.key' "$U" ||
    fail "ExecStart: $(grep ExecStart "$U")"
for opt in DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict StateDirectory=rendezvousd \
           PrivateTmp=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' LimitNOFILE=262144 \
           'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$opt" "$U" || fail "unit lacks $opt"
done
# The installed configuration is valid as shipped.
out=$("$D/usr/bin/rendezvousd" --config "$D/etc/rendezvousd/rendezvousd.conf" --check-config) ||
    fail "installed config: $out"
[ "$out" = "config ok" ] || fail "installed config printed: $out"
# Every option of --help is documented in the config page and the example.
"$BIN/rendezvousd" --help | grep -o -- '--[a-zA-Z][a-zA-Z-]*' | sort -u |
    grep -vx -- '--config\|--check-config\|--help\|--version\|--verbose' >"$TMP/opts"
while read -r o; do
    n=${o#--}
    grep -q -- "${n//-/\\\\-}" "$D/usr/share/man/man5/rendezvousd.conf.5" || fail "rendezvousd.conf(5) lacks $n"
    grep -q "^#* *$n\b\|\b$n\b" "$D/usr/share/doc/rendezvousd/rendezvousd.conf.example" || fail "the example lacks $n"
done <"$TMP/opts"

# A configuration edited by the operator survives a reinstall.
echo 'max-streams = 7' >>"$D/etc/rendezvousd/rendezvousd.conf"
install_to /usr "$D"
grep -qx 'max-streams = 7' "$D/etc/rendezvousd/rendezvousd.conf" || fail "reinstall replaced the configuration"

# --- PREFIX=/usr/local: configuration under the prefix -------------------------------
L=$TMP/local-root
install_to /usr/local "$L"
for f in usr/local/bin/rendezvousd usr/local/etc/rendezvousd/rendezvousd.conf \
         usr/local/share/man/man8/rendezvousd.8 usr/local/lib/systemd/system/rendezvousd.service; do
    [ -f "$L/$f" ] || fail "PREFIX=/usr/local: missing $f"
done
grep -q '^ExecStart=/usr/local/bin/rendezvousd --config /usr/local/etc/rendezvousd/rendezvousd.conf ' \
    "$L/usr/local/lib/systemd/system/rendezvousd.service" || fail "PREFIX=/usr/local unit paths"

# --- man pages: no warnings -------------------------------------------------------------
command -v man >/dev/null || fail "man is not installed (Debian package man-db)"
for page in "$D"/usr/share/man/man*/*; do
    warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    [ -z "$warnings" ] || fail "$(basename "$page"): $warnings"
    LC_ALL=C.UTF-8 MANWIDTH=80 man -l "$page" 2>/dev/null | grep -q 'NAME' || fail "$(basename "$page") renders empty"
done
echo 'ALL CHECKS PASSED'
