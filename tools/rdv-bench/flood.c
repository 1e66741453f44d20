/* The msg1 flood: from one address, as fast as it goes, connections that
 * send multistream-select for /noise and a Noise XX first message with a
 * random ephemeral key, read the answer (the responder's msg2 costs the
 * server a keygen and two X25519; the flood does no crypto at all) and
 * reset. Beside it one established client pings every PING_GAP_MS; its round
 * trips before the flood (idle) and during it are compared. The daemon runs
 * with its default admission limits, as a public one would. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>

#include "base/mem.h"
#include "bench.h"
#include "crypto/key.h"
#include "host/host.h"
#include "host/ping.h"

#define PING_GAP_MS 2            /* between one answer and the next ping */
#define FLOOD_INFLIGHT 64        /* attempts in flight per flood worker */
/* multistream-select header, /noise, then msg1: a 32-byte ephemeral key. */
#define MSS_HELLO "\x13/multistream/1.0.0\n\x07/noise\n"
#define MSS_ANSWER_LEN 28        /* the same two lines echoed */

enum { PH_WAIT = 0, PH_IDLE, PH_FLOOD, PH_STOP };

struct flood_shm {
    _Atomic int phase;
    _Atomic int ping_ready;
    _Atomic uint64_t attempts[BENCH_MAX_WORKERS];
    _Atomic uint64_t answered[BENCH_MAX_WORKERS];
    _Atomic uint64_t refused[BENCH_MAX_WORKERS];
    _Atomic uint64_t pings_failed;
    struct hist ping[2];         /* idle, flood */
};

struct flood_cfg {
    const char *addr;            /* the daemon's multiaddr, for the pinger */
    int port;
    struct flood_shm *shm;
};

/* ---- the flood ----------------------------------------------------------- */

struct attempt {
    struct flooder *f;
    int fd;
    ev_io io;
    bool sent;
    size_t got;
    uint8_t in[512];
};

struct flooder {
    const struct flood_cfg *cfg;
    int idx;
    struct ev_loop *loop;
    struct sockaddr_in sa;
    struct attempt a[FLOOD_INFLIGHT];
    ev_timer tick;
    pid_t parent;
};

static void attempt_start(struct attempt *a);

static void attempt_end(struct attempt *a, bool answered)
{
    struct flooder *f = a->f;
    struct linger lg = {.l_onoff = 1, .l_linger = 0};

    ev_io_stop(f->loop, &a->io);
    setsockopt(a->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)); /* no TIME_WAIT here either */
    close(a->fd);
    a->fd = -1;
    atomic_fetch_add_explicit(answered ? &f->cfg->shm->answered[f->idx] : &f->cfg->shm->refused[f->idx],
                              1, memory_order_relaxed);
    if (atomic_load_explicit(&f->cfg->shm->phase, memory_order_relaxed) == PH_FLOOD)
        attempt_start(a);
}

static void attempt_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct attempt *a = w->data;
    (void)loop;
    (void)revents;

    if (!a->sent) {
        uint8_t req[sizeof(MSS_HELLO) - 1 + 2 + 32];
        memcpy(req, MSS_HELLO, sizeof(MSS_HELLO) - 1);
        req[sizeof(MSS_HELLO) - 1] = 0;
        req[sizeof(MSS_HELLO)] = 32;
        randombytes_buf(req + sizeof(MSS_HELLO) + 1, 32); /* not even a valid key: no crypto */
        if (send(a->fd, req, sizeof(req), MSG_NOSIGNAL) != (ssize_t)sizeof(req)) {
            if (errno == EAGAIN || errno == EINPROGRESS)
                return;
            attempt_end(a, false);
            return;
        }
        a->sent = true;
        ev_io_stop(a->f->loop, &a->io);
        ev_io_set(&a->io, a->fd, EV_READ);
        ev_io_start(a->f->loop, &a->io);
        return;
    }
    ssize_t r = recv(a->fd, a->in + a->got, sizeof(a->in) - a->got, 0);
    if (r < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (r <= 0) {
        attempt_end(a, false);
        return;
    }
    a->got += (size_t)r;
    if (a->got >= MSS_ANSWER_LEN + 2) {
        size_t flen = (size_t)a->in[MSS_ANSWER_LEN] << 8 | a->in[MSS_ANSWER_LEN + 1];
        if (a->got >= MSS_ANSWER_LEN + 2 + flen || a->got == sizeof(a->in))
            attempt_end(a, true);
    }
}

static void attempt_start(struct attempt *a)
{
    struct flooder *f = a->f;
    a->sent = false;
    a->got = 0;
    a->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (a->fd < 0)
        return;
    atomic_fetch_add_explicit(&f->cfg->shm->attempts[f->idx], 1, memory_order_relaxed);
    int one = 1;
    setsockopt(a->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(a->fd, (struct sockaddr *)&f->sa, sizeof(f->sa)) < 0 && errno != EINPROGRESS) {
        close(a->fd);
        a->fd = -1;
        atomic_fetch_add_explicit(&f->cfg->shm->refused[f->idx], 1, memory_order_relaxed);
        return;
    }
    ev_io_init(&a->io, attempt_io, a->fd, EV_WRITE);
    a->io.data = a;
    ev_io_start(f->loop, &a->io);
}

