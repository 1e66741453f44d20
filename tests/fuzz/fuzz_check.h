/* The fuzz targets' assertion: on failure, says where and aborts (which
 * libFuzzer reports as a crash with the input). */
#ifndef RDV_FUZZ_CHECK_H
#define RDV_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);                  \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
