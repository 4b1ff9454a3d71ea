/* The kernels of vector_pipeline as hsasim host kernels (built into
 * pipeline.co); pipeline_kernels.cl is the same for a real GPU. */
#include <stdint.h>

#include <hsasim/kernel_decl.h>

#include "pipeline_kernels.h"

/* One step of an order-sensitive chain: a dispatch run out of order, twice,
 * or with another dispatch's arguments gives different bytes. */
HSASIM_KERNEL(chain_step, chain_args, args, d,
              HSASIM_ARG_GLOBAL(data, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(n),
              HSASIM_ARG_VALUE(step))
{
    hsasim_for_each_item(d, x, y, z)
        if (x < args->n)
            args->data[x] = args->data[x] * 3u + args->step + x;
}

/* out[i] = a[i] + b[i]: joins two chains (possibly on two devices). */
HSASIM_KERNEL(join_add, join_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(a, HSASIM_READ_ONLY),
              HSASIM_ARG_GLOBAL(b, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(n))
{
    hsasim_for_each_item(d, x, y, z)
        if (x < args->n)
            args->out[x] = args->a[x] + args->b[x];
}
