/* A kernel for the code objects built with a TARGET_ID (amdhsa.target). */
#include <hsasim/kernel_decl.h>

typedef struct fill_args {
    uint32_t *out;
    uint32_t value;
} fill_args;

HSASIM_KERNEL(fill, fill_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_VALUE(value))
{
    hsasim_for_each_item(d, x, y, z)
        args->out[x] = args->value;
}
