/* uvarint_get on arbitrary bytes: it must only accept minimal encodings of
 * at most 9 bytes, so re-encoding an accepted value gives the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/varint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t v = 0;
    uint8_t out[UVARINT_MAX_LEN];
    int n = uvarint_get(data, size, &v);

    if (n < -1 || n > UVARINT_MAX_INPUT || (size_t)(n > 0 ? n : 0) > size)
        abort();
    if (n == 0) {
        /* "Need more" only for a short run of continuation bytes. */
        if (size >= UVARINT_MAX_INPUT)
            abort();
        for (size_t i = 0; i < size; i++)
            if (!(data[i] & 0x80))
                abort();
        return 0;
    }
    if (n < 0)
        return 0;
    size_t m = uvarint_put(out, v);
    if (m != (size_t)n || uvarint_size(v) != m || memcmp(out, data, m) != 0)
        abort();
    return 0;
}
