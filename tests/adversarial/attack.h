/* rdv-attack: attacks on rendezvousd, each against a daemon of its own on
 * loopback, with a well-behaved client measured alongside.
 *
 * Process model: the parent starts the daemon (ephemeral port, its own key
 * file), forks the probe (the well-behaved client) and the scenario's roles
 * (attackers, and the honest peers some attacks need), each with a libev
 * loop of its own, and drives the phases through one MAP_SHARED region:
 * setup (roles connect and prepare), idle (the probe's baseline), attack,
 * stop (roles check what they must, e.g. that subscribers saw the right
 * members), done. Meanwhile it samples the daemon's RSS from
 * /proc/PID/status and checks that the daemon is alive. Every loop is
 * bounded in time and count; only 127.0.0.0/8 is ever dialed. */
#ifndef RDV_TESTS_ADVERSARIAL_ATTACK_H
#define RDV_TESTS_ADVERSARIAL_ATTACK_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "proc.h"   /* proc_rss, proc_cpu, raise_nofile: shared with rdv-bench */
#include "base/buf.h"
#include "base/lpm.h"
#include "crypto/key.h"
#include "host/host.h"

#define ATTACK_MAX_ROLES 4
#define ATTACK_MAX_SAMPLES 65536
#define ATTACK_SCEN_BYTES (1u << 20)   /* scenario-specific shared area */

/* Source addresses: the probe dials from 127.0.0.1; each scenario's peers
 * from their own part of 127.0.0.0/8 (attack_src), so per-address limits see
 * the attacker apart from the well-behaved client. */
enum attack_net {
    NET_ATTACKER = 2,   /* 127.2.0.x: the attacker's own address(es) */
    NET_HONEST = 3,     /* 127.3.x.y: honest peers a scenario needs (subscribers) */
    NET_CROWD = 4,      /* 127.4.x.y: many peers (push registrations) */
};

enum attack_phase { AP_SETUP = 0, AP_IDLE, AP_ATTACK, AP_STOP, AP_DONE };

/* Latency samples in milliseconds. */
struct samples {
    _Atomic uint32_t n;
    float v[ATTACK_MAX_SAMPLES];
};

struct attack_shm {
    _Atomic int phase;
    _Atomic int ready[ATTACK_MAX_ROLES];   /* role finished its setup */
    _Atomic int done[ATTACK_MAX_ROLES];    /* role finished its checks */
    _Atomic int probe_ready;
    /* the probe: [0] idle, [1] during the attack (and the checks after it) */
    struct samples ping[2], disc[2];
    _Atomic uint64_t probe_refused;        /* connection lost, dial failed, request refused */
    _Atomic uint64_t dials_ok, dials_failed;
    char probe_why[192];
    /* the roles */
    _Atomic uint64_t ops;                  /* attack operations, for the rate */
    _Atomic uint64_t ops2;                 /* a second count (scenario's meaning) */
    _Atomic int failed;
    char why[256];                         /* first failure a role reported */
    char note[256];                        /* a figure a role reports for the result line */
    _Alignas(16) uint8_t scen[ATTACK_SCEN_BYTES];
};

struct attack_opts {
    const char *daemon;
    bool full;                  /* make stress sizes */
    bool verbose;
    double scale;               /* of the full sizes, for short runs (set by main) */
};

/* What a role and the parent see. */
struct attack_ctx {
    const struct attack_opts *o;
    struct attack_shm *shm;
    struct sockaddr_in daemon_sa;   /* the daemon's TCP listener */
    char daemon_ma[256];            /* /ip4/127.0.0.1/tcp/P/p2p/ID */
    pid_t daemon_pid;
    pid_t redis_pid;                /* scenario.cluster: the redis-server */
    char cluster_url[256];          /* scenario.cluster: unix:///DIR/redis.sock */
    pid_t parent;
    int role;
};

struct scenario {
    const char *name;
    const char *what;
    int nroles;
    /* Runs in a child process: setup, attack_ready(), the attack until the
     * phase is AP_STOP, the checks, attack_done(). Returns the exit code. */
    int (*role)(struct attack_ctx *x);
    double rss_bound_mb;        /* growth allowed (defaults) */
    bool ping_absolute;         /* the bound is ping p99 < 50 ms, not relative */
    double attack_s, attack_s_short;
    /* Extra daemon arguments (NULL-terminated), may be NULL. */
    const char *const *daemon_args;
    /* The daemon is a cluster node (--cluster) on a redis-server of the
     * run's own (a unix socket in the run's directory), which roles may
     * join as other nodes (attack_ctx.cluster_url). */
    bool cluster;
    /* After the run, in the parent: scenario figures and pass/fail of its
     * own bounds (0 ok); text goes into the result line. */
    int (*judge)(struct attack_ctx *x, double attack_s, char *out, size_t cap);
};

