/* yamux (WIRE.md §5) as a session state machine without I/O.
 *
 * yamux_feed() takes decrypted bytes in any split and calls back into the
 * owner; every frame we send is appended to sess->out (plaintext, for the
 * owner to seal and write). Streams are never freed inside a call: a stream
 * that is finished (both sides FIN, or RST either way) is moved to a dead
 * list, and yamux_reap() - called by the owner at a safe point - calls
 * on_close for it and frees it. */
#ifndef RDV_YAMUX_YAMUX_H
#define RDV_YAMUX_YAMUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/buf.h"

#define YAMUX_PROTOCOL_ID "/yamux/1.0.0"
#define YAMUX_HEADER_LEN 12
#define YAMUX_WINDOW 262144u          /* initial window, each direction */
#define YAMUX_MAX_FRAME 65536u        /* largest data frame we send */

enum yamux_type { YAMUX_DATA = 0, YAMUX_WINDOW_UPDATE = 1, YAMUX_PING = 2, YAMUX_GO_AWAY = 3 };
enum yamux_flag { YAMUX_SYN = 1, YAMUX_ACK = 2, YAMUX_FIN = 4, YAMUX_RST = 8 };
enum yamux_goaway { YAMUX_GOAWAY_NORMAL = 0, YAMUX_GOAWAY_PROTOCOL = 1, YAMUX_GOAWAY_INTERNAL = 2 };

struct yamux_session;

/* Allocated with the owner's room after it (yamux_session.room, see
 * yamux_stream_room): one block per stream for the muxer and its owner. */
struct yamux_stream {
    uint32_t id;
    uint32_t send_window;     /* bytes we may still send (the peer may grant up
                               * to 4 GiB) */
    /* Our side's counts never pass YAMUX_WINDOW (2^18): 19 bits each, which
     * with the flags fill one 64-bit word. */
    uint64_t recv_window : 19;  /* bytes the peer may still send */
    uint64_t recv_unacked : 19; /* received and consumed, not yet granted back */
    uint64_t held : 19;       /* received, delivered, but still held by the owner:
                               * not granted back until released (yamux_set_held) */
    bool local_fin : 1, remote_fin : 1, reset : 1, dead : 1;
    bool need_ack : 1;        /* inbound stream not yet ACKed */
    bool delivering : 1;      /* inside on_data for this stream */
    bool fin_pending : 1;     /* FIN to send once pending drains */
    struct yamux_session *sess;
    union {                   /* a dead stream sends nothing more: */
        struct buf *pending;  /* live: data waiting for send window; NULL while
                               * none does (only a window-blocked stream has one) */
        struct yamux_stream *next_dead; /* dead: s->dead */
    };
    void *user;               /* the owner's per-stream state */
};

struct yamux_callbacks {
    /* Remote opened stream s. Return 0 to accept, -1 to refuse it (RST). */
    int (*on_open)(void *ctx, struct yamux_stream *s);
    void (*on_data)(void *ctx, struct yamux_stream *s, const uint8_t *d, size_t n);
    /* Remote half-closed s (FIN). */
    void (*on_fin)(void *ctx, struct yamux_stream *s);
    /* Remote reset s (RST). */
    void (*on_reset)(void *ctx, struct yamux_stream *s);
    /* Send window of s grew after being exhausted (optional): pending has
     * been flushed as far as the window allows, check yamux_pending. */
    void (*on_writable)(void *ctx, struct yamux_stream *s);
    /* s is about to be freed (from yamux_reap or yamux_free): release s->user. */
    void (*on_close)(void *ctx, struct yamux_stream *s);
    /* Remote sent Go Away with this code (optional; first Go Away only). */
    void (*on_goaway)(void *ctx, uint32_t code);
    /* Remote answered one of our pings (optional). */
    void (*on_pong)(void *ctx, uint32_t opaque);
};

/* Every connection embeds one, so the small members come first, packed,
 * and counts are 32-bit (streams are bounded by max_streams). */
