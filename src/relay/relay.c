/* Circuit relay v2 hop and stop (see relay.h). One struct relay_circuit per
 * hop stream: it reads the one request the stream carries, and for a
 * CONNECT it owns the stop stream to the target too and, once the target
 * says OK, moves bytes between the two. */
#include "relay/relay.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <uthash.h>

#include "base/mem.h"
#include "base/varint.h"
#include "relay/relay_wire.h"

#define RELAY_SWEEP_EVERY 30.0   /* seconds between sweeps of expired reservations */
#define RELAY_MA_P2P 421         /* multiaddr protocol code of /p2p */

const char *const relay_refusal_names[RELAY_REFUSE_REASONS] = {
    [RELAY_REFUSE_RESERVATIONS] = "reservations",
    [RELAY_REFUSE_PEER_RESERVATIONS] = "peer_reservations",
    [RELAY_REFUSE_IP_RESERVATIONS] = "ip_reservations",
    [RELAY_REFUSE_NO_RESERVATION] = "no_reservation",
    [RELAY_REFUSE_CIRCUITS] = "circuits",
    [RELAY_REFUSE_SELF] = "self",
    [RELAY_REFUSE_CONNECTION_FAILED] = "connection_failed",
    [RELAY_REFUSE_MALFORMED] = "malformed",
    [RELAY_REFUSE_UNEXPECTED] = "unexpected",
    [RELAY_REFUSE_MEMORY] = "memory",
};

const char *const relay_end_names[RELAY_END_REASONS] = {
    [RELAY_END_CLOSED] = "closed",
    [RELAY_END_DURATION] = "duration",
    [RELAY_END_DATA] = "data",
};

/* One reservation: a peer's slot on one of its connections. */
struct relay_rsvp {
    struct relay_rsvp *next;     /* the peer's list */
    struct conn *conn;
    struct relay_ip *ip;
    double expire;               /* ev_now() time */
    bool unlimited;              /* the access rules lift the limits */
};

/* A peer with reservations or circuits (freed once it has neither). Peer
 * ids are chosen by peers: the table is hashed with a secret key. */
struct relay_peer {
    UT_hash_handle hh;
    struct peer_id id;
    struct relay_rsvp *rsvps;
    size_t nrsvps;
    size_t ncircuits;            /* as source or as target */
};

struct relay_ip {
    UT_hash_handle hh;
    uint8_t key[17];             /* host_source_key */
    size_t n;                    /* reservations from it */
};

/* One end of a circuit. */
struct relay_side {
    struct stream *st;           /* NULL once gone (or never opened) */
    struct buf pend;             /* read from st, not yet taken by the other side */
    uint64_t bytes;              /* read from st in all */
    bool eof;                    /* st's peer half-closed */
    bool fin_passed;             /* ... and the other side was half-closed after pend */
};

enum relay_phase {
    PHASE_REQUEST,   /* reading the hop request */
    PHASE_STOP,      /* the stop CONNECT is out, waiting for the target's answer */
    PHASE_OPEN,      /* spliced */
    PHASE_DONE,      /* answered (RESERVE, refusal) or ended: waiting for the streams to go */
};

struct relay_circuit {
    struct relay *r;
    enum relay_phase phase;
    bool opened;                 /* reached PHASE_OPEN: its end is counted */
    bool end_counted;
    struct relay_side side[2];   /* 0: the hop stream (source), 1: the stop stream (target) */
    struct buf msg;              /* the message being read: hop request, then stop answer */
    struct relay_peer *src, *dst; /* counted in their ncircuits while set */
    struct relay_limit limit;
    ev_timer timer;              /* the stop answer's deadline, then the duration limit */
};

_Static_assert(sizeof(((struct relay *)0)->hash_key) == crypto_shorthash_KEYBYTES, "hash key size");

void relay_config_default(struct relay_config *c)
{
    /* go-libp2p's relay defaults (resources.go): the "limited relay". */
    c->enabled = false;
    c->max_reservations = 128;
    c->max_reservations_per_peer = 4;
    c->max_reservations_per_ip = 8;
    c->reservation_ttl = 3600;
    c->max_circuits_per_peer = 16;
    c->circuit_duration = 120;
    c->circuit_data = 128 * 1024;
}

