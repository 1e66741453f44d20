/* The LMDB store against a real directory: every field of a registration
 * survives a close and a load, push registrations are never stored, what
 * expired while closed is dropped (and deleted), the sequence continues,
 * UNREGISTER and takeovers are recorded, changes of one iteration coalesce,
 * a full map grows, and a locked, damaged or foreign directory is refused
 * with its path and the reason. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lmdb.h>
#include <sodium.h>

#include "registry/registry.h"
#include "store/lmdb.h"
#include "store/store.h"
#include "peer_helpers.h"

static const uint8_t ADDR1[] = {0x04, 127, 0, 0, 1, 0x06, 0x0f, 0xa1};
static const uint8_t ADDR2[] = {0x04, 10, 0, 0, 2, 0x06, 0x0f, 0xa2};

struct fx {
    char dir[64];
    struct registry reg;
    struct store *st;
};


static void rm_dir(const char *dir)
{
    char path[128];
    const char *files[] = {"data.mdb", "lock.mdb", "rendezvousd.lock"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* A registry seeded at seq_seed with the store at f->dir loaded into it
 * (at `now`) and listening to it. */
static void fx_open(struct fx *f, uint64_t seq_seed, double now)
{
    char err[512];
    registry_init(&f->reg, NULL, seq_seed, NULL, NULL);
    f->st = store_lmdb_open(f->dir, 1u << 20, err, sizeof err);
    if (f->st == NULL)
        fail_msg("open: %s", err);
    if (store_load(f->st, &f->reg, now, err, sizeof err) != 0)
        fail_msg("load: %s", err);
    registry_listen(&f->reg, store_events(f->st), f->st);
}

static void fx_commit(struct fx *f)
{
    char err[512];
    if (store_commit(f->st, err, sizeof err) != 0)
        fail_msg("commit: %s", err);
    assert_false(store_pending(f->st));
}

static void fx_close(struct fx *f)
{
    store_close(f->st);
    registry_free(&f->reg);
    f->st = NULL;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->st)
        fx_close(f);
    rm_dir(f->dir);
    free(f);
    return 0;
}

static enum rdv_status reg_ttl(struct fx *f, const char *ns, unsigned peer, enum rdv_dialect d,
                               uint64_t ttl, double now, const uint8_t *env, size_t env_len,
                               size_t naddrs)
{
    struct peer_id p = mkpeer(peer);
    struct rdv_addr a[2] = {{ADDR1, sizeof ADDR1}, {ADDR2, sizeof ADDR2}};
    struct rdv_register q = {
        .ns = ns, .ns_len = strlen(ns), .peer = &p, .dialect = d, .addrs = a, .naddrs = naddrs,
        .envelope = env, .envelope_len = env_len, .ttl = ttl, .now = now,
    };
    return registry_register(&f->reg, &q, NULL);
}

static const struct rdv_reg *find(struct fx *f, const char *ns, unsigned peer)
{
    struct peer_id p = mkpeer(peer);
    return registry_find(&f->reg, ns, strlen(ns), &p);
}

/* ---- tests ----------------------------------------------------------------- */

static void round_trip_every_field(void **state)
{
    struct fx *f = *state;
    uint8_t env[300];
    randombytes_buf(env, sizeof env);
    struct rdv_session sess;
    struct peer_id pp = mkpeer(9);

    fx_open(f, 5000, 1000.0);
    assert_int_equal(reg_ttl(f, "chat", 1, RDV_DIALECT_STANDARD, 7200, 1000.25, env, sizeof env, 2), RDV_OK);
    assert_int_equal(reg_ttl(f, "wäku", 2, RDV_DIALECT_WAKU, 20, 1000.5, env, 17, 0), RDV_OK);
    registry_session_init(&sess);
    struct rdv_addr a = {ADDR1, sizeof ADDR1};
    struct rdv_register q = {.ns = "chat", .ns_len = 4, .peer = &pp, .dialect = RDV_DIALECT_PUSH,
                             .addrs = &a, .naddrs = 1, .owner = &sess};
    assert_int_equal(registry_register(&f->reg, &q, NULL), RDV_OK);
    const struct rdv_reg *s1 = find(f, "chat", 1), *s2 = find(f, "wäku", 2);
    uint64_t seq1 = s1->seq, seq2 = s2->seq;
    assert_true(store_pending(f->st));
    fx_commit(f);
    registry_session_end(&f->reg, &sess); /* push: nothing to write */
    assert_false(store_pending(f->st));
    assert_int_equal(f->st->stats.commits, 1);
    assert_int_equal(f->st->stats.changes, 3);  /* two puts, one delete of nothing */
    fx_close(f);

    fx_open(f, 1, 1001.0);
    assert_int_equal(f->st->stats.loaded, 2);
    assert_int_equal(f->reg.stats.regs, 2);
    const struct rdv_reg *g = find(f, "chat", 1);
    assert_non_null(g);
    assert_int_equal(g->seq, seq1);
    assert_int_equal(g->dialect, RDV_DIALECT_STANDARD);
    assert_int_equal(registry_ttl(g), 7200);
    assert_true(registry_expires(g) == 1000.25 + 7200);
    assert_null(g->owner);
    assert_int_equal(g->naddrs, 2);
    assert_memory_equal(g->addrs[0].bytes, ADDR1, sizeof ADDR1);
    assert_int_equal(g->addrs[1].len, sizeof ADDR2);
    assert_memory_equal(g->addrs[1].bytes, ADDR2, sizeof ADDR2);
    assert_int_equal(g->envelope_len, sizeof env);
    assert_memory_equal(g->envelope, env, sizeof env);
    g = find(f, "wäku", 2);
    assert_non_null(g);
    assert_int_equal(g->seq, seq2);
    assert_int_equal(g->dialect, RDV_DIALECT_WAKU);
    assert_int_equal(registry_ttl(g), 20);
    assert_true(registry_expires(g) == 1020.5);
    assert_int_equal(g->naddrs, 0);
    assert_memory_equal(g->envelope, env, 17);
    assert_null(find(f, "chat", 9));
    /* loaded in sequence order: DISCOVER pages as before */
    const struct rdv_reg *out[4];
    assert_int_equal(registry_list(&f->reg, NULL, 0, out, 4), 2);
    assert_int_equal(out[0]->seq, seq1);
    assert_int_equal(out[1]->seq, seq2);
    assert_int_equal(registry_list(&f->reg, NULL, seq1, out, 4), 1);
    assert_int_equal(out[0]->seq, seq2);
}

