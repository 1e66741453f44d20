/* The requests scenario: C clients, each a peer of its own on its own
 * connection and stream, looping /rendezvous/1.0.0 REGISTER (a signed peer
 * record sealed once per client) then DISCOVER(limit 10) in one namespace.
 * One op is the REGISTER+DISCOVER pair; latency is its round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "bench.h"
#include "crypto/key.h"
#include "crypto/record.h"
#include "host/host.h"
#include "rendezvous.pb-c.h"

#define RDV1_PROTOCOL "/rendezvous/1.0.0"
#define REQ_NS "bench-req"
#define REQ_TTL 7200

struct rq_shm {
    _Atomic uint64_t ops[BENCH_MAX_WORKERS];
    _Atomic uint64_t errors[BENCH_MAX_WORKERS];
    _Atomic int measuring;
    _Atomic int stop;
    struct hist lat[BENCH_MAX_WORKERS];
};

struct rq_cfg {
    const char *addr;
    int clients, nworkers;
    struct rq_shm *shm;
};

struct rq_worker;

struct rq_client {
    struct rq_worker *w;
    struct host host;
    struct conn *c;
    struct stream *s;
    struct lpm rd;
    struct buf reg_msg, disc_msg;  /* framed requests, built once */
    uint64_t t0;
    bool waiting_discover;
};

struct rq_worker {
    const struct rq_cfg *cfg;
    int idx, wfd;
    struct ev_loop *loop;
    struct log log;
    struct rq_client *cl;
    int n;
    bool stopping;
    pid_t parent;
    ev_timer tick;
};

static void rq_error(struct rq_client *c, const char *why)
{
    struct rq_worker *w = c->w;
    if (atomic_fetch_add(&w->cfg->shm->errors[w->idx], 1) == 0)
        fprintf(stderr, "rdv-bench: requests: %s\n", why);
}

static void rq_send_register(struct rq_client *c)
{
    c->t0 = now_ns();
    c->waiting_discover = false;
    stream_write(c->s, buf_head(&c->reg_msg), buf_size(&c->reg_msg));
}

static void rq_message(struct rq_client *c, const uint8_t *m, size_t n)
{
    struct rq_worker *w = c->w;
    Rendezvous__Message *msg = rendezvous__message__unpack(NULL, n, m);
    if (msg == NULL) {
        rq_error(c, "undecodable reply");
        return;
    }
    if (!c->waiting_discover) {
        if (msg->type != RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE ||
            msg->registerresponse == NULL || msg->registerresponse->status != 0)
            rq_error(c, "REGISTER was not answered with status OK");
        c->waiting_discover = true;
        stream_write(c->s, buf_head(&c->disc_msg), buf_size(&c->disc_msg));
    } else {
        if (msg->type != RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE ||
            msg->discoverresponse == NULL || msg->discoverresponse->status != 0 ||
            msg->discoverresponse->n_registrations == 0)
            rq_error(c, "DISCOVER was not answered with registrations");
        atomic_fetch_add_explicit(&w->cfg->shm->ops[w->idx], 1, memory_order_relaxed);
        if (atomic_load_explicit(&w->cfg->shm->measuring, memory_order_relaxed))
            hist_add(&w->cfg->shm->lat[w->idx], now_ns() - c->t0);
        if (!w->stopping)
            rq_send_register(c);
    }
    rendezvous__message__free_unpacked(msg, NULL);
}

static int rq_open(struct stream *s)
{
    struct rq_client *c = s->state;
    c->s = s;
    rq_send_register(c);
    return 0;
}

static void rq_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct rq_client *c = s->state;
    const uint8_t *m;
    size_t len;
    int rc;
    lpm_push(&c->rd, d, n);
    while ((rc = lpm_next(&c->rd, &m, &len)) == 1)
        rq_message(c, m, len);
    if (rc < 0)
        rq_error(c, "bad framing");
}

static void rq_close(struct stream *s)
{
    struct rq_client *c = s->state;
    c->s = NULL;
    if (!c->w->stopping)
        rq_error(c, s->opened ? "stream closed by the server" : "server does not speak " RDV1_PROTOCOL);
}

