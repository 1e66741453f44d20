/* The host: identity, listeners, dialing, the per-iteration flush hook and
 * the timeout lists (libev's "be smart about timeouts": connections sit in a
 * list ordered by deadline and one repeating timer expires the head). */
#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <utlist.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "crypto/record.h"
#include "host/internal.h"
#include "host/ws.h"

#define ACCEPTS_PER_EVENT 16       /* a batch is ~100 µs: established clients wait no longer */
#define ACCEPT_BACKOFF_REFUSALS 8 /* refusals in one batch that make the listeners rest */

void host_limits_default(struct host_limits *l)
{
    l->handshake_timeout = 10.0;
    l->idle_timeout = 120.0;
    l->max_conns = 200000;
    l->max_conns_per_ip = 1024;
    l->max_streams = 256;
    l->max_out = 16u << 20;
    l->max_in = 1u << 20;
    /* A quarter of the machine, as a cache server would take by default. */
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    l->max_memory = pages > 0 && page > 0 ? (size_t)pages * (size_t)page / 4 : 0;
    /* A client never dials this fast; a handshake flood from one address
     * gets 50 handshakes a second, about 1 % of a core. */
    l->handshake_rate = 50;
    l->handshake_burst = 100;
    l->max_handshakes = 256;
    l->log_conn_lines = 20;
}

/* ---- timeout lists ---------------------------------------------------- */

void host_tlist_move(struct host *h, struct conn *c, int list)
{
    if (c->tlist == TLIST_PENDING)
        DL_DELETE2(h->pending, c, tprev, tnext);
    else if (c->tlist == TLIST_ESTABLISHED)
        DL_DELETE2(h->established, c, tprev, tnext);
    else if (c->tlist == TLIST_EXPIRED)
        DL_DELETE2(h->expired, c, tprev, tnext);
    c->tlist = (uint8_t)list;
    if (list == TLIST_PENDING)
        DL_APPEND2(h->pending, c, tprev, tnext);
    else if (list == TLIST_ESTABLISHED)
        DL_APPEND2(h->established, c, tprev, tnext);
    else if (list == TLIST_EXPIRED)
        DL_APPEND2(h->expired, c, tprev, tnext);
}

/* Lists are ordered by last_active, so only expired heads are looked at. */
static void host_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct host *h = w->data;
    ev_tstamp now = ev_now(loop);
    (void)revents;

    while (h->pending && h->pending->last_active + h->limits.handshake_timeout <= now) {
        struct conn *c = h->pending;
        if (c->closing) {
            host_tlist_move(h, c, TLIST_EXPIRED);
            conn_drop_output(c); /* it had its chance to flush */
            c->connecting = false;
            conn_mark_dirty(c);
        } else { /* conn_close moves it to the end of pending */
            h->stats.handshakes_failed++;
            h->stats.handshake_failures[HS_FAIL_TIMEOUT]++;
            conn_close(c, c->connecting ? "connect timeout" : "handshake timeout");
        }
    }
    while (h->established && h->established->last_active + h->limits.idle_timeout <= now)
        conn_close(h->established, "idle timeout");
    host_sources_expire(h, now);
    host_listeners_update(h); /* max-handshakes may have been raised by a reload */
    log_limit_flush(&h->conn_lines, h->log, now);
}

/* ---- flush hook ------------------------------------------------------- */

/* Runs once per loop iteration, before the loop blocks: every connection
 * that got output since the last one seals and writes it in one go. */
static void host_on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct host *h = w->data;
    struct conn *c;
    (void)revents;

    if (h->poll_before_flush && !h->polled_for_flush && h->dirty) {
        h->poll_before_flush = false;
        h->polled_for_flush = true;
        ev_idle_start(loop, &h->flush_poll);
        h->read_budget = HOST_READ_BUDGET;
        return;
    }
    h->poll_before_flush = h->polled_for_flush = false;
    if (ev_is_active(&h->flush_poll))
        ev_idle_stop(loop, &h->flush_poll); /* the poll had input to handle */
    while ((c = h->dirty) != NULL) {
        h->dirty = c->dnext;
        c->dirty = false;
        conn_flush(c);
    }
    h->read_budget = HOST_READ_BUDGET; /* for the reads after the coming poll */
    if (h->draining && h->nconns == 0)
        ev_break(loop, EVBREAK_ALL);
    if (h->lean && h->dirty == NULL) { /* back when a connection has output again */
        ev_ref(loop);
        ev_prepare_stop(loop, w);
    }
}

