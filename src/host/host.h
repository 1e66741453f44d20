/* A libp2p host on libev: listeners and dialers, connections upgraded with
 * multistream-select → Noise → multistream-select → yamux or mplex, and streams
 * dispatched by protocol id to registered handlers.
 *
 * Ownership: the host owns listeners and connections; a connection owns its
 * fd, buffers, security and muxer state and its streams; a stream owns its
 * handler state (released in the handler's on_close). Nothing is freed inside
 * a callback: closing marks, and the host frees in its ev_prepare hook. */
#ifndef RDV_HOST_HOST_H
#define RDV_HOST_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <ev.h>
#include <uthash.h>

#include "base/buf.h"
#include "base/log.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "crypto/peerids.h"
#include "mss/mss.h"
#include "mplex/mplex.h"
#include "noise/noise.h"
#include "yamux/yamux.h"

#define HOST_MAX_PROTOCOLS 16
#define HOST_MAX_LISTENERS 16
#define HOST_AGENT "rendezvousd/" RDV_VERSION

struct host;
struct conn;
struct stream;
struct ws;
struct ws_config;

/* A stream protocol handler. Inbound: on_open is called once the protocol is
 * selected; if it returns 0, on_close is called exactly once later, when the
 * stream is gone for whatever reason. Outbound (conn_open_stream): the
 * handler owns s->state from the start, on_open is called when the peer
 * agrees, and on_close is called exactly once in every case - with
 * s->opened false if the protocol was never agreed. */
struct protocol {
    const char *id;
    int (*on_open)(struct stream *s);
    void (*on_data)(struct stream *s, const uint8_t *d, size_t n);
    void (*on_eof)(struct stream *s);     /* remote half-closed (optional) */
    /* Room to write appeared again (optional): the peer's window grew, or
     * the connection's output fell under its low-water mark. Called from
     * the muxer's input or from the connection's flush; see stream_writable. */
    void (*on_writable)(struct stream *s);
    void (*on_close)(struct stream *s);   /* release s->state (optional) */
    void *arg;                            /* handler-wide context */
    /* Bytes of state a stream of this protocol keeps (optional): every
     * stream the muxer allocates (yamux) then has that much room in its
     * own block, for stream_state_room, so that a long-lived stream is one
     * allocation. */
    size_t state_size;
};

/* A stream's negotiation state, freed once the protocol is selected: an
 * idle stream does not carry it. */
struct stream_nego {
    struct mss mss;
    struct buf in;                 /* received bytes not yet consumed by mss */
};

/* On yamux, a stream lives in the room of its muxer stream's block (with
 * room for the handler's state after it: the muxer session's room less
 * the stream, stream_state_room); on mplex it is allocated alone. Every
 * subscriber has one, so it is kept small. */
struct stream {
    struct conn *conn;
    union {                        /* the muxer's stream (conn->mplex says which);
                                    * NULL once it is gone */
        struct yamux_stream *ys;
        struct mplex_stream *ms;
    };
    const struct protocol *proto;  /* inbound: NULL while negotiating; outbound: the
                                    * protocol we propose (&proto->id is the dialer's
                                    * one-entry list: no copy here) */
    void *state;                   /* the handler's */
    struct stream_nego *nego;      /* while negotiating, else NULL */
    struct stream *fill_next;      /* conn->fill, while fill_wanted */
    /* Input bytes the handler holds (stream_hold_input): its requests'
     * window and max-message bound them far below 4 GiB; counted as at
     * most UINT32_MAX, in and out alike. */
    uint32_t in_held;
    bool opened : 1;               /* the protocol was agreed and on_open returned 0 */
    bool fill_wanted : 1;          /* on_writable asked for at the next flush */
    bool embedded : 1;             /* in the muxer stream's block: not freed on its own */
    bool outbound : 1;             /* we opened it (conn_open_stream) */
};

enum conn_phase { PH_SECURITY, PH_NOISE, PH_MUXER, PH_READY, PH_CLOSED };

/* What a connection's owner (a dialing client) is told. */
struct conn_events {
    void (*on_ready)(struct conn *c, void *user);
    void (*on_closed)(struct conn *c, void *user, const char *reason);
};

/* A dialed connection's owner: only dialed connections have one, in the
 * same block right after their struct conn (accepted ones do not pay for
 * it). A WebSocket connection's transport pointer comes after that (a TCP
 * one does not pay for it): see conn_ws. */
