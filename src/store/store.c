#include "store/store.h"

#include <stdlib.h>
#include <time.h>

#include "base/mem.h"

void store_init(struct store *s, const struct store_ops *ops, bool durable)
{
    s->ops = ops;
    s->durable = durable;
    histogram_init_latency(&s->stats.commit_seconds);
}

static double store__clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int store_load(struct store *s, struct registry *r, double now, char *err, size_t errlen)
{
    double t0 = store__clock();
    int rc = s->ops->load ? s->ops->load(s, r, now, err, errlen) : 0;
    s->stats.load_seconds = store__clock() - t0;
    return rc;
}

bool store_pending(const struct store *s)
{
    return s->ops->pending && s->ops->pending(s);
}

void store_account(struct store *s, bool ok, double secs)
{
    histogram_observe(&s->stats.commit_seconds, secs);
    if (ok)
        s->stats.commits++;
    else
        s->stats.errors++;
}

int store_commit(struct store *s, char *err, size_t errlen)
{
    if (!store_pending(s) && !s->busy)
        return 0;
    double t0 = store__clock();
    int rc = s->ops->commit(s, err, errlen);
    store_account(s, rc == 0, store__clock() - t0);
    return rc;
}

bool store_commit_async(struct store *s, struct ev_loop *loop, store_done_fn *done, void *ctx)
{
    char err[512];
    if (s->busy || !store_pending(s))
        return false;
    if (s->ops->commit_async && s->ops->commit_async(s, loop, done, ctx))
        return true;
    int rc = store_commit(s, err, sizeof err);
    done(ctx, rc == 0, err);
    return true;
}

void store_close(struct store *s)
{
    if (s)
        s->ops->close(s);
}

/* ---- memory: nothing to keep ------------------------------------------------ */

static void store__memory_close(struct store *s) { free(s); }

static const struct store_ops store__memory_ops = {
    .name = "memory",
    .close = store__memory_close,
};

struct store *store_memory_open(void)
{
    struct store *s = xcalloc(1, sizeof *s);
    store_init(s, &store__memory_ops, false);
    return s;
}
