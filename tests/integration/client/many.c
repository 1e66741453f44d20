/* The librendezvous calls made for programs that run many clients (what
 * rdv-bench is built on), against a real daemon, on the public header only:
 *   - an identity in memory (rdv_client_key_new), shared by two clients;
 *   - a raw subscription: a member's registration and its end arrive as the
 *     server's bytes (peer id text, binary multiaddr);
 *   - reuse_streams: REGISTER, REGISTER again (the same signed record) and
 *     DISCOVER sent at once on one stream, answered in order;
 *   - rdv_client_close then rdv_client_connect from on_state: a second
 *     connection, the subscription made again.
 * Prints one line per check; exits 0 when all passed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <rendezvous/client.h>

static const uint8_t want_addr[] = {0x04, 192, 0, 2, 7, 0x06, 0x0f, 0xa1}; /* /ip4/192.0.2.7/tcp/4001 */

struct t {
    struct ev_loop *loop;
    const char *server;
    rdv_client *w, *r, *s;      /* watcher, registrant, standard requester */
    char rid[64];
    int step, answers, connects;
    ev_timer deadline;
};

static void fail(const char *what)
{
    fprintf(stderr, "FAIL: %s\n", what);
    exit(1);
}

static void check(int ok, const char *what)
{
    if (!ok)
        fail(what);
    printf("ok %s\n", what);
    fflush(stdout);
}

static void on_raw(rdv_client *c, const rdv_raw_event *ev, void *arg)
{
    struct t *t = arg;
    (void)c;
    if (ev->peer_id.len != strlen(t->rid) || memcmp(ev->peer_id.data, t->rid, ev->peer_id.len) != 0)
        return; /* not the registrant (a snapshot of others) */
    if (ev->kind == RDV_JOIN && t->step == 1) {
        check(strcmp(ev->ns, "many") == 0, "raw JOIN in its namespace");
        check(ev->naddrs == 1 && ev->addrs[0].len == sizeof want_addr &&
                  memcmp(ev->addrs[0].data, want_addr, sizeof want_addr) == 0,
              "raw JOIN carries the binary multiaddr");
        t->step = 2;
        check(rdv_client_unregister(t->r, "many") == RDV_CLIENT_OK, "unregister");
    } else if (ev->kind == RDV_LEAVE && t->step == 2) {
        check(1, "raw LEAVE");
        t->step = 3;
        check(rdv_client_close(t->w) == RDV_CLIENT_OK, "close");
    }
}

static void on_synced(rdv_client *c, const rdv_result *r, void *arg)
{
    struct t *t = arg;
    (void)c;
    check(r->error == RDV_CLIENT_OK, "sync after the raw subscription");
    if (t->step == 0) {
        const char *addrs[1] = {"/ip4/192.0.2.7/tcp/4001"};
        t->step = 1;
        check(rdv_client_register(t->r, "many", addrs, 1) == RDV_CLIENT_OK, "register");
    } else if (t->step == 4) {
        t->step = 5;
        ev_break(t->loop, EVBREAK_ALL);
    }
}

static void on_w_state(rdv_client *c, int connected, const char *reason, void *arg)
{
    struct t *t = arg;
    if (connected) {
        t->connects++;
        if (t->connects == 2) {
            check(t->step == 3, "connected again after rdv_client_connect");
            t->step = 4;
            check(rdv_client_sync(c, on_synced, t) == RDV_CLIENT_OK, "sync on the new connection");
        }
        return;
    }
    if (t->step != 3)
        fail(reason);
    check(rdv_client_connect(c) == RDV_CLIENT_OK, "rdv_client_connect from on_state");
    check(rdv_client_connect(c) == RDV_CLIENT_ERR_EXISTS, "a second connect is refused while dialing");
}

