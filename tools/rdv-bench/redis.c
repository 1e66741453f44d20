/* The redis scenario: the fan-out shape against redis-server pub/sub on
 * loopback, for comparison. S subscribers (hiredis async on libev, one
 * connection each) on one channel; the parent publishes event e as the
 * payload "e", closed-loop with the same window as the rendezvousd run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "bench.h"

#define CONNECT_INFLIGHT 256

struct rs_cfg {
    const char *host;
    int port, subs, nworkers;
    struct fan_shm *shm;
};

struct rs_worker;

struct rs_sub {
    struct rs_worker *w;
    redisAsyncContext *ac;
    uint64_t next;
    bool ready;
};

struct rs_worker {
    const struct rs_cfg *cfg;
    int idx, wfd;
    struct ev_loop *loop;
    struct rs_sub *subs;
    int n, started, inflight, nready;
    struct fan_counter fc;
    struct fan_wstats *st;
    double t_start;
    bool failed, stopping;
    pid_t parent;
    ev_timer tick;
};

static void rs_fail(struct rs_worker *w, const char *why)
{
    if (w->failed || w->stopping)
        return;
    w->failed = true;
    fprintf(stderr, "rdv-bench: redis worker %d: %s\n", w->idx, why);
    worker_report(w->wfd, w->idx, W_FAIL, 0);
}

static void rs_connect_more(struct rs_worker *w);

static void rs_on_message(redisAsyncContext *ac, void *r, void *privdata)
{
    struct rs_sub *s = privdata;
    struct rs_worker *w = s->w;
    redisReply *reply = r;
    (void)ac;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    const redisReply *kind = reply->element[0];
    if (kind->type != REDIS_REPLY_STRING)
        return;
    if (strcmp(kind->str, "subscribe") == 0) {
        if (!s->ready) {
            s->ready = true;
            w->inflight--;
            w->nready++;
            w->st->ready = (uint64_t)w->nready;
            if (w->nready == w->n) {
                w->st->setup_s = now_s() - w->t_start;
                worker_report(w->wfd, w->idx, W_READY, (uint64_t)w->n);
            }
            rs_connect_more(w);
        }
        return;
    }
    if (strcmp(kind->str, "message") != 0 || reply->element[2]->type != REDIS_REPLY_STRING)
        return;
    uint64_t e = strtoull(reply->element[2]->str, NULL, 10);
    if (e < s->next) {
        w->st->dup++;
        return;
    }
    if (e > s->next)
        w->st->lost += e - s->next;
    s->next = e + 1;
    fan_deliver(&w->fc, w->st, e, now_ns());
}

static void rs_on_connect(const redisAsyncContext *ac, int status)
{
    struct rs_sub *s = ac->data;
    if (status != REDIS_OK) {
        s->ac = NULL; /* hiredis frees it */
        rs_fail(s->w, ac->errstr);
    }
}

static void rs_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rs_sub *s = ac->data;
    (void)status;
    s->ac = NULL;
    if (!s->w->stopping)
        rs_fail(s->w, "a subscriber was disconnected");
}

static void rs_connect_more(struct rs_worker *w)
{
    while (w->started < w->n && w->inflight < CONNECT_INFLIGHT && !w->failed) {
        struct rs_sub *s = &w->subs[w->started++];
        s->w = w;
        s->ac = redisAsyncConnect(w->cfg->host, w->cfg->port);
        if (s->ac == NULL || s->ac->err) {
            rs_fail(w, s->ac ? s->ac->errstr : "out of memory");
            if (s->ac)
                redisAsyncFree(s->ac);
            s->ac = NULL;
            return;
        }
        s->ac->data = s;
        redisLibevAttach(w->loop, s->ac);
        redisAsyncSetConnectCallback(s->ac, rs_on_connect);
        redisAsyncSetDisconnectCallback(s->ac, rs_on_disconnect);
        redisAsyncCommand(s->ac, rs_on_message, s, "SUBSCRIBE %s", BENCH_NS);
        w->inflight++;
    }
}

static void rs_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct rs_worker *w = t->data;
    (void)revents;
    if (atomic_load(&w->cfg->shm->stop) || getppid() != w->parent) {
        uint64_t total = atomic_load(&w->cfg->shm->total);
        w->stopping = true;
        for (int i = 0; i < w->n; i++)
            if (w->subs[i].next < total)
                w->st->lost += total - w->subs[i].next;
        worker_report(w->wfd, w->idx, W_DONE, 0);
        ev_break(loop, EVBREAK_ALL);
    }
}

static int rs_worker_main(int idx, int wfd, void *arg)
{
    const struct rs_cfg *cfg = arg;
    struct rs_worker *w = bench_calloc(1, sizeof(*w));

    w->cfg = cfg;
    w->idx = idx;
    w->wfd = wfd;
    w->parent = getppid();
    w->n = cfg->subs / cfg->nworkers + (idx < cfg->subs % cfg->nworkers);
    w->subs = bench_calloc((size_t)(w->n > 0 ? w->n : 1), sizeof(*w->subs));
    w->st = &cfg->shm->w[idx];
    w->st->sessions = (uint64_t)w->n;
    fan_counter_init(&w->fc, cfg->shm, idx, wfd, (uint32_t)w->n);
    w->loop = ev_loop_new(EVBACKEND_EPOLL);
    ev_timer_init(&w->tick, rs_tick, 0.02, 0.02);
    w->tick.data = w;
    ev_timer_start(w->loop, &w->tick);
    w->t_start = now_s();
    rs_connect_more(w);
    ev_run(w->loop, 0);
    ev_timer_stop(w->loop, &w->tick);
    for (int i = 0; i < w->n; i++)
        if (w->subs[i].ac)
            redisAsyncFree(w->subs[i].ac); /* calls the disconnect callback */
    ev_loop_destroy(w->loop);
    fan_counter_free(&w->fc);
    int rc = w->failed ? 1 : 0;
    free(w->subs);
    free(w);
    return rc;
}

