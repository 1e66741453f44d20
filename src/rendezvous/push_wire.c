/* Push-mode wire encoding (see push_wire.h). */
#include "rendezvous/push_wire.h"

#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "base/mem.h"
#include "base/varint.h"

/* One register entry being built: the peer id text and the pointers into
 * the registration are fixed up only when the Message is packed, because
 * the arrays holding them grow while entries are added. */
struct push_entry {
    Push__Message__Register reg;
    Push__Message__Peer peer;
    size_t addr0;            /* its first address in push_batch.addrs */
    size_t size0;            /* the batch's size before it */
    char id[PEERID_TEXT_MAX];
};

struct push_buf *push_wire_pack(const Push__Message *m, bool announcement)
{
    size_t n = push__message__get_packed_size(m);
    size_t h = uvarint_size(n);
    struct push_buf *b = xmalloc(sizeof(*b) + h + n);
    b->refs = 1;
    b->announcement = announcement;
    b->key = 0;
    b->made = announcement ? ev_time() : 0;
    b->len = h + push__message__pack(m, b->bytes + uvarint_put(b->bytes, n));
    return b;
}

void push_buf_unref(struct push_buf *b)
{
    if (--b->refs == 0)
        free(b);
}

void push_batch_add(struct push_batch *b, const struct rdv_reg *r)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 16;
        b->e = xrealloc(b->e, b->cap * sizeof(*b->e));
        b->ptrs = xrealloc(b->ptrs, b->cap * sizeof(*b->ptrs));
    }
    if (r->naddrs > b->addrs_cap - b->naddrs) {
        while (r->naddrs > b->addrs_cap - b->naddrs)
            b->addrs_cap = b->addrs_cap ? b->addrs_cap * 2 : 64;
        b->addrs = xrealloc(b->addrs, b->addrs_cap * sizeof(*b->addrs));
    }
    struct push_entry *e = &b->e[b->n];
    push__message__register__init(&e->reg);
    push__message__peer__init(&e->peer);
    int idlen = peerid_to_text(&r->peer, e->id, sizeof(e->id));
    e->peer.has_id = 1;
    e->peer.id.data = (uint8_t *)e->id;
    e->peer.id.len = idlen > 0 ? (size_t)idlen : 0;
    e->addr0 = b->naddrs;
    e->size0 = b->size;
    for (size_t i = 0; i < r->naddrs; i++) {
        b->addrs[b->naddrs + i].data = (uint8_t *)r->addrs[i].bytes;
        b->addrs[b->naddrs + i].len = r->addrs[i].len;
    }
    e->peer.n_addrs = r->naddrs;
    e->peer.addrs = b->addrs + e->addr0;
    if (r->metadata_len) { /* absent when empty: rev1 Messages stay as they were */
        e->peer.has_metadata = 1;
        e->peer.metadata.data = (uint8_t *)registry_metadata(r);
        e->peer.metadata.len = r->metadata_len;
    }
    b->naddrs += r->naddrs;
    e->reg.has_ns = 1;
    e->reg.ns.data = (uint8_t *)r->ns->name;
    e->reg.ns.len = r->ns->len;
    e->reg.peer = &e->peer;
    /* The entry as field 2 of the Message: tag, length, body. Only used to
     * decide where a batch ends; the Message itself is packed by protobuf-c. */
    size_t body = protobuf_c_message_get_packed_size(&e->reg.base);
    b->size += 1 + uvarint_size(body) + body;
    b->n++;
}

void push_batch_drop_last(struct push_batch *b)
{
    if (b->n == 0)
        return;
    b->n--;
    b->naddrs = b->e[b->n].addr0;
    b->size = b->e[b->n].size0;
}

struct push_buf *push_batch_take(struct push_batch *b, bool announcement)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    for (size_t i = 0; i < b->n; i++) {
        struct push_entry *e = &b->e[i];
        e->peer.id.data = (uint8_t *)e->id;
        e->peer.addrs = b->addrs + e->addr0;
        e->reg.peer = &e->peer;
        b->ptrs[i] = &e->reg;
    }
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.n_register_ = b->n;
    m.register_ = b->ptrs;
    struct push_buf *out = push_wire_pack(&m, announcement);
    push_batch_clear(b);
    return out;
}

void push_batch_clear(struct push_batch *b) { b->n = b->naddrs = b->size = 0; }

void push_batch_free(struct push_batch *b)
{
    free(b->e);
    free(b->ptrs);
    free(b->addrs);
    memset(b, 0, sizeof(*b));
}

struct push_buf *push_wire_unregister(const struct rdv_reg *r)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Unregister u = PUSH__MESSAGE__UNREGISTER__INIT;
    Push__Message__Unregister *up = &u;
    Push__Message__Peer peer = PUSH__MESSAGE__PEER__INIT;
    char id[PEERID_TEXT_MAX];
    int idlen = peerid_to_text(&r->peer, id, sizeof(id));

    peer.has_id = 1;
    peer.id.data = (uint8_t *)id;
    peer.id.len = idlen > 0 ? (size_t)idlen : 0;
    u.has_ns = 1;
    u.ns.data = (uint8_t *)r->ns->name;
    u.ns.len = r->ns->len;
    u.peer = &peer;
    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    m.n_unregister = 1;
    m.unregister = &up;
    return push_wire_pack(&m, true);
}

struct push_buf *push_wire_status(Push__Message__MessageType type,
                                  Push__Message__ResponseStatus status, const char *text)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    m.has_type = 1;
    m.type = type;
    m.has_status = 1;
    m.status = status;
    m.statustext = (char *)text;
    return push_wire_pack(&m, false);
}
