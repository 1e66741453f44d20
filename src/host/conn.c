/* One libp2p connection: the byte stream from the socket is upgraded in
 * place - multistream-select picks /noise, the Noise XX handshake
 * authenticates the peer, multistream-select (encrypted) picks yamux or
 * mplex - and then carries the muxer's frames, whose streams are negotiated
 * and dispatched to the host's protocol handlers. Handlers see one stream
 * interface whichever muxer carries it; the few places that differ are in
 * the "muxer" section below.
 *
 * Reads go through the host's scratch buffer; only an incomplete frame is
 * kept in c->in, so an idle connection holds no buffers. Output is queued
 * and written once per loop iteration by the host's flush hook. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <sodium.h>
#include <utlist.h>

#include "base/mem.h"
#include "codec/multiaddr.h"
#include "host/internal.h"
#include "host/ws.h"

#define CONN_READS_PER_EVENT 4     /* fairness: reads per readiness event */
#define STREAM_NEGOTIATION_MAX 4096 /* bytes buffered before a protocol is agreed */
#define STREAM_PENDING_MAX (1u << 20) /* unsent bytes a stream may hold */
/* mplex has no window: a handler may withhold (not answer yet) this much of
 * one stream's input, what a yamux peer may send before its window closes;
 * past it the stream is reset. */
#define STREAM_MPLEX_HELD_MAX YAMUX_WINDOW

static const char *const security_ids[] = {NOISE_PROTOCOL_ID};
/* In our order of preference: a dialer proposes yamux first. A listener
 * takes the first of the dialer's proposals it supports (multistream-select
 * leaves the choice to the dialer), so a dialer offering yamux before mplex
 * gets yamux, and one offering only mplex gets mplex. */
static const char *const muxer_ids[] = {YAMUX_PROTOCOL_ID, MPLEX_PROTOCOL_ID};
#define MUXER_MPLEX 1 /* index of mplex in muxer_ids */

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents);
static const struct yamux_callbacks mux_callbacks;
static void conn_seal(struct conn *c, struct buf *b);
static bool conn_sealv(struct conn *c, const struct iovec *v, size_t n);
static const struct mplex_callbacks mpx_callbacks;

void conn_mark_dirty(struct conn *c)
{
    if (c->dirty || c->phase == PH_CLOSED)
        return;
    c->dirty = true;
    c->dnext = c->host->dirty;
    c->host->dirty = c;
    host_wake_flush(c->host);
}

/* The socket output exists only while it holds bytes: an idle connection
 * does not keep its struct buf (the write frees it once it is empty). */
static struct buf *conn_out(struct conn *c) { return buf_held(&c->out); }

static void conn_out_release(struct conn *c) { buf_held_release(&c->out); }

/* The watcher asks for what c->reading and c->writing say. */
static void conn_io_update(struct conn *c)
{
    int want = (c->reading ? EV_READ : 0) | (c->writing ? EV_WRITE : 0);
    if (ev_is_active(&c->io) && (c->io.events & (EV_READ | EV_WRITE)) == want)
        return;
    ev_io_stop(c->host->loop, &c->io);
    if (want) {
        ev_io_set(&c->io, c->io.fd, want);
        ev_io_start(c->host->loop, &c->io);
    }
}

void conn_set_reading(struct conn *c, bool on)
{
    c->reading = on;
    conn_io_update(c);
}

static void conn_set_writing(struct conn *c, bool on)
{
    c->writing = on;
    conn_io_update(c);
}

static struct conn_dial *conn_dial(const struct conn *c)
{
    return c->dialer ? (struct conn_dial *)(void *)((char *)(uintptr_t)c + sizeof(*c)) : NULL;
}

void conn_set_ws(struct conn *c, struct ws *ws)
{
    assert(c->has_ws);
    char *tail = (char *)(c + 1) + (c->dialer ? sizeof(struct conn_dial) : 0);
    memcpy(tail, &ws, sizeof ws);
}

void conn_set_events(struct conn *c, const struct conn_events *ev, void *user)
{
    struct conn_dial *d = conn_dial(c);
    assert(d != NULL);
    d->events = ev;
    d->user = user;
}

const char *conn_peer_text(const struct conn *c, char *out, size_t cap)
{
    if (c->peer == NULL || peerid_to_text(&c->peer->id, out, cap) < 0)
        snprintf(out, cap, "?");
    return out;
}

const char *conn_addr_text(const struct conn *c, char *out, size_t cap)
{
    uint8_t ma[64];
    int n = multiaddr_from_sockaddr(&c->addr.sa, ma, sizeof(ma));
    if (n < 0 || multiaddr_to_text(ma, (size_t)n, out, cap) < 0)
        snprintf(out, cap, "?");
    return out;
}

struct conn *conn_new(struct host *h, int fd, bool dialer, bool connecting,
                      const struct sockaddr *sa, socklen_t salen, bool ws)
{
    /* A dialed connection's owner (struct conn_dial) follows it in its
     * block, then a WebSocket connection's transport pointer. */
    struct conn *c = xcalloc(1, sizeof(*c) + (dialer ? sizeof(struct conn_dial) : 0) +
                                    (ws ? sizeof(struct ws *) : 0));
    int one = 1;

    /* An accepted socket inherits TCP_NODELAY from its listener (host_listen). */
    if (dialer)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->host = h;
    c->dialer = dialer;
    c->has_ws = ws;
    c->connecting = connecting;
    c->phase = PH_SECURITY;
    if (salen > sizeof(c->addr))
        salen = sizeof(c->addr);
    memcpy(&c->addr, sa, salen);
    ev_io_init(&c->io, conn_on_io, fd, EV_READ);
    c->io.data = c;
    h->nconns++;
    c->last_active = ev_now(h->loop);
    host_tlist_move(h, c, TLIST_PENDING);

    c->nego = xcalloc(1, sizeof(*c->nego));
    if (dialer) {
        /* One security protocol on offer, so Noise's first message follows
         * the proposal at once (a listener without /noise fails us either
         * way): the listener answers both in one flight. */
        mss_dialer_init(&c->nego->mss, security_ids, 1, conn_out(c));
        c->nego->hs = xmalloc(sizeof(*c->nego->hs));
        noise_hs_init(c->nego->hs, true, &h->noise, conn_out(c));
    } else {
        mss_listener_init(&c->nego->mss, security_ids, 1, conn_out(c));
    }
    if (connecting)
        conn_set_writing(c, true);
    else
        conn_set_reading(c, true);
    /* A listener's header waits for the dialer's first flight (every
     * dialer sends its header without waiting for ours) and leaves with the
     * answer to it, in one write. */
    if (dialer)
        conn_mark_dirty(c);
    return c;
}

