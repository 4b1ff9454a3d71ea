/* rochp queues and the inline dispatch path.
 *
 * A queue is an HSA AQL queue on one device that rochp owns.  Dispatching is
 * static inline here (liburing style): a kernarg slot from the queue's ring,
 * a 64-byte AQL packet, the header store and the doorbell -- no lock, no
 * system call, no allocation, no call into librochp; the doorbell is the
 * runtime's hsa_signal_store_screlease, reached through a pointer because
 * librochp loads the runtime at run time.
 *
 * Every packet rochp writes sets the barrier bit and names the queue's one
 * completion signal, which starts at ROCHP_COMPLETION_BASE and is decremented
 * once per packet: packets complete in order, so the n-th packet (its id, the
 * queue's write index when it was reserved) is done exactly when the signal
 * is below ROCHP_COMPLETION_BASE - n.  A completion handle is that id and
 * nothing else has to be allocated per dispatch.
 *
 * A kernarg slot is reused only after the packet that used it completed: a
 * plain queue has one slot per packet, so the check that the packet ring has
 * room (the id is less than a ring's length ahead of the completed count)
 * covers both.  A journaled queue records each packet (kernel, geometry,
 * kernarg slot, dependency) since the last checkpoint; its slots belong to
 * the journal and are reused only once a checkpoint truncated it, so a full
 * journal is ROCHP_ERROR_JOURNAL_FULL before anything is reserved.
 *
 * The path makes two checks (Mesa style: a cached status, the slow query
 * only after it fails): the packet id against the queue's cached limit, the
 * completion count plus a ring when last looked at; and the ring's guard
 * word, set only while a checkpoint begun with rochp_checkpoint_begin still
 * copies buffers (the slow side then waits for the copies of what the
 * kernel may write).  Past it, the slow side
 * looks at the completion signal again and spins while the ring is full (as
 * ROCR's and HIP's own enqueue do).  When the device is lost for any reason
 * (ROCHP_ERROR_DEVICE_LOST) or the runtime reports the queue itself dead, a
 * kernel having faulted (ROCHP_ERROR_QUEUE_FAILED), the library records the
 * status and sets the limit to 0: the next dispatch takes the slow side and
 * returns it.
 *
 * The inline functions take no lock, so they must not run across a
 * re-enumeration (rochp_reenumerate), which fails every queue and takes the
 * runtime memory they point into; the library calls here are safe then.
 *
 * The struct rochp_queue_ring fields are the inline path's view of a queue,
 * compiled into the application: read them only through these functions.
 * Their layout is versioned by ROCHP_RING_ABI_VERSION (docs/ring-abi.md):
 * new fields go into the reserved tail, which older inline code ignores;
 * any other change to the ring, the packet or the completion protocol
 * raises the version, and a queue asked for with options made by
 * rochp_queue_options_init under another version is refused. */
#ifndef ROCHP_ROCHP_DISPATCH_H
#define ROCHP_ROCHP_DISPATCH_H

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>
#include <string.h>

#include "rochp/rochp.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ROCHP_COMPLETION_BASE ((int64_t)1 << 62)

/* The version of struct rochp_queue_ring and of the inline path's protocol
 * that this header was written for. */
#define ROCHP_RING_ABI_VERSION 2u

typedef struct rochp_queue rochp_queue;

typedef struct rochp_dim3 {
    uint32_t x, y, z;
} rochp_dim3;

/* Launch geometry as the AQL packet holds it (bytes 4..23): made once by
 * rochp_launch_init, which checks it, and copied as it is by each dispatch.
 * Dispatches are 3-dimensional, as HIP's are. */
typedef struct rochp_launch {
    uint16_t block[3];
    uint16_t reserved;
    uint32_t grid[3];
} rochp_launch;

/* A kernel bound to one queue (rochp_kernel_bind): what its packets need.
 * The queue owns it (it lives until the queue is destroyed) and keeps it
 * true: when a recovery moves the queue to another device, kernel_object
 * becomes the kernel's object there, so dispatches made with it afterwards
 * run the code loaded on the queue's current device.  Read-only for the
 * application.  The first 16 bytes are the packet's bytes 24..39. */
