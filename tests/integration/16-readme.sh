# The README, line by line: every block marked "<!-- test: NAME -->" is run.
#  - make-run: `make run` (on ephemeral ports, with its own key file) must
#    print what the README shows, once timestamps, peer ids, ports and the
#    key and build paths are set aside;
#  - session-*: each "$ COMMAND" line runs in a scratch folder (with build/
#    pointing at the binaries) against a daemon, $S its address; the lines
#    after a command are its expected output, "..." standing for any run of
#    non-blank characters. A command marked "# terminal 1" keeps running in
#    the background until the block ends; one followed by "^C" runs until its
#    output has appeared and is then interrupted. Each must exit 0.
source "$(dirname "$0")/lib.sh"

NL=$'\n'
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
README=$ROOT/README.md
BUILD_ABS=$(cd "$BIN" && pwd)

# The fenced block after the marker NAME.
block() {
    awk -v mark="<!-- test: $1 -->" '
        $0 == mark { want = 1; next }
        want && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }' "$README"
}

# An expected line as an extended regular expression.
pattern() {
    printf '%s' "$1" | sed -e 's/[][\.*^$+?(){}|/]/\\&/g' -e 's/\\\.\\\.\\\./[^ ]*/g'
}

# matches FILE EXPECTED: FILE's lines match EXPECTED's, one for one.
matches() {
    local -a want got
    mapfile -t want <<<"${2%"$NL"}"
    mapfile -t got <"$1"
    [ -z "${2%"$NL"}" ] && want=()
    [ "${#want[@]}" -eq "${#got[@]}" ] || return 1
    for k in "${!want[@]}"; do
        [[ ${got[$k]} =~ ^$(pattern "${want[$k]}")$ ]] || return 1
    done
}

# wait_matches FILE EXPECTED WHAT: polls up to 10 s.
wait_matches() {
    for _ in $(seq 200); do
        matches "$1" "$2" && return 0
        sleep 0.05
    done
    fail "$3: output${NL}$(cat "$1")${NL}is not${NL}$2"
}

names=$(sed -n 's/^<!-- test: \([a-z0-9-]*\) -->$/\1/p' "$README")
echo "$names" | grep -qx make-run || fail "README.md has no make-run block"
[ "$(grep -c '^session-' <<<"$names")" -ge 3 ] || fail "README.md has fewer than 3 session blocks: $names"

# --- make run ---------------------------------------------------------------------
KEYDIR=$TMP/run
mkdir -p "$KEYDIR"
normalize() {
    sed -E -e 's#^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z#TIME#' \
        -e 's#12D3KooW[1-9A-HJ-NP-Za-km-z.]*#ID#g' -e 's#/tcp/[0-9]+#/tcp/PORT#g' \
        -e 's#127\.0\.0\.1:[0-9]+#127.0.0.1:PORT#g' -e "s#$KEYDIR/##g" -e "s#$BUILD_ABS/#build/#g"
}
block make-run | head -1 | grep -qx '\$ make run' || fail "make-run block does not start with \$ make run"
# A make of its own, not a part of the one running the tests (its jobserver).
(cd "$ROOT" && exec setsid env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -s --no-print-directory run BUILD="$BUILD_ABS" KEY="$KEYDIR/rendezvousd.key" \
    ARGS="--listen /ip4/127.0.0.1/tcp/0/ws --listen /ip4/127.0.0.1/tcp/0 --metrics 127.0.0.1:0") \
    >"$TMP/run.out" 2>&1 &
MPID=$!
DPIDS+=("-$MPID")
for _ in $(seq 400); do
    grep -q '^Metrics: ' "$TMP/run.out" && break
    kill -0 "$MPID" 2>/dev/null || fail "make run ended: $(cat "$TMP/run.out")"
    sleep 0.05
done
grep -q '^Metrics: ' "$TMP/run.out" || fail "make run printed no metrics line: $(cat "$TMP/run.out")"
kill -INT -- "-$MPID"
wait "$MPID" || true
! grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$TMP/run.out" ||
    fail "sanitizer report from make run's daemon: $(cat "$TMP/run.out")"
sed -n '1,/^Metrics: /p' "$TMP/run.out" | normalize >"$TMP/run.real"
block make-run | sed 1d | normalize >"$TMP/run.readme"
diff -u "$TMP/run.readme" "$TMP/run.real" >"$TMP/run.diff" ||
    fail "make run prints something else than README.md shows:${NL}$(cat "$TMP/run.diff")"

# --- the sessions -----------------------------------------------------------------
start_daemon d -v --metrics off
WORK=$TMP/work
mkdir -p "$WORK"
ln -s "$BUILD_ABS" "$WORK/build"
requests() { grep -c ' request ' "$TMP/d.err" || true; }

run_block() {
    local name=$1 line c n=-1
    local -a cmd exp term intr pid
    while IFS= read -r line; do
        if [[ $line == '$ '* ]]; then
            n=$((n + 1))
            c=${line#'$ '}
            term[n]=0
            [[ $c =~ \#\ terminal\ ([0-9]+) ]] && term[n]=${BASH_REMATCH[1]}
            c=${c%%  #*}
            cmd[n]=${c%"${c##*[![:space:]]}"}
            exp[n]=""
            intr[n]=0
        elif [ "$line" = '^C' ]; then
            intr[n]=1
        elif [ $n -ge 0 ]; then
            exp[n]+="$line""$NL"
        fi
    done < <(block "$name")
    [ $n -ge 0 ] || fail "$name: no command"
    for i in $(seq 0 $n); do
        local out=$TMP/$name.$i.out before
        before=$(requests)
        if [ "${term[i]}" = 1 ] || [ "${intr[i]}" = 1 ]; then
            (cd "$WORK" && S=$DADDR exec bash -c "exec ${cmd[i]}") >"$out" 2>"$out.err" &
            pid[i]=$!
            DPIDS+=("${pid[i]}")
            # Running on once the daemon has its first request (a push
            # subscription or registration has no answer to wait for).
            for _ in $(seq 200); do
                [ "$(requests)" -gt "$before" ] && break
                sleep 0.05
            done
            [ "$(requests)" -gt "$before" ] || fail "$name: '${cmd[i]}' sent no request: $(cat "$out.err")"
            if [ "${intr[i]}" = 1 ]; then
                wait_matches "$out" "${exp[i]}" "$name: '${cmd[i]}'"
                kill -INT "${pid[i]}"
                wait "${pid[i]}" || fail "$name: '${cmd[i]}' exited $? after ^C: $(cat "$out.err")"
            fi
        else
            (cd "$WORK" && S=$DADDR bash -c "${cmd[i]}") >"$out" 2>"$out.err" ||
                fail "$name: '${cmd[i]}' exited $?: $(cat "$out.err")"
            matches "$out" "${exp[i]}" ||
                fail "$name: '${cmd[i]}' printed${NL}$(cat "$out")${NL}instead of${NL}${exp[i]}"
        fi
    done
    for i in $(seq 0 $n); do
        [ "${term[i]}" = 1 ] && [ "${intr[i]}" = 0 ] || continue
        wait_matches "$TMP/$name.$i.out" "${exp[i]}" "$name: '${cmd[i]}'"
        kill -INT "${pid[i]}"
        wait "${pid[i]}" || fail "$name: '${cmd[i]}' exited $? after ^C"
    done
    return 0
}

for name in $(echo "$names" | grep '^session-'); do
    run_block "$name"
done
stop_daemon
echo "ALL CHECKS PASSED"
