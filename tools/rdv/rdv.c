/* rdv: command-line client for rendezvousd and other libp2p peers.
 * Parses options, dials --server, runs one command and exits with its code
 * (0 ok, 1 failure, 2 usage). */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/key.h"
#include "host/identify.h"
#include "host/ping.h"
#include "rdv.h"

static const struct command *const commands[] = {
    &cmd_ping,
    &cmd_watch,
    &cmd_register,
    &cmd_discover,
    &cmd_unregister,
    &cmd_keygen,
    &cmd_id,
};

void client_finish(struct client *cl, int code)
{
    if (cl->done)
        return;
    cl->done = true;
    cl->exit_code = code;
    if (cl->conn)
        conn_close(cl->conn, "done");
    ev_break(cl->host.loop, EVBREAK_ALL);
}

void client_fail(struct client *cl, const char *fmt, ...)
{
    va_list ap;
    if (cl->done)
        return;
    fputs("rdv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    client_finish(cl, 1);
}

void client_json_string(const char *s, size_t n)
{
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

void client_no_deadline(struct client *cl) { ev_timer_stop(cl->host.loop, &cl->deadline); }

static void on_ready(struct conn *c, void *user)
{
    struct client *cl = user;
    (void)c;
    cl->cmd->on_ready(cl);
}

/* Says what to do about the usual ways a connection fails. */
static void on_closed(struct conn *c, void *user, const char *reason)
{
    struct client *cl = user;
    cl->conn = NULL;
    if (cl->done)
        return;
    if (strcmp(reason, "peer id mismatch") == 0) {
        const char *want = strstr(cl->o.server, "/p2p/");
        client_fail(cl, "%s: peer id mismatch: the peer there is %s, not %s: check the /p2p/ part (rendezvousd "
                    "prints its address with its peer id at start)", cl->o.server, c->remote_text,
                    want ? want + 5 : "the one asked for");
    } else if (strcmp(reason, strerror(ECONNREFUSED)) == 0) {
        client_fail(cl, "%s: connection refused: is rendezvousd running at that address? "
                    "(it prints its addresses at start; make run starts one)", cl->o.server);
    } else if (strcmp(reason, strerror(ETIMEDOUT)) == 0 ||
               strcmp(reason, strerror(EHOSTUNREACH)) == 0 ||
               strcmp(reason, strerror(ENETUNREACH)) == 0) {
        client_fail(cl, "%s: %s: is the address reachable from here (firewall, NAT)?",
                    cl->o.server, reason);
    } else {
        client_fail(cl, "%s: %s", cl->o.server, reason);
    }
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *cl = w->data;
    (void)loop;
    (void)revents;
    client_fail(cl, "timed out talking to %s", cl->o.server);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct client *cl = w->data;
    (void)loop;
    (void)revents;
    client_finish(cl, 0); /* interrupting a long-running command is its normal end */
}

static void usage_options(FILE *f);

static void usage(FILE *f)
{
    fprintf(f, "Usage: rdv COMMAND --server MULTIADDR [OPTIONS] [NS]\n"
               "       rdv help COMMAND | rdv --version\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %s\n", commands[i]->usage);
    usage_options(f);
}

/* rdv help COMMAND: the command's lines (register and discover have one per
 * dialect family), then the options. */
static int help_command(const char *name)
{
    bool found = false;
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i]->name, name) == 0) {
            printf("%srdv %s\n", found ? "    " : "Usage: ", commands[i]->usage);
            found = true;
        }
    }
    if (!found) {
        fprintf(stderr, "rdv: unknown command '%s' (rdv --help lists them)\n", name);
        return 2;
    }
    usage_options(stdout);
    return 0;
}

