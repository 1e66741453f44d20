/* Multiaddr fuzz target. The input is tried both ways:
 *  - as binary: validate, next and to_text must agree, never read past the
 *    input, and a valid address must print to text that parses back to the
 *    identical bytes;
 *  - as text: whatever from_text accepts must validate, and its canonical
 *    text must parse back to the same bytes.
 * Any broken promise abort()s so libFuzzer reports it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/multiaddr.h"

static void fuzz_binary(const uint8_t *data, size_t size)
{
    char text[MULTIADDR_TEXT_MAX], err[128];
    uint8_t back[MULTIADDR_MAX];
    struct ma_component c;
    struct ma_dial d;
    size_t off = 0;
    int r, count = 0;

    while ((r = multiaddr_next(data, size, &off, &c)) == 1) {
        if (off > size || c.value < data || c.len > size ||
            c.value + c.len > data + size || c.name == NULL)
            abort();
        count++;
    }
    int valid = multiaddr_validate(data, size) == 0;
    int tn = multiaddr_to_text(data, size, text, sizeof text);
    if (valid != (tn >= 0))
        abort(); /* to_text succeeds exactly on valid input */
    if (valid && (r != 0 || count == 0 || off != size))
        abort(); /* a valid address iterates cleanly to its end */
    (void)multiaddr_parse_dial(data, size, &d, err, sizeof err);
    if (!valid)
        return;
    if (tn <= 0 || (size_t)tn != strlen(text) || text[0] != '/')
        abort();
    int n = multiaddr_from_text(text, back, sizeof back, err, sizeof err);
    if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0)
        abort();
    /* A short output buffer fails cleanly. */
    if (multiaddr_to_text(data, size, text, (size_t)tn) != -1)
        abort();
}

static void fuzz_text(const uint8_t *data, size_t size)
{
    char text[MULTIADDR_TEXT_MAX + 1], again[MULTIADDR_TEXT_MAX], err[128];
    uint8_t bin[MULTIADDR_MAX], back[MULTIADDR_MAX];

    if (size > MULTIADDR_TEXT_MAX)
        size = MULTIADDR_TEXT_MAX;
    memcpy(text, data, size);
    text[size] = '\0';
    int n = multiaddr_from_text(text, bin, sizeof bin, err, sizeof err);
    if (n < 0)
        return;
    if (n == 0 || multiaddr_validate(bin, (size_t)n) != 0)
        abort();
    int tn = multiaddr_to_text(bin, (size_t)n, again, sizeof again);
    if (tn <= 0)
        abort();
    int m = multiaddr_from_text(again, back, sizeof back, err, sizeof err);
    if (m != n || memcmp(back, bin, (size_t)n) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_binary(data, size);
    fuzz_text(data, size);
    return 0;
}
