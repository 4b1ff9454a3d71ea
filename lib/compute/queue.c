/* Queues: an HSA AQL queue rochp owns, with its completion signal, its
 * kernarg slots and (journaled) its journal; the dispatch path itself is
 * inline in include/rochp/rochp_dispatch.h and reads only the ring.
 *
 * The ring's write index and packets are ROCR's own (the amd_queue_t the
 * hsa_queue_t starts, as AqlQueue lays it out; hsa_queue_add_write_index_*
 * is an atomic add on write_dispatch_id); the completion value is the
 * signal's amd_signal_t value, which hsa_signal_load_* reads.
 *
 * The queue list is under ctx->lock, and so is a queue's failure status as
 * the library writes it (the inline path reads it relaxed): a device's loss
 * fails its queues in the same step.  The queue error callback runs on the
 * runtime's thread and takes ctx->lock, so no thread holding ctx->lock may
 * wait for the runtime's queue threads (hsa_queue_destroy is called without
 * it). */
#include <hsa/amd_hsa_queue.h>
#include <hsa/amd_hsa_signal.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"

#define DEFAULT_PACKETS 1024u
#define DEFAULT_KERNARG_BYTES 256u
#define MIN_PACKETS 64u
#define MAX_PACKETS 131072u
#define MAX_KERNARG_BYTES 4096u
#define MAX_JOURNAL (1u << 24)

_Static_assert(sizeof(rochp_launch) == 20 && offsetof(hsa_kernel_dispatch_packet_t, workgroup_size_x) == 4 &&
                   offsetof(hsa_kernel_dispatch_packet_t, grid_size_z) == 20,
               "rochp_launch is the packet's bytes 4..23");
_Static_assert(offsetof(hsa_kernel_dispatch_packet_t, private_segment_size) == 24 &&
                   offsetof(hsa_kernel_dispatch_packet_t, kernel_object) == 32 &&
                   offsetof(rochp_dispatch_kernel, kernel_object) == 8,
               "rochp_dispatch_kernel starts as the packet's bytes 24..39");
#define WAIT_SLICE_NS (20ull * 1000 * 1000)


_Static_assert(offsetof(struct rochp_queue, ring) == 0, "rochp__ring casts the handle");

void rochp_queue_options_init(rochp_queue_options *o)
{
    if (!o)
        return;
    memset(o, 0, sizeof *o);
    o->struct_size = sizeof *o;
    o->mode = ROCHP_QUEUE_PLAIN;
}

static bool is_pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

static rochp_status read_options(const rochp_queue_options *in, rochp_queue_options *o)
{
    rochp_queue_options_init(o);
    if (in) {
        if (in->struct_size < offsetof(rochp_queue_options, journal_length) + sizeof(uint32_t) ||
            in->struct_size > sizeof *o)
            return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_queue_create: options.struct_size %u is not one this "
                                    "library knows (use rochp_queue_options_init)",
                                    in->struct_size);
        memcpy(o, in, in->struct_size);
    }
    if (o->mode != ROCHP_QUEUE_PLAIN && o->mode != ROCHP_QUEUE_JOURNALED)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: unknown mode %d", (int)o->mode);
    if (!o->packets)
        o->packets = DEFAULT_PACKETS;
    if (!o->kernarg_bytes)
        o->kernarg_bytes = DEFAULT_KERNARG_BYTES;
    if (!is_pow2(o->packets) || o->packets < MIN_PACKETS || o->packets > MAX_PACKETS)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: packets %u must be a power of two in "
                                "%u..%u",
                                o->packets, MIN_PACKETS, MAX_PACKETS);
    if (!is_pow2(o->kernarg_bytes) || o->kernarg_bytes < ROCHP_MIN_KERNARG_BYTES ||
        o->kernarg_bytes > MAX_KERNARG_BYTES)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: kernarg_bytes %u must be a power of two in "
                                "%u..%u",
                                o->kernarg_bytes, ROCHP_MIN_KERNARG_BYTES, MAX_KERNARG_BYTES);
    if (o->mode == ROCHP_QUEUE_PLAIN) {
        o->journal_length = 0;
    } else {
        if (!o->journal_length)
            o->journal_length = 16 * o->packets;
        if (!is_pow2(o->journal_length) || o->journal_length < o->packets ||
            o->journal_length > MAX_JOURNAL)
            return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_queue_create: journal_length %u must be a power of "
                                    "two from packets (%u) to %u",
                                    o->journal_length, o->packets, MAX_JOURNAL);
    }
    return ROCHP_OK;
}

