#include "daemon/master.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "host/host.h"

struct master_worker {
    pid_t pid;            /* 0: not running */
    double started;       /* monotonic seconds */
    double restart_at;    /* > 0: to be started then */
    unsigned crashes;     /* quick deaths in a row */
};

struct master {
    struct daemon_config *cfg;
    struct log *log;
    struct worker_info info;
    int held[CONFIG_MAX_ADDRS];   /* the reserved listen sockets */
    size_t nheld;
    struct master_worker w[CONFIG_MAX_WORKERS];
    unsigned n;
    sigset_t waited;              /* blocked, and taken with sigtimedwait */
    sigset_t before;              /* the mask to give back */
    pid_t self;
    bool stopping;
    int status;                   /* the exit status so far */
};

static double master_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Rewrites the number after /tcp/ in a multiaddr text. */
static char *ma_with_port(const char *text, uint16_t port)
{
    const char *tcp = strstr(text, "/tcp/");
    if (tcp == NULL)
        return xstrdup(text);
    const char *num = tcp + 5, *rest = num + strspn(num, "0123456789");
    size_t head = (size_t)(num - text), len = head + 6 + strlen(rest) + 1;
    char *out = xmalloc(len);
    snprintf(out, len, "%.*s%u%s", (int)head, text, (unsigned)port, rest);
    return out;
}

static void sockaddr_add_port(struct sockaddr_storage *ss, unsigned add)
{
    in_port_t *p = ss->ss_family == AF_INET6 ? &((struct sockaddr_in6 *)ss)->sin6_port
                                             : &((struct sockaddr_in *)ss)->sin_port;
    if (ntohs(*p) != 0) /* port 0 stays: each worker gets a free one */
        *p = htons((uint16_t)(ntohs(*p) + add));
}

void worker_config(struct daemon_config *c, const struct worker_info *w)
{
    for (size_t i = 0; i < c->listen.n && i < w->nports; i++) {
        char *moved = ma_with_port(c->listen.item[i], w->listen_port[i]);
        free(c->listen.item[i]);
        c->listen.item[i] = moved;
    }
    if (!c->metrics_on || w->index == 0)
        return;
    sockaddr_add_port(&c->metrics_sa, w->index);
    char host[INET6_ADDRSTRLEN], text[INET6_ADDRSTRLEN + 10];
    if (c->metrics_sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&c->metrics_sa;
        inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        snprintf(text, sizeof(text), "[%s]:%u", host, (unsigned)ntohs(a->sin6_port));
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&c->metrics_sa;
        inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        snprintf(text, sizeof(text), "%s:%u", host, (unsigned)ntohs(a->sin_port));
    }
    free(c->metrics_addr);
    c->metrics_addr = xstrdup(text);
}

void worker_signals_watched(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
}

/* Binds every listen address (without listening); -1 after logging. */
static int master_hold_ports(struct master *m)
{
    const struct daemon_config *c = m->cfg;
    char err[300];

    for (size_t i = 0; i < c->listen.n; i++) {
        if (host_reserve_port(c->listen.item[i], &m->held[i], &m->info.listen_port[i], err,
                              sizeof(err)) < 0) {
            LOGE(m->log, "cannot listen on %s", err);
            return -1;
        }
        m->nheld = m->info.nports = i + 1;
    }
    if (c->metrics_on) {
        const struct sockaddr_storage *ss = &c->metrics_sa;
        unsigned port = ntohs(ss->ss_family == AF_INET6
                                  ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                  : ((const struct sockaddr_in *)ss)->sin_port);
        if (port != 0 && port + m->n - 1 > 65535) {
            LOGE(m->log, "metrics: worker %u would serve on port %u + %u, past 65535", m->n - 1,
                 port, m->n - 1);
            return -1;
        }
    }
    return 0;
}

static void master_release_ports(struct master *m)
{
    for (size_t i = 0; i < m->nheld; i++)
        close(m->held[i]);
    m->nheld = 0;
}

static unsigned master_alive(const struct master *m)
{
    unsigned k = 0;
    for (unsigned i = 0; i < m->n; i++)
        k += m->w[i].pid != 0;
    return k;
}

/* Forks worker i. Returns 0 in the worker, 1 in the master (also when the
 * fork failed: that counts as a quick death). */
static int master_spawn(struct master *m, unsigned i)
{
    struct master_worker *w = &m->w[i];

    fflush(NULL); /* nothing buffered may be written twice */
    w->restart_at = 0;
    w->started = master_now();
    pid_t pid = fork();
    if (pid == 0) {
        master_release_ports(m);
        /* The master's end ends the worker too (a drain, like SIGTERM). */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != m->self)
            kill(getpid(), SIGTERM);
        /* SIGTERM, SIGINT and SIGHUP stay blocked until the worker's loop
         * watches them (worker_signals_watched): one that comes while the
         * worker starts waits for it instead of killing it. */
        sigset_t mask = m->before;
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGHUP);
        sigprocmask(SIG_SETMASK, &mask, NULL);
        m->log->proc = LOG_PROC_WORKER;
        m->log->worker = i;
        m->info.index = i;
        return 0;
    }
    if (pid < 0) {
        LOGE(m->log, "cannot start worker %u: fork: %s", i, strerror(errno));
        w->pid = 0;
        w->crashes++;
        w->restart_at = w->started + MASTER_BACKOFF_MIN;
        return 1;
    }
    w->pid = pid;
    LOGI(m->log, "worker %u started, pid %d", i, (int)pid);
    return 1;
}

