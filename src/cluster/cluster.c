#include "cluster/cluster.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <sodium.h>
#include <uthash.h>

#include "base/mem.h"
#include "cluster/entry.h"
#include "cluster/scripts.h"
#include "codec/multiaddr.h"
#include "cluster/url.h"

#define CLUSTER_TICK 1.0           /* heartbeat, reap and expiry every second */
#define CLUSTER_BACKOFF_MIN 0.1
#define CLUSTER_BACKOFF_MAX 2.0
#define CLUSTER_XREAD_COUNT "1000"
#define CLUSTER_EXPIRE_BATCH "1000"
#define CLUSTER_SEQ_AHEAD 60.0     /* seconds: how far ahead of us a cookie may point */
#define CLUSTER_EXPIRY_SLACK 0.005 /* after a deadline before asking Redis to expire */
#define CLUSTER_LEAVE_WAIT 2.0     /* seconds a stopping node waits for its removals */

enum cluster_state {
    CLUSTER_DOWN,        /* waiting to reconnect */
    CLUSTER_CONNECTING,  /* AUTH, SELECT, SCRIPT LOAD under way */
    CLUSTER_SYNCING,     /* the snapshot is on its way */
    CLUSTER_UP,
};

/* A local push session the log may name (owner NODE:SESSION), by its
 * number and by its address: the session itself keeps no number, so that
 * sessions cost nothing for it outside cluster mode. */
struct cluster_session {
    UT_hash_handle hh;          /* c->sessions, by id */
    UT_hash_handle by_s;        /* c->by_session, by s */
    uint64_t id;
    struct rdv_session *s;
};

struct cluster_refusal {
    uint64_t ticket;
    enum rdv_status status;
};

/* A push session's write waiting for its answer. */
struct cluster_push_write {
    uint64_t ticket, session;
};

struct cluster {
    struct store store;        /* first: the daemon's store is the cluster */
    struct ev_loop *loop;
    struct log *log;
    struct registry *reg;
    struct cluster_config cfg;
    struct cluster_url url;
    char where[CLUSTER_URL_HOST_MAX + 32];
    uint64_t node;             /* this node's id */
    char node_hex[17];
    char log_max[24];
    redisAsyncContext *wr, *rd;
    enum cluster_state state;
    char sha[CLUSTER_SCRIPTS][41];
    size_t loading;            /* SCRIPT LOADs not answered yet */
    ev_timer tick, retry;
    ev_timer expiry;           /* at the replica's earliest deadline */
    double backoff;
    double hb_sent;            /* a heartbeat is out since then (0: none) */
    bool reading;              /* an XREAD is out */
    bool logged_down;
    bool leaving;              /* the leave script is out */
    bool closing;              /* the registry may be gone: nothing touches it */
    /* the log */
    uint64_t applied_seq;      /* the last entry applied (its id as a seq) */
    uint64_t applied_n;        /* its number */
    /* writes */
    uint64_t issued, replied;  /* tickets */
    uint64_t sealed;           /* issued when the commit under way started */
    uint64_t wait_seq;         /* the highest seq Redis gave to a write so far */
    struct cluster_refusal *refused;
    size_t nrefused, refused_cap;
    struct cluster_push_write *pushw;  /* FIFO: [pushw_head, pushw_len) */
    size_t pushw_head, pushw_len, pushw_cap;
    double commit_t0;
    store_done_fn *done;
    void *done_ctx;
    /* sessions and the owners of registrations not owned by a local session */
    struct cluster_session *sessions;
    struct cluster_session *by_session;
    uint64_t next_session;
    struct rdv_session remote;   /* registrations other nodes' sessions own */
    struct rdv_session departed; /* our ended sessions' ones, until the log removes them */
    struct rdv_addr *addrs;      /* scratch for applying an entry */
    size_t addrs_cap;
    struct cluster_stats stats;
};

static void cluster__teardown(struct cluster *c, const char *why);
static void cluster__read(struct cluster *c);
static void cluster__snapshot(struct cluster *c);
static void cluster__reassert(struct cluster *c);
static void cluster__check_commit(struct cluster *c);
static void cluster__arm_expiry(struct cluster *c);
static void cluster__push_answered(struct cluster *c, uint64_t ticket, enum rdv_status st);

static struct cluster *cluster__of(const redisAsyncContext *ac)
{
    return ac->data;
}

static bool cluster__error(struct cluster *c, const redisReply *r)
{
    if (r && r->type != REDIS_REPLY_ERROR)
        return false;
    c->stats.redis_errors++;
    return true;
}

/* ---- the registry replica --------------------------------------------------- */

static struct rdv_session *cluster__owner(struct cluster *c, const struct cluster_change *ch)
{
    if (!ch->owned)
        return NULL;
    if (ch->owner_node != c->node)
        return &c->remote;
    struct cluster_session *cs = NULL;
    HASH_FIND(hh, c->sessions, &ch->owner_session, sizeof ch->owner_session, cs);
    return cs ? cs->s : &c->departed;
}

/* A live local session owns g. */
static bool cluster__live_owner(const struct cluster *c, const struct rdv_reg *g)
{
    return g->owner != NULL && g->owner != &c->remote && g->owner != &c->departed;
}