void conn_close(struct conn *c, const char *reason)
{
    struct host *h = c->host;

    if (c->closing)
        return;
    c->closing = true;
    c->close_reason = reason; /* wake_from is done with (conn_wake_streams) */
    conn_set_reading(c, false);
    /* A closing connection gets the short (handshake) deadline to flush. */
    c->last_active = ev_now(h->loop);
    host_tlist_move(h, c, TLIST_PENDING);
    conn_mark_dirty(c);
}

/* ---- muxer: yamux or mplex ------------------------------------------- */

/* The muxer's stream is gone (reset, finished, or the stream is being freed). */
static bool stream_gone(const struct stream *s)
{
    if (s->conn->mplex)
        return s->ms == NULL || s->ms->dead;
    return s->ys == NULL || s->ys->dead;
}

/* We closed our side (or it is gone). */
static bool stream_closed_here(const struct stream *s)
{
    if (stream_gone(s))
        return true;
    return s->conn->mplex ? s->ms->local_fin : s->ys->local_fin;
}

/* For logs. */
static uint64_t stream_id(const struct stream *s)
{
    if (s->conn->mplex)
        return s->ms ? s->ms->id : 0;
    return s->ys ? s->ys->id : 0;
}

/* Bytes written to s that wait for the peer's window (yamux only). */
static size_t stream_pending(const struct stream *s)
{
    return s->conn->mplex || s->ys == NULL ? 0 : yamux_pending(s->ys);
}

/* Bytes the peer lets us send on s now (mplex: no limit of its own). */
static size_t stream_window(const struct stream *s)
{
    return s->conn->mplex ? SIZE_MAX : s->ys->send_window;
}

/* The live stream after position `after` in the muxer's order (ids for
 * yamux), with its position; NULL at the end. */
static struct stream *conn_next_stream(struct conn *c, uint64_t after, uint64_t *pos, bool *more)
{
    *more = false;
    if (c->mplex) {
        struct mplex_stream *ms = mplex_next(&c->mpx, after);
        if (ms == NULL)
            return NULL;
        *more = true;
        *pos = mplex_pos(ms);
        return ms->user;
    }
    if (after >= UINT32_MAX)
        return NULL;
    struct yamux_stream *ys = yamux_next(&c->mux, (uint32_t)after);
    if (ys == NULL)
        return NULL;
    *more = true;
    *pos = ys->id;
    return ys->user;
}

/* Draining: no new streams on c. */
void conn_mux_goaway(struct conn *c)
{
    if (!c->mux_ready)
        return;
    if (c->mplex)
        mplex_goaway(&c->mpx);
    else
        yamux_goaway(&c->mux, YAMUX_GOAWAY_NORMAL);
}

/* ---- output budget ---------------------------------------------------- */

/* Bytes queued for the socket, whichever layer holds them. */
static size_t conn_unsent(const struct conn *c)
{
    return (c->out ? buf_size(c->out) : 0) + (conn_ws(c) ? buf_size(ws_wire(conn_ws(c))) : 0);
}

/* All output the connection holds: sealed and transport bytes, plaintext to
 * seal, muxer frames, and stream data waiting for the peer's window. */
static size_t conn_buffered_out(const struct conn *c)
{
    size_t n = conn_unsent(c) + (c->nego ? buf_size(&c->nego->plain_out) : 0);
    if (c->mux_ready && c->mplex)
        n += mplex_out_size(&c->mpx);
    else if (c->mux_ready)
        n += yamux_out_size(&c->mux) + c->mux.pending_bytes;
    return n;
}

/* Handlers write while the output is under the high-water mark; one answer
 * (at most 1 MiB) may take it past, never past max_out. */
static size_t conn_high_water(const struct conn *c) { return c->host->limits.max_out / 2; }
static size_t conn_low_water(const struct conn *c) { return c->host->limits.max_out / 4; }

/* Brings host->mem_out up to date with this connection's output. */
static void conn_account_out(struct conn *c)
{
    size_t now = c->phase == PH_CLOSED ? 0 : conn_buffered_out(c);
    /* The count is 32 bits: max_out is at most 1 GiB and the connection
     * is closed past it, so it saturates at most for a moment. */
    if (now > UINT32_MAX)
        now = UINT32_MAX;
    c->host->mem_out = c->host->mem_out - c->out_counted + now;
    c->out_counted = (uint32_t)now;
}

/* Once the output is back under the low-water mark, the streams' handlers
 * are told, in turn from where the last round stopped, until one fills it
 * again. */
static void conn_wake_streams(struct conn *c)
{
    if (c->closing) /* wake_from gave way to close_reason */
        return;
    uint64_t start = c->wake_from;

    c->out_blocked = false;
    c->wake_from = 0;
    /* Positions after start first, then from the lowest up to start. */
    for (int pass = 0; pass < 2; pass++) {
        uint64_t id = pass ? 0 : start, pos = 0;
        struct stream *s;
        bool more;
        while ((s = conn_next_stream(c, id, &pos, &more), more) && (pass == 0 || pos <= start)) {
            id = pos;
            if (s && s->opened && s->proto->on_writable && !stream_closed_here(s))
                s->proto->on_writable(s);
            if (c->closing) /* a handler closed it */
                return;
            if (c->out_blocked) {
                c->wake_from = id;
                return;
            }
        }
        if (start == 0)
            break;
    }
}

