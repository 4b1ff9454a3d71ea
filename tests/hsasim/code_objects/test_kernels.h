/* Kernarg structs of kernels_basic.c, shared with the tests. */
#ifndef HSASIM_TEST_KERNELS_H
#define HSASIM_TEST_KERNELS_H

#include <stdbool.h>
#include <stdint.h>

#include <hsasim/kernel_decl.h>

typedef struct coef_pair {
    float a, b;
    int32_t bias;
} coef_pair; /* a struct by value: 12 bytes, 4-aligned */

typedef struct scale_args {
    float *out;                    /*  0, 8 */
    const float *in;               /*  8, 8 */
    uint32_t n;                    /* 16, 4 */
    coef_pair coef;                /* 20, 12 */
    int32_t tail;                  /* 32, 4 */
    hsasim_implicit_args implicit; /* 40, 256 */
} scale_args;                      /* kernarg 296, align 8 */

typedef struct tick_args {
    char unused;
} tick_args; /* kernarg 0, align 4 */

typedef struct reduce_args {
    uint32_t *result;      /*  0, 8 */
    const uint32_t *table; /*  8, 8 */
    bool flag;             /* 16, 1 */
    double scale;          /* 24, 8 */
    uint64_t hostcall;     /* 32, 8 */
    uint16_t count;        /* 40, 2 -> kernarg 44 (42 rounded up to 4), sizeof 48 */
} reduce_args;

#endif
