/* A worker process holding many push-mode sessions on one libev loop.
 *
 * Fan-out mode: every session subscribes to BENCH_NS and counts the
 * registrant's announcements. Event e is REGISTER (even e, its address
 * carries e) or UNREGISTER (odd e); a session expects them in order, so a
 * gap or repeat is a loss or duplicate.
 * Idle mode: every session registers in a namespace shared with one session
 * of each other identity, subscribes to it, and then sits idle.
 *
 * A session is ready once the server answered its DISCOVER (always one
 * REGISTER Message, sent after the RENDEZVOUS was handled). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "bench.h"
#include "crypto/key.h"
#include "host/host.h"
#include "psess.h"

/* Where each received push message is decoded (one at a time). */
#define PSESS_ARENA_BYTES (64u << 10)

#define DIAL_INFLIGHT 64
#define SESSIONS_PER_IDENTITY 500 /* idle: below the server's registrations per peer */
#define MAX_MSG (1u << 20)

struct pw;

struct pw_sess {
    struct pw *w;
    struct stream *s;
    struct lpm rd;
    uint64_t next;          /* fan-out: the event expected next */
    uint64_t gidx;          /* global session index */
    bool ready;
};

struct pw_conn {
    struct pw *w;
    struct conn *c;
    struct host *h;
    int first, nsess;
    bool ready;
};

struct pw {
    const struct psess_cfg *cfg;
    int idx, wfd;
    struct ev_loop *loop;
    struct log log;
    struct host **hosts;
    int nhosts;
    struct pw_conn *conns;
    int nconns, dialed, inflight;
    struct pw_sess *sess;
    int nsess, nready;
    struct arena arena;
    uint8_t *arena_mem;
    struct fan_counter fc;
    struct fan_wstats *st;
    ev_timer tick;
    double t_start;
    pid_t parent;
    bool ready_sent, stopping, failed;
    char ns[32];
};

static void pw_fail(struct pw *w, const char *why)
{
    if (w->failed || w->stopping)
        return;
    w->failed = true;
    fprintf(stderr, "rdv-bench: worker %d: %s\n", w->idx, why);
    worker_report(w->wfd, w->idx, W_FAIL, 0);
}

static void sess_ready(struct pw_sess *ss)
{
    struct pw *w = ss->w;
    ss->ready = true;
    w->nready++;
    w->st->ready = (uint64_t)w->nready;
    if (w->nready == w->nsess && !w->ready_sent) {
        w->ready_sent = true;
        w->st->setup_s = now_s() - w->t_start;
        worker_report(w->wfd, w->idx, W_READY, (uint64_t)w->nsess);
    }
}

static void sess_message(struct pw_sess *ss, const uint8_t *m, size_t n)
{
    struct pw *w = ss->w;
    struct pushc_msg pm;

    if (pushc_decode(&w->arena, m, n, &pm) < 0 || pm.status != 0) {
        w->st->bad++;
        if (pm.status != 0 && !ss->ready)
            pw_fail(w, "the server refused a request (status != 0)");
        return;
    }
    if (!ss->ready) {
        if (pm.kind == PC_REGISTER)
            sess_ready(ss);
        return;
    }
    if (w->cfg->mode != PW_FANOUT || pm.entries == 0)
        return;
    if (pm.kind == PC_REGISTER) {
        if ((ss->next & 1) != 0) { /* the UNREGISTER before it went missing */
            w->st->lost++;
            ss->next++;
        }
        if (pm.has_seq && pm.seq != (uint32_t)ss->next) {
            int32_t d = (int32_t)(pm.seq - (uint32_t)ss->next);
            if (d < 0) {
                w->st->dup++;
                return;
            }
            w->st->lost += (uint64_t)d;
            ss->next += (uint64_t)d;
        }
    } else if (pm.kind == PC_UNREGISTER) {
        if ((ss->next & 1) == 0) { /* expected a REGISTER */
            w->st->lost++;
            ss->next++;
        }
    } else {
        return;
    }
    fan_deliver(&w->fc, w->st, ss->next, now_ns());
    ss->next++;
}

static int sess_open(struct stream *s)
{
    struct pw_sess *ss = s->state;
    struct pw *w = ss->w;
    struct buf out = BUF_INIT;

    ss->s = s;
    if (w->cfg->mode == PW_IDLE) {
        char ns[48];
        uint8_t addr[8];
        /* Each identity holds up to SESSIONS_PER_IDENTITY sessions, one per
         * namespace idle-0, idle-1, ...: a namespace is shared by one
         * session of every identity, as peers share real namespaces. */
        snprintf(ns, sizeof(ns), "idle-%d", (int)((ss - w->sess) % SESSIONS_PER_IDENTITY));
        pushc_seq_addr(addr, (uint32_t)ss->gidx);
        pushc_register(&out, ns, addr, sizeof(addr));
        pushc_rendezvous(&out, ns);
        pushc_discover(&out, ns, 1);
    } else {
        pushc_rendezvous(&out, BENCH_NS);
        pushc_discover(&out, BENCH_NS, 1);
    }
    stream_write(s, buf_head(&out), buf_size(&out));
    buf_free(&out);
    return 0;
}

static void sess_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct pw_sess *ss = s->state;
    const uint8_t *m;
    size_t len;
    int rc;

    lpm_push(&ss->rd, d, n);
    while ((rc = lpm_next(&ss->rd, &m, &len)) == 1)
        sess_message(ss, m, len);
    if (rc < 0) {
        ss->w->st->bad++;
        stream_reset(s);
    }
}

