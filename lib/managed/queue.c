/* Queues: an HSA AQL queue rochp owns, with its completion signal, its
 * kernarg slots and (journaled) its journal; the dispatch path itself is
 * inline in include/rochp/rochp_dispatch.h and reads only the ring.  This
 * file: creation and destruction, bindings, the journal calls and
 * what the inline path calls when a dispatch fails.  The runtime objects
 * are queue_runtime.c's, the waits queue_wait.c's.
 *
 * The queue list and each queue's bindings are under ctx->lock. */
#include <hsa/amd_hsa_queue.h>
#include <hsa/amd_hsa_signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "managed/managed.h"

_Static_assert(sizeof(rochp_launch) == 20 && offsetof(hsa_kernel_dispatch_packet_t, workgroup_size_x) == 4 &&
                   offsetof(hsa_kernel_dispatch_packet_t, grid_size_z) == 20,
               "rochp_launch is the packet's bytes 4..23");
_Static_assert(offsetof(hsa_kernel_dispatch_packet_t, private_segment_size) == 24 &&
                   offsetof(hsa_kernel_dispatch_packet_t, kernel_object) == 32 &&
                   offsetof(rochp_dispatch_kernel, kernel_object) == 8,
               "rochp_dispatch_kernel starts as the packet's bytes 24..39");
_Static_assert(offsetof(struct rochp_queue, ring) == 0, "rochp__ring casts the handle");

static void release(rochp_queue *q)
{
    queue_runtime_destroy(q->ctx, q->rt);
    for (binding *b = q->bindings; b;) {
        binding *next = b->next;
        free(b);
        b = next;
    }
    free(q);
}

/* With the runtime gate held. */
static rochp_status queue_create_locked(rochp_context *ctx, rochp_device_id device,
                                         const rochp_queue_options *options, uint64_t first_id,
                                         rochp_queue **out)
{
    ROCHP_ASSERT_GATE(ctx);
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_queue_create: out is NULL");
    *out = NULL;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_queue_create: this context has no HSA runtime");
    if (device == ROCHP_HOST)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: queues run on a GPU, not ROCHP_HOST");
    rochp_queue_options o;
    rochp_status st = managed_queue_read_options(options, &o);
    if (st != ROCHP_OK)
        return st;
    uint64_t agent;
    st = managed_device_agent(ctx, device, &agent);
    if (st != ROCHP_OK)
        return st;
    st = managed_device_usable(ctx, device, "rochp_queue_create");
    if (st != ROCHP_OK)
        return st;

    /* The limit the inline path writes gets a cache line of its own. */
    rochp_queue *q = aligned_alloc(64, (sizeof *q + 63) & ~(size_t)63);
    if (!q)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_queue_create: no memory");
    memset(q, 0, sizeof *q);
    q->ctx = ctx;
    q->id = managed_new_id(ctx);
    q->device = device;
    q->mode = o.mode;
    q->packets = o.packets;
    q->kernarg_bytes = o.kernarg_bytes;
    q->journal_length = o.journal_length;
    q->guard_aware = o.ring_abi >= 2;
    st = queue_runtime_create(q, device, agent, first_id, &q->ring, &q->rt);
    if (st == ROCHP_OK && (st = handle_add(q, HANDLE_QUEUE)) != ROCHP_OK)
        queue_runtime_destroy(ctx, q->rt);
    if (st != ROCHP_OK) {
        free(q);
        return st;
    }
    q->checkpoint_index = q->ring.journal_start;

    /* Listed only while the device is still there: a loss in between fails it now. */
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    if (!d || d->info.state != ROCHP_DEVICE_PRESENT)
        queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
    /* A checkpoint begun before it may still copy what it would write. */
    __atomic_store_n(&q->ring.guard, ctx->managed->guard_generation, __ATOMIC_SEQ_CST);
    q->next = ctx->managed->queues;
    ctx->managed->queues = q;
    pthread_mutex_unlock(&ctx->lock);
    *out = q;
    return ROCHP_OK;
}