static void cluster__add(struct cluster *c, const struct cluster_change *ch)
{
    const Cluster__Body *b = ch->body;
    if (registry_check_ns(c->reg, ch->ns, ch->ns_len) != 0) {
        LOGW(c->log, "cluster: a log entry with a namespace this node refuses: skipped");
        return;
    }
    if (b->n_addrs > c->addrs_cap) {
        c->addrs = xrealloc(c->addrs, b->n_addrs * sizeof *c->addrs);
        c->addrs_cap = b->n_addrs;
    }
    for (size_t i = 0; i < b->n_addrs; i++) {
        /* checked by the node that took it; Redis is not trusted to keep them so */
        if (multiaddr_validate(b->addrs[i].data, b->addrs[i].len) != 0) {
            LOGW(c->log, "cluster: a log entry with an invalid address: skipped");
            c->stats.redis_errors++;
            return;
        }
        c->addrs[i] = (struct rdv_addr){b->addrs[i].data, b->addrs[i].len};
    }
    uint64_t ttl = b->has_ttl ? b->ttl : 0;
    struct rdv_register q = {
        .ns = ch->ns,
        .ns_len = ch->ns_len,
        .peer = &ch->peer,
        .dialect = (enum rdv_dialect)b->dialect,
        .addrs = c->addrs,
        .naddrs = b->n_addrs,
        .envelope = b->has_envelope ? b->envelope.data : NULL,
        .envelope_len = b->has_envelope ? b->envelope.len : 0,
        .metadata = b->has_metadata ? b->metadata.data : NULL,
        .metadata_len = b->has_metadata ? b->metadata.len : 0,
        .ttl = ttl,
        .owner = cluster__owner(c, ch),
        .now = ev_now(c->loop),
        .seq = ch->seq,
        .expires = ttl ? ch->expires : 0,
    };
    enum rdv_status st = registry_register(c->reg, &q, NULL);
    if (st == RDV_E_NOT_FOUND) {
        /* out of order (a Redis that lost its log): a seq of our own */
        q.seq = 0;
        q.expires = 0;
        q.now = ttl ? ch->expires - (double)ttl : q.now;
        st = registry_register(c->reg, &q, NULL);
    }
    if (st != RDV_OK)
        LOGW(c->log, "cluster: this node's limits refused a registration of the log (%d)", (int)st);
}

static void cluster__remove(struct cluster *c, const struct cluster_change *ch)
{
    const struct rdv_reg *g = registry_find(c->reg, ch->ns, ch->ns_len, &ch->peer);
    if (g == NULL || g->seq != ch->removed_seq)
        return; /* gone already, or replaced since */
    /* We were reaped while alive (a stall): our sessions keep what they own
     * here, and the re-assertion puts it back in Redis. */
    if (ch->why == CLUSTER_WHY_REAP && cluster__live_owner(c, g))
        return;
    if (ch->why == CLUSTER_WHY_EXPIRED)
        c->reg->stats.expired++;
    registry_unregister(c->reg, ch->ns, ch->ns_len, &ch->peer, NULL);
}

static void cluster__apply(struct cluster *c, const struct cluster_change *ch)
{
    if (ch->seq <= c->applied_seq)
        return; /* seen */
    if (ch->add)
        cluster__add(c, ch);
    else
        cluster__remove(c, ch);
    c->applied_seq = ch->seq;
    c->applied_n = ch->n;
    c->stats.applied++;
}

/* ---- reading the log ---------------------------------------------------------- */

static void cluster__on_read(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    (void)priv;
    c->reading = false;
    if (r == NULL || ac != c->rd || c->closing)
        return;
    if (cluster__error(c, r)) {
        cluster__teardown(c, r->str);
        return;
    }
    /* [[stream, [[id, [field, value, ...]], ...]]] or nil (no news) */
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 && r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 2 && r->element[0]->element[1]->type == REDIS_REPLY_ARRAY) {
        const redisReply *list = r->element[0]->element[1];
        struct cluster_span f[12];
        for (size_t i = 0; i < list->elements && c->state == CLUSTER_UP; i++) {
            const redisReply *e = list->element[i];
            struct cluster_change ch;
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                e->element[0]->type != REDIS_REPLY_STRING || e->element[1]->type != REDIS_REPLY_ARRAY ||
                e->element[1]->elements > sizeof f / sizeof *f)
                goto bad;
            const redisReply *fv = e->element[1];
            for (size_t j = 0; j < fv->elements; j++) {
                if (fv->element[j]->type != REDIS_REPLY_STRING)
                    goto bad;
                f[j] = (struct cluster_span){fv->element[j]->str, (size_t)fv->element[j]->len};
            }
            struct cluster_span id = {e->element[0]->str, (size_t)e->element[0]->len};
            if (cluster_change_decode(&ch, id, f, fv->elements) != 0) {
                cluster_change_free(&ch);
                goto bad;
            }
            if (ch.n != c->applied_n + 1 && ch.seq > c->applied_seq) {
                cluster_change_free(&ch);
                LOGW(c->log, "cluster: the change log has a gap (entry %" PRIu64 " after %" PRIu64
                             "): reloading the registry", ch.n, c->applied_n);
                cluster__snapshot(c);
                return;
            }
            double delay = ev_time() - (double)(ch.seq >> 20) / 1000.0;
            histogram_observe(&c->stats.delay, delay > 0 ? delay : 0);
            cluster__apply(c, &ch);
            cluster_change_free(&ch);
            continue;
bad:
            c->stats.redis_errors++;
            LOGE(c->log, "cluster: a malformed change log entry: reloading the registry");
            cluster__snapshot(c);
            return;
        }
    }
    cluster__check_commit(c);
    cluster__arm_expiry(c);
    cluster__read(c);
}

static void cluster__read(struct cluster *c)
{
    char id[48];
    if (c->state != CLUSTER_UP || c->reading || c->rd == NULL)
        return;
    if (c->applied_seq)
        cluster_seq_format(c->applied_seq, id, sizeof id);
    else
        snprintf(id, sizeof id, "0-0");
    const char *argv[] = {"XREAD", "COUNT", CLUSTER_XREAD_COUNT, "BLOCK", "0", "STREAMS",
                          cluster_keys[3], id};
    if (redisAsyncCommandArgv(c->rd, cluster__on_read, NULL, 8, argv, NULL) == REDIS_OK)
        c->reading = true;
}

/* ---- scripts ------------------------------------------------------------------- */

