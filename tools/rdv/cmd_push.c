/* rdv watch / register / discover in push mode (/rendezvous/legacy/1.0.0).
 *
 * `register` and `discover` are shared with the standard and Waku dialects:
 * the commands registered here speak push mode when --dialect is absent or
 * "push" and neither --ttl nor --cookie is given, and otherwise hand over to
 * cmd_rdv1_register / cmd_rdv1_discover.
 *
 * Push mode has no acknowledgement: `register` (and `watch --register`)
 * waits for rdv_client_sync, which proves the REGISTER was handled (a
 * refusal would have come first), then prints "registered ID in NS";
 * `watch --register` prints that line on stderr, keeping stdout to events.
 * `watch` reconnects after a lost connection (registering and subscribing
 * again, printing only what changed meanwhile) unless --no-reconnect. */
#include <stdio.h>
#include <string.h>

#include "rdv.h"

/* ---- output --------------------------------------------------------------- */

static void pushc__addrs_json(const char *const *addrs, size_t n)
{
    printf(",\"addrs\":[");
    for (size_t i = 0; i < n; i++) {
        printf(i ? "," : "");
        client_json_string(addrs[i], strlen(addrs[i]));
    }
    printf("]");
}

/* Presence metadata, only when the member has some: as a JSON string in
 * both output forms (text: " metadata=\"...\"" after the addresses). */
static void pushc__metadata(const struct client *cl, const uint8_t *meta, size_t len)
{
    if (meta == NULL)
        return;
    printf(cl->o.json ? ",\"metadata\":" : " metadata=");
    client_json_string((const char *)meta, len);
}

static void pushc__peer_json(const char *ns, const char *peer)
{
    printf("\"ns\":");
    client_json_string(ns, strlen(ns));
    printf(",\"peer\":");
    client_json_string(peer, strlen(peer));
}

/* watch: "+ id addrs..." / "- id", or JSON lines with "event". */
static void pushc__on_event(rdv_client *rc, const rdv_event *ev, void *arg)
{
    struct client *cl = arg;
    (void)rc;
    if (cl->done)
        return;
    if (ev->kind == RDV_ENDED) {
        client_fail(cl, "watch %s: %s", ev->ns, rdv_client_strerror(ev->error));
        return;
    }
    if (cl->o.json) {
        printf("{\"event\":\"%s\",", ev->kind == RDV_JOIN ? "register" : "unregister");
        pushc__peer_json(ev->ns, ev->peer_id);
        if (ev->kind == RDV_JOIN)
            pushc__addrs_json(ev->addrs, ev->naddrs);
        pushc__metadata(cl, ev->metadata, ev->metadata_len);
        printf("}\n");
    } else {
        printf("%c %s", ev->kind == RDV_JOIN ? '+' : '-', ev->peer_id);
        for (size_t i = 0; i < ev->naddrs; i++)
            printf(" %s", ev->addrs[i]);
        pushc__metadata(cl, ev->metadata, ev->metadata_len);
        printf("\n");
    }
    fflush(stdout);
}

/* discover: "id addrs..." per entry, or JSON lines. */
static void pushc__on_list(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct client *cl = arg;
    (void)rc;
    if (!client_result_ok(cl, r))
        return;
    for (size_t i = 0; i < r->nregs; i++) {
        const rdv_registration *g = &r->regs[i];
        if (cl->o.json) {
            printf("{");
            pushc__peer_json(g->ns, g->peer_id);
            pushc__addrs_json(g->addrs, g->naddrs);
            pushc__metadata(cl, g->metadata, g->metadata_len);
            printf("}\n");
        } else {
            printf("%s", g->peer_id);
            for (size_t k = 0; k < g->naddrs; k++)
                printf(" %s", g->addrs[k]);
            pushc__metadata(cl, g->metadata, g->metadata_len);
            printf("\n");
        }
    }
    fflush(stdout);
    client_finish(cl, 0);
}

/* The REGISTER was handled. */
static void pushc__on_synced(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct client *cl = arg;
    bool watch = cl->cmd == &cmd_watch;
    if (cl->done)
        return;
    if (r->error) {
        if (!watch) /* watch says so on the loss and goes on */
            client_fail_result(cl, r);
        return;
    }
    if (watch) {
        fprintf(stderr, "registered %s in %s\n", rdv_client_peer_id(rc), cl->o.ns);
    } else if (cl->o.json) {
        printf("{\"event\":\"registered\",\"ns\":");
        client_json_string(cl->o.ns, strlen(cl->o.ns));
        printf(",\"peer\":\"%s\"}\n", rdv_client_peer_id(rc));
    } else {
        printf("registered %s in %s\n", rdv_client_peer_id(rc), cl->o.ns);
    }
    fflush(stdout);
}

/* ---- commands --------------------------------------------------------------- */

enum pushc_op { PUSHC_WATCH, PUSHC_REGISTER, PUSHC_DISCOVER };

