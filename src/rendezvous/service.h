/* The rendezvous service: what the three dialects (push mode,
 * /rendezvous/1.0.0, Waku 0.0.1) share on one host - the registry, the
 * expiry timer, the configuration and the stats. Each dialect is a stream
 * protocol whose `arg` is this service; the service does not know them: the
 * daemon (the composition root) sets each one up, registers it on the host
 * and adds its registry listener. */
#ifndef RDV_RENDEZVOUS_SERVICE_H
#define RDV_RENDEZVOUS_SERVICE_H

#include <stdint.h>

#include <ev.h>

#include "base/histogram.h"
#include "host/host.h"
#include "registry/registry.h"

#define PUSH_PROTOCOL_ID "/rendezvous/legacy/1.0.0"
#define RDV1_PROTOCOL_ID "/rendezvous/1.0.0"
#define WAKU_PROTOCOL_ID "/vac/waku/rendezvous/0.0.1"
/* Protocol ids one dialect answers to (e.g. /rendezvous/1.0.0 and a client's
 * own /canvas/rendezvous/1.0.0): all speak the same wire format. */
#define RDV_MAX_PROTOCOL_IDS 4

struct rdv_protocol_ids {
    const char *id[RDV_MAX_PROTOCOL_IDS];  /* not owned */
    size_t n;
};

struct rdv_config {
    const char *push_protocol_id;   /* default PUSH_PROTOCOL_ID */
    struct rdv_protocol_ids rdv1_ids;  /* default RDV1_PROTOCOL_ID */
    struct rdv_protocol_ids waku_ids;  /* default WAKU_PROTOCOL_ID */
    size_t max_message;             /* request bytes accepted (64 KiB) */
    /* push mode */
    uint64_t push_discover_default; /* DISCOVER limit when absent or 0 (100) */
    uint64_t push_discover_max;     /* cap (1000) */
    size_t push_batch_bytes;        /* snapshot Messages are at most this big (64 KiB) */
    size_t out_hard_limit;          /* session output queue: cut at once above (8 MiB) */
    size_t out_soft_limit;          /* ... or above this for out_soft_seconds (1 MiB) */
    double out_soft_seconds;        /* (10 s) */
    /* /rendezvous/1.0.0 */
    uint64_t ttl_default;           /* 7200 */
    uint64_t ttl_min;               /* 60 */
    uint64_t ttl_max;               /* 259200 */
    uint64_t discover_default;      /* 100 */
    uint64_t discover_max;          /* 1000 */
    /* Waku */
    uint64_t waku_ttl_default;      /* 20 */
    uint64_t waku_ttl_max;          /* 20 */
    uint64_t waku_discover_max;     /* 1000 */
    struct registry_limits limits;
};

/* What a request asks to do in a namespace, for the access policy. */
enum rdv_action { RDV_ACTION_REGISTER, RDV_ACTION_SUBSCRIBE, RDV_ACTION_DISCOVER, RDV_ACTIONS };

/* Who may do what in which namespace: installed by the daemon (the ACL
 * file, daemon/acl.c); with no policy everything is allowed. ns_len 0 is a
 * DISCOVER of every namespace. */
struct rdv_policy {
    bool (*allows)(const void *ctx, enum rdv_action a, const char *ns, size_t ns_len,
                   const struct peer_id *peer);
    const void *ctx;
};

struct rdv_stats {
    uint64_t requests[3][8];        /* [dialect][request type] */
    uint64_t denied[3][RDV_ACTIONS]; /* refused by the policy: E_NOT_AUTHORIZED */
    uint64_t errors[3];             /* non-OK replies by dialect */
    uint64_t announcements_queued, announcements_sent, slow_subscribers_cut;
    uint64_t announcements_coalesced; /* replaced, unsent, by a newer one of their pair */
    uint64_t sessions_open[3];      /* live streams by dialect */
    /* For metrics (rdv_stats_request): of requests[][], those answered with
     * an error; the time to handle one request; and the time from a
     * registry change to its announcement entering a subscriber's stream. */
    uint64_t failed[3][8];
    struct histogram request_seconds[3];
    struct histogram announce_seconds;
};