static const struct protocol rq_proto = {
    .id = RDV1_PROTOCOL, .on_open = rq_open, .on_data = rq_data, .on_close = rq_close,
};

static void rq_ready(struct conn *conn, void *user)
{
    struct rq_client *c = user;
    if (conn_open_stream(conn, &rq_proto, c) == NULL)
        rq_error(c, "cannot open a stream");
}

static void rq_closed(struct conn *conn, void *user, const char *reason)
{
    struct rq_client *c = user;
    (void)conn;
    c->c = NULL;
    if (!c->w->stopping)
        rq_error(c, reason);
}

static const struct conn_events rq_events = {.on_ready = rq_ready, .on_closed = rq_closed};

static void rq_build(struct rq_client *c, const struct privkey *k, int gidx)
{
    struct buf env = BUF_INIT;
    uint8_t ma[8] = {0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1}; /* /ip4/127.0.0.1/tcp/4001 */
    struct record_addr a = {ma, sizeof(ma)};
    uint8_t tmp[16384];
    (void)gidx;

    record_seal(k, RECORD_STANDARD, 1, &a, 1, &env);
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Register r = RENDEZVOUS__MESSAGE__REGISTER__INIT;
    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.register_ = &r;
    r.ns = (char *)REQ_NS;
    r.has_signedpeerrecord = 1;
    r.signedpeerrecord.data = buf_head(&env);
    r.signedpeerrecord.len = buf_size(&env);
    r.has_ttl = 1;
    r.ttl = REQ_TTL;
    size_t n = rendezvous__message__get_packed_size(&m);
    if (n > sizeof(tmp))
        abort();
    rendezvous__message__pack(&m, tmp);
    lpm_frame(&c->reg_msg, tmp, n);
    buf_free(&env);

    Rendezvous__Message q = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Discover d = RENDEZVOUS__MESSAGE__DISCOVER__INIT;
    q.has_type = 1;
    q.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER;
    q.discover = &d;
    d.ns = (char *)REQ_NS;
    d.has_limit = 1;
    d.limit = 10;
    n = rendezvous__message__get_packed_size(&q);
    rendezvous__message__pack(&q, tmp);
    lpm_frame(&c->disc_msg, tmp, n);
}

static void rq_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct rq_worker *w = t->data;
    (void)revents;
    if (atomic_load(&w->cfg->shm->stop) || getppid() != w->parent) {
        w->stopping = true;
        ev_break(loop, EVBREAK_ALL);
    }
}

static int rq_worker_main(int idx, int wfd, void *arg)
{
    const struct rq_cfg *cfg = arg;
    struct rq_worker *w = xcalloc(1, sizeof(*w));
    struct host_limits lim;
    char err[256];

    if (sodium_init() < 0)
        return 1;
    w->cfg = cfg;
    w->idx = idx;
    w->wfd = wfd;
    w->parent = getppid();
    w->n = cfg->clients / cfg->nworkers + (idx < cfg->clients % cfg->nworkers);
    w->cl = xcalloc((size_t)(w->n > 0 ? w->n : 1), sizeof(*w->cl));
    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&w->log, LOG_ERROR, LOG_TEXT, stderr);
    host_limits_default(&lim);
    lim.idle_timeout = 86400;
    for (int i = 0; i < w->n; i++) {
        struct rq_client *c = &w->cl[i];
        struct privkey k;
        c->w = w;
        privkey_generate(&k);
        host_init(&c->host, w->loop, &w->log, &k, &lim);
        rq_build(c, &k, i);
        privkey_wipe(&k);
        lpm_init(&c->rd, 1u << 20);
        c->c = host_dial(&c->host, cfg->addr, &rq_events, c, err, sizeof(err));
        if (c->c == NULL)
            rq_error(c, err);
    }
    ev_timer_init(&w->tick, rq_tick, 0.02, 0.02);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    ev_run(w->loop, 0);
    w->stopping = true;
    ev_timer_stop(w->loop, &w->tick);
    for (int i = 0; i < w->n; i++) {
        host_free(&w->cl[i].host);
        lpm_free(&w->cl[i].rd);
        buf_free(&w->cl[i].reg_msg);
        buf_free(&w->cl[i].disc_msg);
    }
    ev_loop_destroy(w->loop);
    free(w->cl);
    free(w);
    return 0;
}

