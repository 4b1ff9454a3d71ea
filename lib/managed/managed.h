/* The managed layer: the application's objects -- buffers (and their
 * checkpoint shadows and dirty marks), modules and kernels, queues (their
 * runtime incarnations, journals, waits) -- over core's devices.  It uses
 * core and the layers under it, never resilience; core reaches it only
 * through the hooks of managed_layer (core/layer.h).
 *
 * Locks (their order with core's: docs/locking.md):
 *   m->buffer_lock     guards the buffer registry and each buffer's
 *                      checkpoint state; never held while waiting for the
 *                      runtime, never with ctx->lock.
 *   m->module_lock     guards the module list and each module's per-agent
 *                      executables; held while one is loaded, so that an
 *                      agent gets it once.  ctx->lock may be taken inside it
 *                      (device lookup), never the reverse.
 *   m->checkpoint_lock serialises checkpoints, restores, recoveries and
 *                      saves (resilience) against each other and against
 *                      freeing buffers and modules and destroying queues;
 *                      taken after the runtime gate, before the rest.
 *   The queue list is under ctx->lock, so that a device's loss and its
 *   queues' failure are one step. */
#ifndef ROCHP_MANAGED_MANAGED_H
#define ROCHP_MANAGED_MANAGED_H

#include <stdatomic.h>

#include "core/context.h"
#include "rochp/rochp_dispatch.h"

struct managed_state {
    pthread_mutex_t checkpoint_lock;
    pthread_mutex_t buffer_lock;
    struct rochp_buffer **buffers; /* sorted by address, under buffer_lock */
    size_t n_buffers, cap_buffers;
    uint64_t buffer_writes; /* copy and write calls so far, under buffer_lock */
    pthread_mutex_t module_lock;
    struct rochp_module *modules; /* list through rochp_module.next, under module_lock */
    struct rochp_queue *queues;   /* list through rochp_queue.next, under ctx->lock */
    _Atomic uint64_t next_object_id; /* buffers, queues and modules: 1, 2, 3... */
    /* Packets that queues destroyed since the last checkpoint had run: no
     * recovery can replay them (under ctx->lock). */
    uint64_t retired_packets;
    /* Makes and gives back registered buffers' memory when rochp needs new
     * memory for one (recovery, loads): rochp_set_allocator.  Under
     * checkpoint_lock; alloc NULL: none set. */
    rochp_allocator allocator;
    /* Spare shadows a checkpoint gave up while a copy engine may still
     * write them (their device was lost mid-copy): freed once the copy's
     * signal reached 0 or the runtime that ran it has gone (shadow.c).
     * Under checkpoint_lock (or the runtime gate held for writing). */
    struct shadow_grave *abandoned;
    /* Shadows allocated so far (shadow_alloc_near): what tests read to see
     * that checkpoints reuse them.  Under checkpoint_lock. */
    uint64_t shadow_allocs;
    /* The copies of a begun checkpoint, which work that writes their
     * buffers waits for (copy_guard.c): published and withdrawn under
     * checkpoint_lock, read with no lock between an increment and a
     * decrement of guard_readers, which the withdrawal waits to see at 0. */
    _Atomic(struct copy_guard *) guard;
    atomic_uint guard_readers;
    /* The rings' guard word while armed (0: not), and the last one given:
     * under ctx->lock, so that a queue created meanwhile is armed too. */
    uint32_t guard_generation, guard_counter;
    /* Resilience's: commits or fails a begun checkpoint (its copies waited
     * for), before what it copies is freed.  With checkpoint_lock held;
     * NULL without the layer. */
    rochp_status (*settle)(rochp_context *ctx);
};

/* layer.c -- the layer's table for core (core/layer.h). */
extern const core_layer managed_layer;

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
    rochp_device_id near; /* the device whose NUMA node it was placed on */
    /* External: the bytes are a region of a sealed memfd a resume loaded
     * (rochp-run's kept checkpoint), which nobody can change: host maps it
     * read-only, and an engine copy out of it goes through staging memory
     * (a read-only mapping cannot be locked for the engines).  It is never
     * a spare: a commit frees it.  fd is this shadow's own descriptor. */
    bool external;
    int fd;
    uint64_t offset;
    void *map;
    size_t map_len;
} shadow;

