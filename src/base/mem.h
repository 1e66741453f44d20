/* Allocation helpers. Every allocation driven by a peer is bounded by the
 * caller before it gets here, so running out of memory is not a condition
 * the protocol layers try to survive: these abort, as redis' zmalloc does. */
#ifndef RDV_BASE_MEM_H
#define RDV_BASE_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
void *xmemdup(const void *p, size_t n);

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