rochp_status managed_queue_create(rochp_context *ctx, rochp_device_id device,
                                  const rochp_queue_options *options, uint64_t first_id,
                                  rochp_queue **out)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, "rochp_queue_create");
    if (st != ROCHP_OK)
        return st;
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, queue_create_locked(ctx, device, options, first_id, out));
}

rochp_status rochp_queue_create(rochp_context *ctx, rochp_device_id device,
                                const rochp_queue_options *options, rochp_queue **out)
{
    return managed_queue_create(ctx, device, options, 0, out);
}

/* With ctx->lock held: a queue other than q whose unfinished packets hold
 * a barrier on a packet of q (*id: the barrier's id), or NULL.  Such a
 * barrier reads q's completion signal until it is passed, and if q failed
 * it is never passed: q must stay until the waiter is done or gone. */
static rochp_queue *waiter_on(rochp_context *ctx, const rochp_queue *q, uint64_t *id)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (rochp_queue *o = ctx->managed->queues; o; o = o->next) {
        const struct rochp_queue_ring *r = &o->ring;
        if (o == q || !r->barriers || !r->completion_value)
            continue;
        uint64_t end = queue_next_index(o);
        for (uint64_t w = rochp__completed(r) - r->id_offset; w < end; w++) {
            const struct rochp_barrier_record *b = &r->barriers[w & r->mask];
            if (__atomic_load_n(&b->ring_index, __ATOMIC_ACQUIRE) == w &&
                __atomic_load_n(&b->dep_queue, __ATOMIC_RELAXED) == q) {
                *id = w + r->id_offset;
                return o;
            }
        }
    }
    return NULL;
}

rochp_status rochp_queue_destroy(rochp_queue *q)
{
    rochp_status st = handle_check(q, HANDLE_QUEUE, "rochp_queue_destroy");
    if (st != ROCHP_OK)
        return st;
    runtime_gate_enter(q->ctx);
    pthread_mutex_lock(&q->ctx->lock);
    uint64_t barrier_id = 0;
    const rochp_queue *waiter = waiter_on(q->ctx, q, &barrier_id);
    uint64_t waiter_id = waiter ? waiter->id : 0;
    pthread_mutex_unlock(&q->ctx->lock);
    runtime_gate_leave(q->ctx, ROCHP_OK);
    if (waiter)
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                 "rochp_queue_destroy: packet %llu of queue %llu, not finished, is "
                                 "a barrier on queue %llu; wait for it (or destroy queue %llu) "
                                 "first",
                                 (unsigned long long)barrier_id, (unsigned long long)waiter_id,
                                 (unsigned long long)q->id, (unsigned long long)waiter_id);
    /* In-flight packets would read freed kernargs.  The wait ends at once
     * for a queue that failed or waits for one that did (its packets never
     * complete), and destroying is no time to recover. */
    (void)queue_wait_all(q, 10ull * 1000 * 1000 * 1000);
    rochp_context *ctx = q->ctx;
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock); /* not while a checkpoint holds it */
    managed_settle(ctx); /* a begun checkpoint's cut names it */
    /* The next checkpoint must still copy what its work wrote. */
    dirty_note_retired(ctx, q);
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue **p = &ctx->managed->queues; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    handle_remove(q);
    /* What it ran since the checkpoint, no recovery can replay now. */
    uint64_t ran = queue_next_index(q) - q->checkpoint_index - atomic_load(&q->voided);
    if (q->ring.journal) {
        ran = 0;
        for (uint64_t w = q->ring.journal_start; w < queue_next_index(q); w++)
            ran += q->ring.journal[w & q->ring.slot_mask].kind != ROCHP_JOURNAL_VOID;
    }
    ctx->managed->retired_packets += ran;
    pthread_mutex_unlock(&ctx->lock);
    release(q);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

uint64_t rochp_queue_id(const rochp_queue *q)
{
    return handle_live(q, HANDLE_QUEUE) ? q->id : 0;
}

rochp_device_id rochp_queue_device(const rochp_queue *q)
{
    return handle_live(q, HANDLE_QUEUE) ? q->device : 0;
}

