/* The kernels of the hsasim fault and strictness tests, as a host code
 * object loaded for every GPU. */
#include <time.h>

#include <hsasim/kernel_decl.h>

#include "fault_kernels.h"

HSASIM_KERNEL(slow, slow_args, a, d,
              HSASIM_ARG_GLOBAL(groups_run, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(sleep_us))
{
    struct timespec ts = {0, (long)a->sleep_us * 1000}; /* a GPU kernel takes time too */
    nanosleep(&ts, NULL);
    __atomic_fetch_add(a->groups_run, 1, __ATOMIC_RELAXED);
}

HSASIM_KERNEL(touch, touch_args, a, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(in, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(value))
{
    if (d->group_id[0] == 0)
        *a->out = a->value + (a->in ? *a->in : 0);
}

HSASIM_KERNEL(nop, nop_args, a, d, HSASIM_NO_ARGS)
{
}

/* A variable of the code object: each agent's copy has its own. */
__attribute__((visibility("default"))) uint64_t fault_kernels_word;
