/* hsasim queues: hsa_queue_* and the AQL packet processors; what queue.c,
 * queue_packets.c, queue_processor.c and queue_index.c share.
 *
 * Layout (as ROCR's AqlQueue): hsa_queue_t* points to the hsa_queue_t at the
 * start of the amd_queue_t at the start of a struct sim_queue.
 * amd_queue_t.write_dispatch_id and read_dispatch_id are the write and read
 * indexes; base_address is a ring of 64-byte AQL packets whose headers start
 * as HSA_PACKET_TYPE_INVALID; doorbell_signal is a signal owned by the queue.
 *
 * One processor thread per queue takes the packets in order.  A packet is
 * ready when the write index is past it and its header (loaded with acquire)
 * is not INVALID.  The processor validates it (a bad packet stops the queue
 * with the error ROCR would report, leaving the packet at the read index),
 * copies it, sets its header back to INVALID, advances the read index (the
 * slot is free: the packet has been launched, as on the hardware), runs it
 * and then, unless the queue was stopped meanwhile, decrements its
 * completion signal.  Packets run one at a time, so the barrier bit holds
 * trivially.  Kernel dispatches call the host kernel (include/hsasim/kernel.h)
 * once per work-group, in order; barrier-AND/OR wait on their dependent
 * signals (0 handles ignored).
 *
 * Stopping: q->stop holds STOP_* bits.  Whoever sets one also kicks the
 * doorbell (which wakes the processor whether it sleeps on the doorbell or
 * on a barrier's signals).  The processor checks the bits before each packet
 * and between work-groups; once stopped it never takes a packet again (HSA
 * queues cannot be re-activated) and parks.  q->lock orders a stop against
 * the completion of a packet: after sim_queues_kill_agent or
 * hsa_queue_inactivate returns, no packet of that queue completes.
 *
 * Locks: sim_queue_lock guards the queue list (validation of handles in the
 * checked calls, sim_queues_kill_agent); it is taken before any q->lock and
 * never held while user code runs.  q->lock guards the stop/complete
 * ordering, kill_status and the park handshake. */
#ifndef HSASIM_QUEUE_IMPL_H
#define HSASIM_QUEUE_IMPL_H

#include <stddef.h>

#include "hsasim.h"
#include "hsasim/kernel.h"

#define STOP_INACTIVE 1u  /* hsa_queue_inactivate */
#define STOP_ERROR 2u     /* a packet error was reported */
#define STOP_KILL 4u      /* sim_queues_kill_agent: report kill_status */
#define STOP_KILL_DONE 8u /* ... reported */
#define STOP_DESTROY 16u  /* hsa_queue_destroy: the thread exits */
#define STOP_EVICT 32u    /* a VM fault on the agent evicted it: no callback, for good */

typedef void (*queue_callback)(hsa_status_t, hsa_queue_t *, void *);

/* The last ranges the agent was found to reach, valid while neither
 * generation moves (hsasim.h sim_memory_accessible).  Four: a dispatch
 * touches its kernarg segment and a few buffers, the same ones again and
 * again. */
#define ACCESS_CACHE 4
typedef struct access_cache {
    uint64_t memory_gen, code_gen;
    unsigned n, next;
    sim_range ranges[ACCESS_CACHE];
} access_cache;

struct sim_queue {
    amd_queue_t amd; /* hsa_queue_t* points here */
    uint64_t magic;
    sim_agent *agent;
    queue_callback callback;
    void *data;
    sim_signal *doorbell;
    sim_signal *inactive_signal; /* amd.queue_inactive_signal */
    hsa_kernel_dispatch_packet_t *ring;
    uint32_t mask;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t parked_cv;
    _Atomic uint32_t stop;
    _Atomic int priority;     /* hsa_amd_queue_set_priority: recorded only */
    hsa_status_t kill_status; /* under lock */
    bool parked;              /* under lock: the processor took note of a stop */
    bool self_destroy;        /* under lock: destroyed from its own thread */
    sim_queue *next;          /* sim_queue_list */
    /* processor-private */
    void *group_mem;
    size_t group_cap;
    void *private_mem;
    size_t private_cap;
    access_cache access;   /* memory the agent may touch, as last found */
    uint64_t kernel_object; /* the kernel last found (0: none) ... */
    uint64_t kernel_gen;    /* ... while sim_code_generation() was this */
    sim_kernel_info kernel;
    void *kernarg_copy;     /* a kernarg segment with translated pointers (queue_packets.c) */
    size_t kernarg_cap;
};
_Static_assert(offsetof(struct sim_queue, amd) == 0, "hsa_queue_t* is the amd_queue_t");

/* hsa_amd_profiling_set_profiler_enabled is on for the queue (profiling.c). */
bool sim_queue_profiling(const sim_queue *q);

/* The queue list: under sim_queue_lock. */
extern pthread_mutex_t sim_queue_lock;
extern sim_queue *sim_queue_list;

/* --- packets (queue_packets.c) --------------------------------------------------------- */
typedef struct dispatch_plan {
    hsasim_kernel_fn fn;
    const void *kernarg; /* the packet's, or the queue's copy with GPU addresses translated */
    uint32_t dims;
    uint32_t grid[3], wg[3], groups[3];
} dispatch_plan;

/* Errors as the CP and the waves meet them, in that order: the packet's
 * fields (reported by the CP, translated by ROCR's AqlQueue::
 * DynamicScratchHandler), then the descriptor, the kernarg segment and the
 * global_buffer arguments, each of which must be mapped for the agent
 * (queue_packets.c has the rules).  HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION means a
 * VM fault at *fault_at. */
hsa_status_t sim_queue_check_dispatch(sim_queue *q, const hsa_kernel_dispatch_packet_t *p,
                                      dispatch_plan *plan, uint64_t *fault_at);

/* An AMD barrier-value packet, checked.  dep_dead: its signal was destroyed
 * before launch and holds dep_value for good. */
typedef struct value_plan {
    hsa_amd_barrier_value_packet_t pkt;
    bool dep_dead;
    hsa_signal_value_t dep_value;
} value_plan;

/* Vendor packets: hsasim's CP knows AMD's barrier-value format only.  ROCR
 * reports the CP's vendor-packet error (DynamicScratchHandler bit 256,
 * EC_QUEUE_PACKET_VENDOR_UNSUPPORTED) as INVALID_PACKET_FORMAT; a condition
 * past GTE is treated alike (the firmware's handling is not documented). */
hsa_status_t sim_queue_check_barrier_value(const hsa_kernel_dispatch_packet_t *p, value_plan *plan);

/* A signal a packet names.  A 0 handle is none; a handle that is not signal
 * memory makes the CP fault (reported as a memory violation); a destroyed
 * signal's memory is still there (ROCR's signal pool), so the CP reads and
 * writes it without effect: *dead is set and *dead_value holds its value. */
sim_signal *sim_queue_packet_signal(hsa_signal_t h, hsa_status_t *err, bool *dead,
                                    hsa_signal_value_t *dead_value);

/* --- the processor (queue_processor.c) -------------------------------------------------- */

/* The thread of queue arg: takes its packets until the queue stops, then
 * parks; it returns on destroy (and frees the queue when destroyed from its
 * own thread). */
void *sim_queue_processor(void *arg);

/* --- queues (queue.c) ------------------------------------------------------------------- */

/* Frees q, whose processor has returned or never started. */
void sim_queue_free(sim_queue *q);

#endif
