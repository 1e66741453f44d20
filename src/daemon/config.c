#include "daemon/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>
#include <sodium.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "crypto/key.h"
#include "cluster/url.h"
#include "daemon/acl.h"
#include "store/lmdb.h"

/* ---- the option table --------------------------------------------------- */

enum config__type {
    T_LIST,          /* struct config_list: repeatable */
    T_STR,           /* char *, owned */
    T_SIZE,          /* size_t count */
    T_BYTES,         /* size_t with an optional k/m/g suffix (powers of 1024) */
    T_U64,           /* uint64_t */
    T_SECONDS,       /* double */
    T_RATE,          /* double: events per second, 0 = no limit */
    T_LEVEL,         /* enum log_level */
    T_FORMAT,        /* enum log_format */
    T_VERBOSE,       /* -v: log-level debug */
    T_BOOL,          /* bool: no argument on the command line, true/false in the file */
    T_METRICS,       /* HOST:PORT or off */
    T_METRICS_PORT,  /* seed 001 --metricsPort: a port on every interface */
    T_NO_METRICS,    /* seed 001 --disableMetrics */
    T_WAKU_TTL,      /* sets waku-ttl-default and waku-ttl-max */
    T_ALIAS,         /* same as the option named by canon */
    T_FILE_ARG,      /* --config (command line only) */
    T_CHECK,         /* --check-config */
    T_HELP,
    T_VERSION,
};

enum {
    O_RELOAD = 1 << 0,    /* SIGHUP applies it */
    O_CLI_ONLY = 1 << 1,  /* not accepted in the file */
    O_COMPAT = 1 << 2,    /* seed-001 alias: listed apart in --help */
    O_HIDDEN = 1 << 3,    /* accepted, not listed */
    O_MULTI = 1 << 4,     /* JS style: the arguments after it are more values */
    O_LISTENER = 1 << 5,  /* list items are listen addresses */
    O_ANNOUNCE = 1 << 6,  /* list items are multiaddrs to advertise */
    O_PROTOCOL = 1 << 7,  /* a protocol id */
    O_KEYFILE = 1 << 8,
    O_FILE = 1 << 9,      /* a file read at start */
    O_ORIGIN = 1 << 10,   /* list items are WebSocket origins */
};

struct config__opt {
    const char *name;       /* long flag and file key */
    char short_name;
    enum config__type type;
    size_t offset;
    unsigned flags;
    double min, max;        /* inclusive bounds of numbers */
    const char *canon;      /* aliases: the option they set */
    const char *arg;        /* metavariable in --help */
    const char *help;
};

#define OFF(f) offsetof(struct daemon_config, f)
#define KB 1024.0
#define MB (1024.0 * 1024.0)
#define GB (1024.0 * 1024.0 * 1024.0)
#define YEAR (86400.0 * 365)

