/* Logging. A struct log is owned by whoever runs the loop (the server or a
 * client tool); leaf modules never log, they return errors with text. */
#ifndef RDV_BASE_LOG_H
#define RDV_BASE_LOG_H

#include <stdio.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };
enum log_format { LOG_TEXT = 0, LOG_JSON };

struct log {
    enum log_level level;
    enum log_format format;
    FILE *out;
};

void log_init(struct log *l, enum log_level level, enum log_format format, FILE *out);
/* Parses "error|warn|info|debug|trace"; -1 if unknown. */
int log_level_parse(const char *s);
const char *log_level_name(enum log_level level);

void log_write(const struct log *l, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_enabled(l, lvl) ((l) != NULL && (lvl) <= (l)->level)
#define LOGE(l, ...) do { if (log_enabled(l, LOG_ERROR)) log_write(l, LOG_ERROR, __VA_ARGS__); } while (0)
#define LOGW(l, ...) do { if (log_enabled(l, LOG_WARN)) log_write(l, LOG_WARN, __VA_ARGS__); } while (0)
#define LOGI(l, ...) do { if (log_enabled(l, LOG_INFO)) log_write(l, LOG_INFO, __VA_ARGS__); } while (0)
#define LOGD(l, ...) do { if (log_enabled(l, LOG_DEBUG)) log_write(l, LOG_DEBUG, __VA_ARGS__); } while (0)
#define LOGT(l, ...) do { if (log_enabled(l, LOG_TRACE)) log_write(l, LOG_TRACE, __VA_ARGS__); } while (0)

#endif