/* Called after each write: the socket is read only while what waits for it
 * is under the high-water mark (a peer that does not read cannot make us
 * queue more by sending more), and handlers waiting for room are woken. */
static void conn_pace(struct conn *c)
{
    struct host *h = c->host;

    if (c->closing || !c->mux_ready)
        return;
    size_t unsent = conn_unsent(c);
    if (!c->read_paused && unsent >= conn_high_water(c)) {
        conn_set_reading(c, false);
        c->read_paused = true;
        h->stats.read_pauses++;
    } else if (c->read_paused && unsent < conn_low_water(c)) {
        conn_set_reading(c, true);
        c->read_paused = false;
    }
    if (c->out_blocked && conn_buffered_out(c) < conn_low_water(c))
        conn_wake_streams(c);
}

/* ---- streams ---------------------------------------------------------- */

size_t stream_writable(const struct stream *s)
{
    struct conn *c = s->conn;

    if (stream_closed_here(s) || c->closing)
        return 0;
    if (!c->out_blocked && conn_buffered_out(c) >= conn_high_water(c))
        c->out_blocked = true; /* conn_pace wakes the handlers under the low-water mark */
    if (c->out_blocked || stream_pending(s))
        return 0;
    size_t room = conn_high_water(c) - conn_buffered_out(c), window = stream_window(s);
    return room < window ? room : window;
}

void stream_hold_input(struct stream *s, size_t bytes, size_t withheld)
{
    struct conn *c = s->conn;
    struct host *h = c->host;

    /* The connection's count is 32 bits and max_in at most 1 GiB: a hold
     * that would take it past 4 GiB is counted up to there (the stream is
     * reset below), and the stream's share with it, so the counts agree. */
    size_t total = (size_t)c->in_held - s->in_held + bytes;
    if (total > UINT32_MAX) {
        bytes -= total - UINT32_MAX;
        total = UINT32_MAX;
    }
    c->in_held = (uint32_t)total;
    h->mem_in = h->mem_in - s->in_held + bytes;
    s->in_held = (uint32_t)bytes;
    if (stream_gone(s))
        return;
    if (!c->mplex)
        yamux_set_held(s->ys, withheld); /* the peer's window closes meanwhile */
    if (c->in_held > h->limits.max_in || (c->mplex && withheld > STREAM_MPLEX_HELD_MAX)) {
        LOGD(h->log, "stream %" PRIu64 " from %s: %" PRIu32 " input bytes held on the connection, resetting",
             stream_id(s), CONN_PEER_TEXT(c), c->in_held);
        h->stats.streams_over_input++;
        stream_reset(s);
    }
}

static void stream_flush_mss(struct stream *s)
{
    struct buf *scratch = &s->conn->host->scratch;
    if (buf_size(scratch)) {
        if (s->conn->mplex)
            mplex_write(s->ms, buf_head(scratch), buf_size(scratch));
        else
            yamux_write(s->ys, buf_head(scratch), buf_size(scratch));
        buf_reset(scratch);
        conn_mark_dirty(s->conn);
    }
}

/* A peer that sends without reading what we answer would make unsent
 * data grow: bound it per stream, and across the connection by its output
 * limit (handlers that size their writes never get here). False if s was
 * reset for it. */
static bool stream_room_for(struct stream *s, size_t n)
{
    if (stream_pending(s) + n > STREAM_PENDING_MAX ||
        conn_buffered_out(s->conn) + n > s->conn->host->limits.max_out) {
        LOGD(s->conn->host->log, "stream %" PRIu64 " to %s: peer does not read, resetting",
             stream_id(s), CONN_PEER_TEXT(s->conn));
        stream_reset(s);
        return false;
    }
    return true;
}

void stream_writev(struct stream *s, const struct iovec *v, size_t n)
{
    size_t total = 0;
    if (stream_gone(s))
        return;
    for (size_t i = 0; i < n; i++)
        total += v[i].iov_len;
    if (!stream_room_for(s, total))
        return;
    if (s->conn->mplex)
        mplex_writev(s->ms, v, n);
    else
        yamux_writev(s->ys, v, n);
    conn_account_out(s->conn);
    conn_mark_dirty(s->conn);
}

