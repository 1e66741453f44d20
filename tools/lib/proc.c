#include "proc.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* A master's workers, and then some. */
#define PROC_MAX_CHILDREN 64

void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

long long proc_rss(pid_t pid)
{
    char path[64];
    long long size = 0, rss = -1;
    snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    if (fscanf(f, "%lld %lld", &size, &rss) != 2)
        rss = -1;
    fclose(f);
    return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/* The parent pid in /proc/PID/stat's text (after the command name, which
 * may hold spaces); -1 if unreadable. */
static pid_t stat_ppid(const char *buf)
{
    const char *p = strrchr(buf, ')');
    int ppid;
    return p && sscanf(p + 2, "%*c %d", &ppid) == 1 ? (pid_t)ppid : -1;
}

/* The live children of pid (a master's workers), at most cap. */
static int proc_children(pid_t pid, pid_t *out, int cap)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    char path[300], buf[512];
    int n = 0;

    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < cap) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        if (f == NULL)
            continue;
        size_t len = fread(buf, 1, sizeof(buf) - 1, f);
        fclose(f);
        buf[len] = 0;
        if (stat_ppid(buf) == pid)
            out[n++] = (pid_t)atoi(e->d_name);
    }
    closedir(d);
    return n;
}

static double proc_cpu_one(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    /* Fields after the command name (which may hold spaces) start at ") ". */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double proc_cpu(pid_t pid)
{
    pid_t kids[PROC_MAX_CHILDREN];
    double sum = proc_cpu_one(pid);
    int n = proc_children(pid, kids, (int)(sizeof(kids) / sizeof(kids[0])));

    for (int i = 0; i < n && sum >= 0; i++) {
        double c = proc_cpu_one(kids[i]);
        if (c > 0)
            sum += c;
    }
    return sum;
}

static int proc_io_one(pid_t pid, unsigned long long *syscr, unsigned long long *syscw)
{
    char path[64], line[128];
    int found = 0;
    snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "syscr: %llu", syscr) == 1 || sscanf(line, "syscw: %llu", syscw) == 1)
            found++;
    }
    fclose(f);
    return found == 2 ? 0 : -1;
}

int proc_io(pid_t pid, unsigned long long *syscr, unsigned long long *syscw)
{
    pid_t kids[PROC_MAX_CHILDREN];
    int n = proc_children(pid, kids, (int)(sizeof(kids) / sizeof(kids[0])));

    if (proc_io_one(pid, syscr, syscw) < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        unsigned long long r = 0, w = 0;
        if (proc_io_one(kids[i], &r, &w) == 0) {
            *syscr += r;
            *syscw += w;
        }
    }
    return 0;
}