static void pushc_start(struct client *cl, enum pushc_op op)
{
    const char *d = cl->o.dialect;
    int rc = 0;

    if (d && strcmp(d, "push") != 0) {
        client_fail(cl, "%s speaks push mode only (--dialect push), not %s", cl->cmd->name, d);
        return;
    }
    if (cl->o.ns == NULL) {
        client_fail(cl, "%s needs a namespace argument", cl->cmd->name);
        return;
    }
    bool reg = op == PUSHC_REGISTER || (op == PUSHC_WATCH && cl->o.reg);
    if (!reg && (cl->o.naddrs || cl->o.metadata)) {
        client_fail(cl, "--addr and --metadata go with register or watch --register");
        return;
    }
    if (op == PUSHC_WATCH)
        rc = rdv_client_subscribe(cl->rc, cl->o.ns, pushc__on_event, cl);
    if (rc == 0 && reg) {
        /* One at a time first, to name a bad one (nothing is sent before
         * the connection is up, and the last call replaces the others). */
        for (size_t i = 0; i < cl->o.naddrs; i++) {
            if (rdv_client_register(cl->rc, cl->o.ns, &cl->o.addrs[i], 1) == RDV_CLIENT_ERR_ADDR) {
                client_fail(cl, "--addr %s: not a valid multiaddr", cl->o.addrs[i]);
                return;
            }
        }
        rc = rdv_client_register_meta(cl->rc, cl->o.ns, cl->o.addrs, cl->o.naddrs, cl->o.metadata,
                                      cl->o.metadata ? strlen(cl->o.metadata) : 0);
        if (rc == 0)
            rc = rdv_client_sync(cl->rc, pushc__on_synced, cl);
    }
    if (rc == 0 && op == PUSHC_DISCOVER)
        rc = rdv_client_discover(cl->rc, RDV_CLIENT_PUSH, cl->o.ns,
                                 cl->o.has_limit ? cl->o.limit : 0, NULL, 0, pushc__on_list, cl);
    if (rc < 0)
        client_fail(cl, "%s: %s", cl->cmd->name, rdv_client_strerror(rc));
}

/* Long-running commands have no deadline once connected. */
static void pushc_connected(struct client *cl) { client_no_deadline(cl); }

/* Push unless another dialect is asked for, or implied by a standard-only
 * option. */
static bool pushc_is_push(const struct rdv_opts *o)
{
    const char *d = o->dialect;
    if (d && strcmp(d, "push") == 0)
        return true;
    return d == NULL && !o->has_ttl && o->cookie == NULL;
}

static void pushc_watch(struct client *cl) { pushc_start(cl, PUSHC_WATCH); }

static bool pushc_watch_reconnects(const struct rdv_opts *o)
{
    (void)o;
    return true;
}

static void pushc_register(struct client *cl)
{
    if (!pushc_is_push(&cl->o) && cl->o.metadata)
        client_fail(cl, "--metadata is push mode only");
    else if (!pushc_is_push(&cl->o))
        cmd_rdv1_register.start(cl);
    else if (cl->o.has_ttl || cl->o.cookie)
        client_fail(cl, "push mode has no TTL or cookie (they need --dialect standard or waku)");
    else
        pushc_start(cl, PUSHC_REGISTER);
}

static void pushc_register_connected(struct client *cl)
{
    if (pushc_is_push(&cl->o))
        client_no_deadline(cl);
}

static void pushc_discover(struct client *cl)
{
    if (!pushc_is_push(&cl->o))
        cmd_rdv1_discover.start(cl);
    else if (cl->o.has_ttl || cl->o.cookie)
        client_fail(cl, "push mode has no TTL or cookie (they need --dialect standard or waku)");
    else
        pushc_start(cl, PUSHC_DISCOVER);
}

const struct command cmd_watch = {
    .name = "watch",
    .usage = "watch --server MULTIADDR [--register [--addr MA]... [--metadata TEXT]] [--json] NS\n"
             "           [--no-reconnect]                  print registrations in NS as they come and go\n"
             "                                             (reconnects unless --no-reconnect)",
    .needs_ns = true,
    .reconnects = pushc_watch_reconnects,
    .start = pushc_watch,
    .on_connected = pushc_connected,
};

const struct command cmd_register = {
    .name = "register",
    .usage = "register --server MULTIADDR [--addr MA]... NS   push: stay registered until interrupted;\n"
             "           [--metadata TEXT]                 push: presence state sent with it\n"
             "           [--dialect standard|waku] [--ttl S]   standard/waku: one signed registration\n"
             "                                             (no --addr: the address the server sees us at)",
    .needs_ns = true,
    .start = pushc_register,
    .on_connected = pushc_register_connected,
};

const struct command cmd_discover = {
    .name = "discover",
    .usage = "discover --server MULTIADDR [--limit N] NS     push: the members of NS, once;\n"
             "           [--dialect standard|waku] [--cookie HEX] [NS]",
    .needs_ns = false, /* standard discover may list every namespace */
    .start = pushc_discover,
};
