/* rdv-bench plumbing: the result table, clocks, /proc readings, latency
 * histograms, starting the servers under test and the worker processes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bench.h"

/* ---- table -------------------------------------------------------------- */

struct bench_row *table_add(struct bench_table *t, const char *scenario)
{
    if (t->n == BENCH_MAX_ROWS)
        return NULL;
    struct bench_row *r = &t->rows[t->n++];
    memset(r, 0, sizeof(*r));
    snprintf(r->scenario, sizeof(r->scenario), "%s", scenario);
    return r;
}

void table_print(const struct bench_table *t)
{
    static const char *const head[] = {"scenario", "parameters", "result", "latency",
                                       "vs target", "vs redis"};
    size_t w[6];
    for (int c = 0; c < 6; c++)
        w[c] = strlen(head[c]);
    for (int i = 0; i < t->n; i++) {
        const struct bench_row *r = &t->rows[i];
        const char *cols[6] = {r->scenario, r->params, r->figure, r->latency, r->target, r->vs};
        for (int c = 0; c < 6; c++)
            if (strlen(cols[c]) > w[c])
                w[c] = strlen(cols[c]);
    }
    printf("\n");
    for (int c = 0; c < 6; c++)
        printf("| %-*s ", (int)w[c], head[c]);
    printf("|\n");
    for (int c = 0; c < 6; c++) {
        printf("|");
        for (size_t k = 0; k < w[c] + 2; k++)
            putchar('-');
    }
    printf("|\n");
    for (int i = 0; i < t->n; i++) {
        const struct bench_row *r = &t->rows[i];
        const char *cols[6] = {r->scenario, r->params, r->figure, r->latency, r->target, r->vs};
        for (int c = 0; c < 6; c++)
            printf("| %-*s ", (int)w[c], cols[c]);
        printf("|\n");
    }
    fflush(stdout);
}

void bench_default_daemon(char *out, size_t cap)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash = n > 0 ? (self[n] = 0, strrchr(self, '/')) : NULL;
    if (slash == NULL || (size_t)(slash - self) + sizeof("/rendezvousd") > cap) {
        snprintf(out, cap, "rendezvousd");
        return;
    }
    snprintf(out, cap, "%.*s/rendezvousd", (int)(slash - self), self);
}

int bench_pick_scenarios(int argc, char **argv, int first, const char *const *names, size_t n,
                         bool *want)
{
    bool any = false;
    for (int i = first; i < argc; i++) {
        bool found = false;
        for (size_t k = 0; k < n; k++) {
            if (strcmp(argv[i], names[k]) == 0 || strcmp(argv[i], "all") == 0) {
                want[k] = true;
                found = true;
            }
        }
        if (!found)
            return i;
        any = true;
    }
    if (!any)
        for (size_t k = 0; k < n; k++)
            want[k] = true;
    return 0;
}

int bench_process_init(void)
{
    if (sodium_init() < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    setvbuf(stdout, NULL, _IOLBF, 0);
    return 0;
}

void print_machine(void)
{
    char line[512], model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        while (fgets(line, sizeof(line), f)) {
            if (strncmp(line, "model name", 10) == 0) {
                char *p = strchr(line, ':');
                if (p) {
                    p += 1 + (p[1] == ' ');
                    p[strcspn(p, "\n")] = 0;
                    snprintf(model, sizeof(model), "%s", p);
                }
                break;
            }
        }
        fclose(f);
    }
    long mem_kb = 0;
    f = fopen("/proc/meminfo", "r");
    if (f) {
        if (fgets(line, sizeof(line), f))
            sscanf(line, "MemTotal: %ld", &mem_kb);
        fclose(f);
    }
    double load = 0;
    f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &load) != 1)
            load = 0;
        fclose(f);
    }
    printf("machine: %ld cores (nproc), %s, %.1f GiB RAM; load average %.2f\n",
           sysconf(_SC_NPROCESSORS_ONLN), model, (double)mem_kb / (1024.0 * 1024.0), load);
    fflush(stdout);
}

