/* rdv watch / register / discover in push mode (/rendezvous/legacy/1.0.0).
 *
 * `register` and `discover` are shared with the standard and Waku dialects:
 * the commands registered here speak push mode when --dialect is absent or
 * "push" and neither --ttl nor --cookie is given, and otherwise hand over to
 * cmd_rdv1_register / cmd_rdv1_discover.
 *
 * Push mode has no acknowledgement, so `register` (and `watch --register`)
 * sends a DISCOVER right after its REGISTER: the server answers requests in
 * order, so the answer proves the REGISTER was handled, and a rejection
 * would have come first. `register` then prints "registered ID in NS";
 * `watch --register` prints that line on stderr, keeping stdout to events.
 *
 * Long-running commands keep the connection alive with a /ipfs/ping/1.0.0
 * round trip every --keepalive seconds (servers close idle connections),
 * and on SIGINT/SIGTERM half-close the session before the connection goes,
 * so the server sees a clean end of session. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "host/ping.h"
#include "rdv.h"
#include "client/push_client.h"
#include "rendezvous/service.h"

enum pushc_op { PUSHC_WATCH, PUSHC_REGISTER, PUSHC_DISCOVER };

struct pushc {
    struct client *cl;
    enum pushc_op op;
    struct push_client pc;
    bool live;                /* pc is open */
    bool acked;               /* register: the DISCOVER after REGISTER was answered */
    struct stream *ka;        /* keepalive ping stream */
    const struct protocol *ka_proto;
    ev_timer ka_timer;
    ev_signal sigint, sigterm;
};

/* ---- output --------------------------------------------------------------- */

static void pushc__addrs_text(const Push__Message__Peer *p)
{
    char text[MULTIADDR_TEXT_MAX];
    for (size_t i = 0; p && i < p->n_addrs; i++) {
        if (multiaddr_to_text(p->addrs[i].data, p->addrs[i].len, text, sizeof(text)) < 0)
            snprintf(text, sizeof(text), "?");
        printf(" %s", text);
    }
}

static void pushc__addrs_json(const Push__Message__Peer *p)
{
    char text[MULTIADDR_TEXT_MAX];
    printf(",\"addrs\":[");
    for (size_t i = 0; p && i < p->n_addrs; i++) {
        if (multiaddr_to_text(p->addrs[i].data, p->addrs[i].len, text, sizeof(text)) < 0)
            snprintf(text, sizeof(text), "?");
        printf(i ? "," : "");
        client_json_string(text, strlen(text));
    }
    printf("]");
}

static void pushc__peer_json(const ProtobufCBinaryData *ns, const Push__Message__Peer *p)
{
    printf("\"ns\":");
    client_json_string((const char *)ns->data, ns->len);
    printf(",\"peer\":");
    if (p && p->has_id)
        client_json_string((const char *)p->id.data, p->id.len);
    else
        printf("null");
}

/* Presence metadata, only when the entry has some: as a JSON string in
 * both output forms (text: " metadata=\"...\"" after the addresses). */
static void pushc__metadata(const struct client *cl, const Push__Message__Peer *p)
{
    if (p == NULL || !p->has_metadata)
        return;
    printf(cl->o.json ? ",\"metadata\":" : " metadata=");
    client_json_string((const char *)p->metadata.data, p->metadata.len);
}

static int pushc__id_len(const Push__Message__Peer *p) { return p && p->has_id ? (int)p->id.len : 0; }
static const char *pushc__id(const Push__Message__Peer *p)
{
    return p && p->has_id ? (const char *)p->id.data : "";
}

/* watch: "+ id addrs..." / "- id", or JSON lines with "event". */
static void pushc__print_event(const struct client *cl, const Push__Message *m)
{
    for (size_t i = 0; i < m->n_register_; i++) {
        const Push__Message__Register *r = m->register_[i];
        if (cl->o.json) {
            printf("{\"event\":\"register\",");
            pushc__peer_json(&r->ns, r->peer);
            pushc__addrs_json(r->peer);
            pushc__metadata(cl, r->peer);
            printf("}\n");
        } else {
            printf("+ %.*s", pushc__id_len(r->peer), pushc__id(r->peer));
            pushc__addrs_text(r->peer);
            pushc__metadata(cl, r->peer);
            printf("\n");
        }
    }
    for (size_t i = 0; i < m->n_unregister; i++) {
        const Push__Message__Unregister *u = m->unregister[i];
        if (cl->o.json) {
            printf("{\"event\":\"unregister\",");
            pushc__peer_json(&u->ns, u->peer);
            printf("}\n");
        } else {
            printf("- %.*s\n", pushc__id_len(u->peer), pushc__id(u->peer));
        }
    }
    fflush(stdout);
}

