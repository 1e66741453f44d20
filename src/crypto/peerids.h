/* Interned peer ids: one refcounted entry per distinct peer, which the
 * connections authenticated as that peer and the registry's per-peer entry
 * point to, instead of each keeping its own copy (49 B). A table is shared
 * by whoever should share entries (the daemon gives its host the
 * registry's); an entry lives while anyone holds a reference to it. */
#ifndef RDV_CRYPTO_PEERIDS_H
#define RDV_CRYPTO_PEERIDS_H

#include <stddef.h>
#include <stdint.h>

#include <uthash.h>

#include "crypto/peerid.h"

struct peer_ref {
    UT_hash_handle hh;         /* peer_ids.table, key = id.b[0..id.len) */
    /* The registry's per-peer entry, NULL if it has none: the registry
     * finds its entry through the table instead of keeping a second one. */
    void *owner;
    uint32_t refs;
    struct peer_id id;         /* never changes while the entry exists */
};

struct peer_ids {
    struct peer_ref *table;
    size_t count;              /* distinct peers held */
    uint8_t hash_key[16];      /* SipHash key: the ids are chosen by the network */
};

void peer_ids_init(struct peer_ids *t);
/* Frees every entry, held or not: call it once nobody uses them. */
void peer_ids_free(struct peer_ids *t);
/* A new reference to id's entry, created if needed (id->len > 0). */
struct peer_ref *peer_ids_get(struct peer_ids *t, const struct peer_id *id);
/* id's entry if some holder has it, else NULL; takes no reference. */
struct peer_ref *peer_ids_find(const struct peer_ids *t, const struct peer_id *id);
/* Drops a reference from peer_ids_get (NULL: nothing); the last one frees
 * the entry. */
void peer_ids_put(struct peer_ids *t, struct peer_ref *e);
/* Another reference to an entry already held. */
static inline struct peer_ref *peer_ref_hold(struct peer_ref *e)
{
    e->refs++;
    return e;
}
/* The entry whose id this is (id must point into an entry). */
static inline struct peer_ref *peer_ref_of(const struct peer_id *id)
{
    return (struct peer_ref *)(void *)((char *)(uintptr_t)id - offsetof(struct peer_ref, id));
}

#endif
