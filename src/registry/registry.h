/* The registry shared by every dialect: namespaces, registrations keyed by
 * (peer, namespace), peers, push-mode sessions and their subscriptions.
 *
 * No operation scans all registrations: namespaces and peers are uthash
 * tables, memberships are intrusive lists linked both ways (a namespace lists
 * its registrations in sequence order and its subscribers; a peer lists its
 * registrations; a session lists what it owns and what it subscribes to), so
 * ending a session costs O(its own entries). A registration or subscription
 * is found by walking the shorter of its two lists (the peer's registrations
 * or the namespace's; the session's subscriptions or the namespace's), which
 * limits.max_regs_per_peer and max_subs_per_session bound: no hash handle
 * per registration or subscription, no table per namespace. TTL registrations sit in a min-heap on their
 * deadline; the owner of the event loop runs one timer for the earliest
 * (registry_next_expiry / registry_expire).
 *
 * Registrations with a signed record (the ones DISCOVER of the standard and
 * Waku dialects may return) are also kept apart, per namespace and across
 * all namespaces: in seq-ordered arrays (cookie listing: binary search, then
 * O(answer)) and, per namespace, a dense array (Waku's random sample in
 * O(answer)). Push registrations, however many, are never stepped over by
 * those reads and cost no memory in those structures.
 *
 * Registration changes (a new registration, or a re-register that changes
 * anything but the expiry) draw on a per-peer token bucket
 * (limits.register_rate, register_burst), refreshes (a re-register that
 * changes nothing) a tenth of a token each: past it, RDV_E_RATE_LIMIT.
 *
 * The registry does no I/O and knows no dialect. Every change is reported
 * to each listener (registry_events), once, after the registry is
 * consistent: the push notifier encodes an announcement and fans it out
 * there, a store records the change for its next commit. */
#ifndef RDV_REGISTRY_REGISTRY_H
#define RDV_REGISTRY_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "crypto/peerid.h"
#include "crypto/peerids.h"

#define RDV_NS_MAX 255

struct rdv_ns;
struct rdv_reg;
struct rdv_sub;
struct rdv_session;

/* Which dialect made a registration (for metrics and DISCOVER filtering). */
enum rdv_dialect { RDV_DIALECT_PUSH = 0, RDV_DIALECT_STANDARD = 1, RDV_DIALECT_WAKU = 2 };

enum rdv_status {
    RDV_OK = 0,
    RDV_E_NAMESPACE,       /* empty, > max_ns_len bytes, or not UTF-8 */
    RDV_E_ADDRS,           /* too many addresses or too many address bytes */
    RDV_E_TTL,             /* outside [min_ttl, max_ttl] */
    RDV_E_PEER_LIMIT,      /* the peer has max_regs_per_peer registrations */
    RDV_E_TOTAL_LIMIT,     /* max_regs_total or max_namespaces reached */
    RDV_E_SUB_LIMIT,       /* the session has max_subs_per_session subscriptions */
    RDV_E_NOT_FOUND,
    RDV_E_RATE_LIMIT,      /* the peer changes (or refreshes, at a tenth of
                            * the cost) its registrations faster than
                            * register_rate (beyond register_burst) */
    RDV_E_UNAVAILABLE,     /* cluster mode: the shared registry cannot be reached */
    RDV_E_METADATA,        /* metadata longer than max_metadata */
};

struct registry_limits {
    size_t max_ns_len;            /* 255 */
    size_t max_addrs;             /* addresses per registration (32) */
    size_t max_addr_bytes;        /* total address bytes per registration (2048) */
    size_t max_envelope;          /* signed record bytes (8192) */
    size_t max_metadata;          /* presence metadata bytes per registration (1024) */
    size_t max_regs_per_peer;     /* 1000 */
    size_t max_regs_total;        /* 1,000,000 */
    size_t max_namespaces;        /* 100,000 */
    size_t max_subs_per_session;  /* 1000 */
    /* Token bucket per peer on registration changes (a token each) and
     * refreshes (a tenth): register_rate tokens a second, at most
     * register_burst saved. 0 = no limit. */
    double register_rate;         /* 10 */
    size_t register_burst;        /* 100 */
};

