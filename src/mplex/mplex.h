/* mplex (/mplex/6.7.0, libp2p/specs mplex) as a session state machine
 * without I/O, shaped like yamux.h so the host drives either one.
 *
 * A message is uvarint(id << 3 | flag), uvarint(length), then length bytes.
 * The flag says who opened the stream: the opener writes with *_INITIATOR,
 * the other side with *_RECEIVER, so both sides may use the same id for
 * streams of their own; a stream is known by (id, who opened it).
 *
 * mplex has no flow control: what arrives is delivered at once, what is
 * written goes to sess->out at once. Bounding it is the owner's job (a
 * stream whose handler holds too much, or a connection whose peer does not
 * read, is reset or stopped being read by the host).
 *
 * As in yamux, streams are never freed inside a call: a finished stream (both
 * sides closed, or reset either way) moves to a dead list, and mplex_reap()
 * calls on_close for it and frees it. */
#ifndef RDV_MPLEX_MPLEX_H
#define RDV_MPLEX_MPLEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/buf.h"

#define MPLEX_PROTOCOL_ID "/mplex/6.7.0"
#define MPLEX_MAX_MSG (1u << 20)     /* largest message accepted (go and js use 1 MiB) */
#define MPLEX_MAX_FRAME 65536u       /* largest message we send */
#define MPLEX_MAX_ID ((UINT64_C(1) << 60) - 1) /* a 63-bit header less the 3 flag bits */

enum mplex_flag {
    MPLEX_NEW_STREAM = 0,
    MPLEX_MSG_RECEIVER = 1,
    MPLEX_MSG_INITIATOR = 2,
    MPLEX_CLOSE_RECEIVER = 3,
    MPLEX_CLOSE_INITIATOR = 4,
    MPLEX_RESET_RECEIVER = 5,
    MPLEX_RESET_INITIATOR = 6,
};

struct mplex_session;

struct mplex_stream {
    uint64_t id;
    struct mplex_session *sess;
    bool local;               /* we opened it: we write *_INITIATOR flags */
    bool local_fin, remote_fin, reset, dead;
    struct mplex_stream *next_dead;
    void *user;               /* the owner's per-stream state */
};

struct mplex_callbacks {
    /* Remote opened stream s. Return 0 to accept, -1 to refuse it (reset). */
    int (*on_open)(void *ctx, struct mplex_stream *s);
    void (*on_data)(void *ctx, struct mplex_stream *s, const uint8_t *d, size_t n);
    /* Remote closed its side of s. */
    void (*on_fin)(void *ctx, struct mplex_stream *s);
    /* Remote reset s. */
    void (*on_reset)(void *ctx, struct mplex_stream *s);
    /* s is about to be freed (from mplex_reap or mplex_free): release s->user. */
    void (*on_close)(void *ctx, struct mplex_stream *s);
};

struct mplex_session {
    bool client;              /* dialer: our ids are odd, listener: even */
    bool closed;              /* mplex_goaway: new inbound streams are reset */
    uint8_t hdr_len;          /* bytes of a partial header held in hdr */
    uint8_t hdr[20];          /* two varints of at most 9 bytes each */
    uint8_t rx_flag;          /* flag of the message whose payload is coming */
    uint32_t rx_remaining;    /* payload bytes of the current message still to come */
    unsigned busy;            /* inside mplex_feed */
    uint32_t nstreams, streams_cap; /* (32-bit: bounded by max_streams) */
    uint32_t max_streams;     /* live streams allowed; inbound over it are reset */
    uint64_t next_id;
    uint64_t unknown_msgs;    /* messages for streams we do not know (late, or bogus) */
    struct mplex_stream **streams; /* live streams, sorted by mplex_pos */
    struct mplex_stream *dead;
    struct mplex_stream *rx_stream; /* receives the current payload (NULL: skip it) */
    struct buf *out;          /* messages to send, plaintext; NULL while none wait */
    const struct mplex_callbacks *cb;
    void *ctx;
    const char *error;
};

/* As in yamux.h: the output buffer exists only while it holds messages;
 * mplex_out creates it, the owner releases it once it has taken them. */
struct buf *mplex_out(struct mplex_session *s);
static inline size_t mplex_out_size(const struct mplex_session *s)
{
    return s->out ? buf_size(s->out) : 0;
}
void mplex_out_release(struct mplex_session *s);

void mplex_init(struct mplex_session *s, bool client, size_t max_streams,
                const struct mplex_callbacks *cb, void *ctx);
/* Frees every stream (calling on_close) and the session's buffers. */
void mplex_free(struct mplex_session *s);
/* Processes received bytes. -1 on a protocol error (s->error says why): the
 * owner closes the connection; mplex has no message to say so. Callbacks may
 * open, write, close and reset streams, but not call mplex_feed or
 * mplex_free (mplex_reap is a no-op inside a feed). */
int mplex_feed(struct mplex_session *s, const uint8_t *d, size_t n);
/* Opens an outbound stream (NewStream is queued at once). NULL after
 * mplex_goaway, on an error, or at the stream limit. */
struct mplex_stream *mplex_open(struct mplex_session *s);
void mplex_write(struct mplex_stream *st, const uint8_t *d, size_t n);
/* mplex_write of the concatenation of n parts, gathered into the messages. */
void mplex_writev(struct mplex_stream *st, const struct iovec *v, size_t n);
/* Closes our side. */
void mplex_close(struct mplex_stream *st);
/* Aborts the stream both ways. */
void mplex_reset(struct mplex_stream *st);
/* No new streams either way from now on (mplex has no message for it: the
 * peer learns from its new streams being reset). */
void mplex_goaway(struct mplex_session *s);
/* Frees dead streams, calling on_close for each. */
void mplex_reap(struct mplex_session *s);
struct mplex_stream *mplex_find(struct mplex_session *s, uint64_t id, bool local);
/* A stream's place in the session's order (> 0), for mplex_next. */
static inline uint64_t mplex_pos(const struct mplex_stream *st)
{
    return (st->id << 1 | (st->local ? 1u : 0u)) + 1;
}
/* The live stream with the smallest mplex_pos above `after` (NULL if none). */
struct mplex_stream *mplex_next(struct mplex_session *s, uint64_t after);

#endif
