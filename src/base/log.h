/* Logging. A struct log is owned by whoever runs the loop (the server or a
 * client tool); leaf modules never log, they return errors with text. */
#ifndef RDV_BASE_LOG_H
#define RDV_BASE_LOG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };
enum log_format { LOG_TEXT = 0, LOG_JSON };

/* Per-event debug lines (one per request, per protocol negotiated) are
 * capped: at most LOG_EVENTS_PER_SECOND in each second of the monotonic
 * clock; the lines left out are counted and reported by the next one
 * written, so a flood of peers cannot turn the log into the bottleneck. */
#define LOG_EVENTS_PER_SECOND 200

struct log_rate {
    int64_t second;         /* monotonic second being counted */
    uint32_t written;       /* event lines written in it */
    uint64_t suppressed;    /* left out since the last line written */
};

struct log {
    enum log_level level;
    enum log_format format;
    FILE *out;
    struct log_rate events; /* LOGD_EVENT's budget */
};

void log_init(struct log *l, enum log_level level, enum log_format format, FILE *out);
/* Parses "error|warn|info|debug|trace"; -1 if unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_write(const struct log *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if one more event line may be written now (see struct log_rate);
 * a line about the ones suppressed before it is written first. */
bool log_event_allowed(struct log *l);

#define log_enabled(l, lvl) ((l) != NULL && (lvl) <= (l)->level)
#define LOGE(l, ...) do { if (log_enabled(l, LOG_ERROR)) log_write(l, LOG_ERROR, __VA_ARGS__); } while (0)
#define LOGW(l, ...) do { if (log_enabled(l, LOG_WARN)) log_write(l, LOG_WARN, __VA_ARGS__); } while (0)
#define LOGI(l, ...) do { if (log_enabled(l, LOG_INFO)) log_write(l, LOG_INFO, __VA_ARGS__); } while (0)
#define LOGD(l, ...) do { if (log_enabled(l, LOG_DEBUG)) log_write(l, LOG_DEBUG, __VA_ARGS__); } while (0)
/* A debug line about one event, rate-limited (log_event_allowed). */
#define LOGD_EVENT(l, ...) do { if (log_enabled(l, LOG_DEBUG) && log_event_allowed(l)) log_write(l, LOG_DEBUG, __VA_ARGS__); } while (0)
#define LOGT(l, ...) do { if (log_enabled(l, LOG_TRACE)) log_write(l, LOG_TRACE, __VA_ARGS__); } while (0)

#endif
