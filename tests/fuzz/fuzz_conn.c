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
 *   mode bit 0 set: a client host in the same process first completes a
 *     real handshake (mss /noise, Noise XX, mss /yamux/1.0.0); then each
 *     chunk is plaintext the harness seals with the client's cipher, so
 *     yamux, stream negotiation and the dialects are reached. A chunk whose
 *     length has the top bit set goes out raw instead (tampered frames).
 *   mode bit 1 set: small limits (streams, output, messages).
 * Everything is made and freed per input, with libsodium's randomness
 * replaced by a generator reset per input, so a run is deterministic and
 * any leak shows at once. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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
#include "fuzz_rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN); /* as the daemon does: a closed peer is an error code */
    CHECK(fuzz_rng_install() == 0);
    return 0;
}

/* ---- the loop ------------------------------------------------------------ */

struct fz {
    struct ev_loop *loop;
    struct log log;
    struct host server, client;
    struct rdv_service svc;
    int peer;                 /* our end of the socket pair */
    struct conn *cc;          /* the client's connection (secured mode) */
    bool ready;
};

/* Reads and drops what the server wrote; true if anything came. */
static bool fz_drain(struct fz *f)
{
    uint8_t sink[65536];
    bool any = false;
    for (;;) {
        ssize_t r = read(f->peer, sink, sizeof(sink));
        if (r <= 0)
            return any;
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

static void fz_on_ready(struct conn *c, void *user)
{
    struct fz *f = user;
    (void)c;
    f->ready = true;
}

static void fz_on_closed(struct conn *c, void *user, const char *reason)
{
    struct fz *f = user;
    (void)c;
    (void)reason;
    f->cc = NULL;
    f->peer = -1;
}

static const struct conn_events fz_client_events = {.on_ready = fz_on_ready, .on_closed = fz_on_closed};

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
static void fz_write_sealed(struct fz *f, const uint8_t *d, size_t n)
{
    uint8_t frame[2 + NOISE_MAX_MSG];
    if (n > NOISE_MAX_PLAINTEXT)
        n = NOISE_MAX_PLAINTEXT;
    frame[0] = (uint8_t)((n + NOISE_TAG_LEN) >> 8);
    frame[1] = (uint8_t)(n + NOISE_TAG_LEN);
    CHECK(noise_seal(&f->cc->tx, d, n, frame + 2) == 0);
    fz_write(f, frame, n + NOISE_TAG_LEN + 2);
}

static void fz_setup(struct fz *f, bool small)
{
    struct privkey ks, kc;
    struct host_limits lim;
    struct rdv_config cfg;
    int sv[2];
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    memset(f, 0, sizeof(*f));
    f->loop = ev_default_loop(0);
    /* Every message is formatted (peer-controlled text reaches the log),
     * and goes nowhere unless FUZZ_CONN_LOG is set (to see what a seed does). */
    static FILE *null_out;
    if (null_out == NULL)
        null_out = getenv("FUZZ_CONN_LOG") ? stderr : fopen("/dev/null", "w");
    CHECK(null_out != NULL);
    log_init(&f->log, LOG_TRACE, LOG_JSON, null_out);
    privkey_generate(&ks);
    privkey_generate(&kc);
    host_limits_default(&lim);
    lim.handshake_timeout = lim.idle_timeout = 1e6; /* no timer fires within a run */
    if (small) {
        lim.max_streams = 4;
        lim.max_out = 4096;
    }
    host_init(&f->server, f->loop, &f->log, &ks, &lim);
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
    host_init(&f->client, f->loop, &f->log, &kc, &lim);
    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    conn_new(&f->server, sv[0], false, false, (struct sockaddr *)&sa, sizeof(sa));
    f->peer = sv[1];
}

static void fz_teardown(struct fz *f)
{
    struct conn *c, *tmp;

    if (f->cc)
        conn_destroy(f->cc); /* closes f->peer */
    else if (f->peer >= 0)
        close(f->peer);
    DL_FOREACH_SAFE(f->server.conns, c, tmp)
        conn_destroy(c);
    CHECK(f->server.nconns == 0);
    host_free(&f->client);
    host_free(&f->server);
    rdv_service_free(&f->svc);
    push_free(&f->svc);
}

/* The client host dials over the pair: the real handshake, both sides in
 * this loop. Then the harness takes the client's socket over. */
static bool fz_handshake(struct fz *f)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = f->peer;
    f->cc = conn_new(&f->client, fd, true, false, (struct sockaddr *)&sa, sizeof(sa));
    f->cc->events = &fz_client_events;
    f->cc->user = f;
    for (int i = 0; i < 64 && !f->ready && f->cc; i++)
        ev_run(f->loop, EVRUN_NOWAIT);
    if (!f->ready || f->cc == NULL)
        return false;
    /* The client stops reading: what the server sends is drained by us. */
    ev_io_stop(f->loop, &f->cc->rio);
    ev_run(f->loop, EVRUN_NOWAIT); /* the client's last negotiation bytes */
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;

    if (size < 1)
        return 0;
    fuzz_rng_reset();
    fz_setup(&f, data[0] & 2);
    bool secured = data[0] & 1;
    if (secured)
        CHECK(fz_handshake(&f));
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
            fz_write_sealed(&f, data + off, n);
        off += n;
        fz_pump(&f);
    }
    fz_teardown(&f);
    return 0;
}