static void expired_while_closed(void **state)
{
    struct fx *f = *state;
    fx_open(f, 1, 1000.0);
    assert_int_equal(reg_ttl(f, "a", 1, RDV_DIALECT_STANDARD, 10, 1000.0, (const uint8_t *)"e", 1, 1), RDV_OK);
    assert_int_equal(reg_ttl(f, "a", 2, RDV_DIALECT_STANDARD, 100, 1000.0, (const uint8_t *)"e", 1, 1), RDV_OK);
    fx_commit(f);
    fx_close(f);

    fx_open(f, 1, 1050.0);   /* the first ran out at 1010 */
    assert_int_equal(f->st->stats.loaded, 1);
    assert_int_equal(f->st->stats.dropped_expired, 1);
    assert_null(find(f, "a", 1));
    assert_non_null(find(f, "a", 2));
    assert_true(registry_next_expiry(&f->reg) == 1100.0);  /* re-armed for the one left */
    fx_close(f);

    fx_open(f, 1, 1050.0);   /* and it was deleted at the first load */
    assert_int_equal(f->st->stats.loaded, 1);
    assert_int_equal(f->st->stats.dropped_expired, 0);
    /* expiry at run time is recorded too */
    assert_int_equal(registry_expire(&f->reg, 1200.0), 1);
    assert_true(store_pending(f->st));
    fx_commit(f);
    fx_close(f);
    fx_open(f, 1, 1050.0);
    assert_int_equal(f->st->stats.loaded, 0);
}

static void sequence_continues(void **state)
{
    struct fx *f = *state;
    fx_open(f, 1000000, 0);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(reg_ttl(f, "s", i, RDV_DIALECT_STANDARD, 60, 0, (const uint8_t *)"e", 1, 0), RDV_OK);
    uint64_t last = registry_last_seq(&f->reg);
    struct peer_id p = mkpeer(4);
    assert_int_equal(registry_unregister(&f->reg, "s", 1, &p, NULL), RDV_OK);
    fx_commit(f);
    fx_close(f);

    /* a clock that went back (seed below what was issued): the stored
     * counter wins, so a cookie of `last` is not from the future */
    fx_open(f, 10, 1.0);
    assert_int_equal(f->st->stats.loaded, 4);
    assert_true(registry_last_seq(&f->reg) >= last);
    assert_null(find(f, "s", 4));   /* the UNREGISTER was recorded */
    assert_int_equal(reg_ttl(f, "s", 7, RDV_DIALECT_STANDARD, 60, 1.0, (const uint8_t *)"e", 1, 0), RDV_OK);
    assert_true(find(f, "s", 7)->seq > last);
    /* a page from a cookie taken before the restart */
    const struct rdv_reg *out[8];
    assert_int_equal(registry_list(&f->reg, registry_ns(&f->reg, "s", 1), last - 3, out, 8), 3);
    assert_int_equal(out[0]->seq, last - 2);
    assert_int_equal(out[1]->seq, last - 1);
    assert_int_equal(out[2]->seq, find(f, "s", 7)->seq);
}

