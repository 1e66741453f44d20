/* sample-stall: a namespace holding many push-mode registrations (no signed
 * record) and 10 signed ones, 5 registered before the push crowd and 5
 * after; a second namespace holds only the same 10 signed ones. With 64
 * requests in flight, three kinds of reads are timed in each namespace:
 * Waku DISCOVER (a random sample of the signed registrations),
 * /rendezvous/1.0.0 DISCOVER without a cookie, and with a forged cookie whose
 * seq falls in the gap the push crowd left between the two signed groups.
 * Cost per request = the daemon's CPU time / requests answered.
 * Bound: each kind costs within 2x of the namespace without the crowd (50k
 * push registrations, or as many as the file-descriptor limit allows), every
 * answer is right (10, 10 and 5 registrations), and the well-behaved client
 * keeps its latency. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <sodium.h>

#include "attack.h"
#include "base/mem.h"
#include "client/push_client.h"
#include "cluster/cluster.h"
#include "rendezvous/service.h"

#define SS_NS "crowded"
#define SS_EMPTY "uncrowded"
#define SS_SIGNED 10            /* 5 before the crowd, 5 after */
#define SS_FULL 50000
#define SS_SHORT 4000
#define SS_PIPES 16             /* crowd handshakes in flight (one per host) */
#define SS_IN_FLIGHT 64
#define SS_LIMIT 10

enum { K_WAKU, K_STD, K_COOKIE, K_KINDS };
static const char *const ss_kind_name[K_KINDS] = {"Waku", "standard", "gap cookie"};

struct ss_shm {
    _Atomic int signed_before;      /* measurer: the first 5 are registered */
    _Atomic int crowd_in;           /* crowd: all registered */
    uint64_t crowd;                 /* push registrations made */
    uint64_t crowd_retries;         /* their dials refused before the handshake ended */
    double cost_us[K_KINDS][2];     /* [kind][0 uncrowded, 1 crowded] */
    uint64_t answered[K_KINDS][2];
    uint64_t gap;                   /* seqs in the gap */
};

/* ---- the crowd ----------------------------------------------------------- */

struct ss_member {
    struct ss_crowd *cr;
    struct host *host;
    struct conn *c;
    struct push_client pc;
    uint32_t idx;
    bool answered;
};

struct ss_crowd {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct host hosts[SS_PIPES];
    uint32_t next[SS_PIPES];         /* next member each host dials */
    double again_at[SS_PIPES];       /* a refused dial is tried again from then */
    bool busy[SS_PIPES];             /* a handshake with the host's identity is under way */
    struct ss_member *m;
    size_t n, answered, retries;
};

static void ss_crowd_dial(struct ss_crowd *cr, int pipe);

static void ss_member_open(struct push_client *pc)
{
    uint8_t ma[8] = {0x04, 127, 0, 0, 1, 0x06, 0x27, 0x10};
    struct rdv_addr a = {ma, sizeof(ma)};
    push_client_register(pc, SS_NS, NULL, &a, 1);
    push_client_discover(pc, SS_NS, 1); /* its answer: the REGISTER was handled */
}

static void ss_member_message(struct push_client *pc, const Push__Message *m)
{
    struct ss_member *me = pc->user;
    if (m->status != 0)
        attack_fail(me->cr->x, "push REGISTER %u refused: %s", me->idx,
                    m->statustext ? m->statustext : "?");
    else if (!me->answered && m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER) {
        me->answered = true;
        me->cr->answered++;
    }
}

static void ss_member_end(struct push_client *pc, const char *why)
{
    struct ss_member *me = pc->user;
    if (attack_phase(me->cr->x) < AP_DONE)
        attack_fail(me->cr->x, "push registration %u lost: %s", me->idx, why);
}

static const struct push_client_handler ss_member_handler = {
    .on_open = ss_member_open, .on_message = ss_member_message, .on_end = ss_member_end,
};

static void ss_member_ready(struct conn *c, void *user)
{
    struct ss_member *m = user;
    int pipe = (int)(m->host - m->cr->hosts);
    if (push_client_open(&m->pc, c, NULL, &ss_member_handler, m) < 0)
        attack_fail(m->cr->x, "no push session");
    m->cr->busy[pipe] = false; /* the host's identity is free again */
}

