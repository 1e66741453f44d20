/* The fanout and idle scenarios against rendezvousd (push mode): the parent
 * starts the server and the session workers, and for fan-out runs the
 * registrant - a peer of its own that churns REGISTER / UNREGISTER in
 * BENCH_NS, event e's address carrying e. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rendezvous/client.h>

#include "bench.h"
#include "psess.h"

/* The registrant: an rdv_client whose registration in BENCH_NS is made and
 * ended once per event. */
struct registrant {
    rdv_client *c;
    bool ready, failed;
    uint64_t refused;
};

static void reg_state(rdv_client *c, int connected, const char *reason, void *arg)
{
    struct registrant *r = arg;
    (void)c;
    if (connected)
        return;
    if (!r->failed)
        fprintf(stderr, "rdv-bench: registrant connection closed: %s\n", reason);
    r->failed = true;
}

static void reg_refused(rdv_client *c, const char *request, int status, const char *text, void *arg)
{
    struct registrant *r = arg;
    (void)c, (void)request, (void)status, (void)text;
    r->refused++;
}

/* The push session is open once a sync completes. */
static void reg_synced(rdv_client *c, const rdv_result *res, void *arg)
{
    struct registrant *r = arg;
    (void)c;
    if (res->error == RDV_CLIENT_OK)
        r->ready = true;
    else
        r->failed = true;
}

static void reg_issue(void *ctx, uint64_t e)
{
    struct registrant *r = ctx;
    if (r->failed)
        return;
    if ((e & 1) == 0) {
        char addr[64];
        const char *addrs[1] = {addr};
        bench_seq_text(addr, sizeof(addr), (uint32_t)e);
        rdv_client_register(r->c, BENCH_NS, addrs, 1);
    } else {
        rdv_client_unregister(r->c, BENCH_NS);
    }
}

static bool reg_settled(void *ctx)
{
    struct registrant *r = ctx;
    return r->ready || r->failed;
}

static bool all_ready(void *ctx)
{
    struct workers *ws = ctx;
    return ws->nready >= ws->n;
}

static bool all_done(void *ctx)
{
    struct workers *ws = ctx;
    return ws->ndone >= ws->n;
}

static int default_procs(const struct bench_opts *o, int sessions, int per_proc)
{
    if (o->procs > 0)
        return o->procs;
    int n = (sessions + per_proc - 1) / per_proc;
    return n < 1 ? 1 : n > BENCH_MAX_WORKERS ? BENCH_MAX_WORKERS : n;
}

int run_fanout(const struct bench_opts *o, struct bench_table *t, int subs, int window,
               double rate, double *per_s, struct bench_row **row_out)
{
    struct server srv;
    struct workers ws;
    struct bench_row *row = table_add(t, rate > 0 ? "fanout paced" : "fanout");
    int rc = -1;

    *per_s = 0;
    if (row_out)
        *row_out = row;
    if (row == NULL)
        return -1;
    if (rate > 0)
        snprintf(row->params, sizeof(row->params), "S=%d, %.0f k deliveries/s", subs, rate / 1e3);
    else
        snprintf(row->params, sizeof(row->params), "S=%d, W=%d", subs, window);
    snprintf(row->figure, sizeof(row->figure), "failed");
    /* its metrics give the socket writes (send(2) is not in /proc/PID/io's syscw) */
    const char *args[16];
    char maddr[32];
    int mport = bench_free_port(), na = 0;
    for (; o->server_args && o->server_args[na] && na < 8; na++)
        args[na] = o->server_args[na];
    snprintf(maddr, sizeof maddr, "127.0.0.1:%d", mport);
    args[na++] = "--metrics";
    args[na++] = maddr;
    args[na] = NULL;
    if (rdv_server_start_with(&srv, o->daemon, args) < 0)
        return -1;

    struct fan_shm *shm = shm_alloc(sizeof(*shm));
    shm->subs = (uint64_t)subs;
    struct psess_cfg cfg = {
        .mode = PW_FANOUT, .addr = srv.addr, .sessions = subs,
        .nworkers = default_procs(o, subs, 5000), .shm = shm,
    };
    if (o->verbose)
        fprintf(stderr, "fanout: S=%d W=%d rate=%.0f, %d worker(s), server pid %d %s\n", subs,
                window, rate, cfg.nworkers, (int)srv.pid, srv.addr);
    double t_setup = now_s();
    if (workers_start(&ws, cfg.nworkers, psess_worker, &cfg) < 0)
        goto out_workers;

    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    struct registrant *reg = bench_calloc(1, sizeof(*reg));
    if (wait_until(loop, &ws, all_ready, &ws, 300) < 0) {
        fprintf(stderr, "rdv-bench: fanout: subscribers did not get ready\n");
        goto out_loop;
    }
    t_setup = now_s() - t_setup;
    char err[256] = "";
    rdv_client_options ro = {
        .server = o->registrant_at ? o->registrant_at : srv.addr,
        .on_state = reg_state, .on_refused = reg_refused, .arg = reg,
        .keepalive_s = -1, .connect_timeout_s = 30,
    };
    reg->c = rdv_client_new(loop, &ro, err, sizeof(err));
    if (reg->c == NULL || rdv_client_sync(reg->c, reg_synced, reg) != RDV_CLIENT_OK ||
        wait_until(loop, &ws, reg_settled, reg, 30) < 0 || reg->failed) {
        fprintf(stderr, "rdv-bench: fanout: registrant could not connect %s\n", err);
        goto out_loop;
    }

    double measure = o->seconds > 0 ? o->seconds : o->quick ? 4 : 15;
    struct fan_driver d = {
        .shm = shm, .ws = &ws, .loop = loop, .issue = reg_issue, .ctx = reg,
        .window = (uint32_t)window, .events_per_s = rate > 0 ? rate / subs : 0,
        .warmup_s = o->quick ? 1 : 3, .measure_s = measure, .server_pid = srv.pid,
        .watch_pid = o->watch_pid, .metrics_port = mport,
    };
    int drc = fan_drive(&d);
    wait_until(loop, &ws, all_done, &ws, 20);

    struct fan_wstats sum;
    fan_collect(shm, ws.n, &sum);
    uint64_t events = d.measure_last - d.measure_first;
    double span = d.t_last_done - d.t_measure0;
    double rate_done = span > 0 ? (double)events * subs / span : 0;
    *per_s = rate_done;
    if (drc == 0 || events > 0) {
        if (rate > 0)
            snprintf(row->figure, sizeof(row->figure), "%.0f k deliveries/s; lost %llu, dup %llu",
                     rate_done / 1e3, (unsigned long long)sum.lost, (unsigned long long)sum.dup);
        else
            snprintf(row->figure, sizeof(row->figure), "%.0f k deliveries/s; lost %llu, dup %llu",
                     rate_done / 1e3, (unsigned long long)sum.lost, (unsigned long long)sum.dup);
        if (sum.bad || sum.closed || reg->refused)
            snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                     ", bad %llu", (unsigned long long)(sum.bad + sum.closed + reg->refused));
        if (d.server_cpu > 0)
            snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                     "; server %.0f%% CPU = %.0f k/s per core, %.1f deliveries/write",
                     d.server_cpu * 100, rate_done / d.server_cpu / 1e3,
                     d.server_writes ? (double)events * subs / (double)d.server_writes : 0.0);
        if (d.watch_pid > 0)
            snprintf(row->figure + strlen(row->figure), sizeof(row->figure) - strlen(row->figure),
                     "; %s %.0f%% CPU", o->watch_name ? o->watch_name : "watched", d.watch_cpu * 100);
        fan_subs_cpu_text(&d, rate_done, row->figure, sizeof(row->figure));
        hist_format(&sum.lat, row->latency, sizeof(row->latency), true);
        if (rate <= 0) /* the ratio to redis from the same run goes in the last column */
            snprintf(row->target, sizeof(row->target), ">= 1.00x redis");
        rc = drc == 0 && sum.lost == 0 && sum.dup == 0 ? 0 : -1;
    }
    if (o->verbose)
        fprintf(stderr,
                "fanout: setup %.1f s, %llu events measured over %.2f s, %llu deliveries, "
                "latency samples %llu, %s\n",
                t_setup, (unsigned long long)events, span, (unsigned long long)sum.delivered,
                (unsigned long long)sum.lat.n, d.timed_out ? "TIMED OUT" : "ok");