void stream_writev_now(struct stream *s, const struct iovec *v, size_t n)
{
    struct conn *c = s->conn;
    size_t total = 0;

    if (stream_gone(s))
        return;
    for (size_t j = 0; j < n; j++)
        total += v[j].iov_len;
    if (c->mplex || c->closing || c->phase != PH_READY || n > STREAM_WRITEV_PARTS ||
        total > s->ys->send_window || yamux_pending(s->ys) > 0 || s->ys->local_fin) {
        stream_writev(s, v, n);
        return;
    }
    if (total == 0 || !stream_room_for(s, total))
        return;
    /* What was queued before goes first. */
    if (yamux_out_size(&c->mux)) {
        conn_seal(c, c->mux.out);
        yamux_out_release(&c->mux);
    }
    /* Frames as yamux_writev cuts them: [header, the parts' slices]. */
    size_t i = 0, off = 0;
    while (total > 0 && !c->closing) {
        struct iovec f[1 + STREAM_WRITEV_PARTS];
        uint8_t hdr[YAMUX_HEADER_LEN];
        size_t k = total < YAMUX_MAX_FRAME ? total : YAMUX_MAX_FRAME, m = 1;
        if (yamux_data_header(s->ys, k, hdr) != 0)
            break; /* cannot happen: checked above */
        f[0] = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
        total -= k;
        while (k > 0) {
            size_t take = v[i].iov_len - off < k ? v[i].iov_len - off : k;
            if (take > 0)
                f[m++] = (struct iovec){.iov_base = (uint8_t *)v[i].iov_base + off, .iov_len = take};
            k -= take;
            off += take;
            if (off == v[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (!conn_sealv(c, f, m))
            break;
    }
    conn_account_out(c);
    conn_mark_dirty(c);
}

void stream_want_writable(struct stream *s)
{
    if (s->fill_wanted || stream_gone(s))
        return;
    s->fill_wanted = true;
    s->fill_next = s->conn->fill;
    s->conn->fill = s;
    conn_mark_dirty(s->conn);
}

/* Takes s off conn->fill (it is going away). */
static void stream_unwant(struct stream *s)
{
    if (!s->fill_wanted)
        return;
    struct stream **pp = &s->conn->fill;
    while (*pp != s)
        pp = &(*pp)->fill_next;
    *pp = s->fill_next;
    s->fill_wanted = false;
}

/* The flush calls the handlers that asked, before sealing. */
static void conn_fill_streams(struct conn *c)
{
    struct stream *s;
    while ((s = c->fill) != NULL) {
        c->fill = s->fill_next;
        s->fill_wanted = false;
        if (!stream_gone(s) && s->opened && s->proto->on_writable)
            s->proto->on_writable(s);
    }
}

void stream_write(struct stream *s, const void *d, size_t n)
{
    struct iovec v = {.iov_base = (void *)d, .iov_len = n};
    stream_writev(s, &v, 1);
}

void stream_close(struct stream *s)
{
    if (stream_gone(s))
        return;
    if (s->conn->mplex)
        mplex_close(s->ms);
    else
        yamux_close(s->ys);
    conn_mark_dirty(s->conn);
}

void stream_reset(struct stream *s)
{
    if (stream_gone(s))
        return;
    if (s->conn->mplex)
        mplex_reset(s->ms);
    else
        yamux_reset(s->ys);
    conn_mark_dirty(s->conn);
}

/* A handler's state follows the stream in the block, 8-aligned (host_handle). */
_Static_assert(sizeof(struct stream) % 8 == 0, "struct stream keeps the state after it 8-aligned");

/* In ys's block if it has room (yamux), else on its own. */
static struct stream *stream_alloc(struct yamux_stream *ys)
{
    void *room = ys ? yamux_stream_room(ys) : NULL;
    if (room == NULL || ys->sess->room < sizeof(struct stream))
        return xcalloc(1, sizeof(struct stream));
    struct stream *s = room;
    s->embedded = true;
    return s;
}

/* What follows the stream in its block, from the muxer session's room
 * (the same for every stream of a connection): the stream keeps no count
 * of its own. Asked for in on_open, while the muxer stream is there. */
void *stream_state_room(struct stream *s, size_t n)
{
    if (!s->embedded || s->ys == NULL)
        return NULL;
    return n <= s->ys->sess->room - sizeof(*s) ? (void *)(s + 1) : NULL;
}

struct stream *conn_open_stream(struct conn *c, const struct protocol *p, void *state)
{
    if (!c->mux_ready || c->closing)
        return NULL;
    struct yamux_stream *ys = NULL;
    struct mplex_stream *ms = NULL;
    if (c->mplex)
        ms = mplex_open(&c->mpx);
    else
        ys = yamux_open(&c->mux);
    if (ys == NULL && ms == NULL)
        return NULL;
    struct stream *s = stream_alloc(ys);
    s->conn = c;
    if (ms) {
        s->ms = ms;
        ms->user = s;
    } else {
        s->ys = ys;
        ys->user = s;
    }
    s->proto = p;
    s->outbound = true;
    s->state = state;
    s->nego = xcalloc(1, sizeof(*s->nego));
    mss_dialer_init(&s->nego->mss, &p->id, 1, &c->host->scratch);
    stream_flush_mss(s);
    return s;
}

/* Runs multistream-select on a new stream; once agreed, hands the handler
 * whatever bytes followed the proposal. */
static void stream_negotiate(struct stream *s, const uint8_t *d, size_t n)
{
    struct host *h = s->conn->host;
    struct stream_nego *ng = s->nego;
    size_t used;

    buf_append(&ng->in, d, n);
    uint16_t refused = ng->mss.attempts;
    enum mss_result r = mss_feed(&ng->mss, buf_head(&ng->in), buf_size(&ng->in), &used,
                                 &h->scratch);
    stream_flush_mss(s);
    buf_consume(&ng->in, used);
    if (!s->outbound && ng->mss.attempts != refused)
        LOGD_EVENT(h->log, "stream %" PRIu64 " from %s: protocol %s refused (not supported)%s", stream_id(s),
                   CONN_PEER_TEXT(s->conn), ng->mss.refused,
                   ng->mss.attempts - refused > 1 ? ", after others" : "");
    if (r == MSS_FAILED) {
        LOGD(h->log, "stream %" PRIu64 " from %s: negotiation failed: %s", stream_id(s), CONN_PEER_TEXT(s->conn),
             ng->mss.error);
        stream_reset(s);
        return;
    }
    if (r == MSS_AGAIN) {
        if (buf_size(&ng->in) > STREAM_NEGOTIATION_MAX)
            stream_reset(s);
        return;
    }
    if (!s->outbound)
        s->proto = h->protocols[ng->mss.selected];
    s->nego = NULL; /* detached: the leftover bytes below are ours to free */
    LOGD_EVENT(h->log, "stream %" PRIu64 " %s %s: protocol %s", stream_id(s), s->outbound ? "to" : "from",
               CONN_PEER_TEXT(s->conn), s->proto->id);
    if (s->proto->on_open(s) == 0) {
        s->opened = true;
        if (buf_size(&ng->in) && !stream_gone(s))
            s->proto->on_data(s, buf_head(&ng->in), buf_size(&ng->in));
    } else {
        stream_reset(s);
    }
    buf_free(&ng->in);
    free(ng);
}

/* A stream the peer opened: NULL to refuse it. The caller links it with
 * the muxer's stream, then calls stream_accepted. */
static struct stream *stream_inbound(struct conn *c, struct yamux_stream *ys)
{
    if (c->closing || c->host->nprotocols == 0)
        return NULL;
    struct stream *s = stream_alloc(ys);
    s->conn = c;
    s->nego = xcalloc(1, sizeof(*s->nego));
    return s;
}

static void stream_accepted(struct stream *s)
{
    struct host *h = s->conn->host;
    mss_listener_init(&s->nego->mss, h->protocol_ids, h->nprotocols, &h->scratch);
    stream_flush_mss(s);
}

static void stream_on_data(struct stream *s, const uint8_t *d, size_t n)
{
    if (s == NULL)
        return;
    if (s->nego)
        stream_negotiate(s, d, n);
    else if (s->opened)
        s->proto->on_data(s, d, n);
}

static void stream_on_fin(struct stream *s)
{
    if (s == NULL)
        return;
    if (s->opened) {
        if (s->proto->on_eof)
            s->proto->on_eof(s);
        else
            stream_close(s);
    } else {
        stream_reset(s); /* half-closed before agreeing on a protocol */
    }
}

/* The muxer frees its stream: the handler releases its state, then s goes. */
static void stream_on_close(struct stream *s)
{
    if (s == NULL)
        return;
    stream_unwant(s);
    s->ys = NULL; /* (and s->ms) writes from on_close are dropped */
    stream_hold_input(s, 0, 0); /* whatever the handler held is gone with it */
    /* Inbound streams belong to the handler once on_open succeeded; outbound
     * ones from the start. */
    const struct protocol *p = s->proto;
    if ((s->opened || s->outbound) && p->on_close)
        p->on_close(s);
    if (s->nego) {
        buf_free(&s->nego->in);
        free(s->nego);
    }
    if (!s->embedded)
        free(s); /* else the muxer frees its block after on_close */
}

/* yamux's callbacks. */

static int mux_on_open(void *ctx, struct yamux_stream *ys)
{
    struct stream *s = stream_inbound(ctx, ys);
    if (s == NULL)
        return -1;
    s->ys = ys;
    ys->user = s;
    stream_accepted(s);
    return 0;
}

static void mux_on_data(void *ctx, struct yamux_stream *ys, const uint8_t *d, size_t n)
{
    (void)ctx;
    stream_on_data(ys->user, d, n);
}

static void mux_on_fin(void *ctx, struct yamux_stream *ys)
{
    (void)ctx;
    stream_on_fin(ys->user);
}

static void mux_on_reset(void *ctx, struct yamux_stream *ys)
{
    (void)ctx;
    (void)ys; /* on_close follows when the stream is reaped */
}

/* Handlers that queue their own output (push mode) refill the stream. */
static void mux_on_writable(void *ctx, struct yamux_stream *ys)
{
    struct stream *s = ys->user;
    (void)ctx;
    if (s && s->opened && s->proto->on_writable)
        s->proto->on_writable(s);
}

static void mux_on_close(void *ctx, struct yamux_stream *ys)
{
    (void)ctx;
    stream_on_close(ys->user);
    ys->user = NULL;
}

static void mux_on_goaway(void *ctx, uint32_t code)
{
    struct conn *c = ctx;
    LOGD(c->host->log, "%s sent go-away (%u)", CONN_PEER_TEXT(c), code);
}

static const struct yamux_callbacks mux_callbacks = {
    .on_open = mux_on_open,
    .on_data = mux_on_data,
    .on_fin = mux_on_fin,
    .on_reset = mux_on_reset,
    .on_writable = mux_on_writable,
    .on_close = mux_on_close,
    .on_goaway = mux_on_goaway,
};

/* mplex's: the same, less what mplex does not have (windows, go-away). */

static int mpx_on_open(void *ctx, struct mplex_stream *ms)
{
    struct stream *s = stream_inbound(ctx, NULL);
    if (s == NULL)
        return -1;
    s->ms = ms;
    ms->user = s;
    stream_accepted(s);
    return 0;
}

static void mpx_on_data(void *ctx, struct mplex_stream *ms, const uint8_t *d, size_t n)
{
    (void)ctx;
    stream_on_data(ms->user, d, n);
}

static void mpx_on_fin(void *ctx, struct mplex_stream *ms)
{
    (void)ctx;
    stream_on_fin(ms->user);
}

static void mpx_on_close(void *ctx, struct mplex_stream *ms)
{
    (void)ctx;
    stream_on_close(ms->user);
    ms->user = NULL;
}

static const struct mplex_callbacks mpx_callbacks = {
    .on_open = mpx_on_open,
    .on_data = mpx_on_data,
    .on_fin = mpx_on_fin,
    .on_close = mpx_on_close,
};

/* ---- upgrade ---------------------------------------------------------- */

static void conn_secured(struct conn *c)
{
    struct host *h = c->host;

    struct noise_hs *hs = c->nego->hs;
    noise_hs_split(hs, &c->tx, &c->rx);
    c->peer = peer_ids_get(h->ids, &hs->remote);
    noise_hs_wipe(hs);
    free(hs);
    c->nego->hs = NULL;
    if (c->nego->has_expected && !peerid_eq(&c->peer->id, &c->nego->expected)) {
        char want[PEERID_TEXT_MAX];
        peerid_to_text(&c->nego->expected, want, sizeof(want));
        LOGW(h->log, "%s: peer id mismatch: dialed %s, got %s", CONN_ADDR_TEXT(c), want,
             CONN_PEER_TEXT(c));
        conn_close(c, "peer id mismatch");
        return;
    }
    h->stats.handshakes_ok++;
    c->phase = PH_MUXER;
    if (c->dialer) {
        unsigned offer = h->dial_muxers ? h->dial_muxers : HOST_MUX_YAMUX | HOST_MUX_MPLEX;
        size_t first = offer & HOST_MUX_YAMUX ? 0 : MUXER_MPLEX;
        size_t n = offer & HOST_MUX_MPLEX ? 2 - first : 1;
        mss_dialer_init(&c->nego->mss, muxer_ids + first, n, &c->nego->plain_out);
    } else
        mss_listener_init(&c->nego->mss, muxer_ids, 2, &c->nego->plain_out);
}

static void conn_ready(struct conn *c, bool mplex)
{
    struct host *h = c->host;

    c->phase = PH_READY;
    c->mux_ready = true;
    c->mplex = mplex;
    if (mplex)
        mplex_init(&c->mpx, c->dialer, h->limits.max_streams, &mpx_callbacks, c);
    else {
        yamux_init(&c->mux, c->dialer, h->limits.max_streams, &mux_callbacks, c);
        c->mux.room = (uint32_t)h->stream_room; /* a stream and its state: one block */
    }
    c->last_active = ev_now(h->loop);
    host_tlist_move(h, c, TLIST_ESTABLISHED);
    host_handshake_end(h, c);
    HOST_LOG_CONN(h, LOG_INFO, "connection %s %s %s%s", c->dialer ? "to" : "from", CONN_PEER_TEXT(c),
                  CONN_ADDR_TEXT(c), mplex ? " (mplex)" : "");
    const struct conn_dial *d = conn_dial(c);
    if (d && d->events && d->events->on_ready)
        d->events->on_ready(c, d->user);
}

/* Decrypted bytes: the muxer negotiation, then the muxer. */
static void conn_plaintext(struct conn *c, const uint8_t *d, size_t n)
{
    if (c->phase == PH_READY && c->mplex) {
        if (mplex_feed(&c->mpx, d, n) < 0) {
            c->host->stats.conn_errors[CONN_ERR_MPLEX]++;
            LOGD(c->host->log, "%s: mplex protocol error: %s", CONN_PEER_TEXT(c), c->mpx.error);
            conn_close(c, c->mpx.error ? c->mpx.error : "mplex protocol error");
        }
        return;
    }
    if (c->phase == PH_READY) {
        if (yamux_feed(&c->mux, d, n) < 0) {
            c->host->stats.conn_errors[CONN_ERR_YAMUX]++;
            conn_close(c, c->mux.error ? c->mux.error : "yamux protocol error");
        }
        return;
    }
    struct conn_nego *ng = c->nego;
    size_t used;
    buf_append(&ng->plain_in, d, n);
    enum mss_result r = mss_feed(&ng->mss, buf_head(&ng->plain_in), buf_size(&ng->plain_in), &used,
                                 &ng->plain_out);
    buf_consume(&ng->plain_in, used);
    if (r == MSS_FAILED) {
        c->host->stats.handshakes_failed++;
        c->host->stats.handshake_failures[HS_FAIL_MUXER]++;
        conn_close(c, ng->mss.error ? ng->mss.error : "muxer negotiation failed");
    } else if (r == MSS_SELECTED) {
        conn_seal(c, &ng->plain_out); /* our answer goes before any muxer frame */
        c->nego = NULL; /* detached first: what follows runs as established */
        conn_ready(c, ng->mss.protos[ng->mss.selected] == muxer_ids[MUXER_MPLEX]);
        if (buf_size(&ng->plain_in) && !c->closing)
            conn_plaintext(c, buf_head(&ng->plain_in), buf_size(&ng->plain_in));
        buf_free(&ng->plain_in);
        buf_free(&ng->plain_out);
        free(ng);
    } else if (buf_size(&ng->plain_in) > MSS_MAX_MSG * 2) {
        conn_close(c, "muxer negotiation too long");
    }
}

/* Consumes what it can of p[0, n) and returns how much; the rest is an
 * incomplete message the caller keeps. Noise frames are decrypted in place. */
static size_t conn_process(struct conn *c, uint8_t *p, size_t n)
{
    struct host *h = c->host;
    size_t used = 0;

    while (!c->closing && used < n) {
        if (c->phase == PH_SECURITY) {
            size_t k;
            enum mss_result r = mss_feed(&c->nego->mss, p + used, n - used, &k, conn_out(c));
            used += k;
            if (r == MSS_FAILED) {
                h->stats.handshakes_failed++;
                h->stats.handshake_failures[HS_FAIL_SECURITY]++;
                LOGD(h->log, "%s: security negotiation failed: %s", CONN_ADDR_TEXT(c), c->nego->mss.error);
                conn_close(c, "security negotiation failed");
            } else if (r == MSS_SELECTED) {
                if (c->nego->hs == NULL) { /* a dialer's is under way already */
                    c->nego->hs = xmalloc(sizeof(*c->nego->hs));
                    noise_hs_init(c->nego->hs, c->dialer, &h->noise, conn_out(c));
                }
                c->phase = PH_NOISE;
                continue;
            }
            return used;
        }
        if (n - used < 2)
            return used;
        size_t flen = (size_t)p[used] << 8 | p[used + 1];
        if (n - used < 2 + flen)
            return used;
        uint8_t *f = p + used + 2;
        used += 2 + flen;
        if (c->phase == PH_NOISE) {
            enum noise_result r = noise_hs_read(c->nego->hs, f, flen, conn_out(c));
            if (r == NOISE_FAILED) {
                h->stats.handshakes_failed++;
                h->stats.handshake_failures[HS_FAIL_NOISE]++;
                LOGD(h->log, "%s: noise handshake failed: %s", CONN_ADDR_TEXT(c), c->nego->hs->error);
                conn_close(c, "noise handshake failed");
            } else if (r == NOISE_DONE) {
                conn_secured(c);
            }
            continue;
        }
        if (flen < NOISE_TAG_LEN || noise_open(&c->rx, f, flen, f) != 0) {
            h->stats.conn_errors[CONN_ERR_DECRYPT]++;
            conn_close(c, "noise decryption failed");
            return used;
        }
        conn_plaintext(c, f, flen - NOISE_TAG_LEN);
    }
    return used;
}

/* Input keeps an established connection alive. A handshake's deadline
 * counts from accept, whatever trickles in: refreshing it would let a peer
 * dribble bytes forever and would break the list's deadline order. */
static void conn_touch(struct conn *c)
{
    if (c->tlist != TLIST_ESTABLISHED)
        return;
    c->last_active = ev_now(c->host->loop);
    host_tlist_move(c->host, c, TLIST_ESTABLISHED);
}

/* c->in, allocated when an incomplete frame has to wait for more. */
static struct buf *conn_in(struct conn *c)
{
    if (c->in == NULL)
        c->in = xcalloc(1, sizeof(*c->in));
    return c->in;
}

/* Frees c->in once it is empty: an idle connection holds none. */
static void conn_in_release(struct conn *c)
{
    if (c->in && buf_size(c->in) == 0) {
        buf_free(c->in);
        free(c->in);
        c->in = NULL;
    }
}

/* WebSocket: the transport appends the stream's bytes to c->in. */
static void conn_ws_input(struct conn *c, const uint8_t *p, size_t n)
{
    struct buf *in = conn_in(c);
    int r = ws_input(conn_ws(c), p, n, in);
    if (buf_size(in))
        buf_consume(in, conn_process(c, buf_head(in), buf_size(in)));
    if (r != WS_OK && !c->closing)
        conn_close(c, r == WS_EOF ? "closed by peer" : ws_error(conn_ws(c)));
}

/* Whether the flush hook has work for c after a read: output the read made
 * (the muxer's window updates, pings, resets), streams it finished, a
 * handshake or WebSocket in progress, a close. Output that handlers write
 * marks the connection itself. A lean host (a library client) asks, so that
 * a read that only delivered data does not start its flush hook; the
 * server's flushes every connection it read. */
static bool conn_read_left_work(const struct conn *c)
{
    if (!c->mux_ready || c->closing || conn_ws(c) || c->out || c->fill)
        return true;
    if (c->mplex)
        return mplex_out_size(&c->mpx) || c->mpx.dead;
    return yamux_out_size(&c->mux) || c->mux.dead;
}

static void conn_on_read(struct conn *c)
{
    struct host *h = c->host;
    uint8_t lean_rbuf[HOST_LEAN_RBUF];
    size_t cap = h->lean ? sizeof(lean_rbuf) : HOST_RBUF;

    if (!h->lean && h->rbuf == NULL)
        h->rbuf = xmalloc(HOST_RBUF);
    uint8_t *rbuf = h->lean ? lean_rbuf : h->rbuf;

    /* Reads draw on the pass's budget (HOST_READ_BUDGET, all connections
     * together), so that a burst from many connections cannot make one
     * pass of the loop long: once it is spent, each ready connection still
     * reads HOST_READ_MIN (nobody starves, whatever the order), and what is
     * left waits in its socket for the next pass. */
    for (int i = 0; i < CONN_READS_PER_EVENT && !c->closing; i++) {
        size_t want = cap;
        /* A lean host's budget is not renewed every pass: it has none. */
        if (!h->lean && i > 0 && h->read_budget == 0)
            break;
        if (!h->lean && want > h->read_budget)
            want = h->read_budget > HOST_READ_MIN ? h->read_budget : HOST_READ_MIN;
        ssize_t r = read(c->io.fd, rbuf, want);
        if (r == 0) {
            conn_close(c, "closed by peer");
            break;
        }
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                conn_close(c, strerror(errno));
            break;
        }
        h->stats.bytes_in += (uint64_t)r;
        h->read_budget -= (size_t)r < h->read_budget ? (size_t)r : h->read_budget;
        conn_touch(c);
        if (conn_ws(c)) {
            conn_ws_input(c, rbuf, (size_t)r);
        } else if (c->in == NULL) {
            size_t used = conn_process(c, rbuf, (size_t)r);
            if (used < (size_t)r && !c->closing)
                buf_append(conn_in(c), rbuf + used, (size_t)r - used);
        } else {
            buf_append(c->in, rbuf, (size_t)r);
            buf_consume(c->in, conn_process(c, buf_head(c->in), buf_size(c->in)));
        }
        conn_in_release(c);
        if ((size_t)r < want)
            break;
    }
    if (!h->lean || conn_read_left_work(c))
        conn_mark_dirty(c);
}

/* Appends b sealed into Noise transport messages to c->out. */
static void conn_seal(struct conn *c, struct buf *b)
{
    while (buf_size(b)) {
        size_t n = buf_size(b) < NOISE_MAX_PLAINTEXT ? buf_size(b) : NOISE_MAX_PLAINTEXT;
        struct buf *out = conn_out(c);
        uint8_t *o = buf_reserve(out, n + NOISE_TAG_LEN + 2);
        o[0] = (uint8_t)((n + NOISE_TAG_LEN) >> 8);
        o[1] = (uint8_t)(n + NOISE_TAG_LEN);
        struct iovec v = {.iov_base = buf_head(b), .iov_len = n};
        if (noise_sealv(&c->tx, c->host->bulk, &v, 1, o + 2) != 0) {
            conn_close(c, "noise nonce exhausted");
            buf_reset(b);
            return;
        }
        buf_commit(out, n + NOISE_TAG_LEN + 2);
        buf_consume(b, n);
    }
    buf_free(b);
}

/* Appends the concatenation of v[0, n) sealed into Noise transport
 * messages to c->out, reading the parts where they lie. False if the
 * cipher is exhausted (c is closed). */
static bool conn_sealv(struct conn *c, const struct iovec *v, size_t n)
{
    size_t i = 0, off = 0;
    while (i < n) {
        struct iovec part[1 + STREAM_WRITEV_PARTS];
        size_t m = 0, len = 0;
        while (i < n && m < sizeof(part) / sizeof(part[0]) && len < NOISE_MAX_PLAINTEXT) {
            size_t k = v[i].iov_len - off;
            if (k > NOISE_MAX_PLAINTEXT - len)
                k = NOISE_MAX_PLAINTEXT - len;
            part[m++] = (struct iovec){.iov_base = (uint8_t *)v[i].iov_base + off, .iov_len = k};
            len += k;
            off += k;
            if (off == v[i].iov_len) {
                i++;
                off = 0;
            }
        }
        if (len == 0)
            continue;
        struct buf *out = conn_out(c);
        uint8_t *o = buf_reserve(out, len + NOISE_TAG_LEN + 2);
        o[0] = (uint8_t)((len + NOISE_TAG_LEN) >> 8);
        o[1] = (uint8_t)(len + NOISE_TAG_LEN);
        if (noise_sealv(&c->tx, c->host->bulk, part, m, o + 2) != 0) {
            conn_close(c, "noise nonce exhausted");
            return false;
        }
        buf_commit(out, len + NOISE_TAG_LEN + 2);
    }
    return true;
}

void conn_drop_output(struct conn *c)
{
    if (c->out)
        buf_reset(c->out);
    if (conn_ws(c))
        buf_reset(ws_wire(conn_ws(c)));
}

static void conn_write_out(struct conn *c)
{
    struct host *h = c->host;
    struct buf *out = c->out;

    if (conn_ws(c)) { /* frame (and encrypt) the stream; the transport holds the result */
        if (ws_output(conn_ws(c), conn_out(c), c->closing) != WS_OK && !c->closing)
            conn_close(c, ws_error(conn_ws(c)));
        out = ws_wire(conn_ws(c));
    }
    while (out && buf_size(out)) {
        /* MSG_NOSIGNAL: a peer gone is an error here, not a SIGPIPE for a
         * program (a client library's user) that did not ignore it. */
        ssize_t w = send(c->io.fd, buf_head(out), buf_size(out), MSG_NOSIGNAL);
        if (w > 0) {
            h->stats.bytes_out += (uint64_t)w;
            h->stats.socket_writes++;
            buf_consume(out, (size_t)w);
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c->writing)
                conn_set_writing(c, true);
            return;
        }
        /* The peer is gone: nothing more can be sent. */
        if (!c->closing)
            conn_close(c, w < 0 ? strerror(errno) : "write failed");
        conn_drop_output(c);
    }
    if (c->writing)
        conn_set_writing(c, false);
    if (conn_ws(c))
        buf_free(out);
    if (c->out && buf_size(c->out) == 0)
        conn_out_release(c);
}

static void conn_on_writable(struct conn *c)
{
    if (c->connecting) {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c->io.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        c->connecting = false;
        if (err != 0) {
            conn_drop_output(c);
            conn_close(c, strerror(err));
            return;
        }
        conn_set_reading(c, true);
    }
    conn_mark_dirty(c); /* the flush hook writes */
}

static void conn_on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    struct conn *c = w->data;
    (void)loop;

    if (revents & EV_WRITE)
        conn_on_writable(c);
    if ((revents & EV_READ) && c->reading && !c->closing)
        conn_on_read(c);
}