struct rochp_buffer {
    rochp_context *ctx;
    uint64_t id; /* rochp_buffer_id */
    void *address; /* NULL once the runtime that made it is gone */
    size_t size;
    rochp_device_id device;
    uint64_t agent; /* the hsa_agent_t whose pool holds it */
    /* checkpoint state, under ctx->managed->buffer_lock */
    bool dirty;           /* may have been written since the last checkpoint */
    bool written_by_call; /* ... by a copy or write call (no journal replays it) */
    /* The application's memory (rochp_buffer_register): rochp never gives
     * it back to the runtime itself; what replaces it comes from the
     * context's allocator.  Both fixed at registration. */
    bool registered;
    bool copy_always; /* ROCHP_REGISTER_COPY_ALWAYS: dirty at every checkpoint */
    shadow shadow; /* host == NULL: none yet */
    /* The next checkpoint's copy of the buffer: allocated and locked once,
     * filled by a checkpoint, swapped with shadow when it commits (the old
     * shadow becoming the spare), kept as it is when it fails, so that
     * neither a failure nor the hot path frees or allocates.  Under
     * checkpoint_lock (the swap also under buffer_lock, as shadow is).
     * host == NULL: none yet, or given up to the abandoned list. */
    shadow spare;
};

/* One incarnation of a queue's runtime objects: the HSA queue, its
 * completion signal, the kernarg slots, and the host records that index by
 * slot (journal, barrier records).  A queue gets a new one when recovery
 * rebuilds it; recovery builds it beside the old one and swaps it in only
 * once the replay went through, so a recovery that fails part-way leaves
 * the queue as it was (stopped).  The runtime's queue error callback gets
 * the incarnation, so an incarnation being built reports its own failure. */
typedef struct queue_runtime {
    struct rochp_queue *q;
    struct rochp_queue_ring *ring; /* the ring it backs (the queue's, or a staged one) */
    rochp_device_id device;
    hsa_queue_t *hsa_queue;        /* NULL once the runtime that made it went */
    hsa_signal_t completion;
    void *kernargs;                /* kernarg pool memory; NULL with hsa_queue */
    rochp_journal_entry *journal;  /* journaled queues: slot_mask + 1 entries */
    struct rochp_barrier_record *barriers;
    bool inactive;                 /* hsa_queue_inactivate'd: memory kept, nothing runs */
} queue_runtime;

/* A kernel's binding to a queue (rochp_kernel_bind): the application holds
 * &pub; the queue keeps it true across recoveries.  Under ctx->lock. */
typedef struct binding {
    rochp_dispatch_kernel pub;
    struct binding *next;
} binding;

