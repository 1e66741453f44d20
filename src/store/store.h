/* Where registrations outlive the process (DESIGN.md "Storage and
 * scale-out"). One store is chosen at start: memory (nothing survives) or
 * LMDB (--data-dir, store/lmdb.h); a cluster store will follow the same
 * interface.
 *
 * A store is a registry listener: each change is recorded in memory as it
 * happens (store_events), and store_commit writes everything recorded since
 * the previous commit at once - a group commit. The daemon starts a commit
 * once per loop iteration (store_commit_async: on the store's own thread,
 * so the loop goes on serving meanwhile) and holds the OKs to the
 * REGISTERs behind it until it is done, so a REGISTER is acknowledged only
 * once it is durable. Only TTL registrations
 * (standard and Waku) are stored; push registrations end with their session.
 *
 * At start, store_load puts what was stored into the registry (before any
 * listener is added: nobody needs to hear of it) and drops what expired
 * while the daemon was down. The registry stays free of I/O. */
#ifndef RDV_STORE_STORE_H
#define RDV_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "base/histogram.h"
#include "registry/registry.h"

struct store;

/* A commit started by store_commit_async is over: ok, or err says why. */
typedef void store_done_fn(void *ctx, bool ok, const char *err);

struct store_stats {
    uint64_t commits;            /* write transactions committed */
    uint64_t changes;            /* registrations written or deleted by them */
    uint64_t errors;             /* commits that failed */
    uint64_t loaded;             /* registrations put into the registry at start */
    uint64_t dropped_expired;    /* stored ones whose TTL ran out while down */
    uint64_t dropped_refused;    /* stored ones the registry's limits refused */
    double load_seconds;
    size_t map_size;             /* LMDB: current map size in bytes */
    struct histogram commit_seconds;
};

struct store_ops {
    const char *name;            /* "memory", "lmdb" */
    int (*load)(struct store *s, struct registry *r, double now, char *err, size_t errlen);
    bool (*pending)(const struct store *s);
    int (*commit)(struct store *s, char *err, size_t errlen);
    bool (*commit_async)(struct store *s, struct ev_loop *loop, store_done_fn *done, void *ctx);
    void (*close)(struct store *s);
    struct registry_events events;   /* ctx = the store */
};

struct store {
    const struct store_ops *ops;
    bool durable;                /* answers must wait for the commit */
    bool busy;                   /* a commit_async is not over yet */
    struct store_stats stats;
};

/* Sets up the common part (stats) of an implementation's store. */
void store_init(struct store *s, const struct store_ops *ops, bool durable);
/* Books one commit that an implementation finished on its own. */
void store_account(struct store *s, bool ok, double secs);

/* The store that keeps nothing (the default). */
struct store *store_memory_open(void);

/* Puts the stored registrations into r (now: the wall clock, as the
 * registry's); -1 with err if the stored data cannot be read. */
int store_load(struct store *s, struct registry *r, double now, char *err, size_t errlen);
/* The listener to add to the registry (ctx = s). */
static inline const struct registry_events *store_events(const struct store *s)
{
    return &s->ops->events;
}
/* Changes recorded and not yet committed. */
bool store_pending(const struct store *s);
/* Writes every recorded change durably, in one transaction; 0, or -1 with
 * err: then nothing of this commit is on disk, what earlier commits wrote
 * is intact, and the changes stay recorded for the next attempt. */
int store_commit(struct store *s, char *err, size_t errlen);
/* The same without blocking the loop: what is recorded now is written by
 * a thread of the store while the loop goes on (recording the next
 * changes), and done(ctx, ...) runs on the loop once it is on disk or
 * failed (the changes are then recorded again, for the next attempt).
 * false if nothing is recorded or a commit is still out (store_busy):
 * nothing was started. A store without a writer commits at once and calls
 * done before returning. */
bool store_commit_async(struct store *s, struct ev_loop *loop, store_done_fn *done, void *ctx);
static inline bool store_busy(const struct store *s) { return s->busy; }
/* Waits for a commit that is out, then closes. */
void store_close(struct store *s);

#endif