/* Stops every worker (SIGTERM: they drain) and restarts none. */
static void master_stop(struct master *m, const char *why)
{
    if (!m->stopping)
        LOGI(m->log, "%s: stopping %u workers", why, master_alive(m));
    m->stopping = true;
    for (unsigned i = 0; i < m->n; i++) {
        m->w[i].restart_at = 0;
        if (m->w[i].pid != 0)
            kill(m->w[i].pid, SIGTERM);
    }
}

static void describe_status(int st, char *out, size_t cap)
{
    if (WIFEXITED(st))
        snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, cap, "was killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(out, cap, "ended (status %#x)", st);
}

/* A worker ended: while stopping that is expected; otherwise it is started
 * again after its backoff, unless it keeps dying at once. */
static void master_ended(struct master *m, unsigned i, int st)
{
    struct master_worker *w = &m->w[i];
    double now = master_now(), ran = now - w->started;
    char what[96];

    describe_status(st, what, sizeof(what));
    pid_t pid = w->pid;
    w->pid = 0;
    if (m->stopping) {
        /* killed by SIGTERM: it was still starting, before it watched it */
        bool clean = (WIFEXITED(st) && WEXITSTATUS(st) == 0) ||
                     (WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
        if (clean) {
            LOGI(m->log, "worker %u (pid %d) %s", i, (int)pid, what);
        } else {
            LOGE(m->log, "worker %u (pid %d) %s while stopping", i, (int)pid, what);
            m->status = 1;
        }
        return;
    }
    if (ran >= MASTER_STABLE)
        w->crashes = 0;
    w->crashes++;
    if (w->crashes >= MASTER_CRASH_LIMIT) {
        LOGE(m->log, "worker %u (pid %d) %s after %.1f s, the %u-th time in a row within %.0f s "
                     "of its start: giving up",
             i, (int)pid, what, ran, w->crashes, MASTER_STABLE);
        m->status = 1;
        master_stop(m, "a worker cannot run");
        return;
    }
    double delay = MASTER_BACKOFF_MIN * ldexp(1.0, (int)w->crashes - 1);
    if (delay > MASTER_BACKOFF_MAX)
        delay = MASTER_BACKOFF_MAX;
    w->restart_at = now + delay;
    LOGW(m->log, "worker %u (pid %d) %s after %.1f s; restarting it in %.2f s", i, (int)pid, what,
         ran, delay);
}

static void master_reap(struct master *m)
{
    int st;
    pid_t pid;

    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        for (unsigned i = 0; i < m->n; i++) {
            if (m->w[i].pid == pid) {
                master_ended(m, i, st);
                break;
            }
        }
    }
}

/* The supervision loop; returns 0 in a worker, 1 when the master is done. */
static int master_loop(struct master *m)
{
    for (;;) {
        master_reap(m);
        if (m->stopping && master_alive(m) == 0)
            return 1;
        double now = master_now(), next = now + 3600;
        for (unsigned i = 0; i < m->n && !m->stopping; i++) {
            struct master_worker *w = &m->w[i];
            if (w->pid != 0 || w->restart_at <= 0)
                continue;
            if (w->restart_at <= now) {
                if (master_spawn(m, i) == 0)
                    return 0;
            }
            if (w->pid == 0 && w->restart_at > 0 && w->restart_at < next)
                next = w->restart_at;
        }
        double wait = next - master_now();
        if (wait < 0)
            wait = 0;
        struct timespec ts = {.tv_sec = (time_t)wait,
                              .tv_nsec = (long)((wait - floor(wait)) * 1e9)};
        int sig = sigtimedwait(&m->waited, NULL, &ts);
        if (sig == SIGTERM || sig == SIGINT) {
            master_stop(m, sig == SIGTERM ? "received SIGTERM" : "received SIGINT");
        } else if (sig == SIGHUP) {
            unsigned k = 0;
            for (unsigned i = 0; i < m->n; i++)
                if (m->w[i].pid != 0 && kill(m->w[i].pid, SIGHUP) == 0)
                    k++;
            LOGI(m->log, "SIGHUP: passed on to %u workers", k);
        }
        /* SIGCHLD, a timeout or EINTR: the next turn reaps and restarts */
    }
}

int master_run(struct daemon_config *cfg, struct log *log, struct worker_info *w, int *status)
{
    struct master m = {.cfg = cfg, .log = log, .n = (unsigned)cfg->workers, .self = getpid()};

    log->proc = LOG_PROC_MASTER;
    m.info.count = m.n;
    if (master_hold_ports(&m) < 0) {
        master_release_ports(&m);
        return -1;
    }
    sigemptyset(&m.waited);
    sigaddset(&m.waited, SIGCHLD);
    sigaddset(&m.waited, SIGTERM);
    sigaddset(&m.waited, SIGINT);
    sigaddset(&m.waited, SIGHUP);
    sigprocmask(SIG_BLOCK, &m.waited, &m.before);

    LOGI(log, "rendezvousd %s: starting %u workers", RDV_VERSION, m.n);
    for (unsigned i = 0; i < m.n; i++) {
        m.w[i].restart_at = -1;
        if (master_spawn(&m, i) == 0) {
            *w = m.info;
            return 0;
        }
    }
    if (master_loop(&m) == 0) {
        *w = m.info;
        return 0;
    }
    master_release_ports(&m);
    sigprocmask(SIG_SETMASK, &m.before, NULL);
    LOGI(log, "stopped");
    *status = m.status;
    return 1;
}
