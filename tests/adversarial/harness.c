/* The parent's side of a scenario: the daemon under attack, the phases, the
 * RSS samples, and the verdict (see attack.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "attack.h"

/* Under ASan the daemon's RSS includes shadow memory and freed blocks held
 * in quarantine, and every request is slower: memory bounds are doubled
 * (the quarantine is kept small, below) and latency is reported but not
 * judged. */
#if defined(__SANITIZE_ADDRESS__)
#define ATTACK_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ATTACK_SANITIZED 1
#endif
#endif
#ifndef ATTACK_SANITIZED
#define ATTACK_SANITIZED 0
#endif

#define TICK_US 10000            /* parent's polling period */
#define SETUP_TIMEOUT 240.0
#define CHECK_TIMEOUT 60.0

/* ---- time, /proc ----------------------------------------------------------- */

double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The daemon's resident set in KiB (-1: gone). */
static long long rss_kb(pid_t pid)
{
    long long b = proc_rss(pid);
    return b < 0 ? -1 : b / 1024;
}

bool proc_alive(pid_t pid)
{
    int st;
    return pid > 0 && waitpid(pid, &st, WNOHANG) == 0;
}

/* ---- role side -------------------------------------------------------------- */

int attack_phase(const struct attack_ctx *x) { return atomic_load(&x->shm->phase); }

void attack_ready(struct attack_ctx *x) { atomic_store(&x->shm->ready[x->role], 1); }

void attack_done(struct attack_ctx *x) { atomic_store(&x->shm->done[x->role], 1); }

static void vset(char *dst, size_t cap, const char *fmt, va_list ap)
{
    char tmp[256];
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    snprintf(dst, cap, "%s", tmp);
}

int attack_fail(struct attack_ctx *x, const char *fmt, ...)
{
    va_list ap;
    if (atomic_fetch_add(&x->shm->failed, 1) == 0) {
        va_start(ap, fmt);
        vset(x->shm->why, sizeof(x->shm->why), fmt, ap);
        va_end(ap);
    }
    return 1;
}

void attack_note(struct attack_ctx *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vset(x->shm->note, sizeof(x->shm->note), fmt, ap);
    va_end(ap);
}

size_t attack_size(const struct attack_ctx *x, size_t full, size_t min)
{
    if (x->o->full)
        return full;
    size_t n = (size_t)((double)full * x->o->scale);
    return n < min ? min : n;
}

static void loop_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop;
    (void)t;
    (void)revents;
}

bool attack_loop_until(struct attack_ctx *x, struct ev_loop *loop, bool (*done)(void *arg),
                       void *arg, int until, double timeout)
{
    ev_timer tick;
    double end = mono_s() + timeout;
    bool ok = false;
    ev_timer_init(&tick, loop_tick, 0.005, 0.005);
    ev_timer_start(loop, &tick);
    for (;;) {
        if (done && done(arg)) {
            ok = true;
            break;
        }
        if (attack_phase(x) >= until || getppid() != x->parent || mono_s() > end)
            break;
        ev_run(loop, EVRUN_ONCE);
    }
    ev_timer_stop(loop, &tick);
    return ok;
}

/* ---- the daemon ------------------------------------------------------------- */