extern const struct scenario scen_discover_flood;
extern const struct scenario scen_discover_streams;
extern const struct scenario scen_mplex_flood;
extern const struct scenario scen_park_partial;
extern const struct scenario scen_push_amplify;
extern const struct scenario scen_refresh_flood;
extern const struct scenario scen_sample_stall;
extern const struct scenario scen_sample_stall_cluster;
extern const struct scenario scen_noise_flood;

/* ---- harness.c: processes, /proc, time --------------------------------- */

double mono_s(void);
bool proc_alive(pid_t pid);                /* not exited (reaps it if it has) */
/* Runs a scenario end to end; prints its result line; 0 if it passed, 2 if
 * only the well-behaved client's latency bounds were not met, else 1. */
int attack_run(const struct attack_opts *o, const struct scenario *sc);

/* ---- role side ----------------------------------------------------------- */

/* The role's setup is over (it then runs its loop with attack_loop_until
 * until the phase is AP_ATTACK, so its connections keep being served). */
void attack_ready(struct attack_ctx *x);
void attack_done(struct attack_ctx *x);
int attack_phase(const struct attack_ctx *x);
/* Records the first failure (printed in the result line); returns 1. */
int attack_fail(struct attack_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void attack_note(struct attack_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A size of the full run, scaled down for short runs (at least min). */
size_t attack_size(const struct attack_ctx *x, size_t full, size_t min);
/* Runs loop until done(arg) or the phase reaches `until` or timeout s;
 * true if done(arg). Breaks out when the parent dies. */
bool attack_loop_until(struct attack_ctx *x, struct ev_loop *loop, bool (*done)(void *arg),
                       void *arg, int until, double timeout);

/* ---- probe.c: the well-behaved client ----------------------------------- */

int probe_main(struct attack_ctx *x);

/* ---- peer.c: client building blocks ------------------------------------- */

/* A client host with limits that never cut its own side (an attacker
 * decides itself what it reads and writes). */
void peer_host_init(struct host *h, struct ev_loop *loop, struct log *log);
/* Gives h the identity k for its next handshakes (one in flight at a time):
 * many peers from one host without a 128 KiB host each. */
void peer_identity(struct host *h, const struct privkey *k);
/* Dials the daemon from source address 127.net.hi.lo (TCP, Noise, yamux). */
struct conn *peer_dial(struct host *h, const struct attack_ctx *x, enum attack_net net,
                       uint32_t idx, const struct conn_events *ev, void *user);
/* 127.net.(idx >> 8).(idx & 255) in network order (idx 0 is .0.1). */
uint32_t peer_src(enum attack_net net, uint32_t idx);

/* Signed records: ~1.7 KB (32 long /dns4 addresses) or one /ip4 address. */
void peer_envelope(const struct privkey *k, bool large, struct buf *out);

/* Framed /rendezvous/1.0.0 and Waku requests appended to out. */
void rdv1_register(struct buf *out, const char *ns, const struct buf *env, uint64_t ttl);
void rdv1_discover(struct buf *out, const char *ns, uint64_t limit, const uint8_t *cookie,
                   size_t cookie_len);
void waku_register(struct buf *out, const char *ns, const struct buf *env);
void waku_discover(struct buf *out, const char *ns, int64_t limit);

/* An outbound request stream: many framed requests, answers handed to
 * on_msg in order. */
struct req_stream;
typedef void req_msg_fn(struct req_stream *r, const uint8_t *m, size_t n);
struct req_stream {
    struct protocol proto;
    struct stream *s;           /* NULL until open and after close */
    struct lpm in;
    req_msg_fn *on_msg;
    void (*on_open)(struct req_stream *r);
    void (*on_end)(struct req_stream *r, const char *why);
    void *user;
    bool open, ended;
};
/* Opens protocol `id` on c. -1 if the connection takes no new stream. */
int req_stream_open(struct req_stream *r, struct conn *c, const char *id, void *user);
void req_stream_send(struct req_stream *r, const struct buf *b);

/* Parsed answers: status (0 OK) and the number of registrations; cookie
 * (rdv1) copied to cookie[0..*clen) when given. -1 if not the expected type. */
int rdv1_answer(const uint8_t *m, size_t n, bool discover, int *status, size_t *nregs,
                uint8_t *cookie, size_t *clen);
int waku_answer(const uint8_t *m, size_t n, bool discover, int *status, size_t *nregs);

/* A yamux Window Update granting `delta` more bytes on stream id (raw frame
 * into the session's output: the library's own flow control never grants
 * what was not read). */
void peer_grant_window(struct conn *c, uint32_t stream_id, uint32_t delta);
/* Stops reading from the socket: what the daemon sends stays with it. */
void peer_stop_reading(struct conn *c);

#endif