static void sess_close(struct stream *s)
{
    struct pw_sess *ss = s->state;
    struct pw *w = ss->w;
    ss->s = NULL;
    if (!s->opened)
        pw_fail(w, "the server does not speak " PUSH_PROTOCOL);
    else if (!w->stopping) {
        w->st->closed++;
        pw_fail(w, "a session was closed by the server");
    }
}

static const struct protocol push_client = {
    .id = PUSH_PROTOCOL,
    .on_open = sess_open,
    .on_data = sess_data,
    .on_close = sess_close,
};

static void pw_dial_more(struct pw *w);

static void conn_ready(struct conn *c, void *user)
{
    struct pw_conn *pc = user;
    struct pw *w = pc->w;
    w->inflight--;
    pc->ready = true;
    for (int i = 0; i < pc->nsess; i++) {
        struct pw_sess *ss = &w->sess[pc->first + i];
        if (conn_open_stream(c, &push_client, ss) == NULL) {
            pw_fail(w, "cannot open a stream");
            break;
        }
    }
    pw_dial_more(w);
}

static void conn_closed(struct conn *c, void *user, const char *reason)
{
    struct pw_conn *pc = user;
    struct pw *w = pc->w;
    (void)c;
    if (!pc->ready)
        w->inflight--;
    pc->c = NULL;
    if (!w->stopping) {
        char why[160];
        snprintf(why, sizeof(why), "connection closed: %s", reason);
        pw_fail(w, why);
    }
}

static const struct conn_events pw_events = {.on_ready = conn_ready, .on_closed = conn_closed};

static void pw_dial_more(struct pw *w)
{
    char err[256];
    while (w->dialed < w->nconns && w->inflight < DIAL_INFLIGHT && !w->failed) {
        struct pw_conn *pc = &w->conns[w->dialed++];
        pc->c = host_dial(pc->h, w->cfg->addr, &pw_events, pc, err, sizeof(err));
        if (pc->c == NULL) {
            pw_fail(w, err);
            return;
        }
        w->inflight++;
    }
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
    struct pw *w = xcalloc(1, sizeof(*w));
    struct host_limits lim;

    if (sodium_init() < 0)
        return 1;
    w->cfg = cfg;
    w->idx = idx;
    w->wfd = wfd;
    w->parent = getppid();
    /* This worker's share of the sessions. */
    int per = cfg->sessions / cfg->nworkers, extra = cfg->sessions % cfg->nworkers;
    w->nsess = per + (idx < extra);
    int first = idx * per + (idx < extra ? idx : extra);
    int spc = cfg->streams_per_conn > 0 ? cfg->streams_per_conn : 1;
    w->nconns = (w->nsess + spc - 1) / spc;
    w->st = &cfg->shm->w[idx];
    w->st->sessions = (uint64_t)w->nsess;
    w->sess = xcalloc((size_t)w->nsess, sizeof(*w->sess));
    w->conns = xcalloc((size_t)w->nconns, sizeof(*w->conns));
    w->arena_mem = xmalloc(PSESS_ARENA_BYTES);
    arena_init(&w->arena, w->arena_mem, PSESS_ARENA_BYTES);
    fan_counter_init(&w->fc, cfg->shm, idx, wfd, (uint32_t)w->nsess);

    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&w->log, LOG_ERROR, LOG_TEXT, stderr);
    host_limits_default(&lim);
    lim.handshake_timeout = 60;
    lim.idle_timeout = 86400;
    lim.max_conns = 1000000;
    lim.max_out = 1u << 30;
    lim.max_streams = 4096;
    /* Subscribers may share a peer id; registering sessions must not
     * exceed the server's registrations per peer. */
    int per_id = cfg->mode == PW_IDLE ? SESSIONS_PER_IDENTITY : w->nsess;
    if (per_id < spc)
        per_id = spc;
    int conns_per_id = per_id / spc;
    w->nhosts = (w->nconns + conns_per_id - 1) / conns_per_id;
    w->hosts = xcalloc((size_t)w->nhosts, sizeof(*w->hosts));
    for (int i = 0; i < w->nhosts; i++) {
        struct privkey k;
        privkey_generate(&k);
        w->hosts[i] = xcalloc(1, sizeof(struct host));
        host_init(w->hosts[i], w->loop, &w->log, &k, &lim);
        privkey_wipe(&k);
    }
    for (int i = 0; i < w->nsess; i++) {
        w->sess[i].w = w;
        w->sess[i].gidx = (uint64_t)(first + i);
        lpm_init(&w->sess[i].rd, MAX_MSG);
    }
    for (int i = 0; i < w->nconns; i++) {
        struct pw_conn *pc = &w->conns[i];
        pc->w = w;
        pc->h = w->hosts[i / conns_per_id];
        pc->first = i * spc;
        pc->nsess = w->nsess - pc->first < spc ? w->nsess - pc->first : spc;
    }
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
    for (int i = 0; i < w->nhosts; i++) {
        host_free(w->hosts[i]);
        free(w->hosts[i]);
    }
    for (int i = 0; i < w->nsess; i++)
        lpm_free(&w->sess[i].rd);
    free(w->hosts);
    free(w->sess);
    free(w->conns);
    arena_free(&w->arena);
    free(w->arena_mem);
    fan_counter_free(&w->fc);
    ev_loop_destroy(w->loop);
    int rc = w->failed ? 1 : 0;
    free(w);
    return rc;
}
