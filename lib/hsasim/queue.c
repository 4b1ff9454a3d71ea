/* hsasim queues: creation, destruction, inactivation, device loss (the
 * design is in queue_impl.h).
 *
 * hsa_queue_create follows ROCR 5.2.3 (hsa.cpp, GpuAgent/CpuAgent::QueueCreate):
 * a NULL queue pointer, size 0 or not a power of two, or type > COOPERATIVE:
 * HSA_STATUS_ERROR_INVALID_ARGUMENT; unknown agent: INVALID_AGENT; a CPU
 * agent: HSA_STATUS_ERROR (no packet processor); COOPERATIVE: INVALID_QUEUE_
 * CREATION (no GWS); size > 131072: OUT_OF_RESOURCES; size < 64:
 * INVALID_ARGUMENT; private_segment_size > 262128 (UINT32_MAX = default):
 * OUT_OF_RESOURCES; a device that left: OUT_OF_RESOURCES (hsaKmtCreateQueue
 * fails).  The queue reports type MULTI whatever was asked, as AqlQueue.
 *
 * Device loss (sim_queues_kill_agent): as an error, but the callback gets
 * the status given, at most once per queue, and none at all for
 * HSA_STATUS_SUCCESS (a silent loss: the queue just stops), nor for a queue
 * already inactivated (it is no longer on the device). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_impl.h"

/* ROCR GpuAgent limits (amd_gpu_agent.h minAqlSize_/maxAqlSize_). */
#define QUEUE_MIN_PACKETS 0x40u
#define QUEUE_MAX_PACKETS 0x20000u
#define MAX_PRIVATE_SEGMENT 262128u /* GpuAgent::QueueCreate */

#define SIM_QUEUE_MAGIC 0x4555455551534853ull

pthread_mutex_t sim_queue_lock = PTHREAD_MUTEX_INITIALIZER;
sim_queue *sim_queue_list;
static _Atomic uint64_t g_queue_ids;

/* The queue behind a handle, looked up in the list (sim_queue_lock held). */
static sim_queue *queue_lookup_locked(const hsa_queue_t *queue)
{
    for (sim_queue *q = sim_queue_list; q; q = q->next)
        if ((const hsa_queue_t *)q == queue)
            return q;
    return NULL;
}

static bool queue_valid(const hsa_queue_t *queue)
{
    pthread_mutex_lock(&sim_queue_lock);
    bool ok = queue_lookup_locked(queue) != NULL;
    pthread_mutex_unlock(&sim_queue_lock);
    return ok;
}

static void queue_set_stop(sim_queue *q, uint32_t bits)
{
    atomic_fetch_or_explicit(&q->stop, bits, memory_order_seq_cst);
    sim_signal_kick(q->doorbell);
}

/* --- creation and destruction ------------------------------------------------------------- */
void sim_queue_free(sim_queue *q)
{
    sim_signal_free_internal(q->doorbell);
    sim_signal_free_internal(q->inactive_signal);
    free(q->ring);
    free(q->group_mem);
    free(q->private_mem);
    free(q->kernarg_copy);
    free(q->kernel.ptr_args);
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->parked_cv);
    q->magic = 0;
    free(q);
}

static bool is_pow2(uint32_t x)
{
    return x && !(x & (x - 1));
}

