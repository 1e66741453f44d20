/* librendezvous: identities (key files) without a client. */
#define RDV_CLIENT_BUILDING 1
#include "rendezvous/client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "crypto/key.h"
#include "crypto/peerid.h"

static int keys__fail(char *err, size_t errlen, int code, const char *fmt, const char *a,
                      const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
    return code;
}

static int keys__id(const struct privkey *k, char *out, size_t cap)
{
    struct pubkey pub;
    struct peer_id id;

    privkey_public(k, &pub);
    if (peerid_from_pubkey(&id, &pub) < 0 || peerid_to_text(&id, out, cap) < 0)
        return -1;
    return 0;
}

/* Read only: asking for an id never creates a key. */
static int keys__read(const char *file, struct privkey *k, char *err, size_t errlen)
{
    uint8_t data[KEYFILE_MAX + 1];
    char why[300];
    FILE *f = fopen(file, "rbe");

    if (f == NULL)
        return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s: %s", file, strerror(errno));
    size_t n = fread(data, 1, sizeof(data), f);
    fclose(f);
    snprintf(why, sizeof(why), "is too large to be a key file");
    int rc = n < sizeof(data) ? keyfile_parse(data, n, k, why, sizeof(why)) : -1;
    sodium_memzero(data, sizeof(data));
    if (rc < 0)
        return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s %s", file, why);
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_key_peer_id(const char *key_file, int create, int *created,
                                          char *out, size_t cap, char *err, size_t errlen)
{
    struct privkey k;
    char why[300];
    int made = 0, rc;

    if (key_file == NULL || out == NULL)
        return RDV_CLIENT_ERR_INVALID;
    if (sodium_init() < 0)
        return RDV_CLIENT_ERR_KEY;
    if (!create) {
        if ((rc = keys__read(key_file, &k, err, errlen)) < 0)
            return rc;
    } else if (keyfile_load_or_create(key_file, &k, &made, why, sizeof why) < 0) {
        return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s%s", why, "");
    }
    rc = keys__id(&k, out, cap);
    privkey_wipe(&k);
    if (rc < 0)
        return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s: %s", key_file, "cannot derive a peer id");
    if (created)
        *created = made;
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_keygen(const char *key_file, int json, char *out, size_t cap,
                                     char *err, size_t errlen)
{
    struct privkey k;
    struct stat st;
    char why[300];
    int created = 0;

    if (key_file == NULL || out == NULL)
        return RDV_CLIENT_ERR_INVALID;
    if (sodium_init() < 0)
        return RDV_CLIENT_ERR_KEY;
    /* Never replace an identity: a peer id may be pinned in bootstrap lists. */
    if (lstat(key_file, &st) == 0)
        return keys__fail(err, errlen, RDV_CLIENT_ERR_EXISTS, "%s already exists; %s", key_file,
                          "not overwriting it");
    if (json) {
        if (keyfile_create(key_file, &k, true, why, sizeof(why)) < 0)
            return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s%s", why, "");
        created = 1;
    } else if (keyfile_load_or_create(key_file, &k, &created, why, sizeof(why)) < 0) {
        return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s%s", why, "");
    }
    int rc = keys__id(&k, out, cap);
    privkey_wipe(&k);
    if (rc < 0 || !created)
        return keys__fail(err, errlen, RDV_CLIENT_ERR_KEY, "%s: %s", key_file,
                          rc < 0 ? "cannot derive a peer id" : "appeared meanwhile; not written");
    return RDV_CLIENT_OK;
}

RDV_CLIENT_API int rdv_client_key_new(uint8_t *out, size_t cap, size_t *len, char *peer_id,
                                      size_t id_cap)
{
    struct privkey k;
    struct buf b = BUF_INIT;
    int rc = RDV_CLIENT_OK;

    if (out == NULL || len == NULL)
        return RDV_CLIENT_ERR_INVALID;
    if (sodium_init() < 0)
        return RDV_CLIENT_ERR_KEY;
    privkey_generate(&k);
    privkey_to_proto(&k, &b);
    if (buf_size(&b) > cap)
        rc = RDV_CLIENT_ERR_TOO_MANY;
    else if (peer_id && keys__id(&k, peer_id, id_cap) < 0)
        rc = RDV_CLIENT_ERR_TOO_MANY;
    else {
        memcpy(out, buf_head(&b), buf_size(&b));
        *len = buf_size(&b);
    }
    sodium_memzero(b.data, b.cap);
    buf_free(&b);
    privkey_wipe(&k);
    return rc;
}
