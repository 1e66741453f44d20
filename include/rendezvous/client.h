/* librendezvous: a client of a libp2p rendezvous point (rendezvousd or any
 * server of the same protocols), on the caller's libev loop.
 *
 * One rdv_client is one identity and one connection to one server. It dials
 * at rdv_client_new and, unless told not to, dials again after a lost
 * connection with exponential backoff; what it holds in push mode (its
 * registrations and subscriptions) is re-done on every new connection, and a
 * subscriber is told only what changed meanwhile.
 *
 * Threading: a client belongs to the thread running its loop; no function
 * may be called from another thread. Callbacks run from the loop. None of
 * the client's callbacks may call rdv_client_free on their own client
 * (stop the loop, or free from a watcher of your own).
 *
 * Strings handed to callbacks (ns, peer ids, addresses, status texts) live
 * until the callback returns: copy what you keep.
 *
 * Link: `pkg-config --cflags --libs rendezvous` (libev comes with it). */
#ifndef RENDEZVOUS_CLIENT_H
#define RENDEZVOUS_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) && defined(RDV_CLIENT_BUILDING)
#define RDV_CLIENT_API __attribute__((visibility("default")))
#else
#define RDV_CLIENT_API
#endif

struct ev_loop;

/* The library's version, "MAJOR.MINOR.PATCH"; the soname follows MAJOR. */
#define RDV_CLIENT_VERSION_MAJOR 0
#define RDV_CLIENT_VERSION_MINOR 1

typedef struct rdv_client rdv_client;

/* Return codes: 0 is success, every error is negative. */
typedef enum rdv_client_error {
    RDV_CLIENT_OK = 0,
    RDV_CLIENT_ERR_INVALID = -1,       /* a bad argument: NULL, empty or overlong namespace, ... */
    RDV_CLIENT_ERR_ADDR = -2,          /* a text that is not a multiaddr */
    RDV_CLIENT_ERR_KEY = -3,           /* the key file cannot be read, parsed or created */
    RDV_CLIENT_ERR_DIAL = -4,          /* the server address cannot be dialed */
    RDV_CLIENT_ERR_NOT_CONNECTED = -5, /* the connection was lost (or never made) before an answer */
    RDV_CLIENT_ERR_REFUSED = -6,       /* the server refused: see the status and its text */
    RDV_CLIENT_ERR_PROTOCOL = -7,      /* the server does not speak the protocol, or sent garbage */
    RDV_CLIENT_ERR_EXISTS = -8,        /* already subscribed there; the key file exists */
    RDV_CLIENT_ERR_NOT_FOUND = -9,     /* not registered / not subscribed there */
    RDV_CLIENT_ERR_TOO_MANY = -10,     /* over a limit of this library (addresses, metadata) */
    RDV_CLIENT_ERR_CLOSED = -11,       /* the client is being freed */
    RDV_CLIENT_ERR_LIMIT = -12,        /* the server announced more members than max_members */
} rdv_client_error;

/* A fixed English text for an rdv_client_error (never NULL). */
RDV_CLIENT_API const char *rdv_client_strerror(int code);

/* Most addresses per registration, most bytes of presence metadata. */
#define RDV_CLIENT_MAX_ADDRS 16
#define RDV_CLIENT_MAX_METADATA 4096
/* Members a subscription holds by default (rdv_client_options.max_members). */
#define RDV_CLIENT_DEFAULT_MAX_MEMBERS 100000