struct rochp_queue {
    struct rochp_queue_ring ring; /* first: the inline path's view */
    rochp_context *ctx;
    uint64_t id; /* rochp_queue_id */
    rochp_device_id device;
    rochp_queue_mode mode;
    queue_runtime *rt;
    /* The write index and completion value as they were when the runtime
     * went (re-enumeration), for the ring to point at from then on. */
    volatile uint64_t dead_write_index;
    int64_t dead_value;
    hsa_status_t error;       /* the runtime's report, under ctx->lock */
    char fault[160];          /* what stopped it, when not the device: under ctx->lock */
    uint32_t packets, kernarg_bytes, journal_length; /* as created */
    uint64_t checkpoint_index; /* the ring's write index at the last checkpoint */
    /* Plain queues: reservations that failed since the checkpoint (ids
     * taken, nothing published: recovery need not replay them). */
    _Atomic uint64_t voided;
    /* Its inline path reads the ring's guard (ring ABI >= 2): a checkpoint
     * may overlap its work. */
    bool guard_aware;
    binding *bindings;        /* under ctx->lock */
    struct rochp_queue *next; /* ctx->managed->queues, under ctx->lock */
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

/* queue_runtime.c -- a new incarnation for q on device (its agent given),
 * ids starting at id_offset, into *ring (not q's unless the caller passes
 * it) and *out; the queue itself is not changed. */
rochp_status queue_runtime_create(rochp_queue *q, rochp_device_id device, uint64_t agent,
                                  uint64_t id_offset, struct rochp_queue_ring *ring,
                                  queue_runtime **out);
/* Gives the runtime objects back (if the runtime still has them) and frees
 * the incarnation.  Not with ctx->lock held (hsa_queue_destroy waits for
 * the runtime's callbacks, which take it). */
void queue_runtime_destroy(rochp_context *ctx, queue_runtime *rt);
/* Makes a staged incarnation the queue's (on device) and returns the old
 * one for the caller to destroy. */
queue_runtime *queue_runtime_install(rochp_queue *q, rochp_device_id device,
                                     const struct rochp_queue_ring *ring, queue_runtime *rt);
/* Stops the queue (failed with why; its runtime queue inactivated, memory
 * kept, so its journal stays readable). */
void queue_stop(rochp_queue *q, rochp_status why, const char *fault);
/* Marks the queue failed (why) as the runtime's error or a loss would. */
void queue_fail(rochp_queue *q, rochp_status why);
/* A ring's failure as recorded (0: none). */
static inline uint32_t ring_failed(const struct rochp_queue_ring *r)
{
    return __atomic_load_n(&r->failed, __ATOMIC_SEQ_CST);
}
void ring_fail(struct rochp_queue_ring *r, rochp_status why);
/* Recovery's replay into a new ring, at ring index w (taken by the caller):
 * a barrier on dep_signal's packet dep_id, and a packet that does nothing
 * (journaled as void). */
void ring_write_barrier(struct rochp_queue_ring *r, uint64_t w, rochp_queue *dep_queue,
                        uint64_t dep_queue_id, hsa_signal_t dep_signal, uint64_t dep_id);
void ring_write_nop(struct rochp_queue_ring *r, uint64_t w);

/* queue_options.c -- what rochp_queue_options_init gives an application built with
 * this library's headers (the library's exported copy serves older ones). */
void managed_queue_options_defaults(rochp_queue_options *o);
/* queue_options.c -- the caller's options (NULL: defaults) checked and
 * completed into *o; a refusal's message is set. */
rochp_status managed_queue_read_options(const rochp_queue_options *in, rochp_queue_options *o);
/* rochp_queue_create with the first packet id given (a loaded
 * checkpoint's queue goes on from its saved id). */
rochp_status managed_queue_create(rochp_context *ctx, rochp_device_id device,
                                  const rochp_queue_options *options, uint64_t first_id,
                                  rochp_queue **out);
/* Does a journal since the checkpoint pass a pointer into the range to a
 * kernel?  (Takes ctx->lock.) */
bool queues_journal_uses(rochp_context *ctx, const void *address, size_t size, uint64_t *queue);
/* With ctx->managed->module_lock held: every binding of m's kernels forgets them
 * (object 0, kernel NULL), as m goes. */
void queues_forget_kernels(rochp_context *ctx, const rochp_module *m);

/* queue_wait.c -- sets the message for a queue's failure status (DEVICE_LOST
 * or QUEUE_FAILED: why, as recorded) and returns it. */
rochp_status queue_failure_message(rochp_queue *q, rochp_status status);
/* Until every packet written so far completed, it failed, or timeout_ns. */
rochp_status queue_wait_all(rochp_queue *q, uint64_t timeout_ns);
/* queue_wait.c -- with ctx->lock held: is q's oldest unfinished packet a
 * barrier on a packet of a failed queue (directly, or through queues that
 * wait in turn)?  Its status (the failed queue's), else ROCHP_OK; *culprit
 * gets that queue. */
rochp_status queue_blocked(rochp_context *ctx, rochp_queue *q, rochp_queue **culprit);
/* With ctx->lock held: a queue of the context, or NULL (a pointer a journal
 * kept may name a queue destroyed since). */
rochp_queue *queue_find_locked(rochp_context *ctx, const rochp_queue *q);

/* queue.c / module.c -- rochp_kernel_bind and rochp_kernel_object without
 * taking the runtime gate (for callers that hold it). */
rochp_status managed_kernel_bind(rochp_kernel *kernel, rochp_queue *q,
                                 const rochp_dispatch_kernel **out);
rochp_status managed_kernel_object(rochp_kernel *kernel, rochp_device_id device, uint64_t *out);
/* The kernel's arguments, and whether argument index is a 64-bit global
 * buffer pointer (at *offset). */
uint32_t managed_kernel_arg_count(const rochp_kernel *kernel);
bool managed_kernel_pointer_arg(const rochp_kernel *kernel, uint32_t index, uint32_t *offset);
/* ... and one the kernel may write through (its metadata: not read-only). */
bool managed_kernel_writable_pointer_arg(const rochp_kernel *kernel, uint32_t index,
                                         uint32_t *offset);
/* The kernel's name (for messages). */
const char *managed_kernel_name(const rochp_kernel *kernel);
/* The bytes of a kernel's explicit arguments (the end of the last one). */
uint32_t managed_kernel_args_min(const rochp_kernel *kernel);
/* The module a kernel belongs to, and its context. */
rochp_module *managed_kernel_module(const rochp_kernel *kernel);
rochp_context *managed_kernel_context(const rochp_kernel *kernel);

/* An id for a new buffer, queue or module: unique in the context. */
static inline uint64_t managed_new_id(rochp_context *ctx)
{
    return atomic_fetch_add(&ctx->managed->next_object_id, 1) + 1;
}

/* module.c -- with ctx->managed->module_lock held: the context's modules in turn
 * (NULL past the last), with their images and ids. */
rochp_module *managed_module_next(rochp_context *ctx, rochp_module *after, const void **image,
                                  size_t *size, uint64_t *id);

/* engine_copy.c -- an async copy on the runtime's engines, waited for in slices
 * that end when either device is lost. */
rochp_status managed_engine_copy(rochp_context *ctx, void *dst, uint64_t dst_agent,
                                 rochp_device_id dst_device, const void *src, uint64_t src_agent,
                                 rochp_device_id src_device, size_t size);
/* The same in two halves, for copies that run while the caller prepares
 * the next: a started copy (*c) must be finished, whatever happens, before
 * its memory is freed. */
typedef struct managed_copy {
    hsa_signal_t done;
    rochp_device_id dst_device, src_device;
    uint64_t dst_agent, src_agent;
} managed_copy;
rochp_status managed_engine_copy_start(rochp_context *ctx, void *dst, uint64_t dst_agent,
                                       rochp_device_id dst_device, const void *src,
                                       uint64_t src_agent, rochp_device_id src_device, size_t size,
                                       managed_copy *c);
rochp_status managed_engine_copy_finish(rochp_context *ctx, managed_copy *c);
/* Did device's memory fault come from its work touching a buffer of a
 * device that is gone (a loss's side effect, which recovery undoes), rather
 * than from a bug of the work itself?  When the buffer's device still looks
 * present, the topology is read again first (watcher_rescan: takes
 * rescan_lock and ctx->lock; call with no lock held). */
bool managed_fault_collateral(rochp_context *ctx, rochp_device_id device);
/* Is device lost, the topology read again when the context still thinks
 * it present, and a reset's report waited for up to LOSS_REPORT_WAIT_NS?
 * For a runtime call on it that failed: whether the cause is the loss.
 * watcher_rescan: call with no lock but the gate and the checkpoint lock
 * held. */
#define LOSS_REPORT_WAIT_NS (100ull * 1000 * 1000)
bool managed_device_lost_now(rochp_context *ctx, rochp_device_id device);
/* A wait for an engine copy looks whether a device of the copy went before
 * it sleeps, and again after each slice this long: a copy on a lost device
 * never completes, so this bounds how late such a wait learns of a loss
 * rochp learns of while it sleeps (it was 100 ms; a wake-up every 20 ms of
 * a long copy costs nothing measurable). */
#define COPY_LOSS_CHECK_NS (20ull * 1000 * 1000)
/* Has the engine copy whose signal done it decrements to 0 ended?  (A poll.) */
static inline bool managed_copy_ended(rochp_context *ctx, hsa_signal_t done)
{
    return ctx->hsa.signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, 0,
                                          HSA_WAIT_STATE_ACTIVE) == 0;
}
/* Sleeps until it ends, or ns passed. */
static inline void managed_copy_nap(rochp_context *ctx, hsa_signal_t done, uint64_t ns)
{
    (void)ctx->hsa.signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, ns,
                                         HSA_WAIT_STATE_BLOCKED);
}
/* Is memory of device made through agent gone (the device lost, back with
 * another agent, or stopped after a memory fault)?  Takes ctx->lock. */
