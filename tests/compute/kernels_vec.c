/* Host kernels for the module tests: one kernel with written and read-only
 * buffers and two scalars, so that metadata and loading are checked against
 * a layout known here. */
#include <stdint.h>

#include <hsasim/kernel_decl.h>

typedef struct vscale_args {
    float *out;      /*  0, 8 */
    const float *in; /*  8, 8 */
    uint32_t n;      /* 16, 4 */
    float k;         /* 20, 4 */
} vscale_args;       /* kernarg 24, align 8 */

HSASIM_KERNEL(vscale, vscale_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(in, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(n),
              HSASIM_ARG_VALUE(k))
{
    hsasim_for_each_item(d, x, y, z)
        if (x < args->n)
            args->out[x] = args->in[x] * args->k;
}
