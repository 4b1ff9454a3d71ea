/* hip_training.hip's kernel as hsasim host code: the same symbol and
 * argument layout (rochp_add_hip_fat_binary checks them at build time). */
#include <hsasim/kernel_decl.h>

/* extern "C" void train_step(unsigned *w, unsigned n, unsigned step, unsigned shard) */
typedef struct train_step_args {
    uint32_t *w;
    uint32_t n;
    uint32_t step;
    uint32_t shard;
} train_step_args;

HSASIM_KERNEL(train_step, train_step_args, args, d,
              HSASIM_ARG_GLOBAL(w, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(n),
              HSASIM_ARG_VALUE(step),
              HSASIM_ARG_VALUE(shard))
{
    hsasim_for_each_item(d, i, j, k)
        if (i < args->n)
            args->w[i] = args->w[i] * 3u + args->step + (uint32_t)i + args->shard * 1000u;
}