bool managed_memory_gone(rochp_context *ctx, rochp_device_id device, uint64_t agent);
/* Is the buffer's memory still there (its device present, with the agent
 * that made it)?  Takes ctx->lock. */
bool managed_buffer_reachable(rochp_buffer *b);
/* Enters a made buffer (address, size, device set) into the registry and
 * the handle table; call names the API call in a refusal. */
rochp_status managed_buffer_insert(rochp_context *ctx, rochp_buffer *b, const char *call);
/* registered.c -- with the checkpoint lock held: new memory for registered
 * buffer b on device from the context's allocator (ROCHP_ERROR_NOT_SUPPORTED
 * without one), and *agent the device's; and memory the allocator made, or
 * that was registered, given back to it (nothing without a free). */
rochp_status managed_registered_alloc(rochp_context *ctx, uint64_t id, rochp_device_id device,
                                      size_t size, void **out, uint64_t *agent);
void managed_registered_free(rochp_context *ctx, rochp_device_id device, void *address);
/* With ctx->managed->buffer_lock held: the buffer holding address, or NULL. */
rochp_buffer *managed_buffer_at(rochp_context *ctx, const void *address);
/* ROCHP_OK, or why the process cannot run work on a present device (the
 * driver stopped its queues there after a memory fault: QUEUE_FAILED). */
