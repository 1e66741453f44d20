/* rdv register | discover | unregister for /rendezvous/1.0.0, and register |
 * discover for --dialect waku (/vac/waku/rendezvous/0.0.1).
 *
 * Each command is one request on its own stream (librendezvous's one-shot
 * calls). register signs a peer record for our key over the --addr
 * addresses; without --addr the library asks the server (identify) which
 * address it sees us at, and registers that one. unregister has no answer:
 * the server's FIN after it has read our request is the acknowledgement.
 *
 * Output: "registered <peer-id> in <ns> for <ttl> s"; one line per
 * registration "<peer-id> <ns> <ttl> <addrs...>" then "cookie <hex>"; with
 * --json one object per line. A refusal prints "rdv: <statusText> (status N)"
 * and exits 1. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "rdv.h"

#define RDV1_MAX_COOKIE 1024

static void rdv1c__print_reg(const struct client *cl, const rdv_registration *g)
{
    const char *id = g->peer_id[0] ? g->peer_id : "invalid-record";
    if (cl->o.json) {
        printf("{\"peer\":\"%s\",\"ns\":", id);
        client_json_string(g->ns, strlen(g->ns));
        printf(",\"ttl\":%" PRIu64 ",\"addrs\":[", g->ttl);
    } else {
        printf("%s %s %" PRIu64, id, g->ns, g->ttl);
    }
    for (size_t i = 0; i < g->naddrs; i++) {
        if (cl->o.json) {
            if (i)
                putchar(',');
            client_json_string(g->addrs[i], strlen(g->addrs[i]));
        } else {
            printf(" %s", g->addrs[i]);
        }
    }
    puts(cl->o.json ? "]}" : "");
}

static void rdv1c__print_cookie(const struct client *cl, const uint8_t *c, size_t n)
{
    char hex[2 * RDV1_MAX_COOKIE + 1] = "";
    if (n <= RDV1_MAX_COOKIE)
        sodium_bin2hex(hex, sizeof hex, c, n);
    printf(cl->o.json ? "{\"cookie\":\"%s\"}\n" : "cookie %s\n", hex);
}

static bool rdv1c__ok(struct client *cl, const rdv_result *r)
{
    if (cl->done || r->error != RDV_CLIENT_ERR_PROTOCOL)
        return client_result_ok(cl, r);
    if (strstr(r->status_text, "sees us at"))
        client_fail(cl, "no --addr, and %s did not say which address it sees us at: pass --addr "
                    "MULTIADDR, the address other peers should dial", client_server_id(cl));
    else if (strstr(r->status_text, "identify"))
        client_fail(cl, "no --addr, and %s did not answer identify: pass --addr MULTIADDR, the "
                    "address other peers should dial", client_server_id(cl));
    else
        client_fail_result(cl, r);
    return false;
}

static void rdv1c__registered(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct client *cl = arg;
    if (!rdv1c__ok(cl, r))
        return;
    if (cl->o.naddrs == 0 && r->naddrs)
        fprintf(stderr, "rdv: no --addr: registering %s, the address %s sees us at (pass --addr "
                "to choose)\n", r->addrs[0], client_server_id(cl));
    if (cl->o.json) {
        printf("{\"registered\":\"%s\",\"ns\":", rdv_client_peer_id(rc));
        client_json_string(cl->o.ns, strlen(cl->o.ns));
        printf(",\"ttl\":%" PRIu64 "}\n", r->ttl);
    } else {
        printf("registered %s in %s for %" PRIu64 " s\n", rdv_client_peer_id(rc), cl->o.ns, r->ttl);
    }
    client_finish(cl, 0);
}

static void rdv1c__discovered(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct client *cl = arg;
    (void)rc;
    if (!rdv1c__ok(cl, r))
        return;
    for (size_t i = 0; i < r->nregs; i++)
        rdv1c__print_reg(cl, &r->regs[i]);
    if (!(cl->o.dialect && strcmp(cl->o.dialect, "waku") == 0))
        rdv1c__print_cookie(cl, r->cookie, r->cookie_len);
    client_finish(cl, 0);
}

static void rdv1c__unregistered(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct client *cl = arg;
    if (!rdv1c__ok(cl, r))
        return;
    if (cl->o.json) {
        printf("{\"unregistered\":\"%s\",\"ns\":", rdv_client_peer_id(rc));
        client_json_string(cl->o.ns, strlen(cl->o.ns));
        puts("}");
    } else {
        printf("unregistered %s from %s\n", rdv_client_peer_id(rc), cl->o.ns);
    }
    client_finish(cl, 0);
}

enum rdv1_op { OP_REGISTER, OP_DISCOVER, OP_UNREGISTER };

static void rdv1c_start(struct client *cl, enum rdv1_op op)
{
    const char *d = cl->o.dialect;
    bool waku = d && strcmp(d, "waku") == 0;
    rdv_client_dialect dialect = waku ? RDV_CLIENT_WAKU : RDV_CLIENT_STANDARD;
    uint8_t cookie[RDV1_MAX_COOKIE];
    size_t clen = 0;
    int rc = 0;

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
    switch (op) {
    case OP_REGISTER:
        rc = rdv_client_std_register(cl->rc, dialect, cl->o.ns, cl->o.addrs, cl->o.naddrs,
                                     cl->o.has_ttl ? cl->o.ttl : 0, rdv1c__registered, cl);
        if (rc == RDV_CLIENT_ERR_ADDR) {
            client_fail(cl, "--addr: not a valid multiaddr");
            return;
        }
        break;
    case OP_DISCOVER:
        if (cl->o.cookie && sodium_hex2bin(cookie, sizeof cookie, cl->o.cookie, strlen(cl->o.cookie),
                                           NULL, &clen, NULL) != 0) {
            client_fail(cl, "--cookie takes the hex cookie a discover printed");
            return;
        }
        rc = rdv_client_discover(cl->rc, dialect, cl->o.ns, cl->o.has_limit ? cl->o.limit : 0,
                                 clen ? cookie : NULL, clen, rdv1c__discovered, cl);
        break;
    case OP_UNREGISTER:
        rc = rdv_client_std_unregister(cl->rc, cl->o.ns, rdv1c__unregistered, cl);
        break;
    }
    if (rc < 0)
        client_fail(cl, "%s: %s", cl->cmd->name, rdv_client_strerror(rc));
}

static void rdv1c_register(struct client *cl) { rdv1c_start(cl, OP_REGISTER); }
static void rdv1c_discover(struct client *cl) { rdv1c_start(cl, OP_DISCOVER); }
static void rdv1c_unregister(struct client *cl) { rdv1c_start(cl, OP_UNREGISTER); }

const struct command cmd_rdv1_register = {
    .name = "register",
    .usage = "register --server MULTIADDR [--dialect standard|waku] [--ttl S] [--addr MA]... NS",
    .needs_ns = true,
    .start = rdv1c_register,
};

const struct command cmd_rdv1_discover = {
    .name = "discover",
    .usage = "discover --server MULTIADDR [--dialect standard|waku] [--limit N] [--cookie HEX] [NS]",
    .needs_ns = false,
    .start = rdv1c_discover,
};

const struct command cmd_unregister = {
    .name = "unregister",
    .usage = "unregister --server MULTIADDR NS                 remove our /rendezvous/1.0.0 registration",
    .needs_ns = true,
    .start = rdv1c_unregister,
};
