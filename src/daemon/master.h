/* The master of --workers N: one process that forks N workers, each a whole
 * daemon (its own loop, sessions and node id) listening on the same ports
 * with SO_REUSEPORT, so that the kernel spreads new connections over them.
 *
 * The master has no event loop: it waits for signals (sigtimedwait) and
 * reaps workers (waitpid). It binds every listen address first, without
 * listening, to hold the ports (and to choose the ones given as port 0)
 * for as long as it runs, then:
 *   - restarts a worker that dies, after a delay that doubles with each
 *     death in a row of a worker that had run less than MASTER_STABLE
 *     seconds; the MASTER_CRASH_LIMIT-th such death in a row stops
 *     everything (exit 1), since restarting will not help;
 *   - passes SIGTERM (and SIGINT, as SIGTERM) and SIGHUP on to the workers;
 *   - exits once every worker is gone: 0 if each ended cleanly after a
 *     SIGTERM, 1 otherwise.
 * A worker that loses its master (kill -9) gets SIGTERM and drains. */
#ifndef RDV_DAEMON_MASTER_H
#define RDV_DAEMON_MASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "base/log.h"
#include "daemon/config.h"

#define MASTER_BACKOFF_MIN 0.25 /* seconds before the first restart */
#define MASTER_BACKOFF_MAX 30.0
#define MASTER_STABLE 10.0      /* a worker that ran this long was not crash-looping */
#define MASTER_CRASH_LIMIT 5    /* quick deaths in a row that stop the master */

/* What a worker is told by its master. */
struct worker_info {
    unsigned index, count;                    /* 0..count-1 */
    size_t nports;
    uint16_t listen_port[CONFIG_MAX_ADDRS];   /* bound port of each cfg.listen item */
};

/* Runs the master of cfg->workers workers. In each worker it returns 0 with
 * *w filled in (the caller goes on to serve, after worker_config). In the
 * master it returns 1 once every worker is gone, with the exit status in
 * *status; -1 (logged) if nothing could be started. */
int master_run(struct daemon_config *cfg, struct log *log, struct worker_info *w, int *status);

/* Gives a worker's configuration its share: the listen addresses with the
 * ports the master holds, the metrics port + w->index. Applied at start and
 * to each reloaded configuration, so that comparing the two sees only real
 * changes. */
void worker_config(struct daemon_config *c, const struct worker_info *w);

/* A worker starts with SIGTERM, SIGINT and SIGHUP blocked, so that one
 * that comes early waits; call this once the loop watches them. */
void worker_signals_watched(void);

#endif