static void host_on_flush_poll(struct ev_loop *loop, ev_idle *w, int revents)
{
    (void)revents;
    ev_idle_stop(loop, w); /* the poll found nothing: flush now */
}

void host_poll_before_flush(struct host *h)
{
    if (!h->lean)
        h->poll_before_flush = true;
}

void host_wake_flush(struct host *h)
{
    if (h->lean && !ev_is_active(&h->flush)) {
        ev_prepare_start(h->loop, &h->flush);
        ev_unref(h->loop);
    }
}

void host_set_lean(struct host *h)
{
    if (h->lean)
        return;
    h->lean = true;
    ev_ref(h->loop);
    ev_prepare_stop(h->loop, &h->flush);
    if (h->spare_fd >= 0)
        close(h->spare_fd);
    h->spare_fd = -1;
    free(h->rbuf);
    h->rbuf = NULL;
    noise_bulk_free(h->bulk); /* a client seals small messages: libsodium */
    h->bulk = NULL;
}

bool host_admit_request(struct host *h)
{
    if (!host_memory_full(h))
        return true;
    h->stats.requests_refused_memory++;
    return false;
}

/* ---- host ------------------------------------------------------------- */

void host_init(struct host *h, struct ev_loop *loop, struct log *log, const struct privkey *k,
               const struct host_limits *limits)
{
    memset(h, 0, sizeof(*h));
    h->loop = loop;
    h->log = log;
    h->key = *k;
    privkey_public(&h->key, &h->pub);
    peerid_from_pubkey(&h->id, &h->pub);
    peerid_to_text(&h->id, h->id_text, sizeof(h->id_text));
    peer_ids_init(&h->own_ids);
    h->ids = &h->own_ids;
    noise_identity_init(&h->noise, &h->key);
    h->bulk = noise_bulk_new();
    noise_identity_cache_verified(&h->noise);
    if (limits)
        h->limits = *limits;
    else
        host_limits_default(&h->limits);
    h->read_budget = HOST_READ_BUDGET;
    ev_prepare_init(&h->flush, host_on_prepare);
    h->flush.data = h;
    ev_idle_init(&h->flush_poll, host_on_flush_poll);
    ev_prepare_start(loop, &h->flush);
    ev_timer_init(&h->timeouts, host_on_tick, 1.0, 1.0);
    h->timeouts.data = h;
    ev_timer_start(loop, &h->timeouts);
    /* The host's own watchers must not keep a loop alive by themselves:
     * listeners and connections do. */
    ev_unref(loop);
    ev_unref(loop);
    h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    randombytes_buf(h->ip_hash_key, sizeof(h->ip_hash_key));
    h->conn_lines.what = "connection";
    h->spare_tokens = h->limits.handshake_burst;
    h->spare_stamp = ev_now(loop);
}

void host_free(struct host *h)
{
    struct conn *c;

    /* conn_destroy takes c off its list (and may close others: they move) */
    while ((c = h->pending ? h->pending : h->established ? h->established : h->expired))
        conn_destroy(c);
    for (size_t i = 0; i < h->nlisteners; i++) {
        ev_io_stop(h->loop, &h->listeners[i].io);
        close(h->listeners[i].fd);
    }
    if (ev_is_active(&h->flush))
        ev_ref(h->loop);
    ev_ref(h->loop);
    ev_prepare_stop(h->loop, &h->flush);
    ev_idle_stop(h->loop, &h->flush_poll);
    ev_timer_stop(h->loop, &h->timeouts);
    ev_timer_stop(h->loop, &h->drain_timer);
    ev_timer_stop(h->loop, &h->accept_backoff);
    host_sources_free(h);
    if (h->spare_fd >= 0)
        close(h->spare_fd);
    if (h->ws) {
        ws_config_free(h->ws);
        free(h->ws);
    }
    buf_free(&h->record);
    buf_free(&h->scratch);
    free(h->rbuf);
    noise_identity_wipe(&h->noise);
    noise_bulk_free(h->bulk);
    h->bulk = NULL;
    privkey_wipe(&h->key);
    peer_ids_free(&h->own_ids);
}

void host_share_peer_ids(struct host *h, struct peer_ids *t)
{
    assert(h->nconns == 0 && h->own_ids.count == 0);
    h->ids = t;
}

