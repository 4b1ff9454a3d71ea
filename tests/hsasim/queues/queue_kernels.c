/* The kernels of the hsasim queue tests, as a host code object (loaded for
 * every GPU, dispatched by their descriptors). */
#include <time.h>

#include <hsa/hsa.h>
#include <hsasim/kernel_decl.h>

#include "queue_kernels.h"

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

HSASIM_KERNEL(count, count_args, a, d,
              HSASIM_ARG_GLOBAL(items, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(order, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(errors, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(idx),
              HSASIM_ARG_VALUE(seq))
{
    if (d->group_segment) {
        uint64_t *g = d->group_segment;
        if (g[0] != 0)
            (*a->errors)++; /* group memory must start zeroed */
        g[0] = 0xdeadbeef;
    }
    uint64_t n = 0;
    hsasim_for_each_item(d, x, y, z)
    {
        (void)x, (void)y, (void)z;
        n++;
    }
    a->items[a->idx] += n;
    if (d->group_id[0] == 0 && d->group_id[1] == 0 && d->group_id[2] == 0) {
        if (*a->order != a->seq)
            (*a->errors)++; /* out of order */
        (*a->order)++;
    }
}

HSASIM_KERNEL(slow, flag_args, a, d,
              HSASIM_ARG_GLOBAL(started, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(flag, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(seen, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(sleep_ms))
{
    if (a->started)
        atomic_store(a->started, 1);
    sleep_ms(a->sleep_ms);
    if (a->flag)
        *a->flag = 1;
}

HSASIM_KERNEL(check, flag_args, a, d,
              HSASIM_ARG_GLOBAL(started, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(flag, HSASIM_READ_ONLY),
              HSASIM_ARG_GLOBAL(seen, HSASIM_WRITE_ONLY),
              HSASIM_ARG_VALUE(sleep_ms))
{
    *a->seen = *a->flag;
}

/* hsa_signal_store_screlease comes from the runtime the kernel runs on,
 * found in the process's global scope when the object is loaded (weak: the
 * tests that link hsasim's objects instead never run this kernel). */
#pragma weak hsa_signal_store_screlease

HSASIM_KERNEL(store, store_args, a, d,
              HSASIM_ARG_VALUE(signal),
              HSASIM_ARG_VALUE(value))
{
    hsa_signal_store_screlease(a->signal, a->value);
}

HSASIM_KERNEL(fill, fill_args, a, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_VALUE(idx))
{
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y, (void)z;
        a->out[a->idx * FILL_ITEMS + x] = fill_value(a->idx, x);
    }
}

HSASIM_KERNEL(gather, gather_args, a, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_READ_ONLY),
              HSASIM_ARG_GLOBAL(sum, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(mismatches, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(n_dispatches))
{
    for (uint64_t i = 0; i < a->n_dispatches; i++)
        for (uint32_t x = 0; x < FILL_ITEMS; x++) {
            uint64_t v = a->out[i * FILL_ITEMS + x];
            *a->sum += v;
            *a->mismatches += v != fill_value(i, x);
        }
}

HSASIM_KERNEL(groups, groups_args, a, d,
              HSASIM_ARG_GLOBAL(started, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(groups_run, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(sleep_ms))
{
    atomic_store(a->started, 1);
    atomic_fetch_add(a->groups_run, 1);
    sleep_ms(a->sleep_ms);
}