struct yamux_session {
    bool client;              /* dialer = client (odd ids), listener = server (even) */
    bool goaway_sent, goaway_recv;
    uint8_t hdr_len;          /* bytes of a partial header held in hdr */
    uint8_t hdr[YAMUX_HEADER_LEN];
    uint16_t rx_flags;        /* flags of the current data frame, applied after its data */
    uint32_t next_id;
    uint32_t rx_remaining;    /* data bytes of the current frame still to come */
    unsigned busy;            /* inside yamux_feed: yamux_reap waits, yamux_feed refuses */
    uint32_t room;            /* bytes every stream's block has for its owner (0: none) */
    uint32_t nstreams, streams_cap;
    uint32_t max_streams;     /* live streams allowed; inbound over it are RST */
    struct yamux_stream **streams; /* live streams, sorted by id (&one, or allocated) */
    struct yamux_stream *one;      /* the array while it holds at most one */
    size_t pending_bytes;     /* data of all streams waiting for send window */
    struct yamux_stream *dead;
    struct buf *out;          /* frames to send, plaintext; NULL while none wait */
    struct yamux_stream *rx_stream; /* stream receiving the current data frame (may be NULL: discard) */
    const struct yamux_callbacks *cb;
    void *ctx;
    const char *error;
};

/* The output buffer exists only while it holds frames (an idle session
 * keeps no struct buf): yamux_out creates it on demand, the owner calls
 * yamux_out_release once it has taken every byte. */
struct buf *yamux_out(struct yamux_session *s);
static inline size_t yamux_out_size(const struct yamux_session *s)
{
    return s->out ? buf_size(s->out) : 0;
}
void yamux_out_release(struct yamux_session *s);

void yamux_init(struct yamux_session *s, bool client, size_t max_streams,
                const struct yamux_callbacks *cb, void *ctx);
/* Frees every stream (calling on_close) and the session's buffers. */
void yamux_free(struct yamux_session *s);
/* Processes received bytes. -1 on a protocol error: a Go Away (protocol
 * error) has been queued, s->error says why, the owner closes after flushing.
 * Callbacks may call yamux_open/write/close/reset/ping/goaway on any stream,
 * but not yamux_feed or yamux_free (yamux_reap is a no-op inside a feed). */
int yamux_feed(struct yamux_session *s, const uint8_t *d, size_t n);
/* The owner's room in st's block (session.room bytes, zeroed, 8-aligned,
 * freed with st once on_close returns); NULL if room is 0. The
 * owner sets session.room after yamux_init, before any stream exists. */
static inline void *yamux_stream_room(struct yamux_stream *st)
{
    return st->sess->room ? (void *)(st + 1) : NULL;
}
/* Opens an outbound stream (SYN is sent with its first frame, at once as a
 * window update). NULL after Go Away or at the stream limit. */
struct yamux_stream *yamux_open(struct yamux_session *s);
/* Bytes of st waiting for send window. */
static inline size_t yamux_pending(const struct yamux_stream *st)
{
    return st->dead || st->pending == NULL ? 0 : buf_size(st->pending);
}
/* Sends data: frames up to the send window go to s->out now, the rest waits in
 * st->pending and goes out as the peer grants window. */
void yamux_write(struct yamux_stream *st, const uint8_t *d, size_t n);
/* yamux_write of the concatenation of n parts (gathered into the frames,
 * no copy in between). */
void yamux_writev(struct yamux_stream *st, const struct iovec *v, size_t n);
/* For an owner that seals a data frame itself, from the caller's buffers
 * (no copy into s->out): the header of a frame of n bytes on st, as
 * yamux_write would cut it - n fits the send window and YAMUX_MAX_FRAME,
 * nothing waits in pending, our side is open - with the window taken. The
 * owner sends it, then the n bytes, after everything already in s->out.
 * -1, nothing done, when yamux_write would not send it at once. */
int yamux_data_header(struct yamux_stream *st, size_t n, uint8_t hdr[YAMUX_HEADER_LEN]);
/* Half-closes our side (FIN after pending data). */
void yamux_close(struct yamux_stream *st);
/* Aborts the stream (RST). */
void yamux_reset(struct yamux_stream *st);
void yamux_ping(struct yamux_session *s, uint32_t opaque);
void yamux_goaway(struct yamux_session *s, uint32_t code);
/* Frees dead streams, calling on_close for each. */
void yamux_reap(struct yamux_session *s);
struct yamux_stream *yamux_find(struct yamux_session *s, uint32_t id);
/* The live stream with the smallest id above `after` (NULL if none): walks
 * the streams while callbacks may open or finish some. */
struct yamux_stream *yamux_next(struct yamux_session *s, uint32_t after);
/* The owner still holds `held` bytes of what st delivered (requests it has
 * not answered yet): those are not granted back to the peer, so its window
 * closes while the owner holds them. Lowering it grants the difference
 * (from on_data, the grant is settled when on_data returns). */
void yamux_set_held(struct yamux_stream *st, size_t held);

#endif
