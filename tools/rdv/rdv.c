/* rdv: command-line client for rendezvousd and other libp2p peers. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <sodium.h>

#include "base/log.h"
#include "crypto/key.h"
#include "host/host.h"
#include "host/identify.h"
#include "host/ping.h"

struct client {
    struct host host;
    struct log log;
    struct conn *conn;
    const char *server;
    ev_timer deadline;
    int exit_code;
    bool done;
    /* ping */
    int count, sent, received;
    uint8_t payload[PING_SIZE];
    size_t got;
    ev_tstamp started;
};

static void client_finish(struct client *cl, int code)
{
    if (cl->done)
        return;
    cl->done = true;
    cl->exit_code = code;
    if (cl->conn)
        conn_close(cl->conn, "done");
    ev_break(cl->host.loop, EVBREAK_ALL);
}

static void client_fail(struct client *cl, const char *fmt, const char *arg)
{
    if (cl->done)
        return;
    fprintf(stderr, "rdv: ");
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    client_finish(cl, 1);
}

/* ---- ping ------------------------------------------------------------- */

static void ping_send(struct stream *s, struct client *cl)
{
    randombytes_buf(cl->payload, sizeof(cl->payload));
    cl->got = 0;
    cl->started = ev_time();
    cl->sent++;
    stream_write(s, cl->payload, sizeof(cl->payload));
}

static int ping_client_open(struct stream *s)
{
    ping_send(s, s->state);
    return 0;
}

static void ping_client_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct client *cl = s->state;

    for (size_t i = 0; i < n; i++, cl->got++) {
        if (cl->got >= PING_SIZE || d[i] != cl->payload[cl->got]) {
            client_fail(cl, "%s answered ping with different bytes", cl->conn->remote_text);
            return;
        }
    }
    if (cl->got < PING_SIZE)
        return;
    cl->received++;
    printf("pong from %s in %.3f ms\n", cl->conn->remote_text, (ev_time() - cl->started) * 1e3);
    fflush(stdout);
    if (cl->received == cl->count) {
        stream_close(s);
        client_finish(cl, 0);
    } else {
        ping_send(s, cl);
    }
}

static void ping_client_close(struct stream *s)
{
    struct client *cl = s->state;
    if (!s->opened)
        client_fail(cl, "peer does not support %s", PING_PROTOCOL_ID);
    else if (cl->received < cl->count)
        client_fail(cl, "%s closed the ping stream early", cl->conn->remote_text);
}

static const struct protocol ping_client = {
    .id = PING_PROTOCOL_ID,
    .on_open = ping_client_open,
    .on_data = ping_client_data,
    .on_close = ping_client_close,
};

static void ping_on_ready(struct conn *c, void *user)
{
    struct client *cl = user;
    if (conn_open_stream(c, &ping_client, cl) == NULL)
        client_fail(cl, "cannot open a stream to %s", c->remote_text);
}

/* ---- common ----------------------------------------------------------- */

static void on_closed(struct conn *c, void *user, const char *reason)
{
    struct client *cl = user;
    (void)c;
    cl->conn = NULL;
    if (!cl->done) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%s: %s", cl->server, reason);
        client_fail(cl, "cannot use %s", msg);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *cl = w->data;
    (void)loop;
    (void)revents;
    client_fail(cl, "timed out talking to %s", cl->server);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: rdv COMMAND [OPTIONS]\n"
            "\n"
            "Commands:\n"
            "  ping --server MULTIADDR [--count N]   ping a libp2p peer (/ipfs/ping/1.0.0)\n"
            "\n"
            "Common options:\n"
            "  -s, --server MULTIADDR   the peer to talk to, e.g. /ip4/127.0.0.1/tcp/8000/p2p/12D3KooW...\n"
            "  -k, --key FILE           identity key file (default: a new identity per run)\n"
            "  -t, --timeout SECONDS    give up after this long (default 10)\n"
            "  -v, --verbose            log connection events to stderr\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'}, {"count", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},    {"timeout", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct client cl;
    struct conn_events events = {.on_closed = on_closed};
    const char *key_file = NULL;
    double timeout = 10;
    char err[256];
    int ch, verbose = 0;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *cmd = argv[1];
    memset(&cl, 0, sizeof(cl));
    cl.count = 1;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "s:c:k:t:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': cl.server = optarg; break;
        case 'c': cl.count = atoi(optarg); break;
        case 'k': key_file = optarg; break;
        case 't': timeout = atof(optarg); break;
        case 'v': verbose = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (strcmp(cmd, "ping") != 0) {
        fprintf(stderr, "rdv: unknown command '%s'\n", cmd);
        usage(stderr);
        return 2;
    }
    if (cl.server == NULL || cl.count < 1 || timeout <= 0) {
        fprintf(stderr, "rdv: %s needs --server MULTIADDR (and --count >= 1)\n", cmd);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    log_init(&cl.log, verbose ? LOG_DEBUG : LOG_ERROR, LOG_TEXT, stderr);

    struct privkey key;
    if (key_file) {
        int created;
        if (keyfile_load_or_create(key_file, &key, &created, err, sizeof(err)) < 0) {
            fprintf(stderr, "rdv: key file %s: %s\n", key_file, err);
            return 1;
        }
    } else {
        privkey_generate(&key);
    }
    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    host_init(&cl.host, loop, &cl.log, &key, NULL);
    privkey_wipe(&key);
    host_handle(&cl.host, &identify_protocol);
    host_handle(&cl.host, &ping_protocol);
    events.on_ready = ping_on_ready;

    cl.conn = host_dial(&cl.host, cl.server, &events, &cl, err, sizeof(err));
    if (cl.conn == NULL) {
        fprintf(stderr, "rdv: cannot dial %s\n", err);
        host_free(&cl.host);
        return 1;
    }
    ev_timer_init(&cl.deadline, on_deadline, timeout, 0);
    cl.deadline.data = &cl;
    ev_timer_start(loop, &cl.deadline);
    ev_run(loop, 0);
    /* Let the close (and its Go Away) reach the socket before exiting. */
    ev_timer_stop(loop, &cl.deadline);
    host_drain(&cl.host, 1.0);
    ev_run(loop, 0);
    host_free(&cl.host);
    ev_loop_destroy(loop);
    return cl.exit_code;
}