/* Books one request a dialect handled: `type` as counted in requests[][],
 * failed if errors[d] grew since errors_before, handled since t0 (ev_time()). */
static inline void rdv_stats_request(struct rdv_stats *st, enum rdv_dialect d, int type,
                                     uint64_t errors_before, double t0)
{
    if (st->errors[d] != errors_before)
        st->failed[d][type >= 0 && type < 8 ? type : 7]++;
    histogram_observe(&st->request_seconds[d], ev_time() - t0);
}

/* Something holding answers until the store has committed the changes
 * behind them (a stream with an OK to a REGISTER): released by
 * rdv_service_committed, once per loop iteration. */
struct rdv_waiter {
    struct rdv_waiter *prev, *next;
    struct rdv_waiter **list;          /* the list it is in, or NULL */
    void (*release)(struct rdv_waiter *w, bool committed);
};

/* Cluster mode (set by the daemon): the registry is a replica that only
 * the cluster's change log changes, and the dialects' writes go here
 * instead. reg == NULL: a single node, writes go to the registry. */
struct rdv_writes {
    /* Sends req (owner: a push session, or NULL for a TTL registration);
     * RDV_OK: on its way, and *ticket names it for outcome(). The change
     * comes back through the log. Another status: refused at once. */
    enum rdv_status (*reg)(void *ctx, const struct rdv_register *req, uint64_t *ticket);
    /* Removes peer's registration in ns, whoever owns it. */
    void (*unreg)(void *ctx, const char *ns, size_t ns_len, const struct peer_id *peer);
    /* s ends: what it owns goes (through the log); its subscriptions end now. */
    void (*session_end)(void *ctx, struct rdv_session *s);
    /* What became of a write of the commit just over: RDV_OK if Redis took
     * it, else why not. */
    enum rdv_status (*outcome)(void *ctx, uint64_t ticket);
    /* The highest seq a cookie may carry: another node may have applied
     * more of the log than this one, and its cookies are good here. */
    uint64_t (*seq_bound)(void *ctx);
    void *ctx;
};

struct rdv_service {
    struct host *host;
    struct log *log;
    struct rdv_config cfg;
    struct registry reg;
    ev_timer expiry;
    struct rdv_stats stats;
    struct rdv_policy policy;          /* allows == NULL: everything is allowed */
    /* Filled by each dialect's init: one per protocol id (cfg.*_ids.n). */
    struct protocol push;
    struct protocol rdv1[RDV_MAX_PROTOCOL_IDS], waku[RDV_MAX_PROTOCOL_IDS];
    void *push_state;                  /* the push notifier's own state (push.c) */
    /* Set by the daemon when a durable store listens to the registry: an OK
     * to a REGISTER waits for the commit of its change. */
    bool durable;
    bool store_failing;                /* the last commit failed: REGISTERs are refused */
    struct rdv_waiter *waiting;        /* DL list: for the next commit */
    struct rdv_waiter *committing;     /* DL list: for the commit under way */
    struct rdv_writes writes;          /* cluster mode: where writes go */
    uint64_t write_ticket;             /* the ticket of the last write sent there */
};

/* Cluster mode: writes go through s->writes. */
static inline bool rdv_service_clustered(const struct rdv_service *s)
{
    return s->writes.reg != NULL;
}

/* The highest seq a valid cookie may carry. */
static inline uint64_t rdv_service_cookie_bound(const struct rdv_service *s)
{
    uint64_t last = registry_last_seq(&s->reg);
    uint64_t bound = rdv_service_clustered(s) ? s->writes.seq_bound(s->writes.ctx) : last;
    return bound > last ? bound : last;
}