struct conn_dial {
    const struct conn_events *events;
    void *user;
};

/* Negotiation-only state: allocated by conn_new and freed once the muxer is
 * selected, so an established connection does not carry it, nor the Noise
 * handshake state it holds meanwhile. */
struct conn_nego {
    struct mss mss;
    struct noise_hs *hs;     /* only during the Noise handshake */
    struct buf plain_in;     /* decrypted bytes while negotiating the muxer */
    struct buf plain_out;    /* our muxer negotiation, to seal (before any muxer frame) */
    bool has_expected;
    struct peer_id expected; /* dialer: the /p2p/ id we asked for */
};

/* One per connection, so it holds only what an established connection
 * needs (BENCHMARKS.md accounts for every byte): negotiation state is a
 * side structure freed after the handshake, the peer id's text is built
 * when a log line needs it, one watcher serves reads and writes, and the
 * flags are bits. Field order avoids padding: the byte-aligned members
 * (addr on) are grouped at the end. */
struct conn {
    struct host *host;
    ev_io io;                /* the socket (io.fd); EV_READ while reading, EV_WRITE while writing */
    ev_tstamp last_active;
    struct buf *in;          /* an incomplete frame from the socket; NULL when none */
    struct buf *out;         /* raw bytes for the socket; NULL while none wait */
    struct conn_nego *nego;  /* only until the muxer is selected, then NULL */
    struct noise_cipher tx, rx;
    union {                  /* the muxer the peer chose (mplex says which) */
        struct yamux_session mux;
        struct mplex_session mpx;
    };
    /* Every live connection is on one of the host's timeout lists (tlist
     * says which): they are also how the host finds all of them. */
    struct conn *tprev, *tnext;      /* host timeout list, by last activity */
    struct conn *dnext;              /* host->dirty (singly linked) */
    struct stream *fill;             /* streams to call on_writable for at the flush */
    /* 32 bits: both are bounded by the limits (max_in, max_out <= 1 GiB)
     * plus one message. */
    uint32_t in_held;        /* input its streams' handlers hold, all together */
    uint32_t out_counted;    /* its buffered output as last added to host->mem_out */
    union {                  /* closing says which */
        uint64_t wake_from;  /* open: stream position to start the next on_writable round at */
        const char *close_reason; /* closing: why (may be NULL) */
    };
    /* The peer's id, interned in host->ids (shared with the registry's
     * per-peer entry, see host_share_peer_ids); NULL until the handshake
     * authenticated it. conn_peer reads it. */
    struct peer_ref *peer;
    /* Only IPv4/IPv6 peers: a union is 28 B against 128 for sockaddr_storage.
     * Its text form is built on demand (conn_addr_text), only for logging. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr;
    uint8_t phase;           /* enum conn_phase */
    bool dialer : 1;         /* a struct conn_dial follows it */
    bool has_ws : 1;         /* a struct ws pointer follows (conn_ws) */
    bool closing : 1, dirty : 1, connecting : 1, mux_ready : 1, counted_ip : 1;
    bool reading : 1;        /* io has EV_READ */
    bool writing : 1;        /* io has EV_WRITE */
    bool mplex : 1;          /* the muxer is mplex (mpx), else yamux (mux) */
    bool out_blocked : 1;    /* output reached the high-water mark: handlers wait */
    bool read_paused : 1;    /* socket output over the high-water mark: not reading */
    bool counted_hs : 1;     /* holds a handshake slot (admission.c) */
    uint8_t tlist : 2;       /* which host timeout list holds it */
};

struct host_limits {
    double handshake_timeout;   /* seconds from accept to a ready muxer */
    double idle_timeout;        /* seconds without input before closing */
    size_t max_conns;
    size_t max_conns_per_ip;
    size_t max_streams;         /* per connection */
    size_t max_out;             /* per connection: unsent bytes before we give up on it;
                                 * handlers stop writing at half of it (high-water mark)
                                 * and start again under a quarter (low-water mark) */
    size_t max_in;              /* per connection: input its handlers may hold, all
                                 * streams together (partial or unanswered requests) */
    size_t max_memory;          /* all connections: input held and output buffered
                                 * (mem_in + mem_out + mem_queued); past it new
                                 * connections and new requests are refused. 0 = no limit */
    double handshake_rate;      /* new connections per second from one source address */
    double handshake_burst;     /* ... and how many may come at once */
    size_t max_handshakes;      /* handshakes in progress; past it accepting pauses */
    size_t log_conn_lines;      /* connection log lines per second (0: all) */
};