void host_handle(struct host *h, const struct protocol *p)
{
    if (h->nprotocols == HOST_MAX_PROTOCOLS)
        abort(); /* a programming error, not a runtime condition */
    h->protocols[h->nprotocols] = p;
    h->protocol_ids[h->nprotocols] = p->id;
    h->nprotocols++;
    /* Rounded to 8, the alignment of what handlers keep there (pointers,
     * 64-bit counts, doubles); a stream's block keeps what it was made with. */
    size_t room = (sizeof(struct stream) + p->state_size + 7) & ~(size_t)7;
    if (room > h->stream_room && room <= UINT32_MAX)
        h->stream_room = room;
}

/* ---- listening -------------------------------------------------------- */

static void host_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct listener *l = w->data;
    struct host *h = l->host;
    (void)loop;
    (void)revents;

    int admitted = 0, refused = 0;
    for (int i = 0; i < ACCEPTS_PER_EVENT && !h->accept_paused; i++) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd == -1) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE) && h->spare_fd >= 0) {
                /* Out of descriptors: accept and drop one connection with the
                 * spare fd, so the listener does not spin on a full queue. */
                close(h->spare_fd);
                fd = accept(l->fd, NULL, NULL);
                if (fd >= 0)
                    host_refuse(h, fd, NULL, REFUSE_DESCRIPTORS);
                h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
            }
            break;
        }
        enum host_refusal why = host_admit(h, (struct sockaddr *)&ss);
        if (why != REFUSE_REASONS) {
            host_refuse(h, fd, (struct sockaddr *)&ss, why);
            refused++;
            continue;
        }
        admitted++;
        struct conn *c = conn_new(h, fd, false, false, (struct sockaddr *)&ss, len, l->ws);
        host_admitted(h, c);
        if (l->ws) { /* the upgrade comes first; the stream waits in c->out */
            char err[256];
            struct ws *ws = ws_server_new(h->ws, l->tls, err, sizeof(err));
            conn_set_ws(c, ws);
            if (ws == NULL) {
                LOGW(h->log, "%s: %s", CONN_ADDR_TEXT(c), err);
                conn_drop_output(c);
                conn_close(c, "cannot set up the WebSocket transport");
                continue;
            }
        }
        h->stats.conns_accepted++;
        h->stats.conns_accepted_ws += l->ws;
        /* At max-handshakes the listeners stop: the others wait in the kernel. */
    }
    if (refused >= ACCEPT_BACKOFF_REFUSALS && refused > admitted)
        host_accept_backoff(h);
    else if (admitted > 0)
        h->backoff_level = 0; /* the flood is over */
}

/* The WebSocket/TLS settings, made on first use. */
static struct ws_config *host_ws_config(struct host *h)
{
    if (h->ws == NULL)
        h->ws = xcalloc(1, sizeof(*h->ws));
    return h->ws;
}

static int sockaddr_for(const struct ma_dial *d, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (d->family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons(d->port);
        *len = sizeof(*a);
        return inet_pton(AF_INET, d->host, &a->sin_addr) == 1 ? 0 : -1;
    }
    if (d->family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(d->port);
        *len = sizeof(*a);
        return inet_pton(AF_INET6, d->host, &a->sin6_addr) == 1 ? 0 : -1;
    }
    return -1;
}