/* ---- tables ------------------------------------------------------------- */

static unsigned relay__hash(const struct relay *r, const void *p, size_t n)
{
    uint8_t h[crypto_shorthash_BYTES];
    unsigned v;
    crypto_shorthash(h, p, n, r->hash_key);
    memcpy(&v, h, sizeof v);
    return v;
}

static struct relay_peer *relay__peer(struct relay *r, const struct peer_id *id, bool create)
{
    struct relay_peer *p;
    unsigned hv = relay__hash(r, id->b, id->len);
    HASH_FIND_BYHASHVALUE(hh, r->peers, id->b, id->len, hv, p);
    if (p || !create)
        return p;
    p = xcalloc(1, sizeof *p);
    p->id = *id;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, r->peers, p->id.b, p->id.len, hv, p);
    return p;
}

static void relay__peer_release(struct relay *r, struct relay_peer *p)
{
    if (p->nrsvps || p->ncircuits)
        return;
    HASH_DELETE(hh, r->peers, p);
    free(p);
}

static struct relay_ip *relay__ip(struct relay *r, const struct conn *c, bool create)
{
    uint8_t key[17];
    struct relay_ip *ip;
    host_source_key(&c->addr.sa, key);
    unsigned hv = relay__hash(r, key, sizeof key);
    HASH_FIND_BYHASHVALUE(hh, r->ips, key, sizeof key, hv, ip);
    if (ip || !create)
        return ip;
    ip = xcalloc(1, sizeof *ip);
    memcpy(ip->key, key, sizeof key);
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, r->ips, ip->key, sizeof ip->key, hv, ip);
    return ip;
}

/* Unlinks *pp (a reservation of p) and frees it. */
static void relay__rsvp_drop(struct relay *r, struct relay_peer *p, struct relay_rsvp **pp)
{
    struct relay_rsvp *v = *pp;
    *pp = v->next;
    p->nrsvps--;
    r->stats.reservations--;
    if (--v->ip->n == 0) {
        HASH_DELETE(hh, r->ips, v->ip);
        free(v->ip);
    }
    free(v);
}

/* Drops p's reservations that expired (or, with conn, those on conn). */
static void relay__peer_prune(struct relay *r, struct relay_peer *p, double now,
                              const struct conn *conn)
{
    struct relay_rsvp **pp = &p->rsvps;
    while (*pp) {
        if ((*pp)->expire <= now || (*pp)->conn == conn)
            relay__rsvp_drop(r, p, pp);
        else
            pp = &(*pp)->next;
    }
}

static void relay__sweep_all(struct relay *r)
{
    struct relay_peer *p, *tmp;
    double now = ev_now(r->host->loop);
    HASH_ITER(hh, r->peers, p, tmp) {
        relay__peer_prune(r, p, now, NULL);
        relay__peer_release(r, p);
    }
}

static void relay__on_sweep(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    relay__sweep_all(w->data);
}

/* A reservation's connection went: the reservation goes with it. */
static void relay__on_conn_closed(void *ctx, struct conn *c)
{
    struct relay *r = ctx;
    struct relay_peer *p = relay__peer(r, conn_peer(c), false);
    if (p == NULL)
        return;
    relay__peer_prune(r, p, -INFINITY, c);
    relay__peer_release(r, p);
}

/* ---- answers ------------------------------------------------------------ */

static bool relay__unlimited(const struct relay *r, const struct peer_id *id)
{
    return r->policy.unlimited && r->policy.unlimited(r->policy.ctx, id);
}

static struct relay_limit relay__limit(const struct relay *r, bool unlimited)
{
    struct relay_limit l = {0, 0};
    if (unlimited)
        return l;
    double d = r->cfg.circuit_duration;
    l.duration = d <= 0 ? 0 : d >= UINT32_MAX ? UINT32_MAX : (uint32_t)ceil(d);
    l.data = r->cfg.circuit_data;
    return l;
}

/* Writes a hop STATUS on the source's stream. */
static void relay__hop_answer(struct relay_circuit *c, enum relay_status st,
                              const struct relay_limit *limit, const struct relay_grant *grant)
{
    struct buf out = BUF_INIT;
    relay_wire_hop_status(&out, st, limit, grant);
    if (c->side[0].st)
        stream_write(c->side[0].st, buf_head(&out), buf_size(&out));
    buf_free(&out);
}