static const struct config__opt config__opts[] = {
    {"config", 'c', T_FILE_ARG, 0, O_CLI_ONLY, 0, 0, NULL, "FILE",
     "read options from FILE (NAME = VALUE lines, see rendezvousd.conf(5)); "
     "options on the command line override it"},
    {"check-config", 0, T_CHECK, 0, O_CLI_ONLY, 0, 0, NULL, NULL,
     "check the configuration, print \"config ok\" or the error, and exit"},
    {"listen", 'l', T_LIST, OFF(listen), O_LISTENER, 0, 0, NULL, "MULTIADDR",
     "listen address, repeatable: /ip4|ip6/A/tcp/P, .../tcp/P/ws or .../tcp/P/tls/ws; "
     "port 0 picks a free port (default " CONFIG_DEFAULT_LISTEN_WS " and "
     CONFIG_DEFAULT_LISTEN_TCP ")"},
    {"announce", 'a', T_LIST, OFF(announce), O_ANNOUNCE, 0, 0, NULL, "MULTIADDR",
     "address to advertise instead of the listen addresses, repeatable"},
    {"key", 'k', T_STR, OFF(key_file), O_KEYFILE, 0, 0, NULL, "FILE",
     "identity key file (libp2p PrivateKey protobuf, or a js-libp2p PeerId JSON file); "
     "created with mode 0600 if missing. Without it the identity is new at every start"},
    {"metrics", 0, T_METRICS, 0, 0, 0, 0, NULL, "ADDR|off",
     "serve Prometheus metrics at http://ADDR/metrics (IP:PORT or [IPv6]:PORT)"},
    {"tls-cert", 0, T_STR, OFF(tls_cert), O_FILE, 0, 0, NULL, "FILE",
     "PEM certificate chain for /tls/ws listeners"},
    {"tls-key", 0, T_STR, OFF(tls_key), O_FILE, 0, 0, NULL, "FILE", "PEM private key of tls-cert"},
    {"acl-file", 0, T_STR, OFF(acl_file), O_RELOAD, 0, 0, NULL, "FILE",
     "namespace access rules: who may register, subscribe and discover where (see "
     "rendezvousd.conf(5)); namespaces no rule names are refused. Default: everything allowed"},
    {"ws-allow-origin", 0, T_LIST, OFF(ws_origins), O_ORIGIN, 0, 0, NULL, "ORIGIN",
     "accept WebSocket upgrades from pages of this origin only (e.g. https://app.example), "
     "repeatable; default: any origin"},
    {"data-dir", 0, T_STR, OFF(data_dir), 0, 0, 0, NULL, "DIR",
     "keep /rendezvous/1.0.0 and Waku registrations in DIR (LMDB; created if missing) "
     "so that they survive a restart; default: in memory only"},
    {"data-map-size", 0, T_BYTES, OFF(data_map_size), 0, 1 * MB, 1024 * GB, NULL, "BYTES",
     "initial size of the data file's map (grown when full)"},
    {"cluster", 0, T_STR, OFF(cluster), 0, 0, 0, NULL, "URL",
     "run as one node of a cluster sharing its registry through Redis >= 7: "
     "redis://[:PASSWORD@]HOST:PORT[/DB] or unix:///PATH[?db=N]; default: a single node"},
    {"cluster-password", 0, T_STR, OFF(cluster_password), 0, 0, 0, NULL, "PASSWORD",
     "password for the cluster's Redis (AUTH), if not in the URL"},
    {"cluster-node-timeout", 0, T_SECONDS, OFF(cluster_node_timeout), 0, 1, 3600, NULL, "S",
     "a node not heard from for this long is reaped: its push registrations end "
     "(nodes heartbeat every second)"},
    {"cluster-log-max", 0, T_SIZE, OFF(cluster_log_max), 0, 1, 1e9, NULL, "N",
     "change log entries Redis keeps; a node that falls further behind reloads the registry"},
    {"workers", 0, T_SIZE, OFF(workers), 0, 0, CONFIG_MAX_WORKERS, NULL, "N",
     "serve with N worker processes that share the listen ports, under a master that restarts "
     "a worker that dies and passes SIGTERM and SIGHUP on; worker i serves metrics on the "
     "metrics port + i. More than 1 needs --cluster. Default 0: this process serves alone"},
    {"log-level", 0, T_LEVEL, OFF(log_level), O_RELOAD, 0, 0, NULL, "LEVEL",
     "error, warn, info, debug or trace"},
    {"log-format", 0, T_FORMAT, OFF(log_format), O_RELOAD, 0, 0, NULL, "FORMAT", "text or json"},
    {"verbose", 'v', T_VERBOSE, OFF(log_level), O_CLI_ONLY, 0, 0, "log-level", NULL,
     "= --log-level debug: also one line per request and per protocol negotiated or refused"},

    /* connections (host) */
    {"handshake-timeout", 0, T_SECONDS, OFF(host.handshake_timeout), O_RELOAD, 0.001, YEAR, NULL,
     "S", "seconds to finish Noise and yamux"},
    {"idle-timeout", 0, T_SECONDS, OFF(host.idle_timeout), O_RELOAD, 0.001, YEAR, NULL, "S",
     "seconds without input before a connection is closed"},
    {"max-connections", 0, T_SIZE, OFF(host.max_conns), O_RELOAD, 1, 1e8, NULL, "N",
     "connections in all"},
    {"max-connections-per-ip", 0, T_SIZE, OFF(host.max_conns_per_ip), O_RELOAD, 1, 1e8, NULL, "N",
     "connections from one IP address"},
    {"max-streams", 0, T_SIZE, OFF(host.max_streams), O_RELOAD, 1, 1e8, NULL, "N",
     "streams per connection (new connections)"},
    {"max-connection-output", 0, T_BYTES, OFF(host.max_out), O_RELOAD, 64 * KB, 1 * GB, NULL,
     "BYTES", "unsent bytes on one connection before it is closed (answers wait above half)"},
    {"max-connection-input", 0, T_BYTES, OFF(host.max_in), O_RELOAD, 64 * KB, 1 * GB, NULL,
     "BYTES", "request bytes held for one connection's streams (partial or not yet answered)"},
    {"max-memory", 0, T_BYTES, OFF(host.max_memory), O_RELOAD, 0, 1024.0 * 1024 * GB, NULL, "BYTES",
     "input and output buffered by all connections before new connections and requests are "
     "refused; 0 = no limit (the default is a quarter of physical memory)"},
    {"handshake-rate", 0, T_RATE, OFF(host.handshake_rate), O_RELOAD, 0, 1e9, NULL, "N",
     "new connections per second from one address (IPv4, IPv6 /64); more are refused at "
     "accept; 0 = no limit"},
    {"handshake-burst", 0, T_RATE, OFF(host.handshake_burst), O_RELOAD, 1, 1e9, NULL, "N",
     "... and how many may come at once"},
    {"max-handshakes", 0, T_SIZE, OFF(host.max_handshakes), O_RELOAD, 1, 1e8, NULL, "N",
     "handshakes in progress; past it new connections wait in the kernel's accept queue"},
    {"log-connection-rate", 0, T_SIZE, OFF(host.log_conn_lines), O_RELOAD, 0, 1e8, NULL, "N",
     "connection open/close lines logged per second at most (0: all); the rest are summed up "
     "in one line"},

    /* rendezvous service */
    {"max-message-size", 0, T_BYTES, OFF(rdv.max_message), O_RELOAD, 1 * KB, 64 * MB, NULL, "BYTES",
     "largest request accepted"},
    {"push-protocol", 0, T_STR, OFF(push_protocol_id), O_PROTOCOL, 0, 0, NULL, "ID",
     "protocol id of push mode (default " PUSH_PROTOCOL_ID ")"},
    {"rendezvous-protocol", 0, T_LIST, OFF(rdv1_ids), O_PROTOCOL, 0, 0, NULL, "ID",
     "protocol id of the /rendezvous/1.0.0 wire format, repeatable (e.g. "
     "/canvas/rendezvous/1.0.0 besides the default " RDV1_PROTOCOL_ID ")"},
    {"waku-protocol", 0, T_LIST, OFF(waku_ids), O_PROTOCOL, 0, 0, NULL, "ID",
     "protocol id of the Waku rendezvous wire format, repeatable (default " WAKU_PROTOCOL_ID ")"},
    {"push-discover-default", 0, T_U64, OFF(rdv.push_discover_default), O_RELOAD, 1, 1e8, NULL,
     "N", "push DISCOVER limit when the request has none (kept within push-discover-max)"},
    {"push-discover-max", 0, T_U64, OFF(rdv.push_discover_max), O_RELOAD, 1, 1e8, NULL, "N",
     "most entries of a push DISCOVER answer"},
    {"push-batch-size", 0, T_BYTES, OFF(rdv.push_batch_bytes), O_RELOAD, 1 * KB, 16 * MB, NULL,
     "BYTES", "largest snapshot Message sent to a new subscriber"},
    {"push-output-limit", 0, T_BYTES, OFF(rdv.out_hard_limit), O_RELOAD, 1, 1024 * GB, NULL,
     "BYTES", "a push session whose unsent output passes this is disconnected"},
    {"push-output-soft-limit", 0, T_BYTES, OFF(rdv.out_soft_limit), O_RELOAD, 1, 1024 * GB, NULL,
     "BYTES", "... or stays above this"},
    {"push-output-soft-seconds", 0, T_SECONDS, OFF(rdv.out_soft_seconds), O_RELOAD, 0.001, YEAR,
     NULL, "S", "... for this long"},
    {"ttl-min", 0, T_U64, OFF(rdv.ttl_min), O_RELOAD, 1, 10 * YEAR, NULL, "S",
     "/rendezvous/1.0.0: shortest TTL accepted"},
    {"ttl-max", 0, T_U64, OFF(rdv.ttl_max), O_RELOAD, 1, 10 * YEAR, NULL, "S",
     "... longest TTL accepted"},
    {"ttl-default", 0, T_U64, OFF(rdv.ttl_default), O_RELOAD, 1, 10 * YEAR, NULL, "S",
     "... TTL when a REGISTER has none (kept within ttl-min..ttl-max)"},
    {"discover-default", 0, T_U64, OFF(rdv.discover_default), O_RELOAD, 1, 1e8, NULL, "N",
     "... DISCOVER limit when absent or 0 (alias --discover-limit)"},
    {"discover-limit", 0, T_ALIAS, 0, O_HIDDEN, 0, 0, "discover-default", NULL, NULL},
    {"discover-max", 0, T_U64, OFF(rdv.discover_max), O_RELOAD, 1, 1e8, NULL, "N",
     "... largest DISCOVER limit (alias --max-discover-limit)"},
    {"max-discover-limit", 0, T_ALIAS, 0, O_HIDDEN, 0, 0, "discover-max", NULL, NULL},
    {"waku-ttl-default", 0, T_U64, OFF(rdv.waku_ttl_default), O_RELOAD, 1, 10 * YEAR, NULL, "S",
     "Waku: TTL when a REGISTER has none"},
    {"waku-ttl-max", 0, T_U64, OFF(rdv.waku_ttl_max), O_RELOAD, 1, 10 * YEAR, NULL, "S",
     "Waku: longest TTL accepted"},
    {"waku-ttl", 0, T_WAKU_TTL, 0, O_RELOAD, 1, 10 * YEAR, NULL, "S",
     "Waku: both of the above"},
    {"waku-discover-max", 0, T_U64, OFF(rdv.waku_discover_max), O_RELOAD, 1, 1e8, NULL, "N",
     "Waku: largest DISCOVER limit"},

    /* registry */
    {"max-namespace-length", 0, T_SIZE, OFF(rdv.limits.max_ns_len), O_RELOAD, 1, RDV_NS_MAX, NULL,
     "N", "bytes in a namespace"},
    {"max-addresses", 0, T_SIZE, OFF(rdv.limits.max_addrs), O_RELOAD, 1, 1024, NULL, "N",
     "addresses in one registration"},
    {"max-address-bytes", 0, T_BYTES, OFF(rdv.limits.max_addr_bytes), O_RELOAD, 64, 1 * MB, NULL,
     "BYTES", "address bytes in one registration"},
    {"max-record-size", 0, T_BYTES, OFF(rdv.limits.max_envelope), O_RELOAD, 256, 1 * MB, NULL,
     "BYTES", "signed peer record size"},
    {"max-metadata-bytes", 0, T_BYTES, OFF(rdv.limits.max_metadata), O_RELOAD, 0, 32 * KB, NULL,
     "BYTES", "push: presence metadata of one registration (0: none accepted)"},
    {"max-registrations-per-peer", 0, T_SIZE, OFF(rdv.limits.max_regs_per_peer), O_RELOAD, 1, 1e8,
     NULL, "N", "registrations of one peer"},
    {"max-registrations", 0, T_SIZE, OFF(rdv.limits.max_regs_total), O_RELOAD, 1, 1e9, NULL, "N",
     "registrations in all"},
    {"max-namespaces", 0, T_SIZE, OFF(rdv.limits.max_namespaces), O_RELOAD, 1, 1e9, NULL, "N",
     "namespaces in all"},
    {"max-subscriptions", 0, T_SIZE, OFF(rdv.limits.max_subs_per_session), O_RELOAD, 1, 1e8, NULL,
     "N", "push subscriptions of one session"},
    {"register-rate", 0, T_RATE, OFF(rdv.limits.register_rate), O_RELOAD, 0, 1e9, NULL, "N",
     "registration changes per second of one peer (new or changed registrations, any "
     "dialect; a REGISTER that changes nothing costs a tenth); 0 = no limit"},
    {"register-burst", 0, T_SIZE, OFF(rdv.limits.register_burst), O_RELOAD, 1, 1e9, NULL, "N",
     "... registration changes one peer may make at once"},

    /* circuit relay v2 */
    {"relay", 0, T_BOOL, OFF(relay.enabled), 0, 0, 0, NULL, NULL,
     "be a circuit relay v2 (hop and stop) as well: peers reserve a slot here and others reach "
     "them through this daemon (in the config file: relay = on)"},
    {"relay-max-reservations", 0, T_SIZE, OFF(relay.max_reservations), O_RELOAD, 1, 1e8, NULL,
     "N", "relay reservations in all"},
    {"relay-max-reservations-per-peer", 0, T_SIZE, OFF(relay.max_reservations_per_peer), O_RELOAD,
     1, 1e8, NULL, "N", "... of one peer (one per connection)"},
    {"relay-max-reservations-per-ip", 0, T_SIZE, OFF(relay.max_reservations_per_ip), O_RELOAD, 1,
     1e8, NULL, "N", "... from one IP address (IPv4, IPv6 /64)"},
    {"relay-reservation-ttl", 0, T_SECONDS, OFF(relay.reservation_ttl), O_RELOAD, 1, YEAR, NULL,
     "S", "seconds a reservation lasts unless refreshed (it also ends with its connection)"},
    {"relay-max-circuits-per-peer", 0, T_SIZE, OFF(relay.max_circuits_per_peer), O_RELOAD, 1, 1e8,
     NULL, "N", "relayed connections of one peer at once, as source or target"},
    {"relay-circuit-duration", 0, T_SECONDS, OFF(relay.circuit_duration), O_RELOAD, 0, YEAR, NULL,
     "S", "seconds a relayed connection lasts; 0 = no limit (peers the access rules allow "
     "\"relay\" get no limits)"},
    {"relay-circuit-data", 0, T_BYTES, OFF(relay.circuit_data), O_RELOAD, 0, 1024 * GB, NULL,
     "BYTES", "bytes a relayed connection carries each way; 0 = no limit"},

    /* seed 001: libp2p-rendezvous-server's flags (and minimist short forms) */
    {"listenMultiaddrs", 0, T_ALIAS, 0, O_COMPAT | O_MULTI, 0, 0, "listen", "MA...",
     "= --listen, several addresses may follow"},
    {"lm", 0, T_ALIAS, 0, O_HIDDEN | O_MULTI, 0, 0, "listen", NULL, NULL},
    {"announceMultiaddrs", 0, T_ALIAS, 0, O_COMPAT | O_MULTI, 0, 0, "announce", "MA...",
     "= --announce, several addresses may follow"},
    {"am", 0, T_ALIAS, 0, O_HIDDEN | O_MULTI, 0, 0, "announce", NULL, NULL},
    {"peerId", 0, T_ALIAS, 0, O_COMPAT, 0, 0, "key", "FILE",
     "= --key (a js-libp2p PeerId JSON file or a libp2p PrivateKey file)"},
    {"metricsPort", 0, T_METRICS_PORT, 0, O_COMPAT, 0, 0, "metrics", "PORT",
     "= --metrics 0.0.0.0:PORT"},
    {"mp", 0, T_METRICS_PORT, 0, O_HIDDEN, 0, 0, "metrics", NULL, NULL},
    {"disableMetrics", 0, T_NO_METRICS, 0, O_COMPAT, 0, 0, "metrics", NULL, "= --metrics off"},
    {"maxPeerRegistrations", 0, T_ALIAS, 0, O_COMPAT, 0, 0, "max-registrations-per-peer", "N",
     "= --max-registrations-per-peer"},
    {"enableMemoryDatabase", 0, T_BOOL, OFF(memory_db), O_COMPAT, 0, 0, NULL, NULL,
     "accepted: without --data-dir the registry is in memory only"},
    {"emd", 0, T_BOOL, OFF(memory_db), O_HIDDEN, 0, 0, "enableMemoryDatabase", NULL, NULL},

    {"help", 'h', T_HELP, 0, O_CLI_ONLY, 0, 0, NULL, NULL, "this text"},
    {"version", 'V', T_VERSION, 0, O_CLI_ONLY, 0, 0, NULL, NULL, "print the version"},
};