typedef struct rochp_dispatch_kernel {
    uint32_t private_segment_size;
    uint32_t group_segment_size;
    uint64_t kernel_object; /* on the queue's current device; 0 once its module was freed */
    uint32_t kernarg_size;  /* the kernarg segment, hidden arguments included */
    uint32_t args_min;      /* bytes of explicit arguments: the least a dispatch passes */
    rochp_kernel *kernel;
} rochp_dispatch_kernel;

/* A packet's completion: the queue and the packet's id on it. */
typedef struct rochp_completion {
    rochp_queue *queue;
    uint64_t id;
} rochp_completion;

/* A journaled packet id is one of: a kernel dispatch; a barrier; or void, a
 * reservation that failed (the queue had failed, its device was lost): the
 * dispatch returned the failure and nothing was published, and a replay
 * keeps the id with a packet that does nothing. */
enum { ROCHP_JOURNAL_DISPATCH = 1, ROCHP_JOURNAL_BARRIER = 2, ROCHP_JOURNAL_VOID = 3 };

/* One journaled packet.  A dispatch's args_size bytes of arguments are in
 * its kernarg slot (rochp_queue_journal_entry gives them); a barrier waits
 * for dep_queue's packet dep_id. */
typedef struct rochp_journal_entry {
    uint32_t kind; /* ROCHP_JOURNAL_* */
    uint32_t args_size;
    rochp_kernel *kernel;
    rochp_launch launch;
    uint32_t reserved;
    rochp_queue *dep_queue;
    uint64_t dep_id;
    uint64_t dep_queue_id; /* rochp_queue_id of dep_queue, which may be gone since */
} rochp_journal_entry;

/* What a barrier packet waits for, by ring slot (the journal keeps it only
 * for journaled queues and only since the last checkpoint): how a wait
 * tells a queue that waits for a failed queue's packet, which never
 * completes, from one that is merely slow. */
struct rochp_barrier_record {
    rochp_queue *dep_queue;
    uint64_t dep_id;
    uint64_t ring_index; /* of the barrier; the slot's record is stale if it differs */
};

struct rochp_queue_ring {
    /* written by the inline path (the refreshed limit) */
    uint64_t limit; /* ring indexes below it have room; 0 once the queue failed */
    uint8_t pad_[56];
    /* read-only after creation, unless noted */
    hsa_kernel_dispatch_packet_t *packets;
    volatile uint64_t *write_index; /* the amd_queue_t's write_dispatch_id */
    const volatile int64_t *completion_value; /* the completion signal's amd_signal_t value */
    uint8_t *kernargs;
    rochp_journal_entry *journal; /* NULL: a plain queue */
    struct rochp_barrier_record *barriers; /* one per packet slot */
    void (*doorbell_store)(hsa_signal_t signal, hsa_signal_value_t value);
    hsa_signal_t doorbell;
    hsa_signal_t completion;
    uint32_t mask;          /* packets in the ring - 1 */
    uint32_t kernarg_shift; /* log2 of the bytes per kernarg slot */
    uint32_t kernarg_stride;
    uint32_t failed;        /* 0, or minus the status a dispatch gets (set by the library) */
    uint64_t slot_mask;     /* kernarg slots - 1 (the packet mask, or the journal's) */
    uint64_t journal_start; /* ring index of the first packet since the last checkpoint */
    /* A packet's id (the application's numbering, completions) is its ring
     * index + id_offset: a queue rebuilt by recovery keeps the numbering, its
     * completion signal starting that far down.  All else is in ring indexes. */
    uint64_t id_offset;
    uint64_t queue_id; /* rochp_queue_id: barriers record their dependency by it too */
    uint32_t abi_version; /* ROCHP_RING_ABI_VERSION of the library that made the queue */
    /* Not 0 while a checkpoint begun with rochp_checkpoint_begin still
     * copies buffers (set by the library): a dispatch asks the library first
     * (rochp__dispatch_guard), which waits for the copies of the buffers its
     * kernel may write. */
    uint32_t guard;
    uint64_t reserved_[6]; /* for fields a minor version adds; zero */
};

/* --- the queue API (library calls) ---------------------------------------------- */
typedef enum rochp_queue_mode {
    ROCHP_QUEUE_PLAIN = 0,
    ROCHP_QUEUE_JOURNALED = 1,
} rochp_queue_mode;