/* Adds or replaces a registration, in the registry or (cluster mode)
 * through the cluster; *ticket (cluster mode) names the write. */
enum rdv_status rdv_service_register(struct rdv_service *s, const struct rdv_register *req,
                                     uint64_t *ticket);
/* Removes peer's registration in ns (any owner). */
void rdv_service_unregister(struct rdv_service *s, const char *ns, size_t ns_len,
                            const struct peer_id *peer);
/* A push session ends: what it owns goes, its subscriptions end. */
void rdv_service_session_end(struct rdv_service *s, struct rdv_session *session);

/* What a refused request is told while the daemon's memory budget is spent. */
#define RDV_MEMORY_FULL_TEXT "the server is at its memory budget; try again later"

/* False while the daemon's memory budget (host limits.max_memory) is spent:
 * a new registration, subscription or answer is then refused with
 * E_UNAVAILABLE, before anything already held is cut. Always true without
 * a host (fuzz targets, tests driving a dialect directly). */
static inline bool rdv_service_admit(struct rdv_service *s)
{
    return s->host == NULL || host_admit_request(s->host);
}

/* What the debug line about one request says (rdv_request_log_write):
 * filled in by the dialect while it handles the request. */
#define RDV_LOG_NS_MAX 64              /* namespace bytes shown */
struct rdv_request_log {
    const char *type;                  /* the request's type name, NULL: not a request */
    bool has_ns;
    char ns[RDV_LOG_NS_MAX + 4];       /* printable copy, "..." when cut */
    int status;                        /* the answer's status; -1: no answer */
    const char *status_name;           /* its name in the dialect, or NULL */
};

/* Copies ns (peer bytes) for the log line: control bytes, quotes and, in
 * a namespace the registry would refuse, every byte above 0x7e become '?'. */
void rdv_request_log_ns(struct rdv_request_log *r, const struct rdv_service *s, const char *ns,
                        size_t len);
/* At debug level, rate-limited: "request DIALECT TYPE ns=... status=...
 * peer=... N µs" (t0: ev_time() when the request arrived). */
void rdv_request_log_write(const struct rdv_service *s, enum rdv_dialect d,
                           const struct rdv_request_log *r, const struct peer_id *peer, double t0);
extern const char *const rdv_dialect_names[3];  /* "push", "standard", "waku" */

/* Asks the policy; a refusal is counted (stats.denied). The dialect
 * answers it with E_NOT_AUTHORIZED. */
bool rdv_service_allows(struct rdv_service *s, enum rdv_dialect d, enum rdv_action a,
                        const char *ns, size_t ns_len, const struct peer_id *peer);
extern const char *const rdv_action_names[RDV_ACTIONS];  /* "register", "subscribe", "discover" */

void rdv_config_default(struct rdv_config *c);
/* Sets up the registry (without listeners) and the expiry timer. */
void rdv_service_init(struct rdv_service *s, struct host *h, const struct rdv_config *cfg);
/* After host_free (sessions must end while the registry exists). */
void rdv_service_free(struct rdv_service *s);
/* Re-arms the expiry timer for the registry's earliest deadline; call after
 * any change that may have added an earlier one. */
void rdv_service_schedule_expiry(struct rdv_service *s);
/* w's answers wait for the next commit (idempotent); unwait before freeing
 * w. */
void rdv_service_wait(struct rdv_service *s, struct rdv_waiter *w);
void rdv_service_unwait(struct rdv_service *s, struct rdv_waiter *w);
/* A commit of every change made so far starts: the waiters so far wait
 * for it, later ones for the next. */
void rdv_service_seal(struct rdv_service *s);
/* That commit is over (committed or failed): releases its waiters. A
 * release may wait again (answers to requests it goes on to serve): that
 * is for the next commit. */
void rdv_service_committed(struct rdv_service *s, bool committed);
/* Monotonic-enough wall clock used for TTLs (ev_now of the loop). */
double rdv_service_now(const struct rdv_service *s);

#endif
