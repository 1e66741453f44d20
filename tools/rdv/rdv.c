/* rdv: command-line client for rendezvousd and other libp2p peers, on
 * librendezvous. Parses options, creates a client for --server, runs one
 * command and exits with its code (0 ok, 1 failure, 2 usage).
 *
 * Identity: --key FILE, else $RDV_KEY, else the default identity
 * $XDG_CONFIG_HOME/rdv/identity.key (~/.config/rdv/identity.key), created
 * 0600 on first use, so that commands run one after the other are the same
 * peer. "-" (as --key or $RDV_KEY) is a fresh identity for the run. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    ev_break(cl->loop, EVBREAK_ALL);
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

void client_fail_result(struct client *cl, const rdv_result *r)
{
    if (r->error == RDV_CLIENT_ERR_REFUSED)
        client_fail(cl, "%s (status %d)", r->status_text, r->status);
    else
        client_fail(cl, "%s", r->status_text);
}

bool client_result_ok(struct client *cl, const rdv_result *r)
{
    if (cl->done)
        return false;
    if (r->error) {
        client_fail_result(cl, r);
        return false;
    }
    return true;
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

void client_no_deadline(struct client *cl) { ev_timer_stop(cl->loop, &cl->deadline); }

const char *client_server_id(const struct client *cl)
{
    const char *id = rdv_client_server_id(cl->rc);
    const char *p2p = strstr(cl->o.server, "/p2p/");
    return id ? id : p2p ? p2p + 5 : cl->o.server;
}

static bool reconnecting(const struct client *cl)
{
    return cl->cmd->reconnects && cl->cmd->reconnects(&cl->o) && !cl->o.no_reconnect;
}

/* Says what to do about the usual ways a connection fails. */
static void on_state(rdv_client *rc, int connected, const char *reason, void *arg)
{
    struct client *cl = arg;
    if (cl->done) {
        if (!connected && cl->closing)
            ev_break(cl->loop, EVBREAK_ALL); /* rdv_client_close is over */
        return;
    }
    if (connected) {
        if (cl->connected_once && reconnecting(cl))
            fprintf(stderr, "rdv: connected to %s again\n", cl->o.server);
        cl->connected_once = true;
        if (cl->cmd->on_connected)
            cl->cmd->on_connected(cl);
        return;
    }
    if (cl->connected_once && reconnecting(cl) && rdv_client_reconnects(rc)) {
        fprintf(stderr, "rdv: %s: %s; reconnecting (--no-reconnect to exit instead)\n",
                cl->o.server, reason);
        return;
    }
    if (strncmp(reason, "peer id mismatch", 16) == 0) {
        const char *want = strstr(cl->o.server, "/p2p/");
        client_fail(cl, "%s: %s, not %s: check the /p2p/ part (rendezvousd prints its address "
                    "with its peer id at start)", cl->o.server, reason,
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

static void on_refused(rdv_client *rc, const char *request, int status, const char *text, void *arg)
{
    struct client *cl = arg;
    (void)rc;
    (void)request;
    client_fail(cl, "%s (status %d)", text, status);
}

static void on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct client *cl = w->data;
    (void)loop;
    (void)revents;
    client_fail(cl, "timed out talking to %s", cl->o.server);
}

static void on_close_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    ev_break(loop, EVBREAK_ALL);
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct client *cl = w->data;
    (void)loop;
    (void)revents;
    client_finish(cl, 0); /* interrupting a long-running command is its normal end */
}

/* The default identity's path into out; its folder is created (0700). NULL
 * if there is no home to put it in. */
static const char *default_identity(char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    char dir[PATH_MAX];

    if (xdg && xdg[0] == '/')
        snprintf(dir, sizeof dir, "%s/rdv", xdg);
    else if (home && home[0])
        snprintf(dir, sizeof dir, "%s/.config/rdv", home);
    else
        return NULL;
    /* The parent (~/.config) may be missing too. */
    char *slash = strrchr(dir, '/');
    *slash = '\0';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return NULL;
    *slash = '/';
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return NULL;
    if ((size_t)snprintf(out, cap, "%s/identity.key", dir) >= cap)
        return NULL;
    return out;
}

/* --key, $RDV_KEY or the default identity; NULL: a fresh identity. */
static const char *identity_file(struct rdv_opts *o, char *buf, size_t cap)
{
    const char *env = getenv("RDV_KEY");
    const char *k = o->key_given ? o->key_file : env && env[0] ? env : NULL;
    if (k)
        return strcmp(k, "-") == 0 ? NULL : k;
    return default_identity(buf, cap);
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
            "  -k, --key FILE           identity key file (default: $RDV_KEY, else\n"
            "                           $XDG_CONFIG_HOME/rdv/identity.key, created on first\n"
            "                           use; - or RDV_KEY=-: a new identity for this run)\n"
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
            "      --no-reconnect       watch: exit when the connection is lost (default:\n"
            "                           reconnect, register and subscribe again)\n"
            "      --max-members N      watch: fail if the server announces more members\n"
            "                           than this (100000)\n"
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
    enum { OPT_TTL = 256, OPT_COOKIE, OPT_PROTOCOL, OPT_ADDR, OPT_KEEPALIVE, OPT_NO_RECONNECT,
           OPT_METADATA, OPT_MAX_MEMBERS };
    static const struct option longopts[] = {
        {"server", required_argument, NULL, 's'},  {"count", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'k'},     {"timeout", required_argument, NULL, 't'},
        {"dialect", required_argument, NULL, 'd'}, {"ttl", required_argument, NULL, OPT_TTL},
        {"limit", required_argument, NULL, 'n'},   {"cookie", required_argument, NULL, OPT_COOKIE},
        {"protocol", required_argument, NULL, OPT_PROTOCOL},
        {"addr", required_argument, NULL, OPT_ADDR},
        {"keepalive", required_argument, NULL, OPT_KEEPALIVE},
        {"no-reconnect", no_argument, NULL, OPT_NO_RECONNECT},
        {"metadata", required_argument, NULL, OPT_METADATA},
        {"max-members", required_argument, NULL, OPT_MAX_MEMBERS},
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
        case 'k': o->key_file = optarg; o->key_given = true; break;
        case OPT_NO_RECONNECT: o->no_reconnect = true; break;
        case OPT_METADATA: o->metadata = optarg; break;
        case OPT_MAX_MEMBERS:
            if (parse_u64(optarg, &o->max_members) < 0 || o->max_members == 0) {
                fprintf(stderr, "rdv: --max-members must be a positive number\n");
                return 2;
            }
            break;
        case 'd': o->dialect = optarg; break;
        case OPT_COOKIE: o->cookie = optarg; break;
        case OPT_PROTOCOL: o->protocol = optarg; break;
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

/* The protocol id --protocol overrides: the dialect's. */
static void protocol_override(const struct rdv_opts *o, rdv_client_options *opt)
{
    const char *d = o->dialect;
    if (o->protocol == NULL)
        return;
    if (d && strcmp(d, "waku") == 0)
        opt->waku_protocol = o->protocol;
    else if ((d && strcmp(d, "standard") == 0) || (d == NULL && (o->has_ttl || o->cookie)))
        opt->standard_protocol = o->protocol;
    else
        opt->push_protocol = o->protocol;
}

int main(int argc, char **argv)
{
    struct client cl;
    const struct command *cmd = NULL;
    char err[512], keybuf[PATH_MAX];
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
    if (!cl.o.key_given || strcmp(cl.o.key_file, "-") != 0)
        cl.o.key_file = identity_file(&cl.o, keybuf, sizeof keybuf);
    else
        cl.o.key_file = NULL;
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
    signal(SIGPIPE, SIG_IGN);
    cl.loop = ev_default_loop(EVFLAG_AUTO);
    cl.cmd = cmd;
    rdv_client_options opt = {
        .server = cl.o.server,
        .key_file = cl.o.key_file,
        .on_state = on_state,
        .on_refused = on_refused,
        .arg = &cl,
        .keepalive_s = cl.o.keepalive,
        .connect_timeout_s = cl.o.timeout,
        .log_file = cl.o.verbose ? stderr : NULL,
        .verbose = cl.o.verbose,
        .max_members = (size_t)cl.o.max_members,
    };
    if (reconnecting(&cl)) {
        opt.reconnect_min_s = 0.5;
        opt.reconnect_max_s = 30;
    }
    protocol_override(&cl.o, &opt);
    cl.rc = rdv_client_new(cl.loop, &opt, err, sizeof err);
    if (cl.rc == NULL) {
        /* A key file's reason names the file; an address's does not. */
        if (cl.o.key_file && strstr(err, cl.o.key_file))
            fprintf(stderr, "rdv: %s\n", err);
        else
            fprintf(stderr, "rdv: cannot dial %s\n", err);
        return 1;
    }
    ev_timer_init(&cl.deadline, on_deadline, cl.o.timeout, 0);
    cl.deadline.data = &cl;
    ev_timer_start(cl.loop, &cl.deadline);
    ev_signal_init(&cl.sigint, on_signal, SIGINT);
    ev_signal_init(&cl.sigterm, on_signal, SIGTERM);
    cl.sigint.data = cl.sigterm.data = &cl;
    ev_signal_start(cl.loop, &cl.sigint);
    ev_signal_start(cl.loop, &cl.sigterm);
    cmd->start(&cl);
    if (!cl.done)
        ev_run(cl.loop, 0);

    ev_timer_stop(cl.loop, &cl.deadline);
    ev_signal_stop(cl.loop, &cl.sigint);
    ev_signal_stop(cl.loop, &cl.sigterm);
    cl.done = true; /* what the client reports while it goes is not ours to print */
    /* A clean end (the server sees our sessions end, not a lost
     * connection), for at most a second. */
    if (rdv_client_close(cl.rc) == 0) {
        cl.closing = true;
        ev_timer_init(&cl.deadline, on_close_deadline, 1.0, 0);
        cl.deadline.data = &cl;
        ev_timer_start(cl.loop, &cl.deadline);
        ev_run(cl.loop, 0);
        ev_timer_stop(cl.loop, &cl.deadline);
    }
    rdv_client_free(cl.rc);
    if (cmd->on_exit)
        cmd->on_exit(&cl);
    ev_loop_destroy(cl.loop);
    return cl.exit_code;
}