/* Records why the queue is dead; the inline path sees it at its next
 * reservation (the limit of 0 sends it to the slow side, which reads this).
 * The first reason stays. */
void queue_fail(rochp_queue *q, rochp_status why)
{
    uint32_t none = 0;
    __atomic_compare_exchange_n(&q->ring.failed, &none, (uint32_t)-why, false, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    __atomic_store_n(&q->ring.limit, 0, __ATOMIC_SEQ_CST);
}

/* The runtime's thread: the queue is dead.  HSA_STATUS_ERROR is how ROCR
 * reports a device that went (removal, fatal halt); anything else is this
 * queue's own fault (a kernel trapped or touched bad memory). */
static void queue_error(hsa_status_t status, hsa_queue_t *source, void *data)
{
    (void)source;
    rochp_queue *q = data;
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    q->error = status;
    if (status == HSA_STATUS_ERROR) {
        device_entry *d = registry_find(ctx, q->device);
        if (d)
            registry_mark_lost(ctx, d, ROCHP_REASON_QUEUE_ERROR);
        queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
    } else {
        queue_fail(q, ROCHP_ERROR_QUEUE_FAILED);
    }
    pthread_mutex_unlock(&ctx->lock);
}

/* Gives the runtime objects back (if the runtime still has them); the
 * journal stays. */
void queue_detach(rochp_queue *q)
{
    rochp_context *ctx = q->ctx;
    if (q->hsa_queue) {
        ctx->hsa.queue_destroy(q->hsa_queue);
        ctx->hsa.signal_destroy(q->ring.completion);
        if (q->kernarg_memory)
            ctx->hsa.amd_memory_pool_free(q->kernarg_memory);
    }
    q->hsa_queue = NULL;
    q->kernarg_memory = NULL;
}

static void release(rochp_queue *q)
{
    queue_detach(q);
    free(q->ring.journal);
    free(q);
}

/* New runtime objects for the queue on device (its agent given): an AQL
 * queue, a completion signal standing at id_offset completed packets, and
 * zeroed kernarg slots; the ring points at them, empty, with ids starting at
 * id_offset.  The journal is kept (its entries, if any, are the caller's). */
rochp_status queue_attach(rochp_queue *q, rochp_device_id device, uint64_t agent,
                          uint64_t id_offset)
{
    rochp_context *ctx = q->ctx;
    struct rochp_queue_ring *r = &q->ring;
    uint64_t slots = r->slot_mask + 1;
    hsa_signal_t completion;
    hsa_status_t hs = ctx->hsa.signal_create(ROCHP_COMPLETION_BASE - (int64_t)id_offset, 0, NULL,
                                             &completion);
    if (hs != HSA_STATUS_SUCCESS)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "rochp_queue_create: cannot create the completion signal: %s",
                                rochp_hsa_status_text(&ctx->hsa, hs));
    void *kernargs = NULL;
    uint64_t kernarg_agent;
    rochp_status st = compute_pool_memory(ctx, device, true, slots * q->kernarg_bytes, &kernargs,
                                          &kernarg_agent);
    if (st != ROCHP_OK) {
        ctx->hsa.signal_destroy(completion);
        return st;
    }
    memset(kernargs, 0, slots * q->kernarg_bytes);
    hsa_queue_t *hq = NULL;
    hs = ctx->hsa.queue_create((hsa_agent_t){agent}, q->packets, HSA_QUEUE_TYPE_MULTI, queue_error,
                               q, UINT32_MAX, UINT32_MAX, &hq);
    if (hs != HSA_STATUS_SUCCESS) {
        ctx->hsa.amd_memory_pool_free(kernargs);
        ctx->hsa.signal_destroy(completion);
        pthread_mutex_lock(&ctx->lock);
        device_entry *d = registry_find(ctx, device);
        bool lost = d && d->info.state != ROCHP_DEVICE_PRESENT;
        pthread_mutex_unlock(&ctx->lock);
        return rochp_set_errorf(lost ? ROCHP_ERROR_DEVICE_LOST : ROCHP_ERROR_OUT_OF_MEMORY,
                                "rochp_queue_create: hsa_queue_create on device %llu: %s",
                                (unsigned long long)device, rochp_hsa_status_text(&ctx->hsa, hs));
    }
    q->hsa_queue = hq;
    q->kernarg_memory = kernargs;
    q->device = device;
    q->error = HSA_STATUS_SUCCESS;
    r->packets = hq->base_address;
    r->write_index = &((amd_queue_t *)(void *)hq)->write_dispatch_id;
    r->completion = completion;
    r->completion_value = &((const amd_signal_t *)(uintptr_t)completion.handle)->value;
    r->kernargs = kernargs;
    r->doorbell_store = ctx->hsa.signal_store_screlease;
    r->doorbell = hq->doorbell_signal;
    r->mask = hq->size - 1;
    r->id_offset = id_offset;
    r->journal_start = __atomic_load_n(r->write_index, __ATOMIC_RELAXED);
    q->checkpoint_index = r->journal_start;
    __atomic_store_n(&r->failed, 0, __ATOMIC_SEQ_CST);
    /* nothing completed, nothing in flight */
    __atomic_store_n(&r->limit, r->journal_start + hq->size, __ATOMIC_SEQ_CST);
    return ROCHP_OK;
}

