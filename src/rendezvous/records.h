/* What the two signed-record dialects, /rendezvous/1.0.0 (rdv1.c) and Waku
 * 0.0.1 (waku.c), share: the stream (many length-prefixed requests, answered
 * in order), the bookkeeping around each request, REGISTER from validation
 * to the registry, and the list of registrations a DISCOVER answer carries.
 *
 * A dialect keeps its wire encoding and its policy: it decodes a request,
 * states its TTL bounds and which registrations a DISCOVER returns, and
 * encodes the answers. Both number their response statuses alike, so a
 * REGISTER outcome is one enum here (each dialect file asserts the match). */
#ifndef RDV_RENDEZVOUS_RECORDS_H
#define RDV_RENDEZVOUS_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/arena.h"
#include "base/buf.h"
#include "rendezvous/service.h"

/* rust-libp2p refuses messages over 1 MiB; keeping the message a little
 * under it also keeps the frame (length prefix included) within 1 MiB. */
#define RECORDS_MAX_RESPONSE ((size_t)(1u << 20) - 16)
/* Stack room for one request's decoding and DISCOVER page (more comes from
 * the heap): a REGISTER with a typical signed record, or a page of 10. */
#define RECORDS_ARENA_BYTES 4096

/* One request being handled. */
struct records_req {
    struct rdv_service *svc;
    enum rdv_dialect dialect;
    const struct peer_id *remote;  /* the authenticated peer */
    double now;                    /* the clock TTLs are measured on */
    struct buf *out;               /* framed answers are appended here */
    struct arena *arena;           /* the request's decoded message and page, freed after it */
    bool added;                    /* a TTL registration was stored */
    struct rdv_request_log log;    /* namespace and status, for the debug line */
};

/* Notes the request's namespace for the debug line (only when it will be
 * written); ns may be NULL. */
void records_note_ns(struct records_req *rq, const char *ns);

struct records_answer;

struct records_dialect {
    enum rdv_dialect dialect;
    const char *name;              /* for logs: "rendezvous", "Waku rendezvous" */
    const ProtobufCEnumDescriptor *types;     /* MessageType: request names in logs */
    const ProtobufCEnumDescriptor *statuses;  /* ResponseStatus: status names in logs */
    /* Decodes msg and appends its answer (if it has one) to rq->out.
     * Returns the request type (0..7, as counted in stats.requests), or -1
     * if msg is not a request of this dialect: then nothing was written. */
    int (*request)(struct records_req *rq, const uint8_t *msg, size_t len);
    /* Appends the answer a to a REGISTER to rq->out: how an OK held for the
     * store's commit is replaced when that commit fails. */
    void (*register_reply)(struct records_req *rq, const struct records_answer *a);
};

/* The descriptors of rdv1.c and waku.c, for drivers without a host (fuzz
 * targets, the DISCOVER micro-benchmark). */
extern const struct records_dialect rdv1_dialect, waku_dialect;

/* Handles one request from `remote` with its stats (requests, failures,
 * latency). -1 if msg is not a request of d (the caller resets the stream),
 * else 0; *added is set when a TTL registration was stored (the expiry timer
 * may need to move). Needs no host, so fuzz targets drive it directly. */
int records_handle(const struct records_dialect *d, struct rdv_service *s,
                   const struct peer_id *remote, double now, const uint8_t *msg, size_t len,
                   struct buf *out, bool *added);

/* Fills p with the shared stream callbacks for protocol `id`; on_open is the
 * dialect's, which calls records_open with its descriptor. */
void records_protocol(struct protocol *p, struct rdv_service *s, const char *id,
                      int (*on_open)(struct stream *st));
int records_open(struct stream *st, const struct records_dialect *d);

/* ---- REGISTER ------------------------------------------------------------ */

/* Outcomes of a REGISTER, numbered as both dialects' ResponseStatus. */
enum records_status {
    RECORDS_OK = 0,
    RECORDS_E_NAMESPACE = 100,
    RECORDS_E_RECORD = 101,   /* rdv1 E_INVALID_SIGNED_PEER_RECORD, Waku E_INVALID_PEER_INFO */
    RECORDS_E_TTL = 102,
    RECORDS_E_AUTH = 200,
    RECORDS_E_INTERNAL = 300,
    RECORDS_E_UNAVAILABLE = 400,
};

/* A dialect's TTL policy applied to one request. */
struct records_ttl {
    uint64_t want;      /* seconds asked for; 0 = absent, dflt applies */
    bool negative;      /* asked for less than 0 (Waku's int64): refused */
    uint64_t dflt;      /* granted when absent */
    uint64_t min, max;  /* the granted TTL must be within these */
};

struct records_register {
    const char *ns;           /* NUL-terminated as protobuf-c hands it out, or NULL */
    bool ns_nul;              /* the wire string held a NUL (rdv_wire_string_has_nul) */
    const uint8_t *envelope;  /* signed peer record as received; NULL or empty = absent */
    size_t envelope_len;
    struct records_ttl ttl;
};

struct records_answer {
    enum records_status status;
    uint64_t ttl;             /* granted seconds, when OK */
    const char *text;         /* statusText, when not OK */
    char buf[160];            /* room for a text made for this answer */
};

/* Validates and stores a REGISTER of rq->remote (WIRE.md §1.4 steps 2-7):
 * namespace, signed record, record of the sender, TTL, registry. Fills a;
 * sets rq->added on success. */
void records_register(struct records_req *rq, const struct records_register *q,
                      struct records_answer *a);

/* ---- DISCOVER answers ---------------------------------------------------- */

/* Registrations chosen for a DISCOVER answer, then encoded as the dialect's
 * Register messages. */
struct records_page {
    const struct rdv_reg **regs;  /* candidates (room for limit), chosen by the dialect */
    size_t count;                 /* how many it put there */
    size_t n;                     /* of those, how many fit in the answer */
    void *items;                  /* count Register messages of the dialect's type */
    void *ptrs;                   /* pointers to them: the answer's repeated field */
    struct arena *arena;          /* where the three arrays come from */
    size_t bound;                 /* the answer's size is at most this (overhead included) */
};

/* Fills entry i of p (items and ptrs) for r with ttl seconds left; returns
 * the message, whose packed size decides whether it fits. */
typedef ProtobufCMessage *records_entry_fn(struct records_page *p, size_t i,
                                           const struct rdv_reg *r, uint64_t ttl);

/* Appends uvarint(len) ‖ m to out. A bound (not 0) is at least m's packed
 * size, e.g. a page's bound: m is then packed without being sized first. */
void records_frame(struct buf *out, const ProtobufCMessage *m, size_t bound);

/* The page's arrays come from a (the request's arena): nothing to free. */
void records_page_init(struct records_page *p, uint64_t limit, struct arena *a);
/* Encodes regs[0..count) in order while the answer stays within
 * RECORDS_MAX_RESPONSE, counting `overhead` bytes for the rest of it; sets
 * p->n. Each entry's TTL is the time left at now, rounded up, at least 1,
 * or session_ttl for a session-bound registration. */
void records_page_build(struct records_page *p, records_entry_fn *entry, size_t item_size,
                        double now, uint64_t session_ttl, size_t overhead);

#endif
