/* ACL file parser fuzz target (daemon/acl.c, included: it is not in the
 * library). Whatever acl_parse accepts must hold only well-formed rules
 * (known actions, no '*' inside a pattern, bounded sizes), and matching
 * with them must stay within the namespace given: a few namespaces made
 * from the input are checked against every rule. Broken promises abort(). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/acl.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct acl a;
    char err[256];
    static const uint8_t id_bytes[] = {0x00, 0x24, 0x08, 0x01, 0x12, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9,
                                       10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
                                       25, 26, 27, 28, 29, 30, 31, 32};
    struct peer_id peer = {.len = sizeof id_bytes};
    memcpy(peer.b, id_bytes, sizeof id_bytes);

    if (acl_parse(&a, (const char *)data, size, err, sizeof err) != 0) {
        if (a.n != 0 || a.rules != NULL || memchr(err, '\0', sizeof err) == NULL)
            abort();
        return 0;
    }
    if (a.n > ACL_MAX_RULES)
        abort();
    for (size_t i = 0; i < a.n; i++) {
        const struct acl_rule *r = &a.rules[i];
        if (r->actions == 0 || r->actions >= (1u << ACL_ACTIONS) || r->pattern == NULL ||
            strlen(r->pattern) != r->pattern_len || memchr(r->pattern, '*', r->pattern_len) ||
            r->npeers > ACL_MAX_PEERS || (!r->any_peer && r->npeers == 0) || r->line < 1)
            abort();
    }
    /* Namespaces: the input's first bytes, each rule's own pattern, empty. */
    size_t n = size < 64 ? size : 64;
    for (int act = 0; act < RDV_ACTIONS; act++) {
        (void)acl_allows(&a, (enum rdv_action)act, (const char *)data, n, &peer);
        (void)acl_allows(&a, (enum rdv_action)act, "", 0, &peer);
        for (size_t i = 0; i < a.n && i < 16; i++) {
            const struct acl_rule *r = &a.rules[i];
            bool ok = acl_allows(&a, (enum rdv_action)act, r->pattern, r->pattern_len, &peer);
            /* The first rule names its own pattern: it decides, when it
             * applies to the action and carries no $peer. */
            if (i == 0 && !r->has_peer_var && (r->actions & (1u << act)) && r->any_peer &&
                ok != r->allow)
                abort();
        }
    }
    acl_free(&a);
    return 0;
}
