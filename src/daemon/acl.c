#include "daemon/acl.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"

#define ACL_PEER_VAR "$peer"
#define ACL_PEER_VAR_LEN 5

static int acl__fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int acl__fail(char *err, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, cap, fmt, ap);
    va_end(ap);
    return -1;
}

static void acl__rule_free(struct acl_rule *r)
{
    free(r->pattern);
    free(r->peers);
}

void acl_free(struct acl *a)
{
    for (size_t i = 0; i < a->n; i++)
        acl__rule_free(&a->rules[i]);
    free(a->rules);
    a->rules = NULL;
    a->n = 0;
}

/* ---- parsing -------------------------------------------------------------- */

/* The next blank-separated token of [*p, end); a token starting with '#'
 * ends the line. Returns its length (0: none left). */
static size_t acl__token(const char **p, const char *end, const char **tok)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
        s++;
    if (s == end || *s == '#') {
        *p = end;
        return 0;
    }
    *tok = s;
    while (s < end && *s != ' ' && *s != '\t' && *s != '\r')
        s++;
    *p = s;
    return (size_t)(s - *tok);
}

static bool acl__is(const char *t, size_t n, const char *word)
{
    return n == strlen(word) && memcmp(t, word, n) == 0;
}

static int acl__actions(const char *t, size_t n, unsigned *out, char *err, size_t cap)
{
    static const char *const names[ACL_ACTIONS] = {"register", "subscribe", "discover", "relay"};
    *out = 0;
    if (acl__is(t, n, "all") || acl__is(t, n, "*")) {
        *out = (1u << RDV_ACTIONS) - 1;
        return 0;
    }
    for (const char *s = t, *end = t + n; s < end;) {
        const char *comma = memchr(s, ',', (size_t)(end - s));
        size_t len = (size_t)((comma ? comma : end) - s);
        int found = -1;
        for (int i = 0; i < ACL_ACTIONS; i++)
            if (acl__is(s, len, names[i]))
                found = i;
        if (found < 0)
            return acl__fail(err, cap, "'%.*s' is not an action (register, subscribe, discover, "
                                       "relay, all)",
                             (int)(len < 40 ? len : 40), s);
        *out |= 1u << found;
        s += len + (comma != NULL);
    }
    return 0;
}

/* One non-empty rule line into r. */
static int acl__rule(struct acl_rule *r, const char *p, const char *end, char *err, size_t cap)
{
    const char *t;
    size_t n = acl__token(&p, end, &t);

    if (acl__is(t, n, "allow"))
        r->allow = true;
    else if (!acl__is(t, n, "deny"))
        return acl__fail(err, cap, "a rule starts with allow or deny, not '%.*s'",
                         (int)(n < 40 ? n : 40), t);
    if ((n = acl__token(&p, end, &t)) == 0)
        return acl__fail(err, cap, "missing actions (register, subscribe, discover or all)");
    if (acl__actions(t, n, &r->actions, err, cap) < 0)
        return -1;
    if ((n = acl__token(&p, end, &t)) == 0)
        return acl__fail(err, cap, "missing namespace pattern");
    if (n > RDV_NS_MAX + 1)
        return acl__fail(err, cap, "namespace pattern longer than %d bytes", RDV_NS_MAX);
    r->prefix = t[n - 1] == '*';
    r->pattern_len = n - r->prefix;
    if (memchr(t, '*', r->pattern_len) != NULL)
        return acl__fail(err, cap, "'*' may only end a pattern (a prefix), as in chat/" "*");
    r->pattern = xmalloc(r->pattern_len + 1);
    memcpy(r->pattern, t, r->pattern_len);
    r->pattern[r->pattern_len] = '\0';
    r->has_peer_var = strstr(r->pattern, ACL_PEER_VAR) != NULL;

    size_t cap_peers = 0;
    while ((n = acl__token(&p, end, &t)) != 0) {
        if (acl__is(t, n, "*")) {
            r->any_peer = true;
            continue;
        }
        if (r->npeers == ACL_MAX_PEERS)
            return acl__fail(err, cap, "more than %d peer ids on one rule", ACL_MAX_PEERS);
        if (r->npeers == cap_peers) {
            cap_peers = cap_peers ? 2 * cap_peers : 4;
            r->peers = xrealloc(r->peers, cap_peers * sizeof *r->peers);
        }
        if (peerid_from_text(&r->peers[r->npeers], t, n) < 0)
            return acl__fail(err, cap, "'%.*s' is not a peer id (or *)", (int)(n < 80 ? n : 80), t);
        r->npeers++;
    }
    if (r->npeers == 0)
        r->any_peer = true;
    return 0;
}