/* EVALSHA script with the common KEYS and argc ARGV (binary-safe). */
static int cluster__eval(struct cluster *c, enum cluster_script s, redisCallbackFn *fn, void *priv,
                         int argc, const char **argv, const size_t *lens)
{
    const char *a[3 + CLUSTER_NKEYS + 12];
    size_t l[3 + CLUSTER_NKEYS + 12];
    char nkeys[8];
    int n = 0;
    snprintf(nkeys, sizeof nkeys, "%d", CLUSTER_NKEYS);
    a[n] = "EVALSHA", l[n++] = 7;
    a[n] = c->sha[s], l[n++] = 40;
    a[n] = nkeys, l[n++] = strlen(nkeys);
    for (int i = 0; i < CLUSTER_NKEYS; i++)
        a[n] = cluster_keys[i], l[n] = strlen(cluster_keys[i]), n++;
    for (int i = 0; i < argc; i++)
        a[n] = argv[i], l[n] = lens ? lens[i] : strlen(argv[i]), n++;
    if (c->wr == NULL || redisAsyncCommandArgv(c->wr, fn, priv, n, a, l) != REDIS_OK)
        return -1;
    return 0;
}

static void cluster__script_failed(struct cluster *c, const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0)
        cluster__teardown(c, "the scripts were flushed: loading them again");
}

/* ---- writes -------------------------------------------------------------------- */

static void cluster__refuse(struct cluster *c, uint64_t ticket, enum rdv_status st)
{
    if (c->nrefused == c->refused_cap) {
        c->refused_cap = c->refused_cap ? c->refused_cap * 2 : 16;
        c->refused = xrealloc(c->refused, c->refused_cap * sizeof *c->refused);
    }
    c->refused[c->nrefused++] = (struct cluster_refusal){ticket, st};
    c->stats.refused++;
    cluster__push_answered(c, ticket, st);
}

static void cluster__push_sent(struct cluster *c, uint64_t ticket, uint64_t session)
{
    if (c->pushw_head > 0 && c->pushw_head == c->pushw_len)
        c->pushw_head = c->pushw_len = 0;
    if (c->pushw_len == c->pushw_cap) {
        if (c->pushw_head > 0) { /* slide down before growing */
            memmove(c->pushw, c->pushw + c->pushw_head,
                    (c->pushw_len - c->pushw_head) * sizeof *c->pushw);
            c->pushw_len -= c->pushw_head;
            c->pushw_head = 0;
        }
        if (c->pushw_len == c->pushw_cap) {
            c->pushw_cap = c->pushw_cap ? c->pushw_cap * 2 : 16;
            c->pushw = xrealloc(c->pushw, c->pushw_cap * sizeof *c->pushw);
        }
    }
    c->pushw[c->pushw_len++] = (struct cluster_push_write){ticket, session};
}

/* The answer to ticket came: if a push session's write, refused with st
 * (RDV_OK: taken), the session (if it still lives) is told. */
static void cluster__push_answered(struct cluster *c, uint64_t ticket, enum rdv_status st)
{
    while (c->pushw_head < c->pushw_len && c->pushw[c->pushw_head].ticket < ticket)
        c->pushw_head++;
    if (c->pushw_head == c->pushw_len || c->pushw[c->pushw_head].ticket != ticket)
        return; /* not a push write */
    uint64_t id = c->pushw[c->pushw_head++].session;
    struct cluster_session *cs = NULL;
    if (st == RDV_OK || c->cfg.refused == NULL)
        return;
    HASH_FIND(hh, c->sessions, &id, sizeof id, cs);
    if (cs)
        c->cfg.refused(c->cfg.refused_ctx, cs->s, st);
}

/* A write's answer: answers come in the order the writes went. */
static void cluster__on_write(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    uint64_t ticket = (uint64_t)(uintptr_t)priv;
    uint64_t seq;

    if (ticket <= c->replied)
        return; /* already refused by a teardown */
    c->replied = ticket;
    if (r == NULL || cluster__error(c, r)) {
        cluster__refuse(c, ticket, RDV_E_UNAVAILABLE);
        cluster__script_failed(c, r);
    } else if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->str[0] == '!') {
        enum rdv_status st = strcmp(r->str, "!PEER") == 0   ? RDV_E_PEER_LIMIT
                             : strcmp(r->str, "!RATE") == 0 ? RDV_E_RATE_LIMIT
                                                            : RDV_E_TOTAL_LIMIT;
        if (st == RDV_E_RATE_LIMIT && !c->closing)
            c->reg->stats.rate_limited++; /* as one node counts it */
        cluster__refuse(c, ticket, st);
    } else if (r->type == REDIS_REPLY_STRING && cluster_seq_parse(r->str, (size_t)r->len, &seq) == 0) {
        if (seq > c->wait_seq)
            c->wait_seq = seq;
        cluster__push_answered(c, ticket, RDV_OK);
    }
    cluster__check_commit(c);
}

/* An unregister's answer: nothing waits for it. */
static void cluster__on_unregister(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    (void)priv;
    if (reply == NULL || cluster__error(c, reply))
        cluster__script_failed(c, reply);
}

/* A local session's entry; NULL while it has no number. */
static struct cluster_session *cluster__session(struct cluster *c, const struct rdv_session *s)
{
    struct cluster_session *cs = NULL;
    HASH_FIND(by_s, c->by_session, &s, sizeof s, cs);
    return cs;
}

/* "NODE:SESSION" of a local session (numbering it on first use). */
static void cluster__owner_text(struct cluster *c, struct rdv_session *s, char *out, size_t cap)
{
    struct cluster_session *cs = cluster__session(c, s);
    if (cs == NULL) {
        cs = xcalloc(1, sizeof *cs);
        cs->id = ++c->next_session;
        cs->s = s;
        HASH_ADD(hh, c->sessions, id, sizeof cs->id, cs);
        HASH_ADD(by_s, c->by_session, s, sizeof cs->s, cs);
    }
    snprintf(out, cap, "%s:%" PRIx64, c->node_hex, cs->id);
}

static void cluster__session_free(struct cluster *c, struct cluster_session *cs)
{
    HASH_DEL(c->sessions, cs);
    HASH_DELETE(by_s, c->by_session, cs);
    free(cs);
}

