/* Push-mode session workers (psess.c), used by the fanout and idle runs. */
#ifndef RDV_TOOLS_PSESS_H
#define RDV_TOOLS_PSESS_H

#include "bench.h"

enum psess_mode { PW_FANOUT = 0, PW_IDLE = 1 };

struct psess_cfg {
    enum psess_mode mode;
    const char *addr;          /* the server's multiaddr */
    int sessions;              /* in all, split over the workers */
    int nworkers;
    struct fan_shm *shm;
};

/* workers_start entry point; arg is a struct psess_cfg. */
int psess_worker(int idx, int wfd, void *arg);

#endif