static void changes_coalesce_and_takeover_deletes(void **state)
{
    struct fx *f = *state;
    fx_open(f, 1, 0);
    assert_int_equal(reg_ttl(f, "c", 1, RDV_DIALECT_STANDARD, 60, 0, (const uint8_t *)"one", 3, 2), RDV_OK);
    assert_int_equal(reg_ttl(f, "c", 1, RDV_DIALECT_WAKU, 20, 0, (const uint8_t *)"two", 3, 1), RDV_OK);
    assert_int_equal(reg_ttl(f, "c", 2, RDV_DIALECT_STANDARD, 60, 0, (const uint8_t *)"x", 1, 0), RDV_OK);
    fx_commit(f);
    assert_int_equal(f->st->stats.changes, 2);  /* one per key */
    /* a push session takes (2, c) over: the stored one must go */
    struct rdv_session sess;
    struct peer_id p2 = mkpeer(2);
    registry_session_init(&sess);
    struct rdv_register q = {.ns = "c", .ns_len = 1, .peer = &p2, .dialect = RDV_DIALECT_PUSH, .owner = &sess};
    assert_int_equal(registry_register(&f->reg, &q, NULL), RDV_OK);
    fx_commit(f);
    registry_session_end(&f->reg, &sess);
    /* an unchanged re-register (a refresh) moves the seq and the expiry */
    assert_int_equal(reg_ttl(f, "c", 1, RDV_DIALECT_WAKU, 20, 50.0, (const uint8_t *)"two", 3, 1), RDV_OK);
    uint64_t refreshed = find(f, "c", 1)->seq;
    assert_true(store_pending(f->st));
    fx_commit(f);
    fx_close(f);

    fx_open(f, 1, 0);
    assert_int_equal(f->st->stats.loaded, 1);
    assert_int_equal(find(f, "c", 1)->seq, refreshed);
    assert_true(registry_expires(find(f, "c", 1)) == 70.0);
    const struct rdv_reg *g = find(f, "c", 1);
    assert_int_equal(g->dialect, RDV_DIALECT_WAKU);
    assert_int_equal(g->naddrs, 1);
    assert_memory_equal(g->envelope, "two", 3);
    assert_null(find(f, "c", 2));
}

static void full_map_grows(void **state)
{
    struct fx *f = *state;
    uint8_t env[2000];
    memset(env, 0xab, sizeof env);
    fx_open(f, 1, 0);
    size_t before = f->st->stats.map_size;
    char ns[16];
    for (unsigned i = 0; i < 1500; i++) {   /* ~3 MB into a 1 MiB map */
        snprintf(ns, sizeof ns, "n%u", i);
        assert_int_equal(reg_ttl(f, ns, i % 500, RDV_DIALECT_STANDARD, 60, 0, env, sizeof env, 2), RDV_OK);
    }
    fx_commit(f);
    assert_true(f->st->stats.map_size > before);
    fx_close(f);
    fx_open(f, 1, 0);
    assert_int_equal(f->st->stats.loaded, 1500);
}

static void refusals(void **state)
{
    struct fx *f = *state;
    char err[512], path[128];

    fx_open(f, 1, 0);
    /* a second user of the directory */
    assert_null(store_lmdb_open(f->dir, 1u << 20, err, sizeof err));
    assert_non_null(strstr(err, "in use by another rendezvousd"));
    assert_non_null(strstr(err, f->dir));
    assert_int_equal(store_lmdb_check(f->dir, err, sizeof err), 0);  /* checkable meanwhile */
    fx_close(f);

    /* damaged: the data file overwritten with noise */
    snprintf(path, sizeof path, "%s/data.mdb", f->dir);
    int fd = open(path, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    uint8_t noise[16384];
    randombytes_buf(noise, sizeof noise);
    assert_int_equal(write(fd, noise, sizeof noise), (ssize_t)sizeof noise);
    close(fd);
    assert_null(store_lmdb_open(f->dir, 1u << 20, err, sizeof err));
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "not an LMDB file"));
    assert_int_equal(store_lmdb_check(f->dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "not an LMDB file"));
    unlink(path);

    /* another program's LMDB environment */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {3, "key"}, v = {5, "value"};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    assert_null(store_lmdb_open(f->dir, 1u << 20, err, sizeof err));
    assert_non_null(strstr(err, "not rendezvousd's"));
    assert_int_equal(store_lmdb_check(f->dir, err, sizeof err), -1);

    /* not a directory; a parent that does not exist */
    assert_null(store_lmdb_open(path, 1u << 20, err, sizeof err));
    assert_non_null(strstr(err, "not a directory"));
    snprintf(path, sizeof path, "%s/no/such", f->dir);
    assert_int_equal(store_lmdb_check(path, err, sizeof err), -1);
    assert_non_null(strstr(err, "does not exist"));
    snprintf(path, sizeof path, "%s/new", f->dir);
    assert_int_equal(store_lmdb_check(path, err, sizeof err), 0);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_every_field, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_while_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(sequence_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(changes_coalesce_and_takeover_deletes, setup, teardown),
        cmocka_unit_test_setup_teardown(full_map_grows, setup, teardown),
        cmocka_unit_test_setup_teardown(refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
