#include "daemon/stats.h"

#include <stdio.h>

#define P "rendezvousd_"

static const char *const stats__dialects[3] = {"push", "standard", "waku"};

/* Request types by dialect: the protobuf MessageType values a client sends,
 * as the services count them (requests[dialect][type]); other values land in
 * "other". */
struct stats__type {
    int value;
    const char *name;
};
static const struct stats__type stats__push_types[] = {
    {0, "register"}, {1, "unregister"}, {2, "rendezvous"}, {3, "discover"}, {-1, NULL}};
static const struct stats__type stats__std_types[] = {
    {0, "register"}, {2, "unregister"}, {3, "discover"}, {-1, NULL}};
static const struct stats__type stats__waku_types[] = {{0, "register"}, {2, "discover"}, {-1, NULL}};
static const struct stats__type *const stats__types[3] = {stats__push_types, stats__std_types,
                                                          stats__waku_types};

static void stats__per_dialect(struct buf *b, const char *name, const char *type, const char *help,
                               const uint64_t v[3])
{
    char labels[64];
    prom_family(b, name, type, help);
    for (int d = 0; d < 3; d++) {
        snprintf(labels, sizeof(labels), "dialect=\"%s\"", stats__dialects[d]);
        prom_u64(b, name, labels, v[d]);
    }
}

static uint64_t stats__ok(const struct rdv_stats *st, int d, int t)
{
    return st->requests[d][t] >= st->failed[d][t] ? st->requests[d][t] - st->failed[d][t] : 0;
}

static void stats__requests(struct buf *b, const struct rdv_stats *st)
{
    char labels[96];

    prom_family(b, P "requests_total", "counter",
                "Requests received, by dialect, message type and outcome (ok, or error: "
                "answered with an error status).");
    for (int d = 0; d < 3; d++) {
        uint64_t other[2] = {0, 0};
        for (int t = 0; t < 8; t++) {
            bool known = false;
            for (const struct stats__type *k = stats__types[d]; k->name; k++)
                known |= k->value == t;
            if (!known) {
                other[0] += stats__ok(st, d, t);
                other[1] += st->failed[d][t];
            }
        }
        for (const struct stats__type *k = stats__types[d]; k->name; k++) {
            snprintf(labels, sizeof(labels), "dialect=\"%s\",type=\"%s\",status=\"ok\"",
                     stats__dialects[d], k->name);
            prom_u64(b, P "requests_total", labels, stats__ok(st, d, k->value));
            snprintf(labels, sizeof(labels), "dialect=\"%s\",type=\"%s\",status=\"error\"",
                     stats__dialects[d], k->name);
            prom_u64(b, P "requests_total", labels, st->failed[d][k->value]);
        }
        snprintf(labels, sizeof(labels), "dialect=\"%s\",type=\"other\",status=\"ok\"", stats__dialects[d]);
        prom_u64(b, P "requests_total", labels, other[0]);
        snprintf(labels, sizeof(labels), "dialect=\"%s\",type=\"other\",status=\"error\"", stats__dialects[d]);
        prom_u64(b, P "requests_total", labels, other[1]);
    }
    stats__per_dialect(b, P "error_replies_total", "counter",
                       "Error answers sent, by dialect (also for messages that were no request).",
                       st->errors);
    prom_family(b, P "requests_denied_total", "counter",
                "Requests refused by the access rules (--acl-file) with E_NOT_AUTHORIZED, by "
                "dialect and action.");
    for (int d = 0; d < 3; d++) {
        for (int a = 0; a < RDV_ACTIONS; a++) {
            if (d != RDV_DIALECT_PUSH && a == RDV_ACTION_SUBSCRIBE)
                continue; /* only push mode subscribes */
            snprintf(labels, sizeof(labels), "dialect=\"%s\",action=\"%s\"", stats__dialects[d],
                     rdv_action_names[a]);
            prom_u64(b, P "requests_denied_total", labels, st->denied[d][a]);
        }
    }

    prom_family(b, P "request_duration_seconds", "histogram",
                "Time to handle one request, from decoding to the queued answer.");
    for (int d = 0; d < 3; d++) {
        snprintf(labels, sizeof(labels), "dialect=\"%s\"", stats__dialects[d]);
        prom_histogram(b, P "request_duration_seconds", labels, &st->request_seconds[d]);
    }
    prom_family(b, P "announcement_delay_seconds", "histogram",
                "Time from a registry change to its push announcement entering a "
                "subscriber's stream (written to the socket in the same loop turn).");
    prom_histogram(b, P "announcement_delay_seconds", NULL, &st->announce_seconds);
}

