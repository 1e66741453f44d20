/* discover-flood: the attacker registers 1,000 signed records of ~1.7 KB (10
 * peers of its own, 100 records each in namespaces under the peer's id, each
 * record signed by that peer; one peer could hold 1,000 but may only make
 * them at its registration rate), so that one DISCOVER(ns="", limit=1000) is
 * answered with ~1 MiB. Then, on one connection and never reading again, it
 * asks for far more than the daemon may hold for it:
 *   discover-flood    one stream, +4 GiB of yamux window granted, 4,000
 *                     DISCOVERs pipelined (~40 KB asking for ~4 GB);
 *   discover-streams  255 streams with the default window, 2 DISCOVERs each;
 *   mplex-flood       the attack connection speaks mplex, which has no
 *                     window: 32 streams, each sent 32,000 DISCOVERs
 *                     (~320 KB, past what a yamux window would let through;
 *                     the daemon resets such a stream), ~10 MB in all.
 * Bound: the daemon stays up, its RSS grows < 64 MB, and the well-behaved
 * client is served as usual. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attack.h"
#include "base/mem.h"
#include "rendezvous/service.h"

#define DF_RECORDS 1000
#define DF_PEERS 10             /* 100 records each: within a peer's registration burst */
#define DF_REQUESTS 4000
#define DF_STREAMS 255
#define DF_MPLEX_STREAMS 32
#define DF_MPLEX_PER_STREAM 32000

enum df_mode { DF_ONE, DF_MANY, DF_MPLEX };

struct df;

/* One of the attacker's identities; peers[0]'s connection is the attack. */
struct df_peer {
    struct df *d;
    struct host host;
    struct conn *c;
    struct req_stream reg;
    struct buf env;
    size_t sent, answered;
    bool closed;
};

struct df {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct df_peer peers[DF_PEERS];
    struct req_stream *streams;   /* the 255 of discover-streams */
    size_t nstreams, opened;
    enum df_mode mode;
};

#define DF_PER_PEER (DF_RECORDS / DF_PEERS)

/* The next REGISTER (a few in flight, within our own stream's limit). */
static void df_register(struct df_peer *p)
{
    struct buf b = BUF_INIT;
    char ns[128];
    snprintf(ns, sizeof(ns), "%s/%zu", p->host.id_text, p->sent++);
    rdv1_register(&b, ns, &p->env, 7200);
    req_stream_send(&p->reg, &b);
    buf_free(&b);
}

static void df_reg_msg(struct req_stream *r, const uint8_t *m, size_t n)
{
    struct df_peer *p = r->user;
    int status;
    size_t nregs;
    if (p->answered >= DF_PER_PEER)
        return; /* DISCOVER answers, read before the attack starts: ignored */
    if (rdv1_answer(m, n, false, &status, &nregs, NULL, NULL) != 0 || status != 0)
        attack_fail(p->d->x, "REGISTER %zu of an attacker's peer refused (status %d)", p->answered,
                    status);
    p->answered++;
    if (p->sent < DF_PER_PEER)
        df_register(p);
}

static void df_reg_open(struct req_stream *r)
{
    struct df_peer *p = r->user;
    for (int i = 0; i < 32; i++)
        df_register(p);
}

static void df_stream_open(struct req_stream *r)
{
    struct df *d = r->user;
    d->opened++;
}

static void df_ignore(struct req_stream *r, const uint8_t *m, size_t n)
{
    (void)r;
    (void)m;
    (void)n;
}

static void df_ready(struct conn *c, void *user)
{
    struct df_peer *p = user;
    p->reg.on_msg = df_reg_msg;
    p->reg.on_open = df_reg_open;
    if (req_stream_open(&p->reg, c, RDV1_PROTOCOL_ID, p) < 0)
        attack_fail(p->d->x, "no stream");
}

static void df_closed(struct conn *c, void *user, const char *reason)
{
    struct df_peer *p = user;
    (void)c;
    (void)reason;
    p->c = NULL;
    p->closed = true;
}

static const struct conn_events df_events = {.on_ready = df_ready, .on_closed = df_closed};

static bool df_registered(void *arg)
{
    struct df *d = arg;
    for (int i = 0; i < DF_PEERS; i++)
        if (d->peers[i].answered < DF_PER_PEER && !d->peers[i].closed)
            return false;
    return true;
}

static bool df_streams_open(void *arg)
{
    struct df *d = arg;
    return d->opened == d->nstreams || d->peers[0].closed;
}

