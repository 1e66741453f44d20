/* librendezvous (include/rendezvous/client.h): one host with one connection
 * to the server, redialed with backoff; push-mode state (registrations,
 * subscriptions) re-sent on every connection; one-shot requests each on a
 * stream of their own.
 *
 * Knowing when a push snapshot is complete: the server answers nothing to
 * RENDEZVOUS, and its snapshot may be zero or several Messages. After each
 * RENDEZVOUS the client sends a DISCOVER in a namespace of its own
 * (CLIENT_SYNC_NS): its answer - a REGISTER Message with no entry or only
 * entries of that namespace, or a DISCOVER refusal - comes after the
 * snapshot, since a session answers in order. Until then a re-subscribed
 * namespace collects the new member list apart, and at the answer the
 * subscriber is told the difference with what it had been told.
 *
 * Ownership: the client owns its host (and through it the connection and
 * streams), every op until its callback ran, every subscription and
 * registration. A stream op is freed in its stream's on_close. */
#define RDV_CLIENT_BUILDING 1
#include "rendezvous/client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/un.h>

#include <ev.h>
#include <sodium.h>
#include <utlist.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "client/client_internal.h"
#include "client/members.h"
#include "client/push_client.h"
#include "client/wire.h"
#include "codec/multiaddr.h"
#include "crypto/key.h"
#include "crypto/record.h"
#include "host/host.h"
#include "host/internal.h"
#include "host/identify.h"
#include "host/ping.h"
#include "identify.pb-c.h"

/* The namespace of the sync DISCOVER (see above). Nobody subscribes there. */
#define CLIENT_SYNC_NS "rdv-client/sync"
/* Servers set their own limit (rendezvousd: 255 bytes) and say so. */
#define CLIENT_MAX_NS 16384
#define CLIENT_DEFAULT_KEEPALIVE 15.0
#define CLIENT_DEFAULT_CONNECT 10.0
#define CLIENT_DEFAULT_BACKOFF 0.5

struct preg {                       /* a push registration */
    char *ns;
    struct rdv_addr addrs[RDV_CLIENT_MAX_ADDRS];
    uint8_t *bin;                   /* the addresses' bytes */
    size_t naddrs;
    uint8_t *meta;
    size_t meta_len;
    struct preg *next;
};

struct sub {                        /* a subscription */
    char *ns;
    size_t ns_len;
    rdv_event_cb cb;
    rdv_raw_cb raw;                 /* a raw one instead: no member sets */
    void *arg;
    struct members told;            /* what cb was told */
    struct members now;             /* while syncing: the new member list */
    bool syncing, dead;
    uint64_t until;                 /* the sync answer that ends syncing */
    struct sub *next;
};

enum op_kind { OP_SYNC, OP_PUSH_DISCOVER, OP_STD, OP_PING };

struct op {
    rdv_client *c;
    enum op_kind kind;
    rdv_result_cb cb;
    void *arg;
    struct wire_request rq;
    char *ns;                       /* rq.ns points here */
    uint8_t *cookie;
    char **addrs;                   /* std register: to sign when sent */
    size_t naddrs;
    uint64_t sync_no;               /* OP_SYNC: the sync answer it waits for */
    struct protocol proto;          /* outlives the stream */
    struct stream *s;
    struct lpm in;
    bool started, done;
    int streams;                    /* streams holding it: freed at the last close */
    /* identify, for a std register without addresses */
    struct protocol idp;
    struct lpm id_in;
    bool id_done;
    /* ping */
    uint8_t payload[PING_SIZE];
    size_t got;
    ev_tstamp t0;
    struct op *next, *prev;
};

/* Standard or Waku requests sharing one stream (reuse_streams): sent in
 * order, answered in order. */
struct stdsess {
    rdv_client *c;
    struct protocol proto;          /* outlives the stream */
    struct stream *s;
    struct lpm in;
    struct op *head;                /* sent, waiting for their answers */
};

struct rdv_client {
    struct host host;
    struct log log;
    struct log *logp;               /* &log, or NULL: silent */
    struct ev_loop *loop;
    rdv_client_options o;
    char *server, *push_protocol, *std_protocol, *waku_protocol;
    struct conn *conn;
    bool ready, freeing;
    double backoff;
    ev_timer retry, connect_timer, ka_timer;
    struct stream *ka;
    struct push_client ps, qs;      /* the push session; the discover session */
    bool ps_live, qs_live;
    bool ps_tried;                  /* the push session was opened on this connection */
    uint64_t syncs_sent, syncs_done;
    int dispatching;
    char why[192];                  /* a close reason of ours (conn_close keeps the pointer) */
    char server_text[PEERID_TEXT_MAX]; /* the server's peer id while ready */
    struct preg *regs;
    struct sub *subs;
    size_t nraw, nplain;            /* live raw and member-tracking subscriptions */
    bool swept_dirty;               /* a subscription died: client__sweep has work */
    struct op *waiting;             /* not started: until connected */
    struct op *syncs;               /* OP_SYNC, in order */
    struct op *pdisc;               /* OP_PUSH_DISCOVER sent on qs, in order */
    struct stdsess std[2];          /* reuse_streams: standard [0] and Waku [1] */
    double reconnect_max;           /* as the options said (rdv_client_connect restores it) */
    struct buf rec;                 /* our last signed peer record ... */
    char *rec_addrs;                /* ... over these addresses (joined by spaces) */
    struct wire_record_cache records; /* others' records we verified */
};

static const char *const client_errors[] = {
    [0] = "success",
    [1] = "invalid argument",
    [2] = "not a valid multiaddr",
    [3] = "key file error",
    [4] = "cannot dial the server address",
    [5] = "not connected",
    [6] = "refused by the server",
    [7] = "protocol error",
    [8] = "already subscribed",
    [9] = "not registered or subscribed there",
    [10] = "over a limit of the client library",
    [11] = "the client is being freed",
    [12] = "the server announced more members than the subscription may hold",
};

RDV_CLIENT_API const char *rdv_client_strerror(int code)
{
    if (code > 0 || -code >= (int)(sizeof(client_errors) / sizeof(client_errors[0])))
        return "unknown error";
    return client_errors[-code];
}

