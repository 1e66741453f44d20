/* Namespace access control (--acl-file), modelled on mosquitto's acl_file:
 * who may register in, subscribe to and discover which namespaces.
 *
 * The file is a list of rules, one per line, first match wins:
 *
 *     allow|deny  ACTIONS  PATTERN  [PEER...]
 *
 * ACTIONS is register, subscribe, discover, a comma-separated list of them,
 * or all. PATTERN is a namespace, exact ("lobby"), or a prefix ending in '*'
 * ("chat/" then '*'; "*" alone is every namespace, and the only pattern that
 * matches a DISCOVER of all namespaces); "$peer" in it stands for the
 * requester's own peer id, so "chat/$peer/" then '*' is a peer's private
 * space (rendezvousd.conf(5) has examples).
 * PEER is a peer id or "*" (anyone, the default when none is given). A rule
 * matches a request when the action, the namespace and the peer all match;
 * a request no rule matches is denied. '#' starts a comment.
 *
 * One more action stands apart: "relay" (pattern "*") lets the peers of the
 * rule use the circuit relay without its limits (no duration or data cap on
 * their circuits, as source or target). "all" does not include it: it must
 * be named.
 *
 * The dialects never see this file: the daemon installs acl_policy as the
 * service's rdv_policy. */
#ifndef RDV_DAEMON_ACL_H
#define RDV_DAEMON_ACL_H

#include <stdbool.h>
#include <stddef.h>

#include "crypto/peerid.h"
#include "rendezvous/service.h"

#define ACL_MAX_RULES 10000
#define ACL_MAX_PEERS 1000        /* peer ids on one rule */
#define ACL_MAX_FILE (4u << 20)   /* bytes read from the file */

#define ACL_ACTION_RELAY RDV_ACTIONS   /* the bit after the rendezvous actions */
#define ACL_ACTIONS (RDV_ACTIONS + 1)

struct acl_rule {
    bool allow;
    unsigned actions;             /* 1 << enum rdv_action */
    char *pattern;                /* without its trailing '*' */
    size_t pattern_len;
    bool prefix;                  /* the pattern ended in '*' */
    bool has_peer_var;            /* "$peer" occurs in it */
    bool any_peer;
    struct peer_id *peers;
    size_t npeers;
    int line;
};

struct acl {
    struct acl_rule *rules;
    size_t n;
};

/* Parses a whole file's text into a (empty or freed before). -1 with err
 * as "LINE: what" on the first error; a is then empty. */
int acl_parse(struct acl *a, const char *text, size_t len, char *err, size_t errlen);
/* Reads and parses path; err as "PATH:LINE: what" or "PATH: why". */
int acl_load(struct acl *a, const char *path, char *err, size_t errlen);
void acl_free(struct acl *a);

/* True if the first rule matching (action, namespace, peer) allows; false
 * if it denies or none matches. ns = "" (len 0) is a DISCOVER of every
 * namespace. */
bool acl_allows(const struct acl *a, enum rdv_action action, const char *ns, size_t ns_len,
                const struct peer_id *peer);

/* True if the first rule matching (relay, peer) allows: peer relays
 * without limits. */
bool acl_allows_relay(const struct acl *a, const struct peer_id *peer);
/* A relay_policy's unlimited whose ctx is a struct acl. */
bool acl_relay_policy(const void *ctx, const struct peer_id *peer);

/* An rdv_policy whose ctx is a struct acl. */
bool acl_policy(const void *ctx, enum rdv_action action, const char *ns, size_t ns_len,
                const struct peer_id *peer);

#endif
