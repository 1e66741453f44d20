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
    l->events = (struct log_rate){0};
}

bool log_event_allowed(struct log *l)
{
    struct timespec ts;
    struct log_rate *r = &l->events;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if ((int64_t)ts.tv_sec != r->second) {
        r->second = (int64_t)ts.tv_sec;
        r->written = 0;
    }
    if (r->written >= LOG_EVENTS_PER_SECOND) {
        r->suppressed++;
        return false;
    }
    r->written++;
    if (r->suppressed) {
        log_write(l, LOG_DEBUG, "(%llu debug lines left out: more than %d a second)",
                  (unsigned long long)r->suppressed, LOG_EVENTS_PER_SECOND);
        r->suppressed = 0;
    }
    return true;
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