#define NOPTS (sizeof(config__opts) / sizeof(config__opts[0]))
_Static_assert(NOPTS <= CONFIG_MAX_OPTIONS, "CONFIG_MAX_OPTIONS is too small for the table");

static int config__find(const char *name)
{
    for (size_t i = 0; i < NOPTS; i++)
        if (strcmp(config__opts[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* The option whose value an entry sets (itself unless it is an alias). */
static int config__slot(int idx)
{
    const char *canon = config__opts[idx].canon;
    int s = canon ? config__find(canon) : idx;
    return s >= 0 ? s : idx;
}

static bool config__has_arg(const struct config__opt *o)
{
    switch (o->type) {
    case T_BOOL:
    case T_NO_METRICS:
    case T_VERBOSE:
    case T_CHECK:
    case T_HELP:
    case T_VERSION:
        return false;
    case T_ALIAS:
        return config__has_arg(&config__opts[config__slot((int)(o - config__opts))]);
    default:
        return true;
    }
}

/* ---- values ------------------------------------------------------------ */

static int config__msg(char *msg, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int config__msg(char *msg, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static int config__parse_uint(const char *s, unsigned long long *out)
{
    char *end;
    if (s[0] < '0' || s[0] > '9') /* strtoull would accept space, '+' and '-' */
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return -1;
    *out = v;
    return 0;
}

/* "64k", "8M", "1GiB", "1048576" (suffixes are powers of 1024). */
static int config__parse_bytes(const char *s, unsigned long long *out)
{
    char *end;
    unsigned long long mult = 1;

    if (s[0] < '0' || s[0] > '9')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s)
        return -1;
    switch (*end) {
    case 'k': case 'K': mult = 1ULL << 10; end++; break;
    case 'm': case 'M': mult = 1ULL << 20; end++; break;
    case 'g': case 'G': mult = 1ULL << 30; end++; break;
    default: break;
    }
    if ((mult > 1 && strcasecmp(end, "ib") == 0) || strcasecmp(end, "b") == 0)
        end += strlen(end);
    if (*end || v > ULLONG_MAX / mult)
        return -1;
    *out = v * mult;
    return 0;
}

static int config__parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp(s, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

/* IPv4:PORT or [IPv6]:PORT; no names, so that the check needs no resolver. */
static int config__parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len,
                                  char *msg, size_t cap)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *port;
    unsigned long long p;

    memset(ss, 0, sizeof(*ss));
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return config__msg(msg, cap, "'%s' is not [IPv6]:PORT", s);
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
            return config__msg(msg, cap, "'%s' is not an IPv6 address", host);
        s6->sin6_family = AF_INET6;
        *len = sizeof(*s6);
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon == s)
            return config__msg(msg, cap, "'%s' is not IP:PORT (or off)", s);
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            return config__msg(msg, cap, "'%s' is not an IPv4 address (IPv6 goes in brackets)", host);
        s4->sin_family = AF_INET;
        *len = sizeof(*s4);
    }
    if (config__parse_uint(port, &p) < 0 || p > 65535)
        return config__msg(msg, cap, "'%s' is not a port number", port);
    if (ss->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)p);
    else
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)p);
    return 0;
}