static void ss_member_closed(struct conn *c, void *user, const char *reason)
{
    struct ss_member *m = user;
    struct ss_crowd *cr = m->cr;
    bool was_ready = c->mux_ready;
    m->c = NULL;
    if (attack_phase(cr->x) >= AP_DONE)
        return;
    if (was_ready) {
        attack_fail(cr->x, "push registration %u lost: %s", m->idx, reason);
    } else { /* refused before the handshake ended (a rate limit): again, later */
        int pipe = (int)(m->host - cr->hosts);
        cr->retries++;
        cr->next[pipe] -= SS_PIPES;
        cr->busy[pipe] = false;
        cr->again_at[pipe] = mono_s() + 0.05;
    }
}

static const struct conn_events ss_member_events = {.on_ready = ss_member_ready,
                                                    .on_closed = ss_member_closed};

static void ss_crowd_dial(struct ss_crowd *cr, int pipe)
{
    uint32_t i = cr->next[pipe];
    if (i >= cr->n)
        return;
    cr->next[pipe] += SS_PIPES;
    cr->busy[pipe] = true;
    struct ss_member *m = &cr->m[i];
    struct privkey k;
    m->cr = cr;
    m->idx = i;
    m->host = &cr->hosts[pipe];
    privkey_generate(&k);
    peer_identity(m->host, &k);
    privkey_wipe(&k);
    m->c = peer_dial(m->host, cr->x, NET_CROWD, i, &ss_member_events, m);
    if (m->c == NULL)
        attack_fail(cr->x, "cannot dial crowd member %u", i);
}

static bool ss_flag(void *arg) { return atomic_load((_Atomic int *)arg) != 0; }

static bool ss_crowd_in(void *arg)
{
    struct ss_crowd *cr = arg;
    double now = mono_s();
    for (int i = 0; i < SS_PIPES; i++)
        if (!cr->busy[i] && now >= cr->again_at[i])
            ss_crowd_dial(cr, i);
    return cr->answered == cr->n || atomic_load(&cr->x->shm->failed);
}

static size_t ss_crowd_size(const struct attack_ctx *x)
{
    struct rlimit rl;
    size_t n = x->o->full ? SS_FULL : SS_SHORT;
    /* Each registration is a connection: one descriptor here and one in
     * the daemon (which raised its limit as far as this process can). */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
        rl.rlim_cur < n + 2000)
        n = rl.rlim_cur > 4000 ? (size_t)rl.rlim_cur - 2000 : 2000;
    return n;
}

static int ss_crowd_role(struct attack_ctx *x)
{
    struct ss_crowd *cr = xcalloc(1, sizeof(*cr));
    struct ss_shm *sh = (struct ss_shm *)x->shm->scen;
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    cr->x = x;
    cr->n = ss_crowd_size(x);
    cr->m = xcalloc(cr->n, sizeof(*cr->m));
    cr->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&cr->log, LOG_ERROR, LOG_TEXT, stderr);
    for (int i = 0; i < SS_PIPES; i++) {
        peer_host_init(&cr->hosts[i], cr->loop, &cr->log);
        cr->next[i] = (uint32_t)i;
    }
    if (!attack_loop_until(x, cr->loop, ss_flag, &sh->signed_before, AP_STOP, 120)) {
        rc = attack_fail(x, "the signed registrations were not made");
        goto out;
    }
    if (!attack_loop_until(x, cr->loop, ss_crowd_in, cr, AP_STOP, 200) ||
        atomic_load(&x->shm->failed)) {
        rc = attack_fail(x, "%zu of %zu push registrations made (%zu dials refused)", cr->answered,
                         cr->n, cr->retries);
        goto out;
    }
    sh->crowd = cr->n;
    sh->crowd_retries = cr->retries;
    atomic_store(&sh->crowd_in, 1);
    attack_ready(x);
    attack_done(x); /* nothing to do but stay registered */
    attack_loop_until(x, cr->loop, NULL, NULL, AP_DONE, 3600);
out:
    for (int i = 0; i < SS_PIPES; i++)
        host_free(&cr->hosts[i]);
    ev_loop_destroy(cr->loop);
    free(cr->m);
    free(cr);
    return rc;
}