/* One source address (an IPv4 /32, an IPv6 /64) as admission sees it
 * (admission.c): kept while it has connections, then on an idle list until
 * its token bucket would be full again. */
struct host_source {
    UT_hash_handle hh;
    uint8_t key[17];            /* family byte + address */
    uint32_t conns;             /* open connections */
    uint32_t handshakes;        /* of them, still handshaking */
    double tokens;              /* new connections it may start now ... */
    ev_tstamp stamp;            /* ... as of this time */
    struct host_source *prev, *next; /* host->idle_sources while conns == 0 */
};

/* Why a connection was refused at accept (host_stats.refused). */
enum host_refusal {
    REFUSE_MAX_CONNS,           /* max-connections */
    REFUSE_PER_IP,              /* max-connections-per-ip */
    REFUSE_HANDSHAKE_RATE,      /* the source's token bucket is empty */
    REFUSE_HANDSHAKE_SHARE,     /* the source holds half the handshake slots */
    REFUSE_DRAINING,
    REFUSE_DESCRIPTORS,         /* out of file descriptors */
    REFUSE_MEMORY,              /* max-memory is reached */
    REFUSE_REASONS
};

struct listener {
    struct host *host;
    int fd;
    ev_io io;
    bool ws, tls;               /* /ws or /tls/ws (/wss) */
    uint8_t ma[64];             /* bound multiaddr (binary), real port */
    size_t ma_len;
};

/* Why a handshake failed (host_stats.handshake_failures, for metrics). */
enum host_hs_failure { HS_FAIL_TIMEOUT, HS_FAIL_SECURITY, HS_FAIL_NOISE, HS_FAIL_MUXER, HS_FAIL_REASONS };

/* Why an established connection was closed for cause (host_stats.conn_errors). */
enum host_conn_error {
    CONN_ERR_OUTPUT_LIMIT, CONN_ERR_YAMUX, CONN_ERR_DECRYPT, CONN_ERR_MPLEX, CONN_ERR_REASONS
};

struct host_stats {
    uint64_t bytes_in, bytes_out;                  /* first: every read and write counts */
    uint64_t socket_writes;                        /* send() calls that wrote bytes */
    uint64_t conns_accepted, handshakes_failed, handshakes_ok;
    uint64_t refused[REFUSE_REASONS];              /* connections refused at accept, by reason */
    uint64_t accept_pauses;                        /* times max-handshakes paused the listeners */
    uint64_t accept_backoffs;                      /* times a flood of refusals paused them */
    uint64_t conns_accepted_ws;                    /* of conns_accepted, on /ws listeners */
    uint64_t handshake_failures[HS_FAIL_REASONS];  /* handshakes_failed by reason */
    uint64_t conn_errors[CONN_ERR_REASONS];
    uint64_t streams_over_input;                   /* reset for passing limits.max_in */
    uint64_t conns_refused_memory;                 /* = refused[REFUSE_MEMORY] */
    uint64_t requests_refused_memory;              /* host_admit_request said no */
    uint64_t read_pauses;                          /* connections that stopped being read */
};

/* Socket bytes all connections together read in one pass of the loop
 * (beyond it, HOST_READ_MIN each, so that nobody starves whatever the order
 * they are served in): a burst is spread over several passes instead of
 * making one long, which would delay everybody's answers. One connection
 * alone reads as much per pass as it may per readiness event. */
#define HOST_READ_BUDGET (512u << 10)
#define HOST_READ_MIN (16u << 10)
/* The read buffer of a host (allocated at its first read), and what a lean
 * host reads into instead (on the stack, see host_set_lean). */
#define HOST_RBUF (128u << 10)
#define HOST_LEAN_RBUF (16u << 10)

