/* libFuzzer target for a whole server-side connection: the daemon's host
 * (identify, ping and the three rendezvous dialects registered) reads from
 * one end of a socket pair, the harness writes to the other and runs the
 * event loop, so input goes through conn_on_read, conn_process, the
 * transport framing, multistream-select, Noise, yamux, stream negotiation
 * and the handlers, and output through the flush hook and the socket.
 *
 * Input: a mode byte, then chunks [u16 BE length][bytes], each written to
 * the socket (the loop runs after each chunk).
 *   mode bit 0 clear: the chunks are the raw byte stream from the start.
 *   mode bit 0 set: a client completes a real handshake with the server
 *     (mss /noise, Noise XX, mss /yamux/1.0.0); then each chunk is
 *     plaintext the harness seals with the client's cipher, so yamux,
 *     stream negotiation and the dialects are reached. A chunk whose
 *     length has the top bit set goes out raw instead (tampered frames).
 *   mode bit 1 set: small limits (streams, output, messages).
 * The server is made and freed per input, with libsodium's randomness
 * replaced by a generator reset per input, so a run is deterministic and
 * any leak shows at once.
 *
 * The client's side of the handshake does not depend on the input: a real
 * client host (on its own loop and its own random stream, so the server's
 * draws are the same with or without it) runs it once per process against
 * the same server, and what it wrote is recorded, in the pieces it wrote,
 * with its sending cipher at the end. Each secured input replays those
 * bytes to a fresh server, which runs its whole side of the handshake (its
 * keys and ephemeral are the same every time, so the recorded messages
 * verify), and then seals with a copy of the recorded cipher. The server's
 * key exchanges and signatures are therefore the same at every input:
 * fuzz_memo.h answers them from its table after the first. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>
#include <utlist.h>

#include "host/identify.h"
#include "host/internal.h"
#include "host/ping.h"
#include "rendezvous/push.h"
#include "rendezvous/rdv1.h"
#include "rendezvous/service.h"
#include "rendezvous/waku.h"
#include "fuzz_check.h"
#include "fuzz_memo.h"
#include "fuzz_rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* ---- the loop ------------------------------------------------------------ */

struct fz {
    struct ev_loop *loop;
    struct log log;
    struct rdv_service svc;
    int peer;                 /* our end of the socket pair */
    int forward;              /* recording: the client's socket, else -1 */
    struct host server;       /* last: host_init clears it (128 KiB) */
};

/* The client's side of a handshake, recorded once per limits setting. */
struct fz_transcript {
    struct buf bytes;         /* everything the client wrote, in order */
    size_t cuts[64];          /* where each of its writes ended */
    size_t ncuts;
    struct noise_cipher tx;   /* its sending cipher once it was done */
};

/* Made once (LLVMFuzzerInitialize). */
static struct {
    FILE *log_out;            /* the server's log: formatted, then dropped */
    struct privkey server_key, client_key;
    struct fz_transcript hs[2]; /* [small limits] */
} fz_once;

static ssize_t fz_discard(void *cookie, const char *b, size_t n)
{
    (void)cookie;
    (void)b;
    return (ssize_t)n;
}

/* Reads what the server wrote: dropped, or passed to the client when
 * recording; true if anything came. */
static bool fz_drain(struct fz *f)
{
    static uint8_t sink[65536];
    bool any = false;
    for (;;) {
        ssize_t r = read(f->peer, sink, sizeof(sink));
        if (r <= 0)
            return any;
        if (f->forward >= 0)
            CHECK(write(f->forward, sink, (size_t)r) == r);
        any = true;
    }
}

static void fz_pump(struct fz *f)
{
    for (int i = 0; i < 8; i++) {
        ev_run(f->loop, EVRUN_NOWAIT);
        if (!fz_drain(f) && f->server.dirty == NULL && i > 1)
            break;
    }
}

/* Writes all of d, running the loop when the socket is full. */
static void fz_write(struct fz *f, const uint8_t *d, size_t n)
{
    for (int spins = 0; n > 0 && f->peer >= 0 && spins < 64;) {
        ssize_t w = write(f->peer, d, n);
        if (w > 0) {
            d += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN)
            return; /* the server closed */
        fz_pump(f);
        spins++;
    }
}

