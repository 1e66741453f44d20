/* rdv-bench: load generator for rendezvousd (and redis-server for
 * comparison). Figures are printed, never asserted.
 *
 * Process model: the parent starts the server under test, forks worker
 * processes that each run one libev loop with many client connections, and
 * drives the scenario. Workers and parent share one MAP_SHARED region
 * (mapped before fork) holding issue timestamps, completion counters and
 * each worker's results; workers report events (ready, done, an event
 * delivered to every subscriber) over one pipe of fixed-size records, which
 * also tells the parent when a worker dies (EOF). CLOCK_MONOTONIC is the
 * same clock in every process, so latencies are measured across them. */
#ifndef RDV_TOOLS_BENCH_H
#define RDV_TOOLS_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <ev.h>

#include "proc.h"

#define BENCH_MAX_WORKERS 16
#define BENCH_MAX_ROWS 24
#define BENCH_RING 65536u           /* in-flight events tracked (power of two) */
#define BENCH_NS "bench"            /* the fan-out namespace / channel */

/* ---- options ------------------------------------------------------------ */

struct bench_opts {
    const char *daemon;         /* rendezvousd binary */
    const char *redis;          /* redis-server binary */
    bool quick;                 /* make bench sizes */
    double seconds;             /* measured phase per run (0 = scenario default) */
    int procs;                  /* worker processes (0 = scenario default) */
    int subs;                   /* fanout: subscribers (0 = run the standard sizes) */
    int window;                 /* fanout: events in flight */
    double rate;                /* fanout: paced deliveries/s (0 = closed loop) */
    int streams;                /* sessions per connection (fanout, idle) */
    int sessions;               /* idle: sessions */
    int clients;                /* requests: clients */
    int dialers;                /* handshakes: concurrent dialers */
    const char *data_dir;       /* requests: the daemon's --data-dir (NULL: in memory) */
    /* set by the cluster scenario for run_fanout: */
    const char *const *server_args; /* more rendezvousd options (NULL-terminated, <= 8; fanout adds 2) */
    const char *registrant_at;  /* the registrant dials this node instead of the server */
    pid_t watch_pid;            /* another process whose CPU use is reported (redis-server) */
    const char *watch_name;
    bool verbose;
};

/* ---- result table ------------------------------------------------------- */

struct bench_row {
    char scenario[24];
    char params[48];
    char figure[192];
    char latency[64];
    char target[48];
    char vs[48];
};

struct bench_table {
    struct bench_row rows[BENCH_MAX_ROWS];
    int n;
};

struct bench_row *table_add(struct bench_table *t, const char *scenario);
void table_print(const struct bench_table *t);
void print_machine(void);

/* ---- what rdv-bench and rdv-microbench do before running ---------------- */

/* The rendezvousd beside this binary (both are built in one folder). */
void bench_default_daemon(char *out, size_t cap);
/* Marks in want[] the scenarios named in argv[first..argc-1] ("all": every
 * one; none named: every one). Returns the index in argv of the first name
 * that is not in names[], or 0 if all are. */
int bench_pick_scenarios(int argc, char **argv, int first, const char *const *names, size_t n,
                         bool *want);
/* libsodium, SIGPIPE ignored, the fd limit raised, stdout line-buffered.
 * -1 if libsodium cannot start. */
int bench_process_init(void);

/* ---- time, processes ---------------------------------------------------- */

uint64_t now_ns(void);
double now_s(void);
/* Sum of per-worker counters in shared memory. */
uint64_t shm_sum(_Atomic uint64_t *a, int n);

/* ---- latency histogram (log-linear, ~6 % buckets) ----------------------- */

#define HIST_BUCKETS 720
struct hist {
    uint64_t n;
    uint64_t max;
    uint64_t b[HIST_BUCKETS];
};

void hist_add(struct hist *h, uint64_t ns);
void hist_merge(struct hist *into, const struct hist *from);
/* Value (ns) at quantile q in [0, 1]. */
uint64_t hist_quantile(const struct hist *h, double q);
/* "p50 1.23 / p99 4.56 / p99.9 7.89 ms" */
void hist_format(const struct hist *h, char *out, size_t cap, bool with_p999);

/* ---- the server under test ---------------------------------------------- */

struct server {
    pid_t pid;
    char addr[256];             /* /ip4/127.0.0.1/tcp/P/p2p/ID (or host:port for redis) */
    char host[64];
    int port;
};

/* Starts rendezvousd on a free loopback port with limits raised for load. */
int rdv_server_start(struct server *s, const char *path);
/* The same with more options (NULL-terminated, at most 8). */
int rdv_server_start_with(struct server *s, const char *path, const char *const *extra);
/* A free loopback TCP port, or -1. */
int bench_free_port(void);
/* The value of the unlabelled metric `name` at http://127.0.0.1:port/metrics;
 * -1 if it cannot be read. */
int metrics_value(int port, const char *name, double *v);
/* Starts redis-server on a free loopback port, persistence off. */
int redis_server_start(struct server *s, const char *path, int maxclients);
void server_stop(struct server *s);

/* ---- workers ------------------------------------------------------------ */

enum wmsg_kind { W_READY = 1, W_DONE, W_EVENT, W_FAIL, W_PROGRESS };

struct wmsg {
    uint32_t worker;
    uint32_t kind;
    uint64_t val;
};

struct workers {
    int n;
    pid_t pid[BENCH_MAX_WORKERS];
    int rfd;                    /* parent: read end of the report pipe */
    int wfd;                    /* worker: its write end */
    int nready, ndone, nfailed;
};

/* Forks n workers running fn(idx, arg) in their own process; each exits
 * with fn's return value. */
