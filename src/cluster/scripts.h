/* The cluster's Redis data model and the Lua scripts that change it, each
 * atomic (DESIGN.md "Cluster mode over Redis"). Every key shares the hash
 * tag {rdv}, so a Redis Cluster keeps them on one slot.
 *
 *   {rdv}:reg    hash  key -> "SEQID\nOWNER\nEXPIRES_MS\nBODY"
 *   {rdv}:peer   hash  peer id -> registrations (per-peer limit)
 *   {rdv}:exp    zset  key by deadline (Redis time, ms): TTL registrations
 *   {rdv}:log    stream, the change log (trimmed to cluster-log-max)
 *   {rdv}:nodes  zset  node id by last heartbeat (Redis time, ms)
 *   {rdv}:logn   the number of the last log entry (entries count 1, 2, ...)
 *   {rdv}:last   the id of the last log entry
 *   {rdv}:own:NODE set   keys whose push registration NODE's sessions own
 *   {rdv}:rate:PEER hash  the peer's register-rate bucket: tokens, last
 *                  (Redis time, ms); gone (expired) when full
 *
 * A key is one byte (the peer id's length), the binary peer id, then the
 * namespace. OWNER is "NODE:SESSION" (both hex) for a push registration,
 * "" for a TTL one; EXPIRES_MS is 0 for push registrations. BODY is a
 * cluster.Body protobuf (what no script looks at: dialect, addresses,
 * signed record, TTL).
 *
 * Log entries (fields): n (its number), op "r" (k: key, v:
 * "OWNER\nEXPIRES_MS\nBODY"; the entry id is the registration's seq) or op
 * "u" (k: key, s: the seq id of the registration removed, why: u
 * unregistered, s session ended, x expired, reap its node died). */
#ifndef RDV_CLUSTER_SCRIPTS_H
#define RDV_CLUSTER_SCRIPTS_H

#include <stddef.h>

enum cluster_script {
    CLUSTER_SCRIPT_REGISTER,    /* ARGV key owner ttl body max_per_peer max_total log_max
                                 * rate burst cut ttl_len -> id | "!PEER" | "!TOTAL" | "!RATE"
                                 * (body[cut, cut + ttl_len) is its TTL field) */
    CLUSTER_SCRIPT_UNREGISTER,  /* ARGV key owner why log_max -> 1 | 0 (owner "": any; "NODE:" any of NODE's) */
    CLUSTER_SCRIPT_EXPIRE,      /* ARGV log_max batch -> expired count */
    CLUSTER_SCRIPT_HEARTBEAT,   /* ARGV node -> {was known 1|0, nodes alive, logn, last id} */
    CLUSTER_SCRIPT_REAP,        /* ARGV self timeout_ms log_max [node] -> nodes reaped
                                 * (with node: that one, now - a node leaving) */
    CLUSTER_SCRIPT_SNAPSHOT,    /* -> {last id, logn, key, value, key, value, ...} */
    CLUSTER_SCRIPTS
};

#define CLUSTER_NKEYS 7
/* KEYS of every script, in this order. */
extern const char *const cluster_keys[CLUSTER_NKEYS];
extern const char *const cluster_script_names[CLUSTER_SCRIPTS];

/* The Lua source of script i. */
const char *cluster_script_source(enum cluster_script i);

#endif