typedef struct rdv_client_options {
    /* The server: a multiaddr ending in /p2p/<id>, over /tcp, /tcp/../ws,
     * /tcp/../tls/ws or /wss. Required. */
    const char *server;
    /* The identity: a key file (a libp2p PrivateKey protobuf or a js-libp2p
     * PeerId JSON file), created 0600 with a new Ed25519 key if missing.
     * NULL: a fresh identity for this client only (or key below). */
    const char *key_file;
    /* Backoff between dial attempts after a lost or failed connection:
     * doubles from min up to max (with jitter). reconnect_max_s = 0: never
     * dial again (the client stays disconnected; free it). reconnect_min_s
     * = 0 with a positive max: 0.5 s. */
    double reconnect_min_s, reconnect_max_s;
    /* Called when the connection is up (connected = 1, reason NULL) and
     * when it is lost or a dial fails (connected = 0, reason says why).
     * Optional. */
    void (*on_state)(rdv_client *c, int connected, const char *reason, void *arg);
    void *arg;
    /* A push-mode request was refused (a REGISTER over a limit, a namespace
     * the server does not allow): request is "register", "unregister" or
     * "subscribe", status the server's status code. A refused subscription
     * is dropped. Optional. */
    void (*on_refused)(rdv_client *c, const char *request, int status, const char *text,
                       void *arg);
    /* Seconds between keepalive pings on an idle connection (servers close
     * idle ones); 0: 15 s; negative: none. */
    double keepalive_s;
    /* Seconds a dial may take to reach a usable connection; 0: 10 s. */
    double connect_timeout_s;
    /* Protocol id overrides (NULL: /rendezvous/legacy/1.0.0,
     * /rendezvous/1.0.0, /vac/waku/rendezvous/0.0.1). */
    const char *push_protocol, *standard_protocol, *waku_protocol;
    /* Connection events are logged to this stream (NULL: silent); verbose
     * = 1 adds debug lines. */
    FILE *log_file;
    int verbose;
    /* Most members one subscription keeps (the client remembers every
     * member it reported, so that a reconnect reports only the
     * difference); a server announcing more ends the subscription with
     * RDV_ENDED (error RDV_CLIENT_ERR_LIMIT), so a hostile or overloaded
     * server cannot grow the client's memory without bound. 0:
     * RDV_CLIENT_DEFAULT_MAX_MEMBERS. */
    size_t max_members;
    /* The identity in memory instead of key_file (which it overrides): a
     * libp2p PrivateKey protobuf of key_len bytes, as rdv_client_key_new
     * makes and a key file holds; copied. Several clients may share one
     * (servers may hold a peer's registrations per peer id); each signs
     * its own standard peer records, so clients sharing an identity should
     * register the same addresses there. */
    const uint8_t *key;
    size_t key_len;
    /* 1: standard and Waku REGISTER and DISCOVER requests share one stream
     * per dialect, sent at once and answered in order (pipelined), instead
     * of a stream each (the default, which any server accepts; rendezvousd
     * answers many requests per stream). UNREGISTER keeps a stream of its
     * own (its end is its answer). */
    int reuse_streams;
} rdv_client_options;

/* What a subscriber is told. RDV_ENDED: the client ended the subscription
 * (error says why: RDV_CLIENT_ERR_LIMIT); it is the callback's last call,
 * with no peer (peer_id NULL). Members it reported before are not taken
 * back one by one. Subscribe again to start over. */
typedef enum { RDV_JOIN = 1, RDV_LEAVE = 2, RDV_ENDED = 3 } rdv_event_kind;

typedef struct rdv_event {
    rdv_event_kind kind;
    const char *ns;
    const char *peer_id;          /* base58 text */
    const char *const *addrs;     /* multiaddr text; none for RDV_LEAVE */
    size_t naddrs;
    /* Presence metadata the member registered with (servers that support
     * it); NULL with 0 when there is none, and for RDV_LEAVE. */
    const uint8_t *metadata;
    size_t metadata_len;
    int error;                    /* RDV_ENDED: an rdv_client_error; else 0 */
} rdv_event;

/* A JOIN for a member already reported means its addresses or metadata
 * changed (it registered again). */
typedef void (*rdv_event_cb)(rdv_client *c, const rdv_event *ev, void *arg);

/* Creates a client on loop and starts dialing opt->server. NULL on error,
 * with a reason in err (errlen bytes, may be 0). The options are copied. */
RDV_CLIENT_API rdv_client *rdv_client_new(struct ev_loop *loop, const rdv_client_options *opt,
                                          char *err, size_t errlen);
/* Closes the connection, stops every watcher and frees the client.
 * Completion callbacks still waiting are called with RDV_CLIENT_ERR_CLOSED first.
 * NULL is a no-op. */
RDV_CLIENT_API void rdv_client_free(rdv_client *c);
/* Dials the server again after rdv_client_close, or after a lost
 * connection the client gave up on (reconnect_max_s = 0): registrations and
 * subscriptions are sent again as on any new connection, and on_state tells
 * how it went; reconnecting is again as the options said. May be called
 * from on_state. RDV_CLIENT_ERR_EXISTS while connected or dialing. */
RDV_CLIENT_API int rdv_client_connect(rdv_client *c);
/* Ends the connection cleanly: the push sessions are half-closed (the
 * server drops this client's registrations and subscriptions at once) and
 * the connection closes once what is queued is sent; on_state then says
 * so (connected = 0). No reconnect follows. Requests still waiting complete
 * with RDV_CLIENT_ERR_NOT_CONNECTED. RDV_CLIENT_ERR_NOT_CONNECTED if there
 * is no connection. Free the client afterwards (after on_state, or after a
 * moment of the loop running). */
RDV_CLIENT_API int rdv_client_close(rdv_client *c);
/* The client's own peer id (base58 text), valid while the client lives. */
RDV_CLIENT_API const char *rdv_client_peer_id(const rdv_client *c);
/* 1 while connected, else 0. */
RDV_CLIENT_API int rdv_client_connected(const rdv_client *c);
/* 1 if the client dials again after a lost connection: reconnecting is on
 * and was not given up (rdv_client_close, or a server that does not speak
 * push mode). In on_state(connected = 0) it says whether a dial follows. */