static rochp_status queue_create_ungated(rochp_context *ctx, rochp_device_id device,
                                const rochp_queue_options *options, rochp_queue **out)
{
    if (!ctx || !out)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: ctx and out must be set");
    *out = NULL;
    if (!ctx->hsa_up)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_queue_create: this context has no HSA runtime");
    if (device == ROCHP_HOST)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_create: queues run on a GPU, not ROCHP_HOST");
    rochp_queue_options o;
    rochp_status st = read_options(options, &o);
    if (st != ROCHP_OK)
        return st;
    uint64_t agent;
    st = compute_device_agent(ctx, device, &agent);
    if (st != ROCHP_OK)
        return st;

    /* The limit the inline path writes gets a cache line of its own. */
    rochp_queue *q = aligned_alloc(64, (sizeof *q + 63) & ~(size_t)63);
    if (q)
        memset(q, 0, sizeof *q);
    if (!q)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_queue_create: no memory");
    q->ctx = ctx;
    q->id = compute_new_id(ctx);
    q->device = device;
    q->mode = o.mode;
    uint64_t slots = o.mode == ROCHP_QUEUE_JOURNALED ? o.journal_length : o.packets;
    if (o.mode == ROCHP_QUEUE_JOURNALED) {
        q->ring.journal = calloc(slots, sizeof *q->ring.journal);
        if (!q->ring.journal) {
            free(q);
            return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                    "rochp_queue_create: no memory for a %u-entry journal",
                                    o.journal_length);
        }
    }
    q->packets = o.packets;
    q->kernarg_bytes = o.kernarg_bytes;
    q->ring.kernarg_stride = o.kernarg_bytes;
    q->ring.kernarg_shift = (uint32_t)__builtin_ctz(o.kernarg_bytes);
    q->ring.slot_mask = slots - 1;
    st = queue_attach(q, device, agent, 0);
    if (st != ROCHP_OK) {
        free(q->ring.journal);
        free(q);
        return st;
    }

    /* Listed only while the device is still there: a loss in between fails it now. */
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    if (!d || d->info.state != ROCHP_DEVICE_PRESENT)
        queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
    q->next = ctx->queues;
    ctx->queues = q;
    pthread_mutex_unlock(&ctx->lock);
    *out = q;
    return ROCHP_OK;
}

