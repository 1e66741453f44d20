#include "client/members.h"

#include <stdlib.h>
#include <string.h>

#include "base/mem.h"

static bool members__same(const struct wire_reg *a, const struct wire_reg *b)
{
    if (a->naddrs != b->naddrs || a->meta_len != b->meta_len)
        return false;
    if (a->meta_len && memcmp(a->meta, b->meta, a->meta_len) != 0)
        return false;
    for (size_t i = 0; i < a->naddrs; i++)
        if (strcmp(a->addrs[i], b->addrs[i]) != 0)
            return false;
    return true;
}

enum member_change members_put(struct members *s, struct wire_reg *r)
{
    struct member *m;
    HASH_FIND_STR(s->by_id, r->peer_id, m);
    if (m) {
        bool same = members__same(&m->reg, r);
        HASH_DEL(s->by_id, m);
        wire_reg_free(&m->reg);
        m->reg = *r;
        HASH_ADD_KEYPTR(hh, s->by_id, m->reg.peer_id, strlen(m->reg.peer_id), m);
        memset(r, 0, sizeof(*r));
        return same ? MEMBER_SAME : MEMBER_CHANGED;
    }
    if (s->max && s->n >= s->max)
        return MEMBER_FULL;
    m = xcalloc(1, sizeof(*m));
    m->reg = *r;
    memset(r, 0, sizeof(*r));
    HASH_ADD_KEYPTR(hh, s->by_id, m->reg.peer_id, strlen(m->reg.peer_id), m);
    s->n++;
    return MEMBER_NEW;
}

static void members__drop(struct members *s, struct member *m)
{
    HASH_DEL(s->by_id, m);
    wire_reg_free(&m->reg);
    free(m);
    s->n--;
}

bool members_remove(struct members *s, const char *peer_id)
{
    struct member *m;
    HASH_FIND_STR(s->by_id, peer_id, m);
    if (m == NULL)
        return false;
    members__drop(s, m);
    return true;
}

void members_clear(struct members *s)
{
    struct member *m, *tmp;
    HASH_ITER(hh, s->by_id, m, tmp)
        members__drop(s, m);
}

void members_adopt(struct members *told, struct members *now,
                   void (*leave)(void *arg, const struct member *m),
                   void (*join)(void *arg, const struct member *m), void *arg)
{
    struct member *m, *tmp, *o;
    size_t max = told->max;

    told->max = 0; /* now holds at most its own bound; the two may differ */
    HASH_ITER(hh, told->by_id, m, tmp) {
        HASH_FIND_STR(now->by_id, m->reg.peer_id, o);
        if (o == NULL) {
            leave(arg, m);
            members__drop(told, m);
        }
    }
    HASH_ITER(hh, now->by_id, m, tmp) {
        const char *id = m->reg.peer_id; /* moves with the contents */
        HASH_DEL(now->by_id, m);
        now->n--;
        enum member_change ch = members_put(told, &m->reg);
        free(m);
        if (ch != MEMBER_SAME) {
            HASH_FIND_STR(told->by_id, id, o);
            join(arg, o);
        }
    }
    told->max = max;
}