static void client__seterr(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

static bool client__ns_ok(const char *ns)
{
    size_t n = ns ? strlen(ns) : 0;
    return n > 0 && n <= CLIENT_MAX_NS;
}

/* ---- ops ---------------------------------------------------------------------- */

static void op__free(struct op *op)
{
    lpm_free(&op->in);
    lpm_free(&op->id_in);
    for (size_t i = 0; i < op->naddrs; i++)
        free(op->addrs[i]);
    free(op->addrs);
    free(op->ns);
    free(op->cookie);
    free(op);
}

/* Calls the op's callback once. */
static void op__finish(struct op *op, const rdv_result *r)
{
    if (op->done)
        return;
    op->done = true;
    if (op->cb)
        op->cb(op->c, r, op->arg);
}

static void op__fail(struct op *op, int error, const char *text)
{
    rdv_result r = {.error = error, .status_text = text ? text : rdv_client_strerror(error)};
    op__finish(op, &r);
}

static const char *client__lost(const rdv_client *c)
{
    return c->freeing ? rdv_client_strerror(RDV_CLIENT_ERR_CLOSED) : "the connection was lost";
}

static int client__lost_code(const rdv_client *c)
{
    return c->freeing ? RDV_CLIENT_ERR_CLOSED : RDV_CLIENT_ERR_NOT_CONNECTED;
}

/* A discover answer for the callback: regs point into w. */
/* The registrations' array comes from m if given (freed with it). */
static void op__finish_regs(struct op *op, struct wire_reg *w, size_t n, rdv_result *r,
                            struct arena *m)
{
    rdv_registration *regs = n == 0 ? NULL : m ? arena_alloc(m, n * sizeof(*regs))
                                               : xcalloc(n, sizeof(*regs));
    for (size_t i = 0; i < n; i++)
        regs[i] = (rdv_registration){
            .ns = w[i].ns, .peer_id = w[i].peer_id, .addrs = (const char *const *)w[i].addrs,
            .naddrs = w[i].naddrs, .ttl = w[i].ttl, .metadata = w[i].meta,
            .metadata_len = w[i].meta_len,
        };
    r->regs = regs;
    r->nregs = n;
    op__finish(op, r);
    if (m == NULL)
        free(regs);
}

/* ---- subscriptions ---------------------------------------------------------------- */

static struct sub *client__sub(rdv_client *c, const char *ns)
{
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->dead && strcmp(s->ns, ns) == 0)
            return s;
    return NULL;
}

/* The live raw subscription to the namespace of these bytes, if any. */
static struct sub *client__raw_sub(rdv_client *c, const ProtobufCBinaryData *ns)
{
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->dead && s->raw && s->ns_len == ns->len && memcmp(s->ns, ns->data, ns->len) == 0)
            return s;
    return NULL;
}

static void sub__free(struct sub *s)
{
    members_clear(&s->told);
    members_clear(&s->now);
    free(s->ns);
    free(s);
}

/* Frees unsubscribed ones once no callback runs. */
static void client__sweep(rdv_client *c)
{
    struct sub *s, *tmp;
    if (c->dispatching || !c->swept_dirty)
        return;
    c->swept_dirty = false;
    LL_FOREACH_SAFE(c->subs, s, tmp)
        if (s->dead) {
            LL_DELETE(c->subs, s);
            sub__free(s);
        }
    c->nraw = c->nplain = 0;
    for (s = c->subs; s; s = s->next)
        s->raw ? c->nraw++ : c->nplain++;
}

/* Ends s (over its member bound): its callback's last call. */
static void sub__end(struct sub *s, rdv_client *c, int error)
{
    rdv_event ev = {.kind = RDV_ENDED, .ns = s->ns, .error = error};
    if (s->dead || s->raw)
        return;
    LOGW(c->logp, "subscription to %s ended: %s", s->ns, rdv_client_strerror(error));
    s->dead = true;
    c->swept_dirty = true;
    if (s->cb)
        s->cb(c, &ev, s->arg);
}

static void sub__emit(struct sub *s, rdv_client *c, rdv_event_kind kind, const struct wire_reg *r)
{
    rdv_event ev = {
        .kind = kind, .ns = s->ns, .peer_id = r->peer_id,
        .addrs = kind == RDV_JOIN ? (const char *const *)r->addrs : NULL,
        .naddrs = kind == RDV_JOIN ? r->naddrs : 0,
        .metadata = kind == RDV_JOIN && r->meta_len ? r->meta : NULL,
        .metadata_len = kind == RDV_JOIN ? r->meta_len : 0,
    };
    if (!s->dead && s->cb)
        s->cb(c, &ev, s->arg);
}

struct sub_emit { struct sub *s; rdv_client *c; };

static void sub__on_leave(void *arg, const struct member *m)
{
    struct sub_emit *e = arg;
    sub__emit(e->s, e->c, RDV_LEAVE, &m->reg);
}

static void sub__on_join(void *arg, const struct member *m)
{
    struct sub_emit *e = arg;
    sub__emit(e->s, e->c, RDV_JOIN, &m->reg);
}

/* A sync answer arrived: subscriptions waiting for it report the
 * difference; sync ops waiting for it complete. */
static void client__synced(rdv_client *c)
{
    c->syncs_done++;
    c->dispatching++;
    for (struct sub *s = c->subs; s; s = s->next) {
        if (s->dead || !s->syncing || s->until > c->syncs_done)
            continue;
        s->syncing = false;
        if (s->raw)
            continue;
        struct sub_emit e = {s, c};
        members_adopt(&s->told, &s->now, sub__on_leave, sub__on_join, &e);
    }
    c->dispatching--;
    while (c->syncs && c->syncs->sync_no <= c->syncs_done) {
        struct op *op = c->syncs;
        DL_DELETE(c->syncs, op);
        rdv_result r = {.error = RDV_CLIENT_OK, .status_text = rdv_client_strerror(RDV_CLIENT_OK)};
        op__finish(op, &r);
        op__free(op);
    }
    client__sweep(c);
}

static uint64_t client__send_sync(rdv_client *c)
{
    push_client_discover(&c->ps, CLIENT_SYNC_NS, 1);
    return ++c->syncs_sent;
}

static void client__send_register(rdv_client *c, const struct preg *g)
{
    /* Presence metadata travels in Peer field 3 (servers that predate it
     * skip it). */
    push_client_register_meta(&c->ps, g->ns, NULL, g->addrs, g->naddrs, g->meta, g->meta_len);
}

static void client__send_subscribe(rdv_client *c, struct sub *s)
{
    members_clear(&s->now);
    push_client_rendezvous(&c->ps, s->ns);
    s->syncing = true;
    s->until = client__send_sync(c);
}

/* The answer to a sync DISCOVER: a REGISTER Message with no entry or only
 * entries of CLIENT_SYNC_NS, or a DISCOVER refusal. */
static bool client__is_sync_answer(const Push__Message *m)
{
    int type = m->has_type ? (int)m->type : 0;
    if (m->has_status && m->status != 0)
        return type == PUSH__MESSAGE__MESSAGE_TYPE__DISCOVER;
    if (type != PUSH__MESSAGE__MESSAGE_TYPE__REGISTER)
        return false;
    if (m->n_register_ == 0)
        return true;
    const ProtobufCBinaryData *ns = &m->register_[0]->ns;
    return m->register_[0]->has_ns && ns->len == strlen(CLIENT_SYNC_NS) &&
           memcmp(ns->data, CLIENT_SYNC_NS, ns->len) == 0;
}

static void client__refused(rdv_client *c, const struct wire_push *w)
{
    const char *what = w->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER     ? "register"
                       : w->type == PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER ? "unregister"
                       : w->type == PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS ? "subscribe"
                                                                            : "request";
    if (w->type == PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS) {
        /* Each RENDEZVOUS is followed by its sync DISCOVER: the refused one
         * is the subscription whose sync is the next to come. */
        for (struct sub *s = c->subs; s; s = s->next)
            if (!s->dead && s->syncing && s->until == c->syncs_done + 1)
                s->dead = true;
        c->swept_dirty = true;
    }
    if (c->o.on_refused)
        c->o.on_refused(c, what, w->status, w->status_text ? w->status_text : "refused", c->o.arg);
}

/* Raw subscribers get the entries of their namespaces as the server sent
 * them: no text conversion, no member set. */