struct rdv_addr {
    const uint8_t *bytes;   /* binary multiaddr */
    size_t len;
};

struct rdv_reg {
    /* The peer's id, kept once per peer by the registry: valid as long as
     * the registration (also during its on_unregister). */
    const struct peer_id *peer;
    uint8_t dialect;           /* enum rdv_dialect */
    uint16_t naddrs;           /* <= limits.max_addrs (at most 1024) */
    uint32_t metadata_len;     /* presence metadata bytes (registry_metadata), often 0 */
    struct rdv_ns *ns;
    uint64_t seq;              /* unique, increasing; bumped by every re-register,
                                * also by one that changes nothing (a refresh) */
    struct rdv_session *owner; /* push registrations: the session that made it */
    uint8_t *envelope;         /* signed peer record exactly as received, or NULL */
    uint8_t *wire;             /* registry_wire: a dialect's cached encoding, or NULL */
    /* The metadata (push mode), opaque, is the block's tail: no field of its
     * own beyond the length, so registrations without it pay nothing. */
    /* links (registry-private) */
    struct rdv_reg *ns_prev, *ns_next; /* ns->regs, seq order */
    struct rdv_reg *pe_prev, *pe_next; /* peer's registrations */
    /* A registration has a TTL or an owner, never both: a TTL one sits in
     * the expiry heap, an owned one in its session's list, so they share
     * the room (read the TTL and the deadline with registry_ttl and
     * registry_expires, which say 0 for an owned one). */
    union {
        struct {
            double at;                 /* deadline (the clock passed in) */
            uint32_t heap_index;       /* position in the expiry heap */
            uint32_t ttl;              /* granted seconds */
        } exp;                         /* owner == NULL */
        struct {
            struct rdv_reg *ow_prev, *ow_next; /* owner session's registrations */
        };                             /* owner != NULL */
    };
    /* Sizes and positions are bounded by the limits (a record <= 1 MiB,
     * registrations <= 1e9): 32 bits each, packed together. */
    uint32_t envelope_len;
    uint32_t ns_index;                 /* position in ns->dense (signed regs) */
    struct rdv_addr addrs[];           /* naddrs, in the order registered, byte-exact;
                                        * their bytes follow in the same block */
};

/* Granted seconds; 0 for one that lasts while its session does. */
static inline uint32_t registry_ttl(const struct rdv_reg *g) { return g->owner ? 0 : g->exp.ttl; }
/* Deadline (absolute, the clock passed in); 0 for a session's. */
static inline double registry_expires(const struct rdv_reg *g) { return g->owner ? 0.0 : g->exp.at; }

/* Registrations in seq order, for cookie listing: appended at the end (a
 * new seq is the highest), removed lazily (the slot keeps its seq and
 * loses its registration) and compacted once removed slots are a quarter
 * of the array, so a position is found by binary search in O(log n) and
 * a read steps over at most a third as many removed slots as live ones. */
struct rdv_seq_slot {
    uint64_t seq;
    struct rdv_reg *reg;       /* NULL: removed */
};

struct rdv_seq_index {
    struct rdv_seq_slot *v;
    size_t len, cap, dead;
};

struct rdv_ns {
    UT_hash_handle hh;         /* registry->namespaces, key = name */
    char *name;                /* NUL-terminated, len bytes */
    size_t len;
    struct rdv_reg *regs;      /* DL list in seq order (ns_prev/ns_next), every dialect */
    size_t nregs;
    struct rdv_reg **dense;    /* the regs with a signed record, for O(k) random samples */
    size_t nsigned, dense_cap;
    struct rdv_seq_index signed_seq; /* the regs with a signed record, seq order */
    struct rdv_sub *subs;      /* DL list of subscriptions (ns_prev/ns_next) */
    size_t nsubs;
};

/* A push-mode session's subscription to one namespace. */
struct rdv_sub {
    struct rdv_ns *ns;
    struct rdv_session *session;
    struct rdv_sub *ns_prev, *ns_next;   /* ns->subs */
    struct rdv_sub *se_next;             /* session->subs (singly linked: a
                                          * session drops them all at once) */
};

