/* rendezvousd's configuration.
 *
 * One table of options serves both the configuration file (rendezvousd.conf,
 * NAME = VALUE lines read with inih) and the command line (getopt_long), so
 * every option exists in both, under one name, with one parser and one range
 * check. Precedence: built-in defaults < the file given with --config < the
 * command line. A list option (--listen, --announce) given on the command
 * line replaces the file's list instead of adding to it.
 *
 * The flags of the JS libp2p-rendezvous-server (seed 001) are aliases of
 * our own options, so a deployment can swap binaries without editing its
 * unit file.
 *
 * SIGHUP reloads the options marked reloadable (limits, log level and
 * format): the daemon loads a fresh config with the same command line and
 * copies those fields into the live structs (config_apply_reloadable); the
 * others need a restart (config_restart_needed names the ones that changed).
 *
 * Errors are returned as text, "FILE:LINE: ..." for the file and "--NAME: ..."
 * for the command line; this module never logs and never exits. */
#ifndef RDV_DAEMON_CONFIG_H
#define RDV_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "base/log.h"
#include "host/host.h"
#include "relay/relay.h"
#include "rendezvous/service.h"

#define CONFIG_MAX_ADDRS HOST_MAX_LISTENERS
#define CONFIG_MAX_OPTIONS 128
#define CONFIG_MAX_WORKERS 64
/* With no listen option: the seed-001 pair, browsers over /ws and the rest over TCP. */
#define CONFIG_DEFAULT_LISTEN_WS "/ip4/127.0.0.1/tcp/15003/ws"
#define CONFIG_DEFAULT_LISTEN_TCP "/ip4/127.0.0.1/tcp/8000"
#define CONFIG_DEFAULT_METRICS "127.0.0.1:8003"
#define CONFIG_DEFAULT_CLUSTER_NODE_TIMEOUT 5.0
#define CONFIG_DEFAULT_CLUSTER_LOG_MAX 100000
#define CONFIG_DEFAULT_FILE "/etc/rendezvousd/rendezvousd.conf" /* documented, not implied */

enum config_source { CONFIG_DEFAULT = 0, CONFIG_FILE, CONFIG_CLI };

enum config_result {
    CONFIG_OK = 0,
    CONFIG_EXIT,      /* --help or --version was printed: exit 0 */
    CONFIG_INVALID,   /* exit 1: the file cannot be read or holds an error, or an
                       * address or file named anywhere is unusable */
    CONFIG_USAGE,     /* exit 2: the command line is malformed (unknown option,
                       * bad or out-of-range value, options that contradict) */
};

struct config_list {
    char *item[CONFIG_MAX_ADDRS];   /* owned copies */
    size_t n;
};

struct daemon_config {
    char *file;                     /* --config FILE, or NULL */
    bool check;                     /* --check-config */
    struct config_list listen;      /* the two CONFIG_DEFAULT_LISTEN_* if none given */
    struct config_list announce;
    char *key_file;                 /* NULL: a new identity per run */
    char *tls_cert, *tls_key;       /* PEM files for /tls/ws listeners, or NULL */
    char *acl_file;                 /* namespace access rules (daemon/acl.h), or NULL: allow all */
    struct config_list ws_origins;  /* allowed WebSocket Origins; empty: any */
    enum log_level log_level;
    enum log_format log_format;
    bool metrics_on;                /* false after "--metrics off" */
    char *metrics_addr;             /* HOST:PORT as given */
    struct sockaddr_storage metrics_sa;
    socklen_t metrics_salen;
    bool memory_db;                 /* seed 001 --enableMemoryDatabase (always true in effect) */
    char *data_dir;                 /* --data-dir: the LMDB store, or NULL (memory) */
    size_t data_map_size;           /* its initial map size */
    size_t workers;                 /* --workers N: a master and N workers; 0: one process */
    char *cluster;                  /* --cluster: the Redis URL, or NULL (a single node) */
    char *cluster_password;         /* AUTH password when not in the URL */
    double cluster_node_timeout;    /* seconds without a heartbeat before a node is reaped */
    size_t cluster_log_max;         /* change log entries kept in Redis */
    struct host_limits host;
    struct rdv_config rdv;          /* includes the registry limits */
    struct relay_config relay;      /* circuit relay v2 (--relay) */
    char *push_protocol_id;         /* rdv.push_protocol_id points here when set */
    struct config_list rdv1_ids;    /* --rendezvous-protocol: rdv.rdv1_ids point here when set */
    struct config_list waku_ids;    /* --waku-protocol: rdv.waku_ids likewise */
    /* Where each option's value came from, by option table index: the source,
     * and the line in the file or the rank on the command line. */
    uint8_t source[CONFIG_MAX_OPTIONS];
    int line[CONFIG_MAX_OPTIONS];
};

/* Built-in defaults. */
void config_init(struct daemon_config *c);
void config_free(struct daemon_config *c);

/* config_init, then the command line, the file it names, and the command
 * line again on top; then cross-option checks. Help and version text go to
 * out. On failure err holds one line without the program name. c must be
 * freed with config_free whatever the result. */
enum config_result config_load(struct daemon_config *c, int argc, char **argv, FILE *out,
                               char *err, size_t errlen);

/* Checks that need the file system, beyond what config_load checks: that the
 * key file, if it exists, holds a usable identity, or that its folder
 * exists. Done by --check-config (and at start by the key loader anyway). */
enum config_result config_check(const struct daemon_config *c, char *err, size_t errlen);

/* True if the option NAME (its long name) was set by the file or the
 * command line rather than left at its default. */
bool config_is_set(const struct daemon_config *c, const char *name);

/* Copies the reloadable options (limits, log level and format) from src. */
void config_apply_reloadable(struct daemon_config *dst, const struct daemon_config *src);
/* Writes the space-separated names of options that differ between a and b
 * but only take effect at a restart; returns how many there are. */
size_t config_restart_needed(const struct daemon_config *a, const struct daemon_config *b,
                             char *names, size_t cap);

/* The --help text, generated from the option table. */
void config_usage(FILE *f);

#endif
