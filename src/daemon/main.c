/* rendezvousd: the daemon's command line, startup and signals. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>
#include <sodium.h>

#include "base/log.h"
#include "codec/multiaddr.h"
#include "crypto/key.h"
#include "host/host.h"
#include "host/identify.h"
#include "host/ping.h"

#define DEFAULT_LISTEN "/ip4/127.0.0.1/tcp/8000"
#define MAX_ADDRS HOST_MAX_LISTENERS
#define DRAIN_GRACE 5.0

struct options {
    const char *listen[MAX_ADDRS];
    size_t nlisten;
    const char *announce[MAX_ADDRS];
    size_t nannounce;
    const char *key_file;
    enum log_level level;
    enum log_format format;
    struct host_limits limits;
};

struct daemon {
    struct host host;
    struct log log;
    ev_signal sigint, sigterm;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: rendezvousd [OPTIONS]\n"
            "\n"
            "A libp2p rendezvous point.\n"
            "\n"
            "Options:\n"
            "  -l, --listen MULTIADDR    listen address, repeatable (default %s);\n"
            "                            port 0 picks a free port\n"
            "  -a, --announce MULTIADDR  address to advertise instead of the listen\n"
            "                            addresses, repeatable\n"
            "  -k, --key FILE            identity key file (libp2p PrivateKey protobuf);\n"
            "                            created with mode 0600 if missing. Without it\n"
            "                            the identity is new at every start\n"
            "      --handshake-timeout S seconds to finish Noise and yamux (default 10)\n"
            "      --idle-timeout S      seconds without input before a connection is\n"
            "                            closed (default 120)\n"
            "      --max-connections N   connections in all (default 200000)\n"
            "      --max-connections-per-ip N  (default 1024)\n"
            "      --max-streams N       streams per connection (default 256)\n"
            "      --log-level LEVEL     error, warn, info (default), debug, trace\n"
            "      --log-format FORMAT   text (default) or json\n"
            "  -h, --help                this text\n"
            "  -V, --version             print the version\n",
            DEFAULT_LISTEN);
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0 && v <= 86400 * 365)) {
        fprintf(stderr, "rendezvousd: '%s' is not a number of seconds\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_count(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > 100000000ULL || s[0] == '-') {
        fprintf(stderr, "rendezvousd: '%s' is not a positive count\n", s);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct options *o)
{
    enum { OPT_LOG_LEVEL = 256, OPT_LOG_FORMAT, OPT_HS_TIMEOUT, OPT_IDLE_TIMEOUT, OPT_MAX_CONNS,
           OPT_MAX_CONNS_IP, OPT_MAX_STREAMS };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"announce", required_argument, NULL, 'a'},
        {"key", required_argument, NULL, 'k'},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT},
        {"idle-timeout", required_argument, NULL, OPT_IDLE_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
        {"max-connections-per-ip", required_argument, NULL, OPT_MAX_CONNS_IP},
        {"max-streams", required_argument, NULL, OPT_MAX_STREAMS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int ch, lvl;

    memset(o, 0, sizeof(*o));
    o->level = LOG_INFO;
    host_limits_default(&o->limits);
    while ((ch = getopt_long(argc, argv, "l:a:k:hV", longopts, NULL)) != -1) {
        switch (ch) {
        case 'l':
            if (o->nlisten == MAX_ADDRS) {
                fprintf(stderr, "rendezvousd: at most %d --listen addresses\n", MAX_ADDRS);
                return 2;
            }
            o->listen[o->nlisten++] = optarg;
            break;
        case 'a':
            if (o->nannounce == MAX_ADDRS) {
                fprintf(stderr, "rendezvousd: at most %d --announce addresses\n", MAX_ADDRS);
                return 2;
            }
            o->announce[o->nannounce++] = optarg;
            break;
        case 'k':
            o->key_file = optarg;
            break;
        case OPT_LOG_LEVEL:
            if ((lvl = log_level_parse(optarg)) < 0) {
                fprintf(stderr, "rendezvousd: unknown log level '%s'\n", optarg);
                return 2;
            }
            o->level = (enum log_level)lvl;
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "text") == 0)
                o->format = LOG_TEXT;
            else if (strcmp(optarg, "json") == 0)
                o->format = LOG_JSON;
            else {
                fprintf(stderr, "rendezvousd: unknown log format '%s'\n", optarg);
                return 2;
            }
            break;
        case OPT_HS_TIMEOUT:
        case OPT_IDLE_TIMEOUT:
            if (parse_seconds(optarg, ch == OPT_HS_TIMEOUT ? &o->limits.handshake_timeout
                                                           : &o->limits.idle_timeout) < 0)
                return 2;
            break;
        case OPT_MAX_CONNS:
        case OPT_MAX_CONNS_IP:
        case OPT_MAX_STREAMS:
            if (parse_count(optarg, ch == OPT_MAX_CONNS      ? &o->limits.max_conns
                                    : ch == OPT_MAX_CONNS_IP ? &o->limits.max_conns_per_ip
                                                             : &o->limits.max_streams) < 0)
                return 2;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("rendezvousd %s\n", RDV_VERSION);
            exit(0);
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "rendezvousd: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (o->nlisten == 0)
        o->listen[o->nlisten++] = DEFAULT_LISTEN;
    return 0;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct daemon *d = w->data;
    (void)loop;
    (void)revents;
    LOGI(&d->log, "received %s, draining connections", w->signum == SIGINT ? "SIGINT" : "SIGTERM");
    host_drain(&d->host, DRAIN_GRACE);
}

/* Prints the listening block that scripts and users read (seed 001 format). */
static void print_addrs(const struct host *h)
{
    char text[MULTIADDR_TEXT_MAX];

    printf("Rendezvous server listening on:\n");
    for (size_t i = 0; i < h->nlisteners; i++) {
        if (multiaddr_to_text(h->listeners[i].ma, h->listeners[i].ma_len, text, sizeof(text)) < 0)
            continue;
        printf("%s/p2p/%s\n", text, h->id_text);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct options o;
    struct daemon d;
    struct privkey key;
    char err[256];
    int rc, created = 0;

    if ((rc = parse_args(argc, argv, &o)) != 0)
        return rc;
    if (sodium_init() < 0) {
        fprintf(stderr, "rendezvousd: libsodium failed to initialise\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&d, 0, sizeof(d));
    log_init(&d.log, o.level, o.format, stderr);

    if (o.key_file) {
        if (keyfile_load_or_create(o.key_file, &key, &created, err, sizeof(err)) < 0) {
            LOGE(&d.log, "key file %s: %s", o.key_file, err);
            return 1;
        }
        if (created)
            LOGI(&d.log, "created a new identity in %s", o.key_file);
    } else {
        privkey_generate(&key);
        LOGI(&d.log, "no --key given: using a new identity for this run");
    }

    struct ev_loop *loop = ev_default_loop(EVFLAG_AUTO);
    host_init(&d.host, loop, &d.log, &key, &o.limits);
    privkey_wipe(&key);
    host_handle(&d.host, &identify_protocol);
    host_handle(&d.host, &ping_protocol);
    for (size_t i = 0; i < o.nlisten; i++) {
        if (host_listen(&d.host, o.listen[i], err, sizeof(err)) < 0) {
            LOGE(&d.log, "cannot listen on %s", err);
            host_free(&d.host);
            return 1;
        }
    }
    for (size_t i = 0; i < o.nannounce; i++) {
        if (host_announce(&d.host, o.announce[i], err, sizeof(err)) < 0) {
            LOGE(&d.log, "bad --announce address: %s", err);
            host_free(&d.host);
            return 1;
        }
    }
    host_seal_record(&d.host);

    ev_signal_init(&d.sigint, on_signal, SIGINT);
    ev_signal_init(&d.sigterm, on_signal, SIGTERM);
    d.sigint.data = d.sigterm.data = &d;
    ev_signal_start(loop, &d.sigint);
    ev_signal_start(loop, &d.sigterm);
    ev_unref(loop); /* signal watchers alone do not keep the loop running */
    ev_unref(loop);

    LOGI(&d.log, "rendezvousd %s, peer id %s", RDV_VERSION, d.host.id_text);
    print_addrs(&d.host);
    ev_run(loop, 0);

    ev_ref(loop);
    ev_ref(loop);
    ev_signal_stop(loop, &d.sigint);
    ev_signal_stop(loop, &d.sigterm);
    host_free(&d.host);
    ev_loop_destroy(loop);
    LOGI(&d.log, "stopped");
    return 0;
}