/* Answers the request with a refusal and closes our side of the stream. */
static void relay__refuse(struct relay_circuit *c, enum relay_status st, enum relay_refusal why)
{
    struct relay *r = c->r;
    r->stats.refused[why]++;
    if (c->side[0].st)
        LOGD(r->host->log, "relay: refused %s from %s: %s", c->phase == PHASE_REQUEST ? "request" : "circuit",
             CONN_PEER_TEXT(stream_conn(c->side[0].st)), relay_refusal_names[why]);
    relay__hop_answer(c, st, NULL, NULL);
    if (c->side[0].st)
        stream_close(c->side[0].st);
    c->phase = PHASE_DONE;
}

/* The relay's addresses for a reservation: what the host advertises, each
 * with /p2p/RELAY, leaving out unspecified ones (0.0.0.0, ::) - the
 * client adds the address it dialed anyway. */
static size_t relay__addrs(const struct relay *r, uint8_t out[][96], size_t *lens)
{
    const uint8_t *addrs[HOST_MAX_LISTENERS];
    size_t alens[HOST_MAX_LISTENERS], k = 0;
    static const uint8_t any4[5] = {0x04, 0, 0, 0, 0};
    static const uint8_t any6[17] = {0x29};
    const struct peer_id *id = &r->host->id;

    size_t n = host_addrs(r->host, addrs, alens, HOST_MAX_LISTENERS);
    for (size_t i = 0; i < n; i++) {
        if ((alens[i] >= sizeof any4 && memcmp(addrs[i], any4, sizeof any4) == 0) ||
            (alens[i] >= sizeof any6 && memcmp(addrs[i], any6, sizeof any6) == 0))
            continue;
        size_t need = alens[i] + 2 + 1 + id->len;
        if (need > 96)
            continue;
        uint8_t *o = out[k];
        memcpy(o, addrs[i], alens[i]);
        size_t m = alens[i];
        m += uvarint_put(o + m, RELAY_MA_P2P);
        m += uvarint_put(o + m, id->len);
        memcpy(o + m, id->b, id->len);
        lens[k++] = m + id->len;
    }
    return k;
}

/* ---- RESERVE -------------------------------------------------------------- */

static void relay__reserve(struct relay_circuit *c)
{
    struct relay *r = c->r;
    struct conn *conn = stream_conn(c->side[0].st);
    double now = ev_now(r->host->loop);

    if (!host_admit_request(r->host)) {
        relay__refuse(c, RELAY_RESERVATION_REFUSED, RELAY_REFUSE_MEMORY);
        return;
    }
    struct relay_peer *p = relay__peer(r, conn_peer(conn), true);
    relay__peer_prune(r, p, now, NULL);
    struct relay_rsvp *v = p->rsvps;
    while (v && v->conn != conn)
        v = v->next;
    if (v == NULL) { /* a new one, not a refresh */
        enum relay_refusal why = RELAY_REFUSE_REASONS;
        if (r->stats.reservations >= r->cfg.max_reservations) {
            relay__sweep_all(r);
            p = relay__peer(r, conn_peer(conn), true); /* the sweep may have freed it */
        }
        struct relay_ip *ip = relay__ip(r, conn, false); /* after the sweep: it may free it */
        if (p->nrsvps >= r->cfg.max_reservations_per_peer)
            why = RELAY_REFUSE_PEER_RESERVATIONS;
        else if (ip && ip->n >= r->cfg.max_reservations_per_ip)
            why = RELAY_REFUSE_IP_RESERVATIONS;
        else if (r->stats.reservations >= r->cfg.max_reservations)
            why = RELAY_REFUSE_RESERVATIONS;
        if (why != RELAY_REFUSE_REASONS) {
            relay__peer_release(r, p);
            relay__refuse(c, RELAY_RESERVATION_REFUSED, why);
            return;
        }
        v = xcalloc(1, sizeof *v);
        v->conn = conn;
        v->ip = relay__ip(r, conn, true);
        v->ip->n++;
        v->next = p->rsvps;
        p->rsvps = v;
        p->nrsvps++;
        r->stats.reservations++;
    }
    v->expire = now + r->cfg.reservation_ttl;
    v->unlimited = relay__unlimited(r, conn_peer(conn));
    r->stats.reservations_granted++;

    uint8_t addrs[HOST_MAX_LISTENERS][96];
    const uint8_t *aptr[HOST_MAX_LISTENERS];
    size_t lens[HOST_MAX_LISTENERS];
    size_t n = relay__addrs(r, addrs, lens);
    for (size_t i = 0; i < n; i++)
        aptr[i] = addrs[i];
    uint64_t expire = (uint64_t)v->expire;
    struct buf voucher = BUF_INIT;
    relay_wire_voucher(&voucher, &r->host->key, &r->host->id, conn_peer(conn), expire);
    struct relay_grant g = {.expire = expire, .addrs = aptr, .addr_lens = lens, .naddrs = n,
                            .voucher = buf_head(&voucher), .voucher_len = buf_size(&voucher)};
    struct relay_limit limit = relay__limit(r, v->unlimited);
    relay__hop_answer(c, RELAY_OK, &limit, &g);
    buf_free(&voucher);
    LOGD(r->host->log, "relay: reservation for %s until %" PRIu64 "%s", CONN_PEER_TEXT(conn), expire,
         v->unlimited ? " (no limits)" : "");
    stream_close(c->side[0].st);
    c->phase = PHASE_DONE;
}