/* discover: "id addrs..." per entry, or JSON lines. */
static void pushc__print_list(const struct client *cl, const Push__Message *m)
{
    for (size_t i = 0; i < m->n_register_; i++) {
        const Push__Message__Register *r = m->register_[i];
        if (cl->o.json) {
            printf("{");
            pushc__peer_json(&r->ns, r->peer);
            pushc__addrs_json(r->peer);
            pushc__metadata(cl, r->peer);
            printf("}\n");
        } else {
            printf("%.*s", pushc__id_len(r->peer), pushc__id(r->peer));
            pushc__addrs_text(r->peer);
            pushc__metadata(cl, r->peer);
            printf("\n");
        }
    }
    fflush(stdout);
}

/* ---- keepalive -------------------------------------------------------------- */

static int pushc__ka_open(struct stream *s)
{
    (void)s;
    return 0;
}

/* The echo of our ping; only its arrival matters (it is input). */
static void pushc__ka_data(struct stream *s, const uint8_t *d, size_t n)
{
    (void)s;
    (void)d;
    (void)n;
}

static void pushc__ka_close(struct stream *s)
{
    struct pushc *p = s->state;
    p->ka = NULL;
}

static const struct protocol pushc_keepalive = {
    .id = PING_PROTOCOL_ID,
    .on_open = pushc__ka_open,
    .on_data = pushc__ka_data,
    .on_close = pushc__ka_close,
};

static void pushc__on_keepalive(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct pushc *p = w->data;
    uint8_t ping[PING_SIZE];
    (void)loop;
    (void)revents;

    if (p->cl->conn == NULL || p->cl->done)
        return;
    if (p->ka == NULL)
        p->ka = conn_open_stream(p->cl->conn, &pushc_keepalive, p);
    if (p->ka) {
        randombytes_buf(ping, sizeof(ping));
        stream_write(p->ka, ping, sizeof(ping));
    }
}

/* Long-running commands: no deadline, keepalive, clean end on a signal. */
static void pushc__stay(struct pushc *p)
{
    struct ev_loop *loop = p->cl->host.loop;
    client_no_deadline(p->cl);
    if (ev_is_active(&p->ka_timer))
        return;
    ev_timer_init(&p->ka_timer, pushc__on_keepalive, p->cl->o.keepalive, p->cl->o.keepalive);
    p->ka_timer.data = p;
    ev_timer_start(loop, &p->ka_timer);
    ev_unref(loop);
}

/* Runs beside rdv's own handler (which ends the loop): the FIN goes out
 * with the connection's last flush. */
static void pushc__on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct pushc *p = w->data;
    (void)loop;
    (void)revents;
    if (p->live)
        push_client_close(&p->pc);
}

/* ---- the session -------------------------------------------------------------- */

static void pushc__on_open(struct push_client *pc)
{
    struct pushc *p = pc->user;
    if (p->op == PUSHC_WATCH)
        pushc__stay(p);
}

static void pushc__on_message(struct push_client *pc, const Push__Message *m)
{
    struct pushc *p = pc->user;
    struct client *cl = p->cl;

    if (m->has_status && m->status != PUSH__MESSAGE__RESPONSE_STATUS__OK) {
        client_fail(cl, "%s (status %d)", m->statustext ? m->statustext : "request refused",
                    (int)m->status);
        return;
    }
    switch (p->op) {
    case PUSHC_WATCH:
        if (cl->o.reg && !p->acked) {
            /* The DISCOVER sent after the REGISTER: stderr keeps stdout to events. */
            p->acked = true;
            fprintf(stderr, "registered %s in %s\n", cl->host.id_text, cl->o.ns);
            break;
        }
        pushc__print_event(cl, m);
        break;
    case PUSHC_DISCOVER:
        pushc__print_list(cl, m);
        push_client_close(pc);
        client_finish(cl, 0);
        break;
    case PUSHC_REGISTER:
        if (p->acked)
            break; /* nothing else is sent to a session that did not subscribe */
        p->acked = true;
        if (cl->o.json) {
            printf("{\"event\":\"registered\",\"ns\":");
            client_json_string(cl->o.ns, strlen(cl->o.ns));
            printf(",\"peer\":\"%s\"}\n", cl->host.id_text);
        } else {
            printf("registered %s in %s\n", cl->host.id_text, cl->o.ns);
        }
        fflush(stdout);
        pushc__stay(p);
        break;
    }
}

