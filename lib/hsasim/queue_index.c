/* hsasim queue indexes (AqlQueue::*Index*): the fast paths, which ROCR
 * runs without checking the queue. */
#include <stdio.h>
#include <stdlib.h>

#include "queue_impl.h"

static inline sim_queue *q_of(const hsa_queue_t *queue)
{
    return (sim_queue *)(uintptr_t)queue;
}

/* Fast paths (index accessors): ROCR converts without checking. */
static inline sim_queue *q_fast(const hsa_queue_t *queue, const char *fn)
{
    if (__builtin_expect(queue == NULL, 0)) {
        fprintf(stderr, "hsasim: %s: NULL queue\n", sim_api_name(fn));
        abort();
    }
    return q_of(queue);
}

/* --- indexes (AqlQueue::*Index*) ------------------------------------------------------------ */
#define Q_LOAD(name, field, order)                                                     \
    SIM_API uint64_t hsa_queue_##name(const hsa_queue_t *queue)                        \
    {                                                                                  \
        sim_queue *q = q_fast(queue, __func__);                                        \
        return __atomic_load_n(&q->amd.field, order);                                  \
    }

Q_LOAD(load_read_index_relaxed, read_dispatch_id, __ATOMIC_RELAXED)
Q_LOAD(load_read_index_scacquire, read_dispatch_id, __ATOMIC_ACQUIRE)
Q_LOAD(load_write_index_relaxed, write_dispatch_id, __ATOMIC_RELAXED)
Q_LOAD(load_write_index_scacquire, write_dispatch_id, __ATOMIC_ACQUIRE)

#define Q_STORE_W(name, order)                                                         \
    SIM_API void hsa_queue_##name(const hsa_queue_t *queue, uint64_t value)            \
    {                                                                                  \
        sim_queue *q = q_fast(queue, __func__);                                        \
        __atomic_store_n(&q->amd.write_dispatch_id, value, order);                     \
    }

Q_STORE_W(store_write_index_relaxed, __ATOMIC_RELAXED)
Q_STORE_W(store_write_index_screlease, __ATOMIC_RELEASE)

/* The read index belongs to the packet processor: AqlQueue::StoreReadIndex*
 * are assert(false) in ROCR, i.e. no-ops in its release build. */
SIM_API void hsa_queue_store_read_index_relaxed(const hsa_queue_t *queue, uint64_t value)
{
    (void)q_fast(queue, __func__);
    (void)value;
}

SIM_API void hsa_queue_store_read_index_screlease(const hsa_queue_t *queue, uint64_t value)
{
    (void)q_fast(queue, __func__);
    (void)value;
}

#define Q_CAS_W(name, order, fail_order)                                               \
    SIM_API uint64_t hsa_queue_##name(const hsa_queue_t *queue, uint64_t expected,     \
                                      uint64_t value)                                  \
    {                                                                                  \
        sim_queue *q = q_fast(queue, __func__);                                        \
        uint64_t seen = expected;                                                      \
        __atomic_compare_exchange_n(&q->amd.write_dispatch_id, &seen, value, false,    \
                                    order, fail_order);                                \
        return seen;                                                                   \
    }

Q_CAS_W(cas_write_index_relaxed, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
Q_CAS_W(cas_write_index_scacquire, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)
Q_CAS_W(cas_write_index_screlease, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
Q_CAS_W(cas_write_index_scacq_screl, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

#define Q_ADD_W(name, order)                                                           \
    SIM_API uint64_t hsa_queue_##name(const hsa_queue_t *queue, uint64_t value)        \
    {                                                                                  \
        sim_queue *q = q_fast(queue, __func__);                                        \
        return __atomic_fetch_add(&q->amd.write_dispatch_id, value, order);            \
    }

Q_ADD_W(add_write_index_relaxed, __ATOMIC_RELAXED)
Q_ADD_W(add_write_index_scacquire, __ATOMIC_ACQUIRE)
Q_ADD_W(add_write_index_screlease, __ATOMIC_RELEASE)
Q_ADD_W(add_write_index_scacq_screl, __ATOMIC_ACQ_REL)

/* The deprecated names (ROCR's hsacore.so.link) are aliases of the exported
 * entry points (gen_api.py). */
