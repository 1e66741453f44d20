/* park-partial: 20 connections from one address, 255 /rendezvous/1.0.0
 * streams each, and on every stream the first 64 KiB of a request that
 * announces 64 KiB (the default max-message-size) and never completes.
 * Bound: RSS growth < 64 MB with the default limits; the well-behaved
 * client is served as usual. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "attack.h"
#include "base/mem.h"
#include "rendezvous/service.h"

#define PP_CONNS 20
#define PP_STREAMS 255
#define PP_PARTIAL (64u << 10)   /* announced length; all but its last byte is sent */

struct pp_conn {
    struct pp *p;
    struct conn *c;
    struct req_stream st[PP_STREAMS];
    int idx;
    bool ready, lost;
};

struct pp {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct host host;
    struct pp_conn conns[PP_CONNS];
    size_t nconns, opened, dialed, redials;
    double next_dial;
};

static void pp_ignore(struct req_stream *r, const uint8_t *m, size_t n)
{
    (void)r;
    (void)m;
    (void)n;
}

static void pp_open(struct req_stream *r)
{
    struct pp_conn *pc = r->user;
    pc->p->opened++;
}

static void pp_ready(struct conn *c, void *user)
{
    struct pp_conn *pc = user;
    pc->ready = true;
    for (int i = 0; i < PP_STREAMS; i++) {
        pc->st[i].on_msg = pp_ignore;
        pc->st[i].on_open = pp_open;
        if (req_stream_open(&pc->st[i], c, RDV1_PROTOCOL_ID, pc) < 0)
            attack_fail(pc->p->x, "stream refused");
    }
}

static void pp_closed(struct conn *c, void *user, const char *reason)
{
    struct pp_conn *pc = user;
    (void)c;
    (void)reason;
    pc->c = NULL;
    pc->lost = true;
}

static const struct conn_events pp_events = {.on_ready = pp_ready, .on_closed = pp_closed};

/* Dials one at a time; a connection refused before it is ready (a rate
 * limit on new connections) is dialed again a little later. */
static bool pp_setup_done(void *arg)
{
    struct pp *p = arg;
    double now = mono_s();
    if (p->dialed < PP_CONNS && now >= p->next_dial) {
        struct pp_conn *pc = &p->conns[p->dialed];
        bool busy = pc->c && !pc->ready;
        if (pc->ready) {
            p->dialed++;
        } else if (!busy) {
            if (pc->lost)
                p->redials++;
            pc->lost = false;
            pc->p = p;
            pc->c = peer_dial(&p->host, p->x, NET_ATTACKER, 0, &pp_events, pc);
            p->next_dial = now + (p->redials ? 0.2 : 0);
        }
    }
    return p->opened == (size_t)PP_CONNS * PP_STREAMS;
}

static int pp_role(struct attack_ctx *x)
{
    struct pp *p = xcalloc(1, sizeof(*p));
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    p->x = x;
    p->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&p->log, LOG_ERROR, LOG_TEXT, stderr);
    peer_host_init(&p->host, p->loop, &p->log);
    if (!attack_loop_until(x, p->loop, pp_setup_done, p, AP_STOP, 90)) {
        rc = attack_fail(x, "setup: %zu connections, %zu streams open", p->dialed, p->opened);
        goto out;
    }
    attack_ready(x);
    attack_loop_until(x, p->loop, NULL, NULL, AP_ATTACK, 3600);
    if (attack_phase(x) != AP_ATTACK)
        goto out;

    struct buf partial = BUF_INIT;
    buf_append_uvarint(&partial, PP_PARTIAL);
    memset(buf_reserve(&partial, PP_PARTIAL - 1), 0x0a, PP_PARTIAL - 1);
    buf_commit(&partial, PP_PARTIAL - 1);
    size_t parked = 0;
    for (int i = 0; i < PP_CONNS; i++) {
        for (int k = 0; k < PP_STREAMS && p->conns[i].c; k++) {
            if (p->conns[i].st[k].s) {
                req_stream_send(&p->conns[i].st[k], &partial);
                parked++;
            }
        }
    }
    atomic_store(&x->shm->ops, parked);
    attack_note(x, "attack: %zu partial requests of %u KiB on %d connections (%zu redials)",
                parked, PP_PARTIAL >> 10, PP_CONNS, p->redials);
    buf_free(&partial);
    attack_loop_until(x, p->loop, NULL, NULL, AP_STOP, 3600);
    attack_done(x);
out:
    host_free(&p->host);
    ev_loop_destroy(p->loop);
    free(p);
    return rc;
}

const struct scenario scen_park_partial = {
    .name = "park-partial",
    .what = "20 connections x 255 streams, each holding a 64 KiB partial request",
    .nroles = 1,
    .role = pp_role,
    .rss_bound_mb = 64,
    .attack_s = 15,
    .attack_s_short = 3,
};
