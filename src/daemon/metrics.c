#include "daemon/metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_parser.h>
#include <utlist.h>

#include "base/mem.h"

#define METRICS__LINGER 2.0         /* seconds to wait for the client's FIN after answering */
#define METRICS__LINGER_BYTES 65536 /* input discarded while lingering before giving up */

enum metrics__phase { MC_READING, MC_WRITING, MC_LINGER };

struct metrics_client {
    struct metrics_server *srv;
    int fd;
    enum metrics__phase phase;
    ev_io io;
    ev_timer timer;
    http_parser parser;
    size_t received;            /* request bytes so far (bounded) */
    char url[METRICS_MAX_URL];
    size_t url_len;
    bool url_overflow, complete;
    struct buf out;                 /* the answer, written as the socket takes it */
    struct metrics_client *prev, *next; /* m->clients, oldest first */
};

/* ---- Prometheus text ------------------------------------------------- */

static void metrics__printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void metrics__printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    char small[256];

    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        buf_append(b, small, (size_t)n);
        return;
    }
    /* Longer than the stack buffer: format straight into the buffer. */
    char *p = (char *)buf_reserve(b, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_commit(b, (size_t)n);
}

void prom_format_f64(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    /* Shortest of %.15g / %.17g that reads back to the same double, so that
     * bucket bounds print as 0.005 rather than 0.0050000000000000001. */
    snprintf(out, cap, "%.15g", v);
    if (strtod(out, NULL) != v)
        snprintf(out, cap, "%.17g", v);
}

void prom_family(struct buf *b, const char *name, const char *type, const char *help)
{
    metrics__printf(b, "# HELP %s ", name);
    /* HELP text escapes only backslash and newline (format 0.0.4). */
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            buf_append(b, "\\\\", 2);
        else if (*p == '\n')
            buf_append(b, "\\n", 2);
        else
            buf_append_u8(b, (uint8_t)*p);
    }
    metrics__printf(b, "\n# TYPE %s %s\n", name, type);
}

static void metrics__labels(struct buf *b, const char *labels, const char *extra)
{
    bool has = labels != NULL && labels[0] != '\0';
    if (!has && extra == NULL)
        return;
    metrics__printf(b, "{%s%s%s}", has ? labels : "", has && extra ? "," : "", extra ? extra : "");
}

void prom_u64(struct buf *b, const char *name, const char *labels, uint64_t v)
{
    metrics__printf(b, "%s", name);
    metrics__labels(b, labels, NULL);
    metrics__printf(b, " %llu\n", (unsigned long long)v);
}

void prom_scalar(struct buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
    prom_family(b, name, type, help);
    prom_u64(b, name, NULL, v);
}

void prom_f64(struct buf *b, const char *name, const char *labels, double v)
{
    char num[40];
    prom_format_f64(num, sizeof(num), v);
    metrics__printf(b, "%s", name);
    metrics__labels(b, labels, NULL);
    metrics__printf(b, " %s\n", num);
}

void prom_histogram(struct buf *b, const char *name, const char *labels, const struct histogram *h)
{
    char le[64], num[40];
    uint64_t cum = 0;

    for (size_t i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        if (i < h->nbounds)
            prom_format_f64(num, sizeof(num), h->bounds[i]);
        else
            snprintf(num, sizeof(num), "+Inf");
        snprintf(le, sizeof(le), "le=\"%s\"", num);
        metrics__printf(b, "%s_bucket", name);
        metrics__labels(b, labels, le);
        metrics__printf(b, " %llu\n", (unsigned long long)cum);
    }
    prom_format_f64(num, sizeof(num), h->sum);
    metrics__printf(b, "%s_sum", name);
    metrics__labels(b, labels, NULL);
    metrics__printf(b, " %s\n", num);
    metrics__printf(b, "%s_count", name);
    metrics__labels(b, labels, NULL);
    metrics__printf(b, " %llu\n", (unsigned long long)h->count);
}

/* ---- clients --------------------------------------------------------- */

static void metrics__client_free(struct metrics_client *c)
{
    struct metrics_server *m = c->srv;

    ev_io_stop(m->loop, &c->io);
    ev_timer_stop(m->loop, &c->timer);
    close(c->fd);
    DL_DELETE(m->clients, c);
    m->nclients--;
    buf_free(&c->out);
    free(c);
}

static int metrics__on_url(http_parser *p, const char *at, size_t n)
{
    struct metrics_client *c = p->data;
    /* The URL may arrive in pieces; keep what fits and remember overflow. */
    if (n > sizeof(c->url) - 1 - c->url_len) {
        c->url_overflow = true;
        return 0;
    }
    memcpy(c->url + c->url_len, at, n);
    c->url_len += n;
    c->url[c->url_len] = '\0';
    return 0;
}

static int metrics__on_complete(http_parser *p)
{
    struct metrics_client *c = p->data;
    c->complete = true;
    http_parser_pause(p, 1); /* one request per connection: ignore anything after it */
    return 0;
}