out_loop:
    atomic_store(&shm->stop, 1);
    rdv_client_free(reg->c);
    free(reg);
    ev_loop_destroy(loop);
out_workers:
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 20);
    server_stop(&srv);
    shm_free(shm, sizeof(*shm));
    return rc;
}

/* ---- idle --------------------------------------------------------------- */

int run_idle(const struct bench_opts *o, struct bench_table *t)
{
    struct server srv;
    struct workers ws;
    struct bench_row *row = table_add(t, "idle");
    int n = o->sessions > 0 ? o->sessions : o->quick ? 2000 : 10000;
    int spc = o->streams > 0 ? o->streams : 1;
    int rc = -1;

    if (row == NULL)
        return -1;
    snprintf(row->params, sizeof(row->params), "N=%d sessions, %d/connection", n, spc);
    snprintf(row->figure, sizeof(row->figure), "failed");
    if (rdv_server_start(&srv, o->daemon) < 0)
        return -1;
    usleep(300000);
    long long rss0 = proc_rss(srv.pid);

    struct fan_shm *shm = shm_alloc(sizeof(*shm));
    struct psess_cfg cfg = {
        .mode = PW_IDLE, .addr = srv.addr, .sessions = n,
        .nworkers = default_procs(o, (n + spc - 1) / spc, 9000), .shm = shm,
    };
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    double t0 = now_s();
    if (workers_start(&ws, cfg.nworkers, psess_worker, &cfg) < 0)
        goto out;
    if (wait_until(loop, &ws, all_ready, &ws, 600) < 0) {
        fprintf(stderr, "rdv-bench: idle: sessions did not get ready\n");
        goto out;
    }
    double setup = now_s() - t0;
    /* Settle: handshake buffers freed, nothing in flight. */
    usleep(o->quick ? 1000000 : 3000000);
    long long rss1 = proc_rss(srv.pid);
    double per = (double)(rss1 - rss0) / n;
    int conns = (n + spc - 1) / spc;
    snprintf(row->figure, sizeof(row->figure),
             "%.0f B/session server RSS (%.1f MiB for %d); setup %.0f conn/s", per,
             (double)(rss1 - rss0) / (1024.0 * 1024.0), n, conns / setup);
    snprintf(row->target, sizeof(row->target), "%.2fx of 800 B (lower is better)", per / 800.0);
    snprintf(row->latency, sizeof(row->latency), "-");
    rc = 0;
    atomic_store(&shm->stop, 1);
    wait_until(loop, &ws, all_done, &ws, 30);
out:
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 30);
    ev_loop_destroy(loop);
    server_stop(&srv);
    shm_free(shm, sizeof(*shm));
    return rc;
}