/* ---- the measurer ---------------------------------------------------------- */

struct ss_signer {
    struct ss_meas *me;
    struct host host;
    struct conn *c;
    struct req_stream rs;
    int answers;
};

struct ss_meas {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct ss_signer signers[SS_SIGNED];
    struct host host;                /* the load connection */
    struct conn *c;
    struct req_stream std, waku;
    int opened;
    /* The gap, learned in setup: seq_a is the newest seq of the first five
     * and seq_b the oldest of the last five, in both namespaces. A signer's
     * two registrations get different seqs (a cluster's seqs are Redis time,
     * milliseconds apart under load), so one namespace's bounds do not hold
     * for the other. */
    uint64_t seq_a, seq_b;
    int step;                        /* of the setup, for its failure message */
    int learning;                    /* answers still awaited in this step */
    /* the closed loop */
    int kind;
    const char *ns;
    uint64_t sent, received, answered, wrong;
    size_t expect;
    bool running;
    char first_wrong[128];
};

static uint64_t ss_cookie_seq(const uint8_t *c, size_t n)
{
    uint64_t s = 0;
    for (size_t i = 0; i < 8 && i < n; i++)
        s = s << 8 | c[i];
    return s;
}

/* A forged cookie: BE64(seq) ‖ ns, what the daemon issues. */
static size_t ss_cookie(uint8_t *c, uint64_t seq, const char *ns)
{
    size_t nl = strlen(ns);
    for (int i = 0; i < 8; i++)
        c[i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(c + 8, ns, nl);
    return 8 + nl;
}

static void ss_signer_msg(struct req_stream *r, const uint8_t *m, size_t n)
{
    struct ss_signer *s = r->user;
    int status;
    size_t nregs;
    if (rdv1_answer(m, n, false, &status, &nregs, NULL, NULL) != 0 || status != 0)
        attack_fail(s->me->x, "signed REGISTER refused (%d)", status);
    s->answers++;
}

static void ss_signer_open(struct req_stream *r)
{
    struct ss_signer *s = r->user;
    struct buf env = BUF_INIT, b = BUF_INIT;
    peer_envelope(&s->host.key, false, &env);
    rdv1_register(&b, SS_NS, &env, 7200);
    rdv1_register(&b, SS_EMPTY, &env, 7200);
    req_stream_send(r, &b);
    buf_free(&b);
    buf_free(&env);
}

static void ss_signer_ready(struct conn *c, void *user)
{
    struct ss_signer *s = user;
    s->rs.on_msg = ss_signer_msg;
    s->rs.on_open = ss_signer_open;
    if (req_stream_open(&s->rs, c, RDV1_PROTOCOL_ID, s) < 0)
        attack_fail(s->me->x, "no stream");
}

static void ss_any_closed(struct conn *c, void *user, const char *reason)
{
    struct ss_signer *s = user;
    (void)c;
    if (attack_phase(s->me->x) < AP_DONE)
        attack_fail(s->me->x, "connection lost: %s", reason);
}

static const struct conn_events ss_signer_events = {.on_ready = ss_signer_ready,
                                                    .on_closed = ss_any_closed};

struct ss_group {
    struct ss_meas *me;
    int from, to;
};

static bool ss_signed(void *arg)
{
    struct ss_group *g = arg;
    for (int i = g->from; i < g->to; i++)
        if (g->me->signers[i].answers < 2)
            return atomic_load(&g->me->x->shm->failed) != 0;
    return true;
}

static void ss_sign(struct ss_meas *me, int from, int to)
{
    for (int i = from; i < to; i++) {
        struct ss_signer *s = &me->signers[i];
        s->me = me;
        peer_host_init(&s->host, me->loop, &me->log);
        s->c = peer_dial(&s->host, me->x, NET_HONEST, (uint32_t)i, &ss_signer_events, s);
    }
}

static void ss_send_one(struct ss_meas *me)
{
    struct buf b = BUF_INIT;
    if (me->kind == K_WAKU) {
        waku_discover(&b, me->ns, SS_LIMIT);
        req_stream_send(&me->waku, &b);
    } else if (me->kind == K_STD) {
        rdv1_discover(&b, me->ns, SS_LIMIT, NULL, 0);
        req_stream_send(&me->std, &b);
    } else {
        uint8_t cookie[8 + 64];
        uint64_t span = me->seq_b - me->seq_a, r;
        randombytes_buf(&r, sizeof(r)); /* a cluster's gap exceeds 32 bits */
        uint64_t seq = span > 1 ? me->seq_a + 1 + r % (span - 1) : me->seq_a;
        rdv1_discover(&b, me->ns, SS_LIMIT, cookie, ss_cookie(cookie, seq, me->ns));
        req_stream_send(&me->std, &b);
    }
    buf_free(&b);
    me->sent++;
}

static void ss_answer(struct ss_meas *me, int status, size_t nregs)
{
    me->received++;
    if (!me->running)
        return;
    me->answered++;
    if ((status != 0 || nregs != me->expect) && me->wrong++ == 0)
        snprintf(me->first_wrong, sizeof(me->first_wrong), "%s in %s: status %d, %zu of %zu",
                 ss_kind_name[me->kind], me->ns, status, nregs, me->expect);
    ss_send_one(me);
}

static void ss_std_msg(struct req_stream *r, const uint8_t *m, size_t n)
{
    struct ss_meas *me = r->user;
    int status;
    size_t nregs;
    uint8_t cookie[8 + 256];
    size_t clen = sizeof(cookie);
    if (rdv1_answer(m, n, true, &status, &nregs, cookie, &clen) != 0) {
        attack_fail(me->x, "not a DISCOVER answer");
        return;
    }
    if (me->learning > 0) {
        uint64_t seq = ss_cookie_seq(cookie, clen);
        size_t want = me->step == 1 ? SS_SIGNED / 2 : 1;
        me->learning--;
        if (status != 0 || nregs != want)
            attack_fail(me->x, "setup DISCOVER (step %d): status %d, %zu of %zu", me->step,
                        status, nregs, want);
        else if (me->step == 1) /* DISCOVER(limit 5): the last of the first five */
            me->seq_a = seq > me->seq_a ? seq : me->seq_a;
        else /* after seq_a, limit 1: the first of the last five */
            me->seq_b = seq < me->seq_b ? seq : me->seq_b;
    } else {
        ss_answer(me, status, nregs);
    }
}

static void ss_waku_msg(struct req_stream *r, const uint8_t *m, size_t n)
{
    struct ss_meas *me = r->user;
    int status;
    size_t nregs;
    if (waku_answer(m, n, true, &status, &nregs) != 0) {
        attack_fail(me->x, "not a Waku DISCOVER answer");
        return;
    }
    ss_answer(me, status, nregs);
}

static void ss_stream_open(struct req_stream *r)
{
    struct ss_meas *me = r->user;
    me->opened++;
}

static void ss_load_ready(struct conn *c, void *user)
{
    struct ss_meas *me = ((struct ss_signer *)user)->me;
    me->std.on_msg = ss_std_msg;
    me->std.on_open = ss_stream_open;
    me->waku.on_msg = ss_waku_msg;
    me->waku.on_open = ss_stream_open;
    if (req_stream_open(&me->std, c, RDV1_PROTOCOL_ID, me) < 0 ||
        req_stream_open(&me->waku, c, WAKU_PROTOCOL_ID, me) < 0)
        attack_fail(me->x, "no stream");
}

static const struct conn_events ss_load_events = {.on_ready = ss_load_ready,
                                                  .on_closed = ss_any_closed};

/* A DISCOVER in each namespace, after seq_a or from the start; their
 * answers (ss_std_msg) move seq_a up or seq_b down. */
static void ss_learn(struct ss_meas *me, uint64_t limit, bool after_a)
{
    static const char *const nss[] = {SS_NS, SS_EMPTY};
    for (size_t k = 0; k < sizeof(nss) / sizeof(nss[0]); k++) {
        struct buf b = BUF_INIT;
        uint8_t cookie[8 + 64];
        size_t clen = ss_cookie(cookie, me->seq_a, nss[k]);
        rdv1_discover(&b, nss[k], limit, after_a ? cookie : NULL, after_a ? clen : 0);
        me->learning++;
        req_stream_send(&me->std, &b);
        buf_free(&b);
    }
}

static bool ss_learned(void *arg)
{
    struct ss_meas *me = arg;
    return me->learning == 0 || atomic_load(&me->x->shm->failed);
}

static bool ss_opened(void *arg)
{
    struct ss_meas *me = arg;
    return me->opened == 2 || atomic_load(&me->x->shm->failed);
}

/* One closed loop: returns the daemon's CPU microseconds per answer. */
static double ss_measure(struct ss_meas *me, int kind, const char *ns, double seconds,
                         uint64_t *answered)
{
    static const size_t expect[K_KINDS] = {SS_LIMIT, SS_LIMIT, SS_SIGNED / 2};
    me->kind = kind;
    me->ns = ns;
    me->expect = expect[kind];
    me->answered = me->sent = me->received = 0;
    me->running = true;
    double cpu0 = proc_cpu(me->x->daemon_pid);
    for (int i = 0; i < SS_IN_FLIGHT; i++)
        ss_send_one(me);
    attack_loop_until(me->x, me->loop, NULL, NULL, AP_STOP, seconds);
    double cpu = proc_cpu(me->x->daemon_pid) - cpu0;
    uint64_t n = me->answered;
    me->running = false;
    /* Let what is in flight drain before the next loop starts. */
    double end = mono_s() + 30;
    while (me->received < me->sent && mono_s() < end && attack_phase(me->x) < AP_DONE)
        attack_loop_until(me->x, me->loop, NULL, NULL, AP_DONE, 0.05);
    *answered = n;
    return n ? cpu * 1e6 / (double)n : 1e9;
}

static int ss_meas_role(struct attack_ctx *x)
{
    struct ss_meas *me = xcalloc(1, sizeof(*me));
    struct ss_shm *sh = (struct ss_shm *)x->shm->scen;
    struct ss_group first = {me, 0, SS_SIGNED / 2}, last = {me, SS_SIGNED / 2, SS_SIGNED};
    struct ss_signer load = {.me = me};
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    me->x = x;
    me->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&me->log, LOG_ERROR, LOG_TEXT, stderr);
    peer_host_init(&me->host, me->loop, &me->log);
    me->c = peer_dial(&me->host, x, NET_ATTACKER, 0, &ss_load_events, &load);
    ss_sign(me, first.from, first.to);
    if (!attack_loop_until(x, me->loop, ss_signed, &first, AP_STOP, 60) ||
        !attack_loop_until(x, me->loop, ss_opened, me, AP_STOP, 60))
        goto setup_failed;
    me->step = 1;
    ss_learn(me, SS_SIGNED / 2, false);
    if (!attack_loop_until(x, me->loop, ss_learned, me, AP_STOP, 60))
        goto setup_failed;
    atomic_store(&sh->signed_before, 1);
    if (!attack_loop_until(x, me->loop, ss_flag, &sh->crowd_in, AP_STOP, 300))
        goto setup_failed;
    ss_sign(me, last.from, last.to);
    if (!attack_loop_until(x, me->loop, ss_signed, &last, AP_STOP, 60))
        goto setup_failed;
    me->step = 2;
    me->seq_b = UINT64_MAX;
    ss_learn(me, 1, true);
    if (!attack_loop_until(x, me->loop, ss_learned, me, AP_STOP, 60) || me->seq_b <= me->seq_a)
        goto setup_failed;
    sh->gap = me->seq_b - me->seq_a - 1;
    attack_ready(x);
    attack_loop_until(x, me->loop, NULL, NULL, AP_ATTACK, 3600);

    double secs = x->o->full ? 3 : 0.7;
    uint64_t wrong = 0;
    for (int k = 0; k < K_KINDS && attack_phase(x) == AP_ATTACK; k++) {
        for (int crowded = 0; crowded < 2; crowded++) {
            me->wrong = 0;
            sh->cost_us[k][crowded] = ss_measure(me, k, crowded ? SS_NS : SS_EMPTY, secs,
                                                 &sh->answered[k][crowded]);
            wrong += me->wrong;
            atomic_fetch_add(&x->shm->ops, sh->answered[k][crowded]);
        }
    }
    if (wrong)
        rc = attack_fail(x, "%llu DISCOVER answers with a wrong status or count (the first: %s)",
                         (unsigned long long)wrong, me->first_wrong);
    attack_done(x);
    attack_loop_until(x, me->loop, NULL, NULL, AP_DONE, 3600);
    goto out;
setup_failed:
    rc = attack_fail(x, "setup of the signed registrations failed (step %d)", me->step);
out:
    host_free(&me->host);
    for (int i = 0; i < SS_SIGNED; i++)
        if (me->signers[i].me)
            host_free(&me->signers[i].host);
    ev_loop_destroy(me->loop);
    free(me);
    return rc;
}