RDV_CLIENT_API int rdv_client_reconnects(const rdv_client *c);
/* The server's peer id as its handshake proved it, while connected; else
 * NULL. */
RDV_CLIENT_API const char *rdv_client_server_id(const rdv_client *c);

/* ---- push mode (/rendezvous/legacy/1.0.0) -------------------------------
 * State kept by the client while it lives and re-sent on every connection.
 * The calls return at once (also while disconnected); the server does not
 * acknowledge push requests, refusals go to on_refused, and
 * rdv_client_sync says when everything sent so far was handled. */

/* Registers this peer in ns with the given multiaddrs (text; may be none),
 * until rdv_client_unregister or the end of the client. Registering again
 * in ns replaces the addresses (and tells subscribers). */
RDV_CLIENT_API int rdv_client_register(rdv_client *c, const char *ns, const char *const *addrs,
                                       size_t naddrs);
/* rdv_client_register with presence metadata (opaque bytes subscribers
 * receive with the JOIN; at most RDV_CLIENT_MAX_METADATA, and at most what
 * the server allows). A new call with other metadata is an update. */
RDV_CLIENT_API int rdv_client_register_meta(rdv_client *c, const char *ns,
                                            const char *const *addrs, size_t naddrs,
                                            const void *metadata, size_t metadata_len);
/* Ends the registration in ns; RDV_CLIENT_ERR_NOT_FOUND if there is none. */
RDV_CLIENT_API int rdv_client_unregister(rdv_client *c, const char *ns);
/* Subscribes to ns: cb gets a JOIN for every member (other than this peer)
 * present now or arriving, a LEAVE for each that goes. After a reconnect
 * cb gets only the difference between what it was told and the new member
 * list. RDV_CLIENT_ERR_EXISTS if already subscribed. */
RDV_CLIENT_API int rdv_client_subscribe(rdv_client *c, const char *ns, rdv_event_cb cb, void *arg);
/* ---- raw subscriptions ----------------------------------------------------
 * For programs that count or forward announcements by the thousand (load
 * generators, bridges): the server's bytes, as it sent them, with no text
 * conversion and no member list kept. */

/* Bytes of a server's message: valid until the callback returns; not
 * NUL-terminated and not checked (the server's word: treat as untrusted). */
typedef struct rdv_bytes {
    const uint8_t *data;
    size_t len;
} rdv_bytes;

/* Entries beyond this many addresses are passed with the first ones only. */
#define RDV_CLIENT_RAW_MAX_ADDRS 64

typedef struct rdv_raw_event {
    rdv_event_kind kind;          /* RDV_JOIN (registered, or present at subscription) or RDV_LEAVE */
    const char *ns;               /* the subscription's namespace */
    rdv_bytes peer_id;            /* base58 text as sent (len 0: none) */
    const rdv_bytes *addrs;       /* binary multiaddrs as sent */
    size_t naddrs;
    rdv_bytes metadata;           /* presence metadata (len 0: none) */
} rdv_raw_event;

typedef void (*rdv_raw_cb)(rdv_client *c, const rdv_raw_event *ev, void *arg);

/* Subscribes to ns like rdv_client_subscribe, but cb gets every entry of
 * every announcement in ns as it comes (this peer's own too), one call per
 * entry. Nothing is remembered: on every (re)subscription cb gets the
 * server's snapshot again as JOINs, members gone while disconnected are not
 * reported, and max_members does not apply. rdv_client_sync after it says
 * when the snapshot has been delivered. RDV_CLIENT_ERR_EXISTS if already
 * subscribed to ns (either way); rdv_client_unsubscribe ends it. */
RDV_CLIENT_API int rdv_client_subscribe_raw(rdv_client *c, const char *ns, rdv_raw_cb cb,
                                            void *arg);

/* Ends the subscription (no more calls to its callback, none from here on);
 * RDV_CLIENT_ERR_NOT_FOUND if there is none. The server keeps sending until the
 * connection ends; the client drops it. */
RDV_CLIENT_API int rdv_client_unsubscribe(rdv_client *c, const char *ns);

/* The outcome of a request with a completion callback. */
typedef struct rdv_registration {
    const char *ns;
    const char *peer_id;        /* base58 text; "" if the record did not verify */
    const char *const *addrs;   /* multiaddr text */
    size_t naddrs;
    uint64_t ttl;               /* seconds left (standard and Waku; 0 in push mode) */
    const uint8_t *metadata;    /* push mode, if the server sends it */
    size_t metadata_len;
} rdv_registration;

