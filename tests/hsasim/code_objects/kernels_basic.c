/* Host kernels for the code object tests: every kind of argument the
 * declaration macros know, segment sizes, a kernel without arguments and an
 * exported variable. */
#include <string.h>

#include <hsasim/kernel_decl.h>

#include "test_kernels.h"

/* scale: out[i] = in[i] * coef.a + coef.b + coef.bias + tail for i < n. */
HSASIM_KERNEL(scale, scale_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(in, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(n),
              HSASIM_ARG_VALUE(coef),
              HSASIM_ARG_VALUE(tail),
              HSASIM_ARG_HIDDEN_V5(implicit))
{
    hsasim_for_each_item(d, x, y, z)
        if (x < args->n)
            args->out[x] = args->in[x] * args->coef.a + args->coef.b + (float)(args->coef.bias + args->tail);
}

/* No arguments: counts its work-groups in an exported variable. */
__attribute__((visibility("default"))) unsigned long hsasim_test_counter;
__attribute__((visibility("default"))) const char hsasim_test_banner[16] = "host kernels";

HSASIM_KERNEL(tick, tick_args, args, d, HSASIM_NO_ARGS)
{
    __atomic_fetch_add(&hsasim_test_counter, 1, __ATOMIC_RELAXED);
}

/* Group and private segments; a constant buffer; one hidden argument named
 * by itself; tail padding that is not part of the kernarg segment. */
HSASIM_KERNEL_SEGMENTS(reduce, reduce_args, 4096, 64, args, d,
                       HSASIM_ARG_GLOBAL(result, HSASIM_READ_WRITE),
                       HSASIM_ARG_CONSTANT(table),
                       HSASIM_ARG_VALUE(flag),
                       HSASIM_ARG_VALUE(scale),
                       HSASIM_ARG_HIDDEN(hostcall, HSASIM_VK_HIDDEN_HOSTCALL_BUFFER),
                       HSASIM_ARG_VALUE(count))
{
    uint32_t *lds = d->group_segment;
    memset(lds, 0, 4096);
    uint32_t sum = 0;
    hsasim_for_each_item(d, x, y, z)
        sum += args->table[x % 4] * (uint32_t)args->scale;
    lds[0] = sum;
    /* Work-groups may run concurrently. */
    __atomic_fetch_add(args->result, lds[0] + (args->flag ? 1u : 0u) + args->count,
                       __ATOMIC_RELAXED);
}