static int daemon_start(struct attack_ctx *x, const struct scenario *sc, const char *dir)
{
    char key[512], log[512];
    const char *argv[32];
    int n = 0, p[2];

    snprintf(key, sizeof(key), "%s/daemon.key", dir);
    snprintf(log, sizeof(log), "%s/daemon.log", dir);
    argv[n++] = x->o->daemon;
    argv[n++] = "--listen";
    argv[n++] = "/ip4/127.0.0.1/tcp/0";
    argv[n++] = "--key";
    argv[n++] = key;
    if (sc->cluster) {
        argv[n++] = "--cluster";
        argv[n++] = x->cluster_url;
    }
    for (const char *const *a = sc->daemon_args; a && *a && n < 30; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        raise_nofile();
        if (ATTACK_SANITIZED) {
            const char *old = getenv("ASAN_OPTIONS");
            char opts[512];
            snprintf(opts, sizeof(opts), "%s%squarantine_size_mb=16", old ? old : "",
                     old && *old ? ":" : "");
            setenv("ASAN_OPTIONS", opts, 1);
        }
        dup2(p[1], 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(p[1]);
    x->daemon_pid = pid;

    /* The listening block: the first line starting with /ip4/. */
    char buf[4096];
    size_t have = 0;
    double end = mono_s() + 20;
    int rc = -1;
    while (rc < 0 && mono_s() < end) {
        struct pollfd pfd = {.fd = p[0], .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(p[0], buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            break;
        have += (size_t)r;
        buf[have] = 0;
        char *line = strstr(buf, "/ip4/");
        if (line && strchr(line, '\n')) {
            *strchr(line, '\n') = 0;
            snprintf(x->daemon_ma, sizeof(x->daemon_ma), "%s", line);
            rc = 0;
        }
    }
    close(p[0]);
    int port = 0;
    if (rc < 0 || sscanf(x->daemon_ma, "/ip4/127.0.0.1/tcp/%d", &port) != 1) {
        fprintf(stderr, "rdv-attack: %s printed no listen address (log: %s)\n", x->o->daemon, log);
        return -1;
    }
    x->daemon_sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                        .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    return 0;
}

/* scenario.cluster: a redis-server without persistence listening on
 * DIR/redis.sock only (no port to collide on); ready once it accepts. */
static int redis_start(struct attack_ctx *x, const char *dir)
{
    char sock[96], log[512];
    if ((size_t)snprintf(sock, sizeof(sock), "%s/redis.sock", dir) >= sizeof(sock))
        return -1;
    snprintf(log, sizeof(log), "%s/redis.log", dir);
    snprintf(x->cluster_url, sizeof(x->cluster_url), "unix://%s", sock);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock, "--dir", dir,
               "--save", "", "--appendonly", "no", "--maxclients", "1000", NULL);
        _exit(127);
    }
    x->redis_pid = pid;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof(a.sun_path), "%s", sock);
    for (double end = mono_s() + 10; mono_s() < end && proc_alive(pid);) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (fd >= 0)
            close(fd);
        if (ok)
            return 0;
        usleep(TICK_US);
    }
    fprintf(stderr, "rdv-attack: redis-server did not start (log: %s)\n", log);
    return -1;
}

