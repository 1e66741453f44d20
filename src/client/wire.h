/* The client's side of the three rendezvous dialects as plain C data:
 * standard (/rendezvous/1.0.0) and Waku requests encoded, and every answer
 * a server sends (standard, Waku, push) decoded into copies a caller may
 * keep - peer ids and addresses as text, records verified. A hostile
 * server's bytes end here: everything below is bounded by the message. */
#ifndef RDV_CLIENT_WIRE_H
#define RDV_CLIENT_WIRE_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/buf.h"
#include "push.pb-c.h"

/* The protocol ids servers speak (WIRE.md §2-§4). */
#define WIRE_PUSH_PROTOCOL_ID "/rendezvous/legacy/1.0.0"
#define WIRE_RDV1_PROTOCOL_ID "/rendezvous/1.0.0"
#define WIRE_WAKU_PROTOCOL_ID "/vac/waku/rendezvous/0.0.1"

/* Go servers may send up to 4 MiB in one standard answer; push DISCOVER
 * answers are one Message however many entries they hold. */
#define WIRE_RDV1_MAX_MESSAGE (4u << 20)
#define WIRE_PUSH_MAX_MESSAGE (8u << 20)
/* Addresses kept per entry; more are dropped. */
#define WIRE_MAX_ADDRS 64

/* One registration or announcement. */
struct wire_reg {
    char *ns;            /* "" when the message had none */
    char *peer_id;       /* base58 text; "" when missing or invalid */
    char **addrs;        /* multiaddr text (invalid ones dropped) */
    size_t naddrs;
    uint64_t ttl;
    uint8_t *meta;       /* push: presence metadata, if any */
    size_t meta_len;
};

enum wire_op { WIRE_REGISTER, WIRE_DISCOVER, WIRE_UNREGISTER };

struct wire_request {
    enum wire_op op;
    bool waku;
    const char *ns;                  /* discover: NULL = every namespace (standard) */
    const uint8_t *record;           /* register: signed peer record (envelope) */
    size_t record_len;
    uint64_t ttl;                    /* register: 0 = none asked */
    uint64_t limit;                  /* discover: 0 = none asked */
    const uint8_t *cookie;           /* standard discover */
    size_t cookie_len;
};

/* What an answer's decoding holds in place before it takes the heap: a
 * DISCOVER page of ten records (the Message decoded, then the entries). */
#define WIRE_ANSWER_ROOM 8192
/* A standard or Waku answer. Everything it points to lives in its arena,
 * released at once by wire_answer_free. */
struct wire_answer {
    int status;                      /* the server's; 0 = OK */
    char *status_text;               /* NULL if none */
    uint64_t ttl;                    /* register */
    struct wire_reg *regs;           /* discover */
    size_t nregs;
    uint8_t *cookie;                 /* standard discover */
    size_t cookie_len;
    struct arena mem;
    alignas(max_align_t) uint8_t room[WIRE_ANSWER_ROOM]; /* last: not cleared */
};

/* A push Message. */
struct wire_push {
    int type;                        /* Push__Message__MessageType */
    int status;
    char *status_text;
    struct wire_reg *regs;           /* its REGISTER or UNREGISTER entries */
    size_t nregs;
};

/* Signed records a client opened and verified, by their bytes, so that the
 * same record met again (a DISCOVER repeated, a page seen twice) costs no
 * signature check: at most WIRE_RECORD_CACHE_ENTRIES records of at most
 * WIRE_RECORD_CACHE_MAX_BYTES each, the oldest dropped first. */
#define WIRE_RECORD_CACHE_ENTRIES 256
#define WIRE_RECORD_CACHE_MAX_BYTES 2048

struct wire_cached;

struct wire_record_cache {
    struct wire_cached *by_env;
    struct wire_cached *oldest;
    size_t n;
};

void wire_record_cache_free(struct wire_record_cache *rc);

/* Appends the length-prefixed request to out. */
void wire_request_encode(const struct wire_request *rq, struct buf *out);
/* The request's Message alone, without its length prefix. */
void wire_request_body(const struct wire_request *rq, struct buf *out);
/* Decodes one standard or Waku Message (without its length prefix) as the
 * answer to op. -1 if it does not decode or is not that answer. */
int wire_answer_decode(bool waku, enum wire_op op, const uint8_t *msg, size_t len,
                       struct wire_answer *a);
/* The same, with records looked up in (and added to) rc. Answers are not
 * wire_reg_free'd one by one: wire_answer_free releases them with the rest. */
int wire_answer_decode_cached(struct wire_record_cache *rc, bool waku, enum wire_op op,
                              const uint8_t *msg, size_t len, struct wire_answer *a);
void wire_answer_free(struct wire_answer *a);
/* Converts a push Message. */
void wire_push_decode(const Push__Message *m, struct wire_push *out);
void wire_push_free(struct wire_push *p);
void wire_reg_free(struct wire_reg *r);

#endif