/* ---- CONNECT ------------------------------------------------------------ */

static void relay__circuit_hold(struct relay_circuit *c, int i)
{
    struct relay_side *s = &c->side[i];
    if (s->st)
        stream_hold_input(s->st, buf_size(&s->pend), buf_size(&s->pend));
}

static void relay__connect(struct relay_circuit *c, const struct peer_id *target)
{
    struct relay *r = c->r;
    struct conn *conn = stream_conn(c->side[0].st);
    double now = ev_now(r->host->loop);

    if (peerid_eq(target, conn_peer(conn))) {
        relay__refuse(c, RELAY_PERMISSION_DENIED, RELAY_REFUSE_SELF);
        return;
    }
    if (!host_admit_request(r->host)) {
        relay__refuse(c, RELAY_RESOURCE_LIMIT_EXCEEDED, RELAY_REFUSE_MEMORY);
        return;
    }
    struct relay_peer *dst = relay__peer(r, target, false);
    struct relay_rsvp *v = NULL;
    if (dst) {
        relay__peer_prune(r, dst, now, NULL);
        /* The newest reservation whose connection still takes streams. */
        for (struct relay_rsvp *x = dst->rsvps; x && !v; x = x->next)
            if (!x->conn->closing)
                v = x;
    }
    if (v == NULL) {
        if (dst)
            relay__peer_release(r, dst);
        relay__refuse(c, RELAY_NO_RESERVATION, RELAY_REFUSE_NO_RESERVATION);
        return;
    }
    struct relay_peer *src = relay__peer(r, conn_peer(conn), true);
    if (src->ncircuits >= r->cfg.max_circuits_per_peer ||
        dst->ncircuits >= r->cfg.max_circuits_per_peer) {
        relay__peer_release(r, src);
        relay__refuse(c, RELAY_RESOURCE_LIMIT_EXCEEDED, RELAY_REFUSE_CIRCUITS);
        return;
    }
    c->limit = relay__limit(r, v->unlimited || relay__unlimited(r, conn_peer(conn)));
    c->src = src;
    c->dst = dst;
    src->ncircuits++;
    dst->ncircuits++;
    r->stats.circuits++;
    c->side[1].st = conn_open_stream(v->conn, &r->stop, c);
    if (c->side[1].st == NULL) { /* counted until the circuit is freed */
        relay__refuse(c, RELAY_CONNECTION_FAILED, RELAY_REFUSE_CONNECTION_FAILED);
        return;
    }
    c->phase = PHASE_STOP;
    ev_timer_set(&c->timer, RELAY_STOP_TIMEOUT, 0);
    ev_timer_start(r->host->loop, &c->timer);
}

/* ---- splicing ----------------------------------------------------------- */