static void pushc__on_end(struct push_client *pc, const char *why)
{
    struct pushc *p = pc->user;
    struct client *cl = p->cl;
    p->live = false;
    if (cl->done)
        return;
    if (strcmp(why, "protocol not supported") == 0)
        client_fail(cl, "%s does not support %s", cl->conn ? cl->conn->remote_text : "the server",
                    pc->proto.id);
    else
        client_fail(cl, "the server ended the session: %s", why);
}

static const struct push_client_handler pushc_handler = {
    .on_open = pushc__on_open,
    .on_message = pushc__on_message,
    .on_end = pushc__on_end,
};

/* --addr options as binary multiaddrs; -1 (after failing) if one is bad. */
static int pushc__addrs(struct client *cl, uint8_t (*bin)[MULTIADDR_MAX], struct rdv_addr *out)
{
    char err[256];
    for (size_t i = 0; i < cl->o.naddrs; i++) {
        int n = multiaddr_from_text(cl->o.addrs[i], bin[i], MULTIADDR_MAX, err, sizeof(err));
        if (n < 0) {
            client_fail(cl, "--addr %s: %s", cl->o.addrs[i], err);
            return -1;
        }
        out[i].bytes = bin[i];
        out[i].len = (size_t)n;
    }
    return 0;
}

static void pushc_start(struct client *cl, enum pushc_op op)
{
    uint8_t(*bin)[MULTIADDR_MAX] = NULL;
    struct rdv_addr addrs[RDV_OPT_MAX_ADDRS];
    const char *d = cl->o.dialect;
    struct pushc *p;

    if (d && strcmp(d, "push") != 0) {
        client_fail(cl, "%s speaks push mode only (--dialect push), not %s", cl->cmd->name, d);
        return;
    }
    if (cl->o.ns == NULL) {
        client_fail(cl, "%s needs a namespace argument", cl->cmd->name);
        return;
    }
    if (op != PUSHC_REGISTER && !(op == PUSHC_WATCH && cl->o.reg) && (cl->o.naddrs || cl->o.metadata)) {
        client_fail(cl, "--addr and --metadata go with register or watch --register");
        return;
    }
    if (cl->o.naddrs) {
        bin = xcalloc(cl->o.naddrs, sizeof(*bin));
        if (pushc__addrs(cl, bin, addrs) < 0) {
            free(bin);
            return;
        }
    }
    p = xcalloc(1, sizeof(*p));
    p->cl = cl;
    p->op = op;
    cl->state = p;
    if (push_client_open(&p->pc, cl->conn, cl->o.protocol, &pushc_handler, p) < 0) {
        free(bin);
        client_fail(cl, "cannot open a stream to %s", cl->conn->remote_text);
        return;
    }
    p->live = true;
    if (op == PUSHC_REGISTER || (op == PUSHC_WATCH && cl->o.reg))
        push_client_register_meta(&p->pc, cl->o.ns, cl->host.id_text, addrs, cl->o.naddrs,
                                  (const uint8_t *)cl->o.metadata,
                                  cl->o.metadata ? strlen(cl->o.metadata) : 0);
    free(bin);
    if (op == PUSHC_REGISTER || (op == PUSHC_WATCH && cl->o.reg))
        push_client_discover(&p->pc, cl->o.ns, 1); /* its answer acknowledges the REGISTER */
    if (op == PUSHC_WATCH)
        push_client_rendezvous(&p->pc, cl->o.ns);
    else if (op == PUSHC_DISCOVER)
        push_client_discover(&p->pc, cl->o.ns, cl->o.has_limit ? (int64_t)cl->o.limit : 0);
    if (op != PUSHC_DISCOVER) {
        ev_signal_init(&p->sigint, pushc__on_signal, SIGINT);
        ev_signal_init(&p->sigterm, pushc__on_signal, SIGTERM);
        p->sigint.data = p->sigterm.data = p;
        ev_signal_start(cl->host.loop, &p->sigint);
        ev_signal_start(cl->host.loop, &p->sigterm);
        ev_unref(cl->host.loop);
        ev_unref(cl->host.loop);
    }
}

