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

/* Writes s as the body of a JSON string. */
static void json_escape(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
}

void log_write(const struct log *l, enum log_level level, const char *fmt, ...)
{
    char msg[1024], ts[40];
    struct timeval tv;
    struct tm tm;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03dZ", (int)(tv.tv_usec / 1000));

    if (l->format == LOG_JSON) {
        fprintf(l->out, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, names[level]);
        json_escape(l->out, msg);
        fputs("\"}\n", l->out);
    } else {
        fprintf(l->out, "%s %-5s %s\n", ts, names[level], msg);
    }
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
