/* libFuzzer target for /vac/waku/rendezvous/0.0.1 request handling. waku.c
 * is included (h2o-style) so its dialect, waku_dialect, can be driven through
 * records_handle() without a host; every input runs against a fresh registry:
 *   1. the whole input as one request;
 *   2. the input as a stream of length-prefixed requests, after a few real
 *      registrations (Waku and standard ones, signed and not), with expiry
 *      run in between;
 *   3. a REGISTER whose envelope is correctly signed for the sender, with
 *      namespace, TTL (negative ones too) and record dialect from the input,
 *      then a DISCOVER with the input's limit.
 * Every answer must be one framed Message of a Waku response type with
 * status written; OK REGISTER answers carry a TTL within the Waku bounds,
 * OK DISCOVER answers hold at most limit distinct, complete entries of the
 * namespace, all within 1 MiB. Crashes, sanitizer reports, leaks and broken
 * invariants (abort) are findings.
 *
 * The two identities and their signed records are made once per process:
 * Ed25519 signatures are deterministic, so every input would sign the same
 * bytes again (the server still verifies the signed REGISTER of step 3).
 * libsodium's randomness (the registry's hash key, samples) comes from the
 * input (fuzz_rng.h), so an input runs the same way alone or after others. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/lpm.h"
#include "crypto/record.h"
#include "rendezvous/waku.c"
#include "fuzz_check.h"
#include "fuzz_ids.h"
#include "fuzz_rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Made once: the two identities and their records (seq 9, /ip4/10.0.0.7/tcp/60000). */
static struct fuzz_ids fz_ids;

struct fz {
    struct rdv_service s;
    const struct peer_id *me, *them;
    double now;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const uint8_t ma[] = {0x04, 10, 0, 0, 7, 0x06, 0xea, 0x60}; /* /ip4/10.0.0.7/tcp/60000 */
    (void)argc;
    (void)argv;
    CHECK(fuzz_rng_install() == 0);
    fuzz_ids_init(&fz_ids, 3, 9, ma, sizeof ma);
    return 0;
}

static void fz_init(struct fz *f)
{
    memset(f, 0, sizeof *f);
    rdv_config_default(&f->s.cfg);
    f->s.cfg.waku_discover_max = 40;
    registry_init(&f->s.reg, &f->s.cfg.limits, 1000, NULL, NULL);
    f->me = &fz_ids.id[0];
    f->them = &fz_ids.id[1];
    f->now = 5000.0;
}

/* Checks every framed answer in out; limit is the DISCOVER limit asked
 * for (0: unknown). */
static void fz_check(const struct fz *f, const struct buf *out, uint64_t limit)
{
    struct lpm r;
    const uint8_t *msg;
    size_t len;
    int rc;
    if (buf_size(out) == 0)
        return;
    lpm_init(&r, 1u << 20);
    lpm_push(&r, buf_head(out), buf_size(out));
    while ((rc = lpm_next(&r, &msg, &len)) == 1) {
        CHECK(len <= RECORDS_MAX_RESPONSE);
        Waku__Message *m = waku__message__unpack(NULL, len, msg);
        CHECK(m != NULL && m->has_type);
        if (m->type == WAKU__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE) {
            const Waku__Message__RegisterResponse *rr = m->registerresponse;
            CHECK(rr != NULL && rr->has_status);
            if (rr->status == WST_OK)
                CHECK(rr->has_ttl && rr->ttl >= 1 && (uint64_t)rr->ttl <= f->s.cfg.waku_ttl_max);
            else
                CHECK(!rr->has_ttl && rr->statustext);
        } else {
            CHECK(m->type == WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE);
            const Waku__Message__DiscoverResponse *dr = m->discoverresponse;
            CHECK(dr != NULL && dr->has_status);
            if (dr->status == WST_OK) {
                CHECK(dr->n_registrations <= f->s.cfg.waku_discover_max);
                if (limit)
                    CHECK(dr->n_registrations <= limit);
                for (size_t i = 0; i < dr->n_registrations; i++) {
                    const Waku__Message__Register *g = dr->registrations[i];
                    CHECK(g->ns && g->has_signedpeerrecord && g->has_ttl && g->ttl >= 1);
                    CHECK(strcmp(g->ns, dr->registrations[0]->ns) == 0);
                    for (size_t k = 0; k < i; k++) /* a sample never repeats an entry */
                        CHECK(g->signedpeerrecord.data != dr->registrations[k]->signedpeerrecord.data);
                }
            } else {
                CHECK(dr->n_registrations == 0 && dr->statustext);
            }
        }
        waku__message__free_unpacked(m, NULL);
    }
    CHECK(rc == 0 && buf_size(&r.in) == 0);
    lpm_free(&r);
}

static void fz_handle(struct fz *f, const struct peer_id *from, const uint8_t *msg, size_t len,
                      uint64_t limit)
{
    struct buf out = BUF_INIT;
    bool added;
    if (records_handle(&waku_dialect, &f->s, from, f->now, msg, len, &out, &added) == 0)
        fz_check(f, &out, limit);
    else
        CHECK(buf_size(&out) == 0 && !added);
    buf_free(&out);
}

