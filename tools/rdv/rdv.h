/* rdv: shared client plumbing. Each command group lives in its own file
 * (cmd_ping.c, cmd_push.c, cmd_rdv1.c) and is listed in rdv.c's table. */
#ifndef RDV_TOOLS_RDV_H
#define RDV_TOOLS_RDV_H

#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "base/log.h"
#include "host/host.h"

struct rdv_opts {
    const char *server;      /* --server MULTIADDR */
    const char *key_file;    /* --key FILE */
    const char *ns;          /* the NS positional argument, if the command takes one */
    const char *dialect;     /* --dialect push|standard|waku, NULL = command default */
    const char *cookie;      /* --cookie HEX */
    const char *protocol;    /* --protocol ID (override the dialect's protocol id) */
    int count;               /* --count N */
    uint64_t ttl, limit;     /* --ttl S, --limit N */
    bool has_ttl, has_limit;
    bool json;               /* --json: one JSON object per line */
    bool reg;                /* --register (watch) */
    bool verbose;
    double timeout;          /* --timeout S: until the command's work is done */
};

struct client {
    struct host host;
    struct log log;
    struct conn *conn;
    struct rdv_opts o;
    ev_timer deadline;
    ev_signal sigint, sigterm;
    int exit_code;
    bool done;
    const struct command *cmd;
    void *state;             /* the command's (NULL until its on_ready) */
};

struct command {
    const char *name;
    const char *usage;       /* one line for `rdv --help` */
    bool needs_ns;
    /* Called once the connection is secured and muxed. */
    void (*on_ready)(struct client *cl);
    /* Called at the end (optional): release state. */
    void (*on_exit)(struct client *cl);
};

/* Ends the command with an exit code (closes the connection, stops the loop). */
void client_finish(struct client *cl, int code);
/* Prints "rdv: <message>" to stderr and ends with exit code 1. */
void client_fail(struct client *cl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Commands that run until interrupted call this once set up. */
void client_no_deadline(struct client *cl);

extern const struct command cmd_ping;

#endif