struct host {
    struct ev_loop *loop;
    struct log *log;
    /* What every read and flush touches, together at the front: with
     * thousands of lean hosts on one loop each is cold when its turn comes. */
    bool lean;                  /* see host_set_lean */
    uint8_t *rbuf;              /* every read lands here first (HOST_RBUF bytes, from
                                 * the first read on; none in a lean host) */
    size_t read_budget;         /* socket bytes left to read in this loop pass */
    size_t mem_in, mem_out;     /* bytes buffered: input held by handlers, output of
                                 * every connection (as of its last write or flush) */
    /* The timeout lists, which hold every live connection: */
    struct conn *established;   /* ready, least recently active first */
    struct conn *dirty;         /* have output to flush this iteration */
    ev_prepare flush;
    bool poll_before_flush;     /* host_poll_before_flush asked, not yet done */
    bool polled_for_flush;      /* ... done: the coming flush does not wait again */
    ev_idle flush_poll;         /* active: the poll before that flush does not block */
    struct host_stats stats;
    struct privkey key;
    struct pubkey pub;
    struct peer_id id;
    char id_text[PEERID_TEXT_MAX];
    /* Where its connections' peer ids are interned: own_ids, or a table
     * shared with the registry (host_share_peer_ids). */
    struct peer_ids *ids;
    struct peer_ids own_ids;
    struct noise_identity noise;
    struct noise_bulk *bulk;    /* seals big messages (noise_bulk_new); NULL: libsodium */
    struct host_limits limits;
    const struct protocol *protocols[HOST_MAX_PROTOCOLS];
    const char *protocol_ids[HOST_MAX_PROTOCOLS];
    size_t nprotocols;
    size_t stream_room;         /* struct stream + the largest protocol state_size */
    struct listener listeners[HOST_MAX_LISTENERS];
    size_t nlisteners;
    uint8_t announce[HOST_MAX_LISTENERS][64];  /* binary multiaddrs we advertise */
    size_t announce_len[HOST_MAX_LISTENERS];
    size_t nannounce;
    struct buf record;          /* our signed peer record (envelope) */
    size_t nconns;              /* live connections */
    struct conn *pending;       /* handshaking or closing, oldest first */
    struct conn *expired;       /* closing past their deadline, output dropped: freed
                                 * at the next flush */
    struct host_source *sources;      /* admission: by source address */
    struct host_source *idle_sources; /* those without connections, least recently seen first */
    size_t nidle_sources;
    double spare_tokens;        /* bucket shared by new sources while the table is full */
    ev_tstamp spare_stamp;
    size_t nhandshakes;         /* accepted connections still handshaking */
    bool accept_paused;         /* listeners stopped (see host_listeners_update) */
    bool backing_off;           /* ... for accept_backoff after a flood of refusals */
    uint8_t backoff_level;      /* doublings of the next rest (admission.c) */
    ev_timer accept_backoff;
    struct ws_config *ws;       /* WebSocket and TLS settings; NULL until used */
    ev_timer timeouts;
    uint8_t ip_hash_key[16];    /* SipHash key for the source table */
    int spare_fd;               /* closed and reopened to shed load on EMFILE */
    bool draining;
    uint8_t dial_muxers;        /* HOST_MUX_* we offer when dialing; 0: both */
    bool reuse_port;            /* listeners share their port with other processes (--workers) */
    ev_timer drain_timer;
    size_t mem_queued;          /* output handlers hold for streams that could not take
                                 * it yet (push backlogs), each buffer counted once */
    struct log_limit conn_lines; /* open/close/refused lines: rate-limited */
    struct buf scratch;         /* negotiation output, used and emptied at once */
    /* Told when an established connection goes (optional; the relay drops
     * the reservations it carried). Called before its streams close. */
    void (*on_conn_closed)(void *ctx, struct conn *c);
    void *conn_closed_ctx;
};

void host_limits_default(struct host_limits *l);
/* Sets up a host with identity key k (copied). */
void host_init(struct host *h, struct ev_loop *loop, struct log *log, const struct privkey *k,
               const struct host_limits *limits);
/* Closes every connection and listener and frees everything. */
void host_free(struct host *h);
/* Makes h a lean host, for a client among thousands in one process (one
 * host per connection, as librendezvous has): no read buffer of its own
 * (reads go through HOST_LEAN_RBUF bytes on the stack), no spare
 * descriptor, no OpenSSL sealing context (libsodium seals), and its flush
 * hook on the loop only while it has output.
 * Call it right after host_init; a lean host does not listen. */
