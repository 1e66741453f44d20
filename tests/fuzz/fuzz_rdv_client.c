/* libFuzzer target for the client side against a hostile server: the rdv
 * tool's commands (push watch/register/discover, /rendezvous/1.0.0 and Waku
 * register/discover/unregister, ping) run on librendezvous
 * (src/client/client.c), whose client connects over a socket pair; a
 * server host in the same process completes the real handshake and agrees
 * to the streams the command opens, and then the input is what the server
 * sends on the last of them. A server must not be able to crash a client,
 * whatever it answers.
 *
 * Input: a command byte (which command, dialect, --json), then chunks
 * [u16 BE header][bytes]; the header's top two bits say what to do, the
 * rest is the length:
 *   0: the bytes as stream data to the client (framed by the server's yamux);
 *   1: the bytes as raw plaintext sealed with the server's cipher (yamux
 *      frames of the fuzzer's making: bad headers, windows, streams);
 *   2: the server half-closes the stream;  3: the server resets it.
 * The tool's output goes to /dev/null (FUZZ_RDV_CLIENT_OUT=1: to stderr). Deterministic (fuzz_rng.h) and
 * everything freed per input. The keys and the handshake are therefore the
 * same at every input: fuzz_memo.h answers their X25519 and Ed25519
 * operations from its table after the first. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <utlist.h>

#include "client/client_internal.h"
#include "host/identify.h"
#include "host/internal.h"
#include "host/ping.h"
#include "fuzz_check.h"
#include "fuzz_memo.h"
#include "fuzz_rng.h"

/* The tool, with its printing sent to fz_tool_out and its main renamed. */
static FILE *fz_tool_out;
#undef stdout
#undef stderr
#define stdout fz_tool_out
#define stderr fz_tool_out
#define printf(...) fprintf(fz_tool_out, __VA_ARGS__)
#define puts(s) (fputs((s), fz_tool_out), fputc('\n', fz_tool_out))
#define putchar(c) fputc((c), fz_tool_out)
#define main rdv_tool_main
#include "../../tools/rdv/rdv.c"
#include "../../tools/rdv/cmd_keys.c"
#include "../../tools/rdv/cmd_ping.c"
#include "../../tools/rdv/cmd_push.c"
#include "../../tools/rdv/cmd_rdv1.c"
#undef main
#undef putchar
#undef puts
#undef printf
#undef stderr
#undef stdout

#include "rendezvous/service.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN); /* as rdv does */
    CHECK(fuzz_rng_install() == 0);
    /* FUZZ_RDV_CLIENT_OUT set: the tool's output is shown (to see what a seed does). */
    fz_tool_out = getenv("FUZZ_RDV_CLIENT_OUT") ? stderr : fopen("/dev/null", "w");
    CHECK(fz_tool_out != NULL);
    return 0;
}

struct fz {
    struct ev_loop *loop;
    struct log log;
    struct client cl;
    struct stream *srv;       /* the server's side of the command's stream */
    struct protocol protos[5];
    struct host server;       /* last: host_init clears it (128 KiB) */
};

static int fz_srv_open(struct stream *s)
{
    struct fz *f = s->proto->arg;
    f->srv = s;
    return 0;
}

static void fz_srv_data(struct stream *s, const uint8_t *d, size_t n)
{
    (void)s;
    (void)d;
    (void)n;
}

static void fz_srv_eof(struct stream *s) { (void)s; }

static void fz_srv_close(struct stream *s)
{
    struct fz *f = s->proto->arg;
    if (f->srv == s)
        f->srv = NULL;
}

static void fz_pump(struct fz *f)
{
    for (int i = 0; i < 6; i++)
        ev_run(f->loop, EVRUN_NOWAIT);
}

/* The commands, as `rdv NAME [--dialect D]`. */
static const struct {
    const struct command *cmd;
    const char *dialect;
} fz_commands[] = {
    {&cmd_watch, NULL},      {&cmd_register, NULL},         {&cmd_discover, NULL},
    {&cmd_register, "standard"}, {&cmd_discover, "standard"}, {&cmd_unregister, NULL},
    {&cmd_register, "waku"}, {&cmd_discover, "waku"},         {&cmd_ping, NULL},
};
#define FZ_NCOMMANDS (sizeof(fz_commands) / sizeof(fz_commands[0]))