/* --- bindings ------------------------------------------------------------------------------ */
/* The kernel's binding on q made (with its object on q's device) or found. */
rochp_status managed_kernel_bind(rochp_kernel *kernel, rochp_queue *q,
                                 const rochp_dispatch_kernel **out)
{
    rochp_kernel_info info;
    rochp_status st = rochp_kernel_get_info(kernel, &info);
    if (st != ROCHP_OK)
        return st;
    if (info.kernarg_size > q->ring.kernarg_stride)
        return rochp__set_errorf(ROCHP_ERROR_TOO_LARGE,
                                "rochp_kernel_bind: %s takes %u bytes of arguments, the queue's "
                                "slots hold %u (rochp_queue_options.kernarg_bytes)",
                                info.name, info.kernarg_size, q->ring.kernarg_stride);
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    binding *found = NULL;
    for (binding *b = q->bindings; b && !found; b = b->next)
        if (b->pub.kernel == kernel)
            found = b;
    rochp_device_id device = q->device;
    pthread_mutex_unlock(&ctx->lock);
    if (found) {
        *out = &found->pub;
        return ROCHP_OK;
    }
    uint64_t object;
    st = managed_kernel_object(kernel, device, &object);
    if (st != ROCHP_OK)
        return st;
    binding *b = calloc(1, sizeof *b);
    if (!b)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_kernel_bind: out of memory");
    b->pub.kernel_object = object;
    b->pub.kernarg_size = info.kernarg_size;
    b->pub.args_min = managed_kernel_args_min(kernel);
    b->pub.group_segment_size = info.group_segment_size;
    b->pub.private_segment_size = info.private_segment_size;
    b->pub.kernel = kernel;
    pthread_mutex_lock(&ctx->lock);
    /* Another thread may have bound it meanwhile: one binding per kernel. */
    for (binding *o = q->bindings; o && !found; o = o->next)
        if (o->pub.kernel == kernel)
            found = o;
    if (!found) {
        b->next = q->bindings;
        q->bindings = b;
        found = b;
        b = NULL;
    }
    pthread_mutex_unlock(&ctx->lock);
    free(b);
    *out = &found->pub;
    return ROCHP_OK;
}

rochp_status rochp_kernel_bind(rochp_kernel *kernel, rochp_queue *q,
                               const rochp_dispatch_kernel **out)
{
    rochp_status st = handle_check(q, HANDLE_QUEUE, "rochp_kernel_bind");
    if (st == ROCHP_OK)
        st = handle_check(kernel, HANDLE_KERNEL, "rochp_kernel_bind");
    if (st == ROCHP_OK && !out)
        st = rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_kernel_bind: out is NULL");
    if (st != ROCHP_OK)
        return st;
    *out = NULL;
    if (managed_kernel_context(kernel) != q->ctx)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_kernel_bind: the kernel and the queue belong to different "
                                "contexts");
    runtime_gate_enter(q->ctx);
    return runtime_gate_leave(q->ctx, managed_kernel_bind(kernel, q, out));
}

void queues_forget_kernels(rochp_context *ctx, const rochp_module *m)
{
    ROCHP_ASSERT_HELD(&ctx->managed->module_lock);
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        for (binding *b = q->bindings; b; b = b->next)
            if (b->pub.kernel && managed_kernel_module(b->pub.kernel) == m) {
                /* A dispatch with it now faults (object 0), as on a GPU
                 * whose code was unloaded; the memory stays the queue's. */
                b->pub.kernel_object = 0;
                b->pub.kernel = NULL;
            }
    pthread_mutex_unlock(&ctx->lock);
}

rochp_status rochp_launch_init(rochp_launch *out, rochp_dim3 grid, rochp_dim3 block)
{
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_launch_init: out is NULL");
    uint64_t items = (uint64_t)block.x * block.y * block.z;
    if (!block.x || !block.y || !block.z || items > 1024)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_launch_init: block %ux%ux%u: each dimension must be at "
                                "least 1 and the work-items at most 1024",
                                block.x, block.y, block.z);
    if (!grid.x || !grid.y || !grid.z)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_launch_init: grid %ux%ux%u has a zero dimension", grid.x,
                                grid.y, grid.z);
    memset(out, 0, sizeof *out);
    out->block[0] = (uint16_t)block.x;
    out->block[1] = (uint16_t)block.y;
    out->block[2] = (uint16_t)block.z;
    out->grid[0] = grid.x;
    out->grid[1] = grid.y;
    out->grid[2] = grid.z;
    return ROCHP_OK;
}