static int cluster__send_register(struct cluster *c, const struct rdv_register *q, uint64_t ticket)
{
    uint8_t key[CLUSTER_KEY_MAX];
    const struct registry_limits *l = &c->reg->limits;
    char owner[64] = "", ttl[24], per_peer[24], total[24], rate[40], burst[24], cut[24], ttl_len[24];
    Cluster__Body b = CLUSTER__BODY__INIT;
    ProtobufCBinaryData stack[32];
    ProtobufCBinaryData *addrs = q->naddrs <= 32 ? stack : xcalloc(q->naddrs, sizeof *addrs);

    if (q->owner)
        cluster__owner_text(c, q->owner, owner, sizeof owner);
    b.has_dialect = true;
    b.dialect = (uint32_t)q->dialect;
    for (size_t i = 0; i < q->naddrs; i++)
        addrs[i] = (ProtobufCBinaryData){q->addrs[i].len, (uint8_t *)q->addrs[i].bytes};
    b.n_addrs = q->naddrs;
    b.addrs = addrs;
    if (q->envelope) {
        b.has_envelope = true;
        b.envelope = (ProtobufCBinaryData){q->envelope_len, (uint8_t *)q->envelope};
    }
    if (q->ttl) {
        b.has_ttl = true;
        b.ttl = q->ttl;
    }
    if (q->metadata && q->metadata_len) {
        b.has_metadata = true;
        b.metadata = (ProtobufCBinaryData){q->metadata_len, (uint8_t *)q->metadata};
    }
    size_t blen = cluster__body__get_packed_size(&b);
    uint8_t *body = xmalloc(blen ? blen : 1);
    cluster__body__pack(&b, body);
    /* Where the TTL field is (fields go in number order: dialect, addrs,
     * envelope, ttl, metadata), so the script can tell a refresh. */
    Cluster__Body head = b, ttl_only = CLUSTER__BODY__INIT;
    head.has_ttl = head.has_metadata = false;
    ttl_only.has_ttl = b.has_ttl;
    ttl_only.ttl = b.ttl;
    snprintf(cut, sizeof cut, "%zu", cluster__body__get_packed_size(&head));
    snprintf(ttl_len, sizeof ttl_len, "%zu", cluster__body__get_packed_size(&ttl_only));
    snprintf(ttl, sizeof ttl, "%" PRIu64, q->ttl);
    snprintf(per_peer, sizeof per_peer, "%zu", l->max_regs_per_peer);
    snprintf(total, sizeof total, "%zu", l->max_regs_total);
    snprintf(rate, sizeof rate, "%.17g", l->register_rate > 0 ? l->register_rate : 0.0);
    snprintf(burst, sizeof burst, "%zu", l->register_burst ? l->register_burst : 1);
    size_t klen = cluster_key_make(key, q->peer, q->ns, q->ns_len);
    const char *argv[] = {(const char *)key, owner, ttl, (const char *)body, per_peer, total,
                          c->log_max, rate, burst, cut, ttl_len};
    size_t lens[] = {klen, strlen(owner), strlen(ttl), blen, strlen(per_peer), strlen(total),
                     strlen(c->log_max), strlen(rate), strlen(burst), strlen(cut), strlen(ttl_len)};
    int rc = cluster__eval(c, CLUSTER_SCRIPT_REGISTER, cluster__on_write,
                           (void *)(uintptr_t)ticket, 11, argv, lens);
    free(body);
    if (addrs != stack)
        free(addrs);
    return rc;
}

static void cluster__send_unregister(struct cluster *c, const struct peer_id *peer, const char *ns,
                                     size_t ns_len, const char *owner, const char *why)
{
    uint8_t key[CLUSTER_KEY_MAX];
    size_t klen = cluster_key_make(key, peer, ns, ns_len);
    const char *argv[] = {(const char *)key, owner, why, c->log_max};
    size_t lens[] = {klen, strlen(owner), strlen(why), strlen(c->log_max)};
    (void)cluster__eval(c, CLUSTER_SCRIPT_UNREGISTER, cluster__on_unregister, NULL, 4, argv, lens);
}

enum rdv_status cluster_register(void *ctx, const struct rdv_register *q, uint64_t *ticket)
{
    struct cluster *c = ctx;
    const struct registry_limits *l = &c->reg->limits;
    if (registry_check_ns(c->reg, q->ns, q->ns_len) != 0)
        return RDV_E_NAMESPACE;
    if (q->naddrs > l->max_addrs || (q->envelope && q->envelope_len > l->max_envelope))
        return RDV_E_ADDRS;
    if (q->metadata && q->metadata_len > l->max_metadata)
        return RDV_E_METADATA;
    if (c->state != CLUSTER_UP)
        return RDV_E_UNAVAILABLE;
    uint64_t t = ++c->issued;
    c->stats.writes++;
    if (cluster__send_register(c, q, t) != 0) {
        cluster__teardown(c, "cannot send a write");
        return RDV_E_UNAVAILABLE;
    }
    if (q->owner) {
        const struct cluster_session *cs = cluster__session(c, q->owner);
        cluster__push_sent(c, t, cs ? cs->id : 0);
    }
    if (ticket)
        *ticket = t;
    return RDV_OK;
}

void cluster_unregister(void *ctx, const char *ns, size_t ns_len, const struct peer_id *peer)
{
    struct cluster *c = ctx;
    if (c->state == CLUSTER_UP && registry_check_ns(c->reg, ns, ns_len) == 0)
        cluster__send_unregister(c, peer, ns, ns_len, "", "u");
}

void cluster_session_end(void *ctx, struct rdv_session *s)
{
    struct cluster *c = ctx;
    char owner[64];
    struct cluster_session *cs = cluster__session(c, s);
    if (cs) {
        snprintf(owner, sizeof owner, "%s:%" PRIx64, c->node_hex, cs->id);
        if (c->state == CLUSTER_UP)
            for (const struct rdv_reg *g = s->regs; g; g = g->ow_next)
                cluster__send_unregister(c, g->peer, g->ns->name, g->ns->len, owner, "s");
        cluster__session_free(c, cs);
    }
    /* What it owns stays until the log removes it (or, if the unregisters
     * could not go now, the next re-assertion sends them). */
    registry_session_move(c->reg, s, &c->departed);
    registry_session_end(c->reg, s);
}

enum rdv_status cluster_outcome(void *ctx, uint64_t ticket)
{
    struct cluster *c = ctx;
    size_t lo = 0, hi = c->nrefused;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c->refused[mid].ticket < ticket)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->nrefused && c->refused[lo].ticket == ticket ? c->refused[lo].status : RDV_OK;
}