static int df_role(struct attack_ctx *x, enum df_mode mode)
{
    struct df *d = xcalloc(1, sizeof(*d));
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    d->x = x;
    d->mode = mode;
    d->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&d->log, LOG_ERROR, LOG_TEXT, stderr);
    for (int i = 0; i < DF_PEERS; i++) {
        struct df_peer *p = &d->peers[i];
        p->d = d;
        peer_host_init(&p->host, d->loop, &d->log);
        peer_envelope(&p->host.key, true, &p->env);
        if (mode == DF_MPLEX && i == 0)
            host_dial_muxers(&p->host, HOST_MUX_MPLEX);
        p->c = peer_dial(&p->host, x, NET_ATTACKER, 0, &df_events, p);
        if (p->c == NULL) {
            rc = attack_fail(x, "cannot dial");
            goto out;
        }
    }
    size_t answered = 0;
    bool lost = false;
    attack_loop_until(x, d->loop, df_registered, d, AP_STOP, 120);
    for (int i = 0; i < DF_PEERS; i++) {
        answered += d->peers[i].answered;
        lost = lost || d->peers[i].closed;
    }
    if (answered < DF_RECORDS || lost) {
        rc = attack_fail(x, "the attacker's 1,000 registrations were not all answered (%zu)",
                         answered);
        goto out;
    }
    struct df_peer *a = &d->peers[0]; /* the attack connection */
    if (mode == DF_MPLEX && !a->c->mplex) {
        rc = attack_fail(x, "the daemon did not take mplex");
        goto out;
    }
    if (mode != DF_ONE) {
        /* and the registration stream */
        d->nstreams = (mode == DF_MANY ? DF_STREAMS : DF_MPLEX_STREAMS) - 1;
        d->streams = xcalloc(d->nstreams, sizeof(*d->streams));
        for (size_t i = 0; i < d->nstreams; i++) {
            d->streams[i].on_msg = df_ignore;
            d->streams[i].on_open = df_stream_open;
            if (req_stream_open(&d->streams[i], a->c, RDV1_PROTOCOL_ID, d) < 0) {
                rc = attack_fail(x, "stream %zu refused", i);
                goto out;
            }
        }
        if (!attack_loop_until(x, d->loop, df_streams_open, d, AP_STOP, 60) || a->closed) {
            rc = attack_fail(x, "only %zu of %zu streams opened", d->opened, d->nstreams);
            goto out;
        }
    }
    attack_note(x, "%s", "");
    attack_ready(x);
    attack_loop_until(x, d->loop, NULL, NULL, AP_ATTACK, 3600);
    if (attack_phase(x) != AP_ATTACK || a->closed)
        goto out;

    /* The attack: from here on nothing the daemon sends is read. */
    struct buf req = BUF_INIT;
    peer_stop_reading(a->c);
    if (mode == DF_MPLEX) {
        for (int i = 0; i < DF_MPLEX_PER_STREAM; i++)
            rdv1_discover(&req, "", 1000, NULL, 0);
        req_stream_send(&a->reg, &req);
        for (size_t i = 0; i < d->nstreams; i++)
            req_stream_send(&d->streams[i], &req);
        atomic_store(&x->shm->ops, DF_MPLEX_PER_STREAM * (d->nstreams + 1));
        attack_note(x, "attack: mplex, %zu streams x %d DISCOVER(ns=\"\", limit=1000), %zu KB in all",
                    d->nstreams + 1, DF_MPLEX_PER_STREAM, (d->nstreams + 1) * buf_size(&req) / 1024);
    } else if (mode == DF_ONE) {
        peer_grant_window(a->c, a->reg.s->ys->id, UINT32_MAX - 2 * YAMUX_WINDOW);
        for (int i = 0; i < DF_REQUESTS; i++)
            rdv1_discover(&req, "", 1000, NULL, 0);
        req_stream_send(&a->reg, &req);
        atomic_store(&x->shm->ops, DF_REQUESTS);
        attack_note(x, "attack: %d DISCOVER(ns=\"\", limit=1000) in %zu bytes on one stream, "
                       "+4 GiB window", DF_REQUESTS, buf_size(&req));
    } else {
        rdv1_discover(&req, "", 1000, NULL, 0);
        rdv1_discover(&req, "", 1000, NULL, 0);
        req_stream_send(&a->reg, &req);
        for (size_t i = 0; i < d->nstreams; i++)
            req_stream_send(&d->streams[i], &req);
        atomic_store(&x->shm->ops, 2 * (d->nstreams + 1));
        attack_note(x, "attack: %zu streams x 2 DISCOVER(ns=\"\", limit=1000), default window",
                    d->nstreams + 1);
    }
    buf_free(&req);
    attack_loop_until(x, d->loop, NULL, NULL, AP_STOP, 3600);
    attack_done(x);
out:
    for (int i = 0; i < DF_PEERS; i++) {
        if (d->peers[i].d) {
            host_free(&d->peers[i].host);
            buf_free(&d->peers[i].env);
        }
    }
    ev_loop_destroy(d->loop);
    free(d->streams);
    free(d);
    return rc;
}

static int df_one(struct attack_ctx *x) { return df_role(x, DF_ONE); }
static int df_many(struct attack_ctx *x) { return df_role(x, DF_MANY); }
static int df_mplex(struct attack_ctx *x) { return df_role(x, DF_MPLEX); }

const struct scenario scen_discover_flood = {
    .name = "discover-flood",
    .what = "1,000 records of ~1.7 KB, +4 GiB window, 4,000 DISCOVERs pipelined, never read",
    .nroles = 1,
    .role = df_one,
    .rss_bound_mb = 64,
    .attack_s = 15,
    .attack_s_short = 3,
};

const struct scenario scen_discover_streams = {
    .name = "discover-streams",
    .what = "the same records, 255 streams x 2 DISCOVERs with the default window, never read",
    .nroles = 1,
    .role = df_many,
    .rss_bound_mb = 64,
    .attack_s = 15,
    .attack_s_short = 3,
};

const struct scenario scen_mplex_flood = {
    .name = "mplex-flood",
    .what = "the same records; over mplex (no window), 32 streams x 32,000 DISCOVERs, never read",
    .nroles = 1,
    .role = df_mplex,
    .rss_bound_mb = 64,
    .attack_s = 15,
    .attack_s_short = 3,
};