int host_listen(struct host *h, const char *text, char *err, size_t errlen)
{
    uint8_t ma[MULTIADDR_MAX];
    struct ma_dial d;
    struct sockaddr_storage ss;
    socklen_t len;
    int n, one = 1;

    if (h->nlisteners == HOST_MAX_LISTENERS) {
        snprintf(err, errlen, "too many listeners");
        return -1;
    }
    n = multiaddr_from_text(text, ma, sizeof(ma), err, errlen);
    if (n < 0 || multiaddr_parse_dial(ma, (size_t)n, &d, err, errlen) < 0)
        return -1;
    if (d.has_peer) {
        snprintf(err, errlen, "%s: a listen address has no /p2p/ part", text);
        return -1;
    }
    if (d.tls && (h->ws == NULL || h->ws->tls.server == NULL)) {
        snprintf(err, errlen, "%s: TLS needs a certificate and key (--tls-cert, --tls-key)", text);
        return -1;
    }
    /* What follows /tcp/P (/ws, /tls/ws, /wss) is kept for the printed address. */
    size_t tail = (size_t)n, off = 0;
    struct ma_component mc;
    while (multiaddr_next(ma, (size_t)n, &off, &mc) == 1) {
        if (mc.code == MA_TCP) {
            tail = off;
            break;
        }
    }
    size_t suffix_len = (size_t)n - tail;
    if (sockaddr_for(&d, &ss, &len) < 0) {
        snprintf(err, errlen, "%s: listen on an IP address, not a name", text);
        return -1;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "%s: socket: %s", text, strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (h->reuse_port)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    /* Accepted sockets inherit it: no setsockopt per connection. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) == -1 || listen(fd, 4096) == -1) {
        snprintf(err, errlen, "%s: %s", text, strerror(errno));
        close(fd);
        return -1;
    }
    len = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &len);
    struct listener *l = &h->listeners[h->nlisteners];
    int bn = multiaddr_from_sockaddr((struct sockaddr *)&ss, l->ma, sizeof(l->ma));
    if (bn < 0 || (size_t)bn + suffix_len > sizeof(l->ma)) {
        snprintf(err, errlen, "%s: cannot describe the bound address", text);
        close(fd);
        return -1;
    }
    memcpy(l->ma + bn, ma + tail, suffix_len);
    l->ma_len = (size_t)bn + suffix_len;
    l->ws = d.ws;
    l->tls = d.tls;
    if (d.ws)
        host_ws_config(h);
    l->host = h;
    l->fd = fd;
    ev_io_init(&l->io, host_on_accept, fd, EV_READ);
    l->io.data = l;
    /* Established connections' input goes first in each loop turn: a burst
     * of new connections then delays them by one turn at most. */
    ev_set_priority(&l->io, EV_MINPRI);
    if (!h->accept_paused)
        ev_io_start(h->loop, &l->io);
    h->nlisteners++;
    return 0;
}

int host_reserve_port(const char *text, int *fd, uint16_t *port, char *err, size_t errlen)
{
    uint8_t ma[MULTIADDR_MAX];
    struct ma_dial d;
    struct sockaddr_storage ss;
    socklen_t len;
    int n, one = 1;

    n = multiaddr_from_text(text, ma, sizeof(ma), err, errlen);
    if (n < 0 || multiaddr_parse_dial(ma, (size_t)n, &d, err, errlen) < 0)
        return -1;
    if (sockaddr_for(&d, &ss, &len) < 0) {
        snprintf(err, errlen, "%s: listen on an IP address, not a name", text);
        return -1;
    }
    int s = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s == -1) {
        snprintf(err, errlen, "%s: socket: %s", text, strerror(errno));
        return -1;
    }
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (ss.ss_family == AF_INET6)
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(s, (struct sockaddr *)&ss, len) == -1) {
        snprintf(err, errlen, "%s: %s", text, strerror(errno));
        close(s);
        return -1;
    }
    len = sizeof(ss);
    getsockname(s, (struct sockaddr *)&ss, &len);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    *fd = s;
    return 0;
}

int host_set_tls(struct host *h, const char *cert_file, const char *key_file, char *err,
                 size_t errlen)
{
    return tls_config_server(&host_ws_config(h)->tls, cert_file, key_file, err, errlen);
}

int host_ws_allow_origin(struct host *h, const char *origin, char *err, size_t errlen)
{
    return ws_config_allow_origin(host_ws_config(h), origin, err, errlen);
}

void host_dial_muxers(struct host *h, unsigned muxers)
{
    h->dial_muxers = (uint8_t)(muxers & (HOST_MUX_YAMUX | HOST_MUX_MPLEX));
}

void host_set_tls_verify(struct host *h, bool verify)
{
    host_ws_config(h)->tls.insecure = !verify;
}

int host_announce(struct host *h, const char *text, char *err, size_t errlen)
{
    if (h->nannounce == HOST_MAX_LISTENERS) {
        snprintf(err, errlen, "too many announce addresses");
        return -1;
    }
    int n = multiaddr_from_text(text, h->announce[h->nannounce], sizeof(h->announce[0]), err, errlen);
    if (n < 0)
        return -1;
    h->announce_len[h->nannounce++] = (size_t)n;
    return 0;
}

size_t host_addrs(const struct host *h, const uint8_t **addrs, size_t *lens, size_t cap)
{
    size_t n = 0;
    if (h->nannounce) {
        for (size_t i = 0; i < h->nannounce && n < cap; i++, n++) {
            addrs[n] = h->announce[i];
            lens[n] = h->announce_len[i];
        }
        return n;
    }
    for (size_t i = 0; i < h->nlisteners && n < cap; i++, n++) {
        addrs[n] = h->listeners[i].ma;
        lens[n] = h->listeners[i].ma_len;
    }
    return n;
}

