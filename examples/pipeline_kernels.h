/* The arguments of vector_pipeline's kernels (pipeline_kernels.c for hsasim,
 * pipeline_kernels.cl for a real GPU), as the code objects' metadata lays
 * them out; the tests use them too. */
#ifndef ROCHP_EXAMPLES_PIPELINE_KERNELS_H
#define ROCHP_EXAMPLES_PIPELINE_KERNELS_H

#include <stdint.h>

/* chain_step: data[x] = data[x] * 3 + step + x, an order-sensitive step. */
typedef struct chain_args {
    uint32_t *data; /* 0, 8 */
    uint32_t n;     /* 8, 4 */
    uint32_t step;  /* 12, 4 */
} chain_args;       /* kernarg 16 */

/* join_add: out[x] = a[x] + b[x]. */
typedef struct join_args {
    uint32_t *out;     /* 0, 8 */
    const uint32_t *a; /* 8, 8 */
    const uint32_t *b; /* 16, 8 */
    uint32_t n;        /* 24, 4 */
    uint32_t pad;      /* not an argument (kernarg 28): keeps every byte copied set */
} join_args;

#endif