int workers_start(struct workers *ws, int n, int (*fn)(int idx, int wfd, void *arg), void *arg);
void worker_report(int wfd, int idx, enum wmsg_kind kind, uint64_t val);
/* Parent: reads whatever records are available (non-blocking), calling
 * on_msg for each; returns -1 once every worker has closed its end. */
int workers_poll(struct workers *ws, void (*on_msg)(void *ctx, const struct wmsg *m), void *ctx);
/* Waits for every worker to exit (kills those still alive after grace s). */
void workers_wait(struct workers *ws, double grace);

void *shm_alloc(size_t n);
void shm_free(void *p, size_t n);

/* ---- fan-out bookkeeping shared by rendezvousd and redis runs ----------- */

struct fan_wstats {
    uint64_t delivered, lost, dup, bad, closed;
    uint64_t sessions, ready;
    double setup_s;             /* first dial to all ready */
    struct hist lat;
};

struct fan_shm {
    _Atomic uint32_t done[BENCH_RING];     /* subscribers that got event e */
    _Atomic uint64_t t_issue[BENCH_RING];  /* CLOCK_MONOTONIC ns of issue */
    _Atomic uint64_t measure_from;         /* record latency from this event on */
    _Atomic uint64_t total;                /* events issued (final once stop is set) */
    _Atomic int stop;
    uint64_t subs;                          /* subscribers in all */
    struct fan_wstats w[BENCH_MAX_WORKERS];
};

/* A worker's per-event counting: when all of its subscribers got event e,
 * adds them to the shared count, and the worker that completes it tells
 * the parent. */
struct fan_counter {
    struct fan_shm *shm;
    int idx, wfd;
    uint32_t local_subs;
    uint32_t *lc;               /* [BENCH_RING] */
};

void fan_counter_init(struct fan_counter *fc, struct fan_shm *shm, int idx, int wfd,
                      uint32_t local_subs);
void fan_counter_free(struct fan_counter *fc);
/* One subscriber got event e at time t (ns). */
void fan_deliver(struct fan_counter *fc, struct fan_wstats *st, uint64_t e, uint64_t t);

/* Parent side: issues events through issue(), closed-loop with a window or
 * paced at a rate, for a warm-up and a measured phase, then drains. */
struct fan_driver {
    struct fan_shm *shm;
    struct workers *ws;
    struct ev_loop *loop;
    void (*issue)(void *ctx, uint64_t e);
    void *ctx;
    uint32_t window;            /* closed loop: events in flight */
    double events_per_s;        /* paced (> 0) instead */
    double warmup_s, measure_s;
    pid_t server_pid;           /* its CPU use is measured (optional) */
    pid_t watch_pid;            /* ... and this one's (optional) */
    int metrics_port;           /* the server's /metrics (optional): its socket writes */
    /* results */
    double server_cpu;          /* CPU seconds per second during the measured phase */
    unsigned long long server_writes, server_reads; /* syscalls during the measured phase */
    double watch_cpu;           /* watch_pid's CPU seconds per second, likewise */
    double subs_cpu;            /* the subscriber workers' together, likewise */
    uint64_t issued, completed, low;
    uint64_t measure_first, measure_last;  /* event range measured */
    double t_measure0, t_last_done;
    bool failed, timed_out;
    /* private */
    uint8_t *comp;
    ev_io pipe_io;
    ev_timer tick;
    double t0, next_due;
    int phase;                  /* 0 warm-up, 1 measure, 2 drain, 3 over */
    double drain_deadline, last_progress;
};

/* Runs the loop until the scenario is over. Returns 0 if it completed. */
int fan_drive(struct fan_driver *d);
/* "; subscribers N% CPU, X us per delivery" for a row's figure. */
void fan_subs_cpu_text(const struct fan_driver *d, double deliveries_per_s, char *out, size_t cap);
/* Sums worker stats into out (after workers set their stats). */
void fan_collect(const struct fan_shm *shm, int nworkers, struct fan_wstats *out);

/* ---- event numbers in addresses ---------------------------------------- */

/* Fan-out event e travels as the registrant's address /ip4/<e as 4 bytes>/tcp/1:
 * its text, and its binary form (BENCH_SEQ_ADDR bytes) read back. */
#define BENCH_SEQ_ADDR 8
void bench_seq_text(char *out, size_t cap, uint32_t seq);
bool bench_seq_from_addr(const uint8_t *a, uint32_t *seq);

/* calloc that exits on failure. */
void *bench_calloc(size_t n, size_t size);

/* ---- scenarios ---------------------------------------------------------- */

/* Each returns 0 and fills its table row; fan-out runs also give the
 * deliveries/s measured (for the ratio to redis). */
int run_fanout(const struct bench_opts *o, struct bench_table *t, int subs, int window,
               double rate, double *per_s, struct bench_row **row);
int run_redis(const struct bench_opts *o, struct bench_table *t, int subs, int window,
              double *per_s);
/* Helpers for the parent: runs loop until done(ctx) or timeout, reading
 * worker reports meanwhile; -1 on timeout or a worker failure. */
int wait_until(struct ev_loop *loop, struct workers *ws, bool (*done)(void *ctx), void *ctx,
               double timeout);
int run_idle(const struct bench_opts *o, struct bench_table *t);
int run_requests(const struct bench_opts *o, struct bench_table *t);
int run_handshakes(const struct bench_opts *o, struct bench_table *t);
/* cluster.c: nodes on one redis-server (latency across nodes, churn, --workers). */
int run_cluster(const struct bench_opts *o, struct bench_table *t);

#endif
