/* The connection layer (src/host/conn.c) over a socket pair, both hosts on
 * one loop: the dialer and the listener complete multistream-select, Noise
 * and yamux and learn each other's peer id; a stream is agreed and carries
 * bytes both ways; a dialer that expected another peer id gives up with
 * "peer id mismatch"; a peer that goes away mid-handshake or after it ends
 * the connection on the other side with a reason, exactly once; a host
 * asked to poll before its flush writes once, one loop pass later. The
 * handshake's flights: a dialer sends Noise's first message with its
 * proposal, a listener answers header and choice in one write, and an
 * accepted TCP socket has TCP_NODELAY without a call of its own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/internal.h"
#include "host/ping.h"
#include "loop_helpers.h"

struct side {
    int ready, closed;
    char reason[128];
};

struct pair {
    struct ev_loop *loop;
    struct host server, client;
    struct conn *sc, *cc;
    struct side c;           /* the dialer's owner (accepted connections have none) */
    /* the client's ping stream */
    uint8_t echo[PING_SIZE];
    size_t got;
    bool ping_closed;
};

static void on_ready(struct conn *c, void *user)
{
    (void)c;
    ((struct side *)user)->ready++;
}

static void on_closed(struct conn *c, void *user, const char *reason)
{
    struct side *s = user;
    (void)c;
    s->closed++;
    snprintf(s->reason, sizeof s->reason, "%s", reason);
}

static const struct conn_events events = {.on_ready = on_ready, .on_closed = on_closed};

static void pair_setup(struct pair *p)
{
    struct privkey ks, kc;
    struct host_limits lim;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int sv[2];

    memset(p, 0, sizeof(*p));
    p->loop = ev_loop_new(EVFLAG_AUTO);
    privkey_generate(&ks);
    privkey_generate(&kc);
    host_limits_default(&lim);
    host_init(&p->server, p->loop, NULL, &ks, &lim);
    host_handle(&p->server, &ping_protocol);
    host_init(&p->client, p->loop, NULL, &kc, &lim);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    p->sc = conn_new(&p->server, sv[0], false, false, (struct sockaddr *)&sa, sizeof(sa), false);
    p->cc = conn_new(&p->client, sv[1], true, false, (struct sockaddr *)&sa, sizeof(sa), false);
    assert_non_null(p->sc);
    assert_non_null(p->cc);
    conn_set_events(p->cc, &events, &p->c);
}

static void pair_free(struct pair *p)
{
    host_free(&p->client);
    host_free(&p->server);
    ev_loop_destroy(p->loop);
}

static bool both_ready(void *arg)
{
    struct pair *p = arg;
    return p->server.established == p->sc && p->c.ready;
}

static bool both_closed(void *arg)
{
    struct pair *p = arg;
    return p->server.nconns == 0 && p->c.closed;
}

static bool client_closed(void *arg) { return ((struct pair *)arg)->c.closed > 0; }

/* ---- an echo over ping --------------------------------------------------------- */

static int ping_open(struct stream *s)
{
    static const uint8_t payload[PING_SIZE] = "thirty-two bytes of ping payload";
    stream_write(s, payload, sizeof payload);
    return 0;
}

static void ping_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct pair *p = s->state;
    assert_true(p->got + n <= PING_SIZE);
    memcpy(p->echo + p->got, d, n);
    p->got += n;
    if (p->got == PING_SIZE)
        stream_close(s);
}

static void ping_close(struct stream *s)
{
    struct pair *p = s->state;
    p->ping_closed = true;
}

static const struct protocol ping_client = {
    .id = PING_PROTOCOL_ID, .on_open = ping_open, .on_data = ping_data, .on_close = ping_close,
};

static bool ping_done(void *arg)
{
    struct pair *p = arg;
    return p->ping_closed;
}

static void handshake_and_stream(void **state)
{
    (void)state;
    struct pair p;
    pair_setup(&p);
    assert_true(loop_until(p.loop, both_ready, &p, 10, NULL, NULL));
    assert_int_equal(p.c.ready, 1);
    assert_int_equal(p.sc->phase, PH_READY);
    /* Each knows the other by its key. */
    assert_string_equal(CONN_PEER_TEXT(p.cc), p.server.id_text);
    assert_string_equal(CONN_PEER_TEXT(p.sc), p.client.id_text);
    assert_true(p.cc->mux_ready && p.sc->mux_ready);

    assert_non_null(conn_open_stream(p.cc, &ping_client, &p));
    assert_true(loop_until(p.loop, ping_done, &p, 10, NULL, NULL));
    assert_int_equal(p.got, PING_SIZE);
    assert_memory_equal(p.echo, "thirty-two bytes of ping payload", PING_SIZE);

    /* A close with a reason: the closer reports it, the other side learns
     * the connection is gone; each exactly once. */
    conn_close(p.cc, "done here");
    assert_true(loop_until(p.loop, both_closed, &p, 10, NULL, NULL));
    assert_string_equal(p.c.reason, "done here");
    assert_int_equal(p.c.closed, 1);
    assert_int_equal(p.server.nconns, 0);
    assert_int_equal(p.client.nconns, 0);
    pair_free(&p);
}