rochp_status managed_device_usable(rochp_context *ctx, rochp_device_id device, const char *call);
/* The CPU agent of the runtime (0: none). */
uint64_t managed_cpu_agent(rochp_context *ctx);
/* buffer.c */
void buffers_invalidate(rochp_context *ctx);
void buffers_free_all(rochp_context *ctx);
/* The HSA agent of a present device (ROCHP_HOST: the CPU agent); a lost
 * device is ROCHP_ERROR_DEVICE_LOST, with the message set. */
rochp_status managed_device_agent(rochp_context *ctx, rochp_device_id device, uint64_t *agent);
/* Pool memory of a device (ROCHP_HOST: host fine-grained; kernarg: the
 * host's kernarg pool), opened to every agent; *agent gets the pool's. */
rochp_status managed_pool_memory(rochp_context *ctx, rochp_device_id device, bool kernarg,
                                 size_t size, void **out, uint64_t *agent);

/* queue.c -- with ctx->lock held: the device's queues fail with
 * ROCHP_ERROR_DEVICE_LOST (their inline paths see it on the next packet). */
void queues_mark_lost(rochp_context *ctx, rochp_device_id device);
/* With ctx->lock held: the device's queues fail with ROCHP_ERROR_QUEUE_FAILED
 * (a memory fault by the process's work; fault says what). */
void queues_mark_faulted(rochp_context *ctx, rochp_device_id device, const char *fault);
/* Before a shut-down that may end the runtime: note each queue's indexes
 * while its memory is there.  Then, if it did end, queues_invalidate: every
 * queue fails and reads the noted values from now on. */
void queues_before_shut_down(rochp_context *ctx);
void queues_invalidate(rochp_context *ctx);
/* Destroys every queue (before the runtime goes). */
void queues_free_all(rochp_context *ctx);
/* queue_wait.c -- with the runtime gate held: until the queue's first
 * written packets have completed (or it failed, or timeout_ns passed). */
rochp_status queue_wait_written(rochp_queue *q, uint64_t written, uint64_t timeout_ns);
/* Until packet id completed, the queue failed, or timeout_ns passed.
 * take_gate: each slice holds the runtime gate; else the caller holds it. */
rochp_status queue_wait_packet(rochp_queue *q, uint64_t id, uint64_t timeout_ns, bool take_gate);
/* The queue's next packet id (the runtime's memory: read under the gate). */
uint64_t queue_written(rochp_queue *q);

/* module.c -- the runtime went away: forget every per-agent executable
 * (kept on the host, modules load again on demand). */
void modules_invalidate(rochp_context *ctx);
/* Destroys every module (their executables first, while the runtime is up). */
void modules_free_all(rochp_context *ctx);

/* shadow.c */
void shadow_free(rochp_context *ctx, shadow *s);
/* With the checkpoint lock held: b's spare, ready for a copy of b (of its
 * size, on its GPU's NUMA node, locked unless b is host memory): the one it
 * has when the size and device match (a recovery may move b), else a new one (counted in shadow_allocs). */
rochp_status shadow_spare_ready(rochp_context *ctx, rochp_buffer *b);
/* With the checkpoint lock held: b's spare, which an engine copy that
 * signals done may still write, moves to the abandoned list (b has none
 * after). */
