/* The metrics endpoint: a deliberately small HTTP/1.1 server on the daemon's
 * libev loop that answers GET /metrics with the Prometheus text exposition
 * format (0.0.4) and 404 for any other path.
 *
 * A scraper is trusted no more than a peer: requests are parsed with
 * http-parser and bounded in size (METRICS_MAX_REQUEST); one deadline
 * (METRICS_TIMEOUT) covers reading the request and sending the answer, so
 * an idle client or a slow reader is closed; one request per connection
 * (the answer says "Connection: close"); the answer is made only once the
 * request is complete, is at most METRICS_MAX_RESPONSE bytes and is written
 * as fast as the client reads; at most METRICS_MAX_CLIENTS at once, and
 * when all slots are busy a newcomer takes the slot of an answered client,
 * else of the oldest idle one, else of the oldest slow reader. accept()
 * pauses for a second when out of file descriptors.
 *
 * What is measured is not known here: the owner passes a callback that
 * appends metric families to a buffer with the prom_* helpers below. */
#ifndef RDV_DAEMON_METRICS_H
#define RDV_DAEMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "base/buf.h"
#include "base/histogram.h"
#include "base/log.h"

#define METRICS_MAX_REQUEST 8192    /* bytes of request line + headers + body */
#define METRICS_MAX_URL 1024
#define METRICS_MAX_CLIENTS 16
#define METRICS_TIMEOUT 5.0         /* seconds to send a request and read the answer */
#define METRICS_MAX_RESPONSE (1u << 20) /* bytes of one answer */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Appends the current metrics to out (Prometheus text). */
typedef void (*metrics_collect_fn)(struct buf *out, void *ctx);

struct metrics_client;

struct metrics_server {
    struct ev_loop *loop;
    struct log *log;
    int fd;                        /* -1 when not listening */
    ev_io io;
    ev_timer backoff;              /* accept paused after EMFILE */
    metrics_collect_fn collect;
    void *ctx;
    struct metrics_client *clients;
    size_t nclients;
    uint64_t scrapes;              /* 200 answers to GET /metrics */
    uint64_t timeouts;             /* clients closed by the deadline */
    uint64_t evictions;            /* clients closed to give their slot to a newcomer */
    double deadline;               /* seconds per client (METRICS_TIMEOUT; tests lower it) */
    char addr[64];                 /* bound address, "127.0.0.1:8003" or "[::1]:8003" */
};

/* Binds sa (port 0 picks a free port, see m->addr) and starts serving on
 * loop. Returns 0, or -1 with err set (nothing to free then). */
int metrics_start(struct metrics_server *m, struct ev_loop *loop, struct log *log,
                  const struct sockaddr *sa, socklen_t salen, metrics_collect_fn collect,
                  void *ctx, char *err, size_t errlen);
/* Closes the listener and every client. Safe to call twice, and on a
 * zeroed struct whose fd is -1. */
void metrics_stop(struct metrics_server *m);
static inline bool metrics_running(const struct metrics_server *m) { return m->fd >= 0; }

/* Prometheus text helpers. name and labels are trusted program constants:
 * labels is a preformatted list such as `dialect="push",type="register"`,
 * or NULL / "" for none. */
void prom_family(struct buf *b, const char *name, const char *type, const char *help);
void prom_u64(struct buf *b, const char *name, const char *labels, uint64_t v);
/* A family with one unlabelled sample: prom_family then prom_u64. */
void prom_scalar(struct buf *b, const char *name, const char *type, const char *help, uint64_t v);
void prom_f64(struct buf *b, const char *name, const char *labels, double v);
/* name_bucket{...,le="..."} (cumulative, ending with +Inf), name_sum and
 * name_count; call prom_family(b, name, "histogram", ...) first. */
void prom_histogram(struct buf *b, const char *name, const char *labels,
                    const struct histogram *h);
/* Formats a sample value as Prometheus expects (+Inf, -Inf, NaN, or the
 * shortest decimal that reads back exactly). */
void prom_format_f64(char *out, size_t cap, double v);

#endif
