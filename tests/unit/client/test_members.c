/* The member set behind a subscription: what a reconnecting client reports
 * is exactly the difference between what it had told and the new list. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "base/mem.h"
#include "client/members.h"

/* A registration of `id` with one address (NULL: none) and metadata. */
static struct wire_reg reg(const char *id, const char *addr, const char *meta)
{
    struct wire_reg r = {.ns = xstrdup("ns"), .peer_id = xstrdup(id)};
    if (addr) {
        r.addrs = xcalloc(1, sizeof(*r.addrs));
        r.addrs[0] = xstrdup(addr);
        r.naddrs = 1;
    }
    if (meta) {
        r.meta = xmemdup(meta, strlen(meta));
        r.meta_len = strlen(meta);
    }
    return r;
}

static enum member_change put(struct members *s, const char *id, const char *addr, const char *meta)
{
    struct wire_reg r = reg(id, addr, meta);
    enum member_change ch = members_put(s, &r);
    assert_null(r.peer_id); /* taken */
    return ch;
}

/* The events of members_adopt, as "+id addr" / "-id" lines in order of kind. */
struct log { char text[1024]; };

static void on_leave(void *arg, const struct member *m)
{
    struct log *l = arg;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "-%s ", m->reg.peer_id);
}

static void on_join(void *arg, const struct member *m)
{
    struct log *l = arg;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "+%s:%s ", m->reg.peer_id,
             m->reg.naddrs ? m->reg.addrs[0] : "");
}

static void put_reports_new_changed_same(void **state)
{
    (void)state;
    struct members s = {0};
    assert_int_equal(put(&s, "A", "/a1", NULL), MEMBER_NEW);
    assert_int_equal(put(&s, "A", "/a1", NULL), MEMBER_SAME);
    assert_int_equal(put(&s, "A", "/a2", NULL), MEMBER_CHANGED);
    assert_int_equal(put(&s, "A", "/a2", "m"), MEMBER_CHANGED);
    assert_int_equal(put(&s, "A", "/a2", "m"), MEMBER_SAME);
    assert_int_equal(put(&s, "A", NULL, "m"), MEMBER_CHANGED);
    assert_int_equal(s.n, 1);
    assert_true(members_remove(&s, "A"));
    assert_false(members_remove(&s, "A"));
    assert_int_equal(s.n, 0);
    members_clear(&s);
}

/* Stays (same), stays with new addresses, leaves, arrives. */
static void adopt_reports_the_difference(void **state)
{
    (void)state;
    struct members told = {0}, now = {0};
    struct log l = {""};

    put(&told, "stay", "/s", NULL);
    put(&told, "moved", "/m1", NULL);
    put(&told, "gone", "/g", NULL);
    put(&now, "stay", "/s", NULL);
    put(&now, "moved", "/m2", NULL);
    put(&now, "new", "/n", NULL);
    members_adopt(&told, &now, on_leave, on_join, &l);
    assert_int_equal(now.n, 0);
    assert_null(now.by_id);
    assert_int_equal(told.n, 3);
    /* One LEAVE, then the two JOINs in whatever order the set keeps. */
    assert_memory_equal(l.text, "-gone ", 6);
    assert_non_null(strstr(l.text, "+moved:/m2 "));
    assert_non_null(strstr(l.text, "+new:/n "));
    assert_null(strstr(l.text, "stay"));
    assert_int_equal(strlen(l.text), strlen("-gone +moved:/m2 +new:/n "));

    /* Adopting the same list again reports nothing. */
    l.text[0] = '\0';
    put(&now, "stay", "/s", NULL);
    put(&now, "moved", "/m2", NULL);
    put(&now, "new", "/n", NULL);
    members_adopt(&told, &now, on_leave, on_join, &l);
    assert_string_equal(l.text, "");

    /* An empty list: everyone leaves. */
    members_adopt(&told, &now, on_leave, on_join, &l);
    assert_int_equal(told.n, 0);
    assert_int_equal(strlen(l.text), strlen("-stay -moved -new "));
    members_clear(&told);
}

/* Many members: the counts add up (and the leak checker stays quiet). */
struct counts { int leaves, joins; };

static void count_leave(void *arg, const struct member *m)
{
    (void)m;
    ((struct counts *)arg)->leaves++;
}

static void count_join(void *arg, const struct member *m)
{
    (void)m;
    ((struct counts *)arg)->joins++;
}

static void adopt_many(void **state)
{
    (void)state;
    struct members told = {0}, now = {0};
    struct counts n = {0, 0};
    char id[16];

    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof id, "p%d", i);
        put(&told, id, "/x", NULL);
        if (i % 2 == 0)
            put(&now, id, "/x", NULL);
    }
    for (int i = 1000; i < 1010; i++) {
        snprintf(id, sizeof id, "p%d", i);
        put(&now, id, "/x", NULL);
    }
    members_adopt(&told, &now, count_leave, count_join, &n);
    assert_int_equal(n.leaves, 500);
    assert_int_equal(n.joins, 10);
    assert_int_equal(told.n, 510);
    members_clear(&told);
}

/* A set with a bound refuses a new member beyond it (leaving the entry to
 * the caller), but still takes updates and a member after one left. */
static void put_respects_the_bound(void **state)
{
    (void)state;
    struct members s = {.max = 2};
    struct members now = {.max = 2};
    struct log l = {""};

    assert_int_equal(put(&s, "A", "/a", NULL), MEMBER_NEW);
    assert_int_equal(put(&s, "B", "/b", NULL), MEMBER_NEW);
    struct wire_reg r = reg("C", "/c", NULL);
    assert_int_equal(members_put(&s, &r), MEMBER_FULL);
    assert_non_null(r.peer_id); /* not taken */
    wire_reg_free(&r);
    assert_int_equal(s.n, 2);
    assert_int_equal(put(&s, "A", "/a2", NULL), MEMBER_CHANGED);
    assert_int_equal(put(&s, "B", "/b", NULL), MEMBER_SAME);
    assert_true(members_remove(&s, "B"));
    assert_int_equal(put(&s, "C", "/c", NULL), MEMBER_NEW);

    /* Adopting a full list of others: both leave, both join. */
    put(&now, "D", "/d", NULL);
    put(&now, "E", "/e", NULL);
    members_adopt(&s, &now, on_leave, on_join, &l);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.max, 2);
    assert_int_equal(strlen(l.text), strlen("-A -C +D:/d +E:/e "));
    members_clear(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(put_reports_new_changed_same),
        cmocka_unit_test(adopt_reports_the_difference),
        cmocka_unit_test(adopt_many),
        cmocka_unit_test(put_respects_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
