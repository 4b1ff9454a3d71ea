/* The kernels of vector_pipeline as hsasim host kernels (built into
 * pipeline.co); pipeline_kernels.cl is the same for a real GPU. */
#include <stdint.h>

#include <hsasim/kernel_decl.h>

/* One step of an order-sensitive chain: a dispatch run out of order, twice,
 * or with another dispatch's arguments gives different bytes. */
typedef struct chain_args {
    uint32_t *data; /* 0, 8 */
    uint32_t n;     /* 8, 4 */
    uint32_t step;  /* 12, 4 */
} chain_args;       /* kernarg 16 */

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
typedef struct join_args {
    uint32_t *out;     /* 0, 8 */
    const uint32_t *a; /* 8, 8 */
    const uint32_t *b; /* 16, 8 */
    uint32_t n;        /* 24, 4 */
} join_args;           /* kernarg 28 */

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