static int ss_role(struct attack_ctx *x)
{
    return x->role == 0 ? ss_crowd_role(x) : ss_meas_role(x);
}

/* ---- the crowd as another cluster node ------------------------------------------
 * sample-stall-cluster: the daemon is a cluster node, and the push crowd is
 * made on another node of the same cluster - this process, with the
 * library's cluster code and a registry of its own, a push session per
 * member, no connections. The registrations go through the same Lua scripts
 * and change log as any node's, and the daemon applies them from the log
 * into its replica, where its DISCOVERs read them: 50,000 push
 * registrations in one namespace without 50,000 descriptors. */

#define SS_NODE_BATCH 1000      /* writes per loop pass */
#define SS_NODE_WINDOW 4000     /* writes not yet back through the log: a heartbeat
                                 * queued behind them must not miss its deadline */

struct ss_node {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct log log;
    struct registry reg;
    struct cluster *c;
    struct rdv_session *sess;
    struct peer_id *ids;          /* sess[i]'s peer (the registry keeps none per session) */
    size_t n, sent;
    uint64_t refused;
};

static void ss_node_refused(void *ctx, struct rdv_session *s, enum rdv_status st)
{
    struct ss_node *nd = ctx;
    (void)s;
    if (nd->refused++ == 0)
        attack_fail(nd->x, "the cluster refused a push registration (%d)", (int)st);
}

