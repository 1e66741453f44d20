/* rdv-bench: measured fan-out, capacity, request rate and handshake rate of
 * rendezvousd, with redis-server pub/sub beside it. See BENCHMARKS.md. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: rdv-bench [SCENARIO...] [OPTIONS]\n"
            "\n"
            "Scenarios (default: all of them, in this order):\n"
            "  handshakes  new connections (TCP + Noise XX + yamux) per second, and the\n"
            "              raw crypto bound of one handshake\n"
            "  redis       redis-server pub/sub fan-out, S = 1,000 (W = 16) and 10,000 (W = 4)\n"
            "  fanout      push fan-out, same sizes, closed loop\n"
            "  paced       push fan-out at 50,000 deliveries/s (S = 1,000), for latency\n"
            "  idle        server memory per idle session and connection setup rate\n"
            "  requests    /rendezvous/1.0.0 REGISTER + DISCOVER loops\n"
            "  cluster     nodes sharing one redis-server (--cluster): announcement latency\n"
            "              from node A to subscribers on node B at 1,000 changes/s; the\n"
            "              same path at saturation (changes/s, redis-server CPU); fan-out\n"
            "              (S = 1,000, W = 16) with --workers 1 and 2\n"
            "\n"
            "Options:\n"
            "  -q, --quick          short runs and smaller sizes (make bench)\n"
            "      --daemon PATH    rendezvousd (default: next to rdv-bench)\n"
            "      --redis PATH     redis-server (default: redis-server on PATH)\n"
            "  -t, --seconds S      measured phase of each run\n"
            "  -p, --procs N        client worker processes\n"
            "  -S, --subs N         fanout/redis: only this size\n"
            "  -W, --window N       fanout/redis: events in flight\n"
            "      --rate N         paced: deliveries/s (50000)\n"
            "      --streams N      fanout/idle: sessions per connection (1, the only\n"
            "                       value: a librendezvous client has one push session)\n"
            "  -N, --sessions N     idle: sessions (10000; quick 2000)\n"
            "  -C, --clients N      requests: clients (64)\n"
            "      --data-dir DIR   requests: run the daemon with --data-dir DIR (use a\n"
            "                       fresh one); adds commits/s and changes per commit\n"
            "  -D, --dialers N      handshakes: concurrent dialers (32)\n"
            "  -v, --verbose\n"
            "\n"
            "The in-process benchmarks of the server's internals (discover, join,\n"
            "startup) are a separate program: rdv-microbench --help.\n");
}

static const char *const scenarios[] = {"handshakes", "redis", "fanout", "paced", "idle", "requests",
                                        "cluster"};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

int main(int argc, char **argv)
{
    enum { OPT_DAEMON = 256, OPT_REDIS, OPT_RATE, OPT_STREAMS, OPT_DATA_DIR };
    static const struct option longopts[] = {
        {"quick", no_argument, NULL, 'q'},          {"daemon", required_argument, NULL, OPT_DAEMON},
        {"redis", required_argument, NULL, OPT_REDIS}, {"seconds", required_argument, NULL, 't'},
        {"procs", required_argument, NULL, 'p'},    {"subs", required_argument, NULL, 'S'},
        {"window", required_argument, NULL, 'W'},   {"rate", required_argument, NULL, OPT_RATE},
        {"streams", required_argument, NULL, OPT_STREAMS},
        {"sessions", required_argument, NULL, 'N'}, {"clients", required_argument, NULL, 'C'},
        {"dialers", required_argument, NULL, 'D'},  {"verbose", no_argument, NULL, 'v'},
        {"data-dir", required_argument, NULL, OPT_DATA_DIR},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    char daemon_path[PATH_MAX];
    bool want[NSCEN] = {false};
    int ch;

    memset(&o, 0, sizeof(o));
    bench_default_daemon(daemon_path, sizeof(daemon_path));
    o.daemon = daemon_path;
    o.redis = "redis-server";
    while ((ch = getopt_long(argc, argv, "qt:p:S:W:N:C:D:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'q': o.quick = true; break;
        case OPT_DAEMON: o.daemon = optarg; break;
        case OPT_REDIS: o.redis = optarg; break;
        case 't': o.seconds = atof(optarg); break;
        case 'p': o.procs = atoi(optarg); break;
        case 'S': o.subs = atoi(optarg); break;
        case 'W': o.window = atoi(optarg); break;
        case OPT_RATE: o.rate = atof(optarg); break;
        case OPT_STREAMS: o.streams = atoi(optarg); break;
        case 'N': o.sessions = atoi(optarg); break;
        case 'C': o.clients = atoi(optarg); break;
        case 'D': o.dialers = atoi(optarg); break;
        case OPT_DATA_DIR: o.data_dir = optarg; break;
        case 'v': o.verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.procs < 0 || o.procs > BENCH_MAX_WORKERS || o.subs < 0 || o.window < 0 || o.sessions < 0 ||
        o.clients < 0 || o.dialers < 0 || o.streams < 0 || o.seconds < 0 || o.seconds > 3600) {
        fprintf(stderr, "rdv-bench: an option is out of range (procs <= %d)\n", BENCH_MAX_WORKERS);
        return 2;
    }
    if (o.streams > 1) {
        fprintf(stderr, "rdv-bench: --streams %d: a librendezvous client holds one push session "
                        "per connection, so only 1\n", o.streams);
        return 2;
    }
    int bad = bench_pick_scenarios(argc, argv, optind, scenarios, NSCEN, want);
    if (bad > 0) {
        const char *s = argv[bad];
        if (strcmp(s, "discover") == 0 || strcmp(s, "join") == 0 || strcmp(s, "startup") == 0) {
            fprintf(stderr, "rdv-bench: '%s' times the server's code in process: run "
                            "rdv-microbench %s\n", s, s);
        } else {
            fprintf(stderr, "rdv-bench: unknown scenario '%s'\n", s);
            usage(stderr);
        }
        return 2;
    }
    if (bench_process_init() < 0)
        return 1;

    print_machine();
    struct bench_table t;
    memset(&t, 0, sizeof(t));
    int sizes[2][2] = {{1000, 16}, {10000, 4}};
    int nsizes = 2;
    if (o.subs > 0) {
        sizes[0][0] = o.subs;
        sizes[0][1] = o.window > 0 ? o.window : o.subs <= 1000 ? 16 : 4;
        nsizes = 1;
    } else if (o.window > 0) {
        sizes[0][1] = sizes[1][1] = o.window;
    }
    double redis_rate[2] = {0, 0};
    struct bench_row *fan_rows[2] = {NULL, NULL};
    double fan_rate[2] = {0, 0};
    int failures = 0;

    for (size_t k = 0; k < NSCEN; k++) {
        if (!want[k])
            continue;
        const char *s = scenarios[k];
        if (o.verbose)
            fprintf(stderr, "rdv-bench: running %s\n", s);
        if (strcmp(s, "handshakes") == 0) {
            failures += run_handshakes(&o, &t) != 0;
        } else if (strcmp(s, "redis") == 0) {
            for (int i = 0; i < nsizes; i++)
                failures += run_redis(&o, &t, sizes[i][0], sizes[i][1], &redis_rate[i]) != 0;
        } else if (strcmp(s, "fanout") == 0) {
            for (int i = 0; i < nsizes; i++)
                failures += run_fanout(&o, &t, sizes[i][0], sizes[i][1], 0, &fan_rate[i],
                                       &fan_rows[i]) != 0;
        } else if (strcmp(s, "paced") == 0) {
            double r;
            failures += run_fanout(&o, &t, o.subs > 0 ? o.subs : 1000, 0,
                                   o.rate > 0 ? o.rate : 50000, &r, NULL) != 0;
        } else if (strcmp(s, "idle") == 0) {
            failures += run_idle(&o, &t) != 0;
        } else if (strcmp(s, "requests") == 0) {
            failures += run_requests(&o, &t) != 0;
        } else if (strcmp(s, "cluster") == 0) {
            failures += run_cluster(&o, &t) != 0;
        }
    }
    for (int i = 0; i < nsizes; i++)
        if (fan_rows[i] && redis_rate[i] > 0 && fan_rate[i] > 0)
            snprintf(fan_rows[i]->vs, sizeof(fan_rows[i]->vs), "%.2fx (redis %.0f k/s)",
                     fan_rate[i] / redis_rate[i], redis_rate[i] / 1e3);
    print_machine();
    table_print(&t);
    if (failures)
        printf("\n%d run(s) did not complete cleanly (see stderr)\n", failures);
    return 0;
}
