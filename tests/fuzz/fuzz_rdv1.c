/* libFuzzer target for /rendezvous/1.0.0 request handling. rdv1.c is
 * included (h2o-style) so its dialect, rdv1_dialect, can be driven through
 * records_handle() without a host; every input runs against a fresh registry:
 *   1. the whole input as one request;
 *   2. the input as a stream of length-prefixed requests from one peer,
 *      after a few real registrations, so DISCOVER paging, cookies and
 *      UNREGISTER act on live entries, with expiry run in between;
 *   3. a REGISTER whose envelope is correctly signed for the sender (random
 *      bytes never verify) with namespace, TTL and record dialect taken from
 *      the input, then DISCOVERs with the input's limit and cookie bytes and
 *      with the cookie the server returned.
 * Every answer must be one framed Message of a response type with status
 * written; OK REGISTER answers carry the TTL, OK DISCOVER answers a cookie
 * of the query's namespace and complete entries, all within 1 MiB. Crashes,
 * sanitizer reports, leaks and broken invariants (abort) are findings.
 *
 * The two identities and their signed records are made once per process:
 * Ed25519 signatures are deterministic, so every input would sign the same
 * bytes again (the server still verifies each REGISTER it gets). libsodium's
 * randomness (the registry's hash key) comes from the input (fuzz_rng.h),
 * so an input runs the same way alone or after others. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/lpm.h"
#include "crypto/record.h"
#include "rendezvous/rdv1.c"
#include "fuzz_check.h"
#include "fuzz_ids.h"
#include "fuzz_rng.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Made once: the two identities and their records (seq 7, /ip4/10.0.0.1/tcp/4001). */
static struct fuzz_ids fz_ids;

struct fz {
    struct rdv_service s;
    const struct peer_id *me, *them;
    double now;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static const uint8_t ma[] = {0x04, 10, 0, 0, 1, 0x06, 0x0f, 0xa1}; /* /ip4/10.0.0.1/tcp/4001 */
    (void)argc;
    (void)argv;
    CHECK(fuzz_rng_install() == 0);
    fuzz_ids_init(&fz_ids, 1, 7, ma, sizeof ma);
    return 0;
}

static void fz_init(struct fz *f)
{
    memset(f, 0, sizeof *f);
    rdv_config_default(&f->s.cfg);
    f->s.cfg.limits.max_regs_per_peer = 64;
    f->s.cfg.discover_max = 50;
    registry_init(&f->s.reg, &f->s.cfg.limits, 1000, NULL, NULL);
    f->me = &fz_ids.id[0];
    f->them = &fz_ids.id[1];
    f->now = 5000.0;
}

/* Checks every framed answer in out (and that the frames fill it exactly);
 * returns the cookie of the last OK DISCOVER answer in cookie/clen. */
static void fz_check(const struct buf *out, uint8_t *cookie, size_t *clen)
{
    struct lpm r;
    const uint8_t *msg;
    size_t len;
    int rc;
    if (buf_size(out) == 0)
        return; /* UNREGISTER: nothing to answer */
    lpm_init(&r, 1u << 20);
    lpm_push(&r, buf_head(out), buf_size(out));
    while ((rc = lpm_next(&r, &msg, &len)) == 1) {
        CHECK(len <= RECORDS_MAX_RESPONSE);
        Rendezvous__Message *m = rendezvous__message__unpack(NULL, len, msg);
        CHECK(m != NULL && m->has_type);
        if (m->type == RENDEZVOUS__MESSAGE__MESSAGE_TYPE__REGISTER_RESPONSE) {
            const Rendezvous__Message__RegisterResponse *rr = m->registerresponse;
            CHECK(rr != NULL && rr->has_status);
            CHECK(rr->status == ST_OK ? rr->has_ttl && rr->ttl > 0 : !rr->has_ttl && rr->statustext);
        } else {
            CHECK(m->type == RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER_RESPONSE);
            const Rendezvous__Message__DiscoverResponse *dr = m->discoverresponse;
            CHECK(dr != NULL && dr->has_status);
            if (dr->status == ST_OK) {
                CHECK(dr->has_cookie && dr->cookie.len >= COOKIE_SEQ_LEN &&
                      dr->cookie.len <= COOKIE_MAX);
                for (size_t i = 0; i < dr->n_registrations; i++) {
                    const Rendezvous__Message__Register *g = dr->registrations[i];
                    CHECK(g->ns && g->has_signedpeerrecord && g->has_ttl && g->ttl >= 1);
                    if (dr->cookie.len > COOKIE_SEQ_LEN) /* a namespace query */
                        CHECK(strlen(g->ns) == dr->cookie.len - COOKIE_SEQ_LEN &&
                              memcmp(g->ns, dr->cookie.data + COOKIE_SEQ_LEN, strlen(g->ns)) == 0);
                }
                if (cookie) {
                    memcpy(cookie, dr->cookie.data, dr->cookie.len);
                    *clen = dr->cookie.len;
                }
            } else {
                CHECK(!dr->has_cookie && dr->n_registrations == 0 && dr->statustext);
            }
        }
        rendezvous__message__free_unpacked(m, NULL);
    }
    CHECK(rc == 0 && buf_size(&r.in) == 0);
    lpm_free(&r);
}

static void fz_handle(struct fz *f, const struct peer_id *from, const uint8_t *msg, size_t len,
                      uint8_t *cookie, size_t *clen)
{
    struct buf out = BUF_INIT;
    bool added;
    if (records_handle(&rdv1_dialect, &f->s, from, f->now, msg, len, &out, &added) == 0)
        fz_check(&out, cookie, clen);
    else
        CHECK(buf_size(&out) == 0 && !added);
    buf_free(&out);
}

