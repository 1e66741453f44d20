/* rdv register | discover | unregister for /rendezvous/1.0.0, and register |
 * discover for --dialect waku (/vac/waku/rendezvous/0.0.1).
 *
 * Each command is one request on its own stream, half-closed right after it
 * is written (as rust-libp2p clients do). register signs a peer record for
 * our key over the --addr addresses; without --addr it first asks the server
 * (identify) which address it sees us at, and registers that one. unregister has no answer: the server's
 * FIN after it has read our request is the acknowledgement.
 *
 * Output: "registered <peer-id> in <ns> for <ttl> s"; one line per
 * registration "<peer-id> <ns> <ttl> <addrs...>" then "cookie <hex>"; with
 * --json one object per line. A refusal prints "rdv: <statusText> (status N)"
 * and exits 1. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "codec/multiaddr.h"
#include "codec/multibase.h"
#include "crypto/record.h"
#include "host/identify.h"
#include "identify.pb-c.h"
#include "rdv.h"
#include "rendezvous.pb-c.h"
#include "rendezvous/service.h"
#include "waku.pb-c.h"

#define RDV1_CLIENT_MAX_MESSAGE (4u << 20) /* go servers may send up to 4 MiB */

enum rdv1_op { OP_REGISTER, OP_DISCOVER, OP_UNREGISTER };

struct rdv1_client {
    struct client *cl;
    enum rdv1_op op;
    bool waku;
    struct protocol proto;   /* outlives the stream: the client's state */
    struct lpm in;
    bool answered;
    /* register without --addr: identify first, for the observed address */
    struct protocol identify;
    struct lpm id_in;
    bool asked;              /* the request stream was opened */
    uint8_t observed[MULTIADDR_MAX];
    size_t observed_len;
};

/* ---- output -------------------------------------------------------------- */

/* One registration: the peer and addresses come from its signed record. */
static void rdv1c__print_reg(const struct client *cl, const char *ns, uint64_t ttl,
                             const uint8_t *env, size_t env_len)
{
    struct peer_record rec;
    char err[128], id[PEERID_TEXT_MAX], ma[MULTIADDR_TEXT_MAX];
    const char *nsv = ns ? ns : "";
    bool ok = record_open(&rec, env, env_len, err, sizeof err) == 0;

    if (!ok || peerid_to_text(&rec.id, id, sizeof id) < 0)
        snprintf(id, sizeof id, "invalid-record");
    if (cl->o.json) {
        printf("{\"peer\":\"%s\",\"ns\":", id);
        client_json_string(nsv, strlen(nsv));
        printf(",\"ttl\":%" PRIu64 ",\"addrs\":[", ttl);
    } else {
        printf("%s %s %" PRIu64, id, nsv, ttl);
    }
    for (size_t i = 0; ok && i < rec.naddrs; i++) {
        if (multiaddr_to_text(rec.addrs[i].bytes, rec.addrs[i].len, ma, sizeof ma) < 0)
            snprintf(ma, sizeof ma, "?");
        if (cl->o.json) {
            if (i)
                putchar(',');
            client_json_string(ma, strlen(ma));
        } else {
            printf(" %s", ma);
        }
    }
    puts(cl->o.json ? "]}" : "");
    if (ok)
        peer_record_free(&rec);
}

static void rdv1c__print_cookie(const struct client *cl, const uint8_t *c, size_t n)
{
    char hex[2 * 1024 + 2];
    if (multibase_encode('f', c, n, hex, sizeof(hex)) < 0)
        hex[1] = '\0'; /* longer than any cookie we accept */
    printf(cl->o.json ? "{\"cookie\":\"%s\"}\n" : "cookie %s\n", hex + 1);
}

static void rdv1c__refused(struct client *cl, const ProtobufCEnumDescriptor *d, int status,
                           const char *text)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(d, status);
    if (text == NULL || text[0] == '\0')
        text = v ? v->name : "refused";
    client_fail(cl, "%s (status %d)", text, status);
}

/* ---- answers ------------------------------------------------------------- */