rochp_status rochp_queue_create(rochp_context *ctx, rochp_device_id device, const rochp_queue_options *options,
                                rochp_queue **out)
{
    if (!ctx)
        return queue_create_ungated(ctx, device, options, out);
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, queue_create_ungated(ctx, device, options, out));
}

static uint64_t written(rochp_queue *q);
static rochp_status wait_count(rochp_queue *q, uint64_t id, uint64_t timeout_ns, bool take_gate,
                               bool may_recover);

static rochp_status queue_destroy_ungated(rochp_queue *q)
{
    if (!q)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_queue_destroy: NULL queue");
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue **p = &ctx->queues; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            break;
        }
    pthread_mutex_unlock(&ctx->lock);
    release(q);
    return ROCHP_OK;
}

rochp_status rochp_queue_destroy(rochp_queue *q)
{
    if (!q)
        return queue_destroy_ungated(q);
    /* In-flight packets would read freed kernargs; a lost device's never end
     * (and destroying is no time to recover). */
    uint64_t w = written(q);
    if (w)
        (void)wait_count(q, w - 1, 10ull * 1000 * 1000 * 1000, true, false);
    rochp_context *ctx = q->ctx;
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->checkpoint_lock); /* not while a checkpoint holds it */
    rochp_status st = queue_destroy_ungated(q);
    pthread_mutex_unlock(&ctx->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

uint64_t rochp_queue_id(const rochp_queue *q)
{
    return q ? q->id : 0;
}

rochp_device_id rochp_queue_device(const rochp_queue *q)
{
    return q ? q->device : 0;
}

rochp_status compute_kernel_bind(rochp_kernel *kernel, rochp_queue *q, rochp_dispatch_kernel *out)
{
    if (!kernel || !q || !out)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_kernel_bind: kernel, queue and out must be set");
    rochp_kernel_info info;
    rochp_status st = rochp_kernel_get_info(kernel, &info);
    if (st != ROCHP_OK)
        return st;
    if (info.kernarg_size > q->ring.kernarg_stride)
        return rochp_set_errorf(ROCHP_ERROR_TOO_LARGE,
                                "rochp_kernel_bind: %s takes %u bytes of arguments, the queue's "
                                "slots hold %u (rochp_queue_options.kernarg_bytes)",
                                info.name, info.kernarg_size, q->ring.kernarg_stride);
    uint64_t object;
    st = compute_kernel_object(kernel, q->device, &object);
    if (st != ROCHP_OK)
        return st;
    memset(out, 0, sizeof *out);
    out->kernel_object = object;
    out->kernarg_size = info.kernarg_size;
    out->group_segment_size = info.group_segment_size;
    out->private_segment_size = info.private_segment_size;
    out->kernel = kernel;
    return ROCHP_OK;
}

rochp_status rochp_kernel_bind(rochp_kernel *kernel, rochp_queue *q, rochp_dispatch_kernel *out)
{
    if (!q)
        return compute_kernel_bind(kernel, q, out);
    runtime_gate_enter(q->ctx);
    return runtime_gate_leave(q->ctx, compute_kernel_bind(kernel, q, out));
}

rochp_status rochp_launch_init(rochp_launch *out, rochp_dim3 grid, rochp_dim3 block)
{
    if (!out)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_launch_init: out is NULL");
    uint64_t items = (uint64_t)block.x * block.y * block.z;
    if (!block.x || !block.y || !block.z || items > 1024)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_launch_init: block %ux%ux%u: each dimension must be at "
                                "least 1 and the work-items at most 1024",
                                block.x, block.y, block.z);
    if (!grid.x || !grid.y || !grid.z)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
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

static rochp_status failure(rochp_queue *q)
{
    uint32_t failed = __atomic_load_n(&q->ring.failed, __ATOMIC_RELAXED);
    if (!failed)
        return ROCHP_OK;
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    hsa_status_t error = q->error;
    pthread_mutex_unlock(&ctx->lock);
    if (failed == (uint32_t)-ROCHP_ERROR_QUEUE_FAILED)
        return rochp_set_errorf(ROCHP_ERROR_QUEUE_FAILED,
                                "the queue on device %llu failed: %s",
                                (unsigned long long)q->device,
                                rochp_hsa_status_text(&ctx->hsa, error));
    return rochp_set_errorf(ROCHP_ERROR_DEVICE_LOST,
                            "device %llu of the queue has been lost (or the runtime restarted)",
                            (unsigned long long)q->device);
}

/* One look at packet id: ROCHP_OK when it completed, ROCHP_ERROR_TIMEOUT
 * when it has not after waiting up to slice_ns, or the queue's failure. */
static rochp_status wait_slice(rochp_queue *q, uint64_t id, uint64_t slice_ns)
{
    if (rochp__completed(&q->ring) > id)
        return ROCHP_OK;
    rochp_status st = failure(q);
    if (st != ROCHP_OK || slice_ns == 0)
        return st != ROCHP_OK ? st : ROCHP_ERROR_TIMEOUT;
    if (q->hsa_queue)
        q->ctx->hsa.signal_wait_scacquire(q->ring.completion, HSA_SIGNAL_CONDITION_LT,
                                          ROCHP_COMPLETION_BASE - (int64_t)id, slice_ns,
                                          HSA_WAIT_STATE_BLOCKED);
    return rochp__completed(&q->ring) > id ? ROCHP_OK : ROCHP_ERROR_TIMEOUT;
}

/* Until the queue has completed more than id packets, in slices so that a
 * failure meanwhile ends the wait (its packets never complete), unless the
 * context recovers by itself (ROCHP_CONTEXT_AUTO_RECOVER): then this thread
 * recovers once and waits on.  take_gate:
 * each slice holds the runtime gate, so a re-enumeration may come in
 * between; else the caller holds it (never both: the gate prefers writers,
 * so a second read lock could wait behind a waiting re-enumeration). */
static rochp_status wait_count(rochp_queue *q, uint64_t id, uint64_t timeout_ns, bool take_gate,
                               bool may_recover)
{
    uint64_t start = rochp_now_ns();
    bool recovered = false;
    for (;;) {
        uint64_t waited = rochp_now_ns() - start;
        uint64_t left = waited < timeout_ns ? timeout_ns - waited : 0;
        uint64_t slice = left < WAIT_SLICE_NS ? left : WAIT_SLICE_NS;
        rochp_status st;
        if (take_gate) {
            runtime_gate_enter(q->ctx);
            st = runtime_gate_leave(q->ctx, wait_slice(q, id, slice));
        } else {
            st = wait_slice(q, id, slice);
        }
        if (st == ROCHP_ERROR_DEVICE_LOST && may_recover && !recovered &&
            (q->ctx->flags & ROCHP_CONTEXT_AUTO_RECOVER)) {
            /* A safe point: the waiting thread recovers, then waits on for
             * the same packet (ids survive the rebuild). */
            recovered = true;
            st = rochp_recover(q->ctx, timeout_ns, NULL);
            if (st != ROCHP_OK)
                return st;
            continue;
        }
        if (st != ROCHP_ERROR_TIMEOUT)
            return st;
        if (left == 0)
            return rochp_set_errorf(ROCHP_ERROR_TIMEOUT,
                                    "packet %llu of the queue on device %llu has not completed "
                                    "after %llu ns",
                                    (unsigned long long)id, (unsigned long long)q->device,
                                    (unsigned long long)(rochp_now_ns() - start));
    }
}

rochp_status queue_wait_written(rochp_queue *q, uint64_t written, uint64_t timeout_ns)
{
    return written ? wait_count(q, written - 1, timeout_ns, false, false) : ROCHP_OK;
}

/* The queue's next id, or ring index (the runtime's memory: read under the
 * gate). */
static uint64_t written(rochp_queue *q)
{
    runtime_gate_enter(q->ctx);
    uint64_t id = queue_next_id(q);
    runtime_gate_leave(q->ctx, ROCHP_OK);
    return id;
}

static uint64_t written_index(rochp_queue *q)
{
    runtime_gate_enter(q->ctx);
    uint64_t w = queue_next_index(q);
    runtime_gate_leave(q->ctx, ROCHP_OK);
    return w;
}

rochp_status rochp_completion_wait(const rochp_completion *c, uint64_t timeout_ns)
{
    if (!c || !c->queue)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_completion_wait: NULL completion or queue");
    rochp_queue *q = c->queue;
    if (c->id >= written(q))
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_completion_wait: packet %llu was never written on this "
                                "queue",
                                (unsigned long long)c->id);
    rochp_status st = wait_count(q, c->id, timeout_ns, true, true);
    if (st == ROCHP_OK)
        checkpoint_safe_point(q->ctx);
    return st;
}