static int config__check_listener(const char *text, char *msg, size_t cap)
{
    uint8_t ma[MULTIADDR_MAX];
    struct ma_dial d;
    char why[200];

    int n = multiaddr_from_text(text, ma, sizeof(ma), why, sizeof(why));
    if (n < 0)
        return config__msg(msg, cap, "%s", why);
    if (multiaddr_parse_dial(ma, (size_t)n, &d, why, sizeof(why)) < 0)
        return config__msg(msg, cap, "%s", why);
    if (d.has_peer)
        return config__msg(msg, cap, "%s: a listen address has no /p2p/ part", text);
    struct in6_addr any;
    if (inet_pton(d.family == AF_INET6 ? AF_INET6 : AF_INET, d.host, &any) != 1)
        return config__msg(msg, cap, "%s: listen on an IP address, not a name", text);
    return 0;
}

static int config__check_announce(const char *text, char *msg, size_t cap)
{
    uint8_t ma[MULTIADDR_MAX];
    char why[200];
    if (multiaddr_from_text(text, ma, sizeof(ma), why, sizeof(why)) < 0)
        return config__msg(msg, cap, "%s", why);
    return 0;
}

/* Protocol ids travel in multistream-select lines: printable, no spaces. */
static int config__check_protocol(const char *s, char *msg, size_t cap)
{
    size_t n = strlen(s);
    if (s[0] != '/' || n > 256)
        return config__msg(msg, cap, "'%s' is not a protocol id (/name/version, at most 256 bytes)", s);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return config__msg(msg, cap, "a protocol id holds no spaces or control bytes");
    return 0;
}

static void config__list_clear(struct config_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->item[i]);
    l->n = 0;
}

static int config__list_add(struct config_list *l, const char *v, unsigned flags, char *msg,
                            size_t cap)
{
    if (v[0] == '\0')
        return config__msg(msg, cap, (flags & O_ORIGIN)     ? "needs an origin"
                                     : (flags & O_PROTOCOL) ? "needs a protocol id"
                                                            : "needs a multiaddr");
    if ((flags & O_PROTOCOL) && config__check_protocol(v, msg, cap) < 0)
        return -1;
    if ((flags & O_LISTENER) && config__check_listener(v, msg, cap) < 0)
        return -1;
    if ((flags & O_ANNOUNCE) && config__check_announce(v, msg, cap) < 0)
        return -1;
    if (l->n == CONFIG_MAX_ADDRS)
        return config__msg(msg, cap, "at most %d values", CONFIG_MAX_ADDRS);
    l->item[l->n++] = xstrdup(v);
    return 0;
}

/* Sets the option at table index idx from text (NULL for a flag given on
 * the command line), recording its source. Returns 0, or -1 with msg. */
static int config__set(struct daemon_config *c, int idx, const char *v, enum config_source src,
                       int line, char *msg, size_t cap)
{
    const struct config__opt *o = &config__opts[idx];
    int slot = config__slot(idx);
    const struct config__opt *t = &config__opts[slot]; /* the target: type, offset, bounds */
    enum config__type type = o->type == T_ALIAS ? t->type : o->type;
    void *p = (char *)c + (o->type == T_ALIAS ? t->offset : o->offset);
    unsigned long long u;
    bool b;

    if (src == CONFIG_FILE && c->source[slot] == CONFIG_FILE && type != T_LIST)
        return config__msg(msg, cap, "already set on line %d", c->line[slot]);
    if (v == NULL)
        v = "true"; /* a flag on the command line */

    switch (type) {
    case T_LIST: {
        struct config_list *l = p;
        /* A list from a stronger source replaces the weaker one's. */
        if (c->source[slot] < src)
            config__list_clear(l);
        c->source[slot] = (uint8_t)src;
        c->line[slot] = line;
        if (src == CONFIG_FILE) {
            /* "listen = A B" or "A, B": several addresses on one line. */
            char tmp[1024];
            if (strlen(v) >= sizeof(tmp))
                return config__msg(msg, cap, "value too long");
            strcpy(tmp, v);
            char *save = NULL, *tok = strtok_r(tmp, " \t,", &save);
            if (tok == NULL)
                return config__list_add(l, "", t->flags, msg, cap);
            for (; tok; tok = strtok_r(NULL, " \t,", &save))
                if (config__list_add(l, tok, t->flags, msg, cap) < 0)
                    return -1;
            return 0;
        }
        return config__list_add(l, v, t->flags, msg, cap);
    }
    case T_STR: {
        char **s = p;
        if (v[0] == '\0')
            return config__msg(msg, cap, "needs a value");
        if ((t->flags & O_PROTOCOL) && config__check_protocol(v, msg, cap) < 0)
            return -1;
        free(*s);
        *s = xstrdup(v);
        break;
    }
    case T_SIZE:
    case T_U64:
        if (config__parse_uint(v, &u) < 0 || (double)u < t->min || (double)u > t->max)
            return config__msg(msg, cap, "'%s' is not a count from %.0f to %.0f", v, t->min, t->max);
        if (type == T_SIZE)
            *(size_t *)p = (size_t)u;
        else
            *(uint64_t *)p = (uint64_t)u;
        break;
    case T_BYTES:
        if (config__parse_bytes(v, &u) < 0 || (double)u < t->min || (double)u > t->max)
            return config__msg(msg, cap, "'%s' is not a size from %.0f to %.0f bytes (k, m, g suffixes allowed)",
                               v, t->min, t->max);
        *(size_t *)p = (size_t)u;
        break;
    case T_SECONDS:
    case T_RATE: {
        char *end;
        errno = 0;
        double d = strtod(v, &end);
        if (errno || end == v || *end || !isfinite(d) || d < t->min || d > t->max)
            return config__msg(msg, cap, "'%s' is not a number %sfrom %g to %g", v,
                               t->type == T_SECONDS ? "of seconds " : "", t->min, t->max);
        *(double *)p = d;
        break;
    }
    case T_LEVEL: {
        int lvl = log_level_parse(v);
        if (lvl < 0)
            return config__msg(msg, cap, "unknown log level '%s' (error, warn, info, debug, trace)", v);
        *(enum log_level *)p = (enum log_level)lvl;
        break;
    }
    case T_FORMAT:
        if (strcmp(v, "text") == 0)
            *(enum log_format *)p = LOG_TEXT;
        else if (strcmp(v, "json") == 0)
            *(enum log_format *)p = LOG_JSON;
        else
            return config__msg(msg, cap, "unknown log format '%s' (text or json)", v);
        break;
    case T_BOOL:
        if (config__parse_bool(v, &b) < 0)
            return config__msg(msg, cap, "'%s' is not true or false", v);
        *(bool *)p = b;
        break;
    case T_VERBOSE:
        *(enum log_level *)p = LOG_DEBUG;
        break;
    case T_METRICS:
    case T_METRICS_PORT: {
        char addr[80];
        if (type == T_METRICS && strcmp(v, "off") == 0) {
            c->metrics_on = false;
            break;
        }
        if (type == T_METRICS_PORT) {
            /* libp2p-rendezvous-server listened on every interface. */
            if (config__parse_uint(v, &u) < 0 || u > 65535)
                return config__msg(msg, cap, "'%s' is not a port number", v);
            snprintf(addr, sizeof(addr), "0.0.0.0:%llu", u);
            v = addr;
        }
        if (config__parse_hostport(v, &c->metrics_sa, &c->metrics_salen, msg, cap) < 0)
            return -1;
        free(c->metrics_addr);
        c->metrics_addr = xstrdup(v);
        c->metrics_on = true;
        break;
    }
    case T_WAKU_TTL: {
        int sd = config__find("waku-ttl-default"), sm = config__find("waku-ttl-max");
        if (config__parse_uint(v, &u) < 0 || (double)u < t->min || (double)u > t->max)
            return config__msg(msg, cap, "'%s' is not a count from %.0f to %.0f", v, t->min, t->max);
        c->rdv.waku_ttl_default = c->rdv.waku_ttl_max = (uint64_t)u;
        /* Both are now set explicitly, for the range checks. */
        c->source[sd] = c->source[sm] = (uint8_t)src;
        c->line[sd] = c->line[sm] = line;
        break;
    }
    case T_NO_METRICS:
        if (config__parse_bool(v, &b) < 0)
            return config__msg(msg, cap, "'%s' is not true or false", v);
        if (!b)
            return 0; /* "disableMetrics = false" changes nothing */
        c->metrics_on = false;
        break;
    default:
        return config__msg(msg, cap, "can only be given on the command line");
    }
    c->source[slot] = (uint8_t)src;
    c->line[slot] = line;
    return 0;
}