static void rdv1c__std_answer(struct rdv1_client *rc, const Rendezvous__Message *m)
{
    struct client *cl = rc->cl;
    const ProtobufCEnumDescriptor *sd = &rendezvous__message__response_status__descriptor;

    if (rc->op == OP_REGISTER && m->registerresponse) {
        const Rendezvous__Message__RegisterResponse *r = m->registerresponse;
        int status = r->has_status ? (int)r->status : 0;
        if (status != 0) {
            rdv1c__refused(cl, sd, status, r->statustext);
            return;
        }
        if (cl->o.json) {
            printf("{\"registered\":\"%s\",\"ns\":", cl->host.id_text);
            client_json_string(cl->o.ns, strlen(cl->o.ns));
            printf(",\"ttl\":%" PRIu64 "}\n", r->has_ttl ? r->ttl : 0);
        } else {
            printf("registered %s in %s for %" PRIu64 " s\n", cl->host.id_text, cl->o.ns,
                   r->has_ttl ? r->ttl : 0);
        }
        client_finish(cl, 0);
    } else if (rc->op == OP_DISCOVER && m->discoverresponse) {
        const Rendezvous__Message__DiscoverResponse *r = m->discoverresponse;
        int status = r->has_status ? (int)r->status : 0;
        if (status != 0) {
            rdv1c__refused(cl, sd, status, r->statustext);
            return;
        }
        for (size_t i = 0; i < r->n_registrations; i++) {
            const Rendezvous__Message__Register *g = r->registrations[i];
            rdv1c__print_reg(cl, g->ns, g->has_ttl ? g->ttl : 0,
                             g->has_signedpeerrecord ? g->signedpeerrecord.data : NULL,
                             g->has_signedpeerrecord ? g->signedpeerrecord.len : 0);
        }
        rdv1c__print_cookie(cl, r->has_cookie ? r->cookie.data : NULL,
                            r->has_cookie ? r->cookie.len : 0);
        client_finish(cl, 0);
    } else {
        client_fail(cl, "%s answered with an unexpected message", cl->conn->remote_text);
    }
}

static void rdv1c__waku_answer(struct rdv1_client *rc, const Waku__Message *m)
{
    struct client *cl = rc->cl;
    const ProtobufCEnumDescriptor *sd = &waku__message__response_status__descriptor;

    if (rc->op == OP_REGISTER && m->registerresponse) {
        const Waku__Message__RegisterResponse *r = m->registerresponse;
        int status = r->has_status ? (int)r->status : 0; /* proto3: absent = OK */
        if (status != 0) {
            rdv1c__refused(cl, sd, status, r->statustext);
            return;
        }
        int64_t ttl = r->has_ttl ? r->ttl : 0;
        if (cl->o.json) {
            printf("{\"registered\":\"%s\",\"ns\":", cl->host.id_text);
            client_json_string(cl->o.ns, strlen(cl->o.ns));
            printf(",\"ttl\":%" PRId64 "}\n", ttl);
        } else {
            printf("registered %s in %s for %" PRId64 " s\n", cl->host.id_text, cl->o.ns, ttl);
        }
        client_finish(cl, 0);
    } else if (rc->op == OP_DISCOVER && m->discoverresponse) {
        const Waku__Message__DiscoverResponse *r = m->discoverresponse;
        int status = r->has_status ? (int)r->status : 0;
        if (status != 0) {
            rdv1c__refused(cl, sd, status, r->statustext);
            return;
        }
        for (size_t i = 0; i < r->n_registrations; i++) {
            const Waku__Message__Register *g = r->registrations[i];
            int64_t ttl = g->has_ttl && g->ttl > 0 ? g->ttl : 0;
            rdv1c__print_reg(cl, g->ns, (uint64_t)ttl,
                             g->has_signedpeerrecord ? g->signedpeerrecord.data : NULL,
                             g->has_signedpeerrecord ? g->signedpeerrecord.len : 0);
        }
        client_finish(cl, 0);
    } else {
        client_fail(cl, "%s answered with an unexpected message", cl->conn->remote_text);
    }
}

/* ---- requests ------------------------------------------------------------ */

/* Our signed peer record over the --addr addresses; -1 (reported) if one
 * is not a multiaddr. */
