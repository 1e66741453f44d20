#include "base/log.h"

#include <stdarg.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static const char *const names[] = {"error", "warn", "info", "debug", "trace"};

void log_init(struct log *l, enum log_level level, enum log_format format, FILE *out)
{
    l->level = level;
    l->format = format;
    l->out = out;
    l->events = (struct log_limit){.what = "debug"};
    l->proc = LOG_PROC_ALONE;
    l->worker = 0;
}

bool log_event_allowed(struct log *l)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return log_limit_take(&l->events, l, LOG_DEBUG, LOG_EVENTS_PER_SECOND,
                          (double)ts.tv_sec + ts.tv_nsec / 1e9);
}

int log_level_parse(const char *s)
{
    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

const char *log_level_name(enum log_level level) { return names[level]; }

/* Appends s as the body of a JSON string to out[*n..cap); what does not fit
 * is cut. */
static void json_escape(char *out, size_t cap, size_t *n, const char *s)
{
    for (; *s && *n + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            *n += (size_t)snprintf(out + *n, cap - *n, "\\%c", c);
        else if (c < 0x20)
            *n += (size_t)snprintf(out + *n, cap - *n, "\\u%04x", c);
        else
            out[(*n)++] = (char)c;
    }
}

/* snprintf's count kept within the buffer. */
static void line_add(size_t cap, size_t *n, int wrote)
{
    if (wrote > 0)
        *n += (size_t)wrote;
    if (*n >= cap)
        *n = cap - 1;
}

void log_write(const struct log *l, enum log_level level, const char *fmt, ...)
{
    char msg[1024], ts[40], line[8192], proc[32] = "";
    struct timeval tv;
    struct tm tm;
    va_list ap;
    size_t n = 0;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t tn = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + tn, sizeof(ts) - tn, ".%03dZ", (int)(tv.tv_usec / 1000));

    if (l->format == LOG_JSON) {
        if (l->proc == LOG_PROC_MASTER)
            snprintf(proc, sizeof(proc), ",\"proc\":\"master\"");
        else if (l->proc == LOG_PROC_WORKER)
            snprintf(proc, sizeof(proc), ",\"proc\":\"worker\",\"worker\":%u", l->worker);
        line_add(sizeof(line), &n,
                 snprintf(line, sizeof(line), "{\"ts\":\"%s\",\"level\":\"%s\"%s,\"msg\":\"", ts,
                          names[level], proc));
        json_escape(line, sizeof(line), &n, msg);
        line_add(sizeof(line), &n, snprintf(line + n, sizeof(line) - n, "\"}\n"));
    } else {
        if (l->proc == LOG_PROC_MASTER)
            snprintf(proc, sizeof(proc), "[master] ");
        else if (l->proc == LOG_PROC_WORKER)
            snprintf(proc, sizeof(proc), "[worker %u] ", l->worker);
        line_add(sizeof(line), &n,
                 snprintf(line, sizeof(line), "%s %-5s %s%s\n", ts, names[level], proc, msg));
    }
    fwrite(line, 1, n, l->out);
    fflush(l->out);
}

/* ---- rate-limited lines ------------------------------------------------ */

void log_limit_flush(struct log_limit *r, const struct log *l, double now)
{
    if (now < r->window + 1.0)
        return;
    if (r->suppressed > 0 && log_enabled(l, r->level))
        log_write(l, r->level, "%llu more %s lines suppressed", (unsigned long long)r->suppressed,
                  r->what ? r->what : "log");
    r->suppressed = 0;
    r->used = 0;
    r->window = now;
}

bool log_limit_take(struct log_limit *r, const struct log *l, enum log_level level, size_t max,
                    double now)
{
    if (max == 0)
        return true;
    log_limit_flush(r, l, now);
    if (r->used < max) {
        r->used++;
        return true;
    }
    if (r->suppressed == 0 || level < r->level)
        r->level = level;
    r->suppressed++;
    return false;
}