rochp_status rochp_queue_wait_idle(rochp_queue *q, uint64_t timeout_ns)
{
    if (!q)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_queue_wait_idle: NULL queue");
    uint64_t w = written(q);
    rochp_status st = w ? wait_count(q, w - 1, timeout_ns, true, true) : ROCHP_OK;
    if (st == ROCHP_OK)
        checkpoint_safe_point(q->ctx);
    return st;
}

rochp_status rochp_queue_journal_length(const rochp_queue *q, uint64_t *count)
{
    if (!q || !count)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_journal_length: NULL argument");
    if (!q->ring.journal)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED, "a plain queue keeps no journal");
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
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_journal_entry: entry is NULL");
    if (index >= n)
        return rochp_set_errorf(ROCHP_ERROR_NOT_FOUND,
                                "rochp_queue_journal_entry: index %llu, the journal holds %llu",
                                (unsigned long long)index, (unsigned long long)n);
    uint64_t slot = (q->ring.journal_start + index) & q->ring.slot_mask;
    *entry = q->ring.journal[slot];
    runtime_gate_enter(q->ctx);
    /* NULL too once the runtime that held the slots went. */
    if (kernargs)
        *kernargs = entry->kind == ROCHP_JOURNAL_DISPATCH && q->ring.kernargs
                        ? q->ring.kernargs + (slot << q->ring.kernarg_shift)
                        : NULL;
    return runtime_gate_leave(q->ctx, ROCHP_OK);
}

