/* Kernarg structs of queue_kernels.c (the host code object of the hsasim
 * queue tests), shared with the tests.  Every pointer is a global_buffer
 * argument: the packet processor checks that the queue's GPU may reach it,
 * so the tests point them at pool memory opened to every agent. */
#ifndef HSAQ_QUEUE_KERNELS_H
#define HSAQ_QUEUE_KERNELS_H

#include <stdatomic.h>
#include <stdint.h>

#include <hsa/hsa.h>

/* count: items[idx] += work-items of the dispatch; checks the group
 * segment starts zeroed and that dispatches of a queue run in order. */
typedef struct count_args {
    uint64_t *items;
    uint64_t *order; /* per queue: dispatches seen, checked against seq */
    uint64_t *errors;
    uint64_t idx, seq;
} count_args;

/* slow: sets *started, sleeps, sets *flag; check: *seen = *flag. */
typedef struct flag_args {
    _Atomic int *started;
    int *flag;
    int *seen;
    uint32_t sleep_ms;
} flag_args;

/* store: hsa_signal_store_screlease(signal, value). */
typedef struct store_args {
    hsa_signal_t signal;
    hsa_signal_value_t value;
} store_args;

/* fill: out[idx * FILL_ITEMS + x] = fill_value(idx, x); gather: checks and
 * sums every slice. */
#define FILL_ITEMS 64u
typedef struct fill_args {
    uint64_t *out;
    uint64_t idx;
} fill_args;

typedef struct gather_args {
    const uint64_t *out;
    uint64_t *sum, *mismatches;
    uint64_t n_dispatches;
} gather_args;

static inline uint64_t fill_value(uint64_t idx, uint32_t x)
{
    return (idx + 1) * 1000003ull + x;
}

/* groups: sets *started, counts its work-groups, sleeps sleep_ms in each. */
typedef struct groups_args {
    _Atomic int *started;
    _Atomic uint32_t *groups_run;
    uint32_t sleep_ms;
} groups_args;

#endif