/* ---- time, /proc -------------------------------------------------------- */

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double now_s(void) { return (double)now_ns() / 1e9; }

uint64_t shm_sum(_Atomic uint64_t *a, int n)
{
    uint64_t s = 0;
    for (int i = 0; i < n; i++)
        s += atomic_load(&a[i]);
    return s;
}

/* ---- histogram ---------------------------------------------------------- */

/* Values below 16 have their own bucket; above, 16 buckets per power of two. */
static size_t hist_index(uint64_t v)
{
    if (v < 16)
        return (size_t)v;
    int e = 63 - __builtin_clzll(v);
    size_t i = 16 + (size_t)(e - 4) * 16 + (size_t)((v >> (e - 4)) & 15);
    return i < HIST_BUCKETS ? i : HIST_BUCKETS - 1;
}

static uint64_t hist_value(size_t i)
{
    if (i < 16)
        return i;
    size_t e = (i - 16) / 16 + 4, m = (i - 16) % 16;
    uint64_t lo = (uint64_t)(16 + m) << (e - 4);
    return lo + ((uint64_t)1 << (e - 4)) / 2; /* middle of the bucket */
}

void hist_add(struct hist *h, uint64_t ns)
{
    h->b[hist_index(ns)]++;
    h->n++;
    if (ns > h->max)
        h->max = ns;
}

void hist_merge(struct hist *into, const struct hist *from)
{
    for (size_t i = 0; i < HIST_BUCKETS; i++)
        into->b[i] += from->b[i];
    into->n += from->n;
    if (from->max > into->max)
        into->max = from->max;
}

uint64_t hist_quantile(const struct hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if (rank >= h->n)
        rank = h->n - 1;
    uint64_t seen = 0;
    for (size_t i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen > rank) {
            uint64_t v = hist_value(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}

static void fmt_dur(char *out, size_t cap, uint64_t ns)
{
    if (ns < 1000000)
        snprintf(out, cap, "%.0f µs", (double)ns / 1e3);
    else if (ns < 100000000)
        snprintf(out, cap, "%.2f ms", (double)ns / 1e6);
    else
        snprintf(out, cap, "%.0f ms", (double)ns / 1e6);
}

void hist_format(const struct hist *h, char *out, size_t cap, bool with_p999)
{
    char a[24], b[24], c[24];
    if (h->n == 0) {
        snprintf(out, cap, "-");
        return;
    }
    fmt_dur(a, sizeof(a), hist_quantile(h, 0.5));
    fmt_dur(b, sizeof(b), hist_quantile(h, 0.99));
    fmt_dur(c, sizeof(c), hist_quantile(h, 0.999));
    if (with_p999)
        snprintf(out, cap, "p50 %s, p99 %s, p99.9 %s", a, b, c);
    else
        snprintf(out, cap, "p50 %s, p99 %s", a, b);
}

/* ---- servers under test ------------------------------------------------- */

/* Runs argv with stdout on a pipe (returned in *out_fd) and stderr in log. */
static pid_t spawn(char *const argv[], int *out_fd, const char *log)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    if (pid == 0) {
        raise_nofile();
        dup2(p[1], 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *out_fd = p[0];
    return pid;
}

/* Reads lines from fd for up to `timeout` seconds until one starts with
 * prefix; copies it (without the newline) to out. */
static int read_line_with(int fd, const char *prefix, char *out, size_t cap, double timeout)
{
    char buf[4096];
    size_t have = 0;
    double deadline = now_s() + timeout;

    while (now_s() < deadline) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf + have, sizeof(buf) - 1 - have);
        if (r <= 0)
            return -1;
        have += (size_t)r;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n')) != NULL) {
            *nl = 0;
            if (strncmp(line, prefix, strlen(prefix)) == 0) {
                snprintf(out, cap, "%s", line);
                return 0;
            }
            line = nl + 1;
        }
        have = strlen(line);
        memmove(buf, line, have);
        if (have == sizeof(buf) - 1)
            have = 0;
    }
    return -1;
}