static void relay__circuit_end(struct relay_circuit *c, enum relay_end why)
{
    struct relay *r = c->r;
    if (c->opened && !c->end_counted) {
        r->stats.ended[why]++;
        c->end_counted = true;
    }
    c->phase = PHASE_DONE;
    ev_timer_stop(r->host->loop, &c->timer);
    for (int i = 0; i < 2; i++) {
        buf_free(&c->side[i].pend);
        relay__circuit_hold(c, i);
        if (c->side[i].st)
            stream_reset(c->side[i].st);
    }
}

/* Moves what side `from` sent to the other side while it takes it; once
 * all is across after from's half-close, half-closes the other side. */
static void relay__pump(struct relay_circuit *c, int from)
{
    struct relay_side *a = &c->side[from], *b = &c->side[1 - from];
    size_t w;

    if (b->st == NULL)
        return;
    while (buf_size(&a->pend) && (w = stream_writable(b->st)) > 0) {
        size_t k = w < buf_size(&a->pend) ? w : buf_size(&a->pend);
        stream_write(b->st, buf_head(&a->pend), k);
        buf_consume(&a->pend, k);
        c->r->stats.bytes_relayed += k;
    }
    if (buf_size(&a->pend) == 0)
        buf_free(&a->pend);
    relay__circuit_hold(c, from);
    if (buf_size(&a->pend) == 0 && a->eof && !a->fin_passed && b->st) {
        stream_close(b->st);
        a->fin_passed = true;
    }
}

/* Bytes from side `from` of an open circuit. */
static void relay__input(struct relay_circuit *c, int from, const uint8_t *d, size_t n)
{
    struct relay_side *a = &c->side[from], *b = &c->side[1 - from];
    bool over = false;

    if (b->st == NULL) { /* the other side is gone: nowhere to send it */
        relay__circuit_end(c, RELAY_END_CLOSED);
        return;
    }
    if (c->limit.data && a->bytes + n > c->limit.data) {
        n = (size_t)(c->limit.data - a->bytes); /* up to the limit, then the circuit is cut */
        over = true;
    }
    a->bytes += n;
    if (buf_size(&a->pend) == 0 && n) {
        size_t w = stream_writable(b->st);
        size_t k = w < n ? w : n;
        if (k) {
            stream_write(b->st, d, k);
            c->r->stats.bytes_relayed += k;
            d += k;
            n -= k;
        }
    }
    if (n)
        buf_append(&a->pend, d, n);
    relay__pump(c, from);
    if (over)
        relay__circuit_end(c, RELAY_END_DATA);
}

/* The target said OK: the source hears it, and the streams are spliced. */
static void relay__open(struct relay_circuit *c)
{
    struct relay *r = c->r;
    ev_timer_stop(r->host->loop, &c->timer);
    relay__hop_answer(c, RELAY_OK, &c->limit, NULL);
    c->phase = PHASE_OPEN;
    c->opened = true;
    r->stats.circuits_opened++;
    LOGD(r->host->log, "relay: circuit %s -> %s open", CONN_PEER_TEXT(stream_conn(c->side[0].st)),
         CONN_PEER_TEXT(stream_conn(c->side[1].st)));
    if (c->limit.duration) {
        ev_timer_set(&c->timer, c->limit.duration, 0);
        ev_timer_start(r->host->loop, &c->timer);
    }
    /* What either side sent early goes first (it counts against the data limit). */
    for (int i = 0; i < 2; i++) {
        struct buf early = c->side[i].pend;
        buf_init(&c->side[i].pend);
        relay__circuit_hold(c, i);
        if (c->phase == PHASE_OPEN && buf_size(&early))
            relay__input(c, i, buf_head(&early), buf_size(&early));
        buf_free(&early);
    }
    for (int i = 0; i < 2 && c->phase == PHASE_OPEN; i++)
        if (c->side[i].eof)
            relay__pump(c, i);
}

static void relay__on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct relay_circuit *c = w->data;
    (void)loop;
    (void)revents;
    if (c->phase == PHASE_STOP) {
        if (c->side[1].st)
            stream_reset(c->side[1].st);
        relay__refuse(c, RELAY_CONNECTION_FAILED, RELAY_REFUSE_CONNECTION_FAILED);
    } else if (c->phase == PHASE_OPEN) {
        relay__circuit_end(c, RELAY_END_DURATION);
    }
}

