# Helpers for the cluster tests (sourced after lib.sh and push_lib.sh): a
# real redis-server on a unix socket in $TMP (no port to collide on; AOF on,
# so a restart keeps the registry) and rendezvousd nodes using it.

REDIS_DIR=$TMP/redis
REDIS_SOCK=$REDIS_DIR/redis.sock
CLUSTER=unix://$REDIS_SOCK
mkdir -p "$REDIS_DIR"

# start_redis: (re)starts redis-server on $REDIS_SOCK; sets REDIS_PID.
start_redis() {
    rm -f "$REDIS_SOCK"
    redis-server --port 0 --unixsocket "$REDIS_SOCK" --dir "$REDIS_DIR" --appendonly yes \
        --appendfsync always --save '' --daemonize no >>"$REDIS_DIR/log" 2>&1 &
    REDIS_PID=$!
    DPIDS+=("$REDIS_PID")
    retry 10 redis ping || fail "redis-server did not start: $(tail -5 "$REDIS_DIR/log")"
}

# stop_redis: SIGTERM (it writes the AOF) and wait.
stop_redis() {
    term_wait "$REDIS_PID" 10 || fail "redis-server did not stop"
}

redis() { redis-cli -s "$REDIS_SOCK" "$@" >/dev/null 2>&1; }
redis_out() { redis-cli -s "$REDIS_SOCK" "$@"; }

# start_node NAME ARGS...: a rendezvousd node of the cluster; sets the
# variables of start_daemon and ADDR_NAME, PID_NAME.
start_node() {
    local name=$1; shift
    start_daemon "$name" --cluster "$CLUSTER" --metrics off "$@"
    wait_log "$name" 'cluster: in sync with'
    printf -v "ADDR_$name" '%s' "$DADDR"
    printf -v "PID_$name" '%s' "$DPID"
}

# watch_on NAME NODE NS: a push subscriber (rdv watch) on NODE, output in $TMP/NAME.out.
watch_on() {
    local name=$1 node=$2 ns=$3 addr
    addr=ADDR_$node
    spawn "$name" "$BIN/rdv" watch --server "${!addr}" --keepalive 1 --timeout 60 "$ns"
}

# count FILE REGEX: lines of FILE matching REGEX.
count() { grep -Ec -- "$2" "$1" 2>/dev/null || true; }

# wait_count FILE REGEX N [SECONDS]: until at least N lines of FILE match.
wait_count() {
    local f=$1 re=$2 n=$3 secs=${4:-$WAIT} i
    for ((i = 0; i < secs * 20; i++)); do
        [ "$(count "$f" "$re")" -ge "$n" ] && return 0
        sleep 0.05
    done
    fail "fewer than $n lines matching /$re/ in $(basename "$f") after ${secs}s: $(cat "$f" 2>/dev/null)"
}

# members FILE: the member set a subscriber's `rdv watch` lines describe
# ("+ ID ADDRS" adds or replaces, "- ID" removes), sorted ids.
members() {
    awk '$1 == "+" { m[$2] = 1 } $1 == "-" { delete m[$2] } END { for (k in m) print k }' "$1" | sort
}

# listed NODE NS: the ids a push DISCOVER on NODE returns, sorted.
listed() {
    local addr=ADDR_$1
    "$BIN/rdv" discover --server "${!addr}" --limit 1000 "$2" | awk '/^12D3/ { print $1 }' | sort
}

# barrier NODE NS WATCHERS...: a registration made on NODE, seen by every
# watcher: everything before it in the log has reached them too. Leaves
# it registered (its process in PID_barrierN).
BARRIERS=0
barrier() {
    local node=$1 ns=$2 addr=ADDR_$1 id w; shift 2
    BARRIERS=$((BARRIERS + 1))
    spawn "barrier$BARRIERS" "$BIN/rdv" register --server "${!addr}" "$ns"
    id=$(registered "barrier$BARRIERS")
    for w in "$@"; do wait_for "$TMP/$w.out" "^\+ $id"; done
}
