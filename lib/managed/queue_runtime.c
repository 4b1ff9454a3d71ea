/* A queue's runtime objects, one incarnation at a time (compute.h): made
 * for a device, installed in the queue, stopped, given back.
 *
 * The ring's write index and packets are ROCR's own (the amd_queue_t the
 * hsa_queue_t starts, as AqlQueue lays it out; hsa_queue_add_write_index_*
 * is an atomic add on write_dispatch_id); the completion value is the
 * signal's amd_signal_t value, which hsa_signal_load_* reads.
 *
 * A queue's failure status (ring.failed, written here, read relaxed by the
 * inline path) and its error are under ctx->lock, so that a device's loss
 * fails its queues in the same step.  The queue error callback runs on the
 * runtime's thread and takes ctx->lock: no thread holding ctx->lock may
 * wait for the runtime's queue threads (hsa_queue_destroy). */
#include <hsa/amd_hsa_queue.h>
#include <hsa/amd_hsa_signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed/managed.h"

/* The two fields read from the runtime's own objects are where they were:
 * ROCm 6.1.2's amd_hsa_queue.h fills reserved words of amd_queue_t
 * (caps, scratch_last_used_index, the alt_scratch_* fields) and keeps its
 * size; amd_hsa_signal.h is unchanged from 5.2.3. */
_Static_assert(offsetof(amd_queue_t, hsa_queue) == 0 &&
                   offsetof(amd_queue_t, write_dispatch_id) == 56 && sizeof(amd_queue_t) == 256,
               "ROCR's amd_queue_t layout (ROCm 5.2.3 and 6.1.2)");
_Static_assert(offsetof(amd_signal_t, value) == 8 && sizeof(amd_signal_t) == 64,
               "ROCR's amd_signal_t layout (ROCm 5.2.3 and 6.1.2)");

/* The first reason stays; the limit of 0 sends the inline path to its slow
 * side, which reads the reason. */
