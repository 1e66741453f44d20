/* A libp2p host on libev: listeners and dialers, connections upgraded with
 * multistream-select → Noise → multistream-select → yamux, and streams
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
#include <netinet/in.h>
#include <sys/socket.h>

#include <ev.h>
#include <uthash.h>

#include "base/buf.h"
#include "base/log.h"
#include "crypto/key.h"
#include "crypto/peerid.h"
#include "mss/mss.h"
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
    void (*on_writable)(struct stream *s); /* send window open again (optional) */
    void (*on_close)(struct stream *s);   /* release s->state (optional) */
    void *arg;                            /* handler-wide context */
};

/* A stream's negotiation state, freed once the protocol is selected: an
 * idle stream does not carry it. */
struct stream_nego {
    struct mss mss;
    struct buf in;                 /* received bytes not yet consumed by mss */
};

struct stream {
    struct conn *conn;
    struct yamux_stream *ys;
    const struct protocol *proto;  /* NULL while negotiating */
    void *state;                   /* the handler's */
    struct stream_nego *nego;      /* while negotiating, else NULL */
    const struct protocol *want;   /* outbound: the protocol we propose (&want->id is
                                    * the dialer's one-entry list: no copy here) */
    bool opened;                   /* the protocol was agreed and on_open returned 0 */
};

enum conn_phase { PH_SECURITY, PH_NOISE, PH_MUXER, PH_READY, PH_CLOSED };

/* What a connection's owner (a dialing client) is told. */
struct conn_events {
    void (*on_ready)(struct conn *c, void *user);
    void (*on_closed)(struct conn *c, void *user, const char *reason);
};

/* Negotiation-only state: allocated by conn_new and freed once the muxer is
 * selected, so an established connection does not carry it. */
struct conn_nego {
    struct mss mss;
    struct buf plain_in;     /* decrypted bytes while negotiating the muxer */
    bool has_expected;
    struct peer_id expected; /* dialer: the /p2p/ id we asked for */
};

/* One per connection, so field order avoids padding: the byte-aligned
 * members (addr on) are grouped at the end. */
struct conn {
    struct host *host;
    int fd;
    enum conn_phase phase;
    ev_io rio, wio;
    ev_tstamp last_active;
    struct buf in;           /* raw bytes from the socket */
    struct buf out;          /* raw bytes for the socket */
    struct buf plain_out;    /* plaintext to seal, besides the muxer's own output */
    struct conn_nego *nego;  /* only until the muxer is selected, then NULL */
    struct noise_hs *hs;     /* only during the handshake */
    struct noise_cipher tx, rx;
    struct yamux_session mux;
    struct ws *ws;           /* WebSocket (and TLS) under the stream; NULL for TCP */
    const char *close_reason;
    const struct conn_events *events;
    void *user;
    struct conn *prev, *next;        /* host->conns */
    struct conn *tprev, *tnext;      /* host timeout list, by last activity */
    struct conn *dnext;              /* host->dirty (singly linked) */
    /* Only IPv4/IPv6 peers: a union is 28 B against 128 for sockaddr_storage.
     * Its text form is built on demand (conn_addr_text), only for logging. */
    union {
        struct sockaddr sa;
        struct sockaddr_in in;
        struct sockaddr_in6 in6;
    } addr;
    struct peer_id remote;
    char remote_text[PEERID_TEXT_MAX];
    bool dialer;
    bool closing, dirty, writing, connecting, mux_ready, counted_ip;
    uint8_t tlist;           /* which host timeout list holds it */
};

struct host_limits {
    double handshake_timeout;   /* seconds from accept to a ready muxer */
    double idle_timeout;        /* seconds without input before closing */
    size_t max_conns;
    size_t max_conns_per_ip;
    size_t max_streams;         /* per connection */
    size_t max_out;             /* per connection: unsent bytes before we give up on it */
};