static int rdv1c__seal(struct client *cl, struct buf *env)
{
    struct rdv1_client *rc = cl->state;
    struct record_addr addrs[RDV_OPT_MAX_ADDRS];
    uint8_t *bytes = xmalloc((size_t)RDV_OPT_MAX_ADDRS * MULTIADDR_MAX);
    char err[128];
    struct timeval tv;
    size_t naddrs = cl->o.naddrs;

    for (size_t i = 0; i < cl->o.naddrs; i++) {
        uint8_t *b = bytes + i * MULTIADDR_MAX;
        int n = multiaddr_from_text(cl->o.addrs[i], b, MULTIADDR_MAX, err, sizeof err);
        if (n < 0) {
            client_fail(cl, "--addr %s: %s", cl->o.addrs[i], err);
            free(bytes);
            return -1;
        }
        addrs[i].bytes = b;
        addrs[i].len = (size_t)n;
    }
    if (naddrs == 0 && rc->observed_len > 0) {
        addrs[0].bytes = rc->observed;
        addrs[0].len = rc->observed_len;
        naddrs = 1;
    }
    /* seq must grow with every record: the clock in µs does. */
    gettimeofday(&tv, NULL);
    uint64_t seq = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
    record_seal(&cl->host.key, RECORD_STANDARD, seq, addrs, naddrs, env);
    free(bytes);
    return 0;
}

/* The cookie as discover printed it: hex, which is multibase base16 less
 * its 'f' prefix. */
static int rdv1c__hex_decode(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    char text[2 * 1024 + 2];
    size_t len = strlen(s);
    if (len + 2 > sizeof(text))
        return -1;
    text[0] = 'f';
    memcpy(text + 1, s, len + 1);
    int r = multibase_decode(text, len + 1, out, cap);
    if (r < 0)
        return -1;
    *n = (size_t)r;
    return 0;
}

static int rdv1c__std_request(struct rdv1_client *rc, struct buf *out)
{
    struct client *cl = rc->cl;
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Register reg = RENDEZVOUS__MESSAGE__REGISTER__INIT;
    Rendezvous__Message__Unregister unreg = RENDEZVOUS__MESSAGE__UNREGISTER__INIT;
    Rendezvous__Message__Discover disc = RENDEZVOUS__MESSAGE__DISCOVER__INIT;
    struct buf env = BUF_INIT;
    uint8_t cookie[1024];
    size_t clen = 0;

    m.has_type = 1;
    switch (rc->op) {
    case OP_REGISTER:
        if (rdv1c__seal(cl, &env) < 0)
            return -1;
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER;
        m.register_ = &reg;
        reg.ns = (char *)cl->o.ns;
        reg.has_signedpeerrecord = 1;
        reg.signedpeerrecord.data = buf_head(&env);
        reg.signedpeerrecord.len = buf_size(&env);
        reg.has_ttl = cl->o.has_ttl;
        reg.ttl = cl->o.ttl;
        break;
    case OP_UNREGISTER:
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__UNREGISTER;
        m.unregister = &unreg;
        unreg.ns = (char *)cl->o.ns;
        break;
    case OP_DISCOVER:
        m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER;
        m.discover = &disc;
        disc.ns = (char *)cl->o.ns; /* NULL: all namespaces */
        disc.has_limit = cl->o.has_limit;
        disc.limit = cl->o.limit;
        if (cl->o.cookie) {
            if (rdv1c__hex_decode(cl->o.cookie, cookie, sizeof cookie, &clen) < 0) {
                client_fail(cl, "--cookie takes the hex cookie a discover printed");
                return -1;
            }
            disc.has_cookie = 1;
            disc.cookie.data = cookie;
            disc.cookie.len = clen;
        }
        break;
    }
    size_t len = rendezvous__message__get_packed_size(&m);
    buf_append_uvarint(out, len);
    buf_commit(out, rendezvous__message__pack(&m, buf_reserve(out, len)));
    buf_free(&env);
    return 0;
}

static int rdv1c__waku_request(struct rdv1_client *rc, struct buf *out)
{
    struct client *cl = rc->cl;
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__Register reg = WAKU__MESSAGE__REGISTER__INIT;
    Waku__Message__Discover disc = WAKU__MESSAGE__DISCOVER__INIT;
    struct buf env = BUF_INIT;

    m.has_type = 1;
    if (rc->op == OP_REGISTER) {
        if (rdv1c__seal(cl, &env) < 0)
            return -1;
        m.type = WAKU__MESSAGE__MESSAGE_TYPE__REGISTER;
        m.register_ = &reg;
        reg.ns = (char *)cl->o.ns;
        reg.has_signedpeerrecord = 1;
        reg.signedpeerrecord.data = buf_head(&env);
        reg.signedpeerrecord.len = buf_size(&env);
        reg.has_ttl = cl->o.has_ttl;
        reg.ttl = cl->o.ttl > INT64_MAX ? INT64_MAX : (int64_t)cl->o.ttl;
    } else {
        m.type = WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER;
        m.discover = &disc;
        disc.ns = (char *)cl->o.ns;
        disc.has_limit = cl->o.has_limit;
        disc.limit = cl->o.limit > INT64_MAX ? INT64_MAX : (int64_t)cl->o.limit;
    }
    size_t len = waku__message__get_packed_size(&m);
    buf_append_uvarint(out, len);
    buf_commit(out, waku__message__pack(&m, buf_reserve(out, len)));
    buf_free(&env);
    return 0;
}