static void relay__circuit_free(struct relay_circuit *c)
{
    struct relay *r = c->r;
    if (c->opened && !c->end_counted)
        r->stats.ended[RELAY_END_CLOSED]++;
    ev_timer_stop(r->host->loop, &c->timer);
    if (c->src) {
        c->src->ncircuits--;
        c->dst->ncircuits--;
        r->stats.circuits--;
        relay__peer_release(r, c->src);
        relay__peer_release(r, c->dst);
    }
    buf_free(&c->msg);
    buf_free(&c->side[0].pend);
    buf_free(&c->side[1].pend);
    free(c);
}

/* A stream of the circuit is gone. */
static void relay__gone(struct relay_circuit *c, int i)
{
    struct relay_side *a = &c->side[i], *b = &c->side[1 - i];

    a->st = NULL;
    if (c->phase == PHASE_STOP) {
        if (i == 1)
            relay__refuse(c, RELAY_CONNECTION_FAILED, RELAY_REFUSE_CONNECTION_FAILED);
        else if (b->st)
            stream_reset(b->st);
        c->phase = PHASE_DONE;
    } else if (c->phase == PHASE_OPEN) {
        /* It ended in order (its FIN, and ours after the other side's) only
         * if both halves closed: then what it sent still goes across. */
        if (a->eof && b->fin_passed)
            relay__pump(c, i);
        else
            relay__circuit_end(c, RELAY_END_CLOSED);
    }
    if (c->side[0].st == NULL && c->side[1].st == NULL)
        relay__circuit_free(c);
}

/* ---- hop ---------------------------------------------------------------- */

static int relay__hop_open(struct stream *s)
{
    struct relay *r = s->proto->arg;
    struct relay_circuit *c = xcalloc(1, sizeof *c);
    c->r = r;
    c->side[0].st = s;
    ev_timer_init(&c->timer, relay__on_timer, 0, 0);
    c->timer.data = c;
    s->state = c;
    return 0;
}

static void relay__hop_request(struct relay_circuit *c, const uint8_t *d, size_t n)
{
    const uint8_t *msg;
    size_t len, used;
    struct relay_hop_req req;

    buf_append(&c->msg, d, n);
    int rc = relay_wire_frame(buf_head(&c->msg), buf_size(&c->msg), RELAY_MAX_MESSAGE, &msg, &len, &used);
    if (rc == 0)
        return;
    if (rc < 0 || relay_wire_hop(msg, len, &req) < 0) {
        buf_free(&c->msg);
        relay__refuse(c, RELAY_MALFORMED_MESSAGE, RELAY_REFUSE_MALFORMED);
        return;
    }
    if (req.type == RELAY_HOP_RESERVE) {
        relay__reserve(c);
    } else if (req.type == RELAY_HOP_CONNECT) {
        relay__connect(c, &req.peer);
        /* Bytes after the CONNECT are the source's first relayed bytes. */
        if (c->phase == PHASE_STOP && buf_size(&c->msg) > used) {
            buf_append(&c->side[0].pend, buf_head(&c->msg) + used, buf_size(&c->msg) - used);
            relay__circuit_hold(c, 0);
        }
    } else {
        relay__refuse(c, RELAY_UNEXPECTED_MESSAGE, RELAY_REFUSE_UNEXPECTED);
    }
    buf_free(&c->msg);
}

static void relay__hop_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct relay_circuit *c = s->state;
    switch (c->phase) {
    case PHASE_REQUEST:
        relay__hop_request(c, d, n);
        break;
    case PHASE_STOP: /* early bytes: held, withheld from the source's window */
        buf_append(&c->side[0].pend, d, n);
        relay__circuit_hold(c, 0);
        break;
    case PHASE_OPEN:
        relay__input(c, 0, d, n);
        break;
    case PHASE_DONE:
        break; /* after an answer: ignored */
    }
}

static void relay__eof(struct relay_circuit *c, int i)
{
    c->side[i].eof = true;
    if (c->phase == PHASE_OPEN) {
        relay__pump(c, i);
    } else if (c->phase == PHASE_REQUEST) {
        relay__refuse(c, RELAY_MALFORMED_MESSAGE, RELAY_REFUSE_MALFORMED);
    } else if (c->phase == PHASE_DONE && c->side[i].st) {
        stream_close(c->side[i].st);
    }
}

