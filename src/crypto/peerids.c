#include "crypto/peerids.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/mem.h"

static unsigned peer_ids__hash(const struct peer_ids *t, const struct peer_id *id)
{
    uint8_t h[crypto_shorthash_BYTES];
    unsigned v;
    crypto_shorthash(h, id->b, id->len, t->hash_key);
    memcpy(&v, h, sizeof v);
    return v;
}

void peer_ids_init(struct peer_ids *t)
{
    memset(t, 0, sizeof *t);
    randombytes_buf(t->hash_key, sizeof t->hash_key);
}

void peer_ids_free(struct peer_ids *t)
{
    struct peer_ref *e, *tmp;
    HASH_ITER(hh, t->table, e, tmp) {
        HASH_DELETE(hh, t->table, e);
        free(e);
    }
    t->count = 0;
}

static struct peer_ref *peer_ids__find(const struct peer_ids *t, const struct peer_id *id,
                                       unsigned hv)
{
    struct peer_ref *e = NULL;
    HASH_FIND_BYHASHVALUE(hh, t->table, id->b, id->len, hv, e);
    return e;
}

struct peer_ref *peer_ids_find(const struct peer_ids *t, const struct peer_id *id)
{
    return peer_ids__find(t, id, peer_ids__hash(t, id));
}

struct peer_ref *peer_ids_get(struct peer_ids *t, const struct peer_id *id)
{
    assert(id->len > 0 && id->len <= PEERID_MAX);
    unsigned hv = peer_ids__hash(t, id);
    struct peer_ref *e = peer_ids__find(t, id, hv);
    if (e)
        return peer_ref_hold(e);
    e = xcalloc(1, sizeof *e);
    e->id = *id;
    e->refs = 1;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, t->table, e->id.b, e->id.len, hv, e);
    t->count++;
    return e;
}

void peer_ids_put(struct peer_ids *t, struct peer_ref *e)
{
    if (e == NULL)
        return;
    assert(e->refs > 0);
    if (--e->refs > 0)
        return;
    assert(e->owner == NULL);
    HASH_DELETE(hh, t->table, e);
    t->count--;
    free(e);
}
