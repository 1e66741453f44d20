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

int store_commit(struct store *s, char *err, size_t errlen)
{
    if (!store_pending(s))
        return 0;
    double t0 = store__clock();
    int rc = s->ops->commit(s, err, errlen);
    histogram_observe(&s->stats.commit_seconds, store__clock() - t0);
    if (rc == 0)
        s->stats.commits++;
    else
        s->stats.errors++;
    return rc;
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
