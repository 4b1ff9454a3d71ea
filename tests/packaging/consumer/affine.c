/* The consumer's kernel for hsasim, built by rochp_add_host_code_object. */
#include <hsasim/kernel_decl.h>

#include "affine.h"

HSASIM_KERNEL(affine, affine_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(in, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(n),
              HSASIM_ARG_VALUE(a))
{
    hsasim_for_each_item(d, x, y, z)
        if (x < args->n)
            args->out[x] = args->a * args->in[x] + x;
}