typedef struct rdv_result {
    int error;                  /* RDV_CLIENT_OK or an rdv_client_error */
    int status;                 /* the server's status code with RDV_CLIENT_ERR_REFUSED */
    const char *status_text;    /* the server's reason, or the error's text; never NULL */
    uint64_t ttl;               /* standard/Waku register: the TTL granted */
    const rdv_registration *regs; /* discover: the registrations */
    size_t nregs;
    const uint8_t *cookie;      /* standard discover: pass it back to continue */
    size_t cookie_len;
    double rtt_ms;              /* ping: the round trip */
    const char *const *addrs;   /* std register: the addresses in the signed record */
    size_t naddrs;
} rdv_result;

typedef void (*rdv_result_cb)(rdv_client *c, const rdv_result *r, void *arg);

/* Calls cb once every push request made before it has been handled by the
 * server (refusals of them come first), with RDV_CLIENT_OK; with
 * RDV_CLIENT_ERR_NOT_CONNECTED if the connection is lost first. Waits for a
 * connection if there is none yet. */
RDV_CLIENT_API int rdv_client_sync(rdv_client *c, rdv_result_cb cb, void *arg);

/* ---- one-shot requests ---------------------------------------------------
 * Each waits for a connection if there is none, then is sent once: a lost
 * connection completes it with RDV_CLIENT_ERR_NOT_CONNECTED (it is not retried). */

typedef enum rdv_client_dialect {
    RDV_CLIENT_PUSH = 0,      /* /rendezvous/legacy/1.0.0 */
    RDV_CLIENT_STANDARD = 1,  /* /rendezvous/1.0.0 (libp2p spec) */
    RDV_CLIENT_WAKU = 2,      /* /vac/waku/rendezvous/0.0.1 */
} rdv_client_dialect;

/* DISCOVER in a dialect: up to limit registrations (0: the server's
 * default) in ns (standard: NULL for every namespace), after cookie
 * (standard only; NULL for the start). cb gets regs and, in standard, the
 * cookie to continue with. */
RDV_CLIENT_API int rdv_client_discover(rdv_client *c, rdv_client_dialect dialect, const char *ns,
                                       uint64_t limit, const uint8_t *cookie, size_t cookie_len,
                                       rdv_result_cb cb, void *arg);
/* Standard or Waku REGISTER: a peer record signed with the client's key
 * over addrs (none: the address the server sees us at, from identify) is
 * registered in ns for ttl seconds (0: the server's default). cb gets the
 * TTL granted. A record is signed once per set of addresses: registering
 * again over the same ones (a refresh) sends the same record. */
RDV_CLIENT_API int rdv_client_std_register(rdv_client *c, rdv_client_dialect dialect, const char *ns,
                                           const char *const *addrs, size_t naddrs, uint64_t ttl,
                                           rdv_result_cb cb, void *arg);
/* Standard UNREGISTER (Waku has none). The protocol has no answer: cb gets
 * RDV_CLIENT_OK once the server closed the stream after reading it. */
RDV_CLIENT_API int rdv_client_std_unregister(rdv_client *c, const char *ns, rdv_result_cb cb,
                                             void *arg);
/* One /ipfs/ping/1.0.0 round trip: cb gets RDV_CLIENT_OK with rtt_ms. */
RDV_CLIENT_API int rdv_client_ping(rdv_client *c, rdv_result_cb cb, void *arg);

/* ---- identities ----------------------------------------------------------- */

/* The peer id of the identity in key_file, into out (cap bytes; 64
 * suffice). create = 0: the file is only read, never created; create = 1:
 * a missing file is created (0600, a new Ed25519 key) and *created (if not
 * NULL) set to 1. RDV_CLIENT_ERR_KEY with a reason naming the file in err. */
RDV_CLIENT_API int rdv_client_key_peer_id(const char *key_file, int create, int *created,
                                          char *out, size_t cap, char *err, size_t errlen);
/* Writes a new Ed25519 key file (0600; json = 1: a js-libp2p PeerId JSON
 * file, which key_file options read too) and puts its peer id in out. An
 * existing file is never replaced: RDV_CLIENT_ERR_EXISTS. */
RDV_CLIENT_API int rdv_client_keygen(const char *key_file, int json, char *out, size_t cap,
                                     char *err, size_t errlen);

/* A new Ed25519 identity in memory, for rdv_client_options.key: its libp2p
 * PrivateKey protobuf into out (cap bytes; RDV_CLIENT_KEY_SIZE suffice), its
 * length in *len, and its peer id text into peer_id (id_cap bytes; 64
 * suffice; NULL: not wanted). RDV_CLIENT_ERR_TOO_MANY if out or peer_id is
 * too small. */
#define RDV_CLIENT_KEY_SIZE 68
RDV_CLIENT_API int rdv_client_key_new(uint8_t *out, size_t cap, size_t *len, char *peer_id,
                                      size_t id_cap);

#ifdef __cplusplus
}
#endif

#endif
