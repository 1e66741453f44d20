/* One node of a cluster sharing its registry through Redis (DESIGN.md
 * "Cluster mode over Redis"; the data model and scripts are in
 * cluster/scripts.h).
 *
 * The node's registry is a replica: it changes only by the change log,
 * read on a connection of its own (XREAD BLOCK), in the same order on every
 * node - also for the node's own writes. Writes (the dialects' REGISTER,
 * UNREGISTER, and the end of a push session) are Lua scripts sent on a
 * second connection; all of one loop iteration go out together. The
 * cluster is also the daemon's store: a commit is over when Redis has
 * answered every write so far and the log has been applied past them, so a
 * client's OK comes after its registration is in Redis and in this node's
 * replica.
 *
 * Every second the node heartbeats (Redis time), reaps nodes not heard of
 * for the node timeout and expires due TTL registrations. After connecting
 * (and whenever the log has a gap) it loads a snapshot and replays the log
 * from there, changing its replica by the difference - so local
 * subscribers are told exactly what changed - then re-asserts what its live
 * sessions own. While Redis is unreachable writes are refused
 * (RDV_E_UNAVAILABLE), sessions stay, and it reconnects with backoff. */
#ifndef RDV_CLUSTER_CLUSTER_H
#define RDV_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "base/histogram.h"
#include "base/log.h"
#include "registry/registry.h"
#include "store/store.h"

struct cluster;

struct cluster_config {
    const char *url;            /* redis://... or unix://... (cluster/url.h) */
    const char *password;       /* AUTH when the URL has none, or NULL */
    double node_timeout;        /* seconds */
    size_t log_max;             /* log entries kept */
    /* A push session's write that Redis refused (a cluster-wide limit) or
     * that was lost with the connection: the session is told. */
    void (*refused)(void *ctx, struct rdv_session *s, enum rdv_status st);
    void *refused_ctx;
};

struct cluster_stats {
    bool up;                    /* connected and in sync */
    uint64_t nodes_alive;       /* as of the last heartbeat */
    uint64_t lag_entries;       /* log entries not applied yet (last heartbeat) */
    double lag_seconds;         /* newest entry - last applied one */
    uint64_t resyncs;           /* snapshots loaded (the first one included) */
    uint64_t reaped_nodes;      /* dead nodes this node reaped */
    uint64_t reasserts;         /* times the node found it had been reaped */
    uint64_t redis_errors;      /* error replies, failed connections, lost connections */
    uint64_t applied;           /* log entries applied */
    uint64_t writes, refused;   /* scripts sent for the dialects; refused by them */
    struct histogram rtt;       /* heartbeat round trips, seconds */
    struct histogram delay;     /* log entry written in Redis -> applied here, seconds
                                 * (Redis's clock against ours: one host, or synced) */
};

/* Connecting starts at once; -1 with err if the URL is bad. */
struct cluster *cluster_open(struct ev_loop *loop, struct log *log, struct registry *reg,
                             const struct cluster_config *cfg, char *err, size_t errlen);
/* Runs the loop until the node is in sync or `wait` seconds have passed;
 * true if in sync. */
bool cluster_wait_ready(struct cluster *c, double wait);
/* The store the daemon commits through (durable; closing it closes the
 * cluster). */
struct store *cluster_store(struct cluster *c);
const struct cluster_stats *cluster_stats(const struct cluster *c);
/* The node's id (hex), for logs. */
const char *cluster_node_id(const struct cluster *c);

/* The writes (struct rdv_writes of rendezvous/service.h; ctx = the cluster). */
enum rdv_status cluster_register(void *ctx, const struct rdv_register *req, uint64_t *ticket);
void cluster_unregister(void *ctx, const char *ns, size_t ns_len, const struct peer_id *peer);
void cluster_session_end(void *ctx, struct rdv_session *s);
enum rdv_status cluster_outcome(void *ctx, uint64_t ticket);
uint64_t cluster_seq_bound(void *ctx);

#endif