/* A REGISTER of key k's own record (k: 0 me, 1 them; dialect) in ns. */
static void fz_register_msg(struct buf *msg, int k, bool legacy, const char *ns, bool has_ttl,
                            int64_t ttl, bool has_type)
{
    const struct buf *env = &fz_ids.env[k][legacy];
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__Register r = WAKU__MESSAGE__REGISTER__INIT;
    m.has_type = has_type;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__REGISTER;
    m.register_ = &r;
    r.ns = (char *)ns;
    r.has_signedpeerrecord = 1;
    r.signedpeerrecord.data = buf_head(env);
    r.signedpeerrecord.len = buf_size(env);
    r.has_ttl = has_ttl;
    r.ttl = ttl;
    buf_reset(msg);
    buf_commit(msg, waku__message__pack(&m, buf_reserve(msg, waku__message__get_packed_size(&m))));
}

static void fz_discover_msg(struct buf *msg, const char *ns, bool has_limit, int64_t limit)
{
    Waku__Message m = WAKU__MESSAGE__INIT;
    Waku__Message__Discover d = WAKU__MESSAGE__DISCOVER__INIT;
    m.has_type = 1;
    m.type = WAKU__MESSAGE__MESSAGE_TYPE__DISCOVER;
    m.discover = &d;
    d.ns = (char *)ns;
    d.has_limit = has_limit;
    d.limit = limit;
    buf_reset(msg);
    buf_commit(msg, waku__message__pack(&m, buf_reserve(msg, waku__message__get_packed_size(&m))));
}

/* Registrations of every kind in "chat": Waku, standard (TTL) and push
 * (session-bound, unsigned), so samples must skip the unsigned one. The
 * Waku one is stored as records_register stores an accepted REGISTER (5 s),
 * without verifying the same fixed signature again for every input:
 * fz_structured sends a signed REGISTER through records_handle each time. */
static void fz_populate(struct fz *f, struct rdv_session *sess)
{
    const struct buf *env = &fz_ids.env[0][0];
    struct rdv_register waku = {.ns = "chat", .ns_len = 4, .peer = f->me,
                                .dialect = RDV_DIALECT_WAKU, .addrs = &fz_ids.addr[0][0],
                                .naddrs = 1, .envelope = buf_head(env),
                                .envelope_len = buf_size(env), .ttl = 5, .now = f->now};
    CHECK(rdv_service_register(&f->s, &waku, &f->s.write_ticket) == RDV_OK);

    env = &fz_ids.env[1][1];
    struct rdv_register std = {.ns = "chat", .ns_len = 4, .peer = f->them,
                               .dialect = RDV_DIALECT_STANDARD, .envelope = buf_head(env),
                               .envelope_len = buf_size(env), .ttl = 3600, .now = f->now};
    CHECK(registry_register(&f->s.reg, &std, NULL) == RDV_OK);

    struct peer_id third = *f->them;
    third.b[third.len - 1] ^= 1;
    registry_session_init(sess);
    struct rdv_register push = {.ns = "chat", .ns_len = 4, .peer = &third,
                                .dialect = RDV_DIALECT_PUSH, .owner = sess, .now = f->now};
    CHECK(registry_register(&f->s.reg, &push, NULL) == RDV_OK);
}

static void fz_stream(struct fz *f, const uint8_t *data, size_t size)
{
    struct lpm r;
    const uint8_t *m;
    size_t len;
    lpm_init(&r, f->s.cfg.max_message);
    lpm_push(&r, data, size);
    for (int n = 0; lpm_next(&r, &m, &len) == 1; n++) {
        fz_handle(f, n % 2 ? f->me : f->them, m, len, 0);
        f->now += 2;
        registry_expire(&f->s.reg, f->now);
    }
    lpm_free(&r);
}

static void fz_structured(struct fz *f, const uint8_t *data, size_t size)
{
    if (size < 11)
        return;
    uint8_t flags = data[0], nslen = data[1] % 40;
    int64_t v;
    memcpy(&v, data + 2, sizeof v); /* TTL and limit, negative ones included */
    data += 10;
    size -= 10;
    if (nslen > size)
        nslen = (uint8_t)size;
    char ns[41];
    memcpy(ns, data, nslen);
    ns[nslen] = '\0';

    struct buf msg = BUF_INIT;
    int64_t ttl = flags & 4 ? v : v % 40;
    fz_register_msg(&msg, flags & 1, flags & 2, ns, flags & 8, ttl, flags & 64);
    fz_handle(f, f->me, buf_head(&msg), buf_size(&msg), 0);
    int64_t limit = flags & 16 ? v : v % 8;
    fz_discover_msg(&msg, flags & 32 ? "chat" : ns, flags & 128, limit);
    fz_handle(f, f->them, buf_head(&msg), buf_size(&msg),
              (flags & 128) && limit > 0 ? (uint64_t)limit : 0);
    buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;
    struct rdv_session sess;
    if (size > (1u << 20))
        return 0;

    fuzz_rng_reset_input(data, size);
    fz_init(&f);
    fz_populate(&f, &sess);
    fz_handle(&f, f.me, data, size, 0);
    fz_stream(&f, data, size);
    fz_structured(&f, data, size);
    CHECK(f.s.stats.sessions_open[RDV_DIALECT_WAKU] == 0);
    registry_session_end(&f.s.reg, &sess);
    registry_free(&f.s.reg);
    return 0;
}
