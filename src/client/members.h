/* The members of one subscribed namespace as a subscriber was told them,
 * and the difference between two such sets: what lets a client that
 * reconnects report only what changed while it was away. */
#ifndef RDV_CLIENT_MEMBERS_H
#define RDV_CLIENT_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>

#include <uthash.h>

#include "client/wire.h"

struct member {
    struct wire_reg reg;      /* peer_id is the key */
    UT_hash_handle hh;
};

struct members {
    struct member *by_id;
    size_t n;
    size_t max;               /* most members held (0: no bound) */
};

enum member_change { MEMBER_SAME, MEMBER_NEW, MEMBER_CHANGED, MEMBER_FULL };

/* Adds or replaces the member r->peer_id, taking r's contents (r is left
 * empty); says whether it is new, changed (addresses or metadata) or the
 * same as before. MEMBER_FULL: a new member while the set holds max
 * already; nothing is added and r keeps its contents. */
enum member_change members_put(struct members *s, struct wire_reg *r);
/* Removes peer_id; false if it was not there. */
bool members_remove(struct members *s, const char *peer_id);
void members_clear(struct members *s);

/* Reports what turns `told` into `now`: leave(m) for each member of told
 * not in now, join(m) for each member of now not in told or different
 * there; then told takes now's members and now is left empty. */
void members_adopt(struct members *told, struct members *now,
                   void (*leave)(void *arg, const struct member *m),
                   void (*join)(void *arg, const struct member *m), void *arg);

#endif