/* Embedded in whatever holds a push-mode session (a stream's state), which
 * knows its peer and finds itself from it (it is the holder's first
 * member): the registry needs neither. */
struct rdv_session {
    struct rdv_reg *regs;      /* registrations it owns (ow_ list) */
    struct rdv_sub *subs;      /* its subscriptions (se_ list) */
    uint32_t nsubs;            /* <= limits.max_subs_per_session */
};

struct registry_events {
    /* r was added, or re-registered with a change (new addresses, signed
     * record, metadata, owner or dialect: a takeover is reported as a
     * register only).
     * r has a new seq. */
    void (*on_register)(void *ctx, const struct rdv_reg *r);
    /* r was re-registered unchanged: same dialect, owner, addresses (byte
     * for byte), signed record and metadata. Only its expiry (TTL) and seq moved, in
     * place. Nothing to announce; a store keeps the new expiry. May be NULL. */
    void (*on_refresh)(void *ctx, const struct rdv_reg *r);
    /* r is being removed (unregister, session end, expiry); r is still
     * readable during the call but no longer in any table. */
    void (*on_unregister)(void *ctx, const struct rdv_reg *r);
};

/* Listeners are called in the order they were added. */
#define REGISTRY_MAX_LISTENERS 4

struct registry_listener {
    const struct registry_events *ev;
    void *ctx;
};

struct registry_stats {
    size_t regs, namespaces, peers, sessions, subs;
    size_t regs_by_dialect[3];
    uint64_t expired;
    uint64_t rate_limited;     /* registrations refused with RDV_E_RATE_LIMIT */
};

struct rdv_peer;   /* registry-private: per-peer counts and lists */

struct registry {
    struct registry_limits limits;
    struct rdv_ns *namespaces;        /* uthash by name */
    /* Peer ids, interned; an entry's owner is the peer's struct rdv_peer
     * (if it has one). A host may share the table (host_share_peer_ids),
     * so it must outlive the host's connections. */
    struct peer_ids ids;
    struct rdv_seq_index signed_seq;  /* regs with a signed record, all namespaces */
    struct rdv_peer *idle_peers;      /* peers without registrations whose token
                                       * bucket is not full yet (oldest first) */
    struct rdv_reg **heap;            /* expiry min-heap */
    size_t heap_len, heap_cap;
    uint64_t next_seq;                /* seeded from the clock: cookies survive restarts */
    uint8_t hash_key[16];             /* SipHash key for network-chosen keys */
    struct registry_listener listeners[REGISTRY_MAX_LISTENERS];
    size_t nlisteners;
    struct registry_stats stats;
};

void registry_limits_default(struct registry_limits *l);
/* seq_seed: first sequence number (e.g. unix time in µs at start). ev, if
 * not NULL, is the first listener (with ctx); registry_listen adds more. */
void registry_init(struct registry *r, const struct registry_limits *l, uint64_t seq_seed,
                   const struct registry_events *ev, void *ctx);
/* Adds a listener; every later change is reported to it. The number of
 * listeners is fixed by the program (REGISTRY_MAX_LISTENERS): more aborts. */
void registry_listen(struct registry *r, const struct registry_events *ev, void *ctx);
/* Frees everything without reporting events. */
void registry_free(struct registry *r);

/* 0 if ns (n bytes) is a valid namespace: 1..max_ns_len bytes of UTF-8. */
int registry_check_ns(const struct registry *r, const char *ns, size_t n);

struct rdv_register {
    const char *ns;
    size_t ns_len;
    const struct peer_id *peer;
    enum rdv_dialect dialect;
    const struct rdv_addr *addrs;
    size_t naddrs;
    const uint8_t *envelope;     /* copied; NULL for push registrations */
    size_t envelope_len;
    const uint8_t *metadata;     /* copied; opaque presence state, may be NULL */
    size_t metadata_len;
    uint64_t ttl;                /* seconds; 0 = session-bound (then owner != NULL) */
    struct rdv_session *owner;   /* push: the session; NULL for TTL registrations */
    double now;                  /* the clock, for expires = now + ttl */
    /* Restoring a stored TTL registration (a store's load) or applying a
     * cluster's change log, else 0: its seq, higher than every seq in the
     * registry, and its deadline (0 for a push registration). */
    uint64_t seq;
    double expires;
};