void host_set_lean(struct host *h);
/* The coming flush waits for one more poll of the loop, which does not
 * block: input that arrived meanwhile is handled first and its output joins
 * the same writes. For output that goes to many connections at once (the
 * push fan-out): each write has a fixed cost at both ends, a Noise message
 * and a system call, so deliveries that follow each other closely are
 * cheaper sent together. At most one such poll per flush, so under steady
 * input output waits at most one more loop pass (reads within the pass's
 * budget, HOST_READ_BUDGET). Lean hosts ignore it. */
void host_poll_before_flush(struct host *h);
/* Registers a stream protocol (p must outlive the host). */
void host_handle(struct host *h, const struct protocol *p);
/* Binds a listener for /ip4|ip6/A/tcp/P, optionally followed by /ws, /tls/ws
 * or /wss (TLS needs host_set_tls first). -1 with err. */
int host_listen(struct host *h, const char *ma, char *err, size_t errlen);
/* For a group of processes that share listen address ma (--workers): binds
 * a socket with SO_REUSEPORT there without listening on it, which holds the
 * port (for as long as *fd stays open) without taking any of its connections.
 * *port is the bound port (the one chosen if ma says port 0); the processes
 * then listen on it with h->reuse_port set. -1 with err. */
int host_reserve_port(const char *ma, int *fd, uint16_t *port, char *err, size_t errlen);
/* Certificate chain and key (PEM files) for /tls/ws listeners. -1 with err. */
int host_set_tls(struct host *h, const char *cert_file, const char *key_file, char *err,
                 size_t errlen);
/* Restricts WebSocket upgrades that carry an Origin header to these origins
 * (repeatable; by default any origin is accepted). -1 with err. */
int host_ws_allow_origin(struct host *h, const char *origin, char *err, size_t errlen);
/* Dialing /tls/ws: verify the server's certificate against the system CAs
 * (SSL_CERT_FILE / SSL_CERT_DIR override them) - the default - or not. */
void host_set_tls_verify(struct host *h, bool verify);
/* Muxers host_dial offers, in this order: yamux, then mplex (the default,
 * both), or only one of them. Listeners always accept both. */
enum { HOST_MUX_YAMUX = 1, HOST_MUX_MPLEX = 2 };
void host_dial_muxers(struct host *h, unsigned muxers);
/* Adds an address to advertise instead of the listen addresses. */
int host_announce(struct host *h, const char *ma, char *err, size_t errlen);
/* Addresses to tell peers (announce ones if any, else the bound listeners). */
size_t host_addrs(const struct host *h, const uint8_t **addrs, size_t *lens, size_t cap);
/* Signs our peer record over host_addrs(); call after the listeners are up. */
void host_seal_record(struct host *h);
/* Starts a connection to a multiaddr (text, may carry /p2p/ID; /ws, /tls/ws
 * and /wss dial WebSocket). On success
 * the connection is returned and ev->on_ready fires once it is usable. */
struct conn *host_dial(struct host *h, const char *ma, const struct conn_events *ev, void *user,
                       char *err, size_t errlen);
/* Graceful stop: stop accepting, Go Away on every connection, flush, close;
 * the loop ends when all are gone or after `grace` seconds. */
void host_drain(struct host *h, double grace);

/* True while the buffers the host counts (mem_in + mem_out + mem_queued)
 * are past limits.max_memory. */
static inline bool host_memory_full(const struct host *h)
{
    return h->limits.max_memory &&
           h->mem_in + h->mem_out + h->mem_queued >= h->limits.max_memory;
}
/* For a handler about to take on a new request (one that may hold memory:
 * a registration, an answer): false while the memory budget is spent, the
 * refusal counted; the handler answers E_UNAVAILABLE. */
bool host_admit_request(struct host *h);

/* The source address key of admission: family byte, then an IPv4 address
 * or the /64 of an IPv6 one (zero-padded). */
void host_source_key(const struct sockaddr *sa, uint8_t key[17]);

/* The host's connection lists, which hold every live connection between
 * them (struct conn's tprev/tnext): for walks over all (metrics). */
#define HOST_CONN_LISTS 3
static inline struct conn *host_conn_list(const struct host *h, unsigned i)
{
    return i == 0 ? h->pending : i == 1 ? h->established : i == 2 ? h->expired : NULL;
}

