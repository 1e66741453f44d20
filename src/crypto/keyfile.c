/* The identity key file: a libp2p PrivateKey protobuf (go/kubo's on-disk
 * format) or a js-libp2p PeerId JSON file ({"id", "privKey", "pubKey"}, the
 * keys as base64 of their protobufs, as libp2p-rendezvous-server's --peerId
 * took), Ed25519 only: the Noise handshake and the peer record are signed
 * with Ed25519. A new file is written to a temporary name in the same
 * directory, fsynced and renamed into place, so a crash leaves either no key
 * file or a complete one, never a torn one. */
#include "crypto/key.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* JSON only for PeerId files: none of the other libraries parses JSON, and
 * a parser is not something to write by hand. */
#include <jansson.h>
#include <sodium.h>

#include "crypto/peerid.h"
#include "keys.pb-c.h"


static int keyfile__fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Says what a file that is not a usable key holds, for the error text. */
static const char *keyfile__what(const uint8_t *p, size_t n)
{
    Keys__PrivateKey *m = keys__private_key__unpack(NULL, n, p);
    if (m == NULL)
        return "not a libp2p PrivateKey protobuf";
    const char *what = "not a valid Ed25519 PrivateKey";
    if (!m->has_type || !m->has_data)
        what = "an incomplete PrivateKey protobuf";
    else if (m->type == KEYS__KEY_TYPE__Secp256k1)
        what = "a secp256k1 key; rendezvousd signs its Noise handshake and peer record with "
               "Ed25519 only: make an Ed25519 identity with 'rdv keygen'";
    else if (m->type == KEYS__KEY_TYPE__RSA)
        what = "an RSA key; rendezvousd signs its Noise handshake and peer record with "
               "Ed25519 only: make an Ed25519 identity with 'rdv keygen'";
    else if (m->type != KEYS__KEY_TYPE__Ed25519)
        what = "a key of a type other than Ed25519 (only Ed25519 is supported)";
    if (m->has_data && m->data.data != NULL)
        sodium_memzero(m->data.data, m->data.len);
    keys__private_key__free_unpacked(m, NULL);
    return what;
}

