/* Client side of the push dialect (/rendezvous/legacy/1.0.0, WIRE.md §2.3):
 * framed requests out, announcements in. Decoding uses protobuf-c with a
 * bump allocator that is reset per message, so receiving costs no malloc. */
#include <stdlib.h>
#include <string.h>

#include "base/lpm.h"
#include "base/mem.h"
#include "bench.h"
#include "push.pb-c.h"

#define PUSHC_MAX_MSG 1024

static void pushc_emit(struct buf *out, const Push__Message *m)
{
    uint8_t tmp[PUSHC_MAX_MSG];
    size_t n = push__message__get_packed_size(m);
    if (n > sizeof(tmp))
        abort(); /* the bench only sends small fixed shapes */
    push__message__pack(m, tmp);
    lpm_frame(out, tmp, n);
}

void pushc_seq_addr(uint8_t out[8], uint32_t seq)
{
    out[0] = 0x04; /* ip4 */
    out[1] = (uint8_t)(seq >> 24);
    out[2] = (uint8_t)(seq >> 16);
    out[3] = (uint8_t)(seq >> 8);
    out[4] = (uint8_t)seq;
    out[5] = 0x06; /* tcp */
    out[6] = 0x00;
    out[7] = 0x01;
}

void pushc_register(struct buf *out, const char *ns, const uint8_t *addr, size_t addr_len)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Register r = PUSH__MESSAGE__REGISTER__INIT;
    Push__Message__Peer p = PUSH__MESSAGE__PEER__INIT;
    Push__Message__Register *rs[1] = {&r};
    ProtobufCBinaryData a = {addr_len, (uint8_t *)addr};

    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.n_register_ = 1;
    m.register_ = rs;
    r.has_ns = 1;
    r.ns.data = (uint8_t *)ns;
    r.ns.len = strlen(ns);
    r.peer = &p; /* no id: "me" */
    if (addr) {
        p.n_addrs = 1;
        p.addrs = &a;
    }
    pushc_emit(out, &m);
}

void pushc_unregister(struct buf *out, const char *ns)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Unregister u = PUSH__MESSAGE__UNREGISTER__INIT;
    Push__Message__Unregister *us[1] = {&u};

    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER;
    m.n_unregister = 1;
    m.unregister = us;
    u.has_ns = 1;
    u.ns.data = (uint8_t *)ns;
    u.ns.len = strlen(ns);
    pushc_emit(out, &m);
}

void pushc_rendezvous(struct buf *out, const char *ns)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Rendezvous r = PUSH__MESSAGE__RENDEZVOUS__INIT;
    Push__Message__Rendezvous *rs[1] = {&r};

    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__RENDEZVOUS;
    m.n_rendezvous = 1;
    m.rendezvous = rs;
    r.has_ns = 1;
    r.ns.data = (uint8_t *)ns;
    r.ns.len = strlen(ns);
    pushc_emit(out, &m);
}

void pushc_discover(struct buf *out, const char *ns, int64_t limit)
{
    Push__Message m = PUSH__MESSAGE__INIT;
    Push__Message__Discover d = PUSH__MESSAGE__DISCOVER__INIT;
    Push__Message__Discover *ds[1] = {&d};

    m.has_type = 1;
    m.type = PUSH__MESSAGE__MESSAGE_TYPE__DISCOVER;
    m.n_discovery = 1;
    m.discovery = ds;
    d.has_ns = 1;
    d.ns.data = (uint8_t *)ns;
    d.ns.len = strlen(ns);
    d.has_limit = 1;
    d.limit = limit;
    pushc_emit(out, &m);
}

static void peer_seq(const Push__Message__Peer *p, struct pushc_msg *out)
{
    if (p == NULL || p->n_addrs == 0 || p->addrs[0].len != 8)
        return;
    const uint8_t *a = p->addrs[0].data;
    if (a[0] != 0x04 || a[5] != 0x06)
        return;
    out->has_seq = true;
    out->seq = (uint32_t)a[1] << 24 | (uint32_t)a[2] << 16 | (uint32_t)a[3] << 8 | a[4];
}

int pushc_decode(struct arena *a, const uint8_t *msg, size_t n, struct pushc_msg *out)
{
    memset(out, 0, sizeof(*out));
    arena_free(a); /* the previous message's */
    Push__Message *m = push__message__unpack(&a->pb, n, msg);
    if (m == NULL) {
        out->kind = PC_ERROR;
        return -1;
    }
    out->status = m->has_status ? (int)m->status : 0;
    if (m->type == PUSH__MESSAGE__MESSAGE_TYPE__REGISTER) {
        out->kind = PC_REGISTER;
        out->entries = m->n_register_;
        if (m->n_register_ > 0)
            peer_seq(m->register_[0]->peer, out);
    } else if (m->type == PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER) {
        out->kind = PC_UNREGISTER;
        out->entries = m->n_unregister;
        if (m->n_unregister > 0)
            peer_seq(m->unregister[0]->peer, out);
    } else {
        out->kind = PC_OTHER;
    }
    return 0;
}
