/* examples/hsa_stream's kernel as an hsasim host code object. */
#include <hsasim/kernel_decl.h>

#include "stream_kernels.h"

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