int acl_parse(struct acl *a, const char *text, size_t len, char *err, size_t errlen)
{
    size_t cap = 0;
    int line = 0;
    char why[200];

    *a = (struct acl){0};
    for (const char *p = text, *end = text + len; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        const char *t, *q = p;
        line++;
        if (memchr(p, '\0', (size_t)(eol - p)) != NULL) {
            acl_free(a);
            return acl__fail(err, errlen, "%d: a NUL byte", line);
        }
        if (acl__token(&q, eol, &t) != 0) {
            if (a->n == ACL_MAX_RULES) {
                acl_free(a);
                return acl__fail(err, errlen, "%d: more than %d rules", line, ACL_MAX_RULES);
            }
            if (a->n == cap) {
                cap = cap ? 2 * cap : 16;
                a->rules = xrealloc(a->rules, cap * sizeof *a->rules);
            }
            struct acl_rule *r = &a->rules[a->n];
            *r = (struct acl_rule){.line = line};
            if (acl__rule(r, p, eol, why, sizeof why) < 0) {
                acl__rule_free(r);
                acl_free(a);
                return acl__fail(err, errlen, "%d: %s", line, why);
            }
            a->n++;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int acl_load(struct acl *a, const char *path, char *err, size_t errlen)
{
    char why[300];
    struct stat st;

    *a = (struct acl){0};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd == -1)
        return acl__fail(err, errlen, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        return acl__fail(err, errlen, "%s: not a regular file", path);
    }
    if (st.st_size > ACL_MAX_FILE) {
        close(fd);
        return acl__fail(err, errlen, "%s: larger than %u bytes", path, ACL_MAX_FILE);
    }
    char *text = xmalloc((size_t)st.st_size + 1);
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, text + n, (size_t)st.st_size + 1 - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r <= 0 || (n += (size_t)r) == (size_t)st.st_size + 1)
            break;
    }
    close(fd);
    int rc = 0;
    if (n > (size_t)st.st_size)
        rc = acl__fail(err, errlen, "%s: grew while being read", path);
    else if (acl_parse(a, text, n, why, sizeof why) < 0)
        rc = acl__fail(err, errlen, "%s:%s", path, why);
    free(text);
    return rc;
}

/* ---- matching ------------------------------------------------------------- */

/* Whether ns matches the pattern, "$peer" standing for id (id_len bytes). */
static bool acl__match(const struct acl_rule *r, const char *ns, size_t ns_len, const char *id,
                       size_t id_len)
{
    const char *p = r->pattern, *pend = r->pattern + r->pattern_len;
    size_t j = 0;

    if (!r->has_peer_var) {
        if (r->prefix)
            return ns_len >= r->pattern_len && memcmp(ns, p, r->pattern_len) == 0;
        return ns_len == r->pattern_len && memcmp(ns, p, ns_len) == 0;
    }
    while (p < pend) {
        if ((size_t)(pend - p) >= ACL_PEER_VAR_LEN && memcmp(p, ACL_PEER_VAR, ACL_PEER_VAR_LEN) == 0) {
            if (ns_len - j < id_len || memcmp(ns + j, id, id_len) != 0)
                return false;
            j += id_len;
            p += ACL_PEER_VAR_LEN;
        } else {
            if (j == ns_len || ns[j] != *p)
                return false;
            j++;
            p++;
        }
    }
    return r->prefix || j == ns_len;
}

static bool acl__peer(const struct acl_rule *r, const struct peer_id *peer)
{
    if (r->any_peer)
        return true;
    for (size_t i = 0; i < r->npeers; i++)
        if (peerid_eq(&r->peers[i], peer))
            return true;
    return false;
}

/* acl_allows for an action bit index (an rdv_action, or ACL_ACTION_RELAY). */
static bool acl__allows(const struct acl *a, unsigned action, const char *ns, size_t ns_len,
                        const struct peer_id *peer)
{
    char id[PEERID_TEXT_MAX];
    int id_len = -1; /* made on first use */

    for (size_t i = 0; i < a->n; i++) {
        const struct acl_rule *r = &a->rules[i];
        if (!(r->actions & (1u << action)) || !acl__peer(r, peer))
            continue;
        if (r->has_peer_var && id_len < 0 && (id_len = peerid_to_text(peer, id, sizeof id)) < 0)
            continue;
        if (acl__match(r, ns, ns_len, id, id_len < 0 ? 0 : (size_t)id_len))
            return r->allow;
    }
    return false;
}

bool acl_allows(const struct acl *a, enum rdv_action action, const char *ns, size_t ns_len,
                const struct peer_id *peer)
{
    return acl__allows(a, (unsigned)action, ns, ns_len, peer);
}

bool acl_allows_relay(const struct acl *a, const struct peer_id *peer)
{
    return acl__allows(a, ACL_ACTION_RELAY, "", 0, peer);
}

bool acl_relay_policy(const void *ctx, const struct peer_id *peer)
{
    return acl_allows_relay(ctx, peer);
}

bool acl_policy(const void *ctx, enum rdv_action action, const char *ns, size_t ns_len,
                const struct peer_id *peer)
{
    return acl_allows(ctx, action, ns, ns_len, peer);
}