rochp_status rochp_queue_journal_truncate(rochp_queue *q)
{
    if (!q)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_queue_journal_truncate: NULL queue");
    if (!q->ring.journal)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED, "a plain queue keeps no journal");
    /* A slot is still safe from reuse until its packet completed: the ring
     * check of the inline path keeps ids within a ring of the completed
     * count, and the journal is at least a ring long. */
    __atomic_store_n(&q->ring.journal_start, written_index(q), __ATOMIC_RELAXED);
    return ROCHP_OK;
}

void queues_mark_lost(rochp_context *ctx, rochp_device_id device)
{
    for (rochp_queue *q = ctx->queues; q; q = q->next)
        if (q->device == device)
            queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
}

void queues_before_shut_down(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->queues; q; q = q->next) {
        if (!q->hsa_queue)
            continue;
        q->dead_write_index = *q->ring.write_index;
        q->dead_value = *q->ring.completion_value;
    }
    pthread_mutex_unlock(&ctx->lock);
}

void queues_invalidate(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->queues; q; q = q->next) {
        queue_fail(q, ROCHP_ERROR_DEVICE_LOST);
        if (!q->hsa_queue)
            continue;
        /* The queue's indexes, signal and kernargs went with the runtime:
         * readers see their last values from now on. */
        q->ring.write_index = &q->dead_write_index;
        q->ring.completion_value = &q->dead_value;
        q->ring.kernargs = NULL;
        q->hsa_queue = NULL;
        q->kernarg_memory = NULL;
    }
    pthread_mutex_unlock(&ctx->lock);
}

void queues_free_all(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    rochp_queue *q = ctx->queues;
    ctx->queues = NULL;
    pthread_mutex_unlock(&ctx->lock);
    while (q) {
        rochp_queue *next = q->next;
        release(q);
        q = next;
    }
}