int run_requests(const struct bench_opts *o, struct bench_table *t)
{
    struct server srv;
    struct workers ws;
    struct bench_row *row = table_add(t, "requests");
    int clients = o->clients > 0 ? o->clients : 64;
    int procs = o->procs > 0 ? o->procs : 1;
    double measure = o->seconds > 0 ? o->seconds : o->quick ? 4 : 15;

    if (row == NULL)
        return -1;
    snprintf(row->params, sizeof(row->params), "C=%d, REGISTER+DISCOVER(10)", clients);
    snprintf(row->figure, sizeof(row->figure), "failed");
    /* with a data directory: the store's counters come from its metrics */
    char maddr[32];
    int mport = o->data_dir ? bench_free_port() : -1;
    snprintf(maddr, sizeof maddr, "127.0.0.1:%d", mport);
    const char *extra[] = {"--data-dir", o->data_dir, "--metrics", maddr, NULL};
    if (o->data_dir)
        snprintf(row->params, sizeof(row->params), "C=%d, REGISTER+DISCOVER(10), LMDB", clients);
    if (rdv_server_start_with(&srv, o->daemon, o->data_dir ? extra : NULL) < 0)
        return -1;
    struct rq_shm *shm = shm_alloc(sizeof(*shm));
    struct rq_cfg cfg = {.addr = srv.addr, .clients = clients, .nworkers = procs, .shm = shm};
    if (workers_start(&ws, procs, rq_worker_main, &cfg) < 0)
        goto out;
    usleep(o->quick ? 1500000 : 3000000); /* connect and warm up */
    double commits0 = 0, changes0 = 0, commits1 = 0, changes1 = 0;
    bool store = o->data_dir && metrics_value(mport, "rendezvousd_store_commits_total", &commits0) == 0 &&
                 metrics_value(mport, "rendezvousd_store_changes_total", &changes0) == 0;
    uint64_t c0 = shm_sum(shm->ops, ws.n), e0 = shm_sum(shm->errors, ws.n);
    double cpu0 = proc_cpu(srv.pid), t0 = now_s();
    atomic_store(&shm->measuring, 1);
    usleep((useconds_t)(measure * 1e6));
    atomic_store(&shm->measuring, 0);
    uint64_t c1 = shm_sum(shm->ops, ws.n), e1 = shm_sum(shm->errors, ws.n);
    double cpu1 = proc_cpu(srv.pid), t1 = now_s();
    store = store && metrics_value(mport, "rendezvousd_store_commits_total", &commits1) == 0 &&
            metrics_value(mport, "rendezvousd_store_changes_total", &changes1) == 0;
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 20);

    double rate = (double)(c1 - c0) / (t1 - t0);
    double cpu = (cpu1 - cpu0) / (t1 - t0);
    struct hist lat;
    memset(&lat, 0, sizeof(lat));
    for (int i = 0; i < ws.n; i++)
        hist_merge(&lat, &shm->lat[i]);
    /* On 2 shared cores the clients compete with the server: ops per server
     * core is the figure that does not move with the machine's load. */
    snprintf(row->figure, sizeof(row->figure), "%.0f ops/s (server %.0f%% CPU: %.0f per core)",
             rate, cpu * 100, cpu > 0 ? rate / cpu : 0);
    if (store && commits1 > commits0)
        snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                 "; %.0f commits/s, %.1f changes/commit", (commits1 - commits0) / (t1 - t0),
                 (changes1 - changes0) / (commits1 - commits0));
    else if (o->data_dir)
        snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                 "; store metrics unreadable");
    if (e1 > 0)
        snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                 "; %llu errors", (unsigned long long)e1);
    (void)e0;
    hist_format(&lat, row->latency, sizeof(row->latency), false);
    snprintf(row->target, sizeof(row->target), "%.2fx of 50000 ops/s", rate / 50000.0);
out:
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 20);
    server_stop(&srv);
    shm_free(shm, sizeof(*shm));
    return 0;
}