void host_seal_record(struct host *h)
{
    struct record_addr ra[HOST_MAX_LISTENERS];
    const uint8_t *a[HOST_MAX_LISTENERS];
    size_t lens[HOST_MAX_LISTENERS];
    size_t n = host_addrs(h, a, lens, HOST_MAX_LISTENERS);

    for (size_t i = 0; i < n; i++) {
        ra[i].bytes = a[i];
        ra[i].len = lens[i];
    }
    buf_reset(&h->record);
    record_seal(&h->key, RECORD_STANDARD, (uint64_t)time(NULL), ra, n, &h->record);
}

/* ---- dialing ---------------------------------------------------------- */

/* The dialing side of /ws, /tls/ws, /wss; /tls/sni/NAME names the
 * certificate, else the host does. */
static struct ws *host_dial_ws(struct host *h, const uint8_t *ma, size_t n,
                               const struct ma_dial *d, char *err, size_t errlen)
{
    char name[256];
    size_t off = 0;
    struct ma_component mc;

    snprintf(name, sizeof(name), "%s", d->host);
    while (multiaddr_next(ma, n, &off, &mc) == 1) {
        if (mc.code == MA_SNI && mc.len < sizeof(name)) {
            memcpy(name, mc.value, mc.len);
            name[mc.len] = '\0';
        }
    }
    return ws_client_new(host_ws_config(h), d->host, d->port, d->tls, name, err, errlen);
}

struct conn *host_dial(struct host *h, const char *text, const struct conn_events *ev, void *user,
                       char *err, size_t errlen)
{
    uint8_t ma[MULTIADDR_MAX];
    struct ma_dial d;
    struct sockaddr_storage ss;
    socklen_t len = 0;

    int n = multiaddr_from_text(text, ma, sizeof(ma), err, errlen);
    if (n < 0 || multiaddr_parse_dial(ma, (size_t)n, &d, err, errlen) < 0)
        return NULL;
    if (sockaddr_for(&d, &ss, &len) < 0) {
        /* A DNS name: resolve it (blocking; dialing is for client tools). */
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = d.family}, *res;
        char port[8];
        snprintf(port, sizeof(port), "%u", d.port);
        int rc = getaddrinfo(d.host, port, &hints, &res);
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", d.host, gai_strerror(rc));
            return NULL;
        }
        memcpy(&ss, res->ai_addr, res->ai_addrlen);
        len = res->ai_addrlen;
        freeaddrinfo(res);
    }
    struct ws *ws = NULL;
    if (d.ws && (ws = host_dial_ws(h, ma, (size_t)n, &d, err, errlen)) == NULL)
        return NULL;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        ws_free(ws);
        return NULL;
    }
    bool connecting = false;
    if (connect(fd, (struct sockaddr *)&ss, len) == -1) {
        if (errno != EINPROGRESS) {
            snprintf(err, errlen, "%s: %s", text, strerror(errno));
            close(fd);
            ws_free(ws);
            return NULL;
        }
        connecting = true;
    }
    struct conn *c = conn_new(h, fd, true, connecting, (struct sockaddr *)&ss, len, ws != NULL);
    if (ws) /* before the first flush: the stream waits for the upgrade */
        conn_set_ws(c, ws);
    conn_set_events(c, ev, user);
    if (d.has_peer) {
        if (peerid_from_bytes(&c->nego->expected, d.peer, d.peer_len) == 0)
            c->nego->has_expected = true;
    }
    return c;
}

/* ---- shutdown --------------------------------------------------------- */

static void host_on_drain_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct host *h = w->data;
    (void)revents;
    LOGW(h->log, "drain: %zu connections still open after the grace period", h->nconns);
    ev_break(loop, EVBREAK_ALL);
}

void host_drain(struct host *h, double grace)
{
    struct conn *c, *next;

    if (h->draining)
        return;
    h->draining = true;
    host_listeners_update(h);
    /* Closing moves a connection to the end of pending: each is seen once
     * by stopping at the list's last one as it was. */
    struct conn *last = h->pending ? h->pending->tprev : NULL;
    for (c = h->pending; c; c = next) {
        next = c->tnext;
        bool end = c == last;
        conn_mux_goaway(c);
        conn_close(c, "shutting down");
        if (end)
            break;
    }
    for (c = h->established; c; c = next) { /* none of these is closing yet */
        next = c->tnext;
        conn_mux_goaway(c);
        conn_close(c, "shutting down");
    }
    /* The expired ones are closing with their output dropped: gone at the
     * next flush, nothing more to tell them. */
    ev_timer_init(&h->drain_timer, host_on_drain_timeout, grace, 0);
    h->drain_timer.data = h;
    ev_timer_start(h->loop, &h->drain_timer);
}
