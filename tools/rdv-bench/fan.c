/* Fan-out bookkeeping shared by the rendezvousd and redis runs: per-event
 * completion counting in the workers, and the parent's closed-loop (or
 * paced) issuing of events with warm-up, measured phase and drain. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define STALL_S 10.0     /* no completion for this long: give up */
#define DRAIN_S 10.0     /* after the last issue */
#define DONE_WAIT_S 20.0 /* workers to report their figures */

void fan_counter_init(struct fan_counter *fc, struct fan_shm *shm, int idx, int wfd,
                      uint32_t local_subs)
{
    fc->shm = shm;
    fc->idx = idx;
    fc->wfd = wfd;
    fc->local_subs = local_subs;
    fc->lc = bench_calloc(BENCH_RING, sizeof(uint32_t));
}

void fan_counter_free(struct fan_counter *fc)
{
    free(fc->lc);
    fc->lc = NULL;
}

void fan_deliver(struct fan_counter *fc, struct fan_wstats *st, uint64_t e, uint64_t t)
{
    struct fan_shm *shm = fc->shm;
    size_t slot = (size_t)(e & (BENCH_RING - 1));

    st->delivered++;
    if (e >= atomic_load_explicit(&shm->measure_from, memory_order_relaxed)) {
        uint64_t t0 = atomic_load_explicit(&shm->t_issue[slot], memory_order_relaxed);
        hist_add(&st->lat, t > t0 ? t - t0 : 0);
    }
    if (++fc->lc[slot] < fc->local_subs)
        return;
    fc->lc[slot] = 0;
    uint32_t before = atomic_fetch_add(&shm->done[slot], fc->local_subs);
    if (before + fc->local_subs == shm->subs)
        worker_report(fc->wfd, fc->idx, W_EVENT, e);
}

void fan_collect(const struct fan_shm *shm, int nworkers, struct fan_wstats *out)
{
    memset(out, 0, sizeof(*out));
    for (int i = 0; i < nworkers; i++) {
        const struct fan_wstats *w = &shm->w[i];
        out->delivered += w->delivered;
        out->lost += w->lost;
        out->dup += w->dup;
        out->bad += w->bad;
        out->closed += w->closed;
        out->sessions += w->sessions;
        out->ready += w->ready;
        if (w->setup_s > out->setup_s)
            out->setup_s = w->setup_s;
        hist_merge(&out->lat, &w->lat);
    }
}

/* ---- driver ------------------------------------------------------------- */

static void drv_issue_one(struct fan_driver *d)
{
    uint64_t e = d->issued;
    size_t slot = (size_t)(e & (BENCH_RING - 1));
    atomic_store_explicit(&d->shm->done[slot], 0, memory_order_relaxed);
    atomic_store_explicit(&d->shm->t_issue[slot], now_ns(), memory_order_relaxed);
    d->issued++;
    d->issue(d->ctx, e);
}

static void drv_fill_window(struct fan_driver *d)
{
    if (d->events_per_s > 0 || d->phase > 1)
        return;
    while (d->issued < d->low + d->window)
        drv_issue_one(d);
}

static void drv_on_msg(void *ctx, const struct wmsg *m)
{
    struct fan_driver *d = ctx;
    if (m->kind == W_FAIL) {
        d->failed = true;
        return;
    }
    if (m->kind != W_EVENT || m->val >= d->issued)
        return;
    size_t slot = (size_t)(m->val & (BENCH_RING - 1));
    d->comp[slot] = 1;
    d->completed++;
    d->last_progress = now_s();
    while (d->low < d->issued && d->comp[d->low & (BENCH_RING - 1)]) {
        d->comp[d->low & (BENCH_RING - 1)] = 0;
        d->low++;
    }
    if (d->phase >= 1 && d->low >= d->measure_last && d->t_last_done == 0 && d->phase >= 2)
        d->t_last_done = d->last_progress;
}

static void drv_on_pipe(struct ev_loop *loop, ev_io *w, int revents)
{
    struct fan_driver *d = w->data;
    (void)revents;
    if (workers_poll(d->ws, drv_on_msg, d) < 0) {
        ev_io_stop(loop, w);
        if (d->phase < 4)
            d->failed = true;
    }
    drv_fill_window(d);
    if (d->failed)
        ev_break(loop, EVBREAK_ALL);
}

/* A server that writes with send(2) (rendezvousd) is not counted by syscw
 * in /proc/PID/io: its own count of socket writes, where it exports one. */
static unsigned long long server_writes(const struct fan_driver *d, unsigned long long syscw)
{
    double v;
    if (d->metrics_port > 0 && metrics_value(d->metrics_port, "rendezvousd_socket_writes_total", &v) == 0)
        return (unsigned long long)v;
    return syscw;
}

/* CPU seconds so far of every worker process. */
static double drv_workers_cpu(const struct fan_driver *d)
{
    double sum = 0;
    for (int i = 0; i < d->ws->n; i++)
        sum += proc_cpu(d->ws->pid[i]);
    return sum;
}

void fan_subs_cpu_text(const struct fan_driver *d, double deliveries_per_s, char *out, size_t cap)
{
    size_t n = strlen(out);
    if (d->subs_cpu > 0 && deliveries_per_s > 0 && n < cap)
        snprintf(out + n, cap - n, "; subscribers %.0f%% CPU, %.2f us per delivery", d->subs_cpu * 100,
                 d->subs_cpu / deliveries_per_s * 1e6);
}

