/* rdv-attack: attack scenarios against rendezvousd on loopback, each with
 * its bounds asserted (see attack.h and HARDENING.md). */
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "attack.h"

static const struct scenario *const scenarios[] = {
    &scen_discover_flood, &scen_discover_streams, &scen_mplex_flood, &scen_park_partial,
    &scen_push_amplify,   &scen_refresh_flood,    &scen_sample_stall,
    &scen_sample_stall_cluster, &scen_noise_flood,
};
#define NSCEN (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *f)
{
    fprintf(f, "Usage: rdv-attack [--full] [--daemon PATH] [-v] [SCENARIO...]\n\n"
               "Runs each scenario (default: all) against a daemon of its own on 127.0.0.1\n"
               "and prints one result line each; exits 1 if any bound was not met.\n\n"
               "  --full          the full sizes and durations (make stress); default short\n"
               "  --daemon PATH   rendezvousd (default: next to rdv-attack)\n"
               "  -v, --verbose   keep the daemon's log and print timings\n\nScenarios:\n");
    for (size_t i = 0; i < NSCEN; i++)
        fprintf(f, "  %-21s %s\n", scenarios[i]->name, scenarios[i]->what);
}

static void default_daemon(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    size_t dir = 0;
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        dir = slash ? (size_t)(slash - self) : 0;
    }
    if (dir + sizeof("/rendezvousd") > cap)
        dir = 0;
    memcpy(out, self, dir);
    memcpy(out + dir, "/rendezvousd", sizeof("/rendezvousd"));
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"full", no_argument, NULL, 'f'},    {"daemon", required_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char daemon[PATH_MAX];
    struct attack_opts o = {.scale = 0.2};
    int ch;

    default_daemon(daemon, sizeof(daemon));
    o.daemon = daemon;
    while ((ch = getopt_long(argc, argv, "fd:vh", longopts, NULL)) != -1) {
        switch (ch) {
        case 'f': o.full = true; break;
        case 'd': o.daemon = optarg; break;
        case 'v': o.verbose = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (sodium_init() < 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    const struct scenario *run[NSCEN];
    size_t nrun = 0;
    if (optind == argc) {
        memcpy(run, scenarios, sizeof(scenarios));
        nrun = NSCEN;
    }
    for (int i = optind; i < argc; i++) {
        size_t k = 0;
        while (k < NSCEN && strcmp(argv[i], scenarios[k]->name) != 0)
            k++;
        if (k == NSCEN || nrun == NSCEN) {
            fprintf(stderr, "rdv-attack: unknown scenario %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
        run[nrun++] = scenarios[k];
    }
    int failed = 0;
    for (size_t i = 0; i < nrun; i++) {
        int rc = attack_run(&o, run[i]);
        /* A p99 over a few seconds on a machine shared with other work is
         * statistical: a short run that failed on latency alone (memory,
         * liveness and answers were right) gets one more run, and passes
         * only if that one meets every bound. Full runs report as they
         * are. */
        if (rc == 2 && !o.full) {
            printf("%s: latency bound missed once (statistical, on a shared machine): again\n",
                   run[i]->name);
            rc = attack_run(&o, run[i]);
        }
        failed += rc != 0;
    }
    printf("%zu passed, %d failed\n", nrun - (size_t)failed, failed);
    return failed ? 1 : 0;
}
