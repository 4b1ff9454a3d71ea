/* The kernels of the core tests that dispatch, as a host code object: hsasim
 * runs a kernel only from a code object loaded for the queue's GPU. */
#include <time.h>

#include <hsasim/kernel_decl.h>

#include "core_kernels.h"

HSASIM_KERNEL(triple, triple_args, a, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY))
{
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y, (void)z;
        a->out[x] = x * 3;
    }
}

HSASIM_KERNEL(fill, fill_args, a, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_VALUE(base))
{
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y, (void)z;
        a->out[x] = a->base + x;
    }
}

HSASIM_KERNEL(busy, busy_args, a, d,
              HSASIM_ARG_GLOBAL(groups_run, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(sleep_us))
{
    struct timespec ts = {0, (long)a->sleep_us * 1000};
    nanosleep(&ts, NULL);
    /* The test polls the count from another thread. */
    __atomic_fetch_add(a->groups_run, 1, __ATOMIC_RELAXED);
}
