/* rdv ping: /ipfs/ping/1.0.0 round trips against any libp2p peer. */
#include <stdio.h>
#include <stdlib.h>

#include "rdv.h"

static void ping_send(struct client *cl);

static void ping_done(rdv_client *rc, const rdv_result *r, void *arg)
{
    struct client *cl = arg;
    int *received = cl->state;
    (void)rc;
    if (!client_result_ok(cl, r))
        return;
    if (cl->o.json)
        printf("{\"peer\":\"%s\",\"rtt_ms\":%.3f}\n", client_server_id(cl), r->rtt_ms);
    else
        printf("pong from %s in %.3f ms\n", client_server_id(cl), r->rtt_ms);
    fflush(stdout);
    if (++*received == cl->o.count)
        client_finish(cl, 0);
    else
        ping_send(cl);
}

static void ping_send(struct client *cl)
{
    int rc = rdv_client_ping(cl->rc, ping_done, cl);
    if (rc < 0)
        client_fail(cl, "ping: %s", rdv_client_strerror(rc));
}

static void ping_start(struct client *cl)
{
    cl->state = calloc(1, sizeof(int));
    if (cl->state == NULL)
        client_fail(cl, "out of memory");
    else
        ping_send(cl);
}

static void ping_exit(struct client *cl)
{
    free(cl->state);
    cl->state = NULL;
}

const struct command cmd_ping = {
    .name = "ping",
    .usage = "ping --server MULTIADDR [--count N]          round trips of /ipfs/ping/1.0.0",
    .start = ping_start,
    .on_exit = ping_exit,
};
