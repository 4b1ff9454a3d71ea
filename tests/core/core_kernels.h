/* Kernarg structs of core_kernels.c, the host code object of the core tests
 * that dispatch.  Every pointer is a global_buffer argument: hsasim checks
 * that the queue's GPU maps it, so the tests point them at pool memory
 * opened to that GPU. */
#ifndef ROCHP_TESTS_CORE_KERNELS_H
#define ROCHP_TESTS_CORE_KERNELS_H

#include <stdint.h>

/* triple: out[x] = 3 * x over the grid. */
typedef struct triple_args {
    uint32_t *out;
} triple_args;

/* fill: out[x] = base + x over the grid. */
typedef struct fill_args {
    uint32_t *out;
    uint32_t base;
} fill_args;

/* busy: each work-group sleeps sleep_us, as a GPU kernel takes time, then
 * counts itself in *groups_run, so that a test can tell how far a long
 * dispatch got. */
typedef struct busy_args {
    uint64_t *groups_run;
    uint32_t sleep_us;
} busy_args;

#endif
