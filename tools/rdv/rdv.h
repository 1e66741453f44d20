/* rdv: shared client plumbing. The commands are built on librendezvous
 * (include/rendezvous/client.h) only; each group lives in its own file
 * (cmd_ping.c, cmd_push.c, cmd_rdv1.c, cmd_keys.c) and is listed in rdv.c's
 * table. */
#ifndef RDV_TOOLS_RDV_H
#define RDV_TOOLS_RDV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ev.h>
#include <rendezvous/client.h>

#define RDV_OPT_MAX_ADDRS 16

struct rdv_opts {
    const char *server;      /* --server MULTIADDR */
    const char *key_file;    /* --key FILE, else the default identity (NULL: a fresh one) */
    bool key_given;          /* --key was passed */
    const char *ns;          /* the NS positional argument, if the command takes one */
    const char *dialect;     /* --dialect push|standard|waku, NULL = command default */
    const char *cookie;      /* --cookie HEX */
    const char *protocol;    /* --protocol ID (override the dialect's protocol id) */
    int count;               /* --count N */
    uint64_t ttl, limit;     /* --ttl S, --limit N */
    bool has_ttl, has_limit;
    bool json;               /* --json: one JSON object per line */
    bool reg;                /* --register (watch) */
    bool no_reconnect;       /* --no-reconnect (watch) */
    uint64_t max_members;    /* --max-members N (watch; 0: the library's default) */
    bool verbose;
    const char *addrs[RDV_OPT_MAX_ADDRS]; /* --addr MULTIADDR: for our signed peer record */
    size_t naddrs;
    const char *metadata;    /* --metadata TEXT: push presence state of our registration */
    double timeout;          /* --timeout S: until the command's work is done */
    double keepalive;        /* --keepalive S: ping period of long-running commands */
};

struct client {
    struct ev_loop *loop;
    rdv_client *rc;
    struct rdv_opts o;
    ev_timer deadline;
    ev_signal sigint, sigterm;
    int exit_code;
    bool done;
    bool closing;            /* after the command: rdv_client_close is under way */
    bool connected_once;     /* a connection was up at least once */
    const struct command *cmd;
    void *state;             /* the command's */
};

struct command {
    const char *name;
    const char *usage;       /* one line for `rdv --help` */
    bool needs_ns;
    /* Reconnects after a lost connection unless --no-reconnect. */
    bool (*reconnects)(const struct rdv_opts *o);
    /* Called once the client exists (requests wait for the connection). */
    void (*start)(struct client *cl);
    /* Called once the connection is up (optional). */
    void (*on_connected)(struct client *cl);
    /* Called at the end (optional): release state. */
    void (*on_exit)(struct client *cl);
    /* Called before connecting (optional), for work that needs no peer:
     * returns the exit code, or -1 to go on and connect. */
    int (*offline)(const struct rdv_opts *o);
};

/* Ends the command with an exit code (stops the loop). */
void client_finish(struct client *cl, int code);
/* Prints "rdv: <message>" to stderr and ends with exit code 1. */
void client_fail(struct client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Fails with a library error code or result ("<text> (status N)" for a
 * refusal). */
void client_fail_result(struct client *cl, const rdv_result *r);
/* For a completion callback: true if the command goes on with r; false if
 * it is over, or r is an error (then reported: client_fail_result). */
bool client_result_ok(struct client *cl, const rdv_result *r);
/* Commands that run until interrupted call this once set up. */
void client_no_deadline(struct client *cl);
/* The server's peer id: the /p2p/ part of --server. */
const char *client_server_id(const struct client *cl);

/* Prints s (n bytes) as a JSON string: quotes, backslashes and control
 * characters escaped. */
void client_json_string(const char *s, size_t n);

extern const struct command cmd_ping;
/* cmd_push.c: push mode; register and discover dispatch on the dialect. */
extern const struct command cmd_watch, cmd_register, cmd_discover;
/* cmd_rdv1.c: /rendezvous/1.0.0 (and --dialect waku) register/discover, and unregister. */
extern const struct command cmd_rdv1_register, cmd_rdv1_discover, cmd_unregister;
/* cmd_keys.c: keygen and id (identities). */
extern const struct command cmd_keygen, cmd_id;

#endif
