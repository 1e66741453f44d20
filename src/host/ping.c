#include "host/ping.h"

#include <stdlib.h>

#include "base/mem.h"

/* Echoing bytes as they come is the same as echoing each 32-byte ping:
 * the stream is ordered and the dialer waits for the whole echo. What the
 * stream has no room for is held (and withheld from the dialer's window)
 * until on_writable: a dialer that pings without reading stops itself. */
struct ping_stream {
    struct buf held;          /* received, not echoed yet */
    bool eof;                 /* the dialer closed its side: ours after the echo */
};

static int ping_open(struct stream *s)
{
    s->state = xcalloc(1, sizeof(struct ping_stream));
    return 0;
}

static void ping_echo(struct stream *s)
{
    struct ping_stream *ps = s->state;
    struct buf *held = &ps->held;
    size_t k = stream_writable(s);
    if (k > buf_size(held))
        k = buf_size(held);
    if (k) {
        stream_write(s, buf_head(held), k);
        buf_consume(held, k);
    }
    if (buf_size(held) == 0) {
        buf_free(held);
        if (ps->eof)
            stream_close(s);
    }
    stream_hold_input(s, buf_size(held), buf_size(held));
}

static void ping_data(struct stream *s, const uint8_t *d, size_t n)
{
    struct buf *held = &((struct ping_stream *)s->state)->held;
    if (buf_size(held) == 0 && stream_writable(s) >= n) {
        stream_write(s, d, n); /* the usual case: nothing held, room */
        return;
    }
    buf_append(held, d, n);
    ping_echo(s);
}

static void ping_eof(struct stream *s)
{
    ((struct ping_stream *)s->state)->eof = true;
    ping_echo(s);
}

static void ping_close(struct stream *s)
{
    struct ping_stream *ps = s->state;
    buf_free(&ps->held);
    free(s->state);
    s->state = NULL;
}

const struct protocol ping_protocol = {
    .id = PING_PROTOCOL_ID,
    .on_open = ping_open,
    .on_data = ping_data,
    .on_eof = ping_eof,
    .on_writable = ping_echo,
    .on_close = ping_close,
};
