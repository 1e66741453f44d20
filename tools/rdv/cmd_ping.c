/* rdv ping: /ipfs/ping/1.0.0 round trips against any libp2p peer. */
#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "base/mem.h"
#include "host/ping.h"
#include "rdv.h"

struct ping_state {
    int sent, received;
    uint8_t payload[PING_SIZE];
    size_t got;
    ev_tstamp started;
};

static void ping_send(struct stream *s, struct client *cl)
{
    struct ping_state *p = cl->state;
    randombytes_buf(p->payload, sizeof(p->payload));
    p->got = 0;
    p->started = ev_time();
    p->sent++;
    stream_write(s, p->payload, sizeof(p->payload));
}

static int ping_open(struct stream *s)
{
    ping_send(s, s->state);
    return 0;
}

static void ping_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct client *cl = s->state;
    struct ping_state *p = cl->state;

    for (size_t i = 0; i < n; i++, p->got++) {
        if (p->got >= PING_SIZE || d[i] != p->payload[p->got]) {
            client_fail(cl, "%s answered ping with different bytes", cl->conn->remote_text);
            return;
        }
    }
    if (p->got < PING_SIZE)
        return;
    p->received++;
    if (cl->o.json)
        printf("{\"peer\":\"%s\",\"rtt_ms\":%.3f}\n", cl->conn->remote_text,
               (ev_time() - p->started) * 1e3);
    else
        printf("pong from %s in %.3f ms\n", cl->conn->remote_text, (ev_time() - p->started) * 1e3);
    fflush(stdout);
    if (p->received == cl->o.count) {
        stream_close(s);
        client_finish(cl, 0);
    } else {
        ping_send(s, cl);
    }
}

static void ping_close(struct stream *s)
{
    struct client *cl = s->state;
    struct ping_state *p = cl->state;
    if (!s->opened)
        client_fail(cl, "%s does not support %s", cl->conn ? cl->conn->remote_text : "peer",
                    PING_PROTOCOL_ID);
    else if (p->received < cl->o.count)
        client_fail(cl, "%s closed the ping stream early", cl->conn ? cl->conn->remote_text : "peer");
}

static const struct protocol ping_client = {
    .id = PING_PROTOCOL_ID,
    .on_open = ping_open,
    .on_data = ping_data,
    .on_close = ping_close,
};

static void ping_ready(struct client *cl)
{
    cl->state = xcalloc(1, sizeof(struct ping_state));
    if (conn_open_stream(cl->conn, &ping_client, cl) == NULL)
        client_fail(cl, "cannot open a stream to %s", cl->conn->remote_text);
}

static void ping_exit(struct client *cl)
{
    free(cl->state);
    cl->state = NULL;
}

const struct command cmd_ping = {
    .name = "ping",
    .usage = "ping --server MULTIADDR [--count N]          round trips of /ipfs/ping/1.0.0",
    .on_ready = ping_ready,
    .on_exit = ping_exit,
};