/* ---- the file ------------------------------------------------------------ */

struct config__file {
    struct daemon_config *c;
    const char *path;
    FILE *f;
    int line;            /* physical line being parsed */
    int err_line;        /* first error found by us (0: none) */
    char msg[400];
};

/* inih's reader, wrapped to know the line number, to refuse over-long lines
 * (inih would split them and parse the tail as a line of its own) and to
 * drop leading blanks (inih reads an indented line as the continuation of
 * the previous value, which surprises more than it helps). */
static char *config__read_line(char *str, int num, void *stream)
{
    struct config__file *cf = stream;

    if (fgets(str, num, cf->f) == NULL)
        return NULL;
    cf->line++;
    size_t n = strlen(str);
    if (n > 0 && str[n - 1] != '\n' && n == (size_t)num - 1) {
        int ch = fgetc(cf->f);
        if (ch != EOF && ch != '\n') {
            while (ch != EOF && ch != '\n')
                ch = fgetc(cf->f);
            if (cf->err_line == 0) {
                cf->err_line = cf->line;
                snprintf(cf->msg, sizeof(cf->msg), "line longer than %d bytes", num - 2);
            }
            str[0] = '\0';
            return str;
        }
    }
    size_t lead = strspn(str, " \t");
    memmove(str, str + lead, n - lead + 1);
    return str;
}

static int config__on_pair(void *user, const char *section, const char *name, const char *value)
{
    struct config__file *cf = user;
    char key[64];
    char msg[200];

    if (cf->err_line)
        return 1; /* report the first error only; inih goes on reading */
    if (section[0] != '\0') {
        snprintf(cf->msg, sizeof(cf->msg), "[%s]: rendezvousd.conf has no sections", section);
        cf->err_line = cf->line;
        return 0;
    }
    /* Keys are the long option names; '_' is accepted for '-'. */
    size_t n = strlen(name);
    if (n >= sizeof(key))
        n = sizeof(key) - 1;
    for (size_t i = 0; i < n; i++)
        key[i] = name[i] == '_' ? '-' : name[i];
    key[n] = '\0';
    int idx = config__find(key);
    if (idx < 0) {
        snprintf(cf->msg, sizeof(cf->msg), "unknown option '%s'", name);
    } else if (config__opts[idx].flags & O_CLI_ONLY) {
        snprintf(cf->msg, sizeof(cf->msg), "'%s' can only be given on the command line", key);
    } else if (config__set(cf->c, idx, value, CONFIG_FILE, cf->line, msg, sizeof(msg)) < 0) {
        snprintf(cf->msg, sizeof(cf->msg), "%s: %s", key, msg);
    } else {
        return 1;
    }
    cf->err_line = cf->line;
    return 0;
}

static enum config_result config__read_file(struct daemon_config *c, const char *path, char *err,
                                            size_t errlen)
{
    struct config__file cf = {.c = c, .path = path};

    cf.f = fopen(path, "re");
    if (cf.f == NULL) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return CONFIG_INVALID;
    }
    int rc = ini_parse_stream(config__read_line, &cf, config__on_pair, &cf);
    int read_error = ferror(cf.f);
    fclose(cf.f);
    if (read_error) {
        snprintf(err, errlen, "cannot read %s", path);
        return CONFIG_INVALID;
    }
    if (rc > 0 && (cf.err_line == 0 || rc < cf.err_line)) {
        /* inih found a line before ours that is neither NAME = VALUE nor a comment. */
        snprintf(err, errlen, "%s:%d: expected NAME = VALUE", path, rc);
        return CONFIG_INVALID;
    }
    if (cf.err_line) {
        snprintf(err, errlen, "%s:%d: %s", path, cf.err_line, cf.msg);
        return CONFIG_INVALID;
    }
    if (rc != 0) {
        snprintf(err, errlen, "cannot read %s", path);
        return CONFIG_INVALID;
    }
    return CONFIG_OK;
}

/* ---- command line ----------------------------------------------------- */

struct config__arg {
    int idx;
    const char *value;
};

/* Where an option got its value, for error messages. */
static void config__where(const struct daemon_config *c, int slot, char *out, size_t cap)
{
    if (c->source[slot] == CONFIG_FILE)
        snprintf(out, cap, "%s:%d: %s", c->file, c->line[slot], config__opts[slot].name);
    else
        snprintf(out, cap, "--%s", config__opts[slot].name);
}

static enum config_result config__cross_fail(const struct daemon_config *c, const char *a,
                                             const char *b, const char *rel, char *err, size_t errlen)
{
    int sa = config__find(a), sb = config__find(b);
    /* Blame the one set last: the stronger source, or the later line or
     * argument of the same one. */
    bool a_last = c->source[sa] > c->source[sb] ||
                  (c->source[sa] == c->source[sb] && c->line[sa] > c->line[sb]);
    int s = a_last ? sa : sb;
    char where[300];
    config__where(c, s, where, sizeof(where));
    snprintf(err, errlen, "%s: %s must be %s %s", where, a, rel, b);
    return c->source[s] == CONFIG_FILE ? CONFIG_INVALID : CONFIG_USAGE;
}

/* Refuses option `name` for `why`, naming where it was set. */
static enum config_result config__refuse(const struct daemon_config *c, const char *name,
                                         const char *why, char *err, size_t errlen)
{
    int slot = config__find(name);
    char where[300];
    config__where(c, slot, where, sizeof(where));
    snprintf(err, errlen, "%s: %s", where, why);
    return c->source[slot] == CONFIG_FILE ? CONFIG_INVALID : CONFIG_USAGE;
}