static void drv_on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct fan_driver *d = w->data;
    double now = now_s();
    (void)revents;

    if (d->phase == 0 && now >= d->t0 + d->warmup_s) {
        d->phase = 1;
        d->measure_first = d->issued;
        d->t_measure0 = now;
        atomic_store(&d->shm->measure_from, d->issued);
        d->last_progress = now;
        if (d->watch_pid > 0)
            d->watch_cpu = proc_cpu(d->watch_pid);
        d->subs_cpu = drv_workers_cpu(d);
        if (d->server_pid > 0) {
            d->server_cpu = proc_cpu(d->server_pid);
            proc_io(d->server_pid, &d->server_reads, &d->server_writes);
            d->server_writes = server_writes(d, d->server_writes);
        }
    } else if (d->phase == 1 && now >= d->t_measure0 + d->measure_s) {
        d->phase = 2;
        d->measure_last = d->issued;
        d->drain_deadline = now + DRAIN_S;
        if (d->watch_pid > 0)
            d->watch_cpu = (proc_cpu(d->watch_pid) - d->watch_cpu) / (now - d->t_measure0);
        d->subs_cpu = (drv_workers_cpu(d) - d->subs_cpu) / (now - d->t_measure0);
        if (d->server_pid > 0) {
            unsigned long long rd = 0, wr = 0;
            d->server_cpu = (proc_cpu(d->server_pid) - d->server_cpu) / (now - d->t_measure0);
            proc_io(d->server_pid, &rd, &wr);
            wr = server_writes(d, wr);
            d->server_reads = rd - d->server_reads;
            d->server_writes = wr - d->server_writes;
        }
    }
    if (d->events_per_s > 0 && d->phase <= 1) {
        /* Paced: issue what is due, never more than half the ring ahead. */
        while (d->next_due <= now && d->issued - d->low < BENCH_RING / 2) {
            drv_issue_one(d);
            d->next_due += 1.0 / d->events_per_s;
        }
        if (d->next_due < now - 1.0)
            d->next_due = now; /* far behind: do not burst to catch up */
    }
    if (d->phase == 2) {
        if (d->low >= d->issued) {
            if (d->t_last_done == 0)
                d->t_last_done = d->last_progress;
            d->phase = 3;
        } else if (now > d->drain_deadline) {
            d->timed_out = true;
            d->phase = 3;
        }
    }
    if (d->phase <= 1 && d->issued > d->low && now - d->last_progress > STALL_S) {
        fprintf(stderr, "rdv-bench: no event completed for %.0f s (%llu issued, %llu done)\n",
                STALL_S, (unsigned long long)d->issued, (unsigned long long)d->low);
        d->timed_out = true;
        d->measure_last = d->issued;
        d->phase = 3;
    }
    if (d->phase == 3) {
        atomic_store(&d->shm->total, d->issued);
        atomic_store(&d->shm->stop, 1);
        d->phase = 4;
        d->drain_deadline = now + DONE_WAIT_S;
    }
    if (d->phase == 4 && (d->ws->ndone + d->ws->nfailed >= d->ws->n || now > d->drain_deadline))
        ev_break(loop, EVBREAK_ALL);
    drv_fill_window(d);
}

int fan_drive(struct fan_driver *d)
{
    d->comp = bench_calloc(BENCH_RING, 1);
    d->issued = d->completed = d->low = 0;
    d->phase = 0;
    d->t0 = d->last_progress = d->next_due = now_s();
    d->t_last_done = 0;
    atomic_store(&d->shm->measure_from, UINT64_MAX);
    ev_io_init(&d->pipe_io, drv_on_pipe, d->ws->rfd, EV_READ);
    d->pipe_io.data = d;
    ev_io_start(d->loop, &d->pipe_io);
    double interval = 0.005;
    if (d->events_per_s > 0 && 1.0 / d->events_per_s < interval)
        interval = 1.0 / d->events_per_s;
    if (interval < 0.0002)
        interval = 0.0002;
    ev_timer_init(&d->tick, drv_on_tick, interval, interval);
    d->tick.data = d;
    ev_timer_start(d->loop, &d->tick);
    drv_fill_window(d);
    ev_run(d->loop, 0);
    if (d->phase < 4) { /* a worker failed: stop the others */
        atomic_store(&d->shm->total, d->issued);
        atomic_store(&d->shm->stop, 1);
    }
    ev_io_stop(d->loop, &d->pipe_io);
    ev_timer_stop(d->loop, &d->tick);
    free(d->comp);
    d->comp = NULL;
    if (d->measure_last == 0)
        d->measure_last = d->issued;
    return d->failed || d->timed_out ? -1 : 0;
}

/* ---- waiting ------------------------------------------------------------ */

struct waiter {
    struct workers *ws;
    bool (*done)(void *ctx);
    void *ctx;
    double deadline;
    int rc;
};

static void wait_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct waiter *wt = t->data;
    (void)revents;
    if (wt->ws && workers_poll(wt->ws, NULL, NULL) < 0) {
        wt->rc = -1;
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (wt->ws && wt->ws->nfailed > 0) {
        wt->rc = -1;
        ev_break(loop, EVBREAK_ALL);
    } else if (wt->done(wt->ctx)) {
        wt->rc = 0;
        ev_break(loop, EVBREAK_ALL);
    } else if (now_s() > wt->deadline) {
        wt->rc = -1;
        ev_break(loop, EVBREAK_ALL);
    }
}

int wait_until(struct ev_loop *loop, struct workers *ws, bool (*done)(void *ctx), void *ctx,
               double timeout)
{
    struct waiter wt = {.ws = ws, .done = done, .ctx = ctx, .deadline = now_s() + timeout, .rc = -1};
    ev_timer t;
    if (done(ctx))
        return 0;
    ev_timer_init(&t, wait_tick, 0.005, 0.005);
    t.data = &wt;
    ev_timer_start(loop, &t);
    ev_run(loop, 0);
    ev_timer_stop(loop, &t);
    return wt.rc;
}
