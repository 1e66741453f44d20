/* Two identities from fixed seeds and their signed peer records, made once
 * per process by the targets of the registry dialects (rdv1, waku): Ed25519
 * signatures are deterministic, so each input would otherwise sign the same
 * bytes again. Include after crypto/record.h, registry/registry.h and
 * fuzz_check.h. */
#ifndef RDV_FUZZ_IDS_H
#define RDV_FUZZ_IDS_H

#include <stdint.h>
#include <string.h>

#include <sodium.h>

/* [k]: identity k; [k][legacy]: its record in either dialect, as
 * record_seal writes it, and the record's one address as record_open
 * reads it. */
struct fuzz_ids {
    struct privkey key[2];
    struct peer_id id[2];
    struct buf env[2][2];
    struct peer_record rec[2][2];
    struct rdv_addr addr[2][2];
};

/* Identity k's seed is 32 bytes of first_tag + k; every record has seq
 * and the one address ma (binary multiaddr). */
static void fuzz_ids_init(struct fuzz_ids *ids, uint8_t first_tag, uint64_t seq, const uint8_t *ma,
                          size_t ma_len)
{
    struct record_addr a = {ma, ma_len};
    for (int k = 0; k < 2; k++) {
        uint8_t seed[32], pk[32];
        struct pubkey pub;
        memset(seed, first_tag + k, sizeof seed);
        crypto_sign_seed_keypair(pk, ids->key[k].sk, seed);
        privkey_public(&ids->key[k], &pub);
        CHECK(peerid_from_pubkey(&ids->id[k], &pub) == 0);
        for (int legacy = 0; legacy < 2; legacy++) {
            struct buf *env = &ids->env[k][legacy];
            struct peer_record *rec = &ids->rec[k][legacy];
            char err[128];
            record_seal(&ids->key[k], legacy ? RECORD_LEGACY : RECORD_STANDARD, seq, &a, 1, env);
            CHECK(record_open(rec, buf_head(env), buf_size(env), err, sizeof err) == 0);
            CHECK(rec->naddrs == 1 && peerid_eq(&rec->id, &ids->id[k]));
            ids->addr[k][legacy] = (struct rdv_addr){rec->addrs[0].bytes, rec->addrs[0].len};
        }
    }
}

#endif