static void wrong_peer_id(void **state)
{
    (void)state;
    struct pair p;
    struct privkey other;
    struct pubkey pub;

    pair_setup(&p);
    privkey_generate(&other);
    privkey_public(&other, &pub);
    p.cc->nego->has_expected = true;
    assert_int_equal(peerid_from_pubkey(&p.cc->nego->expected, &pub), 0);
    assert_true(loop_until(p.loop, both_closed, &p, 10, NULL, NULL));
    assert_string_equal(p.c.reason, "peer id mismatch");
    assert_int_equal(p.c.ready, 0);
    privkey_wipe(&other);
    pair_free(&p);
}

/* The listener's side goes away before the handshake is over. */
static void peer_gone_mid_handshake(void **state)
{
    (void)state;
    struct pair p;
    pair_setup(&p);
    ev_run(p.loop, EVRUN_NOWAIT); /* the first bytes go out */
    conn_destroy(p.sc);           /* its socket closes at once */
    assert_int_equal(p.server.nconns, 0);
    assert_null(p.server.pending);
    assert_true(loop_until(p.loop, client_closed, &p, 10, NULL, NULL));
    assert_int_equal(p.c.ready, 0);
    assert_int_equal(p.c.closed, 1);
    assert_true(p.c.reason[0] != '\0');
    assert_true(loop_until(p.loop, loop_never, NULL, 0.05, NULL, NULL) == false);
    assert_int_equal(p.client.nconns, 0);
    pair_free(&p);
}

/* A second stream to the same ping handler that never sends anything. */
static int quiet_open(struct stream *s)
{
    (void)s;
    return 0;
}

static const struct protocol quiet_client = {.id = PING_PROTOCOL_ID, .on_open = quiet_open};

/* host_poll_before_flush: the coming flush waits for one more pass of the
 * loop (whose poll does not block); output made before and during that
 * pass leaves in one write; asking again during it does not make the flush
 * wait a second time; the bytes arrive as they would have. */
static void poll_before_flush(void **state)
{
    (void)state;
    struct pair p;
    pair_setup(&p);
    host_handle(&p.client, &ping_protocol);
    assert_true(loop_until(p.loop, both_ready, &p, 10, NULL, NULL));
    while (p.server.dirty || p.client.dirty)
        ev_run(p.loop, EVRUN_NOWAIT);
    uint64_t w0 = p.server.stats.socket_writes;

    /* The server opens a ping stream to the client: output, then the ask. */
    assert_non_null(conn_open_stream(p.sc, &ping_client, &p));
    host_poll_before_flush(&p.server);
    ev_run(p.loop, EVRUN_NOWAIT);
    assert_int_equal(p.server.stats.socket_writes, w0); /* waited */
    assert_non_null(p.server.dirty);

    /* More output in that pass, and the ask again: no second wait. */
    assert_non_null(conn_open_stream(p.sc, &quiet_client, NULL));
    host_poll_before_flush(&p.server);
    ev_run(p.loop, EVRUN_NOWAIT);
    assert_int_equal(p.server.stats.socket_writes, w0 + 1); /* both, one write */
    assert_null(p.server.dirty);

    assert_true(loop_until(p.loop, ping_done, &p, 10, NULL, NULL));
    assert_memory_equal(p.echo, "thirty-two bytes of ping payload", PING_SIZE);

    /* A lean host (a library client) ignores the ask. */
    host_set_lean(&p.client);
    host_poll_before_flush(&p.client);
    assert_false(p.client.poll_before_flush);
    pair_free(&p);
}

/* ---- the handshake's flights, against a raw peer ------------------------ */

#define MSS_HELLO "\x13/multistream/1.0.0\n\x07/noise\n"

/* Reads what the socket holds now (nothing: 0). */
static size_t raw_read(int fd, uint8_t *b, size_t cap)
{
    ssize_t r = recv(fd, b, cap, MSG_DONTWAIT);
    if (r < 0)
        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
    return r < 0 ? 0 : (size_t)r;
}

struct raw {
    int fd;
    uint8_t b[512];
    size_t got, want;
};

