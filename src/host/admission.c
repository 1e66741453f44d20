/* Admission of accepted connections, decided before a byte of theirs is
 * read, so a refused one costs an accept and a close and no crypto.
 *
 * Per source address (an IPv4 /32, an IPv6 /64: one host usually owns a
 * whole /64) the host keeps the number of open connections, how many of them
 * are still handshaking, and a token bucket of new connections
 * (handshake-rate per second, up to handshake-burst at once). Across the
 * host, at most max-handshakes connections handshake at once; past that the
 * listeners pause until one finishes. Waiting costs nothing: the kernel's
 * accept queue holds the newcomers (and, full, makes their SYNs retry with
 * backoff), while refusing would spend an accept and a close per attempt
 * on the loop that serves the established clients, and invite a retry at
 * once. So that one source cannot pause the listeners alone (slow handshakes
 * hold a slot up to handshake-timeout), a source may hold at most half the
 * slots.
 *
 * Refusing is cheap but not free (accept, close: some µs), and a flood that
 * is refused at once retries at once. When most of one accept batch was
 * refused the listeners rest for ACCEPT_BACKOFF, doubled up to 80 ms while
 * the next batches are refused too: the flood then waits in the kernel's
 * queue (and its SYNs are dropped when that is full), the loop serves
 * established clients, and a newcomer waits 80 ms at most per batch of
 * connections queued before it.
 *
 * The table stays bounded. An entry with connections is bounded by
 * max-connections; one without (idle) is dropped as soon as its bucket
 * would be full again (burst / rate seconds after it was last seen), which
 * loses nothing, and at most SOURCES_IDLE_MAX idle entries are kept (the
 * least recently seen goes first). When that many are idle a source the
 * table does not know is not given a fresh full bucket: it must take a token
 * from one bucket shared by all such newcomers (same rate and burst), so
 * cycling through addresses buys no more than one address gets. Sources
 * with open connections keep their own entries and are never judged by the
 * shared bucket. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <utlist.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "host/internal.h"

#define SOURCES_IDLE_MAX 16384 /* ~2 MB of idle entries at most */
#define ACCEPT_BACKOFF 0.01     /* seconds the listeners rest after a flood of refusals, */
#define ACCEPT_BACKOFF_DOUBLINGS 3 /* ... doubled while it goes on (80 ms at most) */

static const char *const refusal_text[REFUSE_REASONS] = {
    [REFUSE_MAX_CONNS] = "too many connections",
    [REFUSE_PER_IP] = "too many connections from this address",
    [REFUSE_HANDSHAKE_RATE] = "new connections from this address too fast",
    [REFUSE_HANDSHAKE_SHARE] = "too many handshakes from this address",
    [REFUSE_DRAINING] = "shutting down",
    [REFUSE_DESCRIPTORS] = "out of file descriptors",
    [REFUSE_MEMORY] = "out of memory (max-memory)",
};

void host_source_key(const struct sockaddr *sa, uint8_t key[17])
{
    memset(key, 0, 17);
    if (sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        key[0] = 6;
        memcpy(key + 1, &((const struct sockaddr_in6 *)sa)->sin6_addr, 8);
    }
}

/* Addresses are chosen by peers: hash them with a key secret to this
 * process so they cannot be picked to share a bucket. */
static unsigned source_hash(const struct host *h, const uint8_t key[17])
{
    uint8_t out[crypto_shorthash_BYTES];
    unsigned v;
    crypto_shorthash(out, key, 17, h->ip_hash_key);
    memcpy(&v, out, sizeof(v));
    return v;
}

static struct host_source *source_find(struct host *h, const struct sockaddr *sa)
{
    uint8_t key[17];
    struct host_source *s;

    host_source_key(sa, key);
    HASH_FIND_BYHASHVALUE(hh, h->sources, key, sizeof(key), source_hash(h, key), s);
    return s;
}

/* Brings a bucket up to now. */
static void bucket_refill(const struct host_limits *l, double *tokens, ev_tstamp *stamp,
                          ev_tstamp now)
{
    if (now > *stamp) {
        double t = *tokens + (now - *stamp) * l->handshake_rate;
        *tokens = t < l->handshake_burst ? t : l->handshake_burst;
    } else if (*tokens > l->handshake_burst) {
        *tokens = l->handshake_burst; /* the burst was lowered by a reload */
    }
    *stamp = now;
}