/* --- what the inline path calls when a dispatch fails ------------------------------------ */
rochp_status rochp__dispatch_refused(rochp_queue *q, rochp_status status,
                                     const rochp_dispatch_kernel *k, size_t args_size)
{
    switch (status) {
    case ROCHP_ERROR_INVALID_ARGUMENT:
        if (args_size > q->ring.kernarg_stride)
            return rochp__set_errorf(status,
                                    "rochp_dispatch: %zu bytes of arguments, the queue's kernarg "
                                    "slots hold %u (rochp_queue_options.kernarg_bytes)",
                                    args_size, q->ring.kernarg_stride);
        return rochp__set_errorf(status,
                                "rochp_dispatch: %zu bytes of arguments, kernel %s takes %u "
                                "bytes of explicit arguments",
                                args_size,
                                k && k->kernel ? managed_kernel_name(k->kernel) : "(freed)",
                                k ? k->args_min : 0);
    case ROCHP_ERROR_JOURNAL_FULL:
        return rochp__set_errorf(status,
                                "the journal of queue %llu holds %llu packets since the last "
                                "checkpoint, its length: checkpoint first (nothing was "
                                "dispatched)",
                                (unsigned long long)q->id,
                                (unsigned long long)(q->ring.slot_mask + 1));
    default:
        return queue_failure_message(q, status);
    }
}

rochp_status rochp__reservation_failed(rochp_queue *q, uint64_t ring_index, rochp_status status)
{
    struct rochp_queue_ring *r = &q->ring;
    if (r->journal) {
        /* The id is taken; a replay must not see what the slot held. */
        rochp_journal_entry *e = &r->journal[ring_index & r->slot_mask];
        memset(e, 0, sizeof *e);
        e->kind = ROCHP_JOURNAL_VOID;
    } else {
        atomic_fetch_add(&q->voided, 1);
    }
    return queue_failure_message(q, status);
}

/* Does a journal since the last checkpoint pass a pointer into [address,
 * +size) to a kernel (per its metadata: a global buffer argument)?  *queue
 * gets the first such queue's id. */
bool queues_journal_uses(rochp_context *ctx, const void *address, size_t size, uint64_t *queue)
{
    uintptr_t base = (uintptr_t)address;
    bool used = false;
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q && !used && address; q = q->next) {
        struct rochp_queue_ring *r = &q->ring;
        if (!r->journal || !r->kernargs)
            continue;
        uint64_t end = queue_next_index(q);
        for (uint64_t w = r->journal_start; w < end && !used; w++) {
            uint64_t slot = w & r->slot_mask;
            const rochp_journal_entry *e = &r->journal[slot];
            if (e->kind != ROCHP_JOURNAL_DISPATCH || !e->kernel)
                continue;
            const uint8_t *args = r->kernargs + (slot << r->kernarg_shift);
            for (uint32_t a = 0; a < managed_kernel_arg_count(e->kernel) && !used; a++) {
                uint32_t offset;
                if (!managed_kernel_pointer_arg(e->kernel, a, &offset) ||
                    offset + sizeof(uint64_t) > e->args_size)
                    continue;
                uint64_t v;
                memcpy(&v, args + offset, sizeof v);
                used = v >= base && v - base < size;
            }
        }
        if (used)
            *queue = q->id;
    }
    pthread_mutex_unlock(&ctx->lock);
    return used;
}

/* --- the journal ---------------------------------------------------------------------------- */
static uint64_t written_index(rochp_queue *q)
{
    runtime_gate_enter(q->ctx);
    uint64_t w = queue_next_index(q);
    runtime_gate_leave(q->ctx, ROCHP_OK);
    return w;
}