void daemon_metrics_collect(struct buf *b, void *ctx)
{
    const struct daemon_metrics *m = ctx;
    const struct host *h = m->host;
    const struct host_stats *hs = &h->stats;
    char labels[96];

    prom_family(b, P "build_info", "gauge", "The running version (always 1).");
    snprintf(labels, sizeof(labels), "version=\"%s\"", RDV_VERSION);
    prom_u64(b, P "build_info", labels, 1);
    prom_family(b, "process_start_time_seconds", "gauge", "Start time of the daemon, unix seconds.");
    prom_f64(b, "process_start_time_seconds", NULL, m->start_time);

    /* Connections: open ones by transport (a walk over the live list, paid
     * per scrape rather than per connection). */
    uint64_t open[2] = {0, 0};
    for (unsigned i = 0; i < HOST_CONN_LISTS; i++)
        for (const struct conn *c = host_conn_list(h, i); c; c = c->tnext)
            open[conn_ws(c) != NULL]++;
    prom_family(b, P "connections", "gauge", "Open connections, by transport.");
    prom_u64(b, P "connections", "transport=\"tcp\"", open[0]);
    prom_u64(b, P "connections", "transport=\"ws\"", open[1]);
    prom_family(b, P "connections_accepted_total", "counter", "Connections accepted, by transport.");
    prom_u64(b, P "connections_accepted_total", "transport=\"tcp\"",
             hs->conns_accepted - hs->conns_accepted_ws);
    prom_u64(b, P "connections_accepted_total", "transport=\"ws\"", hs->conns_accepted_ws);
    prom_family(b, P "connections_refused_total", "counter",
                "Connections refused at accept, before any byte was read, by reason: "
                "max_connections, per_ip (max-connections-per-ip), handshake_rate (the source's "
                "handshake-rate/handshake-burst bucket was empty), handshake_share (the source "
                "held half of max-handshakes), draining, descriptors (out of file descriptors), "
                "memory (max-memory).");
    static const char *const refusals[REFUSE_REASONS] = {
        [REFUSE_MAX_CONNS] = "max_connections", [REFUSE_PER_IP] = "per_ip",
        [REFUSE_HANDSHAKE_RATE] = "handshake_rate", [REFUSE_HANDSHAKE_SHARE] = "handshake_share",
        [REFUSE_DRAINING] = "draining", [REFUSE_DESCRIPTORS] = "descriptors",
        [REFUSE_MEMORY] = "memory"};
    for (int r = 0; r < REFUSE_REASONS; r++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", refusals[r]);
        prom_u64(b, P "connections_refused_total", labels, hs->refused[r]);
    }
    prom_scalar(b, P "handshakes_in_progress", "gauge",
                "Accepted connections still handshaking (at most max-handshakes).", h->nhandshakes);
    prom_scalar(b, P "accept_pauses_total", "counter",
                "Times the listeners paused because max-handshakes were in progress.", hs->accept_pauses);
    prom_scalar(b, P "accept_backoffs_total", "counter",
                "Times the listeners rested 10 ms because most of an accept batch was refused.", hs->accept_backoffs);
    prom_scalar(b, P "admission_sources", "gauge",
                "Source addresses (IPv4, IPv6 /64) tracked for admission: with connections, "
                "or seen recently enough that their token bucket is not yet full.", HASH_COUNT(h->sources));
    prom_scalar(b, P "handshakes_total", "counter", "Noise and yamux handshakes completed.", hs->handshakes_ok);
    prom_family(b, P "handshake_failures_total", "counter",
                "Handshakes that failed, by reason: timeout, security (multistream-select "
                "of the security protocol), noise, muxer (multistream-select of the muxer).");
    static const char *const reasons[HS_FAIL_REASONS] = {"timeout", "security", "noise", "muxer"};
    for (int r = 0; r < HS_FAIL_REASONS; r++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", reasons[r]);
        prom_u64(b, P "handshake_failures_total", labels, hs->handshake_failures[r]);
    }
    prom_family(b, P "connection_errors_total", "counter",
                "Secured connections closed for cause, by reason: output_limit (the peer did "
                "not read what it was sent), yamux (a muxer protocol error), decrypt (a Noise "
                "frame that failed authentication).");
    static const char *const errors[CONN_ERR_REASONS] = {"output_limit", "yamux", "decrypt", "mplex"};
    for (int r = 0; r < CONN_ERR_REASONS; r++) {
        snprintf(labels, sizeof(labels), "reason=\"%s\"", errors[r]);
        prom_u64(b, P "connection_errors_total", labels, hs->conn_errors[r]);
    }
    prom_scalar(b, P "received_bytes_total", "counter", "Bytes read from sockets.", hs->bytes_in);
    prom_scalar(b, P "sent_bytes_total", "counter", "Bytes written to sockets.", hs->bytes_out);
    prom_scalar(b, P "socket_writes_total", "counter",
                "Socket writes (send calls that wrote bytes): with sent_bytes_total, how "
                "much output each write system call carries.", hs->socket_writes);
    prom_family(b, P "buffered_bytes", "gauge",
                "Bytes buffered: input held by handlers (partial or unanswered requests), "
                "output not yet written to sockets, and output queued for streams that "
                "could not take it yet (push subscribers' backlogs).");
    prom_u64(b, P "buffered_bytes", "direction=\"in\"", h->mem_in);
    prom_u64(b, P "buffered_bytes", "direction=\"out\"", h->mem_out);
    prom_u64(b, P "buffered_bytes", "direction=\"queued\"", h->mem_queued);
    prom_scalar(b, P "memory_budget_bytes", "gauge",
                "max-memory: buffered bytes past which new connections and requests are "
                "refused (0 = no limit).", h->limits.max_memory);
    prom_family(b, P "memory_refusals_total", "counter",
                "New connections and requests refused while the memory budget was spent.");
    prom_u64(b, P "memory_refusals_total", "what=\"connection\"", hs->conns_refused_memory);
    prom_u64(b, P "memory_refusals_total", "what=\"request\"", hs->requests_refused_memory);
    prom_scalar(b, P "streams_reset_input_total", "counter",
                "Streams reset for taking their connection past max-connection-input.", hs->streams_over_input);
    prom_scalar(b, P "read_pauses_total", "counter",
                "Times a connection stopped being read because its output waited for the socket.", hs->read_pauses);

    if (m->svc) {
        const struct rdv_stats *st = &m->svc->stats;
        const struct registry_stats *rs = &m->svc->reg.stats;
        uint64_t v[3];

        stats__per_dialect(b, P "sessions", "gauge", "Open rendezvous streams, by dialect.",
                           st->sessions_open);
        for (int d = 0; d < 3; d++)
            v[d] = rs->regs_by_dialect[d];
        stats__per_dialect(b, P "registrations", "gauge",
                           "Registrations, by the dialect that made them.", v);
        prom_scalar(b, P "namespaces", "gauge", "Namespaces with members or subscribers.", rs->namespaces);
        prom_scalar(b, P "registered_peers", "gauge", "Peers holding at least one registration.", rs->peers);
        prom_scalar(b, P "subscriptions", "gauge",
                    "Push-mode subscriptions (one per subscribed session and namespace).", rs->subs);
        prom_scalar(b, P "registrations_expired_total", "counter", "Registrations whose TTL ran out.", rs->expired);
        prom_scalar(b, P "registrations_rate_limited_total", "counter",
                    "REGISTERs refused because the peer changed (or refreshed) its "
                    "registrations faster than register-rate allows.", rs->rate_limited);
        prom_scalar(b, P "announcements_queued_total", "counter",
                    "Push announcements queued to subscribers (one per subscriber).", st->announcements_queued);
        prom_scalar(b, P "announcements_sent_total", "counter",
                    "Push announcements written to subscribers' streams.", st->announcements_sent);
        prom_scalar(b, P "announcements_coalesced_total", "counter",
                    "Push announcements replaced, before being sent, by a newer one of the "
                    "same peer and namespace (a subscriber that fell behind).", st->announcements_coalesced);
        prom_scalar(b, P "slow_subscribers_disconnected_total", "counter",
                    "Push sessions cut for exceeding their output limits.", st->slow_subscribers_cut);
        stats__requests(b, st);
    }

    if (m->cluster) {
        const struct cluster_stats *c = m->cluster;
        prom_scalar(b, P "cluster_up", "gauge",
                    "1 while this node is connected to Redis and in sync with the change log.", c->up);
        prom_scalar(b, P "cluster_nodes_alive", "gauge",
                    "Nodes with a recent heartbeat, as of this node's last heartbeat.", c->nodes_alive);
        prom_scalar(b, P "cluster_log_lag_entries", "gauge",
                    "Change log entries not yet applied by this node (at its last heartbeat).",
                    c->lag_entries);
        prom_family(b, P "cluster_log_lag_seconds", "gauge",
                    "Time between the newest change log entry and the last one this node applied.");
        prom_f64(b, P "cluster_log_lag_seconds", NULL, c->lag_seconds);
        prom_scalar(b, P "cluster_log_applied_total", "counter", "Change log entries applied.", c->applied);
        prom_scalar(b, P "cluster_resyncs_total", "counter",
                    "Registry snapshots loaded from Redis (at start, after a log gap or an outage).",
                    c->resyncs);
        prom_scalar(b, P "cluster_reaped_nodes_total", "counter",
                    "Dead nodes whose push registrations this node removed.", c->reaped_nodes);
        prom_scalar(b, P "cluster_reasserts_total", "counter",
                    "Times this node found it had been reaped and registered its sessions' "
                    "registrations again.", c->reasserts);
        prom_scalar(b, P "cluster_writes_total", "counter",
                    "Registrations sent to Redis for this node's clients.", c->writes);
        prom_scalar(b, P "cluster_writes_refused_total", "counter",
                    "Of those, refused (cluster-wide limits, or Redis unreachable).", c->refused);
        prom_scalar(b, P "cluster_redis_errors_total", "counter",
                    "Redis error replies, failed connections and lost connections.", c->redis_errors);
        prom_family(b, P "cluster_redis_roundtrip_seconds", "histogram",
                    "Round trip of the heartbeat script to Redis.");
        prom_histogram(b, P "cluster_redis_roundtrip_seconds", NULL, &c->rtt);
        prom_family(b, P "cluster_log_delay_seconds", "histogram",
                    "From a change log entry's creation in Redis (Redis's clock) to its "
                    "application on this node.");
        prom_histogram(b, P "cluster_log_delay_seconds", NULL, &c->delay);
    }

    if (m->store && m->store->durable && !m->cluster) {
        const struct store_stats *st = &m->store->stats;
        prom_scalar(b, P "store_commits_total", "counter",
                    "Write transactions committed to the data directory (one per loop "
                    "iteration with changes).", st->commits);
        prom_scalar(b, P "store_changes_total", "counter",
                    "Registrations written or deleted by those commits.", st->changes);
        prom_scalar(b, P "store_errors_total", "counter",
                    "Commits that failed (their REGISTERs were answered E_UNAVAILABLE).", st->errors);
        prom_family(b, P "store_commit_duration_seconds", "histogram",
                    "Time to commit one transaction, the sync to disk included.");
        prom_histogram(b, P "store_commit_duration_seconds", NULL, &st->commit_seconds);
        prom_scalar(b, P "store_loaded_registrations", "gauge",
                    "Registrations loaded from the data directory at start.", st->loaded);
        prom_family(b, P "store_load_seconds", "gauge", "Time the load at start took.");
        prom_f64(b, P "store_load_seconds", NULL, st->load_seconds);
        prom_scalar(b, P "store_map_size_bytes", "gauge", "Size of the data file's map.", st->map_size);
    }

    if (m->relay) {
        const struct relay_stats *rs = &m->relay->stats;
        prom_scalar(b, P "relay_reservations", "gauge", "Circuit relay reservations held.", rs->reservations);
        prom_scalar(b, P "relay_reservations_total", "counter",
                    "RESERVEs granted, refreshes included.", rs->reservations_granted);
        prom_scalar(b, P "relay_circuits", "gauge",
                    "Relayed connections open or waiting for their target's answer.", rs->circuits);
        prom_scalar(b, P "relay_circuits_total", "counter", "Relayed connections opened.", rs->circuits_opened);
        prom_family(b, P "relay_circuits_ended_total", "counter",
                    "Relayed connections ended, by reason: closed (by either side, or a side "
                    "went away), duration and data (their limits).");
        for (int r = 0; r < RELAY_END_REASONS; r++) {
            snprintf(labels, sizeof(labels), "reason=\"%s\"", relay_end_names[r]);
            prom_u64(b, P "relay_circuits_ended_total", labels, rs->ended[r]);
        }
        prom_scalar(b, P "relay_bytes_total", "counter", "Bytes relayed, both ways.", rs->bytes_relayed);
        prom_family(b, P "relay_refusals_total", "counter",
                    "Relay requests refused, by reason: reservations, peer_reservations, "
                    "ip_reservations (the reservation limits), no_reservation, circuits "
                    "(max-circuits-per-peer), self, connection_failed (the target refused or "
                    "did not answer), malformed, unexpected, memory (max-memory).");
        for (int r = 0; r < RELAY_REFUSE_REASONS; r++) {
            snprintf(labels, sizeof(labels), "reason=\"%s\"", relay_refusal_names[r]);
            prom_u64(b, P "relay_refusals_total", labels, rs->refused[r]);
        }
    }

    if (m->http) {
        prom_scalar(b, P "metrics_scrapes_total", "counter", "Answers to GET /metrics, this one included.", m->http->scrapes + 1);
        prom_family(b, P "metrics_clients_closed_total", "counter",
                    "Metrics clients closed early, by reason: deadline (no whole request and "
                    "answer within 5 s), evicted (all slots were busy and a newcomer took theirs).");
        prom_u64(b, P "metrics_clients_closed_total", "reason=\"deadline\"", m->http->timeouts);
        prom_u64(b, P "metrics_clients_closed_total", "reason=\"evicted\"", m->http->evictions);
    }
}
