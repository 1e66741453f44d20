/* A worker process holding many push-mode sessions on one libev loop, each
 * an rdv_client of librendezvous (one connection, one push session).
 *
 * Fan-out mode: every session subscribes to BENCH_NS (a raw subscription:
 * the bytes are counted, not converted) and counts the registrant's
 * announcements. Event e is REGISTER (even e, its address carries e) or
 * UNREGISTER (odd e); a session expects them in order, so a gap or repeat
 * is a loss or duplicate.
 * Idle mode: every session registers in a namespace shared with one session
 * of each other identity, subscribes to it, and then sits idle.
 *
 * A session is ready once rdv_client_sync completes after its subscription:
 * the server handled the RENDEZVOUS and sent its snapshot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rendezvous/client.h>

#include "bench.h"
#include "psess.h"

#define DIAL_INFLIGHT 64
#define SESSIONS_PER_IDENTITY 500 /* idle: below the server's registrations per peer */

struct pw;

struct pw_sess {
    struct pw *w;
    rdv_client *c;
    uint64_t next;          /* fan-out: the event expected next */
    uint64_t gidx;          /* global session index */
    bool connected, ready;
};

struct pw {
    const struct psess_cfg *cfg;
    int idx, wfd;
    struct ev_loop *loop;
    uint8_t (*keys)[RDV_CLIENT_KEY_SIZE];
    size_t *key_lens;
    struct pw_sess *sess;
    int nsess, nready, dialed, inflight;
    struct fan_counter fc;
    struct fan_wstats *st;
    ev_timer tick;
    double t_start;
    pid_t parent;
    bool ready_sent, stopping, failed;
};

static void pw_fail(struct pw *w, const char *why)
{
    if (w->failed || w->stopping)
        return;
    w->failed = true;
    fprintf(stderr, "rdv-bench: worker %d: %s\n", w->idx, why);
    worker_report(w->wfd, w->idx, W_FAIL, 0);
}

static void sess_synced(rdv_client *c, const rdv_result *r, void *arg)
{
    struct pw_sess *ss = arg;
    struct pw *w = ss->w;
    (void)c;
    if (r->error != RDV_CLIENT_OK) {
        if (!w->stopping)
            w->st->closed++;
        pw_fail(w, r->status_text);
        return;
    }
    ss->ready = true;
    w->nready++;
    w->st->ready = (uint64_t)w->nready;
    if (w->nready == w->nsess && !w->ready_sent) {
        w->ready_sent = true;
        w->st->setup_s = now_s() - w->t_start;
        worker_report(w->wfd, w->idx, W_READY, (uint64_t)w->nsess);
    }
}

/* The event number a REGISTER's first address carries (bench_seq_addr). */
static bool sess_seq(const rdv_raw_event *ev, uint32_t *seq)
{
    if (ev->naddrs == 0 || ev->addrs[0].len != BENCH_SEQ_ADDR)
        return false;
    return bench_seq_from_addr(ev->addrs[0].data, seq);
}

static void sess_event(rdv_client *c, const rdv_raw_event *ev, void *arg)
{
    struct pw_sess *ss = arg;
    struct pw *w = ss->w;
    uint32_t seq;
    (void)c;

    if (!ss->ready || w->cfg->mode != PW_FANOUT)
        return; /* the snapshot before: not an event of the run */
    if (ev->kind == RDV_JOIN) {
        if ((ss->next & 1) != 0) { /* the UNREGISTER before it went missing */
            w->st->lost++;
            ss->next++;
        }
        if (sess_seq(ev, &seq) && seq != (uint32_t)ss->next) {
            int32_t d = (int32_t)(seq - (uint32_t)ss->next);
            if (d < 0) {
                w->st->dup++;
                return;
            }
            w->st->lost += (uint64_t)d;
            ss->next += (uint64_t)d;
        }
    } else {
        if ((ss->next & 1) == 0) { /* expected a REGISTER */
            w->st->lost++;
            ss->next++;
        }
    }
    fan_deliver(&w->fc, w->st, ss->next, now_ns());
    ss->next++;
}

static void pw_dial_more(struct pw *w);

static void sess_state(rdv_client *c, int connected, const char *reason, void *arg)
{
    struct pw_sess *ss = arg;
    struct pw *w = ss->w;
    (void)c;
    if (connected) {
        ss->connected = true;
        w->inflight--;
        pw_dial_more(w);
        return;
    }
    if (!ss->connected)
        w->inflight--;
    if (!w->stopping) {
        char why[200];
        if (ss->connected)
            w->st->closed++;
        snprintf(why, sizeof(why), "connection closed: %s", reason);
        pw_fail(w, why);
    }
}

static void sess_refused(rdv_client *c, const char *request, int status, const char *text, void *arg)
{
    struct pw_sess *ss = arg;
    char why[200];
    (void)c;
    ss->w->st->bad++;
    snprintf(why, sizeof(why), "the server refused a %s (status %d: %s)", request, status, text);
    pw_fail(ss->w, why);
}