static void client__raw_entries(rdv_client *c, const Push__Message *m)
{
    bool join = m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    size_t n = join ? m->n_register_ : m->n_unregister;
    rdv_bytes addrs[RDV_CLIENT_RAW_MAX_ADDRS];

    for (size_t i = 0; i < n; i++) {
        const ProtobufCBinaryData *ns = join ? &m->register_[i]->ns : &m->unregister[i]->ns;
        const Push__Message__Peer *p = join ? m->register_[i]->peer : m->unregister[i]->peer;
        struct sub *s = client__raw_sub(c, ns);
        if (s == NULL)
            continue;
        rdv_raw_event ev = {.kind = join ? RDV_JOIN : RDV_LEAVE, .ns = s->ns};
        if (p) {
            if (p->has_id)
                ev.peer_id = (rdv_bytes){p->id.data, p->id.len};
            ev.naddrs = p->n_addrs < RDV_CLIENT_RAW_MAX_ADDRS ? p->n_addrs : RDV_CLIENT_RAW_MAX_ADDRS;
            for (size_t k = 0; k < ev.naddrs; k++)
                addrs[k] = (rdv_bytes){p->addrs[k].data, p->addrs[k].len};
            ev.addrs = addrs;
            if (p->has_metadata)
                ev.metadata = (rdv_bytes){p->metadata.data, p->metadata.len};
        }
        s->raw(c, &ev, s->arg);
    }
}

static void client__on_push(struct push_client *pc, const Push__Message *m)
{
    rdv_client *c = pc->user;
    struct wire_push w;

    if (client__is_sync_answer(m)) {
        client__synced(c);
        return;
    }
    c->dispatching++;
    if (m->has_status && m->status != 0) {
        wire_push_decode(m, &w);
        client__refused(c, &w);
        wire_push_free(&w);
        c->dispatching--;
        client__sweep(c);
        return;
    }
    if (c->nraw)
        client__raw_entries(c, m);
    if (c->nplain == 0) { /* nothing to convert for */
        c->dispatching--;
        client__sweep(c);
        return;
    }
    wire_push_decode(m, &w);
    bool join = w.type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    for (size_t i = 0; i < w.nregs; i++) {
        struct wire_reg *r = &w.regs[i];
        struct sub *s = r->peer_id[0] ? client__sub(c, r->ns) : NULL;
        if (s == NULL || s->raw)
            continue;
        if (s->syncing) {
            if (join && members_put(&s->now, r) == MEMBER_FULL)
                sub__end(s, c, RDV_CLIENT_ERR_LIMIT);
            else if (!join)
                members_remove(&s->now, r->peer_id);
        } else if (join) {
            struct wire_reg keep = *r; /* members_put takes the contents */
            enum member_change ch = members_put(&s->told, r);
            if (ch == MEMBER_FULL) {
                sub__end(s, c, RDV_CLIENT_ERR_LIMIT);
            } else if (ch != MEMBER_SAME) {
                struct member *mm;
                HASH_FIND_STR(s->told.by_id, keep.peer_id, mm);
                sub__emit(s, c, RDV_JOIN, &mm->reg);
            }
        } else {
            if (members_remove(&s->told, r->peer_id))
                sub__emit(s, c, RDV_LEAVE, r);
        }
    }
    c->dispatching--;
    wire_push_free(&w);
    client__sweep(c);
}

static void client__on_push_end(struct push_client *pc, const char *why)
{
    rdv_client *c = pc->user;
    c->ps_live = false;
    /* Without its session the client holds nothing on the server: start
     * over on a new connection. */
    if (c->freeing || c->conn == NULL || c->conn->closing)
        return;
    if (!pc->opened) {
        /* It will not learn the protocol by being asked again. */
        snprintf(c->why, sizeof c->why, "the server does not support %s", pc->proto.id);
        c->o.reconnect_max_s = 0;
    } else
        snprintf(c->why, sizeof c->why, "the server ended the push session: %s", why);
    conn_close(c->conn, c->why);
}

static const struct push_client_handler client_push_handler = {
    .on_message = client__on_push,
    .on_end = client__on_push_end,
};

/* ---- push discover on its own session ------------------------------------------ */

static void client__on_query(struct push_client *pc, const Push__Message *m)
{
    rdv_client *c = pc->user;
    struct op *op = c->pdisc;
    struct wire_push w;

    if (op == NULL)
        return; /* nothing asked: not an answer */
    DL_DELETE(c->pdisc, op);
    wire_push_decode(m, &w);
    if (w.status != 0) {
        rdv_result r = {.error = RDV_CLIENT_ERR_REFUSED, .status = w.status,
                        .status_text = w.status_text ? w.status_text : "refused"};
        op__finish(op, &r);
    } else {
        rdv_result r = {.error = RDV_CLIENT_OK, .status_text = rdv_client_strerror(RDV_CLIENT_OK)};
        op__finish_regs(op, w.regs, w.nregs, &r, NULL);
    }
    wire_push_free(&w);
    op__free(op);
}

static void client__on_query_end(struct push_client *pc, const char *why)
{
    rdv_client *c = pc->user;
    struct op *op, *tmp;
    int code = !pc->opened ? RDV_CLIENT_ERR_PROTOCOL : client__lost_code(c);
    c->qs_live = false;
    char text[192];
    if (!pc->opened)
        snprintf(text, sizeof text, "the server does not support %s", pc->proto.id);
    DL_FOREACH_SAFE(c->pdisc, op, tmp) {
        DL_DELETE(c->pdisc, op);
        op__fail(op, code, !pc->opened ? text : why);
        op__free(op);
    }
}

static const struct push_client_handler client_query_handler = {
    .on_message = client__on_query,
    .on_end = client__on_query_end,
};

/* ---- standard and Waku requests --------------------------------------------------- */

/* The signed peer record over op's addresses: the last one again if they
 * are the same (servers and their caches see the record they know). */
