/* Unsigned varints as multiformats defines them: 7 bits per byte, least
 * significant group first, minimal encoding, at most 9 bytes (63 bits) on
 * input. Protobuf's own varints are handled by protobuf-c. */
#ifndef RDV_BASE_VARINT_H
#define RDV_BASE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define UVARINT_MAX_LEN 10   /* bytes an encoder may write for a uint64 */
#define UVARINT_MAX_INPUT 9  /* bytes a decoder accepts (multiformats rule) */

/* Writes v at out (room for UVARINT_MAX_LEN), returns the bytes written. */
size_t uvarint_put(uint8_t *out, uint64_t v);
size_t uvarint_size(uint64_t v);
/* Reads a varint from p[0, n). Returns the bytes used (> 0), 0 if more input
 * is needed, -1 if the encoding is invalid (non-minimal, or longer than 9
 * bytes). */
int uvarint_get(const uint8_t *p, size_t n, uint64_t *v);

#endif