bool conn_flush(struct conn *c)
{
    struct host *h = c->host;

    if (c->mux_ready) {
        /* Reaping may queue output on this or other connections. */
        if (c->mplex)
            mplex_reap(&c->mpx);
        else
            yamux_reap(&c->mux);
        conn_fill_streams(c);
        /* The muxer's output buffer is sealed whole, then let go. */
        if (c->mplex && c->mpx.out) {
            conn_seal(c, c->mpx.out);
            mplex_out_release(&c->mpx);
        } else if (!c->mplex && c->mux.out) {
            conn_seal(c, c->mux.out);
            yamux_out_release(&c->mux);
        }
    } else if (c->phase == PH_MUXER) {
        conn_seal(c, &c->nego->plain_out);
    }
    if (!c->connecting)
        conn_write_out(c);
    if (conn_unsent(c) > h->limits.max_out && !c->closing) {
        LOGW(h->log, "%s %s: output limit exceeded (%zu bytes unsent), closing", CONN_PEER_TEXT(c),
             CONN_ADDR_TEXT(c), conn_unsent(c));
        h->stats.conn_errors[CONN_ERR_OUTPUT_LIMIT]++;
        conn_drop_output(c);
        conn_close(c, "output limit exceeded");
    }
    conn_pace(c);
    conn_account_out(c);
    if (c->closing && (conn_unsent(c) == 0 || c->connecting)) {
        conn_destroy(c);
        return true;
    }
    return false;
}

