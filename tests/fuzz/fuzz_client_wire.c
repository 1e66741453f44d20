/* libFuzzer target for librendezvous's decoding of what a server sends
 * (src/client/wire.c) and of the member sets built from it (members.c): a
 * hostile server must not crash a client or make it keep more than the
 * message gave.
 *
 * Input: a selector byte, then one message body (no length prefix):
 *   0-2: a standard answer to REGISTER, DISCOVER, UNREGISTER;
 *   3-5: the same as a Waku answer (each decoded also twice through a
 *        record cache, which must give the same);
 *   else: a push Message, whose entries then go through a subscription's
 *         member set as live events (the told set) and as a snapshot (the
 *         now set), and the two are reconciled as after a reconnect;
 *         selectors 6-127 bound both sets to a few members (a client's
 *         max_members), 128-255 leave them unbounded. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "client/members.h"
#include "client/wire.h"
#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fz_event(void *arg, const struct member *m)
{
    size_t *n = arg;
    CHECK(m->reg.peer_id != NULL && m->reg.naddrs <= WIRE_MAX_ADDRS);
    (*n)++;
}

static void fz_answer(bool waku, enum wire_op op, const uint8_t *d, size_t n)
{
    struct wire_answer a;
    if (wire_answer_decode(waku, op, d, n, &a) < 0)
        return;
    CHECK(a.nregs == 0 || op == WIRE_DISCOVER);
    for (size_t i = 0; i < a.nregs; i++) {
        CHECK(a.regs[i].ns && a.regs[i].peer_id);
        CHECK(a.regs[i].naddrs <= WIRE_MAX_ADDRS);
        for (size_t k = 0; k < a.regs[i].naddrs; k++)
            CHECK(a.regs[i].addrs[k] && a.regs[i].addrs[k][0] == '/');
    }
    CHECK(a.cookie_len <= n);
    /* Twice through a record cache: the second time from the cache, with
     * the same outcome. */
    struct wire_record_cache rc = {0};
    struct wire_answer b, c;
    CHECK(wire_answer_decode_cached(&rc, waku, op, d, n, &b) == 0);
    CHECK(wire_answer_decode_cached(&rc, waku, op, d, n, &c) == 0);
    CHECK(b.nregs == a.nregs && c.nregs == a.nregs && rc.n <= WIRE_RECORD_CACHE_ENTRIES);
    for (size_t i = 0; i < a.nregs; i++) {
        CHECK(strcmp(b.regs[i].peer_id, a.regs[i].peer_id) == 0);
        CHECK(strcmp(c.regs[i].peer_id, a.regs[i].peer_id) == 0);
        CHECK(c.regs[i].naddrs == a.regs[i].naddrs);
        for (size_t k = 0; k < a.regs[i].naddrs; k++)
            CHECK(strcmp(c.regs[i].addrs[k], a.regs[i].addrs[k]) == 0);
    }
    wire_answer_free(&b);
    wire_answer_free(&c);
    wire_record_cache_free(&rc);
    wire_answer_free(&a);
}

#define FZ_MAX_MEMBERS 4

static void fz_push(const uint8_t *d, size_t n, bool bounded)
{
    Push__Message *m = push__message__unpack(NULL, n, d);
    struct wire_push w;
    size_t max = bounded ? FZ_MAX_MEMBERS : 0;
    struct members told = {.max = max}, now = {.max = max};
    size_t events = 0;

    if (m == NULL)
        return;
    wire_push_decode(m, &w);
    push__message__free_unpacked(m, NULL);
    for (size_t i = 0; i < w.nregs; i++) {
        struct wire_reg copy = {0}, *r = &w.regs[i];
        CHECK(r->ns && r->peer_id && r->naddrs <= WIRE_MAX_ADDRS);
        if (r->peer_id[0] == '\0')
            continue; /* the client ignores entries without a valid id */
        if (w.type == PUSH__MESSAGE__MESSAGE_TYPE__UNREGISTER) {
            members_remove(&told, r->peer_id);
            members_remove(&now, r->peer_id);
            continue;
        }
        /* One copy to each set: every other entry to both. */
        copy.peer_id = strdup(r->peer_id);
        copy.ns = strdup(r->ns);
        if (i % 2 != 0 || members_put(&now, &copy) == MEMBER_FULL)
            wire_reg_free(&copy); /* not taken */
        members_put(&told, r);     /* not taken when full: freed with w */
        CHECK(!bounded || (told.n <= max && now.n <= max));
    }
    size_t told_n = told.n, now_n = now.n;
    members_adopt(&told, &now, fz_event, fz_event, &events);
    CHECK(told.n == now_n && now.n == 0);
    CHECK(events <= told_n + now_n);
    members_clear(&told);
    wire_push_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t sel = data[0];
    if (sel < 6)
        fz_answer(sel >= 3, (enum wire_op)(sel % 3), data + 1, size - 1);
    else
        fz_push(data + 1, size - 1, sel < 128);
    return 0;
}
