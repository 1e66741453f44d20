/* Metrics: the histogram, the Prometheus text helpers (exact output), and
 * the HTTP endpoint on a real loopback socket: 200 with the right headers,
 * HEAD, query strings, 404, 405, 400 on garbage, 431 on an oversized
 * request, slots taken from idle clients, the deadline for idle clients and
 * slow readers, the bounded answer, and a clean stop with clients still
 * connected.
 * metrics.c is included so its internals are reachable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/metrics.c"

static char *buf_text(struct buf *b)
{
    buf_append_u8(b, 0);
    return (char *)buf_head(b);
}

/* ---- histogram and text ------------------------------------------------ */

static void histogram_buckets(void **state)
{
    static const double bounds[] = {0.001, 0.01, 0.1};
    struct histogram h;
    (void)state;

    histogram_init(&h, bounds, 3);
    histogram_observe(&h, 0.0005);
    histogram_observe(&h, 0.001);   /* upper bounds are inclusive */
    histogram_observe(&h, 0.05);
    histogram_observe(&h, 7);
    histogram_observe(&h, -1);      /* counts as 0 */
    histogram_observe(&h, NAN);     /* ignored */
    assert_int_equal(h.count, 5);
    assert_int_equal(histogram_cumulative(&h, 0), 3);
    assert_int_equal(histogram_cumulative(&h, 1), 3);
    assert_int_equal(histogram_cumulative(&h, 2), 4);
    assert_int_equal(histogram_cumulative(&h, 3), 5);
    assert_true(fabs(h.sum - 7.0515) < 1e-12);

    histogram_init_latency(&h);
    assert_int_equal(h.nbounds, histogram_latency_nbounds);
    assert_true(h.nbounds <= HISTOGRAM_MAX_BUCKETS);
    for (size_t i = 1; i < h.nbounds; i++)
        assert_true(h.bounds[i - 1] < h.bounds[i]);
}

static void number_format(void **state)
{
    char s[40];
    (void)state;

    prom_format_f64(s, sizeof(s), 0.005);
    assert_string_equal(s, "0.005");
    prom_format_f64(s, sizeof(s), 1);
    assert_string_equal(s, "1");
    prom_format_f64(s, sizeof(s), 0.1 + 0.2); /* needs 17 digits to read back */
    assert_string_equal(s, "0.30000000000000004");
    prom_format_f64(s, sizeof(s), INFINITY);
    assert_string_equal(s, "+Inf");
    prom_format_f64(s, sizeof(s), -INFINITY);
    assert_string_equal(s, "-Inf");
    prom_format_f64(s, sizeof(s), NAN);
    assert_string_equal(s, "NaN");
    prom_format_f64(s, sizeof(s), 1e21);
    assert_string_equal(s, "1e+21");
}