void conn_destroy(struct conn *c)
{
    struct host *h = c->host;

    c->phase = PH_CLOSED;
    if (c->dirty) { /* re-queued while being flushed: unlink it */
        struct conn **pp = &h->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dnext;
        if (*pp)
            *pp = c->dnext;
        c->dirty = false;
    }
    ev_io_stop(h->loop, &c->io);
    if (c->mux_ready && h->on_conn_closed)
        h->on_conn_closed(h->conn_closed_ctx, c);
    if (c->mux_ready && c->mplex)
        mplex_free(&c->mpx); /* handlers release their streams here */
    else if (c->mux_ready)
        yamux_free(&c->mux);
    conn_account_out(c);   /* PH_CLOSED: counts 0 */
    host_tlist_move(h, c, TLIST_NONE);
    host_ip_release(h, c);
    h->nconns--;
    close(c->io.fd);
    if (c->peer)
        HOST_LOG_CONN(h, LOG_INFO, "closed %s %s: %s", CONN_PEER_TEXT(c), CONN_ADDR_TEXT(c),
                      conn_close_reason(c) ? conn_close_reason(c) : "shutdown");
    else
        HOST_LOG_CONN(h, LOG_DEBUG, "closed %s before the handshake: %s", CONN_ADDR_TEXT(c),
                      conn_close_reason(c) ? conn_close_reason(c) : "shutdown");
    const struct conn_dial *d = conn_dial(c);
    if (d && d->events && d->events->on_closed)
        d->events->on_closed(c, d->user, conn_close_reason(c) ? conn_close_reason(c) : "closed");
    peer_ids_put(h->ids, c->peer);
    sodium_memzero(&c->tx, sizeof(c->tx));
    sodium_memzero(&c->rx, sizeof(c->rx));
    if (c->in) {
        buf_free(c->in);
        free(c->in);
    }
    conn_out_release(c);
    ws_free(conn_ws(c));
    if (c->nego) {
        if (c->nego->hs) {
            noise_hs_wipe(c->nego->hs);
            free(c->nego->hs);
        }
        buf_free(&c->nego->plain_in);
        buf_free(&c->nego->plain_out);
        free(c->nego);
    }
    free(c);
}
