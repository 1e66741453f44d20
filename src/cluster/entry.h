/* The cluster's records as they come out of Redis (cluster/scripts.h has
 * their layout): one change log entry, or one registration of a snapshot,
 * decoded and checked. Redis is trusted no more than a peer: a malformed
 * record is refused (-1), never half-read. */
#ifndef RDV_CLUSTER_ENTRY_H
#define RDV_CLUSTER_ENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster.pb-c.h"
#include "crypto/peerid.h"
#include "registry/registry.h"

/* Bytes of a key: the peer id's length, the peer id, the namespace. */
#define CLUSTER_KEY_MAX (1 + PEERID_MAX + RDV_NS_MAX)

struct cluster_span {
    const char *p;
    size_t len;
};

enum cluster_why { CLUSTER_WHY_UNREGISTER, CLUSTER_WHY_SESSION, CLUSTER_WHY_EXPIRED, CLUSTER_WHY_REAP };

struct cluster_change {
    uint64_t seq;              /* the registration's seq: its log entry id */
    uint64_t n;                /* log entries only: the entry's number */
    bool add;                  /* a registration (op r); else a removal (op u) */
    struct peer_id peer;
    const char *ns;            /* in the decoded key; not NUL-terminated */
    size_t ns_len;
    /* add */
    bool owned;                /* a push registration: owner_node/owner_session */
    uint64_t owner_node, owner_session;
    double expires;            /* Redis time in seconds; 0 for push */
    Cluster__Body *body;       /* owned */
    /* removal */
    uint64_t removed_seq;
    enum cluster_why why;
};

/* "MS-N" (a stream entry id) as a seq: MS << 20 | N; -1 if not one, or N
 * does not fit in 20 bits, or the result is 0. */
int cluster_seq_parse(const char *id, size_t len, uint64_t *seq);
/* The id a seq came from, "MS-N", NUL-terminated; its length. */
size_t cluster_seq_format(uint64_t seq, char *out, size_t cap);

/* The key of (peer, ns); returns its length (<= CLUSTER_KEY_MAX). */
size_t cluster_key_make(uint8_t *out, const struct peer_id *peer, const char *ns, size_t ns_len);

/* One log entry: its id and its fields (name, value, name, value...). */
int cluster_change_decode(struct cluster_change *c, struct cluster_span id,
                          const struct cluster_span *fields, size_t nfields);
/* One registration of a snapshot: key and value of {rdv}:reg. */
int cluster_value_decode(struct cluster_change *c, struct cluster_span key, struct cluster_span value);
void cluster_change_free(struct cluster_change *c);

/* Hex node and session numbers in an owner "NODE:SESSION". */
int cluster_owner_parse(struct cluster_span owner, uint64_t *node, uint64_t *session);

#endif