/* A REGISTER of key k's own record (k: 0 me, 1 them; dialect) in ns. */
static void fz_register_msg(struct buf *msg, int k, bool legacy, const char *ns, bool has_ttl,
                            uint64_t ttl)
{
    const struct buf *env = &fz_ids.env[k][legacy];
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Register r = RENDEZVOUS__MESSAGE__REGISTER__INIT;
    m.register_ = &r; /* type absent: REGISTER, as proto3 senders write it */
    r.ns = (char *)ns;
    r.has_signedpeerrecord = 1;
    r.signedpeerrecord.data = buf_head(env);
    r.signedpeerrecord.len = buf_size(env);
    r.has_ttl = has_ttl;
    r.ttl = ttl;
    buf_reset(msg);
    buf_commit(msg, rendezvous__message__pack(&m, buf_reserve(msg, rendezvous__message__get_packed_size(&m))));
}

static void fz_discover_msg(struct buf *msg, const char *ns, bool has_limit, uint64_t limit,
                            const uint8_t *cookie, size_t clen)
{
    Rendezvous__Message m = RENDEZVOUS__MESSAGE__INIT;
    Rendezvous__Message__Discover d = RENDEZVOUS__MESSAGE__DISCOVER__INIT;
    m.has_type = 1;
    m.type = RENDEZVOUS__MESSAGE__MESSAGE_TYPE__DISCOVER;
    m.discover = &d;
    d.ns = (char *)ns;
    d.has_limit = has_limit;
    d.limit = limit;
    d.has_cookie = cookie != NULL;
    d.cookie.data = (uint8_t *)cookie;
    d.cookie.len = clen;
    buf_reset(msg);
    buf_commit(msg, rendezvous__message__pack(&m, buf_reserve(msg, rendezvous__message__get_packed_size(&m))));
}

/* Key k's record (legacy or not) registered in ns as records_register
 * stores an accepted REGISTER (ttl 0: the default), without verifying the
 * same fixed signature again for every input: fz_structured sends a signed
 * REGISTER through records_handle each time. */
static void fz_preregister(struct fz *f, int k, bool legacy, const char *ns, uint64_t ttl)
{
    const struct buf *env = &fz_ids.env[k][legacy];
    struct rdv_register r = {
        .ns = ns,
        .ns_len = strlen(ns),
        .peer = &fz_ids.id[k],
        .dialect = RDV_DIALECT_STANDARD,
        .addrs = &fz_ids.addr[k][legacy],
        .naddrs = 1,
        .envelope = buf_head(env),
        .envelope_len = buf_size(env),
        .ttl = ttl ? ttl : rdv1__default_ttl(&f->s.cfg),
        .now = f->now,
    };
    CHECK(rdv_service_register(&f->s, &r, &f->s.write_ticket) == RDV_OK);
}

static void fz_stream(struct fz *f, const uint8_t *data, size_t size)
{
    static const char *const names[] = {"a", "b", "chat", "x"};
    for (size_t i = 0; i < 4; i++)
        fz_preregister(f, i % 2, i == 3, names[i], i == 2 ? 60 : 0);

    struct lpm r;
    const uint8_t *m;
    size_t len;
    lpm_init(&r, f->s.cfg.max_message);
    lpm_push(&r, data, size);
    for (int n = 0; lpm_next(&r, &m, &len) == 1; n++) {
        fz_handle(f, n % 3 ? f->me : f->them, m, len, NULL, NULL);
        f->now += 7; /* past the 60 s registration after a few requests */
        registry_expire(&f->s.reg, f->now);
    }
    lpm_free(&r);
}

static void fz_structured(struct fz *f, const uint8_t *data, size_t size)
{
    if (size < 4)
        return;
    uint8_t flags = data[0], nslen = data[1] % 40, limit = data[2];
    data += 3;
    size -= 3;
    if (nslen > size)
        nslen = (uint8_t)size;
    char ns[41];
    memcpy(ns, data, nslen);
    ns[nslen] = '\0';
    data += nslen;
    size -= nslen;

    struct buf msg = BUF_INIT;
    uint8_t cookie[COOKIE_MAX];
    size_t clen = 0;
    uint64_t ttl = flags & 4 ? (uint64_t)limit * 3600u : limit;
    fz_register_msg(&msg, flags & 1, flags & 2, ns, flags & 8, ttl);
    fz_handle(f, f->me, buf_head(&msg), buf_size(&msg), NULL, NULL);
    /* the input's bytes as a cookie, then the server's own cookie */
    fz_discover_msg(&msg, flags & 16 ? NULL : ns, flags & 32, limit, data, size);
    fz_handle(f, f->me, buf_head(&msg), buf_size(&msg), cookie, &clen);
    fz_discover_msg(&msg, flags & 16 ? NULL : ns, flags & 32, limit, NULL, 0);
    fz_handle(f, f->them, buf_head(&msg), buf_size(&msg), cookie, &clen);
    if (clen) {
        fz_discover_msg(&msg, flags & 16 ? NULL : ns, true, 1, cookie, clen);
        fz_handle(f, f->them, buf_head(&msg), buf_size(&msg), NULL, NULL);
    }
    buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz f;
    if (size > (1u << 20))
        return 0;

    fuzz_rng_reset_input(data, size);
    fz_init(&f);
    fz_handle(&f, f.me, data, size, NULL, NULL);
    fz_stream(&f, data, size);
    fz_structured(&f, data, size);
    CHECK(f.s.stats.sessions_open[RDV_DIALECT_STANDARD] == 0);
    registry_free(&f.s.reg);
    return 0;
}