/* ---- the stream ---------------------------------------------------------- */

static int rdv1c_open(struct stream *s)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;
    struct buf out = BUF_INIT;

    int r = rc->waku ? rdv1c__waku_request(rc, &out) : rdv1c__std_request(rc, &out);
    if (r == 0) {
        stream_write(s, buf_head(&out), buf_size(&out));
        stream_close(s); /* one request per stream */
    }
    buf_free(&out);
    return 0;
}

static void rdv1c_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;
    const uint8_t *msg;
    size_t len;
    int r;

    if (rc->answered)
        return;
    lpm_push(&rc->in, d, n);
    if ((r = lpm_next(&rc->in, &msg, &len)) == 0)
        return;
    rc->answered = true;
    if (r < 0) {
        client_fail(cl, "%s sent an invalid frame", cl->conn->remote_text);
        return;
    }
    if (rc->waku) {
        Waku__Message *m = waku__message__unpack(NULL, len, msg);
        if (m == NULL) {
            client_fail(cl, "%s sent an undecodable message", cl->conn->remote_text);
            return;
        }
        rdv1c__waku_answer(rc, m);
        waku__message__free_unpacked(m, NULL);
    } else {
        Rendezvous__Message *m = rendezvous__message__unpack(NULL, len, msg);
        if (m == NULL) {
            client_fail(cl, "%s sent an undecodable message", cl->conn->remote_text);
            return;
        }
        rdv1c__std_answer(rc, m);
        rendezvous__message__free_unpacked(m, NULL);
    }
}

/* The server closed its side: for unregister that is the acknowledgement
 * (it has read the request); for the others the answer must have come. */
static void rdv1c_eof(struct stream *s)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;

    if (rc->op == OP_UNREGISTER && !rc->answered) {
        rc->answered = true;
        if (cl->o.json) {
            printf("{\"unregistered\":\"%s\",\"ns\":", cl->host.id_text);
            client_json_string(cl->o.ns, strlen(cl->o.ns));
            puts("}");
        } else {
            printf("unregistered %s from %s\n", cl->host.id_text, cl->o.ns);
        }
        client_finish(cl, 0);
    } else if (!rc->answered) {
        client_fail(cl, "%s closed the stream without answering", cl->conn->remote_text);
    }
}

static void rdv1c_close(struct stream *s)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;
    if (!s->opened)
        client_fail(cl, "%s does not support %s", cl->conn ? cl->conn->remote_text : "peer",
                    rc->proto.id);
    else if (!rc->answered)
        client_fail(cl, "%s reset the stream", cl->conn ? cl->conn->remote_text : "peer");
}

/* Opens the request stream (after identify, for a register without --addr). */
static void rdv1c__ask(struct client *cl)
{
    struct rdv1_client *rc = cl->state;
    rc->asked = true;
    if (conn_open_stream(cl->conn, &rc->proto, cl) == NULL)
        client_fail(cl, "cannot open a stream to %s", cl->conn->remote_text);
}

/* ---- identify: the address the server sees us at ------------------------- */

static int rdv1c_id_open(struct stream *s)
{
    (void)s; /* the server speaks first and alone */
    return 0;
}

static void rdv1c_id_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;
    lpm_push(&rc->id_in, d, n);
}

/* The server's Identify is complete: take its observedAddr and register. */
static void rdv1c_id_eof(struct stream *s)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;
    const uint8_t *msg;
    size_t len;
    char text[MULTIADDR_TEXT_MAX];

    if (rc->asked)
        return;
    if (lpm_next(&rc->id_in, &msg, &len) == 1) {
        Identify__Identify *m = identify__identify__unpack(NULL, len, msg);
        if (m && m->has_observedaddr && m->observedaddr.len <= sizeof rc->observed &&
            multiaddr_validate(m->observedaddr.data, m->observedaddr.len) == 0) {
            memcpy(rc->observed, m->observedaddr.data, m->observedaddr.len);
            rc->observed_len = m->observedaddr.len;
        }
        if (m)
            identify__identify__free_unpacked(m, NULL);
    }
    if (rc->observed_len == 0 ||
        multiaddr_to_text(rc->observed, rc->observed_len, text, sizeof text) < 0) {
        client_fail(cl, "no --addr, and %s did not say which address it sees us at: pass "
                    "--addr MULTIADDR, the address other peers should dial",
                    cl->conn->remote_text);
        return;
    }
    fprintf(stderr, "rdv: no --addr: registering %s, the address %s sees us at (pass --addr "
            "to choose)\n", text, cl->conn->remote_text);
    stream_close(s);
    rdv1c__ask(cl);
}