static void op__record(struct op *op)
{
    rdv_client *c = op->c;
    struct buf joined = BUF_INIT;
    struct record_addr addrs[RDV_CLIENT_MAX_ADDRS];

    for (size_t i = 0; i < op->naddrs; i++) {
        buf_append(&joined, (const uint8_t *)op->addrs[i], strlen(op->addrs[i]));
        buf_append(&joined, (const uint8_t *)" ", 1);
    }
    buf_append(&joined, (const uint8_t *)"", 1);
    bool same = c->rec_addrs && strcmp(c->rec_addrs, (const char *)buf_head(&joined)) == 0;
    if (!same) {
        free(c->rec_addrs);
        c->rec_addrs = xstrdup((const char *)buf_head(&joined));
    }
    buf_free(&joined);
    if (same)
        return;
    uint8_t *bin = xmalloc((size_t)RDV_CLIENT_MAX_ADDRS * MULTIADDR_MAX);
    size_t n = 0;
    for (size_t i = 0; i < op->naddrs && n < RDV_CLIENT_MAX_ADDRS; i++) {
        int len = multiaddr_from_text(op->addrs[i], bin + n * MULTIADDR_MAX, MULTIADDR_MAX, NULL, 0);
        if (len < 0)
            continue; /* checked when asked */
        addrs[n].bytes = bin + n * MULTIADDR_MAX;
        addrs[n++].len = (size_t)len;
    }
    /* seq must grow with every record: the clock in µs does. */
    struct timeval tv;
    gettimeofday(&tv, NULL);
    buf_reset(&c->rec);
    record_seal(&c->host.key, RECORD_STANDARD, (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec,
                addrs, n, &c->rec);
    free(bin);
}

/* op's request, length-prefixed, appended to out. */
static void op__std_encode(struct op *op, struct buf *out)
{
    if (op->rq.op == WIRE_REGISTER) {
        op__record(op);
        op->rq.record = buf_head(&op->c->rec);
        op->rq.record_len = buf_size(&op->c->rec);
    }
    wire_request_encode(&op->rq, out);
    op->rq.record = NULL;
}

static int op__std_open(struct stream *s)
{
    struct op *op = s->state;
    struct buf out = BUF_INIT;

    op__std_encode(op, &out);
    stream_write(s, buf_head(&out), buf_size(&out));
    stream_close(s); /* one request per stream */
    buf_free(&out);
    return 0;
}

/* op's answer (msg, len bytes): its callback runs. -1 if it is not one. */
static int op__std_answer(struct op *op, const uint8_t *msg, size_t len)
{
    struct wire_answer a;
    if (wire_answer_decode_cached(&op->c->records, op->rq.waku, op->rq.op, msg, len, &a) < 0) {
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "the server sent an invalid answer");
        return -1;
    }
    rdv_result res = {.error = a.status ? RDV_CLIENT_ERR_REFUSED : RDV_CLIENT_OK, .status = a.status,
                      .ttl = a.ttl, .cookie = a.cookie, .cookie_len = a.cookie_len,
                      .addrs = (const char *const *)op->addrs, .naddrs = op->naddrs};
    res.status_text = a.status_text ? a.status_text : rdv_client_strerror(res.error);
    op__finish_regs(op, a.regs, a.nregs, &res, &a.mem);
    wire_answer_free(&a);
    return 0;
}

static void op__std_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct op *op = s->state;
    const uint8_t *msg;
    size_t len;
    int r;

    if (op->done)
        return;
    lpm_push(&op->in, d, n);
    if ((r = lpm_next(&op->in, &msg, &len)) == 0)
        return;
    if (r < 0) {
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "the server sent an invalid answer");
        stream_reset(s);
        return;
    }
    if (op__std_answer(op, msg, len) < 0)
        stream_reset(s);
}

/* ---- standard and Waku requests on one stream (reuse_streams) ------------------------ */

static void stdsess__data(struct stream *s, const uint8_t *d, size_t n)
{
    struct stdsess *ss = s->state;
    const uint8_t *msg;
    size_t len;
    int r = 0;

    while (ss->s && (r = lpm_take(&ss->in, &d, &n, &msg, &len)) == 1) {
        struct op *op = ss->head;
        if (op == NULL || op__std_answer(op, msg, len) < 0) {
            stream_reset(s); /* an answer to nothing asked, or garbage */
            return;
        }
        DL_DELETE(ss->head, op);
        if (--op->streams == 0) /* an identify stream may still hold it */
            op__free(op);
    }
    if (ss->s && r < 0) {
        stream_reset(s);
        return;
    }
    buf_shrink(&ss->in.in, PUSH_CLIENT_KEEP);
}

static void stdsess__eof(struct stream *s)
{
    stream_close(s); /* what is still asked fails at the close */
}

static void stdsess__close(struct stream *s)
{
    struct stdsess *ss = s->state;
    rdv_client *c = ss->c;
    char text[192];
    const char *why = client__lost(c);
    int code = client__lost_code(c);

    if (!s->opened) {
        snprintf(text, sizeof text, "the server does not support %s", ss->proto.id);
        why = text;
        code = RDV_CLIENT_ERR_PROTOCOL;
    } else if (c->conn && !c->conn->closing && !c->freeing) {
        why = "the server ended the request stream before answering";
        code = RDV_CLIENT_ERR_PROTOCOL;
    }
    ss->s = NULL;
    lpm_free(&ss->in);
    while (ss->head) {
        struct op *op = ss->head;
        DL_DELETE(ss->head, op);
        op__fail(op, code, why);
        if (--op->streams == 0)
            op__free(op);
    }
}

static int stdsess__open(struct stream *s)
{
    (void)s; /* requests were written as they came */
    return 0;
}

/* Sends op on its dialect's shared stream, opening it if needed. */
static void stdsess__send(struct op *op)
{
    rdv_client *c = op->c;
    struct stdsess *ss = &c->std[op->rq.waku ? 1 : 0];
    struct buf out = BUF_INIT;

    if (ss->s == NULL) {
        ss->c = c;
        ss->proto = (struct protocol){
            .id = op->proto.id, .on_open = stdsess__open, .on_data = stdsess__data,
            .on_eof = stdsess__eof, .on_close = stdsess__close,
        };
        lpm_init(&ss->in, WIRE_RDV1_MAX_MESSAGE);
        ss->s = conn_open_stream(c->conn, &ss->proto, ss);
        if (ss->s == NULL) {
            lpm_free(&ss->in);
            op__fail(op, RDV_CLIENT_ERR_NOT_CONNECTED, "the connection takes no new stream");
            if (op->streams == 0)
                op__free(op);
            return;
        }
    }
    op__std_encode(op, &out);
    stream_write(ss->s, buf_head(&out), buf_size(&out));
    buf_free(&out);
    op->streams++; /* the shared stream holds it until its answer */
    DL_APPEND(ss->head, op);
}

/* A standard or Waku op whose request can go now: on the shared stream if
 * asked for (UNREGISTER has no answer to tell its end by: a stream of its
 * own), else on a stream of its own. */
static void op__start_stream(struct op *op);

static void op__std_go(struct op *op)
{
    if (op->c->o.reuse_streams && op->rq.op != WIRE_UNREGISTER)
        stdsess__send(op);
    else
        op__start_stream(op);
}

/* UNREGISTER has no answer: the server's FIN after reading it is the
 * acknowledgement. */
static void op__std_eof(struct stream *s)
{
    struct op *op = s->state;
    if (op->rq.op == WIRE_UNREGISTER) {
        rdv_result r = {.error = RDV_CLIENT_OK, .status_text = rdv_client_strerror(RDV_CLIENT_OK)};
        op__finish(op, &r);
    } else {
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "the server closed the stream without answering");
    }
}

static void op__stream_close(struct stream *s)
{
    struct op *op = s->state;
    rdv_client *c = op->c;
    char text[192];
    snprintf(text, sizeof text, "the server does not support %s", op->proto.id);
    if (!s->opened)
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, text);
    else if (c->conn == NULL || c->conn->closing || c->freeing)
        op__fail(op, client__lost_code(c), client__lost(c));
    else
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "the server reset the stream");
    if (--op->streams == 0)
        op__free(op);
}

/* ---- identify: the address the server sees us at ------------------------------------ */

static int op__id_open(struct stream *s)
{
    (void)s; /* the server speaks first and alone */
    return 0;
}

static void op__id_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct op *op = s->state;
    lpm_push(&op->id_in, d, n);
}

static void op__start_stream(struct op *op);
static bool client__push_session(rdv_client *c);