static bool config__explicit(const struct daemon_config *c, const char *name)
{
    return c->source[config__find(name)] != CONFIG_DEFAULT;
}

/* A default that was not set explicitly follows its range; one that was set
 * must lie within it. */
static enum config_result config__fit(struct daemon_config *c, uint64_t *v, const char *name,
                                      uint64_t lo, const char *lo_name, uint64_t hi,
                                      const char *hi_name, char *err, size_t errlen)
{
    bool set = config__explicit(c, name);
    if (lo_name && *v < lo) {
        if (set)
            return config__cross_fail(c, name, lo_name, "at least", err, errlen);
        *v = lo;
    }
    if (*v > hi) {
        if (set)
            return config__cross_fail(c, name, hi_name, "at most", err, errlen);
        *v = hi;
    }
    return CONFIG_OK;
}

/* Points the service's id list at the option's strings, when it was given
 * (the count is checked by config__cross_check). */
static void config__protocol_ids(struct rdv_protocol_ids *ids, const struct config_list *l)
{
    if (l->n == 0)
        return;
    ids->n = l->n < RDV_MAX_PROTOCOL_IDS ? l->n : RDV_MAX_PROTOCOL_IDS;
    for (size_t i = 0; i < ids->n; i++)
        ids->id[i] = l->item[i];
}

/* Every protocol id is answered by one dialect: at most RDV_MAX_PROTOCOL_IDS
 * per dialect, none named twice (multistream-select would pick one). */
static enum config_result config__check_protocol_ids(const struct daemon_config *c, char *err,
                                                     size_t errlen)
{
    const struct {
        const char *name;
        const struct config_list *l;
    } lists[] = {{"rendezvous-protocol", &c->rdv1_ids}, {"waku-protocol", &c->waku_ids}};
    const char *all[2 * RDV_MAX_PROTOCOL_IDS + 1];
    size_t n = 0;
    char where[300];

    all[n++] = c->rdv.push_protocol_id;
    for (size_t k = 0; k < ARRAY_LEN(lists); k++) {
        int slot = config__find(lists[k].name);
        config__where(c, slot, where, sizeof(where));
        if (lists[k].l->n > RDV_MAX_PROTOCOL_IDS) {
            snprintf(err, errlen, "%s: at most %d protocol ids", where, RDV_MAX_PROTOCOL_IDS);
            return c->source[slot] == CONFIG_FILE ? CONFIG_INVALID : CONFIG_USAGE;
        }
        const struct rdv_protocol_ids *ids = k == 0 ? &c->rdv.rdv1_ids : &c->rdv.waku_ids;
        for (size_t i = 0; i < ids->n; i++) {
            for (size_t j = 0; j < n; j++) {
                if (strcmp(all[j], ids->id[i]) == 0) {
                    snprintf(err, errlen, "%s: protocol id %s is named twice (each id is "
                             "answered by one dialect)", where, ids->id[i]);
                    return c->source[slot] == CONFIG_FILE ? CONFIG_INVALID : CONFIG_USAGE;
                }
            }
            all[n++] = ids->id[i];
        }
    }
    return CONFIG_OK;
}

static enum config_result config__cross_check(struct daemon_config *c, char *err, size_t errlen)
{
    struct rdv_config *r = &c->rdv;
    enum config_result rc;

    /* A bound left at its default follows one that was set (--ttl-max 10
     * alone lowers the minimum too); two explicit bounds must agree. */
    if (r->ttl_min > r->ttl_max) {
        if (!config__explicit(c, "ttl-min"))
            r->ttl_min = r->ttl_max;
        else if (!config__explicit(c, "ttl-max"))
            r->ttl_max = r->ttl_min;
        else
            return config__cross_fail(c, "ttl-min", "ttl-max", "at most", err, errlen);
    }
    if ((rc = config__fit(c, &r->ttl_default, "ttl-default", r->ttl_min, "ttl-min", r->ttl_max,
                          "ttl-max", err, errlen)) != CONFIG_OK)
        return rc;
    if ((rc = config__fit(c, &r->discover_default, "discover-default", 0, NULL, r->discover_max,
                          "discover-max", err, errlen)) != CONFIG_OK)
        return rc;
    if ((rc = config__fit(c, &r->push_discover_default, "push-discover-default", 0, NULL,
                          r->push_discover_max, "push-discover-max", err, errlen)) != CONFIG_OK)
        return rc;
    if ((rc = config__fit(c, &r->waku_ttl_default, "waku-ttl-default", 0, NULL, r->waku_ttl_max,
                          "waku-ttl-max", err, errlen)) != CONFIG_OK)
        return rc;
    if (r->out_soft_limit > r->out_hard_limit) {
        if (config__explicit(c, "push-output-soft-limit"))
            return config__cross_fail(c, "push-output-soft-limit", "push-output-limit", "at most",
                                      err, errlen);
        r->out_soft_limit = r->out_hard_limit;
    }
    if (!c->tls_cert != !c->tls_key)
        return config__cross_fail(c, "tls-cert", "tls-key", "given with", err, errlen);
    if (c->cluster) {
        struct cluster_url u;
        char why[400];
        if (cluster_url_parse(&u, c->cluster, why, sizeof(why)) != 0)
            return config__refuse(c, "cluster", why, err, errlen);
        if (c->data_dir)
            return config__cross_fail(c, "data-dir", "cluster", "not given with", err, errlen);
    }
    if (c->workers > 1 && c->cluster == NULL) {
        /* Separate registries would answer differently depending on which
         * worker the kernel hands a connection to. */
        return config__refuse(c, "workers", "more than one worker needs --cluster (the workers "
                              "share one registry through Redis)", err, errlen);
    }
    /* A reservation lives in the worker that holds its connection; the
     * kernel would hand the source's connection to any worker. */
    if (c->workers > 1 && c->relay.enabled)
        return config__refuse(c, "relay", "the relay needs one worker (a reservation lives in the "
                              "worker that holds its connection; a source may reach any other)",
                              err, errlen);
    return config__check_protocol_ids(c, err, errlen);
}

void config_init(struct daemon_config *c)
{
    struct sockaddr_storage ss;
    socklen_t len = 0;
    char msg[64];

    memset(c, 0, sizeof(*c));
    c->log_level = LOG_INFO;
    c->log_format = LOG_TEXT;
    host_limits_default(&c->host);
    rdv_config_default(&c->rdv);
    relay_config_default(&c->relay);
    c->data_map_size = STORE_LMDB_MAP_SIZE;
    c->cluster_node_timeout = CONFIG_DEFAULT_CLUSTER_NODE_TIMEOUT;
    c->cluster_log_max = CONFIG_DEFAULT_CLUSTER_LOG_MAX;
    c->metrics_on = true;
    c->metrics_addr = xstrdup(CONFIG_DEFAULT_METRICS);
    if (config__parse_hostport(CONFIG_DEFAULT_METRICS, &ss, &len, msg, sizeof(msg)) == 0) {
        c->metrics_sa = ss;
        c->metrics_salen = len;
    }
}

void config_free(struct daemon_config *c)
{
    config__list_clear(&c->listen);
    config__list_clear(&c->announce);
    config__list_clear(&c->ws_origins);
    config__list_clear(&c->rdv1_ids);
    config__list_clear(&c->waku_ids);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->acl_file);
    c->tls_cert = c->tls_key = c->acl_file = NULL;
    free(c->file);
    free(c->key_file);
    free(c->metrics_addr);
    free(c->push_protocol_id);
    free(c->data_dir);
    c->file = c->key_file = c->metrics_addr = c->push_protocol_id = c->data_dir = NULL;
    if (c->cluster_password)
        sodium_memzero(c->cluster_password, strlen(c->cluster_password));
    free(c->cluster);
    free(c->cluster_password);
    c->cluster = c->cluster_password = NULL;
}

