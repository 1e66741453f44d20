/* Where a cluster's Redis is: `redis://[:PASSWORD@]HOST:PORT[/DB]` (HOST a
 * name, an IPv4 address or [IPv6]) or `unix://PATH[?db=N]`. Parsed once at
 * start (and by --check-config); the password, if any, is never printed. */
#ifndef RDV_CLUSTER_URL_H
#define RDV_CLUSTER_URL_H

#include <stdbool.h>
#include <stddef.h>

#define CLUSTER_URL_HOST_MAX 256
#define CLUSTER_URL_PATH_MAX 108   /* sun_path */
#define CLUSTER_URL_PASSWORD_MAX 512

struct cluster_url {
    bool unix_socket;
    char host[CLUSTER_URL_HOST_MAX];   /* without brackets */
    int port;
    char path[CLUSTER_URL_PATH_MAX];   /* unix socket */
    int db;                            /* SELECT'ed database, 0 by default */
    char password[CLUSTER_URL_PASSWORD_MAX]; /* "" = none */
};

/* 0, or -1 with err saying what is wrong (without repeating the password). */
int cluster_url_parse(struct cluster_url *u, const char *text, char *err, size_t errlen);

/* "HOST:PORT/DB" or "unix:PATH" for log lines: never the password. */
void cluster_url_describe(const struct cluster_url *u, char *out, size_t cap);

#endif