SIM_API hsa_status_t hsa_queue_create(hsa_agent_t agent, uint32_t size, hsa_queue_type32_t type,
                                      void (*callback)(hsa_status_t status, hsa_queue_t *source,
                                                       void *data),
                                      void *data, uint32_t private_segment_size,
                                      uint32_t group_segment_size, hsa_queue_t **queue)
{
    (void)group_segment_size; /* ROCR ignores it too */
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    /* hsa.cpp */
    if (!queue || size == 0 || !is_pow2(size) || type > HSA_QUEUE_TYPE_COOPERATIVE)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    /* CpuAgent::QueueCreate: no AQL packet processor. */
    if (a->type != HSA_DEVICE_TYPE_GPU)
        return HSA_STATUS_ERROR;
    /* GpuAgent::QueueCreate: no GWS here, so no cooperative queue. */
    if (type == HSA_QUEUE_TYPE_COOPERATIVE)
        return HSA_STATUS_ERROR_INVALID_QUEUE_CREATION;
    if (size > QUEUE_MAX_PACKETS)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    if (size < QUEUE_MIN_PACKETS)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (private_segment_size != UINT32_MAX && private_segment_size > MAX_PRIVATE_SEGMENT)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    /* A device that left: hsaKmtCreateQueue fails. */
    if (atomic_load(&a->dead))
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;

    sim_queue *q = aligned_alloc(AMD_QUEUE_ALIGN_BYTES, sizeof *q);
    if (!q)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    memset(q, 0, sizeof *q);
    q->ring = aligned_alloc(4096, (size_t)size * sizeof(hsa_kernel_dispatch_packet_t));
    q->doorbell = sim_signal_new_internal(0);
    q->inactive_signal = sim_signal_new_internal(0);
    if (!q->ring || !q->doorbell || !q->inactive_signal) {
        sim_signal_free_internal(q->doorbell);
        sim_signal_free_internal(q->inactive_signal);
        free(q->ring);
        free(q);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    memset(q->ring, 0, (size_t)size * sizeof(hsa_kernel_dispatch_packet_t));
    for (uint32_t i = 0; i < size; i++)
        q->ring[i].header = HSA_PACKET_TYPE_INVALID << HSA_PACKET_HEADER_TYPE;
    q->mask = size - 1;
    q->magic = SIM_QUEUE_MAGIC;
    q->agent = a;
    atomic_init(&q->priority, HSA_AMD_QUEUE_PRIORITY_NORMAL);
    q->callback = callback;
    q->data = data;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->parked_cv, NULL);
    atomic_init(&q->stop, 0);

    /* AqlQueue::AqlQueue */
    q->amd.hsa_queue.type = HSA_QUEUE_TYPE_MULTI;
    q->amd.hsa_queue.features = HSA_QUEUE_FEATURE_KERNEL_DISPATCH;
    q->amd.hsa_queue.base_address = q->ring;
    q->amd.hsa_queue.doorbell_signal = sim_signal_handle(q->doorbell);
    q->amd.hsa_queue.size = size;
    q->amd.hsa_queue.id = atomic_fetch_add(&g_queue_ids, 1);
    q->amd.read_dispatch_id_field_base_byte_offset =
        (uint32_t)offsetof(amd_queue_t, read_dispatch_id);
    uint64_t cus = a->node.simd_count / 4;
    q->amd.max_cu_id = cus ? (uint32_t)cus - 1 : 0;
    q->amd.max_wave_id = 4 * 10 - 1;
    AMD_HSA_BITS_SET(q->amd.queue_properties, AMD_QUEUE_PROPERTIES_IS_PTR64, 1);
    q->amd.queue_inactive_signal = sim_signal_handle(q->inactive_signal);

    if (pthread_create(&q->thread, NULL, sim_queue_processor, q) != 0) {
        sim_queue_free(q);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    pthread_mutex_lock(&sim_queue_lock);
    /* KFD create_queue_cpsch: is_evicted = !!qpd->evicted, and nothing
     * brings a VM fault's eviction back (queue_processor.c): it never runs. */
    bool evicted = atomic_load(&a->vm_evicted);
    if (evicted)
        atomic_fetch_or_explicit(&q->stop, STOP_EVICT, memory_order_seq_cst);
    q->next = sim_queue_list;
    sim_queue_list = q;
    pthread_mutex_unlock(&sim_queue_lock);
    if (evicted)
        sim_signal_kick(q->doorbell);
    *queue = &q->amd.hsa_queue;
    return HSA_STATUS_SUCCESS;
}

/* Stops the processor and frees q (already unlinked from sim_queue_list). */
static void queue_teardown(sim_queue *q)
{
    pthread_mutex_lock(&q->lock);
    bool self = pthread_equal(q->thread, pthread_self());
    q->self_destroy = self;
    pthread_mutex_unlock(&q->lock);
    queue_set_stop(q, STOP_DESTROY);
    if (self) {
        pthread_detach(q->thread); /* it frees q when its loop returns */
        return;
    }
    pthread_join(q->thread, NULL);
    sim_queue_free(q);
}

SIM_API hsa_status_t hsa_queue_destroy(hsa_queue_t *queue)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!queue)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&sim_queue_lock);
    sim_queue **pp = &sim_queue_list;
    while (*pp && (hsa_queue_t *)*pp != queue)
        pp = &(*pp)->next;
    sim_queue *q = *pp;
    if (q)
        *pp = q->next;
    pthread_mutex_unlock(&sim_queue_lock);
    if (!q)
        return HSA_STATUS_ERROR_INVALID_QUEUE;
    queue_teardown(q);
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_queue_inactivate(hsa_queue_t *queue)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!queue)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&sim_queue_lock);
    sim_queue *q = queue_lookup_locked(queue);
    if (q) {
        /* As hsaKmtDestroyQueue: synchronous, the queue is off the hardware
         * when this returns (unless called from the queue's own thread). */
        pthread_mutex_lock(&q->lock);
        atomic_fetch_or_explicit(&q->stop, STOP_INACTIVE, memory_order_seq_cst);
        pthread_mutex_unlock(&q->lock);
        sim_signal_kick(q->doorbell);
    }
    pthread_mutex_unlock(&sim_queue_lock);
    if (!q)
        return HSA_STATUS_ERROR_INVALID_QUEUE;
    /* q cannot be freed meanwhile: only hsa_queue_destroy frees, and a
     * concurrent destroy of the same queue is a user error in ROCR too. */
    if (!pthread_equal(q->thread, pthread_self())) {
        pthread_mutex_lock(&q->lock);
        while (!q->parked)
            pthread_cond_wait(&q->parked_cv, &q->lock);
        pthread_mutex_unlock(&q->lock);
    }
    return HSA_STATUS_SUCCESS;
}