typedef struct rochp_queue_options {
    uint32_t struct_size; /* sizeof(rochp_queue_options) as the caller knows it */
    rochp_queue_mode mode;
    uint32_t packets;        /* power of two, 64..131072; 0: 1024 */
    uint32_t kernarg_bytes;  /* per dispatch, power of two, 16..4096; 0: 256 */
    uint32_t journal_length; /* journaled: power of two >= packets; 0: 16 * packets */
    uint32_t ring_abi;       /* ROCHP_RING_ABI_VERSION as the application was compiled */
} rochp_queue_options;

/* Defaults, and the ring ABI version of this header (inline, so that it is
 * the application's): rochp_queue_create refuses a queue whose inline path
 * would read a ring laid out for another version. */
#ifndef ROCHP_BUILDING_LIBRARY
static inline void rochp_queue_options_init(rochp_queue_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = (uint32_t)sizeof *options;
    options->mode = ROCHP_QUEUE_PLAIN;
    options->ring_abi = ROCHP_RING_ABI_VERSION;
}
#else
/* The library's own copy, still exported (ROCHP_0.1) for programs built
 * before the function was inline: it fills only the fields those programs
 * have, and rochp_queue_create asks them to rebuild. */
ROCHP_API void rochp_queue_options_init(rochp_queue_options *options);
#endif
/* A queue on a present device.  options NULL: plain, defaults (the ring ABI
 * unchecked).  Options whose ring_abi is not the library's, or whose
 * struct_size predates the field, are ROCHP_ERROR_NOT_SUPPORTED (rebuild
 * against this library's headers). */
ROCHP_API rochp_status rochp_queue_create(rochp_context *ctx, rochp_device_id device,
                                          const rochp_queue_options *options, rochp_queue **out);
/* Waits for the queue's packets (up to 10 s; not at all once the queue
 * failed, or when its work waits for a packet of a failed queue, since such
 * packets never complete), then destroys it with its bindings; its
 * completions and bindings must not be used afterwards.  What it ran since
 * the last checkpoint can no longer be replayed: until the next checkpoint,
 * rochp_recover refuses (ROCHP_ERROR_NOT_SUPPORTED, naming the packets).
 * ROCHP_ERROR_BUSY, changing nothing, while an unfinished packet of another
 * queue is a barrier on one of its packets (the barrier reads this queue's
 * completion signal; if this queue failed, only a recovery or destroying
 * the waiting queue ends it): wait for that queue, or destroy it, first. */
ROCHP_API rochp_status rochp_queue_destroy(rochp_queue *queue);
ROCHP_API rochp_device_id rochp_queue_device(const rochp_queue *queue);
ROCHP_API uint64_t rochp_queue_id(const rochp_queue *queue);
/* The queue saved with this id (rochp_checkpoint_save), in the loaded map. */
ROCHP_API rochp_queue *rochp_restored_queue(const rochp_restored *restored, uint64_t id);
/* The queue's binding of kernel (made on first use, then the same one):
 * the kernel's object on the queue's device (loaded there on first use) and
 * sizes, kept true by the queue across recoveries.  A kernarg segment larger
 * than the queue's slots is ROCHP_ERROR_TOO_LARGE.  A binding belongs to its
 * queue: dispatch it there only. */
ROCHP_API rochp_status rochp_kernel_bind(rochp_kernel *kernel, rochp_queue *queue,
                                         const rochp_dispatch_kernel **out);
/* Blocks until the packet completed (ROCHP_OK) or:
 *   ROCHP_ERROR_TIMEOUT          timeout_ns passed (0 polls);
 *   ROCHP_ERROR_DEVICE_LOST      its queue's device was lost, or its queue
 *                                waits (a barrier) for a packet of a queue
 *                                that failed, so it never completes;
 *   ROCHP_ERROR_QUEUE_FAILED     the runtime stopped its queue (a kernel
 *                                faulted);
 *   ROCHP_ERROR_INVALID_ARGUMENT no such packet was written on the queue, or
 *                                the queue is not a live queue;
 * and, with ROCHP_CONTEXT_AUTO_RECOVER, when a lost device makes it recover
 * first: what rochp_recover returns when it fails (ROCHP_ERROR_NO_TARGET,
 * ROCHP_ERROR_NOT_SUPPORTED, ROCHP_ERROR_DEVICE_LOST, ...). */
