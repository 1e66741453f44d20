#include "rendezvous/service.h"

#include <string.h>
#include <sys/time.h>

#include <utlist.h>

void rdv_config_default(struct rdv_config *c)
{
    memset(c, 0, sizeof(*c));
    c->push_protocol_id = PUSH_PROTOCOL_ID;
    c->rdv1_ids = (struct rdv_protocol_ids){.id = {RDV1_PROTOCOL_ID}, .n = 1};
    c->waku_ids = (struct rdv_protocol_ids){.id = {WAKU_PROTOCOL_ID}, .n = 1};
    /* No valid request comes near this (records are at most max_envelope,
     * 8 KiB); keeping it small bounds what a peer can park half-sent on each
     * of a connection's streams. */
    c->max_message = 64u << 10;
    c->push_discover_default = 100;
    c->push_discover_max = 1000;
    c->push_batch_bytes = 64u << 10;
    c->out_hard_limit = 8u << 20;
    c->out_soft_limit = 1u << 20;
    c->out_soft_seconds = 10;
    c->ttl_default = 7200;
    c->ttl_min = 60;
    c->ttl_max = 259200;
    c->discover_default = 100;
    c->discover_max = 1000;
    c->waku_ttl_default = 20;
    c->waku_ttl_max = 20;
    c->waku_discover_max = 1000;
    registry_limits_default(&c->limits);
}

double rdv_service_now(const struct rdv_service *s) { return ev_now(s->host->loop); }

const char *const rdv_dialect_names[3] = {"push", "standard", "waku"};
const char *const rdv_action_names[RDV_ACTIONS] = {"register", "subscribe", "discover"};

bool rdv_service_allows(struct rdv_service *s, enum rdv_dialect d, enum rdv_action a,
                        const char *ns, size_t ns_len, const struct peer_id *peer)
{
    if (s->policy.allows == NULL || s->policy.allows(s->policy.ctx, a, ns, ns_len, peer))
        return true;
    s->stats.denied[d][a]++;
    return false;
}

void rdv_request_log_ns(struct rdv_request_log *r, const struct rdv_service *s, const char *ns,
                        size_t len)
{
    bool cut = len > RDV_LOG_NS_MAX;
    size_t n = cut ? RDV_LOG_NS_MAX : len;
    bool utf8 = registry_check_ns(&s->reg, ns, len) == 0;

    /* Never end inside a UTF-8 sequence. */
    while (cut && utf8 && n > 0 && ((unsigned char)ns[n] & 0xc0) == 0x80)
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)ns[i];
        bool plain = c >= 0x20 && c != 0x7f && c != '"' && c != '\\' && (c < 0x80 || utf8);
        r->ns[i] = plain ? (char)c : '?';
    }
    memcpy(r->ns + n, cut ? "..." : "", cut ? 4 : 1);
    r->has_ns = true;
}

void rdv_request_log_write(const struct rdv_service *s, enum rdv_dialect d,
                           const struct rdv_request_log *r, const struct peer_id *peer, double t0)
{
    char id[PEERID_TEXT_MAX], status[16];

    if (!log_enabled(s->log, LOG_DEBUG))
        return;
    if (peerid_to_text(peer, id, sizeof id) < 0)
        strcpy(id, "?");
    if (r->status < 0)
        strcpy(status, "none");
    else
        snprintf(status, sizeof status, "%d", r->status);
    LOGD_EVENT(s->log, "request %s %s ns=%s%s%s status=%s peer=%s %.0f µs", rdv_dialect_names[d],
               r->type ? r->type : "(not a request)", r->has_ns ? "\"" : "",
               r->has_ns ? r->ns : "(none)", r->has_ns ? "\"" : "",
               r->status_name && r->status >= 0 ? r->status_name : status, id,
               (ev_time() - t0) * 1e6);
}

void rdv_service_wait(struct rdv_service *s, struct rdv_waiter *w)
{
    /* (one whose answers wait for the commit under way serves nothing more
     * until they are released: it cannot be here) */
    if (w->list != NULL)
        return;
    rdv_service_unwait(s, w);
    DL_APPEND(s->waiting, w);
    w->list = &s->waiting;
}

void rdv_service_unwait(struct rdv_service *s, struct rdv_waiter *w)
{
    (void)s;
    if (w->list == NULL)
        return;
    DL_DELETE(*w->list, w);
    w->prev = w->next = NULL;
    w->list = NULL;
}

void rdv_service_seal(struct rdv_service *s)
{
    struct rdv_waiter *w;
    while ((w = s->waiting) != NULL) {
        rdv_service_unwait(s, w);
        DL_APPEND(s->committing, w);
        w->list = &s->committing;
    }
}

void rdv_service_committed(struct rdv_service *s, bool committed)
{
    struct rdv_waiter *w;
    while ((w = s->committing) != NULL) {
        rdv_service_unwait(s, w);
        w->release(w, committed);
    }
}

enum rdv_status rdv_service_register(struct rdv_service *s, const struct rdv_register *req,
                                     uint64_t *ticket)
{
    if (rdv_service_clustered(s))
        return s->writes.reg(s->writes.ctx, req, ticket);
    return registry_register(&s->reg, req, NULL);
}

void rdv_service_unregister(struct rdv_service *s, const char *ns, size_t ns_len,
                            const struct peer_id *peer)
{
    if (rdv_service_clustered(s))
        s->writes.unreg(s->writes.ctx, ns, ns_len, peer);
    else
        (void)registry_unregister(&s->reg, ns, ns_len, peer, NULL);
}

void rdv_service_session_end(struct rdv_service *s, struct rdv_session *session)
{
    if (rdv_service_clustered(s))
        s->writes.session_end(s->writes.ctx, session);
    else
        registry_session_end(&s->reg, session);
}

static void on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct rdv_service *s = w->data;
    (void)loop;
    (void)revents;
    registry_expire(&s->reg, rdv_service_now(s));
    rdv_service_schedule_expiry(s);
}

void rdv_service_schedule_expiry(struct rdv_service *s)
{
    double next = registry_next_expiry(&s->reg);
    ev_timer_stop(s->host->loop, &s->expiry);
    /* in a cluster, expiry runs in Redis, once for every node */
    if (next < 0 || rdv_service_clustered(s))
        return;
    double in = next - rdv_service_now(s);
    ev_timer_set(&s->expiry, in > 0 ? in : 0, 0);
    ev_timer_start(s->host->loop, &s->expiry);
}

void rdv_service_init(struct rdv_service *s, struct host *h, const struct rdv_config *cfg)
{
    struct timeval tv;

    memset(s, 0, sizeof(*s));
    s->host = h;
    s->log = h->log;
    s->cfg = *cfg;
    for (int d = 0; d < 3; d++)
        histogram_init_latency(&s->stats.request_seconds[d]);
    histogram_init_latency(&s->stats.announce_seconds);
    ev_timer_init(&s->expiry, on_expiry, 0, 0);
    s->expiry.data = s;
    /* Seeding the sequence from the clock keeps cookies issued before a
     * restart meaningful (they point into the past, not the future). */
    gettimeofday(&tv, NULL);
    registry_init(&s->reg, &s->cfg.limits, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec,
                  NULL, NULL);
    /* A peer's connections and its registry entry share one copy of its id. */
    host_share_peer_ids(h, &s->reg.ids);
}

/* Call after the host has closed every connection: sessions end while the
 * registry still exists. */
void rdv_service_free(struct rdv_service *s)
{
    ev_timer_stop(s->host->loop, &s->expiry);
    registry_free(&s->reg);
}
