/* Namespace access rules (daemon/acl.c): the file's grammar and its errors
 * with line numbers, first-match-wins, exact and prefix patterns, $peer,
 * peer lists, default deny, the all-namespace DISCOVER, and the service
 * hook that counts refusals. acl.c is included (it is not in the library). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/acl.c"

static struct peer_id alice, bob;
static char alice_text[PEERID_TEXT_MAX], bob_text[PEERID_TEXT_MAX];

static void make_peer(struct peer_id *id, char *text)
{
    struct privkey k;
    struct pubkey pub;
    privkey_generate(&k);
    privkey_public(&k, &pub);
    assert_int_equal(peerid_from_pubkey(id, &pub), 0);
    assert_true(peerid_to_text(id, text, PEERID_TEXT_MAX) > 0);
    privkey_wipe(&k);
}

static int setup(void **state)
{
    (void)state;
    make_peer(&alice, alice_text);
    make_peer(&bob, bob_text);
    return 0;
}

static int parse(struct acl *a, const char *text, char *err, size_t cap)
{
    return acl_parse(a, text, strlen(text), err, cap);
}

static bool may(const struct acl *a, enum rdv_action act, const char *ns, const struct peer_id *p)
{
    return acl_allows(a, act, ns, strlen(ns), p);
}

static void grammar(void **state)
{
    struct acl a;
    char err[256], text[1024];
    (void)state;

    snprintf(text, sizeof text,
             "# presence lists\n"
             "\n"
             "   allow register,discover  chat/*   *   # anyone\n"
             "deny all secret\t%s\n"
             "allow subscribe lobby %s %s\n"
             "allow discover *\n",
             bob_text, alice_text, bob_text);
    assert_int_equal(parse(&a, text, err, sizeof err), 0);
    assert_int_equal(a.n, 4);
    assert_true(a.rules[0].allow);
    assert_int_equal(a.rules[0].line, 3);
    assert_int_equal(a.rules[0].actions, (1u << RDV_ACTION_REGISTER) | (1u << RDV_ACTION_DISCOVER));
    assert_true(a.rules[0].prefix);
    assert_string_equal(a.rules[0].pattern, "chat/");
    assert_true(a.rules[0].any_peer);
    assert_false(a.rules[1].allow);
    assert_int_equal(a.rules[1].actions, 7);
    assert_int_equal(a.rules[1].npeers, 1);
    assert_false(a.rules[1].any_peer);
    assert_int_equal(a.rules[2].npeers, 2);
    assert_true(a.rules[3].any_peer); /* no peers: anyone */
    acl_free(&a);

    /* An empty file (or only comments) is valid: it denies everything. */
    assert_int_equal(parse(&a, "# nothing\n\n", err, sizeof err), 0);
    assert_int_equal(a.n, 0);
    assert_false(may(&a, RDV_ACTION_DISCOVER, "x", &alice));
    acl_free(&a);

    static const struct {
        const char *text, *want;
    } bad[] = {
        {"permit register x\n", "1: a rule starts with allow or deny"},
        {"\nallow\n", "2: missing actions"},
        {"allow register\n", "1: missing namespace pattern"},
        {"allow publish x\n", "1: 'publish' is not an action"},
        {"allow register,,discover x\n", "1: '' is not an action"},
        {"allow register a*b\n", "1: '*' may only end a pattern"},
        {"allow register x 12D3KooWnotapeer\n", "1: '12D3KooWnotapeer' is not a peer id"},
        {"allow register x\nallow register x\0y\n", "2: a NUL byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        size_t len = strlen(bad[i].text);
        if (i == 7)
            len = 36;
        a.n = 99;
        if (acl_parse(&a, bad[i].text, len, err, sizeof err) != -1)
            fail_msg("accepted: %s", bad[i].text);
        if (strstr(err, bad[i].want) != err)
            fail_msg("'%s': got '%s', want '%s'", bad[i].text, err, bad[i].want);
        assert_int_equal(a.n, 0);
        assert_null(a.rules);
    }
    char longpat[RDV_NS_MAX + 32];
    snprintf(longpat, sizeof longpat, "allow register %0*d\n", RDV_NS_MAX + 4, 0);
    assert_int_equal(parse(&a, longpat, err, sizeof err), -1);
    assert_non_null(strstr(err, "longer than"));
}

