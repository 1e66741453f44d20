/* The cluster's decoders and URLs: --cluster URLs and what they refuse;
 * stream ids as seqs; change log entries and snapshot registrations, and
 * every way a malformed one is refused. (The cluster itself, with a real
 * redis-server, is tests/integration/87-cluster.sh and after.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "cluster/entry.h"
#include "cluster/url.h"

static void urls(void **state)
{
    (void)state;
    struct cluster_url u;
    char err[256], d[300];
    assert_int_equal(cluster_url_parse(&u, "redis://127.0.0.1:6380/2", err, sizeof err), 0);
    assert_false(u.unix_socket);
    assert_string_equal(u.host, "127.0.0.1");
    assert_int_equal(u.port, 6380);
    assert_int_equal(u.db, 2);
    assert_string_equal(u.password, "");
    assert_int_equal(cluster_url_parse(&u, "redis://:s3cret@[::1]", err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6379);
    assert_string_equal(u.password, "s3cret");
    cluster_url_describe(&u, d, sizeof d);
    assert_string_equal(d, "[::1]:6379 db 0");
    assert_null(strstr(d, "s3cret"));
    assert_int_equal(cluster_url_parse(&u, "redis://default:pw@redis.example:7000/", err, sizeof err), 0);
    assert_string_equal(u.password, "pw");
    assert_string_equal(u.host, "redis.example");
    assert_int_equal(cluster_url_parse(&u, "unix:///run/redis/redis.sock?db=3", err, sizeof err), 0);
    assert_true(u.unix_socket);
    assert_string_equal(u.path, "/run/redis/redis.sock");
    assert_int_equal(u.db, 3);

    static const char *const bad[] = {
        "", "redis://", "http://127.0.0.1:6379", "redis://h:0", "redis://h:65536", "redis://h:x",
        "redis://h/db", "redis://h:1/2/3", "redis://[::1", "redis://:@h", "unix://", "unix://rel",
        "unix:///p?x=1", "unix:///p?db=", "redis://h:6379junk",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_int_equal(cluster_url_parse(&u, bad[i], err, sizeof err), -1);
        assert_true(err[0] != '\0');
    }
    assert_int_equal(cluster_url_parse(&u, "redis://:hunter2@h:x", err, sizeof err), -1);
    assert_null(strstr(err, "hunter2"));
}

static void seqs(void **state)
{
    (void)state;
    uint64_t s;
    char id[48];
    assert_int_equal(cluster_seq_parse("1700000000000-0", 15, &s), 0);
    assert_true(s == 1700000000000ull << 20);
    assert_int_equal(cluster_seq_parse("1700000000000-5", 15, &s), 0);
    assert_true(s == (1700000000000ull << 20 | 5));
    assert_int_equal(cluster_seq_format(s, id, sizeof id), 15);
    assert_string_equal(id, "1700000000000-5");
    /* a later millisecond is a higher seq whatever the counter */
    uint64_t a, b;
    assert_int_equal(cluster_seq_parse("1700000000000-1048575", 21, &a), 0);
    assert_int_equal(cluster_seq_parse("1700000000001-0", 15, &b), 0);
    assert_true(a < b);
    static const char *const bad[] = {"", "0-0", "1", "1-", "-1", "1-1048576", "a-1", "1-1-1",
                                      "17592186044416-0", "99999999999999999999-0"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(cluster_seq_parse(bad[i], strlen(bad[i]), &s), -1);
}

/* An Ed25519 identity peer id (any 32 bytes make one that parses). */
static size_t mkkey(uint8_t *k, const char *ns)
{
    static const uint8_t head[] = {0, 0x24, 8, 1, 0x12, 0x20};
    size_t n = 0;
    k[n++] = 38;
    memcpy(k + n, head, sizeof head);
    n += sizeof head;
    for (int i = 0; i < 32; i++)
        k[n++] = (uint8_t)i;
    memcpy(k + n, ns, strlen(ns));
    return n + strlen(ns);
}

#define SPAN(s) ((struct cluster_span){(s), sizeof(s) - 1})