static void source_free(struct host *h, struct host_source *s)
{
    if (s->conns == 0) {
        DL_DELETE(h->idle_sources, s);
        h->nidle_sources--;
    }
    HASH_DEL(h->sources, s);
    free(s);
}

/* (Re)appends an entry without connections at the young end of the idle
 * list: lists stay ordered by the time each entry was last seen. */
static void source_touch_idle(struct host *h, struct host_source *s, bool was_idle)
{
    if (was_idle)
        DL_DELETE(h->idle_sources, s);
    else
        h->nidle_sources++;
    DL_APPEND(h->idle_sources, s);
    if (h->nidle_sources > SOURCES_IDLE_MAX)
        source_free(h, h->idle_sources);
}

void host_sources_expire(struct host *h, ev_tstamp now)
{
    /* An idle entry's bucket was last brought up to date at s->stamp; after
     * burst / rate seconds it is full, the same as a new entry's. */
    double rate = h->limits.handshake_rate;
    double refill = rate > 0 ? h->limits.handshake_burst / rate : 0; /* 0: no limit */
    while (h->idle_sources && h->idle_sources->stamp + refill <= now)
        source_free(h, h->idle_sources);
}

void host_sources_free(struct host *h)
{
    struct host_source *s, *tmp;
    HASH_ITER(hh, h->sources, s, tmp) {
        HASH_DEL(h->sources, s);
        free(s);
    }
    h->idle_sources = NULL;
    h->nidle_sources = 0;
}

/* ---- the listeners ------------------------------------------------------ */

void host_listeners_update(struct host *h)
{
    bool want = !h->draining && !h->backing_off && h->nhandshakes < h->limits.max_handshakes;
    if (want == !h->accept_paused)
        return;
    h->accept_paused = !want;
    for (size_t i = 0; i < h->nlisteners; i++) {
        if (want)
            ev_io_start(h->loop, &h->listeners[i].io);
        else
            ev_io_stop(h->loop, &h->listeners[i].io);
    }
}

static void accept_on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct host *h = w->data;
    (void)loop;
    (void)revents;
    h->backing_off = false;
    host_listeners_update(h);
}

void host_accept_backoff(struct host *h)
{
    if (h->backing_off)
        return;
    h->backing_off = true;
    h->stats.accept_backoffs++;
    /* A flood that is still there after the rest finds a longer one. */
    double rest = ACCEPT_BACKOFF * (double)(1u << h->backoff_level);
    if (h->backoff_level < ACCEPT_BACKOFF_DOUBLINGS)
        h->backoff_level++;
    ev_timer_init(&h->accept_backoff, accept_on_backoff, rest, 0);
    h->accept_backoff.data = h;
    ev_timer_start(h->loop, &h->accept_backoff);
    host_listeners_update(h);
}

static const char *sockaddr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    uint8_t ma[64];
    int n = multiaddr_from_sockaddr(sa, ma, sizeof(ma));
    if (n < 0 || multiaddr_to_text(ma, (size_t)n, out, cap) < 0)
        snprintf(out, cap, "?");
    return out;
}

/* ---- admission ---------------------------------------------------------- */

enum host_refusal host_admit(struct host *h, const struct sockaddr *sa)
{
    const struct host_limits *l = &h->limits;
    ev_tstamp now = ev_now(h->loop);
    struct host_source *s;