uint64_t cluster_seq_bound(void *ctx)
{
    const struct cluster *c = ctx;
    /* seqs are Redis time: none is issued a minute from now (clock skew
     * between this host and Redis's included) */
    double ms = (ev_now(c->loop) + CLUSTER_SEQ_AHEAD) * 1000.0;
    return (uint64_t)ms << 20;
}

/* ---- the store: a commit is over once every write sealed into it has an
 * answer and the log is applied past them (or the connection is gone). ---- */

static void cluster__check_commit(struct cluster *c)
{
    if (!c->store.busy || c->replied < c->sealed)
        return;
    if (c->state == CLUSTER_UP && c->applied_seq < c->wait_seq)
        return;
    store_done_fn *done = c->done;
    void *ctx = c->done_ctx;
    uint64_t upto = c->sealed;
    c->store.busy = false;
    c->done = NULL;
    store_account(&c->store, true, ev_time() - c->commit_t0);
    done(ctx, true, NULL);
    /* the refusals of that commit were read by its releases */
    size_t k = 0;
    while (k < c->nrefused && c->refused[k].ticket <= upto)
        k++;
    if (k) {
        memmove(c->refused, c->refused + k, (c->nrefused - k) * sizeof *c->refused);
        c->nrefused -= k;
    }
}

static bool cluster__pending(const struct store *s)
{
    const struct cluster *c = (const struct cluster *)s;
    return c->issued > c->sealed;
}

static bool cluster__commit_async(struct store *s, struct ev_loop *loop, store_done_fn *done, void *ctx)
{
    struct cluster *c = (struct cluster *)s;
    (void)loop;
    c->sealed = c->issued;
    c->commit_t0 = ev_time();
    c->done = done;
    c->done_ctx = ctx;
    s->busy = true;
    cluster__check_commit(c);
    return true;
}

static int cluster__commit(struct store *s, char *err, size_t errlen)
{
    (void)s;
    (void)err;
    (void)errlen;
    return 0; /* at the end: nothing is left to write; Redis has what it took */
}

static void cluster__free(struct cluster *c);

static void cluster__close(struct store *s)
{
    cluster__free((struct cluster *)s);
}

static void cluster__ignore(void *ctx, const struct rdv_reg *r)
{
    (void)ctx;
    (void)r;
}

static const struct store_ops cluster__store_ops = {
    .name = "cluster",
    .pending = cluster__pending,
    .commit = cluster__commit,
    .commit_async = cluster__commit_async,
    .close = cluster__close,
    .events = {.on_register = cluster__ignore, .on_refresh = cluster__ignore,
               .on_unregister = cluster__ignore},
};

/* ---- resync ------------------------------------------------------------------- */

struct cluster__snap {
    UT_hash_handle hh;
    struct cluster_change ch;
    uint8_t key[CLUSTER_KEY_MAX];
    size_t klen;
};

static int cluster__by_seq(const void *a, const void *b)
{
    const struct cluster__snap *x = *(struct cluster__snap *const *)a;
    const struct cluster__snap *y = *(struct cluster__snap *const *)b;
    return x->ch.seq < y->ch.seq ? -1 : x->ch.seq > y->ch.seq;
}

/* The replica becomes the snapshot by the difference: local registrations
 * it lacks go (but what live local sessions own stays: the re-assertion
 * puts it back), the ones it has that are missing or older here come, in
 * seq order. Each change is an announcement to local subscribers. */
static void cluster__resync(struct cluster *c, const redisReply *r)
{
    struct cluster__snap *snap = NULL, *e, *tmp;
    size_t n = 0;
    uint64_t last_seq = 0, logn = 0;

    if (r->elements < 2 || r->elements % 2 != 0 || r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING)
        goto bad;
    if (strcmp(r->element[0]->str, "0-0") != 0 &&
        cluster_seq_parse(r->element[0]->str, (size_t)r->element[0]->len, &last_seq) != 0)
        goto bad;
    logn = strtoull(r->element[1]->str, NULL, 10);
    for (size_t i = 2; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            goto bad;
        e = xcalloc(1, sizeof *e);
        if (cluster_value_decode(&e->ch, (struct cluster_span){k->str, (size_t)k->len},
                                 (struct cluster_span){v->str, (size_t)v->len}) != 0) {
            cluster_change_free(&e->ch);
            free(e);
            LOGW(c->log, "cluster: a malformed registration in Redis: skipped");
            continue;
        }
        e->klen = cluster_key_make(e->key, &e->ch.peer, e->ch.ns, e->ch.ns_len);
        struct cluster__snap *dup = NULL;
        HASH_FIND(hh, snap, e->key, e->klen, dup);
        if (dup) {
            cluster_change_free(&e->ch);
            free(e);
            continue;
        }
        HASH_ADD(hh, snap, key[0], e->klen, e);
        n++;
    }

    /* what goes */
    const struct rdv_reg **gone = NULL;
    size_t ngone = 0, gcap = 0;
    for (struct rdv_ns *ns = c->reg->namespaces; ns; ns = ns->hh.next) {
        for (const struct rdv_reg *g = ns->regs; g; g = g->ns_next) {
            uint8_t key[CLUSTER_KEY_MAX];
            size_t klen = cluster_key_make(key, g->peer, ns->name, ns->len);
            HASH_FIND(hh, snap, key, klen, e);
            if (e || cluster__live_owner(c, g))
                continue;
            if (ngone == gcap) {
                gcap = gcap ? gcap * 2 : 64;
                gone = xrealloc(gone, gcap * sizeof *gone);
            }
            gone[ngone++] = g;
        }
    }
    struct cluster_change *rm = xcalloc(ngone ? ngone : 1, sizeof *rm);
    for (size_t i = 0; i < ngone; i++) {
        rm[i].peer = *gone[i]->peer;
        rm[i].ns = gone[i]->ns->name; /* read before any removal below */
        rm[i].ns_len = gone[i]->ns->len;
    }
    /* (namespace names are copied: a removal may free the namespace) */
    char (*names)[RDV_NS_MAX] = xcalloc(ngone ? ngone : 1, RDV_NS_MAX);
    for (size_t i = 0; i < ngone; i++) {
        memcpy(names[i], rm[i].ns, rm[i].ns_len);
        rm[i].ns = names[i];
    }
    for (size_t i = 0; i < ngone; i++)
        registry_unregister(c->reg, rm[i].ns, rm[i].ns_len, &rm[i].peer, NULL);
    free(names);
    free(rm);
    free(gone);

    /* what comes */
    struct cluster__snap **add = xcalloc(n ? n : 1, sizeof *add);
    size_t nadd = 0;
    HASH_ITER(hh, snap, e, tmp) {
        const struct rdv_reg *g = registry_find(c->reg, e->ch.ns, e->ch.ns_len, &e->ch.peer);
        if (g == NULL || g->seq != e->ch.seq)
            add[nadd++] = e;
    }
    qsort(add, nadd, sizeof *add, cluster__by_seq);
    for (size_t i = 0; i < nadd; i++)
        cluster__add(c, &add[i]->ch);
    free(add);
    HASH_ITER(hh, snap, e, tmp) {
        HASH_DEL(snap, e);
        cluster_change_free(&e->ch);
        free(e);
    }
    c->applied_seq = last_seq;
    c->applied_n = logn;
    c->stats.resyncs++;
    LOGI(c->log, "cluster: in sync with %s: %zu registrations, log at entry %" PRIu64, c->where, n,
         logn);
    return;
bad:
    HASH_ITER(hh, snap, e, tmp) {
        HASH_DEL(snap, e);
        cluster_change_free(&e->ch);
        free(e);
    }
    c->stats.redis_errors++;
    cluster__teardown(c, "a malformed snapshot");
}