static int keyfile__load(int fd, const char *path, struct privkey *k, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) == -1)
        return keyfile__fail(err, errlen, "cannot stat key file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return keyfile__fail(err, errlen, "key file %s is not a regular file", path);
    if (st.st_size > KEYFILE_MAX)
        return keyfile__fail(err, errlen, "key file %s is too large (%lld bytes) to be a key",
                             path, (long long)st.st_size);

    uint8_t data[KEYFILE_MAX + 1];
    size_t n = 0;
    for (;;) {
        ssize_t r = read(fd, data + n, sizeof data - n);
        if (r == -1 && errno == EINTR)
            continue;
        if (r == -1) {
            int e = errno;
            sodium_memzero(data, n);
            return keyfile__fail(err, errlen, "cannot read key file %s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof data) {
            /* It grew since fstat; refuse rather than read an unbounded file. */
            sodium_memzero(data, n);
            return keyfile__fail(err, errlen, "key file %s is too large to be a key", path);
        }
    }
    char why[300];
    int rc = 0;
    if (keyfile_parse(data, n, k, why, sizeof why) != 0)
        rc = keyfile__fail(err, errlen, "key file %s %s", path, why);
    sodium_memzero(data, sizeof data);
    return rc;
}

/* base64 as js writes it (padded), or without the padding. */
static int keyfile__base64(const char *s, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(s);
    if (sodium_base642bin(out, cap, s, n, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) == 0 ||
        sodium_base642bin(out, cap, s, n, NULL, len, NULL,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) == 0)
        return 0;
    return -1;
}

/* A js-libp2p PeerId JSON file: privKey holds the key, id must be its peer
 * id (a file whose id names another peer is refused: keeping the id is the
 * point of reusing the file), pubKey, when present, its public key. */
static int keyfile__parse_json(const uint8_t *data, size_t n, struct privkey *k, char *why,
                               size_t cap)
{
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL)
        return keyfile__fail(why, cap, "is not valid JSON (line %d: %s)", jerr.line, jerr.text);

    int rc = -1;
    const char *id = json_string_value(json_object_get(root, "id"));
    const char *priv = json_string_value(json_object_get(root, "privKey"));
    const char *pub = json_string_value(json_object_get(root, "pubKey"));
    uint8_t raw[KEYFILE_MAX];
    size_t len = 0;
    struct peer_id want, have;
    struct pubkey pk;
    char have_text[PEERID_TEXT_MAX];

    if (!json_is_object(root) || id == NULL || priv == NULL) {
        keyfile__fail(why, cap, "is JSON but not a js-libp2p PeerId file (it needs \"id\" and "
                      "\"privKey\" strings)");
    } else if (keyfile__base64(priv, raw, sizeof raw, &len) != 0) {
        keyfile__fail(why, cap, "is a PeerId JSON file whose privKey is not base64");
    } else if (privkey_from_proto(k, raw, len) != 0) {
        keyfile__fail(why, cap, "is a PeerId JSON file whose privKey is %s", keyfile__what(raw, len));
    } else {
        privkey_public(k, &pk);
        if (peerid_from_pubkey(&have, &pk) < 0 || peerid_to_text(&have, have_text, sizeof have_text) < 0)
            keyfile__fail(why, cap, "is a PeerId JSON file whose key has no peer id");
        else if (peerid_from_text(&want, id, strlen(id)) < 0)
            keyfile__fail(why, cap, "is a PeerId JSON file whose id '%.80s' is not a peer id "
                          "(its key's peer id is %s)", id, have_text);
        else if (!peerid_eq(&want, &have))
            keyfile__fail(why, cap, "is a PeerId JSON file whose id %.80s does not match its "
                          "privKey, whose peer id is %s", id, have_text);
        else
            rc = 0;
        if (rc == 0 && pub != NULL) {
            uint8_t mine[PUBKEY_PROTO_MAX];
            int mlen = pubkey_to_proto(&pk, mine, sizeof mine);
            if (keyfile__base64(pub, raw, sizeof raw, &len) != 0 || mlen < 0 ||
                (size_t)mlen != len || memcmp(raw, mine, len) != 0)
                rc = keyfile__fail(why, cap, "is a PeerId JSON file whose pubKey is not the "
                                   "public key of its privKey");
        }
        if (rc != 0)
            privkey_wipe(k);
    }
    sodium_memzero(raw, sizeof raw);
    json_decref(root);
    return rc;
}

int keyfile_parse(const uint8_t *data, size_t n, struct privkey *k, char *why, size_t cap)
{
    size_t lead = 0;
    while (lead < n && (data[lead] == ' ' || data[lead] == '\t' || data[lead] == '\n' ||
                        data[lead] == '\r'))
        lead++;
    if (n == 0)
        return keyfile__fail(why, cap, "is empty");
    if (lead < n && data[lead] == '{')
        return keyfile__parse_json(data, n, k, why, cap);
    if (privkey_from_proto(k, data, n) != 0)
        return keyfile__fail(why, cap, "is %s", keyfile__what(data, n));
    return 0;
}

int keyfile_to_json(const struct privkey *k, struct buf *out)
{
    struct buf proto = BUF_INIT;
    struct pubkey pk;
    struct peer_id id;
    uint8_t pub[PUBKEY_PROTO_MAX];
    char id_text[PEERID_TEXT_MAX];
    char priv64[256], pub64[256];

    buf_reserve(&proto, 128); /* room up front: no realloc leaves key bytes behind */
    privkey_to_proto(k, &proto);
    privkey_public(k, &pk);
    int plen = pubkey_to_proto(&pk, pub, sizeof pub);
    if (plen < 0 || peerid_from_pubkey(&id, &pk) < 0 || peerid_to_text(&id, id_text, sizeof id_text) < 0 ||
        sodium_base64_ENCODED_LEN(buf_size(&proto), sodium_base64_VARIANT_ORIGINAL) > sizeof priv64 ||
        sodium_base64_ENCODED_LEN((size_t)plen, sodium_base64_VARIANT_ORIGINAL) > sizeof pub64) {
        sodium_memzero(proto.data, proto.cap);
        buf_free(&proto);
        return -1;
    }
    sodium_bin2base64(priv64, sizeof priv64, buf_head(&proto), buf_size(&proto),
                      sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(pub64, sizeof pub64, pub, (size_t)plen, sodium_base64_VARIANT_ORIGINAL);
    sodium_memzero(proto.data, proto.cap);
    buf_free(&proto);
    /* The values are base58 and base64: nothing to escape, and formatting
     * them here keeps the key text in memory we wipe. */
    int n = snprintf((char *)buf_reserve(out, 512), 512,
                     "{\n  \"id\": \"%s\",\n  \"privKey\": \"%s\",\n  \"pubKey\": \"%s\"\n}\n",
                     id_text, priv64, pub64);
    sodium_memzero(priv64, sizeof priv64);
    if (n < 0 || n >= 512)
        return -1;
    buf_commit(out, (size_t)n);
    return 0;
}

static int keyfile__write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w == -1 && errno == EINTR)
            continue;
        if (w == -1)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The directory entry made by rename is durable only once the directory
 * itself is synced. */