static void relay__hop_eof(struct stream *s) { relay__eof(s->state, 0); }
static void relay__hop_close(struct stream *s) { relay__gone(s->state, 0); }

static void relay__hop_writable(struct stream *s)
{
    struct relay_circuit *c = s->state;
    if (c->phase == PHASE_OPEN)
        relay__pump(c, 1);
}

/* ---- stop ----------------------------------------------------------------- */

static int relay__stop_open(struct stream *s)
{
    struct relay_circuit *c = s->state;
    struct buf out = BUF_INIT;
    relay_wire_stop_connect(&out, &c->src->id, &c->limit);
    stream_write(s, buf_head(&out), buf_size(&out));
    buf_free(&out);
    return 0;
}

static void relay__stop_answer(struct relay_circuit *c, const uint8_t *d, size_t n)
{
    const uint8_t *msg;
    size_t len, used;

    buf_append(&c->msg, d, n);
    int rc = relay_wire_frame(buf_head(&c->msg), buf_size(&c->msg), RELAY_MAX_MESSAGE, &msg, &len, &used);
    if (rc == 0)
        return;
    if (rc < 0 || relay_wire_stop_status(msg, len) != RELAY_OK) {
        buf_free(&c->msg);
        stream_reset(c->side[1].st);
        relay__refuse(c, RELAY_CONNECTION_FAILED, RELAY_REFUSE_CONNECTION_FAILED);
        return;
    }
    /* Bytes after the answer are the target's first relayed bytes. */
    buf_append(&c->side[1].pend, buf_head(&c->msg) + used, buf_size(&c->msg) - used);
    buf_free(&c->msg);
    relay__open(c);
}

static void relay__stop_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct relay_circuit *c = s->state;
    if (c->phase == PHASE_STOP)
        relay__stop_answer(c, d, n);
    else if (c->phase == PHASE_OPEN)
        relay__input(c, 1, d, n);
}

static void relay__stop_eof(struct stream *s) { relay__eof(s->state, 1); }
static void relay__stop_close(struct stream *s) { relay__gone(s->state, 1); }

static void relay__stop_writable(struct stream *s)
{
    struct relay_circuit *c = s->state;
    if (c->phase == PHASE_OPEN)
        relay__pump(c, 0);
}

/* ---- relay -------------------------------------------------------------- */

void relay_init(struct relay *r, struct host *h, const struct relay_config *cfg)
{
    memset(r, 0, sizeof *r);
    r->host = h;
    r->cfg = *cfg;
    randombytes_buf(r->hash_key, sizeof r->hash_key);
    r->hop = (struct protocol){.id = RELAY_HOP_ID, .on_open = relay__hop_open,
                               .on_data = relay__hop_data, .on_eof = relay__hop_eof,
                               .on_writable = relay__hop_writable, .on_close = relay__hop_close,
                               .arg = r};
    r->stop = (struct protocol){.id = RELAY_STOP_ID, .on_open = relay__stop_open,
                                .on_data = relay__stop_data, .on_eof = relay__stop_eof,
                                .on_writable = relay__stop_writable, .on_close = relay__stop_close,
                                .arg = r};
    h->on_conn_closed = relay__on_conn_closed;
    h->conn_closed_ctx = r;
    ev_timer_init(&r->sweep, relay__on_sweep, RELAY_SWEEP_EVERY, RELAY_SWEEP_EVERY);
    r->sweep.data = r;
    ev_timer_start(h->loop, &r->sweep);
    ev_unref(h->loop); /* it keeps no loop alive */
}

void relay_free(struct relay *r)
{
    struct relay_peer *p, *ptmp;
    struct relay_ip *ip, *itmp;

    ev_ref(r->host->loop);
    ev_timer_stop(r->host->loop, &r->sweep);
    HASH_ITER(hh, r->peers, p, ptmp) {
        while (p->rsvps)
            relay__rsvp_drop(r, p, &p->rsvps);
        HASH_DELETE(hh, r->peers, p);
        free(p);
    }
    HASH_ITER(hh, r->ips, ip, itmp) {
        HASH_DELETE(hh, r->ips, ip);
        free(ip);
    }
}
