/* /rendezvous/1.0.0 DISCOVER cookies (WIRE.md §1.3, DESIGN.md "Registry"):
 *
 *     cookie = BE64(seq) ‖ namespace bytes (empty for an all-namespaces query)
 *
 * seq is the registry sequence number the next page continues after. The
 * layout is what rust-libp2p clients parse (≥ 8 bytes, then the namespace),
 * and it needs no state on the server: a cookie is valid for the query whose
 * namespace it names, as long as its seq was really issued. */
#ifndef RDV_RENDEZVOUS_COOKIE_H
#define RDV_RENDEZVOUS_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

#define COOKIE_SEQ_LEN 8
#define COOKIE_MAX (COOKIE_SEQ_LEN + RDV_NS_MAX)

enum cookie_result {
    COOKIE_OK = 0,
    COOKIE_SHORT,       /* fewer than 8 bytes */
    COOKIE_WRONG_NS,    /* issued for another namespace (or for all / not all) */
    COOKIE_FUTURE,      /* names a seq never issued: forged */
};

/* Writes the cookie for (seq, ns) to out (room for 8 + ns_len bytes, so
 * COOKIE_MAX for any valid namespace); returns its length. ns may be NULL
 * when ns_len is 0. */
size_t cookie_encode(uint8_t *out, uint64_t seq, const char *ns, size_t ns_len);

/* Checks a cookie received with a query for ns (ns_len 0: all namespaces)
 * against the highest seq ever issued; on COOKIE_OK, *seq is where the next
 * page starts after. */
enum cookie_result cookie_decode(const uint8_t *c, size_t n, const char *ns, size_t ns_len,
                                 uint64_t last_seq, uint64_t *seq);

/* Short text for a statusText. */
const char *cookie_result_text(enum cookie_result r);

/* Shared by the standard and Waku handlers: whether string field `inner` of
 * any occurrence of sub-message field `outer` in the top-level protobuf msg
 * holds a NUL byte. protobuf-c returns strings NUL-terminated without their
 * length, so a namespace "a\0b" would silently read as "a"; the handlers
 * refuse it instead. Malformed input yields false (protobuf-c has already
 * judged it). */
bool rdv_wire_string_has_nul(const uint8_t *msg, size_t len, uint32_t outer, uint32_t inner);

#endif
