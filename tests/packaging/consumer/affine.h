/* The arguments of the consumer's kernel, shared by the kernel (affine.c,
 * an hsasim host kernel) and the program that dispatches it. */
#ifndef ROCHP_CONSUMER_AFFINE_H
#define ROCHP_CONSUMER_AFFINE_H

#include <stdint.h>

/* affine: out[x] = a * in[x] + x for x < n. */
typedef struct affine_args {
    uint32_t *out;      /* 0, 8 */
    const uint32_t *in; /* 8, 8 */
    uint32_t n;         /* 16, 4 */
    uint32_t a;         /* 20, 4 */
} affine_args;          /* kernarg 24 */

#endif