/* Writes the next batch; done once this node's replica has them all (the
 * log applied back here: they are in Redis, in order). */
static bool ss_node_in(void *arg)
{
    struct ss_node *nd = arg;
    uint8_t ma[8] = {0x04, 127, 0, 0, 1, 0x06, 0x27, 0x10};
    struct rdv_addr a = {ma, sizeof(ma)};
    size_t back = nd->reg.stats.regs_by_dialect[RDV_DIALECT_PUSH];
    for (size_t k = 0; k < SS_NODE_BATCH && nd->sent < nd->n && nd->sent - back < SS_NODE_WINDOW;
         k++, nd->sent++) {
        struct rdv_session *s = &nd->sess[nd->sent];
        struct rdv_register q = {.ns = SS_NS, .ns_len = strlen(SS_NS), .peer = &nd->ids[nd->sent],
                                 .dialect = RDV_DIALECT_PUSH, .addrs = &a, .naddrs = 1,
                                 .owner = s, .now = ev_now(nd->loop)};
        enum rdv_status st = cluster_register(nd->c, &q, NULL);
        if (st != RDV_OK) {
            attack_fail(nd->x, "cluster write refused (%d) after %zu", (int)st, nd->sent);
            return true;
        }
    }
    return nd->reg.stats.regs_by_dialect[RDV_DIALECT_PUSH] >= nd->n ||
           atomic_load(&nd->x->shm->failed);
}