static void op__id_eof(struct stream *s)
{
    struct op *op = s->state;
    const uint8_t *msg;
    size_t len;
    char text[MULTIADDR_TEXT_MAX];

    if (op->id_done)
        return;
    op->id_done = true;
    if (lpm_next(&op->id_in, &msg, &len) == 1) {
        Identify__Identify *m = identify__identify__unpack(NULL, len, msg);
        if (m && m->has_observedaddr &&
            multiaddr_to_text(m->observedaddr.data, m->observedaddr.len, text, sizeof text) >= 0) {
            op->addrs = xcalloc(1, sizeof(*op->addrs));
            op->addrs[0] = xstrdup(text);
            op->naddrs = 1;
        }
        if (m)
            identify__identify__free_unpacked(m, NULL);
    }
    stream_close(s);
    if (op->naddrs == 0) {
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "no address given, and the server did not say which "
                                       "address it sees us at");
        return;
    }
    op__std_go(op);
}

/* The identify stream ends: the op goes on (on its request stream) or is
 * over. */
static void op__id_close(struct stream *s)
{
    struct op *op = s->state;
    if (!op->id_done) {
        op->id_done = true;
        op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "no address given, and the server did not answer identify");
    }
    if (--op->streams == 0)
        op__free(op);
}

/* ---- ping -------------------------------------------------------------------------- */

static int op__ping_open(struct stream *s)
{
    struct op *op = s->state;
    randombytes_buf(op->payload, sizeof(op->payload));
    op->t0 = ev_time();
    stream_write(s, op->payload, sizeof(op->payload));
    return 0;
}

static void op__ping_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct op *op = s->state;
    if (op->done)
        return;
    for (size_t i = 0; i < n; i++, op->got++) {
        if (op->got >= PING_SIZE || d[i] != op->payload[op->got]) {
            op__fail(op, RDV_CLIENT_ERR_PROTOCOL, "the server answered ping with different bytes");
            stream_reset(s);
            return;
        }
    }
    if (op->got < PING_SIZE)
        return;
    rdv_result r = {.error = RDV_CLIENT_OK, .status_text = rdv_client_strerror(RDV_CLIENT_OK),
                    .rtt_ms = (ev_time() - op->t0) * 1e3};
    op__finish(op, &r);
    stream_close(s);
}

/* ---- starting ops once connected ----------------------------------------------------- */

static void op__start_stream(struct op *op)
{
    rdv_client *c = op->c;
    op->s = conn_open_stream(c->conn, &op->proto, op);
    if (op->s) {
        op->streams++;
        return;
    }
    op__fail(op, RDV_CLIENT_ERR_NOT_CONNECTED, "the connection takes no new stream");
    if (op->streams == 0)
        op__free(op);
}

static void op__start(struct op *op)
{
    rdv_client *c = op->c;
    op->started = true;
    switch (op->kind) {
    case OP_SYNC:
        if (!client__push_session(c)) {
            op__fail(op, RDV_CLIENT_ERR_NOT_CONNECTED, "no push session");
            op__free(op);
            return;
        }
        op->sync_no = client__send_sync(c);
        DL_APPEND(c->syncs, op);
        break;
    case OP_PUSH_DISCOVER:
        if (!c->qs_live) {
            if (push_client_open(&c->qs, c->conn, c->push_protocol, &client_query_handler, c) < 0) {
                op__fail(op, RDV_CLIENT_ERR_NOT_CONNECTED, "the connection takes no new stream");
                op__free(op);
                return;
            }
            c->qs_live = true;
        }
        DL_APPEND(c->pdisc, op);
        push_client_discover(&c->qs, op->ns, op->rq.limit > INT64_MAX ? INT64_MAX : (int64_t)op->rq.limit);
        break;
    case OP_STD:
        if (op->rq.op == WIRE_REGISTER && op->naddrs == 0) {
            op->idp = (struct protocol){
                .id = IDENTIFY_PROTOCOL_ID, .on_open = op__id_open, .on_data = op__id_data,
                .on_eof = op__id_eof, .on_close = op__id_close,
            };
            lpm_init(&op->id_in, 64u << 10);
            if (conn_open_stream(c->conn, &op->idp, op) == NULL) {
                op__fail(op, RDV_CLIENT_ERR_NOT_CONNECTED, "the connection takes no new stream");
                op__free(op);
                return;
            }
            op->streams++;
            return;
        }
        op__std_go(op);
        break;
    case OP_PING:
        op__start_stream(op);
        break;
    }
}

/* Queues op until connected, or starts it now. */
static int client__submit(rdv_client *c, struct op *op)
{
    if (c->ready) {
        op__start(op);
    } else if (c->conn == NULL && c->o.reconnect_max_s <= 0) {
        op__free(op);
        return RDV_CLIENT_ERR_NOT_CONNECTED;
    } else {
        DL_APPEND(c->waiting, op);
    }
    return RDV_CLIENT_OK;
}

/* A standard or Waku request's stream: one request, one answer. */
static void op__std_proto(struct op *op, const char *id)
{
    op->proto = (struct protocol){
        .id = id, .on_open = op__std_open, .on_data = op__std_data, .on_eof = op__std_eof,
        .on_close = op__stream_close,
    };
    lpm_init(&op->in, WIRE_RDV1_MAX_MESSAGE);
}

static struct op *op__new(rdv_client *c, enum op_kind kind, rdv_result_cb cb, void *arg)
{
    struct op *op = xcalloc(1, sizeof(*op));
    op->c = c;
    op->kind = kind;
    op->cb = cb;
    op->arg = arg;
    return op;
}

/* ---- keepalive ------------------------------------------------------------------------ */

static int client__ka_open(struct stream *s)
{
    (void)s;
    return 0;
}

/* The echo of our ping; only its arrival matters (it is input). */
static void client__ka_data(struct stream *s, const uint8_t *d, size_t n)
{
    (void)s;
    (void)d;
    (void)n;
}

static void client__ka_close(struct stream *s)
{
    rdv_client *c = s->state;
    c->ka = NULL;
}

static const struct protocol client_keepalive = {
    .id = PING_PROTOCOL_ID,
    .on_open = client__ka_open,
    .on_data = client__ka_data,
    .on_close = client__ka_close,
};

static void client__on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
    rdv_client *c = w->data;
    uint8_t ping[PING_SIZE];
    (void)loop;
    (void)revents;

    if (!c->ready)
        return;
    if (c->ka == NULL)
        c->ka = conn_open_stream(c->conn, &client_keepalive, c);
    if (c->ka) {
        randombytes_buf(ping, sizeof(ping));
        stream_write(c->ka, ping, sizeof(ping));
    }
}

/* ---- the connection ------------------------------------------------------------------ */

static void client__dial(rdv_client *c);

/* The push session: opened on first need on a connection (a server used
 * for one-shot requests only need not speak push mode), with every
 * registration and subscription sent as it opens. False if there is none. */
static bool client__push_session(rdv_client *c)
{
    if (c->ps_live)
        return true;
    if (!c->ready || c->ps_tried)
        return false;
    c->ps_tried = true;
    if (push_client_open(&c->ps, c->conn, c->push_protocol, &client_push_handler, c) < 0)
        return false;
    c->ps_live = true;
    for (struct preg *g = c->regs; g; g = g->next)
        client__send_register(c, g);
    for (struct sub *s = c->subs; s; s = s->next)
        if (!s->dead)
            client__send_subscribe(c, s);
    return true;
}

