/* REGISTER through the shared signed-record path (records.c) of both
 * dialects, driven without a host: a refresh with the stored envelope's
 * exact bytes skips verification and still works; any other envelope, even
 * one differing by a byte, is fully verified. rdv1.c and waku.c are
 * included (h2o-style) for their dialect descriptors. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include <sodium.h>

#include "crypto/record.h"

#include "rendezvous/rdv1.c"
#include "rendezvous/waku.c"

struct fx {
    struct rdv_service s;
    struct privkey key, other;
    struct peer_id me, them;
    double now;
};

/* /ip4/10.0.0.<last>/tcp/4001 */
static void fx_addr(uint8_t ma[8], uint8_t last)
{
    const uint8_t tmpl[8] = {0x04, 10, 0, 0, 0, 0x06, 0x0f, 0xa1};
    memcpy(ma, tmpl, 8);
    ma[4] = last;
}

static void fx_key(struct privkey *k, struct peer_id *id)
{
    struct pubkey pub;
    privkey_generate(k);
    privkey_public(k, &pub);
    assert_int_equal(peerid_from_pubkey(id, &pub), 0);
}

static int fx_setup(void **state)
{
    struct fx *f = test_calloc(1, sizeof *f);
    assert_true(sodium_init() >= 0);
    rdv_config_default(&f->s.cfg);
    registry_init(&f->s.reg, &f->s.cfg.limits, 1000, NULL, NULL);
    fx_key(&f->key, &f->me);
    fx_key(&f->other, &f->them);
    f->now = 5000.0;
    *state = f;
    return 0;
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    registry_free(&f->s.reg);
    test_free(f);
    return 0;
}

/* k's signed record (sequence seq) with one address ending in `last`. */
static void fx_envelope(struct buf *env, const struct privkey *k, uint64_t seq, uint8_t last)
{
    uint8_t ma[8];
    fx_addr(ma, last);
    struct record_addr a = {ma, sizeof ma};
    buf_reset(env);
    record_seal(k, RECORD_STANDARD, seq, &a, 1, env);
}

/* REGISTER in the given dialect; returns the answer's status and its TTL. */
static int fx_register(struct fx *f, bool waku, const struct peer_id *from, const char *ns,
                       const struct buf *env, uint64_t ttl, int64_t *ttl_out)
{
    struct buf msg = BUF_INIT, out = BUF_INIT;
    bool added;
    int status;
    if (waku) {
        Waku__Message m = WAKU__MESSAGE__INIT;
        Waku__Message__Register r = WAKU__MESSAGE__REGISTER__INIT;
        m.register_ = &r;
        r.ns = (char *)ns;
        r.has_signedpeerrecord = 1;
        r.signedpeerrecord.data = (uint8_t *)buf_head(env);
        r.signedpeerrecord.len = buf_size(env);
        r.has_ttl = ttl != 0;
        r.ttl = (int64_t)ttl;
        size_t n = waku__message__get_packed_size(&m);
        buf_commit(&msg, waku__message__pack(&m, buf_reserve(&msg, n)));
    } else {
        Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
        Rendezvous__Message__Register r = RENDEZVOUS__MESSAGE__REGISTER__INIT;
        m.register_ = &r;
        r.ns = (char *)ns;
        r.has_signedpeerrecord = 1;
        r.signedpeerrecord.data = (uint8_t *)buf_head(env);
        r.signedpeerrecord.len = buf_size(env);
        r.has_ttl = ttl != 0;
        r.ttl = ttl;
        size_t n = rendezvous__message__get_packed_size(&m);
        buf_commit(&msg, rendezvous__message__pack(&m, buf_reserve(&msg, n)));
    }
    assert_int_equal(records_handle(waku ? &waku_dialect : &rdv1_dialect, &f->s, from, f->now,
                                    buf_head(&msg), buf_size(&msg), &out, &added), 0);

    /* skip the length prefix: answers are far below 128 bytes */
    assert_true(buf_size(&out) > 1 && buf_head(&out)[0] == buf_size(&out) - 1);
    if (waku) {
        Waku__Message *a = waku__message__unpack(NULL, buf_size(&out) - 1, buf_head(&out) + 1);
        assert_non_null(a);
        assert_non_null(a->registerresponse);
        status = a->registerresponse->status;
        *ttl_out = a->registerresponse->ttl;
        waku__message__free_unpacked(a, NULL);
    } else {
        Rendezvous__Message *a =
            rendezvous__message__unpack(NULL, buf_size(&out) - 1, buf_head(&out) + 1);
        assert_non_null(a);
        assert_non_null(a->registerresponse);
        status = a->registerresponse->status;
        *ttl_out = (int64_t)a->registerresponse->ttl;
        rendezvous__message__free_unpacked(a, NULL);
    }
    assert_int_equal(added, status == RECORDS_OK);
    buf_free(&msg);
    buf_free(&out);
    return status;
}

