/* noise-flood: the cheapest way to make the daemon do crypto. From one
 * address, several sockets in parallel, each: connect, multistream-select
 * /noise, Noise msg1 with a random ephemeral key (no crypto on our side),
 * read msg2 (the daemon made a key pair and two X25519 for it), close with a
 * reset - as fast as the daemon answers. Bound: the established well-behaved
 * client's ping p99 stays under 10x idle (or 50 ms), RSS growth < 64 MB. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "attack.h"
#include "base/mem.h"

#define NF_SOCKETS 8
#define NF_HELLO "\x13/multistream/1.0.0\n\x07/noise\n"

struct nf_sock {
    struct nf *n;
    ev_io io;
    int fd;
    uint8_t in[1024];
    size_t got;
    bool sent;
};

struct nf {
    struct attack_ctx *x;
    struct ev_loop *loop;
    struct nf_sock s[NF_SOCKETS];
    uint64_t answered, refused;
};

static void nf_start(struct nf_sock *s);

static void nf_finish(struct nf_sock *s, bool answered)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0}; /* RST: no TIME_WAIT on our side */
    ev_io_stop(s->n->loop, &s->io);
    setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    close(s->fd);
    s->fd = -1;
    if (answered)
        s->n->answered++;
    else
        s->n->refused++;
    if (attack_phase(s->n->x) == AP_ATTACK)
        nf_start(s);
}

/* Whether in[0, got) holds the two multistream messages and a whole msg2. */
static bool nf_complete(const struct nf_sock *s)
{
    size_t off = 0;
    for (int i = 0; i < 2; i++) { /* one-byte lengths: both are short */
        if (off >= s->got)
            return false;
        off += 1 + s->in[off];
    }
    if (off + 2 > s->got)
        return false;
    size_t len = (size_t)s->in[off] << 8 | s->in[off + 1];
    return off + 2 + len <= s->got;
}

static void nf_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct nf_sock *s = w->data;
    (void)loop;
    if (!s->sent && (revents & EV_WRITE)) {
        uint8_t out[sizeof(NF_HELLO) - 1 + 2 + 32];
        memcpy(out, NF_HELLO, sizeof(NF_HELLO) - 1);
        out[sizeof(NF_HELLO) - 1] = 0;
        out[sizeof(NF_HELLO)] = 32;
        randombytes_buf(out + sizeof(NF_HELLO) + 1, 32);
        if (write(s->fd, out, sizeof(out)) != (ssize_t)sizeof(out)) {
            nf_finish(s, false);
            return;
        }
        s->sent = true;
        ev_io_stop(s->n->loop, &s->io);
        ev_io_set(&s->io, s->fd, EV_READ);
        ev_io_start(s->n->loop, &s->io);
        return;
    }
    ssize_t r = read(s->fd, s->in + s->got, sizeof(s->in) - s->got);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        nf_finish(s, false);
        return;
    }
    s->got += (size_t)r;
    if (nf_complete(s))
        nf_finish(s, true);
    else if (s->got == sizeof(s->in))
        nf_finish(s, false);
}

static void nf_start(struct nf_sock *s)
{
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = peer_src(NET_ATTACKER, 0)};
    s->got = 0;
    s->sent = false;
    s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->fd < 0)
        return;
    if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)) != 0 ||
        (connect(s->fd, (const struct sockaddr *)&s->n->x->daemon_sa, sizeof(s->n->x->daemon_sa)) != 0 &&
         errno != EINPROGRESS)) {
        close(s->fd);
        s->fd = -1;
        s->n->refused++;
        return;
    }
    ev_io_init(&s->io, nf_io, s->fd, EV_WRITE);
    s->io.data = s;
    ev_io_start(s->n->loop, &s->io);
}

static int nf_role(struct attack_ctx *x)
{
    struct nf *n = xcalloc(1, sizeof(*n));
    if (sodium_init() < 0)
        return 1;
    n->x = x;
    n->loop = ev_loop_new(EVBACKEND_EPOLL);
    attack_ready(x);
    attack_loop_until(x, n->loop, NULL, NULL, AP_ATTACK, 3600);
    double t0 = mono_s();
    for (int i = 0; i < NF_SOCKETS; i++) {
        n->s[i].n = n;
        n->s[i].fd = -1;
        nf_start(&n->s[i]);
    }
    /* A socket that could not even be made is tried again on each pass. */
    while (attack_phase(x) == AP_ATTACK && getppid() == x->parent) {
        for (int i = 0; i < NF_SOCKETS; i++)
            if (n->s[i].fd < 0)
                nf_start(&n->s[i]);
        attack_loop_until(x, n->loop, NULL, NULL, AP_STOP, 0.05);
        atomic_store(&x->shm->ops, n->answered);
        atomic_store(&x->shm->ops2, n->refused);
    }
    double el = mono_s() - t0;
    for (int i = 0; i < NF_SOCKETS; i++) {
        if (n->s[i].fd >= 0) {
            ev_io_stop(n->loop, &n->s[i].io);
            close(n->s[i].fd);
        }
    }
    attack_note(x, "attack: %.0f msg2/s answered, %.0f/s refused, %d sockets from one address",
                (double)n->answered / el, (double)n->refused / el, NF_SOCKETS);
    attack_done(x);
    ev_loop_destroy(n->loop);
    free(n);
    return 0;
}

const struct scenario scen_noise_flood = {
    .name = "noise-flood",
    .what = "msg1 with a random ephemeral key, read msg2, reset; 8 sockets from one address",
    .nroles = 1,
    .role = nf_role,
    .rss_bound_mb = 64,
    .attack_s = 15,
    .attack_s_short = 3,
};