/* WebSocket (and TLS) under the stream; NULL for TCP. */
static inline struct ws *conn_ws(const struct conn *c)
{
    if (!c->has_ws)
        return NULL;
    const char *tail = (const char *)(c + 1) + (c->dialer ? sizeof(struct conn_dial) : 0);
    struct ws *ws;
    memcpy(&ws, tail, sizeof ws);
    return ws;
}
/* Why it is closing (NULL: open, or no reason given). */
static inline const char *conn_close_reason(const struct conn *c)
{
    return c->closing ? c->close_reason : NULL;
}

/* Its connections' peer ids go into t (a registry's table, so that a peer's
 * connections and its registry entry share one copy) instead of the host's
 * own. Call it before the host has connections; t must outlive them. */
void host_share_peer_ids(struct host *h, struct peer_ids *t);
/* The connection's authenticated peer id (len 0 before the handshake
 * authenticated it): valid as long as the connection. */
static inline const struct peer_id *conn_peer(const struct conn *c)
{
    return c->peer ? &c->peer->id : &peerid_none;
}

/* Closes a connection (after flushing what is queued). */
void conn_close(struct conn *c, const char *reason);
/* The peer's address as a multiaddr text, in buf (for logs); returns buf. */
const char *conn_addr_text(const struct conn *c, char *buf, size_t cap);
/* The same in a temporary buffer that lives until the end of the enclosing
 * block: for log arguments, formatted only if the message is emitted. */
#define CONN_ADDR_TEXT(c) conn_addr_text((c), (char[64]){0}, 64)
/* The peer's id as text ("?" before the handshake authenticated it), in buf;
 * returns buf. CONN_PEER_TEXT: the same in a temporary buffer, as above. */
const char *conn_peer_text(const struct conn *c, char *buf, size_t cap);
#define CONN_PEER_TEXT(c) conn_peer_text((c), (char[PEERID_TEXT_MAX]){0}, PEERID_TEXT_MAX)
/* Opens an outbound stream that proposes p; NULL if the muxer refuses. */
struct stream *conn_open_stream(struct conn *c, const struct protocol *p, void *state);

/* Queues bytes on s. Handlers size what they write with stream_writable: a
 * write that would take the connection's buffered output past max_out (or
 * one stream's unsent data past 1 MiB) resets s instead - the peer does not
 * read. */
void stream_write(struct stream *s, const void *d, size_t n);
/* stream_write of the concatenation of n parts, without copying them
 * together first. */
void stream_writev(struct stream *s, const struct iovec *v, size_t n);
/* stream_writev, sealed into the connection's output at once (after what
 * was queued before it) instead of copied into the muxer's frames first:
 * the parts are read once, by the cipher, so they need not outlive the
 * call. Each call is its own Noise message(s): meant for one gathered
 * write per stream and flush (from on_writable). Where that is not
 * possible - mplex, more than STREAM_WRITEV_PARTS parts, more than the
 * peer's window, data already waiting for it - it is stream_writev. */
#define STREAM_WRITEV_PARTS 64
void stream_writev_now(struct stream *s, const struct iovec *v, size_t n);
/* Asks for on_writable from the connection's next flush (this loop
 * iteration), before its output is sealed: a handler that queues output
 * as it is produced writes it all then, in one go. */
void stream_want_writable(struct stream *s);
/* Bytes a handler may write on s now: 0 when s cannot be written (reset,
 * closed by us, gone), when the peer's window is exhausted, or while the
 * connection's buffered output (muxer, plaintext, sealed, transport) is over
 * its high-water mark and not yet back under the low-water mark. Past 0,
 * wait for on_writable. The peer's window never lets more than the
 * connection's own budget through. */
size_t stream_writable(const struct stream *s);
/* The handler holds `bytes` of s's input (a partial request, requests not
 * answered yet), of which `withheld` are whole requests it waits to answer:
 * those are not granted back to the peer, so its window closes until the
 * handler lowers them again. The bytes count against the connection's
 * max_in: a stream that takes it past is reset. */
void stream_hold_input(struct stream *s, size_t bytes, size_t withheld);
void stream_close(struct stream *s);
void stream_reset(struct stream *s);
/* Zeroed room for n bytes of handler state in s's own block (freed with s,
 * after on_close), or NULL if it has none that large: the handler then
 * allocates its state itself. See protocol.state_size. */
void *stream_state_room(struct stream *s, size_t n);
static inline struct conn *stream_conn(const struct stream *s) { return s->conn; }

#endif