    if (h->draining)
        return REFUSE_DRAINING;
    if (h->nconns >= l->max_conns)
        return REFUSE_MAX_CONNS;
    if (host_memory_full(h))
        return REFUSE_MEMORY; /* before anything already open is cut */
    s = source_find(h, sa);
    if (s == NULL) {
        if (h->nidle_sources >= SOURCES_IDLE_MAX)
            host_sources_expire(h, now);
        double tokens = l->handshake_burst;
        if (h->nidle_sources >= SOURCES_IDLE_MAX) {
            /* Table full: a stranger draws from the shared bucket and starts
             * with an empty one of its own. */
            bucket_refill(l, &h->spare_tokens, &h->spare_stamp, now);
            if (h->spare_tokens < 1.0 && l->handshake_rate > 0)
                return REFUSE_HANDSHAKE_RATE;
            if (h->spare_tokens >= 1.0)
                h->spare_tokens -= 1.0;
            tokens = 1.0;
        }
        s = xcalloc(1, sizeof(*s));
        host_source_key(sa, s->key);
        s->tokens = tokens;
        s->stamp = now;
        HASH_ADD_BYHASHVALUE(hh, h->sources, key, sizeof(s->key), source_hash(h, s->key), s);
        h->nidle_sources++; /* counted as idle until it has a connection */
        DL_APPEND(h->idle_sources, s);
    }
    bool idle = s->conns == 0;
    bucket_refill(l, &s->tokens, &s->stamp, now);
    enum host_refusal r = REFUSE_REASONS;
    size_t share = l->max_handshakes / 2 ? l->max_handshakes / 2 : 1;
    if (s->conns >= l->max_conns_per_ip)
        r = REFUSE_PER_IP;
    else if (s->tokens < 1.0 && l->handshake_rate > 0)
        r = REFUSE_HANDSHAKE_RATE;
    else if (s->handshakes >= share)
        r = REFUSE_HANDSHAKE_SHARE;
    if (r != REFUSE_REASONS) {
        if (idle)
            source_touch_idle(h, s, true);
        return r;
    }
    if (s->tokens >= 1.0)
        s->tokens -= 1.0;
    if (idle) {
        DL_DELETE(h->idle_sources, s);
        h->nidle_sources--;
    }
    s->conns++;
    return REFUSE_REASONS;
}

/* A handshaking connection's input waits behind established connections'
 * in each loop turn: its Noise work then delays a ping by one handshake at
 * most, never by all those that arrived together. */
#define HANDSHAKE_PRIORITY (EV_MINPRI + 1) /* the listeners are at EV_MINPRI */

static void conn_set_priority(struct host *h, struct conn *c, int pri)
{
    if (ev_priority(&c->io) == pri)
        return;
    bool active = ev_is_active(&c->io);
    if (active)
        ev_io_stop(h->loop, &c->io);
    ev_set_priority(&c->io, pri);
    if (active)
        ev_io_start(h->loop, &c->io);
}

void host_admitted(struct host *h, struct conn *c)
{
    struct host_source *s = source_find(h, &c->addr.sa);

    if (s == NULL) /* cannot happen: host_admit made it */
        return;
    c->counted_ip = true;
    c->counted_hs = true;
    conn_set_priority(h, c, HANDSHAKE_PRIORITY);
    s->handshakes++;
    if (++h->nhandshakes == h->limits.max_handshakes)
        h->stats.accept_pauses++;
    host_listeners_update(h);
}

void host_refuse(struct host *h, int fd, const struct sockaddr *sa, enum host_refusal r)
{
    /* Reset rather than close: no TIME_WAIT is kept for a refused flood. */
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(fd);
    h->stats.refused[r]++;
    if (r == REFUSE_MEMORY)
        h->stats.conns_refused_memory++;
    if (sa) {
        HOST_LOG_CONN(h, LOG_DEBUG, "%s: %s",
                      sockaddr_text(sa, (char[64]){0}, 64), refusal_text[r]);
    } else {
        HOST_LOG_CONN(h, LOG_WARN, "%s: refused a connection", refusal_text[r]);
    }
}

void host_handshake_end(struct host *h, struct conn *c)
{
    if (!c->counted_hs)
        return;
    c->counted_hs = false;
    conn_set_priority(h, c, 0);
    struct host_source *s = source_find(h, &c->addr.sa);
    if (s && s->handshakes > 0)
        s->handshakes--;
    h->nhandshakes--;
    host_listeners_update(h);
}

void host_ip_release(struct host *h, struct conn *c)
{
    host_handshake_end(h, c);
    if (!c->counted_ip)
        return;
    c->counted_ip = false;
    struct host_source *s = source_find(h, &c->addr.sa);
    if (s && --s->conns == 0) {
        bucket_refill(&h->limits, &s->tokens, &s->stamp, ev_now(h->loop));
        source_touch_idle(h, s, false);
    }
}