/* The client's sealed frame of one chunk of plaintext. */
static void fz_write_sealed(struct fz *f, struct noise_cipher *tx, const uint8_t *d, size_t n)
{
    static uint8_t frame[2 + NOISE_MAX_MSG];
    if (n > NOISE_MAX_PLAINTEXT)
        n = NOISE_MAX_PLAINTEXT;
    frame[0] = (uint8_t)((n + NOISE_TAG_LEN) >> 8);
    frame[1] = (uint8_t)(n + NOISE_TAG_LEN);
    CHECK(noise_seal(tx, d, n, frame + 2) == 0);
    fz_write(f, frame, n + NOISE_TAG_LEN + 2);
}

static void fz_limits(struct host_limits *lim, bool small)
{
    host_limits_default(lim);
    lim->handshake_timeout = lim->idle_timeout = 1e6; /* no timer fires within a run */
    if (small) {
        lim->max_streams = 4;
        lim->max_out = 4096;
    }
}

static void fz_setup(struct fz *f, bool small)
{
    struct host_limits lim;
    struct rdv_config cfg;
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(f, 0, offsetof(struct fz, server));
    f->loop = ev_default_loop(0);
    f->forward = -1;
    /* Every message is formatted (peer-controlled text reaches the log). */
    log_init(&f->log, LOG_TRACE, LOG_JSON, fz_once.log_out);
    fz_limits(&lim, small);
    host_init(&f->server, f->loop, &f->log, &fz_once.server_key, &lim);
    host_handle(&f->server, &identify_protocol);
    host_handle(&f->server, &ping_protocol);
    rdv_config_default(&cfg);
    if (small) {
        cfg.max_message = 1024;
        cfg.out_hard_limit = 2048;
        cfg.limits.max_regs_total = 4;
    }
    /* Wired as the daemon wires them (main.c). */
    rdv_service_init(&f->svc, &f->server, &cfg);
    push_init(&f->svc);
    rdv1_init(&f->svc);
    waku_init(&f->svc);
    registry_listen(&f->svc.reg, &push_registry_events, &f->svc);
    host_handle(&f->server, &f->svc.push);
    for (size_t i = 0; i < f->svc.cfg.rdv1_ids.n; i++)
        host_handle(&f->server, &f->svc.rdv1[i]);
    for (size_t i = 0; i < f->svc.cfg.waku_ids.n; i++)
        host_handle(&f->server, &f->svc.waku[i]);
    host_seal_record(&f->server);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    conn_new(&f->server, sv[0], false, false, (struct sockaddr *)&sa, sizeof(sa), false);
    f->peer = sv[1];
}

static void fz_teardown(struct fz *f)
{
    if (f->peer >= 0)
        close(f->peer);
    for (unsigned i = 0; i < HOST_CONN_LISTS; i++)
        for (struct conn *c; (c = host_conn_list(&f->server, i)) != NULL;)
            conn_destroy(c);
    CHECK(f->server.nconns == 0);
    host_free(&f->server);
    rdv_service_free(&f->svc);
    push_free(&f->svc);
}

/* ---- the recorded client ------------------------------------------------- */

struct fz_client {
    struct ev_loop *loop;
    struct host host;
    uint64_t rng;             /* its own random stream (fuzz_rng_state) */
    bool ready;
};

static void fz_on_ready(struct conn *c, void *user)
{
    struct fz_client *cl = user;
    (void)c;
    cl->ready = true;
}

static const struct conn_events fz_client_events = {.on_ready = fz_on_ready};

/* Runs the client's loop once on the client's random stream. */
static void fz_client_run(struct fz_client *cl)
{
    uint64_t server_rng = fuzz_rng_state;
    fuzz_rng_state = cl->rng;
    ev_run(cl->loop, EVRUN_NOWAIT);
    cl->rng = fuzz_rng_state;
    fuzz_rng_state = server_rng;
}

/* Moves what the client wrote (on its socket's other end, fd) to the
 * server, as one recorded piece. */
static void fz_client_pass(struct fz *f, struct fz_transcript *t, int fd)
{
    uint8_t b[65536];
    size_t start = buf_size(&t->bytes);
    ssize_t r;
    while ((r = read(fd, b, sizeof b)) > 0)
        buf_append(&t->bytes, b, (size_t)r);
    if (buf_size(&t->bytes) == start)
        return;
    CHECK(t->ncuts < sizeof t->cuts / sizeof *t->cuts);
    t->cuts[t->ncuts++] = buf_size(&t->bytes);
    fz_write(f, buf_head(&t->bytes) + start, buf_size(&t->bytes) - start);
}

