/* examples/hip_events' kernel as an hsasim host code object: the stand-in
 * of hip_events_kernels.hip's accumulate, its arguments laid out as clang
 * lays out the __global__ function's (checked at build time). */
#define HIP_EVENTS_HOST_KERNEL
#include <hsasim/kernel_decl.h>

#include "hip_events_kernels.h"

typedef struct accumulate_args {
    uint64_t *acc; /* 0, 8 */
    uint64_t add;  /* 8, 8 */
    uint32_t n;    /* 16, 4 */
} accumulate_args;

HSASIM_KERNEL(accumulate, accumulate_args, args, d,
              HSASIM_ARG_GLOBAL(acc, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(add),
              HSASIM_ARG_VALUE(n))
{
    hsasim_for_each_item(d, i, j, k)
        if (i < args->n)
            args->acc[i] = args->acc[i] * HIP_EVENTS_MUL + args->add + i;
}