static int keyfile__sync_dir(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t len = (size_t)(slash - path);
        if (len >= sizeof dir)
            return -1;
        memcpy(dir, path, len);
        dir[len] = '\0';
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd == -1)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static int keyfile__create(const char *path, struct privkey *k, bool json, char *err,
                           size_t errlen)
{
    char tmp[PATH_MAX];
    int len = snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path);
    if (len < 0 || (size_t)len >= sizeof tmp)
        return keyfile__fail(err, errlen, "key file path %s is too long", path);

    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd == -1) {
        int e = errno;
        if (e == ENOENT || e == ENOTDIR)
            return keyfile__fail(err, errlen,
                                 "cannot create key file %s: its directory does not exist", path);
        if (e == EACCES || e == EPERM || e == EROFS)
            return keyfile__fail(err, errlen,
                                 "cannot create key file %s: %s (is its directory writable?)",
                                 path, strerror(e));
        return keyfile__fail(err, errlen, "cannot create key file %s: %s", path, strerror(e));
    }

    struct buf b = BUF_INIT;
    privkey_generate(k);
    buf_reserve(&b, 1024); /* room up front: no realloc leaves key bytes behind */
    const char *step = NULL;
    if (!json)
        privkey_to_proto(k, &b);
    if (json && keyfile_to_json(k, &b) != 0) {
        step = "encoding";
        errno = EINVAL;
    } else if (fchmod(fd, S_IRUSR | S_IWUSR) == -1)
        step = "chmod";
    else if (keyfile__write_all(fd, buf_head(&b), buf_size(&b)) == -1)
        step = "write";
    else if (fsync(fd) == -1)
        step = "fsync";
    int e = errno;
    sodium_memzero(b.data, b.cap);
    buf_free(&b);
    if (close(fd) == -1 && step == NULL) {
        step = "close";
        e = errno;
    }
    if (step == NULL && rename(tmp, path) == -1) {
        step = "rename";
        e = errno;
    }
    if (step != NULL) {
        unlink(tmp);
        privkey_wipe(k);
        return keyfile__fail(err, errlen, "cannot create key file %s: %s failed: %s", path, step,
                             strerror(e));
    }
    /* The key is in place; a failed directory sync only weakens durability
     * against power loss, which is not worth refusing to start over. */
    (void)keyfile__sync_dir(path);
    return 0;
}

int keyfile_create(const char *path, struct privkey *k, bool json, char *err, size_t errlen)
{
    if (path == NULL || path[0] == '\0')
        return keyfile__fail(err, errlen, "no key file path given");
    return keyfile__create(path, k, json, err, errlen);
}

int keyfile_load_or_create(const char *path, struct privkey *k, int *created, char *err,
                           size_t errlen)
{
    if (created != NULL)
        *created = 0;
    if (path == NULL || path[0] == '\0')
        return keyfile__fail(err, errlen, "no key file path given");

    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd != -1) {
        int rc = keyfile__load(fd, path, k, err, errlen);
        close(fd);
        return rc;
    }
    int e = errno;
    if (e != ENOENT) {
        if (e == EACCES)
            return keyfile__fail(err, errlen, "cannot read key file %s: permission denied", path);
        return keyfile__fail(err, errlen, "cannot open key file %s: %s", path, strerror(e));
    }
    if (keyfile__create(path, k, false, err, errlen) != 0)
        return -1;
    if (created != NULL)
        *created = 1;
    return 0;
}