void shadow_spare_abandon(rochp_context *ctx, rochp_buffer *b, hsa_signal_t done);
/* With the checkpoint lock held: frees the abandoned shadows no engine can
 * write any more. */
void shadow_reap_abandoned(rochp_context *ctx);
/* The runtime went (its engines stopped; their signals with it): every
 * abandoned shadow may go at the next reap. */
void shadow_abandoned_runtime_gone(rochp_context *ctx);
/* At the context's end, after the runtime's shut-down: the abandoned
 * shadows' memory goes. */
void shadow_abandoned_free_all(rochp_context *ctx);
/* Tests: shadows allocated so far in the context (shadow_allocs). */
uint64_t managed_shadow_allocations(rochp_context *ctx);
/* Tests: abandoned shadows not yet freed. */
size_t managed_shadows_abandoned(rochp_context *ctx);
/* Locked for the runtime's copy engines (s->agent set). */
rochp_status shadow_lock(rochp_context *ctx, shadow *s);
/* Allocates a shadow of size bytes on the NUMA node nearest device. */
rochp_status shadow_alloc_near(rochp_context *ctx, rochp_device_id device, size_t size,
                               shadow *out);
/* Starts an engine copy of a shadow into device memory of dst_device
 * (*done: its signal, 0 when it did not start).  An external shadow is
 * copied through staging memory before it returns (*done already 0). */
rochp_status shadow_copy_out(rochp_context *ctx, shadow *s, void *dst, uint64_t dst_agent,
                             rochp_device_id dst_device, uint64_t cpu, hsa_signal_t *done);
/* An external shadow of size bytes at offset in the sealed memfd fd (its
 * own descriptor is made). */
rochp_status shadow_external(rochp_context *ctx, rochp_device_id device, int fd, uint64_t offset,
                             size_t size, shadow *out);
/* Staging memory the copy engines reach, in two halves of SHADOW_STAGE
 * bytes, for copies out of external shadows and resumes; freed with
 * shadow_stage_free. */
#define SHADOW_STAGE ((size_t)8 << 20)
typedef struct shadow_stage {
    uint8_t *half[2];
    uint64_t cpu; /* the agent of its pool */
    void *base;
} shadow_stage;
rochp_status shadow_stage_alloc(rochp_context *ctx, shadow_stage *st);
void shadow_stage_free(rochp_context *ctx, shadow_stage *st);
/* size bytes of fd at offset into to (a short file is ROCHP_ERROR_MALFORMED). */
rochp_status shadow_pread(int fd, void *to, size_t size, uint64_t at);
/* copy_guard.c -- what a begun checkpoint copies: a buffer's bytes and the
 * signal of its copy (0: copied already). */
typedef struct copy_guard_entry {
    uintptr_t start, end;
    hsa_signal_t done;
    rochp_buffer *b;
} copy_guard_entry;
/* With the checkpoint lock held: every ring's guard is set (before the
 * checkpoint reads the write indexes); then the copies are published; the
 * withdrawal clears both and returns once no reader is left, so that the
 * copies' signals may go. */
void copy_guard_arm(rochp_context *ctx);
rochp_status copy_guard_publish(rochp_context *ctx, const copy_guard_entry *e, size_t n);
void copy_guard_withdraw(rochp_context *ctx);
/* Do all the context's queues read the guard (ring ABI >= 2)?  Takes ctx->lock. */
bool copy_guard_all_aware(rochp_context *ctx);
/* Until no published copy of a buffer holding [address, +size) is running. */
void copy_guard_wait_range(rochp_context *ctx, const void *address, size_t size);
/* With the checkpoint lock held: a begun checkpoint is committed or failed
 * (resilience's settle), before its buffers or queues go. */
static inline void managed_settle(rochp_context *ctx)
{
    if (ctx->managed->settle)
        (void)ctx->managed->settle(ctx);
}
/* dirty.c -- a queue goes: what its work since the checkpoint may have
 * written is marked dirty now, while its journal is there to say (takes
 * buffer_lock). */
void dirty_note_retired(rochp_context *ctx, rochp_queue *q);
/* With m->buffer_lock held: the buffers a journaled dispatch (its entry
 * and argument bytes) may have written are marked dirty. */
void dirty_mark_dispatch(rochp_context *ctx, const rochp_journal_entry *e, const uint8_t *args);

#endif
