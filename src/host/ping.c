#include "host/ping.h"

static int ping_open(struct stream *s)
{
    (void)s;
    return 0;
}

/* Echoing bytes as they come is the same as echoing each 32-byte ping:
 * the stream is ordered and the dialer waits for the whole echo. */
static void ping_data(struct stream *s, const uint8_t *d, size_t n)
{
    stream_write(s, d, n);
}

const struct protocol ping_protocol = {
    .id = PING_PROTOCOL_ID,
    .on_open = ping_open,
    .on_data = ping_data,
};