static void on_std(rdv_client *c, const rdv_result *r, void *arg)
{
    struct t *t = arg;
    char what[64];
    (void)c;
    snprintf(what, sizeof what, "pipelined answer %d is OK", t->answers + 1);
    check(r->error == RDV_CLIENT_OK, what);
    if (++t->answers == 3) {
        int me = 0;
        for (size_t i = 0; i < r->nregs; i++)
            me |= strcmp(r->regs[i].peer_id, rdv_client_peer_id(t->s)) == 0;
        check(me, "DISCOVER on the shared stream lists our record");
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)w, (void)revents;
    fail("timed out");
}

int main(int argc, char **argv)
{
    struct t t = {.loop = ev_default_loop(0)};
    uint8_t key[RDV_CLIENT_KEY_SIZE];
    size_t key_len;
    char id[64], err[256];

    if (argc != 2)
        return 2;
    t.server = argv[1];
    check(rdv_client_key_new(key, sizeof key, &key_len, id, sizeof id) == RDV_CLIENT_OK, "key_new");
    check(rdv_client_key_new(key, 8, &key_len, NULL, 0) == RDV_CLIENT_ERR_TOO_MANY, "key_new: small buffer");
    check(rdv_client_key_new(key, sizeof key, &key_len, id, sizeof id) == RDV_CLIENT_OK, "key_new again");

    rdv_client_options o = {.server = t.server, .key = key, .key_len = key_len,
                            .on_state = on_w_state, .arg = &t};
    t.w = rdv_client_new(t.loop, &o, err, sizeof err);
    if (t.w == NULL)
        fail(err);
    check(strcmp(rdv_client_peer_id(t.w), id) == 0, "the client has the identity given in memory");
    rdv_client_options o2 = {.server = t.server, .key = key, .key_len = key_len};
    rdv_client *twin = rdv_client_new(t.loop, &o2, err, sizeof err);
    check(twin && strcmp(rdv_client_peer_id(twin), id) == 0, "two clients share it");
    rdv_client_free(twin);
    uint8_t bad[4] = {1, 2, 3, 4};
    rdv_client_options o3 = {.server = t.server, .key = bad, .key_len = sizeof bad};
    check(rdv_client_new(t.loop, &o3, err, sizeof err) == NULL, "a key that is not one is refused");

    rdv_client_options or = {.server = t.server};
    t.r = rdv_client_new(t.loop, &or, err, sizeof err);
    if (t.r == NULL)
        fail(err);
    snprintf(t.rid, sizeof t.rid, "%s", rdv_client_peer_id(t.r));
    check(rdv_client_subscribe_raw(t.w, "many", on_raw, &t) == RDV_CLIENT_OK, "subscribe_raw");
    check(rdv_client_subscribe(t.w, "many", NULL, NULL) == RDV_CLIENT_ERR_INVALID, "subscribe needs a callback");
    check(rdv_client_subscribe_raw(t.w, "many", on_raw, &t) == RDV_CLIENT_ERR_EXISTS,
          "subscribe_raw twice");
    check(rdv_client_sync(t.w, on_synced, &t) == RDV_CLIENT_OK, "sync");

    rdv_client_options os = {.server = t.server, .reuse_streams = 1};
    t.s = rdv_client_new(t.loop, &os, err, sizeof err);
    if (t.s == NULL)
        fail(err);
    const char *addrs[1] = {"/ip4/192.0.2.8/tcp/4001"};
    check(rdv_client_std_register(t.s, RDV_CLIENT_STANDARD, "many-std", addrs, 1, 600, on_std, &t) == 0 &&
              rdv_client_std_register(t.s, RDV_CLIENT_STANDARD, "many-std", addrs, 1, 600, on_std, &t) == 0 &&
              rdv_client_discover(t.s, RDV_CLIENT_STANDARD, "many-std", 10, NULL, 0, on_std, &t) == 0,
          "three requests sent at once");

    ev_timer_init(&t.deadline, on_deadline, 30, 0);
    ev_timer_start(t.loop, &t.deadline);
    ev_unref(t.loop);
    ev_run(t.loop, 0);
    check(t.step == 5 && t.answers == 3, "every step done");
    rdv_client_free(t.w);
    rdv_client_free(t.r);
    rdv_client_free(t.s);
    return 0;
}
