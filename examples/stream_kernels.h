/* The kernel of examples/hsa_stream, as an hsasim host code object
 * (stream_kernels.c): its kernarg layout. */
#ifndef ROCHP_EXAMPLES_STREAM_KERNELS_H
#define ROCHP_EXAMPLES_STREAM_KERNELS_H

#include <stdint.h>

/* fill: out[x] = base + x over the grid. */
typedef struct fill_args {
    uint32_t *out; /* 0, 8 */
    uint32_t base; /* 8, 4 */
} fill_args;

#endif