enum config_result config_load(struct daemon_config *c, int argc, char **argv, FILE *out,
                               char *err, size_t errlen)
{
    struct option longopts[NOPTS + 1];
    char shorts[2 * NOPTS + 4];
    size_t ns = 0;
    struct config__arg *args = xcalloc((size_t)argc + 1, sizeof(*args));
    size_t nargs = 0;
    bool help = false, version = false;
    int last_multi = -1, ch;
    enum config_result rc = CONFIG_OK;
    char msg[256];

    config_init(c);
    err[0] = '\0';

    /* "-" returns operands in order (for the JS multi-value flags), ":"
     * makes getopt report errors to us instead of printing them. */
    shorts[ns++] = '-';
    shorts[ns++] = ':';
    for (size_t i = 0; i < NOPTS; i++) {
        const struct config__opt *o = &config__opts[i];
        longopts[i].name = o->name;
        longopts[i].has_arg = config__has_arg(o) ? required_argument : no_argument;
        longopts[i].flag = NULL;
        longopts[i].val = 256 + (int)i;
        if (o->short_name) {
            shorts[ns++] = o->short_name;
            if (config__has_arg(o))
                shorts[ns++] = ':';
        }
    }
    memset(&longopts[NOPTS], 0, sizeof(longopts[NOPTS]));
    shorts[ns] = '\0';

    optind = 0; /* full reset: the same argv is parsed again on SIGHUP */
    while (rc == CONFIG_OK && (ch = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
        int idx = -1;
        if (ch == 1) {
            if (last_multi < 0) {
                snprintf(err, errlen, "unexpected argument '%s'", optarg);
                rc = CONFIG_USAGE;
                break;
            }
            args[nargs++] = (struct config__arg){last_multi, optarg};
            continue;
        }
        if (ch == '?' || ch == ':') {
            const char *what = argv[optind - 1];
            if (ch == '?')
                snprintf(err, errlen, "unknown option '%s' (see --help)", what);
            else
                snprintf(err, errlen, "option '%s' needs a value", what);
            rc = CONFIG_USAGE;
            break;
        }
        if (ch >= 256) {
            idx = ch - 256;
        } else {
            for (size_t i = 0; i < NOPTS; i++)
                if (config__opts[i].short_name == ch)
                    idx = (int)i;
        }
        if (idx < 0)
            continue;
        last_multi = (config__opts[idx].flags & O_MULTI) ? idx : -1;
        switch (config__opts[idx].type) {
        case T_HELP: help = true; break;
        case T_VERSION: version = true; break;
        case T_CHECK: c->check = true; break;
        case T_FILE_ARG:
            free(c->file);
            c->file = xstrdup(optarg);
            break;
        default:
            args[nargs++] = (struct config__arg){idx, optarg};
        }
    }
    /* Operands after "--" are not options of anything. */
    if (rc == CONFIG_OK && optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        rc = CONFIG_USAGE;
    }
    optind = 0;

    if (rc == CONFIG_OK && help) {
        config_usage(out);
        rc = CONFIG_EXIT;
    } else if (rc == CONFIG_OK && version) {
        fprintf(out, "rendezvousd %s\n", RDV_VERSION);
        rc = CONFIG_EXIT;
    }
    if (rc == CONFIG_OK && c->file)
        rc = config__read_file(c, c->file, err, errlen);
    for (size_t i = 0; rc == CONFIG_OK && i < nargs; i++) {
        const struct config__opt *o = &config__opts[args[i].idx];
        /* The "line" of a command-line value is its rank, to tell which came last. */
        if (config__set(c, args[i].idx, args[i].value, CONFIG_CLI, (int)i + 1, msg, sizeof(msg)) < 0) {
            snprintf(err, errlen, "--%s: %s", o->name, msg);
            /* A well-formed flag whose address cannot be used is like a
             * listener that fails to bind: exit 1, as before the file existed. */
            const struct config__opt *t = &config__opts[config__slot(args[i].idx)];
            rc = (t->flags & (O_LISTENER | O_ANNOUNCE)) ? CONFIG_INVALID : CONFIG_USAGE;
        }
    }
    free(args);
    if (rc != CONFIG_OK)
        return rc;

    if (c->listen.n == 0) {
        c->listen.item[c->listen.n++] = xstrdup(CONFIG_DEFAULT_LISTEN_WS);
        c->listen.item[c->listen.n++] = xstrdup(CONFIG_DEFAULT_LISTEN_TCP);
    }
    if (c->push_protocol_id)
        c->rdv.push_protocol_id = c->push_protocol_id;
    config__protocol_ids(&c->rdv.rdv1_ids, &c->rdv1_ids);
    config__protocol_ids(&c->rdv.waku_ids, &c->waku_ids);
    return config__cross_check(c, err, errlen);
}

/* ---- deeper checks, reload -------------------------------------------- */

/* A file read at start (TLS certificate, key) must be a readable file. */
static enum config_result config__check_readable(const struct daemon_config *c, const char *name,
                                                 const char *path, char *err, size_t errlen)
{
    int slot = config__find(name);
    char where[300];
    struct stat st;

    if (path == NULL)
        return CONFIG_OK;
    config__where(c, slot, where, sizeof(where));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1 || fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "%s: cannot read %s: %s", where, path,
                 fd == -1 ? strerror(errno) : "not a regular file");
        if (fd != -1)
            close(fd);
        return CONFIG_INVALID;
    }
    close(fd);
    return CONFIG_OK;
}

enum config_result config_check(const struct daemon_config *c, char *err, size_t errlen)
{
    int slot = config__find("key");
    char where[300];
    struct stat st;
    uint8_t data[KEYFILE_MAX + 1];
    enum config_result rc;

    if ((rc = config__check_readable(c, "tls-cert", c->tls_cert, err, errlen)) != CONFIG_OK ||
        (rc = config__check_readable(c, "tls-key", c->tls_key, err, errlen)) != CONFIG_OK)
        return rc;
    if (c->acl_file) {
        struct acl acl;
        char why[400];
        if (acl_load(&acl, c->acl_file, why, sizeof(why)) < 0) {
            config__where(c, config__find("acl-file"), where, sizeof(where));
            snprintf(err, errlen, "%s: %s", where, why);
            return CONFIG_INVALID;
        }
        acl_free(&acl);
    }
    if (c->data_dir) {
        char why[400];
        if (store_lmdb_check(c->data_dir, why, sizeof(why)) != 0) {
            config__where(c, config__find("data-dir"), where, sizeof(where));
            snprintf(err, errlen, "%s: %s", where, why);
            return CONFIG_INVALID;
        }
    }
    if (c->key_file == NULL)
        return CONFIG_OK;
    config__where(c, slot, where, sizeof(where));
    enum config_result bad = CONFIG_INVALID; /* an unusable file, wherever it is named */