static void usage_options(FILE *f)
{
    fprintf(f,
            "\nOptions:\n"
            "  -s, --server MULTIADDR   the peer, e.g. /ip4/127.0.0.1/tcp/8000/p2p/12D3KooW...\n"
            "  -k, --key FILE           identity key file (default: a new identity per run)\n"
            "  -d, --dialect D          push (default for watch), standard or waku\n"
            "      --protocol ID        override the dialect's protocol id\n"
            "  -c, --count N            ping: round trips (1)\n"
            "      --ttl SECONDS        standard/waku register: requested TTL\n"
            "  -n, --limit N            discover: most registrations to return\n"
            "      --cookie HEX         standard discover: continue after this cookie\n"
            "      --addr MULTIADDR     register, watch --register: an address to register\n"
            "                           (push) or to put in our signed peer record\n"
            "                           (standard/waku), repeatable (default: none in push\n"
            "                           mode, the address the server sees us at otherwise)\n"
            "      --metadata TEXT      push register, watch --register: presence state\n"
            "                           (a display name...) sent with the registration;\n"
            "                           members' metadata is printed as metadata=\"...\"\n"
            "  -r, --register           watch: also register in NS\n"
            "  -j, --json               one JSON object per line\n"
            "  -t, --timeout SECONDS    give up after this long (10)\n"
            "      --keepalive SECONDS  watch, register: ping the server this often so it\n"
            "                           does not close the connection as idle (15)\n"
            "  -v, --verbose            log connection events to stderr\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, struct rdv_opts *o)
{
    enum { OPT_TTL = 256, OPT_COOKIE, OPT_PROTOCOL, OPT_ADDR, OPT_KEEPALIVE, OPT_METADATA };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},  {"count", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},     {"timeout", required_argument, NULL, 't'},
        {"dialect", required_argument, NULL, 'd'}, {"ttl", required_argument, NULL, OPT_TTL},
        {"limit", required_argument, NULL, 'n'},   {"cookie", required_argument, NULL, OPT_COOKIE},
        {"protocol", required_argument, NULL, OPT_PROTOCOL},
        {"addr", required_argument, NULL, OPT_ADDR},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {"metadata", required_argument, NULL, OPT_METADATA},
        {"register", no_argument, NULL, 'r'},      {"json", no_argument, NULL, 'j'},
        {"verbose", no_argument, NULL, 'v'},       {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch;

    o->count = 1;
    o->timeout = 10;
    o->keepalive = 15;
    optind = 2;
    while ((ch = getopt_long(argc, argv, "s:c:k:t:d:n:rjvh", longopts, NULL)) != -1) {
        switch (ch) {
        case 's': o->server = optarg; break;
        case 'k': o->key_file = optarg; break;
        case 'd': o->dialect = optarg; break;
        case OPT_COOKIE: o->cookie = optarg; break;
        case OPT_PROTOCOL: o->protocol = optarg; break;
        case OPT_METADATA: o->metadata = optarg; break;
        case OPT_KEEPALIVE:
            o->keepalive = atof(optarg);
            if (!(o->keepalive > 0)) {
                fprintf(stderr, "rdv: --keepalive must be a positive number of seconds\n");
                return 2;
            }
            break;
        case OPT_ADDR:
            if (o->naddrs == RDV_OPT_MAX_ADDRS) {
                fprintf(stderr, "rdv: at most %d --addr options\n", RDV_OPT_MAX_ADDRS);
                return 2;
            }
            o->addrs[o->naddrs++] = optarg;
            break;
        case 'r': o->reg = true; break;
        case 'j': o->json = true; break;
        case 'v': o->verbose = true; break;
        case 'c':
            o->count = atoi(optarg);
            if (o->count < 1) {
                fprintf(stderr, "rdv: --count must be at least 1\n");
                return 2;
            }
            break;
        case 't':
            o->timeout = atof(optarg);
            if (!(o->timeout > 0)) {
                fprintf(stderr, "rdv: --timeout must be a positive number of seconds\n");
                return 2;
            }
            break;
        case OPT_TTL:
            if (parse_u64(optarg, &o->ttl) < 0) {
                fprintf(stderr, "rdv: --ttl takes a number of seconds\n");
                return 2;
            }
            o->has_ttl = true;
            break;
        case 'n':
            if (parse_u64(optarg, &o->limit) < 0) {
                fprintf(stderr, "rdv: --limit takes a number\n");
                return 2;
            }
            o->has_limit = true;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        o->ns = argv[optind++];
    if (optind < argc) {
        fprintf(stderr, "rdv: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct client cl;
    static const struct conn_events events = {.on_ready = on_ready, .on_closed = on_closed};
    const struct command *cmd = NULL;
    char err[256];
    int rc;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        (strcmp(argv[1], "help") == 0 && argc == 2)) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0 ||
        strcmp(argv[1], "version") == 0) {
        printf("rdv %s\n", RDV_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0)
        return help_command(argv[2]);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i]->name) == 0)
            cmd = commands[i];
    if (cmd == NULL) {
        fprintf(stderr, "rdv: unknown command '%s' (rdv --help lists them)\n", argv[1]);
        return 2;
    }
    memset(&cl, 0, sizeof(cl));
    if ((rc = parse_args(argc, argv, &cl.o)) != 0)
        return rc;
    if (cmd->offline && (rc = cmd->offline(&cl.o)) >= 0)
        return rc;
    if (cl.o.server == NULL) {
        fprintf(stderr, "rdv: %s needs --server MULTIADDR\n", cmd->name);
        return 2;
    }
    if (cmd->needs_ns && cl.o.ns == NULL) {
        fprintf(stderr, "rdv: %s needs a namespace argument\n", cmd->name);
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    log_init(&cl.log, cl.o.verbose ? LOG_DEBUG : LOG_ERROR, LOG_TEXT, stderr);

    struct privkey key;
    if (cl.o.key_file) {
        int created;
        if (keyfile_load_or_create(cl.o.key_file, &key, &created, err, sizeof(err)) < 0) {
            fprintf(stderr, "rdv: %s\n", err); /* it names the file */
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

    cl.cmd = cmd;
    cl.conn = host_dial(&cl.host, cl.o.server, &events, &cl, err, sizeof(err));
    if (cl.conn == NULL) {
        fprintf(stderr, "rdv: cannot dial %s\n", err);
        host_free(&cl.host);
        return 1;
    }
    ev_timer_init(&cl.deadline, on_deadline, cl.o.timeout, 0);
    cl.deadline.data = &cl;
    ev_timer_start(loop, &cl.deadline);
    ev_signal_init(&cl.sigint, on_signal, SIGINT);
    ev_signal_init(&cl.sigterm, on_signal, SIGTERM);
    cl.sigint.data = cl.sigterm.data = &cl;
    ev_signal_start(loop, &cl.sigint);
    ev_signal_start(loop, &cl.sigterm);
    ev_unref(loop);
    ev_unref(loop);
    ev_run(loop, 0);

    /* Let the close (and its Go Away) reach the socket before exiting. */
    ev_timer_stop(loop, &cl.deadline);
    host_drain(&cl.host, 1.0);
    ev_run(loop, 0);
    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &cl.sigint);
    ev_signal_stop(loop, &cl.sigterm);
    host_free(&cl.host);
    if (cmd->on_exit)
        cmd->on_exit(&cl);
    ev_loop_destroy(loop);
    return cl.exit_code;
}