static void matching(void **state)
{
    struct acl a;
    char err[256], text[1024];
    (void)state;

    snprintf(text, sizeof text,
             "deny register chat/admins %s\n"        /* bob may not register there */
             "allow register chat/* *\n"             /* others may, in every chat/... */
             "allow discover chat/*\n"
             "allow all chat/$peer/*\n"              /* a peer's own space */
             "allow subscribe,discover inbox/$peer\n" /* exact, with $peer */
             "allow discover lobby %s\n"             /* only alice lists the lobby */
             "deny discover lobby\n"
             "allow discover lobby\n",               /* never reached */
             bob_text, alice_text);
    assert_int_equal(parse(&a, text, err, sizeof err), 0);

    /* First match wins; a rule whose peer list excludes the requester is no match. */
    assert_false(may(&a, RDV_ACTION_REGISTER, "chat/admins", &bob));
    assert_true(may(&a, RDV_ACTION_REGISTER, "chat/admins", &alice));
    assert_true(may(&a, RDV_ACTION_REGISTER, "chat/x", &bob));
    /* The prefix matches itself followed by anything, and only that. */
    assert_true(may(&a, RDV_ACTION_REGISTER, "chat/", &bob));
    assert_false(may(&a, RDV_ACTION_REGISTER, "chat", &bob));
    assert_false(may(&a, RDV_ACTION_REGISTER, "chatter", &bob));
    /* Subscribing to chat/x: no rule grants it - denied by default. */
    assert_false(may(&a, RDV_ACTION_SUBSCRIBE, "chat/x", &alice));
    assert_true(may(&a, RDV_ACTION_DISCOVER, "chat/x", &alice));

    /* $peer: the requester's own id only. */
    char own[200], other[200];
    snprintf(own, sizeof own, "chat/%s/notes", alice_text);
    snprintf(other, sizeof other, "chat/%s/notes", bob_text);
    assert_true(may(&a, RDV_ACTION_SUBSCRIBE, own, &alice));
    assert_false(may(&a, RDV_ACTION_SUBSCRIBE, other, &alice));
    assert_true(may(&a, RDV_ACTION_SUBSCRIBE, other, &bob));
    snprintf(own, sizeof own, "inbox/%s", alice_text);
    assert_true(may(&a, RDV_ACTION_DISCOVER, own, &alice));
    assert_false(may(&a, RDV_ACTION_DISCOVER, own, &bob));
    assert_false(may(&a, RDV_ACTION_REGISTER, own, &alice)); /* not granted */
    snprintf(own, sizeof own, "inbox/%s/x", alice_text);
    assert_false(may(&a, RDV_ACTION_DISCOVER, own, &alice)); /* exact: no more after it */
    snprintf(own, sizeof own, "inbox/%.10s", alice_text);
    assert_false(may(&a, RDV_ACTION_DISCOVER, own, &alice)); /* a cut id */

    assert_true(may(&a, RDV_ACTION_DISCOVER, "lobby", &alice));
    assert_false(may(&a, RDV_ACTION_DISCOVER, "lobby", &bob));
    assert_false(may(&a, RDV_ACTION_DISCOVER, "elsewhere", &alice));
    /* DISCOVER of every namespace: only "*" matches it. */
    assert_false(may(&a, RDV_ACTION_DISCOVER, "", &alice));
    acl_free(&a);

    assert_int_equal(parse(&a, "allow discover *\nallow register pub*\n", err, sizeof err), 0);
    assert_true(may(&a, RDV_ACTION_DISCOVER, "", &bob));
    assert_true(may(&a, RDV_ACTION_DISCOVER, "anything", &bob));
    assert_true(may(&a, RDV_ACTION_REGISTER, "public", &bob));
    assert_false(may(&a, RDV_ACTION_REGISTER, "", &bob));
    acl_free(&a);
}

static void load_file(void **state)
{
    struct acl a;
    char dir[] = "/tmp/test_acl.XXXXXX", path[128], err[512];
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/acl", dir);
    assert_int_equal(acl_load(&a, path, err, sizeof err), -1);
    assert_non_null(strstr(err, "No such file"));
    FILE *f = fopen(path, "w");
    fputs("allow all *\nallow nothing x\n", f);
    fclose(f);
    assert_int_equal(acl_load(&a, path, err, sizeof err), -1);
    char want[256];
    snprintf(want, sizeof want, "%s:2: 'nothing' is not an action", path);
    assert_non_null(strstr(err, want));
    f = fopen(path, "w");
    fputs("allow all *", f); /* no final newline */
    fclose(f);
    assert_int_equal(acl_load(&a, path, err, sizeof err), 0);
    assert_int_equal(a.n, 1);
    assert_true(acl_policy(&a, RDV_ACTION_REGISTER, "x", 1, &alice));
    acl_free(&a);
    unlink(path);
    assert_int_equal(acl_load(&a, dir, err, sizeof err), -1);
    assert_non_null(strstr(err, "not a regular file"));
    rmdir(dir);
}

/* The service's hook: no policy allows; a refusal is counted by dialect
 * and action. */
static void service_hook(void **state)
{
    struct rdv_service s;
    struct acl a;
    char err[128];
    (void)state;

    memset(&s, 0, sizeof s);
    assert_true(rdv_service_allows(&s, RDV_DIALECT_WAKU, RDV_ACTION_DISCOVER, "x", 1, &alice));
    assert_int_equal(parse(&a, "allow discover open\n", err, sizeof err), 0);
    s.policy = (struct rdv_policy){.allows = acl_policy, .ctx = &a};
    assert_true(rdv_service_allows(&s, RDV_DIALECT_WAKU, RDV_ACTION_DISCOVER, "open", 4, &alice));
    assert_false(rdv_service_allows(&s, RDV_DIALECT_WAKU, RDV_ACTION_DISCOVER, "shut", 4, &alice));
    assert_false(rdv_service_allows(&s, RDV_DIALECT_PUSH, RDV_ACTION_SUBSCRIBE, "open", 4, &alice));
    assert_int_equal(s.stats.denied[RDV_DIALECT_WAKU][RDV_ACTION_DISCOVER], 1);
    assert_int_equal(s.stats.denied[RDV_DIALECT_PUSH][RDV_ACTION_SUBSCRIBE], 1);
    assert_int_equal(s.stats.denied[RDV_DIALECT_STANDARD][RDV_ACTION_DISCOVER], 0);
    acl_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grammar),
        cmocka_unit_test(matching),
        cmocka_unit_test(load_file),
        cmocka_unit_test(service_hook),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