static void cluster__on_snapshot(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    (void)priv;
    if (r == NULL || ac != c->wr || c->closing)
        return;
    if (cluster__error(c, r) || r->type != REDIS_REPLY_ARRAY) {
        cluster__script_failed(c, r);
        if (c->wr)
            cluster__teardown(c, r->type == REDIS_REPLY_ERROR ? r->str : "a snapshot that is not one");
        return;
    }
    cluster__resync(c, r);
    if (c->state != CLUSTER_SYNCING)
        return;
    c->state = CLUSTER_UP;
    c->stats.up = true;
    c->backoff = CLUSTER_BACKOFF_MIN;
    if (c->logged_down)
        LOGI(c->log, "cluster: %s is reachable again", c->where);
    c->logged_down = false;
    cluster__reassert(c);
    cluster__read(c);
    cluster__check_commit(c);
    cluster__arm_expiry(c);
}

static void cluster__snapshot(struct cluster *c)
{
    c->state = CLUSTER_SYNCING;
    c->stats.up = false;
    if (cluster__eval(c, CLUSTER_SCRIPT_SNAPSHOT, cluster__on_snapshot, NULL, 0, NULL, NULL) != 0)
        cluster__teardown(c, "cannot send the snapshot request");
}

/* After a (re)connect or a reap: what live local sessions own goes to Redis
 * again (a registration unchanged is a refresh nobody is told of), and what
 * ended sessions owned is removed there. */
static void cluster__reassert(struct cluster *c)
{
    struct cluster_session *cs, *tmp;
    char owner[24];
    size_t n = 0;
    HASH_ITER(hh, c->sessions, cs, tmp) {
        for (const struct rdv_reg *g = cs->s->regs; g; g = g->ow_next) {
            struct rdv_register q = {
                .ns = g->ns->name, .ns_len = g->ns->len, .peer = g->peer, .dialect = g->dialect,
                .addrs = g->addrs, .naddrs = g->naddrs, .owner = cs->s,
                .metadata = registry_metadata(g), .metadata_len = g->metadata_len,
            };
            uint64_t t = ++c->issued;
            c->stats.writes++;
            if (cluster__send_register(c, &q, t) != 0) {
                cluster__teardown(c, "cannot send a write");
                return;
            }
            n++;
        }
    }
    snprintf(owner, sizeof owner, "%s:", c->node_hex);
    for (const struct rdv_reg *g = c->departed.regs; g; g = g->ow_next)
        cluster__send_unregister(c, g->peer, g->ns->name, g->ns->len, owner, "s");
    if (n)
        LOGI(c->log, "cluster: re-asserted %zu registrations of live sessions", n);
}

/* ---- heartbeat, reap, expiry ---------------------------------------------------- */

static void cluster__on_heartbeat(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    (void)priv;
    if (r == NULL)
        return;
    double sent = c->hb_sent;
    c->hb_sent = 0;
    if (cluster__error(c, r) || r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
        r->element[0]->type != REDIS_REPLY_INTEGER || r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_STRING || r->element[3]->type != REDIS_REPLY_STRING) {
        cluster__script_failed(c, r);
        return;
    }
    histogram_observe(&c->stats.rtt, ev_time() - sent);
    c->stats.nodes_alive = (uint64_t)r->element[1]->integer;
    uint64_t logn = strtoull(r->element[2]->str, NULL, 10), last = 0;
    c->stats.lag_entries = logn > c->applied_n ? logn - c->applied_n : 0;
    if (cluster_seq_parse(r->element[3]->str, (size_t)r->element[3]->len, &last) == 0 &&
        last > c->applied_seq)
        c->stats.lag_seconds = (double)((last >> 20) - (c->applied_seq >> 20)) / 1000.0;
    else
        c->stats.lag_seconds = 0;
    if (r->element[0]->integer == 0 && c->state == CLUSTER_UP && !c->closing) {
        c->stats.reasserts++;
        LOGW(c->log, "cluster: this node had been reaped (stalled or cut off for more than %.1f s)",
             c->cfg.node_timeout);
        cluster__reassert(c);
    }
}

