/* rdv-microbench: the in-process benchmarks of rendezvousd's internals
 * (DISCOVER cost, a subscriber's snapshot, start-up on a big data
 * directory), printed as one table like rdv-bench's. See BENCHMARKS.md. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "microbench.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: rdv-microbench [SCENARIO...] [OPTIONS]\n"
            "\n"
            "Scenarios (default: all of them, in this order):\n"
            "  discover    DISCOVER and Waku sampling cost, in process, with and\n"
            "              without 50,000 push registrations in the namespace\n"
            "  join        loop time of a push subscriber joining a namespace of\n"
            "              10,000 members (its snapshot), in process\n"
            "  startup     rendezvousd start-up on a data directory of 1,000,000 stored\n"
            "              registrations (quick: 100,000): load time and RSS\n"
            "\n"
            "Options:\n"
            "  -q, --quick          smaller sizes (make bench)\n"
            "      --daemon PATH    startup: rendezvousd (default: next to rdv-microbench)\n"
            "  -N, --sessions N     join: members (10000)\n"
            "  -v, --verbose\n"
            "\n"
            "The scenarios that drive a running server over sockets are rdv-bench's.\n");
}

static const char *const scenarios[] = {"discover", "join", "startup"};
static int (*const runs[])(const struct bench_opts *, struct bench_table *) = {
    run_discover, run_join, run_startup};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

int main(int argc, char **argv)
{
    enum { OPT_DAEMON = 256 };
    static const struct option longopts[] = {
        {"quick", no_argument, NULL, 'q'},   {"daemon", required_argument, NULL, OPT_DAEMON},
        {"sessions", required_argument, NULL, 'N'}, {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},    {NULL, 0, NULL, 0},
    };
    struct bench_opts o;
    char daemon_path[PATH_MAX];
    bool want[NSCEN] = {false};
    int ch;

    memset(&o, 0, sizeof(o));
    bench_default_daemon(daemon_path, sizeof(daemon_path));
    o.daemon = daemon_path;
    while ((ch = getopt_long(argc, argv, "qN:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'q': o.quick = true; break;
        case OPT_DAEMON: o.daemon = optarg; break;
        case 'N': o.sessions = atoi(optarg); break;
        case 'v': o.verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (o.sessions < 0) {
        fprintf(stderr, "rdv-microbench: --sessions is out of range\n");
        return 2;
    }
    int bad = bench_pick_scenarios(argc, argv, optind, scenarios, NSCEN, want);
    if (bad > 0) {
        fprintf(stderr, "rdv-microbench: unknown scenario '%s'\n", argv[bad]);
        usage(stderr);
        return 2;
    }
    if (bench_process_init() < 0)
        return 1;

    print_machine();
    struct bench_table t;
    memset(&t, 0, sizeof(t));
    int failures = 0;
    for (size_t k = 0; k < NSCEN; k++) {
        if (!want[k])
            continue;
        if (o.verbose)
            fprintf(stderr, "rdv-microbench: running %s\n", scenarios[k]);
        failures += runs[k](&o, &t) != 0;
    }
    print_machine();
    table_print(&t);
    if (failures)
        printf("\n%d run(s) did not complete cleanly (see stderr)\n", failures);
    return 0;
}