void ring_fail(struct rochp_queue_ring *r, rochp_status why)
{
    uint32_t none = 0;
    __atomic_compare_exchange_n(&r->failed, &none, (uint32_t)-why, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    __atomic_store_n(&r->limit, 0, __ATOMIC_SEQ_CST);
}

void queue_fail(rochp_queue *q, rochp_status why)
{
    ring_fail(&q->ring, why);
}

/* A memory fault reason the driver gives for a program's own bad access,
 * not for the device (ROCR's VMFaultHandler fills the mask from KFD's
 * HsaMemoryAccessFault: NotPresent, ReadOnly, NoExecute, GpuAccess). */
static void queue_error(hsa_status_t status, hsa_queue_t *source, void *data)
{
    (void)source;
    queue_runtime *rt = data;
    rochp_queue *q = rt->q;
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    if (!rt->ring) { /* replaced (recovery) while the runtime reported it */
        pthread_mutex_unlock(&ctx->lock);
        return;
    }
    if (rt->ring == &q->ring)
        q->error = status;
    /* HSA_STATUS_ERROR is how ROCR reports a device that went (removal,
     * fatal halt, RAS: AqlQueue::ExceptionHandler); anything else is this
     * queue's own fault (a kernel trapped, ran an illegal instruction, or
     * touched memory it may not). */
    if (status == HSA_STATUS_ERROR) {
        device_entry *d = registry_find(ctx, rt->device);
        if (d)
            registry_mark_lost(ctx, d, ROCHP_REASON_QUEUE_ERROR);
        ring_fail(rt->ring, ROCHP_ERROR_DEVICE_LOST);
    } else {
        ring_fail(rt->ring, ROCHP_ERROR_QUEUE_FAILED);
    }
    pthread_mutex_unlock(&ctx->lock);
}

static void free_host_parts(queue_runtime *rt)
{
    free(rt->journal);
    free(rt->barriers);
    free(rt);
}

void queue_runtime_destroy(rochp_context *ctx, queue_runtime *rt)
{
    if (!rt)
        return;
    if (rt->hsa_queue) {
        ctx->hsa.queue_destroy(rt->hsa_queue);
        ctx->hsa.signal_destroy(rt->completion);
        if (rt->kernargs)
            ctx->hsa.amd_memory_pool_free(rt->kernargs);
    }
    free_host_parts(rt);
}

rochp_status queue_runtime_create(rochp_queue *q, rochp_device_id device, uint64_t agent,
                                  uint64_t id_offset, struct rochp_queue_ring *r,
                                  queue_runtime **out)
{
    rochp_context *ctx = q->ctx;
    uint64_t slots = (q->mode == ROCHP_QUEUE_JOURNALED ? q->journal_length : q->packets);
    *out = NULL;
    queue_runtime *rt = calloc(1, sizeof *rt);
    if (rt)
        rt->barriers = calloc(q->packets, sizeof *rt->barriers);
    if (rt && q->mode == ROCHP_QUEUE_JOURNALED)
        rt->journal = calloc(slots, sizeof *rt->journal);
    if (!rt || !rt->barriers || (q->mode == ROCHP_QUEUE_JOURNALED && !rt->journal)) {
        if (rt)
            free_host_parts(rt);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "queue on device %llu: no memory for a %llu-entry journal",
                                (unsigned long long)device, (unsigned long long)slots);
    }
    rt->q = q;
    rt->ring = r;
    rt->device = device;
    hsa_status_t hs = ctx->hsa.signal_create(ROCHP_COMPLETION_BASE - (int64_t)id_offset, 0, NULL,
                                             &rt->completion);
    if (hs != HSA_STATUS_SUCCESS) {
        free_host_parts(rt);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "queue on device %llu: cannot create the completion signal: %s",
                                (unsigned long long)device, rochp__hsa_status_text(&ctx->hsa, hs));
    }
    uint64_t kernarg_agent;
    rochp_status st = managed_pool_memory(ctx, device, true, slots * q->kernarg_bytes,
                                          &rt->kernargs, &kernarg_agent);
    if (st != ROCHP_OK) {
        ctx->hsa.signal_destroy(rt->completion);
        free_host_parts(rt);
        return st;
    }
    memset(rt->kernargs, 0, slots * q->kernarg_bytes);
    hs = ctx->hsa.queue_create((hsa_agent_t){agent}, q->packets, HSA_QUEUE_TYPE_MULTI, queue_error,
                               rt, UINT32_MAX, UINT32_MAX, &rt->hsa_queue);
    if (hs != HSA_STATUS_SUCCESS) {
        rt->hsa_queue = NULL;
        ctx->hsa.amd_memory_pool_free(rt->kernargs);
        ctx->hsa.signal_destroy(rt->completion);
        free_host_parts(rt);
        bool lost = managed_device_lost_now(ctx, device);
        return rochp__set_errorf(lost ? ROCHP_ERROR_DEVICE_LOST : ROCHP_ERROR_OUT_OF_MEMORY,
                                "hsa_queue_create on device %llu: %s", (unsigned long long)device,
                                rochp__hsa_status_text(&ctx->hsa, hs));
    }
    hsa_queue_t *hq = rt->hsa_queue;
    memset(r, 0, sizeof *r);
    r->packets = hq->base_address;
    r->write_index = &((amd_queue_t *)(void *)hq)->write_dispatch_id;
    r->completion = rt->completion;
    r->completion_value = &((const amd_signal_t *)(uintptr_t)rt->completion.handle)->value;
    r->kernargs = rt->kernargs;
    r->journal = rt->journal;
    r->barriers = rt->barriers;
    r->doorbell_store = ctx->hsa.signal_store_screlease;
    r->doorbell = hq->doorbell_signal;
    r->mask = hq->size - 1;
    r->kernarg_stride = q->kernarg_bytes;
    r->kernarg_shift = (uint32_t)__builtin_ctz(q->kernarg_bytes);
    r->slot_mask = slots - 1;
    r->id_offset = id_offset;
    r->queue_id = q->id;
    r->abi_version = ROCHP_RING_ABI_VERSION;
    r->journal_start = __atomic_load_n(r->write_index, __ATOMIC_RELAXED);
    /* nothing completed, nothing in flight */
    __atomic_store_n(&r->limit, r->journal_start + hq->size, __ATOMIC_SEQ_CST);
    *out = rt;
    return ROCHP_OK;
}