static const http_parser_settings metrics__settings = {
    .on_url = metrics__on_url,
    .on_message_complete = metrics__on_complete,
};

static void metrics__respond(struct metrics_client *c, int status, const char *reason,
                             const char *extra_headers, const struct buf *body, bool head_only)
{
    size_t n = body ? buf_size(body) : 0;

    metrics__printf(&c->out,
                    "HTTP/1.1 %d %s\r\n"
                    "Content-Type: %s\r\n"
                    "Content-Length: %zu\r\n"
                    "%s"
                    "Connection: close\r\n"
                    "\r\n",
                    status, reason, status == 200 ? METRICS_CONTENT_TYPE : "text/plain; charset=utf-8",
                    n, extra_headers ? extra_headers : "");
    if (body && !head_only)
        buf_append(&c->out, buf_head(body), n);
}

static void metrics__respond_text(struct metrics_client *c, int status, const char *reason,
                                  const char *extra_headers, bool head_only)
{
    struct buf body = BUF_INIT;
    metrics__printf(&body, "%d %s\n", status, reason);
    metrics__respond(c, status, reason, extra_headers, &body, head_only);
    buf_free(&body);
}

static void metrics__write(struct metrics_client *c);

/* The request is complete (or hopeless): decide the answer and send it. */
static void metrics__answer(struct metrics_client *c, int error_status)
{
    struct metrics_server *m = c->srv;
    bool head = c->parser.method == HTTP_HEAD;

    if (error_status == 431) {
        metrics__respond_text(c, 431, "Request Header Fields Too Large", NULL, false);
    } else if (error_status == 400) {
        metrics__respond_text(c, 400, "Bad Request", NULL, false);
    } else if (c->url_overflow) {
        metrics__respond_text(c, 414, "URI Too Long", NULL, head);
    } else {
        size_t path_len = strcspn(c->url, "?#");
        bool is_metrics = path_len == strlen("/metrics") && memcmp(c->url, "/metrics", path_len) == 0;
        if (!is_metrics) {
            metrics__respond_text(c, 404, "Not Found", NULL, head);
        } else if (c->parser.method != HTTP_GET && !head) {
            metrics__respond_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n", false);
        } else {
            struct buf body = BUF_INIT;
            m->collect(&body, m->ctx);
            if (buf_size(&body) > METRICS_MAX_RESPONSE) {
                LOGW(m->log, "metrics: %zu bytes of metrics is over the %u-byte bound; not sent",
                     buf_size(&body), METRICS_MAX_RESPONSE);
                metrics__respond_text(c, 500, "Internal Server Error", NULL, head);
            } else {
                metrics__respond(c, 200, "OK", NULL, &body, head);
                m->scrapes++;
            }
            buf_free(&body);
        }
    }
    c->phase = MC_WRITING;
    ev_io_stop(m->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_WRITE);
    ev_io_start(m->loop, &c->io);
    metrics__write(c);
}

static void metrics__linger(struct metrics_client *c)
{
    struct metrics_server *m = c->srv;

    /* Closing with unread input would send RST and could destroy the answer
     * in flight; half-close and wait briefly for the client's FIN instead. */
    shutdown(c->fd, SHUT_WR);
    c->phase = MC_LINGER;
    c->received = 0;
    ev_io_stop(m->loop, &c->io);
    ev_io_set(&c->io, c->fd, EV_READ);
    ev_io_start(m->loop, &c->io);
    ev_timer_stop(m->loop, &c->timer);
    ev_timer_set(&c->timer, METRICS__LINGER, 0);
    ev_timer_start(m->loop, &c->timer);
}

/* Sends what is queued; may free c. */
static void metrics__write(struct metrics_client *c)
{
    while (buf_size(&c->out) > 0) {
        ssize_t w = send(c->fd, buf_head(&c->out), buf_size(&c->out), MSG_NOSIGNAL);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return; /* the write watcher brings us back */
        if (w == -1) {
            LOGD(c->srv->log, "metrics: send: %s", strerror(errno));
            metrics__client_free(c);
            return;
        }
        buf_consume(&c->out, (size_t)w);
    }
    metrics__linger(c);
}

/* Reads and parses request bytes; may free c. */
static void metrics__read(struct metrics_client *c)
{
    char data[4096];

    for (;;) {
        ssize_t r = recv(c->fd, data, sizeof(data), 0);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            /* EOF or error before a whole request: nobody to answer. */
            metrics__client_free(c);
            return;
        }
        if (c->phase == MC_LINGER) {
            c->received += (size_t)r;
            if (c->received > METRICS__LINGER_BYTES) {
                metrics__client_free(c);
                return;
            }
            continue;
        }
        if ((size_t)r > METRICS_MAX_REQUEST - c->received) {
            metrics__answer(c, 431);
            return;
        }
        c->received += (size_t)r;
        http_parser_execute(&c->parser, &metrics__settings, data, (size_t)r);
        enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
        if (c->complete) {
            metrics__answer(c, 0);
            return;
        }
        if (e != HPE_OK) {
            LOGD(c->srv->log, "metrics: bad request: %s", http_errno_description(e));
            metrics__answer(c, 400);
            return;
        }
        if (c->parser.upgrade) {
            metrics__answer(c, 400); /* no protocol switching here */
            return;
        }
    }
}