static int ss_node_role(struct attack_ctx *x)
{
    struct ss_node *nd = xcalloc(1, sizeof(*nd));
    struct ss_shm *sh = (struct ss_shm *)x->shm->scen;
    char err[256];
    int rc = 0;

    if (sodium_init() < 0)
        return 1;
    nd->x = x;
    nd->n = SS_FULL; /* no descriptor each: the full size also in short runs (~4 s) */
    nd->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&nd->log, LOG_ERROR, LOG_TEXT, stderr);
    registry_init(&nd->reg, NULL, 1, NULL, NULL);
    nd->sess = xcalloc(nd->n, sizeof(*nd->sess));
    nd->ids = xcalloc(nd->n, sizeof(*nd->ids));
    for (size_t i = 0; i < nd->n; i++) {
        struct privkey k;
        struct pubkey pub;
        privkey_generate(&k);
        privkey_public(&k, &pub);
        privkey_wipe(&k);
        peerid_from_pubkey(&nd->ids[i], &pub);
        registry_session_init(&nd->sess[i]);
    }
    struct cluster_config cc = {.url = x->cluster_url, .node_timeout = 5, .log_max = 4 * nd->n,
                                .refused = ss_node_refused, .refused_ctx = nd};
    nd->c = cluster_open(nd->loop, &nd->log, &nd->reg, &cc, err, sizeof(err));
    if (nd->c == NULL) {
        rc = attack_fail(x, "cannot join the cluster: %s", err);
        goto out;
    }
    if (!cluster_wait_ready(nd->c, 30)) {
        rc = attack_fail(x, "the crowd's node is not in sync with the cluster");
        goto out;
    }
    if (!attack_loop_until(x, nd->loop, ss_flag, &sh->signed_before, AP_STOP, 120)) {
        rc = attack_fail(x, "the signed registrations were not made");
        goto out;
    }
    if (!attack_loop_until(x, nd->loop, ss_node_in, nd, AP_STOP, 200) ||
        atomic_load(&x->shm->failed)) {
        rc = attack_fail(x, "%zu of %zu push registrations in the cluster",
                         nd->reg.stats.regs_by_dialect[RDV_DIALECT_PUSH], nd->n);
        goto out;
    }
    sh->crowd = nd->n;
    atomic_store(&sh->crowd_in, 1);
    attack_ready(x);
    attack_done(x); /* nothing to do but stay alive (heartbeats) */
    attack_loop_until(x, nd->loop, NULL, NULL, AP_DONE, 3600);
