/* libp2p keys (WIRE.md §7). We hold private keys of type Ed25519 only; public
 * keys of all four types can be parsed and their signatures verified
 * (Ed25519 with libsodium; secp256k1, ECDSA and RSA with libcrypto). */
#ifndef RDV_CRYPTO_KEY_H
#define RDV_CRYPTO_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

enum key_type { KEY_RSA = 0, KEY_ED25519 = 1, KEY_SECP256K1 = 2, KEY_ECDSA = 3 };

#define PUBKEY_MAX_DATA 1100   /* RSA-8192 SubjectPublicKeyInfo fits */
#define PUBKEY_PROTO_MAX (PUBKEY_MAX_DATA + 8)
#define SIG_MAX 1024           /* RSA-8192 signature */

struct pubkey {
    enum key_type type;
    size_t len;
    uint8_t data[PUBKEY_MAX_DATA]; /* the PublicKey.Data bytes, canonical form */
};

struct privkey {
    uint8_t sk[64];   /* libsodium Ed25519 secret key: seed(32) ‖ public(32) */
};

/* Parses a PublicKey protobuf; checks the key is well formed for its type
 * (RSA: 2048..8192 bits; secp256k1: a valid point, kept compressed; ECDSA:
 * P-256/384/521 SPKI). -1 on anything else. */
int pubkey_from_proto(struct pubkey *k, const uint8_t *p, size_t n);
/* Canonical PublicKey protobuf of k into out; returns its length or -1 if cap is short. */
int pubkey_to_proto(const struct pubkey *k, uint8_t *out, size_t cap);
/* 0 if sig is a valid signature of msg by k under k's type's rules. */
int pubkey_verify(const struct pubkey *k, const uint8_t *msg, size_t n,
                  const uint8_t *sig, size_t siglen);
const char *key_type_name(enum key_type t);
/* Like pubkey_from_proto for a PublicKey already split into its fields (an
 * Envelope's embedded key); type is the raw protobuf enum value. */
int pubkey_from_data(struct pubkey *k, int type, const uint8_t *data, size_t n);

void privkey_generate(struct privkey *k);
void privkey_public(const struct privkey *k, struct pubkey *pub);
void privkey_sign(const struct privkey *k, const uint8_t *msg, size_t n, uint8_t sig[64]);
/* PrivateKey protobuf (Ed25519 only; 64-byte and legacy 96-byte data forms accepted). */
int privkey_from_proto(struct privkey *k, const uint8_t *p, size_t n);
void privkey_to_proto(const struct privkey *k, struct buf *out);
void privkey_wipe(struct privkey *k);

/* Bounds a key file's read: far more than an Ed25519 PrivateKey (100 bytes),
 * enough for a PeerId JSON file of an RSA-4096 key (refused by type, with a
 * message saying so, rather than as "too large"). */
#define KEYFILE_MAX 16384

/* Loads the key file at path, or creates it (mode 0600, written to a
 * temporary file, fsynced and renamed) with a new key if it does not exist.
 * On failure returns -1 with a reason in err. */
int keyfile_load_or_create(const char *path, struct privkey *k, int *created,
                           char *err, size_t errlen);
/* Writes a new key to path as keyfile_load_or_create creates one, as a
 * PrivateKey protobuf or, with json, a js-libp2p PeerId JSON file. The
 * final rename replaces an existing file: callers check first. */
int keyfile_create(const char *path, struct privkey *k, bool json, char *err, size_t errlen);
/* The contents of a key file (either form, see keyfile.c) into k. -1 with
 * why: a phrase to follow the file's name ("is empty", "is a PeerId JSON
 * file whose id ... does not match ..."). */
int keyfile_parse(const uint8_t *data, size_t n, struct privkey *k, char *why, size_t cap);
/* k as a PeerId JSON file ({"id", "privKey", "pubKey"}), appended to out.
 * Callers wipe out's memory. */
int keyfile_to_json(const struct privkey *k, struct buf *out);

#endif