ROCHP_API rochp_status rochp_completion_wait(const rochp_completion *completion,
                                             uint64_t timeout_ns);
/* Until every packet written so far has completed (same results). */
ROCHP_API rochp_status rochp_queue_wait_idle(rochp_queue *queue, uint64_t timeout_ns);
/* Journaled queues: packets recorded since the last checkpoint, and one of
 * them (index 0 = oldest) with its kernarg bytes (NULL for a barrier or a
 * void entry, and once a re-enumeration took the runtime's memory; valid
 * until then).  A plain queue is ROCHP_ERROR_NOT_SUPPORTED. */
ROCHP_API rochp_status rochp_queue_journal_length(const rochp_queue *queue, uint64_t *count);
ROCHP_API rochp_status rochp_queue_journal_entry(const rochp_queue *queue, uint64_t index,
                                                 rochp_journal_entry *entry,
                                                 const void **kernargs);

/* Drops what the journal recorded (what a checkpoint does once the work of
 * those packets is saved); their kernarg slots become reusable.  A plain
 * queue is ROCHP_ERROR_NOT_SUPPORTED. */
ROCHP_API rochp_status rochp_queue_journal_truncate(rochp_queue *queue);

/* Checks and packs launch geometry: every block dimension 1..1024 with at
 * most 1024 work-items in all, every grid dimension at least 1. */
ROCHP_API rochp_status rochp_launch_init(rochp_launch *out, rochp_dim3 grid, rochp_dim3 block);

/* Not API: the inline path's way out when a dispatch fails, so that the
 * failure has its message (rochp_last_error) and a reserved packet id that
 * will never be published is recorded as void.  Called only on failure;
 * they return the status the call fails with: the one given, but
 * ROCHP_ERROR_DEVICE_LOST for a queue that failed by touching the memory of
 * a device that was lost (the loss's fault, not the work's). */
ROCHP_API rochp_status rochp__dispatch_refused(rochp_queue *queue, rochp_status status,
                                               const rochp_dispatch_kernel *k, size_t args_size);
ROCHP_API rochp_status rochp__reservation_failed(rochp_queue *queue, uint64_t ring_index,
                                                 rochp_status status);
/* ROCHP_OK, or ROCHP_ERROR_DEVICE_LOST when the queue waits (a barrier) for
 * a packet of a failed queue: a full ring would never drain.  Asked by the
 * inline path's wait for room every ROCHP__STALL_SPINS + 1 spins. */
ROCHP_API rochp_status rochp__room_stalled(rochp_queue *queue);
#define ROCHP__STALL_SPINS 0x3fffu
/* Called by the inline path while the ring's guard is set, with the id
 * taken and nothing written: returns once no buffer the kernel may write
 * (its metadata: a global buffer argument not read-only, pointing into a
 * rochp buffer) is still being copied by a begun checkpoint, or once such a
 * buffer's device is lost (the checkpoint then fails; the write would
 * fault anyway). */
ROCHP_API void rochp__dispatch_guard(rochp_queue *queue, const rochp_dispatch_kernel *k,
                                     const void *args, size_t args_size);

/* --- the inline path ------------------------------------------------------------------ */
#define ROCHP_MIN_KERNARG_BYTES 16u

static inline struct rochp_queue_ring *rochp__ring(rochp_queue *queue)
{
    return (struct rochp_queue_ring *)(void *)queue;
}

/* Packets of this queue that completed. */
static inline uint64_t rochp__completed(const struct rochp_queue_ring *r)
{
    return (uint64_t)(ROCHP_COMPLETION_BASE -
                      __atomic_load_n(r->completion_value, __ATOMIC_ACQUIRE));
}

/* The slow side of a reservation: id w is not below the cached limit.
 * Either the queue failed (its limit is 0) or the ring looked full when the
 * limit was last computed: compute it again from the completion count and
 * spin until there is room (as ROCR's and HIP's own enqueue do).  The
 * failure is checked after each store of the limit, so that a limit stored
 * over the library's 0 is undone.  A failure gives the id back as void. */
/* The status a failed call returns: the one the library named, and never
 * ROCHP_OK (fallback, a failure the caller already has), so that a compiler
 * sees that every failure is one. */