static int sess_start(struct pw *w, struct pw_sess *ss)
{
    int i = (int)(ss - w->sess);
    /* Subscribers may share a peer id; registering sessions must not
     * exceed the server's registrations per peer. */
    int id = w->cfg->mode == PW_IDLE ? i / SESSIONS_PER_IDENTITY : 0;
    char err[256], ns[48], addr[64];
    rdv_client_options o = {
        .server = w->cfg->addr,
        .key = w->keys[id],
        .key_len = w->key_lens[id],
        .on_state = sess_state,
        .on_refused = sess_refused,
        .arg = ss,
        .keepalive_s = -1, /* the server under test is told not to close idle ones */
        .connect_timeout_s = 60,
    };
    ss->c = rdv_client_new(w->loop, &o, err, sizeof(err));
    if (ss->c == NULL) {
        pw_fail(w, err);
        return -1;
    }
    w->inflight++;
    if (w->cfg->mode == PW_IDLE) {
        /* Each identity holds up to SESSIONS_PER_IDENTITY sessions, one per
         * namespace idle-0, idle-1, ...: a namespace is shared by one
         * session of every identity, as peers share real namespaces. */
        const char *addrs[1] = {addr};
        snprintf(ns, sizeof(ns), "idle-%d", i % SESSIONS_PER_IDENTITY);
        bench_seq_text(addr, sizeof(addr), (uint32_t)ss->gidx);
        if (rdv_client_register(ss->c, ns, addrs, 1) != RDV_CLIENT_OK) {
            pw_fail(w, "register: bad arguments");
            return -1;
        }
    } else {
        snprintf(ns, sizeof(ns), "%s", BENCH_NS);
    }
    if (rdv_client_subscribe_raw(ss->c, ns, sess_event, ss) != RDV_CLIENT_OK ||
        rdv_client_sync(ss->c, sess_synced, ss) != RDV_CLIENT_OK) {
        pw_fail(w, "subscribe: bad arguments");
        return -1;
    }
    return 0;
}

static void pw_dial_more(struct pw *w)
{
    while (w->dialed < w->nsess && w->inflight < DIAL_INFLIGHT && !w->failed)
        if (sess_start(w, &w->sess[w->dialed++]) < 0)
            return;
}

/* Stop: count what each session missed, publish the figures, leave. */
static void pw_finish(struct pw *w)
{
    uint64_t total = atomic_load(&w->cfg->shm->total);
    w->stopping = true;
    if (w->cfg->mode == PW_FANOUT)
        for (int i = 0; i < w->nsess; i++)
            if (w->sess[i].next < total)
                w->st->lost += total - w->sess[i].next;
    worker_report(w->wfd, w->idx, W_DONE, 0);
    ev_break(w->loop, EVBREAK_ALL);
}

static void pw_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pw *w = t->data;
    (void)loop;
    (void)revents;
    if (atomic_load(&w->cfg->shm->stop) || getppid() != w->parent)
        pw_finish(w);
}

int psess_worker(int idx, int wfd, void *arg)
{
    const struct psess_cfg *cfg = arg;
    struct pw *w = bench_calloc(1, sizeof(*w));

    w->cfg = cfg;
    w->idx = idx;
    w->wfd = wfd;
    w->parent = getppid();
    /* This worker's share of the sessions. */
    int per = cfg->sessions / cfg->nworkers, extra = cfg->sessions % cfg->nworkers;
    w->nsess = per + (idx < extra);
    int first = idx * per + (idx < extra ? idx : extra);
    w->st = &cfg->shm->w[idx];
    w->st->sessions = (uint64_t)w->nsess;
    w->sess = bench_calloc((size_t)(w->nsess > 0 ? w->nsess : 1), sizeof(*w->sess));
    int nkeys = cfg->mode == PW_IDLE ? (w->nsess + SESSIONS_PER_IDENTITY - 1) / SESSIONS_PER_IDENTITY : 1;
    if (nkeys < 1)
        nkeys = 1;
    w->keys = bench_calloc((size_t)nkeys, sizeof(*w->keys));
    w->key_lens = bench_calloc((size_t)nkeys, sizeof(*w->key_lens));
    for (int i = 0; i < nkeys; i++)
        if (rdv_client_key_new(w->keys[i], sizeof(w->keys[i]), &w->key_lens[i], NULL, 0) != 0)
            return 1;
    fan_counter_init(&w->fc, cfg->shm, idx, wfd, (uint32_t)w->nsess);
    for (int i = 0; i < w->nsess; i++) {
        w->sess[i].w = w;
        w->sess[i].gidx = (uint64_t)(first + i);
    }

    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    ev_timer_init(&w->tick, pw_tick, 0.02, 0.02);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    w->t_start = now_s();
    if (w->nsess == 0) {
        w->ready_sent = true;
        worker_report(wfd, idx, W_READY, 0);
    }
    pw_dial_more(w);
    ev_run(w->loop, 0);

    w->stopping = true;
    ev_timer_stop(w->loop, &w->tick);
    for (int i = 0; i < w->nsess; i++)
        rdv_client_free(w->sess[i].c);
    free(w->sess);
    free(w->keys);
    free(w->key_lens);
    fan_counter_free(&w->fc);
    ev_loop_destroy(w->loop);
    int rc = w->failed ? 1 : 0;
    free(w);
    return rc;
}