static void flooder_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct flooder *f = t->data;
    (void)revents;
    int phase = atomic_load(&f->cfg->shm->phase);
    if (phase == PH_STOP || getppid() != f->parent) {
        ev_break(loop, EVBREAK_ALL);
        return;
    }
    if (phase != PH_FLOOD)
        return;
    for (int i = 0; i < FLOOD_INFLIGHT; i++) /* (re)start idle slots, e.g. after EMFILE */
        if (f->a[i].fd < 0)
            attempt_start(&f->a[i]);
}

static int flooder_main(const struct flood_cfg *cfg, int idx)
{
    struct flooder *f = xcalloc(1, sizeof(*f));
    f->cfg = cfg;
    f->idx = idx;
    f->parent = getppid();
    f->loop = ev_loop_new(EVBACKEND_EPOLL);
    f->sa.sin_family = AF_INET;
    f->sa.sin_port = htons((uint16_t)cfg->port);
    f->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < FLOOD_INFLIGHT; i++) {
        f->a[i].f = f;
        f->a[i].fd = -1;
    }
    ev_timer_init(&f->tick, flooder_tick, 0.01, 0.01);
    f->tick.data = f;
    ev_timer_start(f->loop, &f->tick);
    ev_run(f->loop, 0);
    for (int i = 0; i < FLOOD_INFLIGHT; i++)
        if (f->a[i].fd >= 0)
            close(f->a[i].fd);
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

/* ---- the established client ---------------------------------------------- */

struct pinger {
    const struct flood_cfg *cfg;
    struct ev_loop *loop;
    struct log log;
    struct host host;
    struct stream *s;
    ev_timer gap, tick;
    uint8_t payload[PING_SIZE];
    size_t got;
    uint64_t t0;
    pid_t parent;
};

static void pinger_send(struct pinger *p)
{
    randombytes_buf(p->payload, sizeof(p->payload));
    p->got = 0;
    p->t0 = now_ns();
    stream_write(p->s, p->payload, sizeof(p->payload));
}

static void pinger_gap(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pinger *p = t->data;
    (void)loop;
    (void)revents;
    if (p->s)
        pinger_send(p);
}

static int pinger_open(struct stream *s)
{
    struct pinger *p = s->state;
    p->s = s;
    atomic_store(&p->cfg->shm->ping_ready, 1);
    pinger_send(p);
    return 0;
}

static void pinger_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct pinger *p = s->state;
    p->got += n;
    if (p->got < PING_SIZE)
        return;
    int phase = atomic_load_explicit(&p->cfg->shm->phase, memory_order_relaxed);
    if (phase == PH_IDLE || phase == PH_FLOOD)
        hist_add(&p->cfg->shm->ping[phase - PH_IDLE], now_ns() - p->t0);
    (void)d;
    ev_timer_set(&p->gap, PING_GAP_MS / 1e3, 0);
    ev_timer_start(p->loop, &p->gap);
}

static void pinger_close(struct stream *s)
{
    struct pinger *p = s->state;
    p->s = NULL;
    if (atomic_load(&p->cfg->shm->phase) != PH_STOP)
        atomic_fetch_add(&p->cfg->shm->pings_failed, 1);
}

static const struct protocol pinger_proto = {
    .id = PING_PROTOCOL_ID,
    .on_open = pinger_open,
    .on_data = pinger_data,
    .on_close = pinger_close,
};

static void pinger_ready(struct conn *c, void *user)
{
    if (conn_open_stream(c, &pinger_proto, user) == NULL)
        atomic_fetch_add(&((struct pinger *)user)->cfg->shm->pings_failed, 1);
}

static void pinger_closed(struct conn *c, void *user, const char *reason)
{
    struct pinger *p = user;
    (void)c;
    if (atomic_load(&p->cfg->shm->phase) == PH_STOP)
        return;
    fprintf(stderr, "rdv-bench: flood: the pinging client's connection closed: %s\n", reason);
    atomic_fetch_add(&p->cfg->shm->pings_failed, 1);
}

static const struct conn_events pinger_events = {.on_ready = pinger_ready, .on_closed = pinger_closed};

static void pinger_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct pinger *p = t->data;
    (void)revents;
    if (atomic_load(&p->cfg->shm->phase) == PH_STOP || getppid() != p->parent)
        ev_break(loop, EVBREAK_ALL);
}