static void client__on_ready(struct conn *conn, void *user)
{
    rdv_client *c = user;
    ev_timer_stop(c->loop, &c->connect_timer);
    conn_peer_text(conn, c->server_text, sizeof c->server_text);
    c->ready = true;
    c->backoff = c->o.reconnect_min_s;
    c->syncs_sent = c->syncs_done = 0;
    c->ps_tried = false;
    if ((c->regs || c->subs) && !client__push_session(c)) {
        conn_close(c->conn, "cannot open a stream");
        return;
    }
    if (c->o.keepalive_s > 0) {
        ev_timer_set(&c->ka_timer, c->o.keepalive_s, c->o.keepalive_s);
        ev_timer_start(c->loop, &c->ka_timer);
    }
    if (c->o.on_state)
        c->o.on_state(c, 1, NULL, c->o.arg);
    /* Requests made meanwhile, in order (a callback may add more). */
    while (c->waiting && c->ready) {
        struct op *op = c->waiting;
        DL_DELETE(c->waiting, op);
        op__start(op);
    }
}

static void client__fail_waiting(rdv_client *c, int code, const char *why)
{
    while (c->waiting) {
        struct op *op = c->waiting;
        DL_DELETE(c->waiting, op);
        op__fail(op, code, why);
        op__free(op);
    }
}

static void client__on_closed(struct conn *conn, void *user, const char *reason)
{
    rdv_client *c = user;
    bool was_ready = c->ready;
    if (strcmp(reason, "peer id mismatch") == 0 && conn->peer) {
        snprintf(c->why, sizeof c->why, "peer id mismatch: the peer there is %s", CONN_PEER_TEXT(conn));
        reason = c->why;
    }
    c->conn = NULL;
    c->ready = false;
    c->ps_live = c->qs_live = false;
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_timer_stop(c->loop, &c->ka_timer);
    for (struct sub *s = c->subs; s; s = s->next) {
        s->syncing = false;
        members_clear(&s->now);
    }
    while (c->syncs) {
        struct op *op = c->syncs;
        DL_DELETE(c->syncs, op);
        op__fail(op, client__lost_code(c), client__lost(c));
        op__free(op);
    }
    if (c->freeing)
        return;
    if (c->o.on_state)
        c->o.on_state(c, 0, reason, c->o.arg);
    if (c->conn || c->freeing)
        return; /* on_state dialed again (rdv_client_connect) */
    bool again = c->o.reconnect_max_s > 0;
    if (!again) {
        client__fail_waiting(c, RDV_CLIENT_ERR_NOT_CONNECTED, reason);
        return;
    }
    /* Exponential backoff with ±25 % jitter, so that many clients of one
     * restarted server do not all come back in the same instant. */
    double d = c->backoff;
    if (!was_ready) {
        c->backoff *= 2;
        if (c->backoff > c->o.reconnect_max_s)
            c->backoff = c->o.reconnect_max_s;
    }
    d *= 0.75 + 0.5 * (randombytes_uniform(1001) / 1000.0);
    ev_timer_set(&c->retry, d, 0);
    ev_timer_start(c->loop, &c->retry);
}

static const struct conn_events client_events = {
    .on_ready = client__on_ready,
    .on_closed = client__on_closed,
};

static void client__on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    rdv_client *c = w->data;
    (void)loop;
    (void)revents;
    if (c->conn && !c->ready)
        conn_close(c->conn, "timed out connecting");
}

static void client__on_retry(struct ev_loop *loop, ev_timer *w, int revents)
{
    rdv_client *c = w->data;
    (void)loop;
    (void)revents;
    client__dial(c);
}

/* Reasons of a failed dial live as long as the client (on_closed may keep
 * a pointer to them). */
static void client__dial(rdv_client *c)
{
    char err[256];
    c->conn = host_dial(&c->host, c->server, &client_events, c, err, sizeof err);
    if (c->conn == NULL) {
        /* The address resolved before; a failure now is the system's
         * (descriptors, memory): try again later. */
        if (c->o.on_state)
            c->o.on_state(c, 0, err, c->o.arg);
        if (c->conn || c->freeing)
            return; /* on_state dialed again (rdv_client_connect) */
        if (c->o.reconnect_max_s > 0) {
            ev_timer_set(&c->retry, c->backoff > 0 ? c->backoff : CLIENT_DEFAULT_BACKOFF, 0);
            ev_timer_start(c->loop, &c->retry);
        } else {
            client__fail_waiting(c, RDV_CLIENT_ERR_NOT_CONNECTED, err);
        }
        return;
    }
    ev_timer_set(&c->connect_timer, c->o.connect_timeout_s, 0);
    ev_timer_start(c->loop, &c->connect_timer);
}

/* ---- the API ------------------------------------------------------------------------ */

/* Everything but the connection. */
static rdv_client *client__create(struct ev_loop *loop, const rdv_client_options *opt, char *err,
                                  size_t errlen)
{
    struct privkey key;
    char why[256];

    if (loop == NULL || opt == NULL || opt->server == NULL) {
        client__seterr(err, errlen, "a loop and options with a server are needed");
        return NULL;
    }
    if (sodium_init() < 0) {
        client__seterr(err, errlen, "libsodium cannot start");
        return NULL;
    }
    if (opt->key_len) {
        if (opt->key == NULL || privkey_from_proto(&key, opt->key, opt->key_len) < 0) {
            client__seterr(err, errlen, "the key given in memory is not a libp2p private key");
            return NULL;
        }
    } else if (opt->key_file) {
        int created;
        if (keyfile_load_or_create(opt->key_file, &key, &created, why, sizeof why) < 0) {
            client__seterr(err, errlen, why);
            return NULL;
        }
    } else {
        privkey_generate(&key);
    }
    rdv_client *c = xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->o = *opt;
    c->server = xstrdup(opt->server);
    c->o.server = c->server;
    c->o.key_file = NULL;
    c->o.key = NULL;
    c->o.key_len = 0;
    c->push_protocol = opt->push_protocol ? xstrdup(opt->push_protocol) : NULL;
    c->o.push_protocol = c->push_protocol;
    c->std_protocol = xstrdup(opt->standard_protocol ? opt->standard_protocol : WIRE_RDV1_PROTOCOL_ID);
    c->o.standard_protocol = c->std_protocol;
    c->waku_protocol = xstrdup(opt->waku_protocol ? opt->waku_protocol : WIRE_WAKU_PROTOCOL_ID);
    c->o.waku_protocol = c->waku_protocol;
    if (c->o.keepalive_s == 0)
        c->o.keepalive_s = CLIENT_DEFAULT_KEEPALIVE;
    if (!(c->o.connect_timeout_s > 0))
        c->o.connect_timeout_s = CLIENT_DEFAULT_CONNECT;
    if (c->o.max_members == 0)
        c->o.max_members = RDV_CLIENT_DEFAULT_MAX_MEMBERS;
    if (!(c->o.reconnect_max_s > 0))
        c->o.reconnect_max_s = 0;
    if (c->o.reconnect_max_s > 0 && !(c->o.reconnect_min_s > 0))
        c->o.reconnect_min_s = CLIENT_DEFAULT_BACKOFF;
    if (c->o.reconnect_min_s > c->o.reconnect_max_s && c->o.reconnect_max_s > 0)
        c->o.reconnect_min_s = c->o.reconnect_max_s;
    c->backoff = c->o.reconnect_min_s;
    c->reconnect_max = c->o.reconnect_max_s;
    if (opt->log_file) {
        log_init(&c->log, opt->verbose ? LOG_DEBUG : LOG_INFO, LOG_TEXT, opt->log_file);
        c->logp = &c->log;
    }
    /* The client keeps its connection however long it is quiet (keepalive
     * is what servers need); its host closes none for idleness. */
    struct host_limits lim;
    host_limits_default(&lim);
    lim.idle_timeout = 1e9;
    host_init(&c->host, loop, c->logp, &key, &lim);
    host_set_lean(&c->host); /* one host per client: thousands may share a loop */
    privkey_wipe(&key);
    host_handle(&c->host, &identify_protocol);
    host_handle(&c->host, &ping_protocol);
    ev_timer_init(&c->retry, client__on_retry, 0, 0);
    ev_timer_init(&c->connect_timer, client__on_connect_timeout, 0, 0);
    ev_timer_init(&c->ka_timer, client__on_keepalive, 0, 0);
    c->retry.data = c->connect_timer.data = c->ka_timer.data = c;
    return c;
}