/* SIGTERM, then the exit status (-1 if it had to be killed). */
static int daemon_stop(pid_t pid)
{
    int st;
    kill(pid, SIGTERM);
    for (int i = 0; i < 1500; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        usleep(TICK_US);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

static long long file_size(const char *dir, const char *name)
{
    char path[512];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

static bool log_has_sanitizer_report(const char *dir, char *line, size_t cap)
{
    char path[512], l[512];
    bool found = false;
    snprintf(path, sizeof(path), "%s/daemon.log", dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    while (!found && fgets(l, sizeof(l), f)) {
        if (strstr(l, "AddressSanitizer") || strstr(l, "runtime error") ||
            strstr(l, "LeakSanitizer") || strstr(l, "out of memory")) {
            size_t k = strcspn(l, "\n");
            if (k >= cap)
                k = cap - 1;
            memcpy(line, l, k);
            line[k] = 0;
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* ---- children --------------------------------------------------------------- */

static pid_t child_start(struct attack_ctx *x, int role, int (*fn)(struct attack_ctx *x))
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_IGN);
        raise_nofile();
        struct attack_ctx mine = *x;
        mine.role = role;
        int rc = fn(&mine);
        fflush(NULL);
        _exit(rc);
    }
    return pid;
}

/* Reaps children that exited; returns how many are still running. A child
 * that exits before its work is done failed. */
static int children_poll(pid_t *pids, int n, int *status)
{
    int left = 0;
    for (int i = 0; i < n; i++) {
        if (pids[i] <= 0)
            continue;
        int st;
        if (waitpid(pids[i], &st, WNOHANG) == pids[i]) {
            pids[i] = 0;
            status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        } else {
            left++;
        }
    }
    return left;
}

static void children_end(pid_t *pids, int n, int *status, double grace)
{
    double end = mono_s() + grace;
    while (children_poll(pids, n, status) > 0 && mono_s() < end)
        usleep(TICK_US);
    for (int i = 0; i < n; i++) {
        if (pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
            pids[i] = 0;
            status[i] = 128 + SIGKILL;
        }
    }
}

/* ---- samples ---------------------------------------------------------------- */

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

struct pct {
    uint32_t n;
    double p50, p99;
};

static struct pct percentiles(const struct samples *s)
{
    struct pct r = {0};
    uint32_t n = atomic_load(&s->n);
    if (n > ATTACK_MAX_SAMPLES)
        n = ATTACK_MAX_SAMPLES;
    r.n = n;
    if (n == 0)
        return r;
    float *v = malloc(n * sizeof(*v));
    memcpy(v, s->v, n * sizeof(*v));
    qsort(v, n, sizeof(*v), cmp_float);
    r.p50 = v[(size_t)(0.50 * (n - 1))];
    r.p99 = v[(size_t)(0.99 * (n - 1))];
    free(v);
    return r;
}

/* ---- a run ------------------------------------------------------------------ */

struct verdict {
    char text[1024];
    size_t len;
    bool failed;
    int nfail, nlatency;        /* bounds not met; of them, latency bounds */
};

static void fail_add(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_add(struct verdict *v, const char *fmt, ...)
{
    va_list ap;
    v->failed = true;
    v->nfail++;
    if (v->len >= sizeof(v->text) - 1)
        return;
    v->len += (size_t)snprintf(v->text + v->len, sizeof(v->text) - v->len, "%s", v->len ? "; " : "");
    if (v->len >= sizeof(v->text) - 1)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(v->text + v->len, sizeof(v->text) - v->len, fmt, ap);
    va_end(ap);
    if (k > 0)
        v->len += (size_t)k;
    if (v->len > sizeof(v->text) - 1)
        v->len = sizeof(v->text) - 1;
}

/* p99 bound of the well-behaved client during an attack, in ms. */
static double latency_bound(const struct attack_opts *o, const struct scenario *sc, double idle_p99)
{
    double factor = o->full ? 10 : 20, floor = o->full ? 50 : 250;
    if (sc->ping_absolute)
        return floor;
    return idle_p99 * factor > floor ? idle_p99 * factor : floor;
}

static void judge_latency(struct verdict *v, const struct attack_opts *o, const struct scenario *sc,
                          const char *what, struct pct idle, struct pct during)
{
    if (during.n == 0) {
        fail_add(v, "no %s answered during the attack", what);
        return;
    }
    double bound = latency_bound(o, sc, idle.p99);
    if (during.p99 > bound && !ATTACK_SANITIZED) {
        fail_add(v, "%s p99 %.1f ms during the attack, bound %.1f ms", what, during.p99, bound);
        v->nlatency++;
    }
}

int attack_run(const struct attack_opts *o, const struct scenario *sc)
{
    char dir[] = "/tmp/rdv-attack.XXXXXX";
    struct attack_ctx x = {.o = o, .parent = getpid(), .role = -1};
    pid_t kids[ATTACK_MAX_ROLES + 1] = {0};
    int kst[ATTACK_MAX_ROLES + 1] = {0};
    int nkids = sc->nroles + 1; /* [0] is the probe */
    struct verdict v = {.len = 0};
    double attack_s = o->full ? sc->attack_s : sc->attack_s_short;
    double idle_s = o->full ? 4 : 1.5;
    double mem_bound = sc->rss_bound_mb * (ATTACK_SANITIZED ? 2 : 1);
    bool daemon_died = false;

    if (mkdtemp(dir) == NULL) {
        perror("rdv-attack: mkdtemp");
        return 1;
    }
    x.shm = mmap(NULL, sizeof(*x.shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (x.shm == MAP_FAILED) {
        perror("rdv-attack: mmap");
        return 1;
    }
    if ((sc->cluster && redis_start(&x, dir) < 0) || daemon_start(&x, sc, dir) < 0) {
        printf("%-16s FAIL  the daemon did not start\n", sc->name);
        if (x.redis_pid > 0)
            daemon_stop(x.redis_pid);
        munmap(x.shm, sizeof(*x.shm));
        return 1;
    }
    kids[0] = child_start(&x, -1, probe_main);
    for (int i = 0; i < sc->nroles; i++)
        kids[i + 1] = child_start(&x, i, sc->role);

    /* setup */
    double t = mono_s(), end = t + SETUP_TIMEOUT;
    for (;;) {
        bool ready = atomic_load(&x.shm->probe_ready);
        for (int i = 0; i < sc->nroles; i++)
            ready = ready && atomic_load(&x.shm->ready[i]);
        if (ready)
            break;
        if (!proc_alive(x.daemon_pid)) {
            daemon_died = true;
            break;
        }
        if (children_poll(kids, nkids, kst) < nkids || mono_s() > end || atomic_load(&x.shm->failed))
            break;
        usleep(TICK_US);
    }
    double setup_s = mono_s() - t;
    long long rss0 = rss_kb(x.daemon_pid), peak = rss0;
    long long log0 = file_size(dir, "daemon.log");
    bool setup_ok = !daemon_died && children_poll(kids, nkids, kst) == nkids &&
                    !atomic_load(&x.shm->failed) && mono_s() <= end;
    if (!setup_ok)
        fail_add(&v, "setup did not complete in %.0f s", setup_s);

    /* idle, attack, checks */
    double t_attack = 0, attack_len = 0;
    bool early = false;
    if (setup_ok) {
        atomic_store(&x.shm->phase, AP_IDLE);
        for (end = mono_s() + idle_s; mono_s() < end && !daemon_died;) {
            daemon_died = !proc_alive(x.daemon_pid);
            usleep(TICK_US);
        }
        atomic_store(&x.shm->phase, AP_ATTACK);
        t_attack = mono_s();
        for (end = t_attack + attack_s; mono_s() < end && !daemon_died;) {
            long long r = rss_kb(x.daemon_pid);
            if (r > peak)
                peak = r;
            daemon_died = !proc_alive(x.daemon_pid);
            bool all_done = sc->nroles > 0;
            for (int i = 0; i < sc->nroles; i++)
                all_done = all_done && atomic_load(&x.shm->done[i]);
            if (all_done)
                break;
            /* Far past the bound: stop before the machine suffers. */
            if ((double)(peak - rss0) / 1024.0 > 4 * mem_bound) {
                early = true;
                break;
            }
            if (children_poll(kids, nkids, kst) < nkids)
                break;
            usleep(TICK_US);
        }
        attack_len = mono_s() - t_attack;
        atomic_store(&x.shm->phase, AP_STOP);
        for (end = mono_s() + (early ? 0 : CHECK_TIMEOUT); mono_s() < end && !daemon_died;) {
            long long r = rss_kb(x.daemon_pid);
            if (r > peak)
                peak = r;
            daemon_died = !proc_alive(x.daemon_pid);
            bool all_done = true;
            for (int i = 0; i < sc->nroles; i++)
                all_done = all_done && atomic_load(&x.shm->done[i]);
            if (all_done || children_poll(kids, nkids, kst) < nkids)
                break;
            usleep(TICK_US);
        }
    }
    atomic_store(&x.shm->phase, AP_DONE);
    children_end(kids, nkids, kst, 15);
    if (!daemon_died)
        daemon_died = !proc_alive(x.daemon_pid);

    /* verdict */
    char figures[512] = "";
    if (sc->judge && setup_ok && sc->judge(&x, attack_len, figures, sizeof(figures)) != 0)
        fail_add(&v, "the scenario's own bound was not met (figures above)");
    if (daemon_died) {
        char l[256] = "";
        log_has_sanitizer_report(dir, l, sizeof(l));
        fail_add(&v, "the daemon exited%s%s", l[0] ? ": " : "", l);
    } else {
        int rc = daemon_stop(x.daemon_pid);
        char l[256];
        if (log_has_sanitizer_report(dir, l, sizeof(l)))
            fail_add(&v, "daemon log: %s", l);
        else if (rc < 0)
            fail_add(&v, "the daemon did not stop within 15 s of SIGTERM (killed)");
        else if (rc != 0)
            fail_add(&v, "the daemon exited with %d on SIGTERM", rc);
    }
    if (x.redis_pid > 0 && daemon_stop(x.redis_pid) != 0)
        fail_add(&v, "redis-server did not stop cleanly");
    double growth = (double)(peak - rss0) / 1024.0;
    double log_kb = (double)(file_size(dir, "daemon.log") - log0) / 1024.0;
    if (growth > mem_bound)
        fail_add(&v, "RSS grew by %.0f MB%s, bound %.0f MB", growth,
                 early ? " (stopped early)" : "", mem_bound);
    if (atomic_load(&x.shm->failed))
        fail_add(&v, "%s", x.shm->why);
    for (int i = 1; i < nkids; i++)
        if (kst[i] != 0 && !atomic_load(&x.shm->failed) && setup_ok)
            fail_add(&v, "role %d exited with %d", i - 1, kst[i]);
    uint64_t refused = atomic_load(&x.shm->probe_refused);
    uint64_t dok = atomic_load(&x.shm->dials_ok), dfail = atomic_load(&x.shm->dials_failed);
    if (refused || dfail)
        fail_add(&v, "well-behaved client refused %llu times, %llu of %llu new dials failed (%s)",
                 (unsigned long long)refused, (unsigned long long)dfail,
                 (unsigned long long)(dok + dfail), x.shm->probe_why);
    struct pct pi = percentiles(&x.shm->ping[0]), pd = percentiles(&x.shm->ping[1]);
    struct pct di = percentiles(&x.shm->disc[0]), dd = percentiles(&x.shm->disc[1]);
    if (setup_ok) {
        judge_latency(&v, o, sc, "ping", pi, pd);
        if (!sc->ping_absolute)
            judge_latency(&v, o, sc, "DISCOVER", di, dd);
    }

    printf("%-16s %s  rss %.1f MB, peak %.1f (+%.1f, bound %.0f)  ping p50/p99 idle %.2f/%.2f, "
           "during %.2f/%.2f ms  discover idle %.2f/%.2f, during %.2f/%.2f ms (bound %.0f ms%s)  "
           "dials %llu/%llu  log +%.0f KB  %s%s%s%s%s\n",
           sc->name, v.failed ? "FAIL" : "ok  ", (double)rss0 / 1024.0, (double)peak / 1024.0,
           growth, mem_bound, pi.p50, pi.p99, pd.p50, pd.p99, di.p50, di.p99, dd.p50, dd.p99,
           latency_bound(o, sc, pi.p99), ATTACK_SANITIZED ? ", not judged under ASan" : "",
           (unsigned long long)dok, (unsigned long long)(dok + dfail), log_kb, figures,
           x.shm->note[0] ? "  " : "", x.shm->note, v.failed ? "  -- " : "", v.failed ? v.text : "");
    if (o->verbose)
        printf("  (setup %.1f s, attack %.1f s, daemon log in %s)\n", setup_s, attack_len, dir);
    fflush(stdout);
    if (!v.failed && !o->verbose) {
        char path[600];
        snprintf(path, sizeof(path), "%s/daemon.log", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/daemon.key", dir);
        unlink(path);
        snprintf(path, sizeof(path), "%s/redis.log", dir);
        unlink(path);
        rmdir(dir);
    } else if (v.failed) {
        printf("  (daemon log kept in %s)\n", dir);
    }
    munmap(x.shm, sizeof(*x.shm));
    if (!v.failed)
        return 0;
    return v.nfail == v.nlatency ? 2 : 1;
}
