/* The identity key file: a libp2p PrivateKey protobuf (go/kubo's on-disk
 * format), Ed25519 only. A new file is written to a temporary name in the
 * same directory, fsynced and renamed into place, so a crash leaves either no
 * key file or a complete one, never a torn one. */
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

#include <sodium.h>

#include "keys.pb-c.h"

/* Far more than a PrivateKey needs (100 bytes); bounds the read. */
#define KEYFILE_MAX 4096

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
    else if (m->type != KEYS__KEY_TYPE__Ed25519)
        what = "a PrivateKey of a type other than Ed25519 (only Ed25519 is supported)";
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
    int rc = 0;
    if (n == 0)
        rc = keyfile__fail(err, errlen, "key file %s is empty", path);
    else if (privkey_from_proto(k, data, n) != 0)
        rc = keyfile__fail(err, errlen, "key file %s is %s", path, keyfile__what(data, n));
    sodium_memzero(data, sizeof data);
    return rc;
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

static int keyfile__create(const char *path, struct privkey *k, char *err, size_t errlen)
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
    buf_reserve(&b, 128); /* room up front: no realloc leaves key bytes behind */
    privkey_to_proto(k, &b);

    const char *step = NULL;
    if (fchmod(fd, S_IRUSR | S_IWUSR) == -1)
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
    if (keyfile__create(path, k, err, errlen) != 0)
        return -1;
    if (created != NULL)
        *created = 1;
    return 0;
}
