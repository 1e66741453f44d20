/* Where registrations outlive the process (DESIGN.md "Storage and
 * scale-out"). One store is chosen at start: memory (nothing survives) or
 * LMDB (--data-dir, store/lmdb.h); a cluster store will follow the same
 * interface.
 *
 * A store is a registry listener: each change is recorded in memory as it
 * happens (store_events), and store_commit writes everything recorded since
 * the previous commit at once - a group commit. The daemon commits once per
 * loop iteration, before that iteration's answers reach the sockets, so a
 * REGISTER is acknowledged only once it is durable. Only TTL registrations
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

#include "base/histogram.h"
#include "registry/registry.h"

struct store;

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
    void (*close)(struct store *s);
    struct registry_events events;   /* ctx = the store */
};

struct store {
    const struct store_ops *ops;
    bool durable;                /* answers must wait for the commit */
    struct store_stats stats;
};

/* Sets up the common part (stats) of an implementation's store. */
void store_init(struct store *s, const struct store_ops *ops, bool durable);

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
void store_close(struct store *s);

#endif