struct ip_count {
    UT_hash_handle hh;
    uint8_t key[17];            /* family byte + address */
    size_t n;
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
enum host_conn_error { CONN_ERR_OUTPUT_LIMIT, CONN_ERR_YAMUX, CONN_ERR_DECRYPT, CONN_ERR_REASONS };

struct host_stats {
    uint64_t conns_accepted, conns_refused, handshakes_failed, handshakes_ok;
    uint64_t bytes_in, bytes_out;
    uint64_t conns_accepted_ws;                    /* of conns_accepted, on /ws listeners */
    uint64_t handshake_failures[HS_FAIL_REASONS];  /* handshakes_failed by reason */
    uint64_t conn_errors[CONN_ERR_REASONS];
};

struct host {
    struct ev_loop *loop;
    struct log *log;
    struct privkey key;
    struct pubkey pub;
    struct peer_id id;
    char id_text[PEERID_TEXT_MAX];
    struct noise_identity noise;
    struct host_limits limits;
    const struct protocol *protocols[HOST_MAX_PROTOCOLS];
    const char *protocol_ids[HOST_MAX_PROTOCOLS];
    size_t nprotocols;
    struct listener listeners[HOST_MAX_LISTENERS];
    size_t nlisteners;
    uint8_t announce[HOST_MAX_LISTENERS][64];  /* binary multiaddrs we advertise */
    size_t announce_len[HOST_MAX_LISTENERS];
    size_t nannounce;
    struct buf record;          /* our signed peer record (envelope) */
    struct conn *conns;         /* all live connections */
    size_t nconns;
    struct conn *pending;       /* handshaking, oldest first */
    struct conn *established;   /* ready, least recently active first */
    struct conn *dirty;         /* have output to flush this iteration */
    struct ip_count *per_ip;
    struct ws_config *ws;       /* WebSocket and TLS settings; NULL until used */
    ev_prepare flush;
    ev_timer timeouts;
    uint8_t ip_hash_key[16];    /* SipHash key for the per-IP table */
    int spare_fd;               /* closed and reopened to shed load on EMFILE */
    bool draining;
    ev_timer drain_timer;
    struct host_stats stats;
    struct buf scratch;         /* negotiation output, used and emptied at once */
    uint8_t rbuf[131072];       /* every read lands here first */
};

void host_limits_default(struct host_limits *l);
/* Sets up a host with identity key k (copied). */
void host_init(struct host *h, struct ev_loop *loop, struct log *log, const struct privkey *k,
               const struct host_limits *limits);
/* Closes every connection and listener and frees everything. */
void host_free(struct host *h);
/* Registers a stream protocol (p must outlive the host). */
void host_handle(struct host *h, const struct protocol *p);
/* Binds a listener for /ip4|ip6/A/tcp/P, optionally followed by /ws, /tls/ws
 * or /wss (TLS needs host_set_tls first). -1 with err. */
int host_listen(struct host *h, const char *ma, char *err, size_t errlen);
/* Certificate chain and key (PEM files) for /tls/ws listeners. -1 with err. */
int host_set_tls(struct host *h, const char *cert_file, const char *key_file, char *err,
                 size_t errlen);
/* Restricts WebSocket upgrades that carry an Origin header to these origins
 * (repeatable; by default any origin is accepted). -1 with err. */
int host_ws_allow_origin(struct host *h, const char *origin, char *err, size_t errlen);
/* Dialing /tls/ws: verify the server's certificate against the system CAs
 * (SSL_CERT_FILE / SSL_CERT_DIR override them) - the default - or not. */
void host_set_tls_verify(struct host *h, bool verify);
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

/* Closes a connection (after flushing what is queued). */
void conn_close(struct conn *c, const char *reason);
/* The peer's address as a multiaddr text, in buf (for logs); returns buf. */
const char *conn_addr_text(const struct conn *c, char *buf, size_t cap);
/* The same in a temporary buffer that lives until the end of the enclosing
 * block: for log arguments, formatted only if the message is emitted. */
#define CONN_ADDR_TEXT(c) conn_addr_text((c), (char[64]){0}, 64)
/* Opens an outbound stream that proposes p; NULL if the muxer refuses. */
struct stream *conn_open_stream(struct conn *c, const struct protocol *p, void *state);

void stream_write(struct stream *s, const void *d, size_t n);
void stream_close(struct stream *s);
void stream_reset(struct stream *s);
static inline struct conn *stream_conn(const struct stream *s) { return s->conn; }

#endif