static bool raw_has(void *arg)
{
    struct raw *r = arg;
    r->got += raw_read(r->fd, r->b + r->got, sizeof r->b - r->got);
    return r->got >= r->want;
}

/* One host on its own loop; with a connection over a socket pair whose
 * other end (peer) the test drives by hand, if `dialer` is 0 or 1. */
struct solo {
    struct ev_loop *loop;
    struct host h;
    struct privkey k;
    int peer;
};

static void solo_init(struct solo *o, int dialer)
{
    struct host_limits lim;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int sv[2];

    o->loop = ev_loop_new(EVFLAG_AUTO);
    o->peer = -1;
    privkey_generate(&o->k);
    host_limits_default(&lim);
    host_init(&o->h, o->loop, NULL, &o->k, &lim);
    if (dialer < 0)
        return;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    assert_non_null(conn_new(&o->h, sv[0], dialer, false, (struct sockaddr *)&sa, sizeof(sa), false));
    o->peer = sv[1];
}

static void solo_free(struct solo *o)
{
    if (o->peer >= 0)
        close(o->peer);
    host_free(&o->h);
    ev_loop_destroy(o->loop);
    privkey_wipe(&o->k);
}

/* The dialer does not wait for the listener's answer to /noise: the
 * header, the proposal and Noise's first message (a framed 32-byte
 * ephemeral key) leave together, before the peer said anything. */
static void dialer_first_flight(void **state)
{
    (void)state;
    struct solo o;
    solo_init(&o, 1);
    struct raw r = {.fd = o.peer, .want = sizeof(MSS_HELLO) - 1 + 2 + 32};
    assert_true(loop_until(o.loop, raw_has, &r, 10, NULL, NULL));
    assert_int_equal(r.got, r.want);
    assert_memory_equal(r.b, MSS_HELLO, sizeof(MSS_HELLO) - 1);
    assert_int_equal(r.b[sizeof(MSS_HELLO) - 1], 0);
    assert_int_equal(r.b[sizeof(MSS_HELLO)], 32);
    assert_int_equal(o.h.stats.socket_writes, 1);
    solo_free(&o);
}

/* The listener's header waits for the dialer's first flight and leaves
 * with the answer to it: one write. */
static void listener_answers_in_one_write(void **state)
{
    (void)state;
    struct solo o;
    uint8_t b[64];
    solo_init(&o, 0);
    for (int i = 0; i < 3; i++)
        ev_run(o.loop, EVRUN_NOWAIT);
    assert_int_equal(raw_read(o.peer, b, sizeof b), 0);
    assert_int_equal(o.h.stats.socket_writes, 0);
    assert_int_equal(send(o.peer, MSS_HELLO, sizeof(MSS_HELLO) - 1, 0), (ssize_t)sizeof(MSS_HELLO) - 1);
    struct raw r = {.fd = o.peer, .want = sizeof(MSS_HELLO) - 1};
    assert_true(loop_until(o.loop, raw_has, &r, 10, NULL, NULL));
    assert_int_equal(r.got, r.want);
    assert_memory_equal(r.b, MSS_HELLO, sizeof(MSS_HELLO) - 1);
    assert_int_equal(o.h.stats.socket_writes, 1);
    solo_free(&o);
}

static bool has_conn(void *arg) { return ((struct host *)arg)->nconns > 0; }

/* TCP_NODELAY is set once on the listening socket; accepted sockets
 * inherit it. */
static void accepted_socket_has_nodelay(void **state)
{
    (void)state;
    struct solo o;
    char addr[MULTIADDR_TEXT_MAX + PEERID_TEXT_MAX + 8];
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int one = 0;
    socklen_t olen = sizeof(one);

    solo_init(&o, -1);
    loop_listen(&o.h, addr, sizeof addr);
    assert_int_equal(getsockname(o.h.listeners[0].fd, (struct sockaddr *)&sin, &len), 0);
    o.peer = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(o.peer >= 0);
    assert_int_equal(connect(o.peer, (struct sockaddr *)&sin, len), 0);
    assert_true(loop_until(o.loop, has_conn, &o.h, 10, NULL, NULL));
    assert_int_equal(getsockopt(o.h.pending->io.fd, IPPROTO_TCP, TCP_NODELAY, &one, &olen), 0);
    assert_int_equal(one, 1);
    solo_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_and_stream),
        cmocka_unit_test(wrong_peer_id),
        cmocka_unit_test(peer_gone_mid_handshake),
        cmocka_unit_test(poll_before_flush),
        cmocka_unit_test(dialer_first_flight),
        cmocka_unit_test(listener_answers_in_one_write),
        cmocka_unit_test(accepted_socket_has_nodelay),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