queue_runtime *queue_runtime_install(rochp_queue *q, rochp_device_id device,
                                     const struct rochp_queue_ring *ring, queue_runtime *rt)
{
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    queue_runtime *old = q->rt;
    uint32_t failed = ring_failed(ring);
    /* Field by field: the limit is written by the inline path. */
    memcpy((char *)&q->ring + offsetof(struct rochp_queue_ring, packets),
           (const char *)ring + offsetof(struct rochp_queue_ring, packets),
           sizeof *ring - offsetof(struct rochp_queue_ring, packets));
    __atomic_store_n(&q->ring.failed, failed, __ATOMIC_SEQ_CST);
    __atomic_store_n(&q->ring.guard, ctx->managed->guard_generation, __ATOMIC_SEQ_CST);
    __atomic_store_n(&q->ring.limit, failed ? 0 : __atomic_load_n(&ring->limit, __ATOMIC_SEQ_CST),
                     __ATOMIC_SEQ_CST);
    rt->ring = &q->ring;
    if (old)
        old->ring = NULL;
    q->rt = rt;
    q->device = device;
    q->error = HSA_STATUS_SUCCESS;
    q->fault[0] = '\0';
    q->checkpoint_index = q->ring.journal_start;
    atomic_store(&q->voided, 0);
    pthread_mutex_unlock(&ctx->lock);
    return old;
}

void queue_stop(rochp_queue *q, rochp_status why, const char *fault)
{
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    queue_fail(q, why);
    if (fault && !q->fault[0])
        snprintf(q->fault, sizeof q->fault, "%s", fault);
    queue_runtime *rt = q->rt;
    bool stop = rt && rt->hsa_queue && !rt->inactive;
    if (stop)
        rt->inactive = true;
    pthread_mutex_unlock(&ctx->lock);
    /* Its packets must not run on (recovery rolls buffers back under
     * them); its memory stays for the journal.  Not under ctx->lock: the
     * runtime may be reporting an error on it. */
    if (stop)
        ctx->hsa.queue_inactivate(rt->hsa_queue);
}

/* --- packets recovery writes into a new ring (nothing else dispatches) --------------------- */
static void publish(struct rochp_queue_ring *r, uint64_t w, uint32_t header)
{
    __atomic_store_n((uint32_t *)(void *)&r->packets[w & r->mask], header, __ATOMIC_RELEASE);
    r->doorbell_store(r->doorbell, (hsa_signal_value_t)w);
}

void ring_write_barrier(struct rochp_queue_ring *r, uint64_t w, rochp_queue *dep_queue,
                        uint64_t dep_queue_id, hsa_signal_t dep_signal, uint64_t dep_id)
{
    struct rochp_barrier_record *b = &r->barriers[w & r->mask];
    b->dep_queue = dep_queue;
    b->dep_id = dep_id;
    __atomic_store_n(&b->ring_index, w, __ATOMIC_RELEASE);
    if (r->journal) {
        rochp_journal_entry *e = &r->journal[w & r->slot_mask];
        memset(e, 0, sizeof *e);
        e->kind = ROCHP_JOURNAL_BARRIER;
        e->dep_queue = dep_queue;
        e->dep_id = dep_id;
        e->dep_queue_id = dep_queue_id;
    }
    hsa_amd_barrier_value_packet_t *p =
        (hsa_amd_barrier_value_packet_t *)(void *)&r->packets[w & r->mask];
    memset((char *)p + 4, 0, sizeof *p - 4);
    p->signal = dep_signal;
    p->value = ROCHP_COMPLETION_BASE - (int64_t)dep_id;
    p->mask = -1;
    p->cond = HSA_SIGNAL_CONDITION_LT;
    p->completion_signal = r->completion;
    publish(r, w, rochp__header(HSA_PACKET_TYPE_VENDOR_SPECIFIC) |
                      ((uint32_t)HSA_AMD_PACKET_TYPE_BARRIER_VALUE << 16));
}

void ring_write_nop(struct rochp_queue_ring *r, uint64_t w)
{
    if (r->journal) {
        rochp_journal_entry *e = &r->journal[w & r->slot_mask];
        memset(e, 0, sizeof *e);
        e->kind = ROCHP_JOURNAL_VOID;
    }
    /* A barrier-AND with no dependency completes at once. */
    hsa_barrier_and_packet_t *p = (hsa_barrier_and_packet_t *)(void *)&r->packets[w & r->mask];
    memset((char *)p + 4, 0, sizeof *p - 4);
    p->completion_signal = r->completion;
    publish(r, w, rochp__header(HSA_PACKET_TYPE_BARRIER_AND));
}
