/* Logging. A struct log is owned by whoever runs the loop (the server or a
 * client tool); leaf modules never log, they return errors with text. */
#ifndef RDV_BASE_LOG_H
#define RDV_BASE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };
enum log_format { LOG_TEXT = 0, LOG_JSON };

/* A rate limit on one kind of line (say, one per connection): at most `max`
 * lines in each one-second window; the others are counted, and once the
 * window is over one summary line "N more WHAT lines suppressed" replaces
 * them. The state belongs to whoever writes the lines; a zeroed struct is
 * ready (what NULL reads "log"). Times are the caller's clock in seconds. */
struct log_limit {
    const char *what;
    double window;              /* start of the current window */
    size_t used;                /* lines written in it */
    enum log_level level;       /* of the summary: the most severe line suppressed */
    uint64_t suppressed;        /* lines dropped since the last summary */
};

/* Per-event debug lines (one per request, per protocol negotiated) are
 * capped: at most LOG_EVENTS_PER_SECOND in each second of the monotonic
 * clock (a log_limit), so a flood of peers cannot turn the log into the
 * bottleneck. */
#define LOG_EVENTS_PER_SECOND 200

/* Which process of a --workers tree writes the lines (LOG_PROC_ALONE: the
 * daemon runs as one process, and lines say nothing about it). */
enum log_proc { LOG_PROC_ALONE = 0, LOG_PROC_MASTER, LOG_PROC_WORKER };

struct log {
    enum log_level level;
    enum log_format format;
    FILE *out;
    struct log_limit events; /* LOGD_EVENT's budget */
    enum log_proc proc;
    unsigned worker;         /* with LOG_PROC_WORKER: its index */
};

void log_init(struct log *l, enum log_level level, enum log_format format, FILE *out);
/* Parses "error|warn|info|debug|trace"; -1 if unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

/* Writes one line with one write(2), so that the lines of several processes
 * sharing the output never interleave. */
void log_write(const struct log *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if one more event line may be written now (LOG_EVENTS_PER_SECOND). */
bool log_event_allowed(struct log *l);

/* True if a line of this level may be written now (max 0: always); writes
 * the summary of the window before, if one is due. */
bool log_limit_take(struct log_limit *r, const struct log *l, enum log_level level, size_t max,
                    double now);
/* Writes the summary if its window is over; call it from a timer so the
 * count is not held back until the next line. */
void log_limit_flush(struct log_limit *r, const struct log *l, double now);

#define log_enabled(l, lvl) ((l) != NULL && (lvl) <= (l)->level)
#define LOGE(l, ...) do { if (log_enabled(l, LOG_ERROR)) log_write(l, LOG_ERROR, __VA_ARGS__); } while (0)
#define LOGW(l, ...) do { if (log_enabled(l, LOG_WARN)) log_write(l, LOG_WARN, __VA_ARGS__); } while (0)
#define LOGI(l, ...) do { if (log_enabled(l, LOG_INFO)) log_write(l, LOG_INFO, __VA_ARGS__); } while (0)
#define LOGD(l, ...) do { if (log_enabled(l, LOG_DEBUG)) log_write(l, LOG_DEBUG, __VA_ARGS__); } while (0)
/* A debug line about one event, rate-limited (log_event_allowed). */
#define LOGD_EVENT(l, ...) do { if (log_enabled(l, LOG_DEBUG) && log_event_allowed(l)) log_write(l, LOG_DEBUG, __VA_ARGS__); } while (0)
#define LOGT(l, ...) do { if (log_enabled(l, LOG_TRACE)) log_write(l, LOG_TRACE, __VA_ARGS__); } while (0)

/* A line subject to the limit r (formatted only if written). */
#define LOG_LIMITED(l, r, lvl, max, now, ...)                                                      \
    do {                                                                                           \
        if (log_enabled(l, lvl) && log_limit_take(r, l, lvl, max, now))                            \
            log_write(l, lvl, __VA_ARGS__);                                                        \
    } while (0)

#endif