static inline rochp_status rochp__failure(rochp_status named, rochp_status fallback)
{
    return named != ROCHP_OK ? named : fallback;
}

/* Out of line (but in the application, not librochp): the fast path then
 * keeps its few registers. */
static __attribute__((noinline, cold, unused)) rochp_status
rochp__wait_room(struct rochp_queue_ring *r, uint64_t w)
{
    uint32_t spins = 0;
    for (;;) {
        uint32_t failed = __atomic_load_n(&r->failed, __ATOMIC_SEQ_CST);
        if (failed != 0) {
            __atomic_store_n(&r->limit, 0, __ATOMIC_SEQ_CST);
            return rochp__failure(rochp__reservation_failed((rochp_queue *)(void *)r, w,
                                                            (rochp_status) - (int32_t)failed),
                                  (rochp_status) - (int32_t)failed);
        }
        /* in ring indexes, as the fast path compares */
        uint64_t limit = rochp__completed(r) - r->id_offset + r->mask + 1;
        if (w < limit) {
            __atomic_store_n(&r->limit, limit, __ATOMIC_SEQ_CST);
            failed = __atomic_load_n(&r->failed, __ATOMIC_SEQ_CST);
            if (failed == 0)
                return ROCHP_OK;
            __atomic_store_n(&r->limit, 0, __ATOMIC_SEQ_CST);
            return rochp__failure(rochp__reservation_failed((rochp_queue *)(void *)r, w,
                                                            (rochp_status) - (int32_t)failed),
                                  (rochp_status) - (int32_t)failed);
        }
        /* Now and then: does the queue wait (a barrier) for a failed
         * queue's packet?  Then its ring never drains. */
        if ((++spins & ROCHP__STALL_SPINS) == 0) {
            rochp_status stalled = rochp__room_stalled((rochp_queue *)(void *)r);
            if (stalled != ROCHP_OK) {
                (void)rochp__reservation_failed((rochp_queue *)(void *)r, w, stalled);
                return stalled;
            }
        }
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

#define ROCHP__INLINE static inline __attribute__((always_inline))

/* Takes a packet id: a plain queue the next one; a journaled one first
 * checks that the journal has room, as a full journal must not take an id.
 * ROCHP_OK, or the refusal (nothing taken).  (A failed queue's dispatches
 * take ids and are journaled void: checking first would cost the path.)
 * Sequentially consistent (on x86 the locked instruction it is anyway):
 * the guard is read after it, and a checkpoint sets the guard before it
 * reads the write index, so a packet after the checkpoint's cut always
 * sees the guard. */
ROCHP__INLINE rochp_status rochp__take_id(struct rochp_queue_ring *r, bool journaled,
                                          uint64_t *ring_index)
{
    uint64_t w = 0;
    if (journaled) {
        w = __atomic_load_n(r->write_index, __ATOMIC_RELAXED);
        do {
            if (__builtin_expect(w - __atomic_load_n(&r->journal_start, __ATOMIC_RELAXED) >
                                     r->slot_mask,
                                 0)) {
                uint32_t failed = __atomic_load_n(&r->failed, __ATOMIC_RELAXED);
                *ring_index = 0;
                return failed ? (rochp_status) - (int32_t)failed : ROCHP_ERROR_JOURNAL_FULL;
            }
        } while (!__atomic_compare_exchange_n(r->write_index, &w, w + 1, 1, __ATOMIC_SEQ_CST,
                                              __ATOMIC_RELAXED));
    } else {
        w = __atomic_fetch_add(r->write_index, 1, __ATOMIC_SEQ_CST);
    }
    *ring_index = w;
    return ROCHP_OK;
}

/* Is there room for the packet at ring index w?  The limit was stored with
 * release after an acquire of the completion count: kernarg slots below it
 * are no longer read by the device. */
ROCHP__INLINE bool rochp__has_room(struct rochp_queue_ring *r, uint64_t w)
{
    return __builtin_expect(w < __atomic_load_n(&r->limit, __ATOMIC_ACQUIRE), 1);
}

static inline uint32_t rochp__header(uint32_t type)
{
    return (type << HSA_PACKET_HEADER_TYPE) | (1u << HSA_PACKET_HEADER_BARRIER) |
           (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE) |
           (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE);
}

/* Writes dispatch packet id (reserved at ring index w, with room) and rings
 * the doorbell. */
ROCHP__INLINE rochp_status rochp__write_dispatch(struct rochp_queue_ring *r, bool journaled,
                                                 const rochp_dispatch_kernel *k,
                                                 const rochp_launch *launch, const void *args,
                                                 size_t args_size, rochp_completion *done,
                                                 uint64_t w)
{
    /* A plain queue has a kernarg slot per packet; a journaled one's follow
     * the journal. */
    uint64_t slot = w & (journaled ? r->slot_mask : r->mask);
    uint8_t *kernarg = r->kernargs + (slot << r->kernarg_shift);
    memcpy(kernarg, args, args_size);
    if (journaled) {
        rochp_journal_entry *e = &r->journal[slot];
        e->kind = ROCHP_JOURNAL_DISPATCH;
        e->args_size = (uint32_t)args_size;
        e->kernel = k->kernel;
        e->launch = *launch;
    }
    hsa_kernel_dispatch_packet_t *p = &r->packets[journaled ? w & r->mask : slot];
    memcpy((uint8_t *)p + 4, launch, sizeof *launch);
    memcpy(&p->private_segment_size, k, 16);
    p->kernarg_address = kernarg;
    p->completion_signal = r->completion;
    __atomic_store_n((uint32_t *)(void *)p,
                     rochp__header(HSA_PACKET_TYPE_KERNEL_DISPATCH) |
                         (3u << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS) << 16,
                     __ATOMIC_RELEASE);
    if (done) {
        done->queue = (rochp_queue *)(void *)r;
        done->id = w + r->id_offset;
    }
    r->doorbell_store(r->doorbell, (hsa_signal_value_t)w);
    return ROCHP_OK;
}

/* Is a begun checkpoint still copying buffers?  Read after the id was
 * taken (see rochp__take_id). */
ROCHP__INLINE bool rochp__guarded(const struct rochp_queue_ring *r)
{
    return __builtin_expect(__atomic_load_n(&r->guard, __ATOMIC_SEQ_CST) != 0, 0);
}

/* The slow side as a tail call, so that nothing on the fast path lives
 * across a call (no registers to save): wait for the copies of a begun
 * checkpoint the kernel's writes must not overtake, and for room; then
 * write. */
static __attribute__((noinline, cold, unused)) rochp_status
rochp__dispatch_after_wait(struct rochp_queue_ring *r, bool journaled,
                           const rochp_dispatch_kernel *k, const rochp_launch *launch,
                           const void *args, size_t args_size, rochp_completion *done, uint64_t w)
{
    if (rochp__guarded(r))
        rochp__dispatch_guard((rochp_queue *)(void *)r, k, args, args_size);
    if (!rochp__has_room(r, w)) {
        rochp_status st = rochp__wait_room(r, w);
        if (st != ROCHP_OK)
            return st;
    }
    return rochp__write_dispatch(r, journaled, k, launch, args, args_size, done, w);
}

/* The dispatch itself, with the queue's mode known. */
ROCHP__INLINE rochp_status rochp__dispatch(struct rochp_queue_ring *r, bool journaled,
                                           const rochp_dispatch_kernel *k,
                                           const rochp_launch *launch, const void *args,
                                           size_t args_size, rochp_completion *done)
{
    uint64_t w = 0;
    rochp_status st = rochp__take_id(r, journaled, &w);
    if (__builtin_expect(st != ROCHP_OK, 0))
        return rochp__failure(rochp__dispatch_refused((rochp_queue *)(void *)r, st, k, args_size),
                              st);
    if (rochp__guarded(r) || !rochp__has_room(r, w))
        return rochp__dispatch_after_wait(r, journaled, k, launch, args, args_size, done, w);
    return rochp__write_dispatch(r, journaled, k, launch, args, args_size, done, w);
}

/* Dispatches kernel k (the queue's binding, rochp_kernel_bind) with launch
 * geometry, copying args_size bytes of arguments from args into its kernarg
 * slot (laid out as the kernel's metadata says; hidden arguments are not
 * filled in).  Fewer bytes than the kernel's explicit arguments
 * (k->args_min) or more than the queue's kernarg_bytes is
 * ROCHP_ERROR_INVALID_ARGUMENT; else ROCHP_ERROR_JOURNAL_FULL (journaled,
 * nothing reserved), ROCHP_ERROR_DEVICE_LOST or ROCHP_ERROR_QUEUE_FAILED.
 * done (may be NULL) gets its completion.  Pass a constant args_size
 * (sizeof): the copy then compiles to a few moves. */
ROCHP__INLINE rochp_status rochp_dispatch(rochp_queue *queue, const rochp_dispatch_kernel *k,
                                          const rochp_launch *launch, const void *args,
                                          size_t args_size, rochp_completion *done)
{
    struct rochp_queue_ring *r = rochp__ring(queue);
    if (__builtin_expect(args_size < k->args_min, 0) ||
        (!(__builtin_constant_p(args_size) && args_size <= ROCHP_MIN_KERNARG_BYTES) &&
         __builtin_expect(args_size > r->kernarg_stride, 0))) {
        (void)rochp__dispatch_refused(queue, ROCHP_ERROR_INVALID_ARGUMENT, k, args_size);
        return ROCHP_ERROR_INVALID_ARGUMENT;
    }
    if (__builtin_expect(r->journal != NULL, 0))
        return rochp__dispatch(r, true, k, launch, args, args_size, done);
    return rochp__dispatch(r, false, k, launch, args, args_size, done);
}

/* Packets after this one on queue wait until dep (a packet of any queue of
 * the context, on any device) has completed: an AMD barrier-value packet on
 * dep's completion signal.  Fails as rochp_dispatch does. */
static inline rochp_status rochp_dispatch_barrier(rochp_queue *queue, const rochp_completion *dep,
                                                  rochp_completion *done)
{
    struct rochp_queue_ring *r = rochp__ring(queue);
    const struct rochp_queue_ring *d = rochp__ring(dep->queue);
    uint64_t w = 0;
    rochp_status st = rochp__take_id(r, r->journal != NULL, &w);
    if (st != ROCHP_OK)
        return rochp__failure(rochp__dispatch_refused(queue, st, NULL, 0), st);
    if (!rochp__has_room(r, w)) {
        st = rochp__wait_room(r, w);
        if (st != ROCHP_OK)
            return st;
    }
    struct rochp_barrier_record *b = &r->barriers[w & r->mask];
    b->dep_queue = dep->queue;
    b->dep_id = dep->id;
    b->ring_index = w;
    if (r->journal) {
        rochp_journal_entry *e = &r->journal[w & r->slot_mask];
        memset(e, 0, sizeof *e);
        e->kind = ROCHP_JOURNAL_BARRIER;
        e->dep_queue = dep->queue;
        e->dep_id = dep->id;
        e->dep_queue_id = d->queue_id;
    }
    hsa_amd_barrier_value_packet_t *p =
        (hsa_amd_barrier_value_packet_t *)(void *)&r->packets[w & r->mask];
    p->reserved0 = 0;
    p->signal = d->completion;
    /* dep is done when the count is below base - dep->id */
    p->value = ROCHP_COMPLETION_BASE - (int64_t)dep->id;
    p->mask = -1;
    p->cond = HSA_SIGNAL_CONDITION_LT;
    p->reserved1 = 0;
    p->reserved2 = 0;
    p->reserved3 = 0;
    p->completion_signal = r->completion;
    __atomic_store_n((uint32_t *)(void *)p,
                     rochp__header(HSA_PACKET_TYPE_VENDOR_SPECIFIC) |
                         ((uint32_t)HSA_AMD_PACKET_TYPE_BARRIER_VALUE << 16),
                     __ATOMIC_RELEASE);
    r->doorbell_store(r->doorbell, (hsa_signal_value_t)w);
    if (done) {
        done->queue = queue;
        done->id = w + r->id_offset;
    }
    return ROCHP_OK;
}

/* Has the packet completed?  (A poll; never blocks.) */
static inline bool rochp_completion_done(const rochp_completion *c)
{
    return rochp__completed(rochp__ring(c->queue)) > c->id;
}

#ifdef __cplusplus
}
#endif

#endif /* ROCHP_ROCHP_DISPATCH_H */