out:
    if (nd->c)
        store_close(cluster_store(nd->c));
    registry_free(&nd->reg);
    ev_loop_destroy(nd->loop);
    free(nd->sess);
    free(nd->ids);
    free(nd);
    return rc;
}

static int ss_cluster_role(struct attack_ctx *x)
{
    return x->role == 0 ? ss_node_role(x) : ss_meas_role(x);
}

static int ss_judge(struct attack_ctx *x, double attack_s, char *out, size_t cap)
{
    const struct ss_shm *sh = (const struct ss_shm *)x->shm->scen;
    double bound = x->o->full ? 2 : 3;
    size_t len = 0;
    int rc = 0;
    (void)attack_s;
    if (x->cluster_url[0])
        len += (size_t)snprintf(out, cap, "%llu push registrations made on another node",
                                (unsigned long long)sh->crowd);
    else
        len += (size_t)snprintf(out, cap, "%llu push registrations (%llu dials refused on the way)",
                                (unsigned long long)sh->crowd,
                                (unsigned long long)sh->crowd_retries);
    len += (size_t)snprintf(out + len, cap - len, ", gap of %llu seqs; CPU per request "
                            "uncrowded/crowded:", (unsigned long long)sh->gap);
    for (int k = 0; k < K_KINDS && len < cap; k++) {
        double ratio = sh->cost_us[k][1] / sh->cost_us[k][0];
        if (!(ratio <= bound))
            rc = 1;
        len += (size_t)snprintf(out + len, cap - len, " %s %.0f/%.0f us (x%.1f%s)", ss_kind_name[k],
                                sh->cost_us[k][0], sh->cost_us[k][1], ratio,
                                ratio <= bound ? "" : ", over the bound");
    }
    if (rc && len < cap)
        snprintf(out + len, cap - len, "; bound x%.0f", bound);
    return rc;
}

const struct scenario scen_sample_stall = {
    .name = "sample-stall",
    .what = "DISCOVERs (Waku, standard, gap cookies) in a namespace of push registrations",
    .nroles = 2,
    .role = ss_role,
    .rss_bound_mb = 64,
    .attack_s = 60,
    .attack_s_short = 30,
    .judge = ss_judge,
};

const struct scenario scen_sample_stall_cluster = {
    .name = "sample-stall-cluster",
    .what = "the same, the push registrations (50,000) made on another node of a cluster",
    .nroles = 2,
    .role = ss_cluster_role,
    .rss_bound_mb = 64,
    .attack_s = 60,
    .attack_s_short = 30,
    .judge = ss_judge,
    .cluster = true,
};