/* Adds or replaces the registration of (peer, ns). A replacement gets a new
 * seq (or req->seq) and moves to the end of the order; ownership moves to the new owner
 * (a push session taking over from another, or a TTL registration replacing
 * a push one and vice versa). Reports on_register, or on_refresh when the
 * replacement changes nothing but the TTL: then the registration is updated
 * in place and draws no token from the peer's bucket. A new seq for a
 * refresh is deliberate: /rendezvous/1.0.0 clients polling with a cookie
 * learn the new TTL from the entry returned again, as with other servers. */
enum rdv_status registry_register(struct registry *r, const struct rdv_register *req,
                                  const struct rdv_reg **out);
/* Removes (peer, ns) if present (on_unregister). If owner is not NULL, only
 * a registration owned by that session is removed. */
enum rdv_status registry_unregister(struct registry *r, const char *ns, size_t ns_len,
                                    const struct peer_id *peer, const struct rdv_session *owner);
/* The metadata bytes of g (metadata_len of them; a pointer into g's
 * block, valid as long as g). */
const uint8_t *registry_metadata(const struct rdv_reg *g);
const struct rdv_reg *registry_find(const struct registry *r, const char *ns, size_t ns_len,
                                    const struct peer_id *peer);
struct rdv_ns *registry_ns(const struct registry *r, const char *ns, size_t ns_len);
/* A dialect's encoding of g, kept with it: NULL until set, then the bytes
 * given to registry_set_wire, which the registration owns and frees with
 * its block. Any change to a registration builds a new block, so the
 * encoding never outlives what it encodes; a refresh keeps it. It is a
 * cache, not part of the registration's value, so a const g may take it.
 * One dialect uses it (push); the bytes start with their uvarint length. */
static inline const uint8_t *registry_wire(const struct rdv_reg *g) { return g->wire; }
void registry_set_wire(const struct rdv_reg *g, uint8_t *wire);

/* Sessions (push mode). */
void registry_session_init(struct rdv_session *s);
/* Subscribes s to ns (creating the namespace if needed); *ns_out is where
 * the current members are read from for the snapshot. Subscribing twice is
 * a no-op returning RDV_OK. */
enum rdv_status registry_subscribe(struct registry *r, struct rdv_session *s, const char *ns,
                                   size_t ns_len, struct rdv_ns **ns_out);
/* Removes every registration s owns (on_unregister for each) and every
 * subscription. */
void registry_session_end(struct registry *r, struct rdv_session *s);

/* Gives every registration `from` owns to `to`, silently: nothing is
 * announced and nothing changes but the owner (a cluster keeps what an ended
 * session owned until the change log removes it). */
void registry_session_move(struct registry *r, struct rdv_session *from, struct rdv_session *to);

/* Cookie-style listing of registrations with a signed record: up to limit
 * with seq > after, in seq order, from ns (or from all namespaces if ns is
 * NULL). Writes them to out and returns the count. O(log n) to find the
 * start (whether `after` is live, removed, from elsewhere or forged), then
 * O(count) plus the removed slots not compacted yet (fewer than a third of
 * the live ones). Push registrations are not looked at. */
size_t registry_list(const struct registry *r, const struct rdv_ns *ns, uint64_t after,
                     const struct rdv_reg **out, size_t limit);
/* Up to limit registrations of ns with a signed record, chosen uniformly at
 * random, for the Waku dialect. O(limit). */
size_t registry_sample(const struct registry *r, const struct rdv_ns *ns,
                       const struct rdv_reg **out, size_t limit);
/* Highest seq ever issued (for cookie validation). */
static inline uint64_t registry_last_seq(const struct registry *r) { return r->next_seq - 1; }

/* Expiry: the earliest deadline (or a negative number if none), and removal
 * of everything due at `now` (on_unregister for each); returns how many.
 * Also forgets the token buckets of peers without registrations once full. */
double registry_next_expiry(const struct registry *r);
size_t registry_expire(struct registry *r, double now);

#endif