/* Runs one handshake between a server set up as for an input and a real
 * client host dialing it, with the harness between them. */
static void fz_record(struct fz_transcript *t, bool small)
{
    static struct fz f;
    static struct fz_client cl;
    struct host_limits lim;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int cv[2];

    fuzz_rng_reset();
    fz_setup(&f, small);
    memset(&cl, 0, sizeof cl);
    cl.rng = 0xc11e47; /* anything but the server's stream */
    cl.loop = ev_loop_new(EVFLAG_AUTO);
    CHECK(cl.loop != NULL);
    fz_limits(&lim, small);
    uint64_t server_rng = fuzz_rng_state;
    fuzz_rng_state = cl.rng;
    host_init(&cl.host, cl.loop, &f.log, &fz_once.client_key, &lim);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, cv) == 0);
    struct conn *cc = conn_new(&cl.host, cv[0], true, false, (struct sockaddr *)&sa, sizeof(sa), false);
    conn_set_events(cc, &fz_client_events, &cl);
    cl.rng = fuzz_rng_state;
    fuzz_rng_state = server_rng;

    f.forward = cv[1];
    for (int i = 0; i < 64 && !cl.ready; i++) {
        fz_client_run(&cl);
        fz_client_pass(&f, t, cv[1]);
        fz_pump(&f);
    }
    CHECK(cl.ready);
    /* The client stops reading (the harness speaks for it from here) and
     * writes its last negotiation bytes. */
    conn_set_reading(cc, false);
    fz_client_run(&cl);
    fz_client_pass(&f, t, cv[1]);
    fz_pump(&f);
    t->tx = cc->tx;
    CHECK(f.server.established != NULL && f.server.established->mux_ready && !f.server.established->closing);
    f.forward = -1;

    host_free(&cl.host); /* closes cv[0] */
    close(cv[1]);
    ev_loop_destroy(cl.loop);
    fz_teardown(&f);
}

/* What the client wrote during the handshake, in the same pieces; the
 * server must be where it was at the end of the recording. */
static void fz_replay(struct fz *f, const struct fz_transcript *t)
{
    size_t at = 0;
    for (size_t i = 0; i < t->ncuts; i++) {
        fz_write(f, buf_head(&t->bytes) + at, t->cuts[i] - at);
        at = t->cuts[i];
        fz_pump(f);
    }
    CHECK(f->server.established != NULL && f->server.established->mux_ready && !f->server.established->closing);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN); /* as the daemon does: a closed peer is an error code */
    CHECK(fuzz_rng_install() == 0);
    /* FUZZ_CONN_LOG set: the server's log is shown (to see what a seed does). */
    fz_once.log_out = getenv("FUZZ_CONN_LOG")
                          ? stderr
                          : fopencookie(NULL, "w", (cookie_io_functions_t){.write = fz_discard});
    CHECK(fz_once.log_out != NULL);
    fuzz_rng_reset();
    privkey_generate(&fz_once.server_key);
    privkey_generate(&fz_once.client_key);
    fz_record(&fz_once.hs[0], false);
    fz_record(&fz_once.hs[1], true);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;
    struct noise_cipher tx;

    if (size < 1)
        return 0;
    fuzz_rng_reset();
    fz_setup(&f, data[0] & 2);
    bool secured = data[0] & 1;
    if (secured) {
        fz_replay(&f, &fz_once.hs[(data[0] & 2) != 0]);
        tx = fz_once.hs[(data[0] & 2) != 0].tx;
    }
    size_t off = 1;
    while (off + 2 <= size && f.peer >= 0) {
        size_t n = (size_t)data[off] << 8 | data[off + 1];
        bool raw = !secured || (n & 0x8000);
        n &= 0x7fff;
        off += 2;
        if (n > size - off)
            n = size - off;
        if (raw)
            fz_write(&f, data + off, n);
        else
            fz_write_sealed(&f, &tx, data + off, n);
        off += n;
        fz_pump(&f);
    }
    fz_teardown(&f);
    return 0;
}