static void fx_assert_addr(const struct fx *f, const struct peer_id *peer, const char *ns,
                           uint8_t last)
{
    uint8_t ma[8];
    fx_addr(ma, last);
    const struct rdv_reg *r = registry_find(&f->s.reg, ns, strlen(ns), peer);
    assert_non_null(r);
    assert_int_equal(r->naddrs, 1);
    assert_int_equal(r->addrs[0].len, sizeof ma);
    assert_memory_equal(r->addrs[0].bytes, ma, sizeof ma);
}

static void refresh(struct fx *f, bool waku, uint64_t ttl)
{
    struct buf env = BUF_INIT, other = BUF_INIT;
    int64_t got;

    fx_envelope(&env, &f->key, 1, 1);
    assert_int_equal(fx_register(f, waku, &f->me, "chat", &env, ttl, &got), RECORDS_OK);
    assert_int_equal(got, ttl);
    uint64_t seq = registry_find(&f->s.reg, "chat", 4, &f->me)->seq;

    /* the same bytes again: a refresh (new seq, same addresses) */
    f->now += 1;
    assert_int_equal(fx_register(f, waku, &f->me, "chat", &env, ttl, &got), RECORDS_OK);
    const struct rdv_reg *r = registry_find(&f->s.reg, "chat", 4, &f->me);
    assert_true(r->seq > seq);
    assert_true(registry_expires(r) == f->now + (double)ttl);
    fx_assert_addr(f, &f->me, "chat", 1);

    /* still subject to the TTL policy */
    assert_int_equal(fx_register(f, waku, &f->me, "chat", &env, 1000000, &got), RECORDS_E_TTL);

    /* one byte changed anywhere: verified, and refused */
    for (size_t i = 0; i < buf_size(&env); i += 7) {
        buf_reset(&other);
        buf_append(&other, buf_head(&env), buf_size(&env));
        buf_head(&other)[i] ^= 0x01;
        int st = fx_register(f, waku, &f->me, "chat", &other, ttl, &got);
        assert_true(st == RECORDS_E_RECORD || st == RECORDS_E_AUTH);
    }
    /* the tampered ones changed nothing */
    fx_assert_addr(f, &f->me, "chat", 1);

    /* the same bytes sent by another peer are that peer's claim: refused */
    assert_int_equal(fx_register(f, waku, &f->them, "chat", &env, ttl, &got), RECORDS_E_AUTH);
    assert_null(registry_find(&f->s.reg, "chat", 4, &f->them));

    /* a new valid record is verified and its addresses replace the old */
    fx_envelope(&other, &f->key, 2, 2);
    assert_int_equal(fx_register(f, waku, &f->me, "chat", &other, ttl, &got), RECORDS_OK);
    fx_assert_addr(f, &f->me, "chat", 2);
    buf_free(&env);
    buf_free(&other);
}

static void rdv1_refresh(void **state) { refresh(*state, false, 7200); }
static void waku_refresh(void **state) { refresh(*state, true, 20); }

/* White-box: the identical-bytes path really skips record_open. An
 * envelope that could never verify, planted in the registry as if it had
 * been verified, is accepted when its exact bytes come back from the same
 * peer in the same namespace, and refused anywhere else. */
static void identical_bytes_skip_verification(void **state)
{
    struct fx *f = *state;
    static const uint8_t junk[] = "not an envelope";
    uint8_t ma[8];
    fx_addr(ma, 9);
    struct rdv_addr a = {ma, sizeof ma};
    struct rdv_register plant = {
        .ns = "chat", .ns_len = 4, .peer = &f->me, .dialect = RDV_DIALECT_STANDARD,
        .addrs = &a, .naddrs = 1, .envelope = junk, .envelope_len = sizeof junk,
        .ttl = 60, .now = f->now,
    };
    assert_int_equal(registry_register(&f->s.reg, &plant, NULL), RDV_OK);

    struct buf env = BUF_INIT;
    int64_t got;
    buf_append(&env, junk, sizeof junk);
    assert_int_equal(fx_register(f, false, &f->me, "chat", &env, 60, &got), RECORDS_OK);
    fx_assert_addr(f, &f->me, "chat", 9);
    assert_int_equal(fx_register(f, true, &f->me, "chat", &env, 20, &got), RECORDS_OK);
    fx_assert_addr(f, &f->me, "chat", 9);
    assert_int_equal(registry_find(&f->s.reg, "chat", 4, &f->me)->dialect, RDV_DIALECT_WAKU);

    /* other namespace, other peer, a byte shorter: fully verified, refused */
    assert_int_equal(fx_register(f, false, &f->me, "other", &env, 60, &got), RECORDS_E_RECORD);
    assert_int_equal(fx_register(f, false, &f->them, "chat", &env, 60, &got), RECORDS_E_RECORD);
    buf_reset(&env);
    buf_append(&env, junk, sizeof junk - 1);
    assert_int_equal(fx_register(f, true, &f->me, "chat", &env, 20, &got), RECORDS_E_RECORD);
    fx_assert_addr(f, &f->me, "chat", 9);
    buf_free(&env);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rdv1_refresh, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(waku_refresh, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(identical_bytes_skip_verification, fx_setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