static void pushc_exit(struct client *cl)
{
    struct pushc *p = cl->state;
    struct ev_loop *loop = cl->host.loop;
    if (p == NULL)
        return;
    if (ev_is_active(&p->ka_timer)) {
        ev_ref(loop);
        ev_timer_stop(loop, &p->ka_timer);
    }
    if (ev_is_active(&p->sigint)) {
        ev_ref(loop);
        ev_ref(loop);
        ev_signal_stop(loop, &p->sigint);
        ev_signal_stop(loop, &p->sigterm);
    }
    free(p);
    cl->state = NULL;
}

/* ---- commands --------------------------------------------------------------- */

/* Push unless another dialect is asked for, or implied by a standard-only
 * option. */
static bool pushc_is_push(const struct client *cl)
{
    const char *d = cl->o.dialect;
    if (d && strcmp(d, "push") == 0)
        return true;
    return d == NULL && !cl->o.has_ttl && cl->o.cookie == NULL;
}

static void pushc_watch(struct client *cl) { pushc_start(cl, PUSHC_WATCH); }

static void pushc_register(struct client *cl)
{
    if (!pushc_is_push(cl) && cl->o.metadata)
        client_fail(cl, "--metadata is push mode only");
    else if (!pushc_is_push(cl))
        cmd_rdv1_register.on_ready(cl);
    else if (cl->o.has_ttl || cl->o.cookie)
        client_fail(cl, "push mode has no TTL or cookie (they need --dialect standard or waku)");
    else
        pushc_start(cl, PUSHC_REGISTER);
}

static void pushc_discover(struct client *cl)
{
    if (!pushc_is_push(cl))
        cmd_rdv1_discover.on_ready(cl);
    else if (cl->o.has_ttl || cl->o.cookie)
        client_fail(cl, "push mode has no TTL or cookie (they need --dialect standard or waku)");
    else
        pushc_start(cl, PUSHC_DISCOVER);
}

static void pushc_register_exit(struct client *cl)
{
    if (!pushc_is_push(cl)) {
        if (cmd_rdv1_register.on_exit)
            cmd_rdv1_register.on_exit(cl);
    } else {
        pushc_exit(cl);
    }
}

static void pushc_discover_exit(struct client *cl)
{
    if (!pushc_is_push(cl)) {
        if (cmd_rdv1_discover.on_exit)
            cmd_rdv1_discover.on_exit(cl);
    } else {
        pushc_exit(cl);
    }
}

const struct command cmd_watch = {
    .name = "watch",
    .usage = "watch --server MULTIADDR [--register [--addr MA]... [--metadata TEXT]] [--json] NS\n"
             "                                             print registrations in NS as they come and go",
    .needs_ns = true,
    .on_ready = pushc_watch,
    .on_exit = pushc_exit,
};

const struct command cmd_register = {
    .name = "register",
    .usage = "register --server MULTIADDR [--addr MA]... NS   push: stay registered until interrupted;\n"
             "           [--metadata TEXT]                 push: presence state sent with it\n"
             "           [--dialect standard|waku] [--ttl S]   standard/waku: one signed registration\n"
             "                                             (no --addr: the address the server sees us at)",
    .needs_ns = true,
    .on_ready = pushc_register,
    .on_exit = pushc_register_exit,
};

const struct command cmd_discover = {
    .name = "discover",
    .usage = "discover --server MULTIADDR [--limit N] NS     push: the members of NS, once;\n"
             "           [--dialect standard|waku] [--cookie HEX] [NS]",
    .needs_ns = false, /* standard discover may list every namespace */
    .on_ready = pushc_discover,
    .on_exit = pushc_discover_exit,
};