    int fd = open(c->key_file, O_RDONLY | O_CLOEXEC);
    if (fd == -1 && errno == ENOENT) {
        /* It will be created at start: its folder must exist. */
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "%s", c->key_file);
        char *slash = strrchr(dir, '/');
        if (slash == NULL)
            snprintf(dir, sizeof(dir), ".");
        else if (slash == dir)
            dir[1] = '\0';
        else
            *slash = '\0';
        if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s: %s: folder %s does not exist", where, c->key_file, dir);
            return bad;
        }
        return CONFIG_OK;
    }
    if (fd == -1) {
        snprintf(err, errlen, "%s: %s: %s", where, c->key_file, strerror(errno));
        return bad;
    }
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        snprintf(err, errlen, "%s: %s is not a regular file", where, c->key_file);
        return bad;
    }
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, data + n, sizeof(data) - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
        if (n == sizeof(data))
            break;
    }
    close(fd);

    struct privkey k;
    char why[300];
    int bad_key = n == sizeof(data) ? -1 : keyfile_parse(data, n, &k, why, sizeof(why));
    if (n == sizeof(data))
        snprintf(why, sizeof(why), "is too large to be a key file");
    else if (bad_key == 0)
        privkey_wipe(&k);
    sodium_memzero(data, sizeof(data));
    if (bad_key) {
        snprintf(err, errlen, "%s: %s %s", where, c->key_file, why);
        return bad;
    }
    return CONFIG_OK;
}

bool config_is_set(const struct daemon_config *c, const char *name)
{
    int i = config__find(name);
    return i >= 0 && c->source[config__slot(i)] != CONFIG_DEFAULT;
}

static size_t config__type_size(enum config__type t)
{
    switch (t) {
    case T_SIZE:
    case T_BYTES: return sizeof(size_t);
    case T_U64: return sizeof(uint64_t);
    case T_SECONDS:
    case T_RATE: return sizeof(double);
    case T_LEVEL: return sizeof(enum log_level);
    case T_FORMAT: return sizeof(enum log_format);
    case T_BOOL: return sizeof(bool);
    default: return 0;
    }
}

void config_apply_reloadable(struct daemon_config *dst, const struct daemon_config *src)
{
    for (size_t i = 0; i < NOPTS; i++) {
        const struct config__opt *o = &config__opts[i];
        size_t n = config__type_size(o->type);
        if ((o->flags & O_RELOAD) && n > 0)
            memcpy((char *)dst + o->offset, (const char *)src + o->offset, n);
    }
}

/* The value of option i as text (for --help defaults and reload diffs). */
static void config__format(const struct daemon_config *c, size_t i, char *out, size_t cap)
{
    const struct config__opt *o = &config__opts[i];
    const void *p = (const char *)c + o->offset;

    out[0] = '\0';
    switch (o->type) {
    case T_LIST: {
        const struct config_list *l = p;
        size_t used = 0;
        for (size_t k = 0; k < l->n && used < cap; k++)
            used += (size_t)snprintf(out + used, cap - used, "%s%s", k ? " " : "", l->item[k]);
        break;
    }
    case T_STR: snprintf(out, cap, "%s", *(char *const *)p ? *(char *const *)p : ""); break;
    case T_SIZE:
    case T_BYTES: snprintf(out, cap, "%zu", *(const size_t *)p); break;
    case T_U64: snprintf(out, cap, "%llu", (unsigned long long)*(const uint64_t *)p); break;
    case T_SECONDS:
    case T_RATE: snprintf(out, cap, "%g", *(const double *)p); break;
    case T_LEVEL: snprintf(out, cap, "%s", log_level_name(*(const enum log_level *)p)); break;
    case T_FORMAT: snprintf(out, cap, "%s", *(const enum log_format *)p == LOG_JSON ? "json" : "text"); break;
    case T_BOOL: snprintf(out, cap, "%s", *(const bool *)p ? "true" : "false"); break;
    case T_METRICS: snprintf(out, cap, "%s", c->metrics_on ? c->metrics_addr : "off"); break;
    default: break;
    }
}

size_t config_restart_needed(const struct daemon_config *a, const struct daemon_config *b,
                             char *names, size_t cap)
{
    char va[1024], vb[1024];
    size_t count = 0, used = 0;

    if (cap)
        names[0] = '\0';
    for (size_t i = 0; i < NOPTS; i++) {
        const struct config__opt *o = &config__opts[i];
        if (o->flags & (O_RELOAD | O_CLI_ONLY | O_COMPAT | O_HIDDEN))
            continue;
        config__format(a, i, va, sizeof(va));
        config__format(b, i, vb, sizeof(vb));
        if (strcmp(va, vb) == 0)
            continue;
        count++;
        if (used < cap)
            used += (size_t)snprintf(names + used, cap - used, "%s%s", used ? " " : "", o->name);
    }
    return count;
}

/* ---- help ----------------------------------------------------------------- */

/* Sizes read better as 16M than as 16777216. */
static void config__format_bytes(size_t v, char *out, size_t cap)
{
    if (v >= (1u << 20) && v % (1u << 20) == 0)
        snprintf(out, cap, "%zuM", v >> 20);
    else if (v >= 1024 && v % 1024 == 0)
        snprintf(out, cap, "%zuk", v >> 10);
    else
        snprintf(out, cap, "%zu", v);
}

static void config__usage_entry(FILE *f, const struct config__opt *o, const struct daemon_config *d)
{
    enum { COL = 32, WIDTH = 79 };
    char head[80], text[400], def[128] = "";
    const char *arg = o->arg;

    if (o->type == T_ALIAS && arg == NULL)
        arg = config__opts[config__slot((int)(o - config__opts))].arg;
    if (o->short_name)
        snprintf(head, sizeof(head), "  -%c, --%s%s%s", o->short_name, o->name, arg ? " " : "",
                 arg ? arg : "");
    else
        snprintf(head, sizeof(head), "      --%s%s%s", o->name, arg ? " " : "", arg ? arg : "");
    switch (o->type) {
    case T_BYTES:
        config__format_bytes(*(const size_t *)((const char *)d + o->offset), def, sizeof(def));
        break;
    case T_SIZE: case T_U64: case T_SECONDS: case T_RATE: case T_LEVEL: case T_FORMAT: case T_METRICS:
        config__format(d, (size_t)(o - config__opts), def, sizeof(def));
        break;
    default:
        break;
    }
    snprintf(text, sizeof(text), "%s%s%s%s", o->help, def[0] ? " (default " : "", def,
             def[0] ? ")" : "");

    /* Help starts at column COL (a long head gets a line of its own) and
     * wraps at word boundaries before column WIDTH. */
    fputs(head, f);
    int col = (int)strlen(head);
    if (col >= COL - 1) {
        fputc('\n', f);
        col = 0;
    }
    fprintf(f, "%*s", COL - col, "");
    col = COL;
    for (const char *w = text; *w;) {
        size_t len = strcspn(w, " ");
        if (col > COL && col + 1 + (int)len > WIDTH) {
            fprintf(f, "\n%*s", COL, "");
            col = COL;
        } else if (col > COL) {
            fputc(' ', f);
            col++;
        }
        fwrite(w, 1, len, f);
        col += (int)len;
        w += len;
        w += strspn(w, " ");
    }
    fputc('\n', f);
}

void config_usage(FILE *f)
{
    struct daemon_config d;

    config_init(&d);
    fprintf(f,
            "Usage: rendezvousd [OPTIONS]\n"
            "\n"
            "A libp2p rendezvous point. Every option but --config, --check-config,\n"
            "--help and --version can also be set in the configuration file as\n"
            "NAME = VALUE; the command line wins over the file. SIGHUP re-reads the\n"
            "file and applies the limits and the log level.\n"
            "\n"
            "Options:\n");
    for (size_t i = 0; i < NOPTS; i++)
        if (!(config__opts[i].flags & (O_COMPAT | O_HIDDEN)))
            config__usage_entry(f, &config__opts[i], &d);
    fprintf(f, "\nCompatibility with libp2p-rendezvous-server:\n");
    for (size_t i = 0; i < NOPTS; i++)
        if (config__opts[i].flags & O_COMPAT)
            config__usage_entry(f, &config__opts[i], &d);
    config_free(&d);
}