static int pinger_main(const struct flood_cfg *cfg)
{
    struct pinger *p = xcalloc(1, sizeof(*p));
    struct privkey k;
    char err[256];

    p->cfg = cfg;
    p->parent = getppid();
    p->loop = ev_loop_new(EVBACKEND_EPOLL);
    log_init(&p->log, LOG_ERROR, LOG_TEXT, stderr);
    privkey_generate(&k);
    host_init(&p->host, p->loop, &p->log, &k, NULL);
    privkey_wipe(&k);
    ev_timer_init(&p->gap, pinger_gap, 0, 0);
    p->gap.data = p;
    ev_timer_init(&p->tick, pinger_tick, 0.02, 0.02);
    p->tick.data = p;
    ev_timer_start(p->loop, &p->tick);
    if (host_dial(&p->host, cfg->addr, &pinger_events, p, err, sizeof(err)) == NULL) {
        fprintf(stderr, "rdv-bench: flood: dial: %s\n", err);
        atomic_fetch_add(&cfg->shm->pings_failed, 1);
    } else {
        ev_run(p->loop, 0);
    }
    ev_timer_stop(p->loop, &p->gap);
    ev_timer_stop(p->loop, &p->tick);
    host_free(&p->host);
    ev_loop_destroy(p->loop);
    free(p);
    return 0;
}

static int flood_worker_main(int idx, int wfd, void *arg)
{
    (void)wfd;
    if (sodium_init() < 0)
        return 1;
    return idx == 0 ? pinger_main(arg) : flooder_main(arg, idx);
}

/* ---- parent --------------------------------------------------------------- */

static void flood_counts(struct flood_shm *shm, int n, uint64_t v[3])
{
    v[0] = shm_sum(shm->attempts, n);
    v[1] = shm_sum(shm->answered, n);
    v[2] = shm_sum(shm->refused, n);
}

int run_flood(const struct bench_opts *o, struct bench_table *t)
{
    struct server srv;
    struct workers ws;
    struct bench_row *row = table_add(t, "msg1 flood");
    int procs = o->procs > 0 ? o->procs : 1;
    double measure = o->seconds > 0 ? o->seconds : o->quick ? 4 : 10;
    char idle[64], flood[64];

    if (row == NULL)
        return -1;
    snprintf(row->params, sizeof(row->params), "1 address, %d in flight", procs * FLOOD_INFLIGHT);
    snprintf(row->figure, sizeof(row->figure), "failed");
    if (rdv_server_start_admission(&srv, o->daemon) < 0)
        return -1;
    struct flood_shm *shm = shm_alloc(sizeof(*shm));
    struct flood_cfg cfg = {.addr = srv.addr, .port = srv.port, .shm = shm};
    int rc = -1;
    if (workers_start(&ws, 1 + procs, flood_worker_main, &cfg) < 0)
        goto out;
    for (int i = 0; i < 500 && !atomic_load(&shm->ping_ready); i++)
        usleep(10000);
    if (!atomic_load(&shm->ping_ready)) {
        fprintf(stderr, "rdv-bench: flood: the pinging client did not connect\n");
        goto out;
    }
    atomic_store(&shm->phase, PH_IDLE);
    usleep((useconds_t)(measure * 1e6));
    uint64_t c0[3], c1[3];
    flood_counts(shm, ws.n, c0);
    double cpu0 = proc_cpu(srv.pid), t0 = now_s();
    atomic_store(&shm->phase, PH_FLOOD);
    usleep((useconds_t)(measure * 1e6));
    flood_counts(shm, ws.n, c1);
    double cpu1 = proc_cpu(srv.pid), t1 = now_s();
    atomic_store(&shm->phase, PH_STOP);
    workers_wait(&ws, 20);

    double el = t1 - t0;
    hist_format(&shm->ping[0], idle, sizeof(idle), false);
    hist_format(&shm->ping[1], flood, sizeof(flood), false);
    snprintf(row->figure, sizeof(row->figure),
             "%.0f attempts/s: %.0f refused/s, %.0f answered/s (server %.0f%% CPU)%s",
             (double)(c1[0] - c0[0]) / el, (double)(c1[2] - c0[2]) / el,
             (double)(c1[1] - c0[1]) / el, 100 * (cpu1 - cpu0) / el,
             atomic_load(&shm->pings_failed) ? "; PING FAILED" : "");
    uint64_t p99i = hist_quantile(&shm->ping[0], 0.99), p99f = hist_quantile(&shm->ping[1], 0.99);
    snprintf(row->latency, sizeof(row->latency), "ping p50/p99 ms: idle %.3f/%.3f, flood %.3f/%.3f",
             hist_quantile(&shm->ping[0], 0.5) / 1e6, p99i / 1e6,
             hist_quantile(&shm->ping[1], 0.5) / 1e6, p99f / 1e6);
    snprintf(row->target, sizeof(row->target), "flood p99 %.1fx idle (<= 10x)",
             p99i ? (double)p99f / (double)p99i : 0.0);
    if (o->verbose)
        fprintf(stderr, "rdv-bench: flood: idle %s (%llu pings), flood %s (%llu pings)\n", idle,
                (unsigned long long)shm->ping[0].n, flood, (unsigned long long)shm->ping[1].n);
    rc = atomic_load(&shm->pings_failed) ? -1 : 0;
out:
    atomic_store(&shm->phase, PH_STOP);
    workers_wait(&ws, 20);
    server_stop(&srv);
    shm_free(shm, sizeof(*shm));
    return rc;
}