rochp_status rochp_queue_journal_length(const rochp_queue *q, uint64_t *count)
{
    rochp_status st = handle_check(q, HANDLE_QUEUE, "rochp_queue_journal_length");
    if (st != ROCHP_OK)
        return st;
    if (!count)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_journal_length: count is NULL");
    if (!q->ring.journal)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_queue_journal_length: a plain queue keeps no journal");
    *count = written_index((rochp_queue *)q) -
             __atomic_load_n(&q->ring.journal_start, __ATOMIC_RELAXED);
    return ROCHP_OK;
}

rochp_status rochp_queue_journal_entry(const rochp_queue *q, uint64_t index,
                                       rochp_journal_entry *entry, const void **kernargs)
{
    uint64_t n;
    rochp_status st = rochp_queue_journal_length(q, &n);
    if (st != ROCHP_OK)
        return st;
    if (!entry)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_journal_entry: entry is NULL");
    if (index >= n)
        return rochp__set_errorf(ROCHP_ERROR_NOT_FOUND,
                                "rochp_queue_journal_entry: index %llu, the journal holds %llu",
                                (unsigned long long)index, (unsigned long long)n);
    runtime_gate_enter(q->ctx);
    uint64_t slot = (q->ring.journal_start + index) & q->ring.slot_mask;
    *entry = q->ring.journal[slot];
    /* NULL too once the runtime that held the slots went. */
    if (kernargs)
        *kernargs = entry->kind == ROCHP_JOURNAL_DISPATCH && q->ring.kernargs
                        ? q->ring.kernargs + (slot << q->ring.kernarg_shift)
                        : NULL;
    return runtime_gate_leave(q->ctx, ROCHP_OK);
}

rochp_status rochp_queue_journal_truncate(rochp_queue *q)
{
    rochp_status st = handle_check(q, HANDLE_QUEUE, "rochp_queue_journal_truncate");
    if (st != ROCHP_OK)
        return st;
    if (!q->ring.journal)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_queue_journal_truncate: a plain queue keeps no journal");
    /* A slot is still safe from reuse until its packet completed: the ring
     * check of the inline path keeps ids within a ring of the completed
     * count, and the journal is at least a ring long. */
    __atomic_store_n(&q->ring.journal_start, written_index(q), __ATOMIC_RELAXED);
    return ROCHP_OK;
}

/* --- the context's queues ------------------------------------------------------------------- */
void queues_mark_lost(rochp_context *ctx, rochp_device_id device)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        if (q->device == device)
            queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
}

void queues_mark_faulted(rochp_context *ctx, rochp_device_id device, const char *fault)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next) {
        if (q->device != device)
            continue;
        queue_fail(q, ROCHP_ERROR_QUEUE_FAILED);
        if (!q->fault[0])
            snprintf(q->fault, sizeof q->fault, "%s", fault);
    }
}

void queues_before_shut_down(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next) {
        if (!q->rt || !q->rt->hsa_queue)
            continue;
        q->dead_write_index = *q->ring.write_index;
        q->dead_value = *q->ring.completion_value;
    }
    pthread_mutex_unlock(&ctx->lock);
}

void queues_invalidate(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next) {
        queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
        if (!q->rt || !q->rt->hsa_queue)
            continue;
        /* The queue's indexes, signal and kernargs went with the runtime:
         * readers see their last values from now on. */
        q->ring.write_index = &q->dead_write_index;
        q->ring.completion_value = &q->dead_value;
        q->ring.kernargs = NULL;
        q->rt->hsa_queue = NULL;
        q->rt->kernargs = NULL;
    }
    pthread_mutex_unlock(&ctx->lock);
}

void queues_free_all(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    rochp_queue *q = ctx->managed->queues;
    ctx->managed->queues = NULL;
    for (rochp_queue *o = q; o; o = o->next)
        handle_remove(o);
    pthread_mutex_unlock(&ctx->lock);
    while (q) {
        rochp_queue *next = q->next;
        release(q);
        q = next;
    }
}