/* ---- parent: the publisher --------------------------------------------- */

struct publisher {
    redisAsyncContext *ac;
    bool connected, failed;
};

static void pub_on_connect(const redisAsyncContext *ac, int status)
{
    struct publisher *p = ac->data;
    if (status == REDIS_OK) {
        p->connected = true;
    } else {
        p->failed = true;
        p->ac = NULL;
    }
}

static void pub_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct publisher *p = ac->data;
    (void)status;
    p->ac = NULL;
}

static void pub_issue(void *ctx, uint64_t e)
{
    struct publisher *p = ctx;
    char payload[24];
    if (p->ac == NULL)
        return;
    snprintf(payload, sizeof(payload), "%llu", (unsigned long long)e);
    redisAsyncCommand(p->ac, NULL, NULL, "PUBLISH %s %s", BENCH_NS, payload);
}

static bool pub_settled(void *ctx)
{
    struct publisher *p = ctx;
    return p->connected || p->failed;
}

static bool rs_all_ready(void *ctx)
{
    struct workers *ws = ctx;
    return ws->nready >= ws->n;
}

static bool rs_all_done(void *ctx)
{
    struct workers *ws = ctx;
    return ws->ndone >= ws->n;
}

int run_redis(const struct bench_opts *o, struct bench_table *t, int subs, int window,
              double *per_s)
{
    struct server srv;
    struct workers ws;
    struct bench_row *row = table_add(t, "redis pub/sub");
    struct publisher pub = {0};
    int rc = -1;

    *per_s = 0;
    if (row == NULL)
        return -1;
    snprintf(row->params, sizeof(row->params), "S=%d, W=%d", subs, window);
    snprintf(row->figure, sizeof(row->figure), "failed");
    if (redis_server_start(&srv, o->redis, subs + 64) < 0)
        return -1;
    struct fan_shm *shm = shm_alloc(sizeof(*shm));
    shm->subs = (uint64_t)subs;
    int procs = o->procs > 0 ? o->procs : (subs + 4999) / 5000;
    struct rs_cfg cfg = {.host = srv.host, .port = srv.port, .subs = subs, .nworkers = procs,
                         .shm = shm};
    struct ev_loop *loop = ev_loop_new(EVBACKEND_EPOLL);
    if (workers_start(&ws, procs, rs_worker_main, &cfg) < 0)
        goto out;
    if (wait_until(loop, &ws, rs_all_ready, &ws, 300) < 0) {
        fprintf(stderr, "rdv-bench: redis: subscribers did not get ready\n");
        goto out;
    }
    pub.ac = redisAsyncConnect(srv.host, srv.port);
    if (pub.ac == NULL || pub.ac->err)
        goto out;
    pub.ac->data = &pub;
    redisLibevAttach(loop, pub.ac);
    redisAsyncSetConnectCallback(pub.ac, pub_on_connect);
    redisAsyncSetDisconnectCallback(pub.ac, pub_on_disconnect);
    redisAsyncCommand(pub.ac, NULL, NULL, "PING");
    if (wait_until(loop, &ws, pub_settled, &pub, 10) < 0 || pub.failed)
        goto out;

    struct fan_driver d = {
        .shm = shm, .ws = &ws, .loop = loop, .issue = pub_issue, .ctx = &pub,
        .window = (uint32_t)window, .warmup_s = o->quick ? 1 : 3,
        .measure_s = o->seconds > 0 ? o->seconds : o->quick ? 4 : 15, .server_pid = srv.pid,
    };
    int drc = fan_drive(&d);
    wait_until(loop, &ws, rs_all_done, &ws, 20);
    struct fan_wstats sum;
    fan_collect(shm, ws.n, &sum);
    uint64_t events = d.measure_last - d.measure_first;
    double span = d.t_last_done - d.t_measure0;
    *per_s = span > 0 ? (double)events * subs / span : 0;
    snprintf(row->figure, sizeof(row->figure),
             "%.0f k deliveries/s; lost %llu, dup %llu; server %.0f%% CPU = %.0f k/s per core, "
             "%.1f deliveries/write (plaintext)",
             *per_s / 1e3, (unsigned long long)sum.lost, (unsigned long long)sum.dup,
             d.server_cpu * 100, d.server_cpu > 0 ? *per_s / d.server_cpu / 1e3 : 0.0,
             d.server_writes ? (double)events * subs / (double)d.server_writes : 0.0);
    fan_subs_cpu_text(&d, *per_s, row->figure, sizeof(row->figure));
    hist_format(&sum.lat, row->latency, sizeof(row->latency), true);
    rc = drc;
out:
    if (pub.ac)
        redisAsyncFree(pub.ac);
    atomic_store(&shm->stop, 1);
    workers_wait(&ws, 20);
    ev_loop_destroy(loop);
    server_stop(&srv);
    shm_free(shm, sizeof(*shm));
    return rc;
}