void sim_queues_kill_agent(sim_agent *agent, hsa_status_t status)
{
    pthread_mutex_lock(&sim_queue_lock);
    for (sim_queue *q = sim_queue_list; q; q = q->next) {
        if (q->agent != agent)
            continue;
        pthread_mutex_lock(&q->lock);
        uint32_t st = atomic_load_explicit(&q->stop, memory_order_relaxed);
        /* Once per queue; an inactivated queue is no longer on the device. */
        bool kill = !(st & (STOP_KILL | STOP_INACTIVE | STOP_DESTROY));
        if (kill) {
            q->kill_status = status;
            /* HSA_STATUS_SUCCESS: a silent loss (kernels 5.14 .. 6.18):
             * the queue just stops, no callback. */
            atomic_fetch_or_explicit(
                &q->stop, STOP_KILL | (status == HSA_STATUS_SUCCESS ? STOP_KILL_DONE : 0),
                memory_order_seq_cst);
        }
        pthread_mutex_unlock(&q->lock);
        if (kill)
            sim_signal_kick(q->doorbell);
    }
    pthread_mutex_unlock(&sim_queue_lock);
}

void sim_queues_shutdown(void)
{
    for (;;) {
        pthread_mutex_lock(&sim_queue_lock);
        sim_queue *q = sim_queue_list;
        if (q)
            sim_queue_list = q->next;
        pthread_mutex_unlock(&sim_queue_lock);
        if (!q)
            return;
        queue_teardown(q);
    }
}

SIM_API hsa_status_t hsa_amd_queue_cu_set_mask(const hsa_queue_t *queue, uint32_t num_cu_mask_count,
                                               const uint32_t *cu_mask)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!queue || !queue_valid(queue))
        return HSA_STATUS_ERROR_INVALID_QUEUE;
    if (num_cu_mask_count != 0 && !cu_mask)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (num_cu_mask_count % 32 != 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return HSA_STATUS_SUCCESS; /* accepted; every CU is a host thread anyway */
}

/* ROCR 5.2.3 (hsa_ext_amd.cpp hsa_amd_queue_set_priority, AqlQueue::
 * SetPriority): LOW, NORMAL and HIGH map to KFD's minimum, normal and
 * maximum queue priority (hsaKmtUpdateQueue); anything else is
 * INVALID_ARGUMENT.  KFD schedules by it; hsasim runs every queue on a
 * thread of its own and only records it. */
SIM_API hsa_status_t hsa_amd_queue_set_priority(hsa_queue_t *queue, hsa_amd_queue_priority_t priority)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!queue)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&sim_queue_lock);
    sim_queue *q = queue_lookup_locked(queue);
    if (q && (priority == HSA_AMD_QUEUE_PRIORITY_LOW || priority == HSA_AMD_QUEUE_PRIORITY_NORMAL ||
              priority == HSA_AMD_QUEUE_PRIORITY_HIGH))
        atomic_store_explicit(&q->priority, priority, memory_order_relaxed);
    pthread_mutex_unlock(&sim_queue_lock);
    if (!q)
        return HSA_STATUS_ERROR_INVALID_QUEUE;
    if (priority != HSA_AMD_QUEUE_PRIORITY_LOW && priority != HSA_AMD_QUEUE_PRIORITY_NORMAL &&
        priority != HSA_AMD_QUEUE_PRIORITY_HIGH)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return HSA_STATUS_SUCCESS;
}