static void metrics__on_client_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct metrics_client *c = w->data;
    (void)loop;
    if (c->phase == MC_WRITING) {
        if (revents & EV_WRITE)
            metrics__write(c);
        return;
    }
    if (revents & EV_READ)
        metrics__read(c);
}

static void metrics__on_client_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct metrics_client *c = w->data;
    (void)loop;
    (void)revents;
    if (c->phase != MC_LINGER) {
        LOGD(c->srv->log, "metrics: client timed out");
        c->srv->timeouts++;
    }
    metrics__client_free(c);
}

/* All slots are taken: the newcomer gets the slot of the client least
 * likely to need it - one that already has its answer, else the oldest
 * that has not sent a whole request yet (idle or slow), else the oldest
 * still reading its answer. A slow client thus cannot keep a scraper out,
 * and every client is bounded by the deadline anyway. */
static void metrics__evict(struct metrics_server *m)
{
    static const enum metrics__phase order[] = {MC_LINGER, MC_READING, MC_WRITING};
    struct metrics_client *c;

    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        DL_FOREACH(m->clients, c) {
            if (c->phase == order[i]) {
                LOGD(m->log, "metrics: all %d slots busy, closing the oldest client", METRICS_MAX_CLIENTS);
                if (c->phase != MC_LINGER)
                    m->evictions++;
                metrics__client_free(c);
                return;
            }
        }
    }
}

static void metrics__accept_one(struct metrics_server *m, int fd)
{
    struct metrics_client *c;

    if (m->nclients >= METRICS_MAX_CLIENTS)
        metrics__evict(m);
    c = xcalloc(1, sizeof(*c));
    c->srv = m;
    c->fd = fd;
    c->phase = MC_READING;
    http_parser_init(&c->parser, HTTP_REQUEST);
    c->parser.data = c;
    ev_io_init(&c->io, metrics__on_client_io, fd, EV_READ);
    c->io.data = c;
    /* One deadline for the whole exchange: the request and the answer. */
    ev_timer_init(&c->timer, metrics__on_client_timer, m->deadline, 0);
    c->timer.data = c;
    DL_APPEND(m->clients, c);
    m->nclients++;
    ev_io_start(m->loop, &c->io);
    ev_timer_start(m->loop, &c->timer);
}

static void metrics__on_backoff(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct metrics_server *m = w->data;
    (void)revents;
    if (m->fd >= 0)
        ev_io_start(loop, &m->io);
}

static void metrics__on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    struct metrics_server *m = w->data;
    (void)revents;

    for (int i = 0; i < 64; i++) { /* bounded, so one loop turn serves everyone else too */
        int fd = accept4(m->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            metrics__accept_one(m, fd);
            continue;
        }
        if (errno == EINTR || errno == ECONNABORTED)
            continue;
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
            /* The listener stays readable; pause rather than spin. */
            LOGW(m->log, "metrics: accept: %s; pausing for a second", strerror(errno));
            ev_io_stop(loop, &m->io);
            ev_timer_set(&m->backoff, 1.0, 0);
            ev_timer_start(loop, &m->backoff);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
            LOGW(m->log, "metrics: accept: %s", strerror(errno));
        }
        return;
    }
}

/* ---- server ----------------------------------------------------------- */

static void metrics__addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
        snprintf(out, cap, "[%s]:%u", ip, (unsigned)ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
        snprintf(out, cap, "%s:%u", ip, (unsigned)ntohs(s4->sin_port));
    }
}

int metrics_start(struct metrics_server *m, struct ev_loop *loop, struct log *log,
                  const struct sockaddr *sa, socklen_t salen, metrics_collect_fn collect,
                  void *ctx, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int one = 1;

    memset(m, 0, sizeof(*m));
    m->fd = -1;
    m->loop = loop;
    m->log = log;
    m->collect = collect;
    m->ctx = ctx;
    m->deadline = METRICS_TIMEOUT;

    int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, sa, salen) == -1 || listen(fd, 64) == -1 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) == -1) {
        snprintf(err, errlen, "%s", strerror(errno));
        close(fd);
        return -1;
    }
    metrics__addr_text(&ss, m->addr, sizeof(m->addr));
    m->fd = fd;
    ev_io_init(&m->io, metrics__on_accept, fd, EV_READ);
    m->io.data = m;
    ev_timer_init(&m->backoff, metrics__on_backoff, 1.0, 0);
    m->backoff.data = m;
    ev_io_start(loop, &m->io);
    return 0;
}

void metrics_stop(struct metrics_server *m)
{
    if (m->fd < 0)
        return;
    while (m->clients)
        metrics__client_free(m->clients);
    ev_io_stop(m->loop, &m->io);
    ev_timer_stop(m->loop, &m->backoff);
    close(m->fd);
    m->fd = -1;
}