static void client__destroy(rdv_client *c)
{
    host_free(&c->host);
    free(c->server);
    free(c->push_protocol);
    free(c->std_protocol);
    free(c->waku_protocol);
    free(c);
}

RDV_CLIENT_API rdv_client *rdv_client_new(struct ev_loop *loop, const rdv_client_options *opt,
                                          char *err, size_t errlen)
{
    char why[256];
    rdv_client *c = client__create(loop, opt, err, errlen);
    if (c == NULL)
        return NULL;
    c->conn = host_dial(&c->host, c->server, &client_events, c, why, sizeof why);
    if (c->conn == NULL) {
        client__seterr(err, errlen, why);
        client__destroy(c);
        return NULL;
    }
    ev_timer_set(&c->connect_timer, c->o.connect_timeout_s, 0);
    ev_timer_start(loop, &c->connect_timer);
    return c;
}

rdv_client *client_new_on_socket(struct ev_loop *loop, const rdv_client_options *opt, int fd,
                                 char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    rdv_client *c = client__create(loop, opt, err, errlen);
    if (c == NULL)
        return NULL;
    c->o.reconnect_max_s = 0; /* there is nothing to dial */
    c->conn = conn_new(&c->host, fd, true, false, (struct sockaddr *)&sa, sizeof(sa), false);
    conn_set_events(c->conn, &client_events, c);
    return c;
}

RDV_CLIENT_API void rdv_client_free(rdv_client *c)
{
    if (c == NULL)
        return;
    c->freeing = true;
    ev_timer_stop(c->loop, &c->retry);
    ev_timer_stop(c->loop, &c->connect_timer);
    ev_timer_stop(c->loop, &c->ka_timer);
    client__fail_waiting(c, RDV_CLIENT_ERR_CLOSED, rdv_client_strerror(RDV_CLIENT_ERR_CLOSED));
    host_free(&c->host); /* stream ops complete (RDV_CLIENT_ERR_CLOSED) and free here */
    while (c->syncs) {
        struct op *op = c->syncs;
        DL_DELETE(c->syncs, op);
        op__fail(op, RDV_CLIENT_ERR_CLOSED, rdv_client_strerror(RDV_CLIENT_ERR_CLOSED));
        op__free(op);
    }
    while (c->regs) {
        struct preg *g = c->regs;
        c->regs = g->next;
        free(g->ns);
        free(g->bin);
        free(g->meta);
        free(g);
    }
    c->dispatching = 0;
    for (struct sub *s = c->subs; s; s = s->next)
        s->dead = true;
    c->swept_dirty = true;
    client__sweep(c);
    free(c->server);
    free(c->push_protocol);
    free(c->std_protocol);
    free(c->waku_protocol);
    free(c->rec_addrs);
    buf_free(&c->rec);
    wire_record_cache_free(&c->records);
    free(c); /* the host went first */
}

RDV_CLIENT_API int rdv_client_connect(rdv_client *c)
{
    if (c == NULL || c->freeing)
        return RDV_CLIENT_ERR_INVALID;
    if (c->conn)
        return RDV_CLIENT_ERR_EXISTS;
    ev_timer_stop(c->loop, &c->retry);
    c->o.reconnect_max_s = c->reconnect_max;
    c->backoff = c->o.reconnect_min_s;
    client__dial(c);
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_close(rdv_client *c)
{
    if (c == NULL)
        return RDV_CLIENT_ERR_INVALID;
    c->o.reconnect_max_s = 0; /* for good */
    ev_timer_stop(c->loop, &c->retry);
    if (c->conn == NULL)
        return RDV_CLIENT_ERR_NOT_CONNECTED;
    if (c->ps_live)
        push_client_close(&c->ps);
    if (c->qs_live)
        push_client_close(&c->qs);
    conn_close(c->conn, "closed by the client");
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API const char *rdv_client_peer_id(const rdv_client *c)
{
    return c ? c->host.id_text : NULL;
}

RDV_CLIENT_API int rdv_client_connected(const rdv_client *c) { return c && c->ready; }

RDV_CLIENT_API int rdv_client_reconnects(const rdv_client *c)
{
    return c && !c->freeing && c->o.reconnect_max_s > 0;
}

RDV_CLIENT_API const char *rdv_client_server_id(const rdv_client *c)
{
    return c && c->ready ? c->server_text : NULL;
}

/* addrs as binary multiaddrs into g. */
static int client__parse_addrs(struct preg *g, const char *const *addrs, size_t naddrs)
{
    if (naddrs > RDV_CLIENT_MAX_ADDRS)
        return RDV_CLIENT_ERR_TOO_MANY;
    if (naddrs && addrs == NULL)
        return RDV_CLIENT_ERR_INVALID;
    g->bin = naddrs ? xmalloc(naddrs * MULTIADDR_MAX) : NULL;
    for (size_t i = 0; i < naddrs; i++) {
        uint8_t *b = g->bin + i * MULTIADDR_MAX;
        int n = addrs[i] ? multiaddr_from_text(addrs[i], b, MULTIADDR_MAX, NULL, 0) : -1;
        if (n < 0)
            return RDV_CLIENT_ERR_ADDR;
        g->addrs[i] = (struct rdv_addr){.bytes = b, .len = (size_t)n};
    }
    g->naddrs = naddrs;
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_register_meta(rdv_client *c, const char *ns,
                                            const char *const *addrs, size_t naddrs,
                                            const void *metadata, size_t metadata_len)
{
    if (c == NULL || !client__ns_ok(ns) || (metadata_len && metadata == NULL))
        return RDV_CLIENT_ERR_INVALID;
    if (metadata_len > RDV_CLIENT_MAX_METADATA)
        return RDV_CLIENT_ERR_TOO_MANY;
    struct preg *g = xcalloc(1, sizeof(*g));
    int rc = client__parse_addrs(g, addrs, naddrs);
    if (rc < 0) {
        free(g->bin);
        free(g);
        return rc;
    }
    g->ns = xstrdup(ns);
    if (metadata_len) {
        g->meta = xmemdup(metadata, metadata_len);
        g->meta_len = metadata_len;
    }
    /* Replaces an earlier registration in ns. */
    for (struct preg **pp = &c->regs; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ns, ns) == 0) {
            struct preg *old = *pp;
            g->next = old->next;
            *pp = g;
            free(old->ns);
            free(old->bin);
            free(old->meta);
            free(old);
            goto send;
        }
    }
    g->next = c->regs;
    c->regs = g;
send:
    if (c->ps_live)
        client__send_register(c, g);
    else
        client__push_session(c); /* sends it if it opens */
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_register(rdv_client *c, const char *ns, const char *const *addrs,
                                       size_t naddrs)
{
    return rdv_client_register_meta(c, ns, addrs, naddrs, NULL, 0);
}

RDV_CLIENT_API int rdv_client_unregister(rdv_client *c, const char *ns)
{
    if (c == NULL || ns == NULL)
        return RDV_CLIENT_ERR_INVALID;
    for (struct preg **pp = &c->regs; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->ns, ns) == 0) {
            struct preg *g = *pp;
            *pp = g->next;
            if (c->ps_live)
                push_client_unregister(&c->ps, ns);
            free(g->ns);
            free(g->bin);
            free(g->meta);
            free(g);
            return RDV_CLIENT_OK;
        }
    }
    return RDV_CLIENT_ERR_NOT_FOUND;
}