static void text_format(void **state)
{
    static const double bounds[] = {0.001, 0.5};
    struct buf b = BUF_INIT;
    struct histogram h;
    (void)state;

    prom_family(&b, "x_total", "counter", "Things \\ seen\nso far.");
    prom_u64(&b, "x_total", NULL, 0);
    prom_u64(&b, "x_total", "", 1);
    prom_u64(&b, "x_total", "dialect=\"push\",type=\"register\"", UINT64_MAX);
    prom_family(&b, "y", "gauge", "A gauge.");
    prom_f64(&b, "y", "a=\"1\"", 0.25);
    histogram_init(&h, bounds, 2);
    histogram_observe(&h, 0.0009765625); /* sums of powers of two print exactly */
    histogram_observe(&h, 0.25);
    histogram_observe(&h, 0.25);
    histogram_observe(&h, 2);
    prom_family(&b, "lat_seconds", "histogram", "Latency.");
    prom_histogram(&b, "lat_seconds", "dialect=\"waku\"", &h);
    prom_histogram(&b, "lat_seconds", NULL, &h);
    assert_string_equal(buf_text(&b),
                        "# HELP x_total Things \\\\ seen\\nso far.\n"
                        "# TYPE x_total counter\n"
                        "x_total 0\n"
                        "x_total 1\n"
                        "x_total{dialect=\"push\",type=\"register\"} 18446744073709551615\n"
                        "# HELP y A gauge.\n"
                        "# TYPE y gauge\n"
                        "y{a=\"1\"} 0.25\n"
                        "# HELP lat_seconds Latency.\n"
                        "# TYPE lat_seconds histogram\n"
                        "lat_seconds_bucket{dialect=\"waku\",le=\"0.001\"} 1\n"
                        "lat_seconds_bucket{dialect=\"waku\",le=\"0.5\"} 3\n"
                        "lat_seconds_bucket{dialect=\"waku\",le=\"+Inf\"} 4\n"
                        "lat_seconds_sum{dialect=\"waku\"} 2.5009765625\n"
                        "lat_seconds_count{dialect=\"waku\"} 4\n"
                        "lat_seconds_bucket{le=\"0.001\"} 1\n"
                        "lat_seconds_bucket{le=\"0.5\"} 3\n"
                        "lat_seconds_bucket{le=\"+Inf\"} 4\n"
                        "lat_seconds_sum 2.5009765625\n"
                        "lat_seconds_count 4\n");
    buf_free(&b);

    /* A line longer than the formatting buffer on the stack. */
    char longname[600];
    memset(longname, 'n', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    prom_u64(&b, longname, NULL, 42);
    assert_int_equal(buf_size(&b), strlen(longname) + 4);
    assert_memory_equal(buf_head(&b) + strlen(longname), " 42\n", 4);
    buf_free(&b);
}

/* ---- the HTTP endpoint ------------------------------------------------- */

struct fixture {
    struct ev_loop *loop;
    struct log log;
    struct metrics_server m;
    int collected;
    size_t pad;                 /* bytes of filler series to add to the answer */
    uint16_t port;
};

static void collect(struct buf *out, void *ctx)
{
    struct fixture *f = ctx;
    f->collected++;
    prom_family(out, "test_scrapes_total", "counter", "Scrapes.");
    prom_u64(out, "test_scrapes_total", NULL, (uint64_t)f->collected);
    if (f->pad) {
        prom_family(out, "test_pad", "gauge", "Filler.");
        for (size_t n = 0; n < f->pad; n += 16)
            prom_u64(out, "test_pad", NULL, 1234567);
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
    char err[128];

    f->loop = ev_loop_new(EVFLAG_AUTO);
    log_init(&f->log, LOG_ERROR, LOG_TEXT, stderr);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (metrics_start(&f->m, f->loop, &f->log, (struct sockaddr *)&sa, sizeof(sa), collect, f, err,
                      sizeof(err)) < 0)
        fail_msg("metrics_start: %s", err);
    const char *colon = strrchr(f->m.addr, ':');
    assert_non_null(colon);
    assert_memory_equal(f->m.addr, "127.0.0.1:", 10);
    f->port = (uint16_t)atoi(colon + 1);
    assert_true(f->port > 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    metrics_stop(&f->m);
    metrics_stop(&f->m); /* twice is fine */
    assert_false(metrics_running(&f->m));
    ev_loop_destroy(f->loop);
    free(f);
    return 0;
}

static int dial(const struct fixture *f)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Sends req on a fresh connection and runs the loop until the server closes
 * it; returns the whole answer (malloc'd). */
static char *exchange(struct fixture *f, const char *req, size_t n)
{
    int fd = dial(f);
    size_t sent = 0, len = 0, cap = 1 << 16;
    char *out = malloc(cap);

    fcntl(fd, F_SETFL, O_NONBLOCK);
    for (int spins = 0; spins < 20000; spins++) {
        if (sent < n) {
            ssize_t w = send(fd, req + sent, n - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            else if (w == -1 && errno != EAGAIN)
                sent = n; /* the server gave up on us: read its answer */
        }
        ev_run(f->loop, EVRUN_NOWAIT);
        ssize_t r = recv(fd, out + len, cap - 1 - len, 0);
        if (r == 0 || (r == -1 && errno == ECONNRESET))
            break;
        if (r > 0)
            len += (size_t)r;
        else
            poll(NULL, 0, 1);
        assert_true(len < cap - 1);
    }
    close(fd);
    ev_run(f->loop, EVRUN_NOWAIT);
    out[len] = '\0';
    return out;
}

static char *get(struct fixture *f, const char *req)
{
    return exchange(f, req, strlen(req));
}

static void serves_metrics(void **state)
{
    struct fixture *f = *state;
    char *r = get(f, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
    const char *body = "# HELP test_scrapes_total Scrapes.\n"
                       "# TYPE test_scrapes_total counter\n"
                       "test_scrapes_total 1\n";
    char want[512];
    snprintf(want, sizeof(want),
             "HTTP/1.1 200 OK\r\n"
             "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
             "Content-Length: %zu\r\n"
             "Connection: close\r\n"
             "\r\n%s",
             strlen(body), body);
    assert_string_equal(r, want);
    free(r);
    assert_int_equal(f->m.scrapes, 1);
    assert_int_equal(f->m.nclients, 0);

    /* Query strings are ignored; HTTP/1.0 works too; HEAD has no body. */
    r = get(f, "GET /metrics?name[]=x HTTP/1.0\r\n\r\n");
    assert_non_null(strstr(r, "test_scrapes_total 2\n"));
    free(r);
    r = get(f, "HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_memory_equal(r, "HTTP/1.1 200 OK\r\n", 17);
    assert_non_null(strstr(r, "Content-Length: "));
    assert_null(strstr(r, "test_scrapes_total"));
    free(r);
    assert_int_equal(f->m.scrapes, 3);

    /* A request arriving one byte at a time. */
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    int fd = dial(f);
    for (size_t i = 0; req[i]; i++) {
        assert_int_equal(send(fd, req + i, 1, MSG_NOSIGNAL), 1);
        ev_run(f->loop, EVRUN_NOWAIT);
    }
    close(fd);
    for (int i = 0; i < 10; i++)
        ev_run(f->loop, EVRUN_NOWAIT);
    assert_int_equal(f->m.scrapes, 4);
}

static void refuses_the_rest(void **state)
{
    struct fixture *f = *state;
    char *r;

    r = get(f, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_memory_equal(r, "HTTP/1.1 404 Not Found\r\n", 24);
    free(r);
    r = get(f, "GET /metricsx HTTP/1.1\r\n\r\n");
    assert_memory_equal(r, "HTTP/1.1 404 Not Found\r\n", 24);
    free(r);
    r = get(f, "POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert_memory_equal(r, "HTTP/1.1 405 Method Not Allowed\r\n", 33);
    assert_non_null(strstr(r, "\r\nAllow: GET, HEAD\r\n"));
    free(r);
    r = get(f, "\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert_memory_equal(r, "HTTP/1.1 400 Bad Request\r\n", 26);
    free(r);

    /* A URL longer than we keep. */
    char big[METRICS_MAX_URL + 64];
    snprintf(big, sizeof(big), "GET /");
    memset(big + 5, 'u', METRICS_MAX_URL);
    snprintf(big + 5 + METRICS_MAX_URL, sizeof(big) - 5 - METRICS_MAX_URL, " HTTP/1.1\r\n\r\n");
    r = get(f, big);
    assert_memory_equal(r, "HTTP/1.1 414 URI Too Long\r\n", 27);
    free(r);

    /* More than METRICS_MAX_REQUEST bytes of headers. */
    size_t n = METRICS_MAX_REQUEST + 4096;
    char *huge = malloc(n + 1);
    size_t used = (size_t)snprintf(huge, n + 1, "GET /metrics HTTP/1.1\r\nX-Pad: ");
    memset(huge + used, 'p', n - used);
    huge[n] = '\0';
    r = exchange(f, huge, n);
    assert_memory_equal(r, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46);
    free(r);
    free(huge);
    assert_int_equal(f->m.scrapes, 0);
    assert_int_equal(f->collected, 0);
}

/* Runs the loop (blocking) until cond holds, at most 20 s. */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *f))
{
    ev_tstamp end = ev_time() + 20;
    while (!cond(f) && ev_time() < end)
        ev_run(f->loop, EVRUN_ONCE);
    assert_true(cond(f));
}

static bool no_clients(struct fixture *f) { return f->m.nclients == 0; }
static bool one_client(struct fixture *f) { return f->m.nclients == 1; }

/* Bytes readable on fd until the server's close (EOF or reset). */
static size_t drain(int fd)
{
    char b[65536];
    size_t n = 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        assert_int_equal(poll(&p, 1, 5000), 1);
        ssize_t r = recv(fd, b, sizeof(b), 0);
        if (r <= 0)
            return n;
        n += (size_t)r;
    }
}

/* All slots held by idle clients: a newcomer takes the oldest one's slot,
 * and a scrape still gets through. */
static void slots_not_held_by_idle_clients(void **state)
{
    struct fixture *f = *state;
    int fds[2 * METRICS_MAX_CLIENTS];

    for (size_t i = 0; i < ARRAY_LEN(fds); i++) {
        fds[i] = dial(f);
        ev_run(f->loop, EVRUN_NOWAIT);
    }
    for (int i = 0; i < 5; i++)
        ev_run(f->loop, EVRUN_NOWAIT);
    assert_int_equal(f->m.nclients, METRICS_MAX_CLIENTS);
    assert_int_equal(f->m.evictions, METRICS_MAX_CLIENTS);
    /* The oldest were closed, the youngest are still waiting. */
    assert_int_equal(drain(fds[0]), 0);
    struct pollfd p = {.fd = fds[ARRAY_LEN(fds) - 1], .events = POLLIN};
    assert_int_equal(poll(&p, 1, 0), 0);
    char *r = get(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_memory_equal(r, "HTTP/1.1 200 OK\r\n", 17);
    free(r);
    assert_int_equal(f->m.scrapes, 1);
    /* Stopping with clients connected frees them (ASan checks). */
    metrics_stop(&f->m);
    assert_int_equal(f->m.nclients, 0);
    for (size_t i = 0; i < ARRAY_LEN(fds); i++)
        close(fds[i]);
}

/* The deadline closes a client that sends nothing, and one that does not
 * read a large answer; the answer waits in a bounded buffer meanwhile. */
static void deadline(void **state)
{
    struct fixture *f = *state;
    const char *req = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

    f->m.deadline = 0.5;
    int idle = dial(f);
    run_until(f, one_client);
    run_until(f, no_clients);
    assert_int_equal(f->m.timeouts, 1);
    assert_int_equal(drain(idle), 0);
    close(idle);

    f->pad = 900 * 1024; /* below METRICS_MAX_RESPONSE, far above the socket buffers */
    int slow = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int small = 4096;
    assert_int_equal(setsockopt(slow, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(slow, (struct sockaddr *)&sa, sizeof(sa)), 0);
    run_until(f, one_client);
    /* On loopback the kernel would take the whole answer into its send
     * buffer; make it hold as little as a long path would. */
    assert_int_equal(setsockopt(f->m.clients->fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(send(slow, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    run_until(f, no_clients);
    assert_int_equal(f->m.timeouts, 2);
    assert_int_equal(f->m.scrapes, 1);
    size_t got = drain(slow);
    assert_true(got < f->pad); /* cut before the end */
    close(slow);
}

/* An answer larger than METRICS_MAX_RESPONSE is not sent. */
static void bounded_answer(void **state)
{
    struct fixture *f = *state;
    f->pad = METRICS_MAX_RESPONSE + 1;
    char *r = get(f, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_memory_equal(r, "HTTP/1.1 500 Internal Server Error\r\n", 36);
    free(r);
    assert_int_equal(f->m.scrapes, 0);
}

static void bind_failure(void **state)
{
    struct fixture *f = *state;
    struct metrics_server other;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(f->port)};
    char err[128];

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(metrics_start(&other, f->loop, &f->log, (struct sockaddr *)&sa, sizeof(sa),
                                   collect, f, err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "in use"));
    assert_false(metrics_running(&other));
    metrics_stop(&other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(histogram_buckets),
        cmocka_unit_test(number_format),
        cmocka_unit_test(text_format),
        cmocka_unit_test_setup_teardown(serves_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(refuses_the_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(slots_not_held_by_idle_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(bounded_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(bind_failure, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