int rdv_server_start(struct server *s, const char *path)
{
    return rdv_server_start_with(s, path, NULL);
}

int rdv_server_start_with(struct server *s, const char *path, const char *const *extra)
{
    char *argv[40] = {(char *)path,
                    "--listen", "/ip4/127.0.0.1/tcp/0",
                    "--log-level", "warn",
                    "--max-connections", "1000000",
                    "--max-connections-per-ip", "1000000",
                    "--max-streams", "4096",
                    "--idle-timeout", "3600",
                    "--handshake-timeout", "60",
                    /* the fan-out registrars change their registration
                     * as fast as they can, on purpose */
                    "--register-rate", "0",
                    /* every client dials from 127.0.0.1: no per-address rate */
                    "--handshake-rate", "1e9",
                    "--handshake-burst", "1e9",
                    "--max-handshakes", "100000",
                    NULL};
    int fd;
    size_t n = 0;
    while (argv[n])
        n++;
    for (size_t i = 0; extra && extra[i] && i < 10; i++)
        argv[n++] = (char *)extra[i];
    argv[n] = NULL;
    memset(s, 0, sizeof(*s));
    s->pid = spawn(argv, &fd, "/tmp/rdv-bench-rendezvousd.log");
    if (s->pid < 0)
        return -1;
    int rc = read_line_with(fd, "/ip4/", s->addr, sizeof(s->addr), 10);
    close(fd); /* it prints nothing more on stdout */
    if (rc < 0) {
        fprintf(stderr, "rdv-bench: %s did not print its address (see /tmp/rdv-bench-rendezvousd.log)\n",
                path);
        server_stop(s);
        return -1;
    }
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    sscanf(s->addr, "/ip4/%*[^/]/tcp/%d", &s->port);
    return 0;
}

static int free_port(void);

int bench_free_port(void) { return free_port(); }

int metrics_value(int port, const char *name, double *v)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    char *body = NULL;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0), rc = -1;
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1)) {
        for (;;) {
            if (len + 4096 + 1 > cap) {
                cap = cap ? cap * 2 : 65536;
                char *nb = realloc(body, cap);
                if (nb == NULL)
                    break;
                body = nb;
            }
            ssize_t r = read(fd, body + len, cap - len - 1);
            if (r <= 0)
                break;
            len += (size_t)r;
        }
    }
    close(fd);
    if (body) {
        body[len] = '\0';
        size_t nl = strlen(name);
        for (char *p = body; (p = strstr(p, name)) != NULL; p += nl) {
            if ((p == body || p[-1] == '\n') && p[nl] == ' ') {
                *v = strtod(p + nl + 1, NULL);
                rc = 0;
                break;
            }
        }
    }
    free(body);
    return rc;
}

static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int redis_server_start(struct server *s, const char *path, int maxclients)
{
    char port[16], maxc[16];
    int fd;
    memset(s, 0, sizeof(*s));
    s->port = free_port();
    if (s->port < 0)
        return -1;
    snprintf(port, sizeof(port), "%d", s->port);
    snprintf(maxc, sizeof(maxc), "%d", maxclients);
    char *argv[] = {(char *)path, "--port", port, "--bind", "127.0.0.1", "--save", "",
                    "--appendonly", "no", "--maxclients", maxc, "--daemonize", "no",
                    "--protected-mode", "no", "--loglevel", "warning", "--logfile", "",
                    "--databases", "1", NULL};
    s->pid = spawn(argv, &fd, "/tmp/rdv-bench-redis.log");
    if (s->pid < 0)
        return -1;
    close(fd);
    snprintf(s->host, sizeof(s->host), "127.0.0.1");
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
    /* Ready once it accepts a connection. */
    double deadline = now_s() + 10;
    while (now_s() < deadline) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = c >= 0 && connect(c, (struct sockaddr *)&a, sizeof(a)) == 0;
        if (c >= 0)
            close(c);
        if (ok)
            return 0;
        usleep(20000);
    }
    fprintf(stderr, "rdv-bench: redis-server did not start (see /tmp/rdv-bench-redis.log)\n");
    server_stop(s);
    return -1;
}

