/* The daemon's metric families: what GET /metrics shows, read from the
 * counters that the host, the rendezvous service and the registry keep as
 * plain fields (one thread, so reading them needs no locking). Label values
 * are fixed sets (transport, dialect, request type, reason): no namespace or
 * peer ever becomes a label, so the number of series does not grow. */
#ifndef RDV_DAEMON_STATS_H
#define RDV_DAEMON_STATS_H

#include "base/buf.h"
#include "cluster/cluster.h"
#include "daemon/metrics.h"
#include "host/host.h"
#include "relay/relay.h"
#include "rendezvous/service.h"
#include "store/store.h"

struct daemon_metrics {
    const struct host *host;
    const struct rdv_service *svc;
    const struct store *store;          /* its families only for a durable store (may be NULL) */
    const struct cluster_stats *cluster; /* --cluster: this node's (else NULL) */
    const struct relay *relay;          /* its families only with --relay (may be NULL) */
    const struct metrics_server *http;  /* for its own scrape count (may be NULL) */
    double start_time;                  /* unix time the daemon started */
};

/* A metrics_collect_fn; ctx is a struct daemon_metrics. */
void daemon_metrics_collect(struct buf *out, void *ctx);

#endif