static void cluster__on_reap(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    (void)priv;
    if (r == NULL || cluster__error(c, r) || r->type != REDIS_REPLY_INTEGER) {
        cluster__script_failed(c, r);
        return;
    }
    if (r->integer > 0) {
        c->stats.reaped_nodes += (uint64_t)r->integer;
        LOGI(c->log, "cluster: reaped %lld node(s) not heard of for %.1f s", r->integer,
             c->cfg.node_timeout);
    }
}

static void cluster__on_expire(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    (void)priv;
    if (reply == NULL || cluster__error(c, reply))
        cluster__script_failed(c, reply);
}

static void cluster__expire(struct cluster *c)
{
    const char *exp[] = {c->log_max, CLUSTER_EXPIRE_BATCH};
    (void)cluster__eval(c, CLUSTER_SCRIPT_EXPIRE, cluster__on_expire, NULL, 2, exp, NULL);
}

static void cluster__on_expiry(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cluster *c = w->data;
    (void)loop;
    (void)revents;
    if (c->state == CLUSTER_UP && !c->closing)
        cluster__expire(c);
}

/* The expiry runs in Redis, by whichever node asks first once a deadline
 * has passed: every node asks at its replica's earliest deadline (and
 * every second, for deadlines its clock sees later than Redis's). */
static void cluster__arm_expiry(struct cluster *c)
{
    double next = registry_next_expiry(c->reg);
    ev_timer_stop(c->loop, &c->expiry);
    if (next < 0)
        return;
    double in = next - ev_now(c->loop) + CLUSTER_EXPIRY_SLACK;
    ev_timer_set(&c->expiry, in > 0 ? in : 0, 0);
    ev_timer_start(c->loop, &c->expiry);
}

static void cluster__heartbeat(struct cluster *c)
{
    const char *hb[] = {c->node_hex};
    if (c->hb_sent == 0 && cluster__eval(c, CLUSTER_SCRIPT_HEARTBEAT, cluster__on_heartbeat, NULL,
                                         1, hb, NULL) == 0)
        c->hb_sent = ev_time();
}

static void cluster__on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct cluster *c = w->data;
    char timeout[24];
    (void)loop;
    (void)revents;
    if (c->state != CLUSTER_UP || c->closing)
        return;
    /* Redis that answers nothing (stopped, or a dead link) is down too. */
    if (c->hb_sent != 0 && ev_time() - c->hb_sent > c->cfg.node_timeout) {
        cluster__teardown(c, "no answer to the heartbeat");
        return;
    }
    cluster__heartbeat(c);
    snprintf(timeout, sizeof timeout, "%.0f", c->cfg.node_timeout * 1000);
    const char *reap[] = {c->node_hex, timeout, c->log_max};
    (void)cluster__eval(c, CLUSTER_SCRIPT_REAP, cluster__on_reap, NULL, 3, reap, NULL);
    cluster__expire(c);
}

/* ---- connections ------------------------------------------------------------------ */

static void cluster__connect(struct cluster *c);

static void cluster__on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    cluster__connect(w->data);
}

/* Both connections go (the other's pending callbacks run with no reply);
 * a reconnect follows after the backoff. */
static void cluster__teardown(struct cluster *c, const char *why)
{
    redisAsyncContext *wr = c->wr, *rd = c->rd;
    if (c->state == CLUSTER_DOWN)
        return;
    c->stats.redis_errors++;
    if (!c->logged_down)
        LOGE(c->log, "cluster: %s: %s; writes are refused until it is back (retrying)", c->where,
             why ? why : "connection lost");
    c->logged_down = true;
    c->state = CLUSTER_DOWN;
    c->stats.up = false;
    c->wr = c->rd = NULL;
    c->reading = false;
    c->hb_sent = 0;
    /* writes not answered yet may or may not have been applied: refused */
    while (c->replied < c->issued)
        cluster__refuse(c, ++c->replied, RDV_E_UNAVAILABLE);
    if (wr)
        redisAsyncFree(wr);
    if (rd)
        redisAsyncFree(rd);
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_set(&c->retry, c->backoff, 0);
    ev_timer_start(c->loop, &c->retry);
    c->backoff = c->backoff * 2 > CLUSTER_BACKOFF_MAX ? CLUSTER_BACKOFF_MAX : c->backoff * 2;
    cluster__check_commit(c);
}

/* One of our connections failed: hiredis frees ac after the callback. */
static void cluster__lost(const redisAsyncContext *ac, const char *why)
{
    struct cluster *c = cluster__of(ac);
    if (ac == c->wr)
        c->wr = NULL;
    else if (ac == c->rd)
        c->rd = NULL;
    else
        return; /* one we already let go */
    cluster__teardown(c, ac->errstr[0] ? ac->errstr : why);
}

static void cluster__on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    cluster__lost(ac, "connection lost");
}

static void cluster__on_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK)
        cluster__lost(ac, "cannot connect");
}

static void cluster__on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    (void)priv;
    if (r == NULL)
        return;
    if (cluster__error(c, r))
        cluster__teardown(c, r->str);
}

static void cluster__on_load(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    redisReply *r = reply;
    size_t i = (size_t)(uintptr_t)priv;
    if (r == NULL || ac != c->wr)
        return;
    if (cluster__error(c, r) || r->type != REDIS_REPLY_STRING || r->len != 40) {
        cluster__teardown(c, r->type == REDIS_REPLY_ERROR ? r->str : "SCRIPT LOAD failed");
        return;
    }
    memcpy(c->sha[i], r->str, 40);
    c->sha[i][40] = '\0';
    if (--c->loading == 0) {
        /* known to the others before anything else: its sessions' writes
         * follow the snapshot */
        cluster__heartbeat(c);
        cluster__snapshot(c);
    }
}

