/* Rate-limited log lines: at most max per one-second window, then one
 * summary line with the exact count of the others. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/log.h"

struct capture {
    char *text;
    size_t len;
    FILE *f;
    struct log log;
};

static void capture_open(struct capture *c, enum log_level level)
{
    memset(c, 0, sizeof(*c));
    c->f = open_memstream(&c->text, &c->len);
    assert_non_null(c->f);
    log_init(&c->log, level, LOG_TEXT, c->f);
}

/* Lines containing needle, in what was written so far. */
static int capture_count(struct capture *c, const char *needle)
{
    int n = 0;
    fflush(c->f);
    for (const char *p = c->text; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void capture_close(struct capture *c)
{
    fclose(c->f);
    free(c->text);
}

/* 100 lines in one window: 5 written, then exactly one summary saying 95. */
static void limits_and_summarises(void **state)
{
    struct capture c;
    struct log_limit r = {.what = "connection"};
    (void)state;

    capture_open(&c, LOG_INFO);
    for (int i = 0; i < 100; i++)
        LOG_LIMITED(&c.log, &r, LOG_INFO, 5, 1000.0 + i * 0.005, "line %d", i);
    assert_int_equal(capture_count(&c, "line "), 5);
    assert_int_equal(capture_count(&c, "suppressed"), 0);
    log_limit_flush(&r, &c.log, 1000.9); /* window not over: nothing yet */
    assert_int_equal(capture_count(&c, "suppressed"), 0);
    log_limit_flush(&r, &c.log, 1001.0);
    assert_int_equal(capture_count(&c, "info  95 more connection lines suppressed"), 1);
    log_limit_flush(&r, &c.log, 1005.0); /* nothing more to say */
    assert_int_equal(capture_count(&c, "suppressed"), 1);
    /* A new window writes again. */
    LOG_LIMITED(&c.log, &r, LOG_INFO, 5, 1006.0, "line again");
    assert_int_equal(capture_count(&c, "line again"), 1);
    capture_close(&c);
}

/* The summary comes before the first line of the next window if no flush
 * ran in between, and a disabled level neither writes nor counts. */
static void summary_before_next_window(void **state)
{
    struct capture c;
    struct log_limit r = {.what = "connection"};
    (void)state;

    capture_open(&c, LOG_INFO);
    for (int i = 0; i < 3; i++)
        LOG_LIMITED(&c.log, &r, LOG_INFO, 1, 10.0, "first %d", i);
    for (int i = 0; i < 50; i++)
        LOG_LIMITED(&c.log, &r, LOG_DEBUG, 1, 10.1, "debug %d", i);
    LOG_LIMITED(&c.log, &r, LOG_INFO, 1, 11.5, "second");
    fflush(c.f);
    const char *sum = strstr(c.text, "2 more connection lines suppressed");
    const char *second = strstr(c.text, "second");
    assert_non_null(sum);
    assert_non_null(second);
    assert_true(sum < second);
    assert_int_equal(capture_count(&c, "debug"), 0);
    capture_close(&c);
}

/* max 0: no limit. */
static void zero_means_all(void **state)
{
    struct capture c;
    struct log_limit r = {0};
    (void)state;

    capture_open(&c, LOG_INFO);
    for (int i = 0; i < 1000; i++)
        LOG_LIMITED(&c.log, &r, LOG_INFO, 0, 5.0, "x%d", i);
    assert_int_equal(capture_count(&c, "info  x"), 1000);
    log_limit_flush(&r, &c.log, 100.0);
    assert_int_equal(capture_count(&c, "suppressed"), 0);
    capture_close(&c);
}

/* In a --workers tree each line names its process, in both formats, and a
 * JSON message is escaped; a lone daemon's lines name none. */
static void lines_name_their_process(void **state)
{
    struct capture c;
    (void)state;

    capture_open(&c, LOG_INFO);
    LOGI(&c.log, "alone");
    c.log.proc = LOG_PROC_MASTER;
    LOGI(&c.log, "from the master");
    c.log.proc = LOG_PROC_WORKER;
    c.log.worker = 3;
    LOGW(&c.log, "from a worker");
    c.log.format = LOG_JSON;
    LOGE(&c.log, "say \"hi\"\n");
    assert_int_equal(capture_count(&c, "info  alone\n"), 1);
    assert_int_equal(capture_count(&c, "info  [master] from the master\n"), 1);
    assert_int_equal(capture_count(&c, "warn  [worker 3] from a worker\n"), 1);
    assert_int_equal(capture_count(&c, "\"level\":\"error\",\"proc\":\"worker\",\"worker\":3,"
                                       "\"msg\":\"say \\\"hi\\\"\\u000a\"}\n"), 1);
    capture_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(limits_and_summarises),
        cmocka_unit_test(summary_before_next_window),
        cmocka_unit_test(zero_means_all),
        cmocka_unit_test(lines_name_their_process),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