static void entries(void **state)
{
    (void)state;
    uint8_t key[CLUSTER_KEY_MAX];
    size_t klen = mkkey(key, "room");
    struct cluster_span k = {(const char *)key, klen};
    /* body: dialect 0, one address 4 bytes */
    static const char push_v[] = "00000000000000ab:1f\n0\n\x08\x00\x12\x04\x01\x02\x03\x04";
    struct cluster_span v = {push_v, sizeof push_v - 1};
    struct cluster_span f[] = {SPAN("n"), SPAN("12"), SPAN("op"), SPAN("r"), SPAN("k"), k, SPAN("v"), v};
    struct cluster_change c;

    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-3"), f, 8), 0);
    assert_true(c.add);
    assert_true(c.n == 12);
    assert_true(c.seq == (1700000000000ull << 20 | 3));
    assert_int_equal(c.ns_len, 4);
    assert_memory_equal(c.ns, "room", 4);
    assert_int_equal(c.peer.len, 38);
    assert_true(c.owned);
    assert_true(c.owner_node == 0xab && c.owner_session == 0x1f);
    assert_int_equal(c.body->n_addrs, 1);
    assert_int_equal(c.body->addrs[0].len, 4);
    cluster_change_free(&c);

    /* the same as a snapshot value */
    static const char snap[] = "1700000000000-3\n00000000000000ab:1f\n0\n\x08\x00\x12\x04\x01\x02\x03\x04";
    assert_int_equal(cluster_value_decode(&c, k, (struct cluster_span){snap, sizeof snap - 1}), 0);
    assert_true(c.seq == (1700000000000ull << 20 | 3) && c.owned);
    cluster_change_free(&c);

    /* a TTL registration: no owner, a deadline, dialect 1, a TTL */
    static const char ttl_v[] = "\n1700000060000\n\x08\x01\x1a\x01x\x20\x3c";
    f[7] = (struct cluster_span){ttl_v, sizeof ttl_v - 1};
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), f, 8), 0);
    assert_false(c.owned);
    assert_true(c.expires == 1700000060.0);
    assert_true(c.body->ttl == 60);
    cluster_change_free(&c);

    /* a removal */
    struct cluster_span u[] = {SPAN("n"), SPAN("13"), SPAN("op"), SPAN("u"), SPAN("k"), k,
                               SPAN("s"), SPAN("1700000000000-3"), SPAN("why"), SPAN("reap")};
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000001-0"), u, 10), 0);
    assert_false(c.add);
    assert_int_equal(c.why, CLUSTER_WHY_REAP);
    assert_true(c.removed_seq == (1700000000000ull << 20 | 3));
    cluster_change_free(&c);

    /* malformed: each refused, nothing leaked (ASan checks) */
    static const char *const bad_values[] = {
        "00000000000000ab:1f\n0",                          /* no body separator */
        "00000000000000ab:1f\n5\n\x08\x00",                /* push with a deadline */
        "\n0\n\x08\x01\x20\x3c",                           /* TTL without a deadline */
        "00000000000000ab\n0\n\x08\x00",                   /* owner without a session */
        "00000000000000ab:1f\n0\n\x08\x07",                /* unknown dialect */
        "00000000000000ab:1f\n0\n\x12\x09\x01",            /* truncated protobuf */
        "00000000000000ab:1f\n0\n",                        /* no dialect */
        "0000000000000000ab:1f\n0\n\x08\x00",              /* node over 64 bits */
        "00000000000000AB:1f\n0\n\x08\x00",                /* upper-case hex */
    };
    for (size_t i = 0; i < sizeof bad_values / sizeof *bad_values; i++) {
        f[7] = (struct cluster_span){bad_values[i], strlen(bad_values[i])};
        if (i == 1 || i == 3 || i == 4 || i == 6 || i == 7 || i == 8) /* they hold a NUL byte */
            f[7].len = strlen(bad_values[i]) + (i == 6 ? 0 : 1);
        assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), f, 8), -1);
        cluster_change_free(&c);
    }
    f[7] = v;
    /* bad keys */
    uint8_t bk[CLUSTER_KEY_MAX];
    memcpy(bk, key, klen);
    f[5] = (struct cluster_span){(const char *)bk, 39}; /* no namespace */
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), f, 8), -1);
    bk[0] = 60;                                          /* peer longer than the max */
    f[5] = (struct cluster_span){(const char *)bk, klen};
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), f, 8), -1);
    f[5] = k;
    /* fields: unknown, repeated, missing, odd count, bad op, bad why */
    struct cluster_span g[10];
    memcpy(g, f, sizeof f);
    g[2] = SPAN("zz");
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), g, 8), -1);
    memcpy(g, f, sizeof f);
    g[2] = SPAN("n");
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), g, 8), -1);
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), f, 7), -1);
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), f, 6), -1);
    memcpy(g, f, sizeof f);
    g[3] = SPAN("x");
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000000-4"), g, 8), -1);
    memcpy(g, u, sizeof u);
    g[9] = SPAN("later");
    assert_int_equal(cluster_change_decode(&c, SPAN("1700000000001-0"), g, 10), -1);
    assert_int_equal(cluster_change_decode(&c, SPAN("x"), f, 8), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(urls),
        cmocka_unit_test(seqs),
        cmocka_unit_test(entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
