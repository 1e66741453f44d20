/* The requests scenario: C clients, each a peer of its own on its own
 * connection and stream, looping /rendezvous/1.0.0 REGISTER (a signed peer
 * record sealed once per client) then DISCOVER(limit 10) in one namespace.
 * One op is the REGISTER+DISCOVER pair; latency is its round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rendezvous/client.h>

#include "bench.h"

#define REQ_NS "bench-req"
#define REQ_TTL 7200
#define REQ_ADDR "/ip4/127.0.0.1/tcp/4001"

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

/* A client: an rdv_client of its own (its own peer) whose requests share
 * one stream; it loops REGISTER then, once answered, DISCOVER. */
struct rq_client {
    struct rq_worker *w;
    rdv_client *c;
    uint64_t t0;
};

struct rq_worker {
    const struct rq_cfg *cfg;
    int idx, wfd;
    struct ev_loop *loop;
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

static void rq_register(struct rq_client *c);

static void rq_discovered(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct rq_client *c = arg;
    struct rq_worker *w = c->w;
    (void)rc;
    if (w->stopping)
        return;
    if (r->error != RDV_CLIENT_OK || r->nregs == 0)
        rq_error(c, r->error ? r->status_text : "DISCOVER was not answered with registrations");
    atomic_fetch_add_explicit(&w->cfg->shm->ops[w->idx], 1, memory_order_relaxed);
    if (atomic_load_explicit(&w->cfg->shm->measuring, memory_order_relaxed))
        hist_add(&w->cfg->shm->lat[w->idx], now_ns() - c->t0);
    if (r->error == RDV_CLIENT_OK || r->error == RDV_CLIENT_ERR_REFUSED)
        rq_register(c);
}

static void rq_registered(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct rq_client *c = arg;
    (void)rc;
    if (c->w->stopping)
        return;
    if (r->error != RDV_CLIENT_OK)
        rq_error(c, r->status_text);
    if (r->error != RDV_CLIENT_OK && r->error != RDV_CLIENT_ERR_REFUSED)
        return; /* the connection is gone */
    if (rdv_client_discover(c->c, RDV_CLIENT_STANDARD, REQ_NS, 10, NULL, 0, rq_discovered, c) != 0)
        rq_error(c, "cannot send DISCOVER");
}

static void rq_register(struct rq_client *c)
{
    static const char *const addrs[1] = {REQ_ADDR};
    c->t0 = now_ns();
    if (rdv_client_std_register(c->c, RDV_CLIENT_STANDARD, REQ_NS, addrs, 1, REQ_TTL, rq_registered,
                                c) != 0)
        rq_error(c, "cannot send REGISTER");
}

static void rq_state(rdv_client *rc, int connected, const char *reason, void *arg)
{
    struct rq_client *c = arg;
    (void)rc;
    if (!connected && !c->w->stopping)
        rq_error(c, reason);
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
    struct rq_worker *w = bench_calloc(1, sizeof(*w));
    char err[256];

    w->cfg = cfg;
    w->idx = idx;
    w->wfd = wfd;
    w->parent = getppid();
    w->n = cfg->clients / cfg->nworkers + (idx < cfg->clients % cfg->nworkers);
    w->cl = bench_calloc((size_t)(w->n > 0 ? w->n : 1), sizeof(*w->cl));
    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    for (int i = 0; i < w->n; i++) {
        struct rq_client *c = &w->cl[i];
        rdv_client_options o = {
            .server = cfg->addr, .on_state = rq_state, .arg = c, .keepalive_s = -1,
            .connect_timeout_s = 60, .reuse_streams = 1,
        };
        c->w = w;
        c->c = rdv_client_new(w->loop, &o, err, sizeof(err)); /* a fresh identity each */
        if (c->c == NULL)
            rq_error(c, err);
        else
            rq_register(c); /* sent once connected */
    }
    ev_timer_init(&w->tick, rq_tick, 0.02, 0.02);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    ev_run(w->loop, 0);
    w->stopping = true;
    ev_timer_stop(w->loop, &w->tick);
    for (int i = 0; i < w->n; i++)
        rdv_client_free(w->cl[i].c);
    ev_loop_destroy(w->loop);
    free(w->cl);
    free(w);
    return 0;
}

/* CPU seconds so far of the client worker processes. */
static double rq_clients_cpu(const struct workers *ws)
{
    double sum = 0;
    for (int i = 0; i < ws->n; i++)
        sum += proc_cpu(ws->pid[i]);
    return sum;
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
    double cpu0 = proc_cpu(srv.pid), ccpu0 = rq_clients_cpu(&ws), t0 = now_s();
    atomic_store(&shm->measuring, 1);
    usleep((useconds_t)(measure * 1e6));
    atomic_store(&shm->measuring, 0);
    uint64_t c1 = shm_sum(shm->ops, ws.n), e1 = shm_sum(shm->errors, ws.n);
    double cpu1 = proc_cpu(srv.pid), ccpu1 = rq_clients_cpu(&ws), t1 = now_s();
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
    double ccpu = (ccpu1 - ccpu0) / (t1 - t0);
    snprintf(row->figure, sizeof(row->figure),
             "%.0f ops/s (server %.0f%% CPU: %.0f per core; clients %.0f%% CPU, %.1f us per op)", rate,
             cpu * 100, cpu > 0 ? rate / cpu : 0, ccpu * 100, rate > 0 ? ccpu / rate * 1e6 : 0);
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
