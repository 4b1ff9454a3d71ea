/* Kernarg structs of fault_kernels.c (the host code object of the hsasim
 * fault and strictness tests), shared with the tests. */
#ifndef HSASIM_FAULT_KERNELS_H
#define HSASIM_FAULT_KERNELS_H

#include <stdint.h>

/* slow: each work-group sleeps sleep_us and counts itself in *groups_run. */
typedef struct slow_args {
    uint64_t *groups_run;
    uint32_t sleep_us;
} slow_args;

/* touch: *out = value + (in ? *in : 0), once per dispatch. */
typedef struct touch_args {
    uint64_t *out;
    const uint64_t *in;
    uint64_t value;
} touch_args;

/* nop: no arguments (a one-member struct, as HSASIM_NO_ARGS wants). */
typedef struct nop_args {
    char unused;
} nop_args;

#endif