static int client__subscribe(rdv_client *c, const char *ns, rdv_event_cb cb, rdv_raw_cb raw,
                             void *arg)
{
    if (c == NULL || (cb == NULL && raw == NULL) || !client__ns_ok(ns) ||
        strcmp(ns, CLIENT_SYNC_NS) == 0)
        return RDV_CLIENT_ERR_INVALID;
    if (client__sub(c, ns))
        return RDV_CLIENT_ERR_EXISTS;
    struct sub *s = xcalloc(1, sizeof(*s));
    s->ns = xstrdup(ns);
    s->ns_len = strlen(ns);
    s->cb = cb;
    s->raw = raw;
    s->arg = arg;
    s->told.max = s->now.max = c->o.max_members;
    LL_APPEND(c->subs, s);
    raw ? c->nraw++ : c->nplain++;
    if (c->ps_live)
        client__send_subscribe(c, s);
    else
        client__push_session(c); /* subscribes if it opens */
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_subscribe(rdv_client *c, const char *ns, rdv_event_cb cb, void *arg)
{
    return cb ? client__subscribe(c, ns, cb, NULL, arg) : RDV_CLIENT_ERR_INVALID;
}

RDV_CLIENT_API int rdv_client_subscribe_raw(rdv_client *c, const char *ns, rdv_raw_cb cb, void *arg)
{
    return cb ? client__subscribe(c, ns, NULL, cb, arg) : RDV_CLIENT_ERR_INVALID;
}

RDV_CLIENT_API int rdv_client_unsubscribe(rdv_client *c, const char *ns)
{
    struct sub *s = c && ns ? client__sub(c, ns) : NULL;
    if (s == NULL)
        return RDV_CLIENT_ERR_NOT_FOUND;
    s->dead = true;
    c->swept_dirty = true;
    client__sweep(c);
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_sync(rdv_client *c, rdv_result_cb cb, void *arg)
{
    if (c == NULL)
        return RDV_CLIENT_ERR_INVALID;
    return client__submit(c, op__new(c, OP_SYNC, cb, arg));
}

RDV_CLIENT_API int rdv_client_discover(rdv_client *c, rdv_client_dialect dialect, const char *ns,
                                       uint64_t limit, const uint8_t *cookie, size_t cookie_len,
                                       rdv_result_cb cb, void *arg)
{
    if (c == NULL || (ns && !client__ns_ok(ns)) || (cookie_len && cookie == NULL))
        return RDV_CLIENT_ERR_INVALID;
    if (dialect != RDV_CLIENT_STANDARD && (ns == NULL || cookie_len))
        return RDV_CLIENT_ERR_INVALID; /* only the standard dialect lists all, and has cookies */
    if (dialect != RDV_CLIENT_PUSH && dialect != RDV_CLIENT_STANDARD && dialect != RDV_CLIENT_WAKU)
        return RDV_CLIENT_ERR_INVALID;
    struct op *op = op__new(c, dialect == RDV_CLIENT_PUSH ? OP_PUSH_DISCOVER : OP_STD, cb, arg);
    op->ns = ns ? xstrdup(ns) : NULL;
    op->rq = (struct wire_request){
        .op = WIRE_DISCOVER, .waku = dialect == RDV_CLIENT_WAKU, .ns = op->ns, .limit = limit,
    };
    if (cookie_len) {
        op->cookie = xmemdup(cookie, cookie_len);
        op->rq.cookie = op->cookie;
        op->rq.cookie_len = cookie_len;
    }
    op__std_proto(op, dialect == RDV_CLIENT_WAKU ? c->waku_protocol : c->std_protocol);
    return client__submit(c, op);
}

RDV_CLIENT_API int rdv_client_std_register(rdv_client *c, rdv_client_dialect dialect, const char *ns,
                                           const char *const *addrs, size_t naddrs, uint64_t ttl,
                                           rdv_result_cb cb, void *arg)
{
    if (c == NULL || !client__ns_ok(ns) || (naddrs && addrs == NULL) ||
        (dialect != RDV_CLIENT_STANDARD && dialect != RDV_CLIENT_WAKU))
        return RDV_CLIENT_ERR_INVALID;
    if (naddrs > RDV_CLIENT_MAX_ADDRS)
        return RDV_CLIENT_ERR_TOO_MANY;
    uint8_t bin[MULTIADDR_MAX];
    for (size_t i = 0; i < naddrs; i++)
        if (addrs[i] == NULL || multiaddr_from_text(addrs[i], bin, sizeof bin, NULL, 0) < 0)
            return RDV_CLIENT_ERR_ADDR;
    struct op *op = op__new(c, OP_STD, cb, arg);
    op->ns = xstrdup(ns);
    op->rq = (struct wire_request){
        .op = WIRE_REGISTER, .waku = dialect == RDV_CLIENT_WAKU, .ns = op->ns, .ttl = ttl,
    };
    if (naddrs) {
        op->addrs = xcalloc(naddrs, sizeof(*op->addrs));
        for (size_t i = 0; i < naddrs; i++)
            op->addrs[i] = xstrdup(addrs[i]);
        op->naddrs = naddrs;
    }
    op__std_proto(op, dialect == RDV_CLIENT_WAKU ? c->waku_protocol : c->std_protocol);
    return client__submit(c, op);
}

RDV_CLIENT_API int rdv_client_std_unregister(rdv_client *c, const char *ns, rdv_result_cb cb,
                                             void *arg)
{
    if (c == NULL || !client__ns_ok(ns))
        return RDV_CLIENT_ERR_INVALID;
    struct op *op = op__new(c, OP_STD, cb, arg);
    op->ns = xstrdup(ns);
    op->rq = (struct wire_request){.op = WIRE_UNREGISTER, .ns = op->ns};
    op__std_proto(op, c->std_protocol);
    return client__submit(c, op);
}

RDV_CLIENT_API int rdv_client_ping(rdv_client *c, rdv_result_cb cb, void *arg)
{
    if (c == NULL)
        return RDV_CLIENT_ERR_INVALID;
    struct op *op = op__new(c, OP_PING, cb, arg);
    op->proto = (struct protocol){
        .id = PING_PROTOCOL_ID, .on_open = op__ping_open, .on_data = op__ping_data,
        .on_close = op__stream_close,
    };
    return client__submit(c, op);
}
