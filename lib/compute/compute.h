/* Managed objects' internals, shared by buffer.c, queue.c and checkpoint.c
 * (locks: see core/context.h). */
#ifndef ROCHP_COMPUTE_COMPUTE_H
#define ROCHP_COMPUTE_COMPUTE_H

#include <stdatomic.h>

#include "core/context.h"
#include "rochp/rochp_dispatch.h"

/* A host copy of a buffer at the last checkpoint: process memory (on the
 * NUMA node nearest the buffer's GPU), locked for the runtime's copy engines
 * with hsa_amd_memory_lock, whose GPU-side address (agent, not host, on a
 * discrete GPU) the copies use.  A lock outlives hsa_shut_down (ROCR keeps
 * no record; libhsakmt and the kernel keep the pinning for the process), so
 * a shadow survives a re-enumeration whole. */
typedef struct shadow {
    void *host;
    void *agent; /* NULL: not locked (host buffers need no lock) */
    size_t size;
} shadow;

struct rochp_buffer {
    rochp_context *ctx;
    uint64_t id; /* rochp_buffer_id */
    void *address; /* NULL once the runtime that made it is gone */
    size_t size;
    rochp_device_id device;
    uint64_t agent; /* the hsa_agent_t whose pool holds it */
    /* checkpoint state, under ctx->buffer_lock */
    bool dirty;           /* may have been written since the last checkpoint */
    bool written_by_call; /* ... by a copy or write call (no journal replays it) */
    shadow shadow; /* host == NULL: none yet */
};

struct rochp_queue {
    struct rochp_queue_ring ring; /* first: the inline path's view */
    rochp_context *ctx;
    uint64_t id; /* rochp_queue_id */
    rochp_device_id device;
    rochp_queue_mode mode;
    hsa_queue_t *hsa_queue; /* NULL once the runtime went */
    void *kernarg_memory;
    /* The write index and completion value as they were when the runtime
     * went (re-enumeration), for the ring to point at from then on. */
    volatile uint64_t dead_write_index;
    int64_t dead_value;
    hsa_status_t error;       /* the runtime's report, under ctx->lock */
    uint32_t packets, kernarg_bytes; /* as created */
    uint64_t checkpoint_index; /* the ring's write index at the last checkpoint */
    struct rochp_queue *next; /* ctx->queues, under ctx->lock */
};

/* The ring index of the queue's next packet, and its id (the application's
 * numbering). */
static inline uint64_t queue_next_index(const rochp_queue *q)
{
    return __atomic_load_n(q->ring.write_index, __ATOMIC_ACQUIRE);
}

static inline uint64_t queue_next_id(const rochp_queue *q)
{
    return queue_next_index(q) + q->ring.id_offset;
}

/* queue.c -- the queue's runtime objects, made anew (recovery) or given back. */
rochp_status queue_attach(rochp_queue *q, rochp_device_id device, uint64_t agent,
                          uint64_t id_offset);
void queue_detach(rochp_queue *q);
/* Marks the queue failed (why) as the runtime's error or a loss would. */
void queue_fail(rochp_queue *q, rochp_status why);

/* queue.c / module.c -- rochp_kernel_bind and rochp_kernel_object without
 * taking the runtime gate (for callers that hold it). */
rochp_status compute_kernel_bind(rochp_kernel *kernel, rochp_queue *q, rochp_dispatch_kernel *out);
rochp_status compute_kernel_object(rochp_kernel *kernel, rochp_device_id device, uint64_t *out);

/* An id for a new buffer, queue or module: unique in the context. */
static inline uint64_t compute_new_id(rochp_context *ctx)
{
    return atomic_fetch_add(&ctx->next_object_id, 1) + 1;
}

/* module.c -- with ctx->module_lock held: the context's modules in turn
 * (NULL past the last), with their images and ids. */
rochp_module *compute_module_next(rochp_context *ctx, rochp_module *after, const void **image,
                                  size_t *size, uint64_t *id);

/* buffer.c -- an async copy on the runtime's engines, waited for in slices
 * that end when either device is lost. */
rochp_status compute_engine_copy(rochp_context *ctx, void *dst, uint64_t dst_agent,
                                 rochp_device_id dst_device, const void *src, uint64_t src_agent,
                                 rochp_device_id src_device, size_t size);
/* With ctx->buffer_lock held: the buffer holding address, or NULL. */
rochp_buffer *compute_buffer_at(rochp_context *ctx, const void *address);
/* The CPU agent of the runtime (0: none). */
uint64_t compute_cpu_agent(rochp_context *ctx);
/* checkpoint.c */
void shadow_free(rochp_context *ctx, shadow *s);
/* Locked for the runtime's copy engines (s->agent set). */
rochp_status shadow_lock(rochp_context *ctx, shadow *s);
/* An application's wait just returned: checkpoint if one is due
 * (rochp_set_auto_checkpoint), never waiting. */
void checkpoint_safe_point(rochp_context *ctx);
/* Starts an engine copy of a shadow into device memory (*done: its signal,
 * 0 when it did not start). */
rochp_status shadow_copy_out(rochp_context *ctx, shadow *s, void *dst, uint64_t dst_agent,
                             uint64_t cpu, hsa_signal_t *done);
/* With ctx->buffer_lock held: the buffers a journaled dispatch (its entry
 * and argument bytes) may have written are marked dirty. */
void checkpoint_mark_dispatch(rochp_context *ctx, const rochp_journal_entry *e,
                              const uint8_t *args);

#endif