void server_stop(struct server *s)
{
    if (s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

/* ---- workers ------------------------------------------------------------ */

void *shm_alloc(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("rdv-bench: mmap");
        exit(1);
    }
    return p;
}

void shm_free(void *p, size_t n) { munmap(p, n); }

int workers_start(struct workers *ws, int n, int (*fn)(int idx, int wfd, void *arg), void *arg)
{
    int p[2];
    memset(ws, 0, sizeof(*ws));
    if (n > BENCH_MAX_WORKERS)
        n = BENCH_MAX_WORKERS;
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    fflush(NULL);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("rdv-bench: fork");
            break;
        }
        if (pid == 0) {
            close(p[0]);
            signal(SIGPIPE, SIG_IGN);
            int rc = fn(i, p[1], arg);
            fflush(NULL);
            _exit(rc);
        }
        ws->pid[ws->n++] = pid;
    }
    close(p[1]);
    ws->rfd = p[0];
    fcntl(ws->rfd, F_SETFL, O_NONBLOCK);
    return ws->n == n ? 0 : -1;
}

void worker_report(int wfd, int idx, enum wmsg_kind kind, uint64_t val)
{
    struct wmsg m = {.worker = (uint32_t)idx, .kind = kind, .val = val};
    /* Records are far below PIPE_BUF, so each write is atomic. */
    while (write(wfd, &m, sizeof(m)) < 0 && errno == EINTR)
        ;
}

int workers_poll(struct workers *ws, void (*on_msg)(void *ctx, const struct wmsg *m), void *ctx)
{
    struct wmsg buf[256];
    for (int rounds = 0; rounds < 64; rounds++) {
        ssize_t r = read(ws->rfd, buf, sizeof(buf));
        if (r == 0)
            return -1;
        if (r < 0)
            return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
        /* Whole records only: writes are atomic and sized alike. */
        for (size_t i = 0; i < (size_t)r / sizeof(struct wmsg); i++) {
            if (buf[i].kind == W_READY)
                ws->nready++;
            else if (buf[i].kind == W_DONE)
                ws->ndone++;
            else if (buf[i].kind == W_FAIL)
                ws->nfailed++;
            if (on_msg)
                on_msg(ctx, &buf[i]);
        }
        if ((size_t)r < sizeof(buf))
            return 0;
    }
    return 0;
}

void workers_wait(struct workers *ws, double grace)
{
    double deadline = now_s() + grace;
    int left = ws->n;
    while (left > 0 && now_s() < deadline) {
        left = 0;
        for (int i = 0; i < ws->n; i++) {
            if (ws->pid[i] > 0) {
                if (waitpid(ws->pid[i], NULL, WNOHANG) == ws->pid[i])
                    ws->pid[i] = 0;
                else
                    left++;
            }
        }
        if (left)
            usleep(20000);
    }
    for (int i = 0; i < ws->n; i++) {
        if (ws->pid[i] > 0) {
            kill(ws->pid[i], SIGKILL);
            waitpid(ws->pid[i], NULL, 0);
            ws->pid[i] = 0;
        }
    }
    if (ws->rfd > 0)
        close(ws->rfd);
    ws->rfd = -1;
}

/* ---- event numbers in addresses ------------------------------------------ */

void bench_seq_text(char *out, size_t cap, uint32_t seq)
{
    snprintf(out, cap, "/ip4/%u.%u.%u.%u/tcp/1", seq >> 24, (seq >> 16) & 0xff, (seq >> 8) & 0xff,
             seq & 0xff);
}

bool bench_seq_from_addr(const uint8_t *a, uint32_t *seq)
{
    if (a[0] != 0x04 || a[5] != 0x06) /* ip4, tcp */
        return false;
    *seq = (uint32_t)a[1] << 24 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 8 | a[4];
    return true;
}

void *bench_calloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (p == NULL) {
        fprintf(stderr, "rdv-bench: out of memory\n");
        exit(1);
    }
    return p;
}
