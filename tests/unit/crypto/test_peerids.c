/* Interned peer ids: one entry per distinct id, counted references, the
 * entry freed with its last reference and made afresh when seen again. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "crypto/peerids.h"
#include "peer_helpers.h"

static void same_id_same_entry(void **state)
{
    (void)state;
    struct peer_ids t;
    peer_ids_init(&t);
    struct peer_id a = mkpeer(1), a2 = mkpeer(1), b = mkpeer(2);
    struct peer_ref *ea = peer_ids_get(&t, &a);
    struct peer_ref *ea2 = peer_ids_get(&t, &a2);
    struct peer_ref *eb = peer_ids_get(&t, &b);
    assert_ptr_equal(ea, ea2);
    assert_ptr_not_equal(ea, eb);
    assert_int_equal(ea->refs, 2);
    assert_int_equal(eb->refs, 1);
    assert_int_equal(t.count, 2);
    assert_true(peerid_eq(&ea->id, &a));
    assert_ptr_equal(peer_ref_of(&ea->id), ea);
    assert_ptr_equal(peer_ids_find(&t, &a), ea);
    assert_int_equal(ea->refs, 2); /* find takes none */

    peer_ids_put(&t, ea);
    assert_int_equal(t.count, 2);
    assert_ptr_equal(peer_ids_find(&t, &a), ea);
    assert_true(peerid_eq(&ea->id, &a)); /* still held once: intact */
    peer_ids_put(&t, ea2);
    assert_int_equal(t.count, 1);
    assert_null(peer_ids_find(&t, &a));
    peer_ids_put(&t, NULL); /* nothing */

    /* seen again after it went: a new entry, one reference */
    struct peer_ref *again = peer_ids_get(&t, &a);
    assert_int_equal(again->refs, 1);
    assert_ptr_equal(peer_ref_hold(again), again);
    assert_int_equal(again->refs, 2);
    peer_ids_put(&t, again);
    peer_ids_put(&t, again);
    peer_ids_put(&t, eb);
    assert_int_equal(t.count, 0);
    assert_null(t.table);
    peer_ids_free(&t);
}

static void many_ids(void **state)
{
    (void)state;
    struct peer_ids t;
    peer_ids_init(&t);
    struct peer_ref *e[1000];
    for (unsigned i = 0; i < 1000; i++) {
        struct peer_id p = mkpeer(i);
        e[i] = peer_ids_get(&t, &p);
    }
    assert_int_equal(t.count, 1000);
    for (unsigned i = 0; i < 1000; i++) {
        struct peer_id p = mkpeer(i);
        assert_ptr_equal(peer_ids_find(&t, &p), e[i]);
        assert_true(peerid_eq(&e[i]->id, &p));
    }
    for (unsigned i = 0; i < 1000; i += 2)
        peer_ids_put(&t, e[i]);
    assert_int_equal(t.count, 500);
    peer_ids_free(&t); /* frees the rest, held or not */
    assert_int_equal(t.count, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_id_same_entry),
        cmocka_unit_test(many_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
