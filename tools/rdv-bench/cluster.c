/* The cluster scenario: rendezvousd nodes sharing one redis-server
 * (--cluster), each run on a fresh redis-server (persistence off):
 *   latency  a registrant on node A changes its push registration 1,000
 *            times a second; subscribers on node B time each announcement
 *            from the REGISTER/UNREGISTER to its decoding;
 *   churn    the same path in a closed loop with many changes in flight:
 *            changes/s at saturation, with redis-server's CPU;
 *   workers  fan-out S = 1,000, W = 16 to one node run with --workers 1,
 *            then --workers 2: deliveries/s, and per core of all workers'
 *            CPU summed.
 * Every run is run_fanout (fanout.c) with the cluster options. */
#include <stdio.h>
#include <string.h>

#include "bench.h"

#define LAT_SUBS 10
#define LAT_CHANGES 1000.0
#define CHURN_WINDOW 256

/* One run_fanout against a fresh redis-server; node_a: also start node A
 * and put the registrant there. *row is its table row, renamed. */
static int cluster_run(const struct bench_opts *o, struct bench_table *t, const char *workers,
                       bool node_a, int subs, int window, double rate, double *per_s,
                       struct bench_row **row)
{
    struct server redis, a = {0};
    char url[64];
    int rc = -1;

    *per_s = 0;
    *row = NULL;
    if (redis_server_start(&redis, o->redis, 10000) < 0)
        return -1;
    snprintf(url, sizeof(url), "redis://127.0.0.1:%d", redis.port);
    const char *args[] = {"--cluster", url, workers ? "--workers" : NULL, workers, NULL};
    struct bench_opts co = *o;
    co.server_args = args;
    co.watch_pid = redis.pid;
    co.watch_name = "redis-server";
    if (node_a) {
        if (rdv_server_start_with(&a, o->daemon, args) < 0)
            goto out;
        co.registrant_at = a.addr;
    }
    rc = run_fanout(&co, t, subs, window, rate, per_s, row);
    if (*row)
        snprintf((*row)->scenario, sizeof((*row)->scenario), "cluster");
out:
    server_stop(&a);
    server_stop(&redis);
    return rc;
}

int run_cluster(const struct bench_opts *o, struct bench_table *t)
{
    struct bench_row *row;
    double per_s, one = 0, two = 0;
    int failures = 0;

    /* register on A -> decoded on B, paced */
    failures += cluster_run(o, t, NULL, true, LAT_SUBS, 0, LAT_CHANGES * LAT_SUBS, &per_s, &row) != 0;
    if (row) {
        snprintf(row->params, sizeof(row->params), "A->B, %.0f changes/s, S=%d on B", LAT_CHANGES,
                 LAT_SUBS);
        snprintf(row->target, sizeof(row->target), "p99 < 5 ms");
    }

    /* the same path at saturation */
    failures += cluster_run(o, t, NULL, true, 1, CHURN_WINDOW, 0, &per_s, &row) != 0;
    if (row) {
        snprintf(row->params, sizeof(row->params), "A->B churn, W=%d", CHURN_WINDOW);
        char fig[sizeof(row->figure)];
        const char *rest = strchr(row->figure, ';');
        snprintf(fig, sizeof(fig), "%.1f k changes/s%s", per_s / 1e3, rest ? rest : "");
        memcpy(row->figure, fig, sizeof(fig));
        snprintf(row->target, sizeof(row->target), "%.2fx of 20 k changes/s", per_s / 20e3);
    }

    /* fan-out on one node, one worker then two; the subscribers in two
     * processes, so that one client process is not what bounds it */
    struct bench_opts fo = *o;
    if (fo.procs == 0)
        fo.procs = 2;
    o = &fo;
    int subs = o->subs > 0 ? o->subs : 1000, window = o->window > 0 ? o->window : 16;
    failures += cluster_run(o, t, "1", false, subs, window, 0, &one, &row) != 0;
    if (row) {
        snprintf(row->params, sizeof(row->params), "S=%d, W=%d, --workers 1", subs, window);
        row->target[0] = '\0';
    }
    failures += cluster_run(o, t, "2", false, subs, window, 0, &two, &row) != 0;
    if (row) {
        snprintf(row->params, sizeof(row->params), "S=%d, W=%d, --workers 2", subs, window);
        row->target[0] = '\0';
        if (one > 0 && two > 0)
            snprintf(row->target, sizeof(row->target), "%.2fx of --workers 1", two / one);
    }
    return failures ? -1 : 0;
}
