#include "cluster/url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A decimal in [lo, hi] spanning exactly [s, end). */
static int url__number(const char *s, const char *end, long lo, long hi, int *out)
{
    char buf[16];
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (buf[i] < '0' || buf[i] > '9')
            return -1;
    errno = 0;
    long v = strtol(buf, NULL, 10);
    if (errno || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

static int url__unix(struct cluster_url *u, const char *p, char *err, size_t errlen)
{
    const char *q = strchr(p, '?');
    size_t n = q ? (size_t)(q - p) : strlen(p);
    if (n == 0 || p[0] != '/' || n >= sizeof u->path) {
        snprintf(err, errlen, "unix:// needs an absolute socket path of at most %zu bytes",
                 sizeof u->path - 1);
        return -1;
    }
    memcpy(u->path, p, n);
    u->path[n] = '\0';
    u->unix_socket = true;
    if (q) {
        if (strncmp(q, "?db=", 4) != 0 || url__number(q + 4, q + strlen(q), 0, 1000000, &u->db) != 0) {
            snprintf(err, errlen, "unix:// takes only ?db=N after the path");
            return -1;
        }
    }
    return 0;
}

int cluster_url_parse(struct cluster_url *u, const char *text, char *err, size_t errlen)
{
    memset(u, 0, sizeof *u);
    if (strncmp(text, "unix://", 7) == 0)
        return url__unix(u, text + 7, err, errlen);
    if (strncmp(text, "redis://", 8) != 0) {
        snprintf(err, errlen, "expected redis://HOST:PORT[/DB] or unix:///PATH");
        return -1;
    }
    const char *p = text + 8;
    const char *at = strrchr(p, '@');
    if (at) {
        /* [user]:password@ - Redis 6 ACL users other than "default" are not used */
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        size_t n = (size_t)(at - pw);
        if (n == 0 || n >= sizeof u->password) {
            snprintf(err, errlen, "the password in the URL is empty or too long");
            return -1;
        }
        memcpy(u->password, pw, n);
        u->password[n] = '\0';
        p = at + 1;
    }
    const char *hend, *rest;
    if (*p == '[') {
        hend = strchr(p, ']');
        if (hend == NULL) {
            snprintf(err, errlen, "unclosed [ in the host");
            return -1;
        }
        p++;
        rest = hend + 1;
    } else {
        hend = p + strcspn(p, ":/");
        rest = hend;
    }
    size_t hn = (size_t)(hend - p);
    if (hn == 0 || hn >= sizeof u->host) {
        snprintf(err, errlen, "no host, or a host name that is too long");
        return -1;
    }
    memcpy(u->host, p, hn);
    u->host[hn] = '\0';
    u->port = 6379;
    if (*rest == ':') {
        const char *pend = rest + 1 + strcspn(rest + 1, "/");
        if (url__number(rest + 1, pend, 1, 65535, &u->port) != 0) {
            snprintf(err, errlen, "the port must be 1 to 65535");
            return -1;
        }
        rest = pend;
    }
    if (*rest == '/' && rest[1] != '\0') {
        if (url__number(rest + 1, rest + strlen(rest), 0, 1000000, &u->db) != 0) {
            snprintf(err, errlen, "the database after / must be a number");
            return -1;
        }
    } else if (*rest != '\0' && strcmp(rest, "/") != 0) {
        snprintf(err, errlen, "unexpected \"%s\" after the host", rest);
        return -1;
    }
    return 0;
}

void cluster_url_describe(const struct cluster_url *u, char *out, size_t cap)
{
    if (u->unix_socket)
        snprintf(out, cap, "unix:%s db %d", u->path, u->db);
    else if (strchr(u->host, ':'))
        snprintf(out, cap, "[%s]:%d db %d", u->host, u->port, u->db);
    else
        snprintf(out, cap, "%s:%d db %d", u->host, u->port, u->db);
}