static redisAsyncContext *cluster__dial(struct cluster *c)
{
    redisAsyncContext *ac = c->url.unix_socket ? redisAsyncConnectUnix(c->url.path)
                                               : redisAsyncConnect(c->url.host, c->url.port);
    if (ac == NULL)
        return NULL;
    if (ac->err) {
        LOGD(c->log, "cluster: %s", ac->errstr);
        redisAsyncFree(ac);
        return NULL;
    }
    ac->data = c;
    redisLibevAttach(c->loop, ac);
    redisAsyncSetConnectCallback(ac, cluster__on_connect);
    redisAsyncSetDisconnectCallback(ac, cluster__on_disconnect);
    const char *pw = c->url.password[0] ? c->url.password : c->cfg.password;
    if (pw && pw[0]) {
        const char *a[] = {"AUTH", pw};
        redisAsyncCommandArgv(ac, cluster__on_setup, NULL, 2, a, NULL);
    }
    if (c->url.db) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->url.db);
        const char *a[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, cluster__on_setup, NULL, 2, a, NULL);
    }
    return ac;
}

static void cluster__connect(struct cluster *c)
{
    if (c->state != CLUSTER_DOWN)
        return;
    c->state = CLUSTER_CONNECTING;
    c->wr = cluster__dial(c);
    c->rd = c->wr ? cluster__dial(c) : NULL;
    if (c->wr == NULL || c->rd == NULL) {
        cluster__teardown(c, "cannot connect");
        return;
    }
    c->loading = CLUSTER_SCRIPTS;
    for (size_t i = 0; i < CLUSTER_SCRIPTS; i++) {
        const char *a[] = {"SCRIPT", "LOAD", cluster_script_source((enum cluster_script)i)};
        redisAsyncCommandArgv(c->wr, cluster__on_load, (void *)(uintptr_t)i, 3, a, NULL);
    }
}

/* ---- the node ---------------------------------------------------------------------- */

struct cluster *cluster_open(struct ev_loop *loop, struct log *log, struct registry *reg,
                             const struct cluster_config *cfg, char *err, size_t errlen)
{
    struct cluster *c = xcalloc(1, sizeof *c);
    if (cluster_url_parse(&c->url, cfg->url, err, errlen) != 0) {
        free(c);
        return NULL;
    }
    store_init(&c->store, &cluster__store_ops, true);
    c->loop = loop;
    c->log = log;
    c->reg = reg;
    c->cfg = *cfg;
    cluster_url_describe(&c->url, c->where, sizeof c->where);
    snprintf(c->log_max, sizeof c->log_max, "%zu", cfg->log_max);
    do
        randombytes_buf(&c->node, sizeof c->node);
    while (c->node == 0);
    snprintf(c->node_hex, sizeof c->node_hex, "%016" PRIx64, c->node);
    registry_session_init(&c->remote);
    registry_session_init(&c->departed);
    histogram_init_latency(&c->stats.rtt);
    histogram_init_latency(&c->stats.delay);
    c->backoff = CLUSTER_BACKOFF_MIN;
    ev_timer_init(&c->tick, cluster__on_tick, CLUSTER_TICK, CLUSTER_TICK);
    c->tick.data = c;
    ev_timer_start(loop, &c->tick);
    ev_unref(loop); /* it keeps no loop alive */
    ev_timer_init(&c->retry, cluster__on_retry, 0, 0);
    c->retry.data = c;
    ev_timer_init(&c->expiry, cluster__on_expiry, 0, 0);
    c->expiry.data = c;
    LOGI(log, "cluster: node %s, registry in Redis at %s", c->node_hex, c->where);
    cluster__connect(c);
    return c;
}

bool cluster_wait_ready(struct cluster *c, double wait)
{
    double until = ev_time() + wait;
    while (c->state != CLUSTER_UP && ev_time() < until)
        ev_run(c->loop, EVRUN_ONCE);
    return c->state == CLUSTER_UP;
}

struct store *cluster_store(struct cluster *c)
{
    return &c->store;
}

const struct cluster_stats *cluster_stats(const struct cluster *c)
{
    return &c->stats;
}

const char *cluster_node_id(const struct cluster *c)
{
    return c->node_hex;
}

static void cluster__on_leave(redisAsyncContext *ac, void *reply, void *priv)
{
    struct cluster *c = cluster__of(ac);
    (void)priv;
    c->leaving = false;
    if (reply == NULL || cluster__error(c, reply))
        LOGW(c->log, "cluster: leaving: %s", reply ? ((redisReply *)reply)->str : "connection lost");
}

/* A node that stops removes itself at once: the removals its sessions'
 * ends sent go first, then everything still owned by the node. */
static void cluster__leave(struct cluster *c)
{
    char timeout[24];
    if (c->state != CLUSTER_UP)
        return;
    snprintf(timeout, sizeof timeout, "%.0f", c->cfg.node_timeout * 1000);
    const char *a[] = {c->node_hex, timeout, c->log_max, c->node_hex};
    if (cluster__eval(c, CLUSTER_SCRIPT_REAP, cluster__on_leave, NULL, 4, a, NULL) != 0)
        return;
    c->leaving = true;
    double until = ev_time() + CLUSTER_LEAVE_WAIT;
    ev_ref(c->loop); /* the tick was unref'd: keep ev_run from returning at once */
    while (c->leaving && c->wr && ev_time() < until)
        ev_run(c->loop, EVRUN_ONCE);
    ev_unref(c->loop);
}

static void cluster__free(struct cluster *c)
{
    struct cluster_session *cs, *tmp;
    if (c == NULL)
        return;
    /* The daemon frees the registry before its store: from here on no log
     * entry, snapshot or re-assertion may reach it. The reader goes first
     * (its XREAD's callback runs now, with no reply). */
    c->closing = true;
    c->store.busy = false; /* nobody waits any more */
    c->done = NULL;
    if (c->rd) {
        redisAsyncContext *rd = c->rd;
        c->rd = NULL;
        redisAsyncFree(rd);
    }
    cluster__leave(c);
    c->state = CLUSTER_DOWN; /* no reconnect from the callbacks below */
    ev_ref(c->loop);
    ev_timer_stop(c->loop, &c->tick);
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->expiry);
    redisAsyncContext *wr = c->wr, *rd = c->rd;
    c->wr = c->rd = NULL;
    if (wr)
        redisAsyncFree(wr);
    if (rd)
        redisAsyncFree(rd);
    HASH_ITER(hh, c->sessions, cs, tmp)
        cluster__session_free(c, cs);
    free(c->refused);
    free(c->pushw);
    free(c->addrs);
    free(c);
}