static void fz_setup(struct fz *f, uint8_t choice)
{
    static const char *const ids[] = {PUSH_PROTOCOL_ID, RDV1_PROTOCOL_ID, WAKU_PROTOCOL_ID,
                                      PING_PROTOCOL_ID, IDENTIFY_PROTOCOL_ID};
    static const char *const addrs[] = {"/ip4/10.0.0.1/tcp/4001"};
    struct privkey ks;
    struct host_limits lim;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int sv[2];
    char err[256];

    memset(f, 0, offsetof(struct fz, server));
    f->loop = ev_default_loop(0);
    log_init(&f->log, LOG_ERROR, LOG_TEXT, fz_tool_out);
    host_limits_default(&lim);
    lim.handshake_timeout = lim.idle_timeout = 1e6;
    privkey_generate(&ks);
    host_init(&f->server, f->loop, &f->log, &ks, &lim);
    for (size_t i = 0; i < 5; i++) {
        f->protos[i] = (struct protocol){.id = ids[i], .on_open = fz_srv_open,
                                         .on_data = fz_srv_data, .on_eof = fz_srv_eof,
                                         .on_close = fz_srv_close, .arg = f};
        host_handle(&f->server, &f->protos[i]);
    }

    struct client *cl = &f->cl;
    cl->loop = f->loop;
    cl->o.server = "/ip4/127.0.0.1/tcp/1";
    cl->o.ns = "a";
    cl->o.dialect = fz_commands[(choice & 0x7f) % FZ_NCOMMANDS].dialect;
    cl->o.json = choice & 0x80;
    cl->o.count = 2;
    cl->o.timeout = cl->o.keepalive = 1e6;
    cl->o.addrs[0] = addrs[0];
    cl->o.naddrs = cl->o.dialect || fz_commands[(choice & 0x7f) % FZ_NCOMMANDS].cmd == &cmd_register;
    cl->cmd = fz_commands[(choice & 0x7f) % FZ_NCOMMANDS].cmd;
    ev_timer_init(&cl->deadline, on_deadline, cl->o.timeout, 0);
    cl->deadline.data = cl;

    CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    conn_new(&f->server, sv[0], false, false, (struct sockaddr *)&sa, sizeof(sa), false);
    rdv_client_options opt = {
        .server = cl->o.server, .on_state = on_state, .on_refused = on_refused, .arg = cl,
        .keepalive_s = cl->o.keepalive, .connect_timeout_s = cl->o.timeout,
    };
    cl->rc = client_new_on_socket(f->loop, &opt, sv[1], err, sizeof err);
    CHECK(cl->rc != NULL);
    cl->cmd->start(cl);
}

static void fz_teardown(struct fz *f)
{
    f->cl.done = true;
    rdv_client_free(f->cl.rc);
    for (unsigned i = 0; i < HOST_CONN_LISTS; i++)
        for (struct conn *c; (c = host_conn_list(&f->server, i)) != NULL;)
            conn_destroy(c);
    ev_timer_stop(f->loop, &f->cl.deadline);
    if (f->cl.cmd->on_exit)
        f->cl.cmd->on_exit(&f->cl);
    host_free(&f->server);
}

/* Seals plaintext with the server connection's cipher and writes it to
 * the client, after what the server connection has queued. */
static void fz_send_raw(struct fz *f, const uint8_t *d, size_t n)
{
    struct conn *c = f->server.established;
    uint8_t frame[2 + NOISE_MAX_MSG];
    if (c == NULL || c->closing || !c->mux_ready || (c->out && buf_size(c->out)))
        return;
    if (n > NOISE_MAX_PLAINTEXT)
        n = NOISE_MAX_PLAINTEXT;
    frame[0] = (uint8_t)((n + NOISE_TAG_LEN) >> 8);
    frame[1] = (uint8_t)(n + NOISE_TAG_LEN);
    CHECK(noise_seal(&c->tx, d, n, frame + 2) == 0);
    if (send(c->io.fd, frame, n + NOISE_TAG_LEN + 2, MSG_NOSIGNAL) < 0)
        CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct fz f;

    if (size < 1)
        return 0;
    fuzz_rng_reset();
    fz_setup(&f, data[0]);
    /* The handshake, and the command's stream agreed (or the command over). */
    for (int i = 0; i < 16 && f.srv == NULL && !f.cl.done; i++)
        fz_pump(&f);
    size_t off = 1;
    while (off + 2 <= size && !f.cl.done) {
        unsigned kind = data[off] >> 6;
        size_t n = ((size_t)(data[off] & 0x3f) << 8) | data[off + 1];
        off += 2;
        if (n > size - off)
            n = size - off;
        if (kind == 0 && f.srv)
            stream_write(f.srv, data + off, n);
        else if (kind == 1)
            fz_send_raw(&f, data + off, n);
        else if (kind == 2 && f.srv)
            stream_close(f.srv);
        else if (kind == 3 && f.srv)
            stream_reset(f.srv);
        off += n;
        fz_pump(&f);
    }
    fz_teardown(&f);
    return 0;
}
