/* Every public header together, with their inline functions called the ways
 * an application calls them, so that warnings which only appear once a
 * function is inlined into a caller (flow, bounds, uninitialised values)
 * appear here.  Compiled as C11 and, without the hsasim kernel headers
 * (C only: host kernels are C), as C++17 by test_headers.sh; never run. */
#include <rochp/rochp.h>
#include <rochp/rochp_dispatch.h>

#ifndef __cplusplus
#include <hsasim/kernel.h>
#include <hsasim/kernel_decl.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef struct small_args {
    uint32_t *data;
    uint32_t n;
    uint32_t step;
} small_args; /* 16 bytes: at most ROCHP_MIN_KERNARG_BYTES */

typedef struct large_args {
    uint32_t *out;
    const uint32_t *a;
    const uint32_t *b;
    uint32_t n;
    uint32_t pad;
} large_args; /* 32 bytes: checked against the queue's slots */

rochp_status use_dispatch_sizes(rochp_queue *q, const rochp_dispatch_kernel *k,
                                const rochp_launch *launch, const void *args, size_t size,
                                rochp_completion *done);
rochp_status use_dispatch_small(rochp_queue *q, const rochp_dispatch_kernel *k,
                                const rochp_launch *launch, uint32_t *data, uint32_t n,
                                uint32_t steps, rochp_completion *done);
rochp_status use_dispatch_large(rochp_queue *q, const rochp_dispatch_kernel *k,
                                const rochp_launch *launch, const large_args *args);
rochp_status use_barrier(rochp_queue *q, const rochp_completion *dep, rochp_completion *done);
rochp_status use_barrier_no_done(rochp_queue *q, const rochp_completion *dep);
bool use_done(const rochp_completion *c);
uint64_t use_poll(rochp_queue *q, const rochp_dispatch_kernel *k, const rochp_launch *launch);

/* Non-constant args size. */
rochp_status use_dispatch_sizes(rochp_queue *q, const rochp_dispatch_kernel *k,
                                const rochp_launch *launch, const void *args, size_t size,
                                rochp_completion *done)
{
    return rochp_dispatch(q, k, launch, args, size, done);
}

/* Constant sizes at most ROCHP_MIN_KERNARG_BYTES, in a loop, with and
 * without a completion. */
rochp_status use_dispatch_small(rochp_queue *q, const rochp_dispatch_kernel *k,
                                const rochp_launch *launch, uint32_t *data, uint32_t n,
                                uint32_t steps, rochp_completion *done)
{
    for (uint32_t s = 0; s < steps; s++) {
        small_args a = {data, n, s};
        rochp_status st = rochp_dispatch(q, k, launch, &a, sizeof a, s + 1 == steps ? done : NULL);
        if (st != ROCHP_OK)
            return st;
    }
    uint32_t word = n;
    return rochp_dispatch(q, k, launch, &word, sizeof word, NULL);
}

/* Constant sizes above ROCHP_MIN_KERNARG_BYTES, and a zero size. */
rochp_status use_dispatch_large(rochp_queue *q, const rochp_dispatch_kernel *k,
                                const rochp_launch *launch, const large_args *args)
{
    rochp_completion done;
    rochp_status st = rochp_dispatch(q, k, launch, args, sizeof *args, &done);
    if (st != ROCHP_OK)
        return st;
    uint8_t bytes[256] = {0};
    st = rochp_dispatch(q, k, launch, bytes, sizeof bytes, NULL);
    if (st != ROCHP_OK)
        return st;
    st = rochp_dispatch(q, k, launch, NULL, 0, NULL);
    if (st != ROCHP_OK)
        return st;
    return rochp_completion_wait(&done, 1000000000u);
}

rochp_status use_barrier(rochp_queue *q, const rochp_completion *dep, rochp_completion *done)
{
    return rochp_dispatch_barrier(q, dep, done);
}

rochp_status use_barrier_no_done(rochp_queue *q, const rochp_completion *dep)
{
    return rochp_dispatch_barrier(q, dep, NULL);
}

bool use_done(const rochp_completion *c)
{
    return rochp_completion_done(c);
}

/* A dispatch, a barrier on it and a poll, as one flow. */
uint64_t use_poll(rochp_queue *q, const rochp_dispatch_kernel *k, const rochp_launch *launch)
{
    rochp_completion first, second;
    small_args a = {NULL, 0, 0};
    if (rochp_dispatch(q, k, launch, &a, sizeof a, &first) != ROCHP_OK)
        return 0;
    if (rochp_dispatch_barrier(q, &first, &second) != ROCHP_OK)
        return 0;
    uint64_t spins = 0;
    while (!rochp_completion_done(&second))
        spins++;
    return spins;
}

#ifdef __cplusplus
}
#endif

#ifndef __cplusplus
/* Host kernels, with every kind of argument entry. */
typedef struct scale_args {
    float *out;
    const float *in;
    const float *table;
    uint32_t n;
    struct {
        float a, b;
    } coef;
    uint64_t hostcall;
    hsasim_implicit_args implicit;
} scale_args;

HSASIM_KERNEL(scale, scale_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_GLOBAL(in, HSASIM_READ_ONLY),
              HSASIM_ARG_CONSTANT(table),
              HSASIM_ARG_VALUE(n),
              HSASIM_ARG_VALUE(coef),
              HSASIM_ARG_HIDDEN(hostcall, HSASIM_VK_HIDDEN_HOSTCALL_BUFFER),
              HSASIM_ARG_HIDDEN_V5(implicit))
{
    hsasim_for_each_item(d, x, y, z)
        if (x < args->n)
            args->out[x] = args->in[x] * args->coef.a + args->coef.b + args->table[y + z];
}

typedef struct no_args {
    char unused;
} no_args;

HSASIM_KERNEL_SEGMENTS(tile, no_args, 1024, 64, args, d, HSASIM_NO_ARGS)
{
    uint32_t *lds = (uint32_t *)d->group_segment;
    for (uint32_t i = 0; i < hsasim_group_extent(d, 0); i++)
        lds[i] = i;
}

const char *use_value_kind_name(unsigned kind);
const char *use_value_kind_name(unsigned kind)
{
    return hsasim_value_kind_name(kind);
}
#endif