static void rdv1c_id_close(struct stream *s)
{
    struct client *cl = s->state;
    struct rdv1_client *rc = cl->state;
    if (!rc->asked)
        client_fail(cl, "no --addr, and %s did not answer identify: pass --addr MULTIADDR, the "
                    "address other peers should dial", cl->conn ? cl->conn->remote_text : "the peer");
}

static void rdv1c_start(struct client *cl, enum rdv1_op op)
{
    const char *d = cl->o.dialect;
    bool waku = d && strcmp(d, "waku") == 0;

    if (d && !waku && strcmp(d, "standard") != 0) {
        client_fail(cl, "this command speaks --dialect standard or waku, not %s", d);
        return;
    }
    if (waku && op == OP_UNREGISTER) {
        client_fail(cl, "the Waku dialect has no UNREGISTER (registrations just expire)");
        return;
    }
    if (waku && cl->o.cookie) {
        client_fail(cl, "the Waku dialect has no cookies");
        return;
    }
    if (waku && op == OP_DISCOVER && cl->o.ns == NULL) {
        client_fail(cl, "the Waku dialect needs a namespace to discover");
        return;
    }
    struct rdv1_client *rc = xcalloc(1, sizeof *rc);
    rc->cl = cl;
    rc->op = op;
    rc->waku = waku;
    rc->proto = (struct protocol){
        .id = cl->o.protocol ? cl->o.protocol : waku ? WAKU_PROTOCOL_ID : RDV1_PROTOCOL_ID,
        .on_open = rdv1c_open,
        .on_data = rdv1c_data,
        .on_eof = rdv1c_eof,
        .on_close = rdv1c_close,
    };
    lpm_init(&rc->in, RDV1_CLIENT_MAX_MESSAGE);
    lpm_init(&rc->id_in, 64u << 10);
    cl->state = rc;
    if (op != OP_REGISTER || cl->o.naddrs > 0) {
        rdv1c__ask(cl);
        return;
    }
    rc->identify = (struct protocol){
        .id = IDENTIFY_PROTOCOL_ID,
        .on_open = rdv1c_id_open,
        .on_data = rdv1c_id_data,
        .on_eof = rdv1c_id_eof,
        .on_close = rdv1c_id_close,
    };
    if (conn_open_stream(cl->conn, &rc->identify, cl) == NULL)
        client_fail(cl, "cannot open a stream to %s", cl->conn->remote_text);
}

static void rdv1c_register(struct client *cl) { rdv1c_start(cl, OP_REGISTER); }
static void rdv1c_discover(struct client *cl) { rdv1c_start(cl, OP_DISCOVER); }
static void rdv1c_unregister(struct client *cl) { rdv1c_start(cl, OP_UNREGISTER); }

static void rdv1c_exit(struct client *cl)
{
    struct rdv1_client *rc = cl->state;
    if (rc == NULL)
        return;
    lpm_free(&rc->in);
    lpm_free(&rc->id_in);
    free(rc);
    cl->state = NULL;
}

const struct command cmd_rdv1_register = {
    .name = "register",
    .usage = "register --server MULTIADDR [--dialect standard|waku] [--ttl S] [--addr MA]... NS",
    .needs_ns = true,
    .on_ready = rdv1c_register,
    .on_exit = rdv1c_exit,
};

const struct command cmd_rdv1_discover = {
    .name = "discover",
    .usage = "discover --server MULTIADDR [--dialect standard|waku] [--limit N] [--cookie HEX] [NS]",
    .needs_ns = false,
    .on_ready = rdv1c_discover,
    .on_exit = rdv1c_exit,
};

const struct command cmd_unregister = {
    .name = "unregister",
    .usage = "unregister --server MULTIADDR NS                 remove our /rendezvous/1.0.0 registration",
    .needs_ns = true,
    .on_ready = rdv1c_unregister,
    .on_exit = rdv1c_exit,
};
