/* hsasim queues: hsa_queue_* and the AQL packet processors.
 *
 * Layout (as ROCR's AqlQueue): hsa_queue_t* points to the hsa_queue_t at the
 * start of the amd_queue_t at the start of a struct sim_queue.
 * amd_queue_t.write_dispatch_id and read_dispatch_id are the write and read
 * indexes; base_address is a ring of 64-byte AQL packets whose headers start
 * as HSA_PACKET_TYPE_INVALID; doorbell_signal is a signal owned by the queue.
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
 * What a dispatch may touch (checked before the kernel runs, as strictly as
 * a GPU without XNACK would fault; the rules of each kind of memory are in
 * memory.c, host_lock.c and code_index.c):
 *  - kernel_object must be the descriptor of a kernel of an executable
 *    loaded for this queue's agent and frozen.  Another agent's kernel
 *    object, a static struct, any address the agent's page tables do not
 *    map: the CP's fetch of the descriptor faults (a VM fault, below).  An
 *    address they do map that holds no kernel (inside a code object, an
 *    allocation of the agent, the descriptor of an executable not yet
 *    frozen, whose contents ROCR copies in at freeze): the waves run
 *    garbage, HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION to the queue's callback,
 *    no VM fault, the device stays usable.  kernel_object 0:
 *    HSA_STATUS_ERROR_INVALID_CODE_OBJECT (the CP's own check).
 *  - The kernarg segment, kernarg_address for the kernel's kernarg segment
 *    size, must be mapped for the agent (the first byte that is not is the
 *    fault address).
 *  - Every global_buffer argument of the kernel's metadata note that is not
 *    NULL must point into memory mapped for the agent (where it points, not
 *    how far the kernel reads: the note does not say).
 *  - Mapped for the agent: its own pools' allocations; another pool's
 *    allocation once hsa_amd_agents_allow_access named the agent (system
 *    memory from hsa_memory_allocate is mapped to every GPU from the start);
 *    host memory locked with hsa_amd_memory_lock(_to_pool) for any GPU
 *    (libhsakmt maps userptrs to all GPUs); the segments of code objects
 *    loaded for the agent.  Never: plain host memory (malloc, stack,
 *    statics), memory freed or unlocked, memory of a GPU that has left.
 * A kernel without a metadata note is only checked for its descriptor and
 * kernarg segment.  The answers are cached per queue (four ranges and the
 * last kernel) while the memory and code generations stand still, so the
 * checks cost a few loads per dispatch.
 *
 * VM faults, as KFD and ROCR 5.2.3 make them: KFD's interrupt handler
 * (kfd_int_process_v9.c event_interrupt_wq_v9; in later kernels through
 * kfd_debug.c kfd_set_dbg_ev_from_interrupt) calls kfd_dqm_evict_pasid, i.e.
 * evict_process_queues_cpsch, which evicts EVERY queue of the process on
 * that device, then kfd_signal_vm_fault_event raises the memory exception,
 * which ROCR's Runtime::VMFaultHandler turns into
 * HSA_AMD_GPU_MEMORY_FAULT_EVENT (events.c: the agent, the faulting 4 KiB
 * page, HSA_AMD_MEMORY_FAULT_PAGE_NOT_PRESENT) or, when no handler returns
 * success, "Memory access fault by GPU node-N ..." and abort().  The
 * eviction is never undone: a VM fault adds one to qpd->evicted that no
 * restore takes back (restore_process_queues_cpsch only decrements while
 * the count is above 1; kfd_dqm_evict_pasid_mes: "make sure the process
 * stays evicted before its terminated"), and create_queue_cpsch creates
 * every later queue of the process on the device evicted (is_evicted =
 * !!qpd->evicted).  So in hsasim the other queues of the process on the
 * agent stop (STOP_EVICT: their in-flight packets never complete, nothing
 * after them runs, no callback), hsa_queue_create on the agent still
 * succeeds but the queue never runs, and the agent's copy engine stops
 * (memory.c).  Queues on other agents go on.  The faulting queue's callback
 * is not called: ROCR 5.2.3 sends a page fault to no queue (its trap
 * handler, amd_gpu_shaders.h, leaves XNACK errors to "the VM interrupt")
 * and reserves HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION for aperture
 * violations, which a host kernel cannot make; the event is the one
 * report.  Not modelled: the
 * eviction outliving hsa_shut_down (the KFD process lives as long as the
 * address space); the agents are rebuilt at the next hsa_init.
 *
 * Vendor-specific packets: AMD's barrier-value (hsa_ext_amd.h,
 * hsa_amd_barrier_value_packet_t, AmdFormat HSA_AMD_PACKET_TYPE_BARRIER_VALUE)
 * is supported; ROCR documents it for kernel dispatch queues of GPU agents
 * only, which every hsasim queue is.  It waits, like a barrier, until
 * (signal value & mask) cond value holds (signed; a 0 handle holds at once; a
 * destroyed signal is judged once on the value it kept), then decrements
 * its completion signal.  Masked conditions are re-evaluated at each change
 * of the signal.  Any other AmdFormat, or a condition past GTE, is
 * HSA_STATUS_ERROR_INVALID_PACKET_FORMAT; agent dispatches are too.
 *
 * Sleeping: with no ready packet the processor spins for a few microseconds
 * and then sleeps on its doorbell signal's futex.  It counts as a waiter of
 * the doorbell only while it is about to sleep, so a doorbell store made
 * while it works costs no syscall (signal.c).  A packet published without a
 * doorbell store is only seen at the next doorbell (as on the hardware).
 *
 * Stopping: q->stop holds STOP_* bits.  Whoever sets one also kicks the
 * doorbell (which wakes the processor whether it sleeps on the doorbell or
 * on a barrier's signals).  The processor checks the bits before each packet
 * and between work-groups; once stopped it never takes a packet again (HSA
 * queues cannot be re-activated) and parks.  q->lock orders a stop against
 * the completion of a packet: after sim_queues_kill_agent or
 * hsa_queue_inactivate returns, no packet of that queue completes.
 *
 * Errors (ROCR AqlQueue::DynamicScratchHandler/ExceptionHandler): the queue
 * is suspended and its callback is called with the status, here from the
 * processor thread (ROCR uses its async-events thread); with no callback,
 * ROCR's Queue::DefaultErrorHandler prints "Queue at %p inactivated due to
 * async error" and aborts unless HSA_ENABLE_QUEUE_FAULT_MESSAGE=0.
 *
 * Device loss (sim_queues_kill_agent): as an error, but the callback gets
 * the status given, at most once per queue, and none at all for
 * HSA_STATUS_SUCCESS (a silent loss: the queue just stops), nor for a queue
 * already inactivated (it is no longer on the device).
 *
 * Locks: g_queue_lock guards the queue list (validation of handles in the
 * checked calls, sim_queues_kill_agent); it is taken before any q->lock and
 * never held while user code runs.  q->lock guards the stop/complete
 * ordering, kill_status and the park handshake. */
#include "hsasim.h"
#include "hsasim/kernel.h"

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ROCR GpuAgent limits (amd_gpu_agent.h minAqlSize_/maxAqlSize_). */
#define QUEUE_MIN_PACKETS 0x40u
#define QUEUE_MAX_PACKETS 0x20000u
#define MAX_PRIVATE_SEGMENT 262128u /* GpuAgent::QueueCreate */
#define MAX_GROUP_SEGMENT 65536u    /* LDS per work-group */
#define MAX_WORKGROUP_ITEMS 1024u
#define PROC_SPIN_NS 5000ull

#define STOP_INACTIVE 1u  /* hsa_queue_inactivate */
#define STOP_ERROR 2u     /* a packet error was reported */
#define STOP_KILL 4u      /* sim_queues_kill_agent: report kill_status */
#define STOP_KILL_DONE 8u /* ... reported */
#define STOP_DESTROY 16u  /* hsa_queue_destroy: the thread exits */
#define STOP_EVICT 32u    /* a VM fault on the agent evicted it: no callback, for good */

#define SIM_QUEUE_MAGIC 0x4555455551534853ull

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
    hsa_status_t kill_status; /* under lock */
    bool parked;              /* under lock: the processor took note of a stop */
    bool self_destroy;        /* under lock: destroyed from its own thread */
    sim_queue *next;          /* g_queues */
    /* processor-private */
    void *group_mem;
    size_t group_cap;
    void *private_mem;
    size_t private_cap;
    access_cache access;   /* memory the agent may touch, as last found */
    uint64_t kernel_object; /* the kernel last found (0: none) ... */
    uint64_t kernel_gen;    /* ... while sim_code_generation() was this */
    sim_kernel_info kernel;
};
_Static_assert(offsetof(struct sim_queue, amd) == 0, "hsa_queue_t* is the amd_queue_t");

static pthread_mutex_t g_queue_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_queue *g_queues;
static _Atomic uint64_t g_queue_ids;

static inline sim_queue *q_of(const hsa_queue_t *queue)
{
    return (sim_queue *)(uintptr_t)queue;
}

/* The queue behind a handle, looked up in the list (g_queue_lock held). */
static sim_queue *queue_lookup_locked(const hsa_queue_t *queue)
{
    for (sim_queue *q = g_queues; q; q = q->next)
        if ((const hsa_queue_t *)q == queue)
            return q;
    return NULL;
}

static bool queue_valid(const hsa_queue_t *queue)
{
    pthread_mutex_lock(&g_queue_lock);
    bool ok = queue_lookup_locked(queue) != NULL;
    pthread_mutex_unlock(&g_queue_lock);
    return ok;
}

/* Fast paths (index accessors): ROCR converts without checking. */
static inline sim_queue *q_fast(const hsa_queue_t *queue, const char *fn)
{
    if (__builtin_expect(queue == NULL, 0)) {
        fprintf(stderr, "hsasim: %s: NULL queue\n", fn);
        abort();
    }
    return q_of(queue);
}

static void queue_set_stop(sim_queue *q, uint32_t bits)
{
    atomic_fetch_or_explicit(&q->stop, bits, memory_order_seq_cst);
    sim_signal_kick(q->doorbell);
}

/* --- error reporting ----------------------------------------------------------- */
static void default_error_handler(hsa_status_t status, hsa_queue_t *source)
{
    const char *e = getenv("HSA_ENABLE_QUEUE_FAULT_MESSAGE");
    if (e && strcmp(e, "0") == 0)
        return;
    const char *msg = "UNKNOWN ERROR";
    if (hsa_status_string(status, &msg) != HSA_STATUS_SUCCESS || !msg)
        msg = "UNKNOWN ERROR";
    fprintf(stderr, "Queue at %p inactivated due to async error:\n\t%s\n", (void *)source, msg);
    abort();
}

static void report_error(sim_queue *q, hsa_status_t status)
{
    if (q->callback)
        q->callback(status, &q->amd.hsa_queue, q->data);
    else
        default_error_handler(status, &q->amd.hsa_queue);
}

/* --- what the queue's GPU may touch ------------------------------------------------------- */

/* Forgets what may no longer hold: once per packet, before gpu_maps. */
static void access_cache_revalidate(sim_queue *q)
{
    access_cache *c = &q->access;
    uint64_t mg = sim_memory_generation(), cg = sim_code_generation();
    if (c->memory_gen != mg || c->code_gen != cg) {
        c->memory_gen = mg;
        c->code_gen = cg;
        c->n = c->next = 0;
    }
}

/* Whether the agent's page tables map the byte at addr; *range: the whole
 * range that answer holds for. */
static bool gpu_maps(sim_queue *q, uintptr_t addr, sim_range *range)
{
    access_cache *c = &q->access;
    for (unsigned i = 0; i < c->n; i++)
        if (addr >= c->ranges[i].lo && addr < c->ranges[i].hi) {
            *range = c->ranges[i];
            return true;
        }
    if (!sim_memory_accessible(q->agent, addr, 1, range))
        return false;
    c->ranges[c->next] = *range;
    c->next = (c->next + 1) % ACCESS_CACHE;
    if (c->n < ACCESS_CACHE)
        c->n++;
    return true;
}

/* Whether all of [addr, addr + len) is mapped; if not, *bad is the first
 * byte that is not (the fault address). */
static bool gpu_maps_all(sim_queue *q, uintptr_t addr, size_t len, uintptr_t *bad)
{
    while (len) {
        sim_range r;
        if (!gpu_maps(q, addr, &r)) {
            *bad = addr;
            return false;
        }
        size_t n = r.hi - addr < len ? r.hi - addr : len;
        addr += n;
        len -= n;
    }
    return true;
}

/* The kernel at kernel_object for this queue's agent, in q->kernel. */
static sim_code_kind find_kernel(sim_queue *q, uint64_t kernel_object)
{
    uint64_t cg = sim_code_generation();
    if (q->kernel_object == kernel_object && q->kernel_gen == cg)
        return SIM_CODE_KERNEL;
    q->kernel_object = 0;
    sim_code_kind kind =
        sim_code_find_kernel(kernel_object, (uint64_t)(uintptr_t)q->agent, &q->kernel);
    if (kind == SIM_CODE_KERNEL) {
        q->kernel_object = kernel_object;
        q->kernel_gen = cg;
    }
    return kind;
}

/* --- packet validation ----------------------------------------------------------------- */
typedef struct dispatch_plan {
    hsasim_kernel_fn fn;
    uint32_t dims;
    uint32_t grid[3], wg[3], groups[3];
} dispatch_plan;

/* Errors as the CP and the waves meet them, in that order: the packet's
 * fields (reported by the CP, translated by ROCR's AqlQueue::
 * DynamicScratchHandler), then the descriptor, the kernarg segment and the
 * global_buffer arguments, each of which must be mapped for the agent (see
 * the top of the file).  HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION means a
 * VM fault at *fault_at. */
static hsa_status_t check_dispatch(sim_queue *q, const hsa_kernel_dispatch_packet_t *p,
                                   dispatch_plan *plan, uint64_t *fault_at)
{
    uint32_t dims = (p->setup >> HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS) &
                    ((1u << HSA_KERNEL_DISPATCH_PACKET_SETUP_WIDTH_DIMENSIONS) - 1);
    if (dims < 1 || dims > 3)
        return HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS; /* EC_QUEUE_PACKET_DISPATCH_DIM_INVALID */
    uint32_t wg[3] = {p->workgroup_size_x, p->workgroup_size_y, p->workgroup_size_z};
    uint32_t grid[3] = {p->grid_size_x, p->grid_size_y, p->grid_size_z};
    uint64_t items = 1;
    for (uint32_t d = 0; d < 3; d++) {
        if (d >= dims) {
            wg[d] = 1;
            grid[d] = 1;
        }
        if (wg[d] == 0)
            return HSA_STATUS_ERROR_INVALID_ARGUMENT; /* ..._WORK_GROUP_SIZE_INVALID */
        items *= wg[d];
    }
    if (items > MAX_WORKGROUP_ITEMS)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (p->group_segment_size > MAX_GROUP_SEGMENT)
        return HSA_STATUS_ERROR_INVALID_ALLOCATION; /* ..._GROUP_SEGMENT_SIZE_INVALID */
    if (p->kernel_object == 0)
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT; /* EC_QUEUE_PACKET_DISPATCH_CODE_INVALID */
    const hsa_status_t vm_fault_status = (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION;
    sim_range r;
    access_cache_revalidate(q);
    sim_code_kind kind = find_kernel(q, p->kernel_object);
    if (kind != SIM_CODE_KERNEL) {
        /* Mapped (a 64-byte descriptor never straddles a page) but not a
         * kernel: the waves run whatever is there; unmapped: the CP's fetch
         * faults. */
        if (kind == SIM_CODE_MAPPED || gpu_maps(q, (uintptr_t)p->kernel_object, &r))
            return (hsa_status_t)HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION;
        *fault_at = p->kernel_object;
        return vm_fault_status;
    }
    const sim_kernel_info *k = &q->kernel;
    const uint8_t *kernarg = p->kernarg_address;
    uintptr_t bad;
    if (k->kernarg_size && !gpu_maps_all(q, (uintptr_t)kernarg, k->kernarg_size, &bad)) {
        *fault_at = bad;
        return vm_fault_status;
    }
    /* Pointer arguments, where they point (not how far the kernel goes from
     * there: the metadata does not say).  NULL is what a kernel gets for an
     * argument it does not use; dereferencing it would fault anyway. */
    for (uint32_t i = 0; i < k->n_ptr_args; i++) {
        uint32_t off = k->ptr_args[i];
        uint64_t ptr;
        if (off > k->kernarg_size || k->kernarg_size - off < sizeof ptr)
            continue; /* not within the segment: nothing of the packet's there */
        memcpy(&ptr, kernarg + off, sizeof ptr);
        if (ptr && !gpu_maps(q, (uintptr_t)ptr, &r)) {
            *fault_at = ptr;
            return vm_fault_status;
        }
    }
    plan->fn = k->fn;
    plan->dims = dims;
    for (uint32_t d = 0; d < 3; d++) {
        plan->grid[d] = grid[d];
        plan->wg[d] = wg[d];
        plan->groups[d] = grid[d] / wg[d] + (grid[d] % wg[d] != 0);
    }
    return HSA_STATUS_SUCCESS;
}

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
static hsa_status_t check_barrier_value(const hsa_kernel_dispatch_packet_t *p, value_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    memcpy(&plan->pkt, p, sizeof plan->pkt); /* another view of the same 64 bytes */
    if (plan->pkt.header.AmdFormat != HSA_AMD_PACKET_TYPE_BARRIER_VALUE ||
        plan->pkt.cond > HSA_SIGNAL_CONDITION_GTE)
        return HSA_STATUS_ERROR_INVALID_PACKET_FORMAT;
    return HSA_STATUS_SUCCESS;
}

/* A signal a packet names.  A 0 handle is none; a handle that is not signal
 * memory makes the CP fault (reported as a memory violation); a destroyed
 * signal's memory is still there (ROCR's signal pool), so the CP reads and
 * writes it without effect: *dead is set and *dead_value holds its value. */
static sim_signal *packet_signal(hsa_signal_t h, hsa_status_t *err, bool *dead,
                                 hsa_signal_value_t *dead_value)
{
    *dead = false;
    if (h.handle == 0)
        return NULL;
    sim_signal *s = NULL;
    int r = sim_signal_acquire_any(h, &s, dead_value);
    if (r < 0)
        *err = (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION;
    else if (r == 0)
        *dead = true;
    return r > 0 ? s : NULL;
}

/* --- execution ------------------------------------------------------------------------------ */
static bool q_stopped(void *arg)
{
    sim_queue *q = arg;
    return atomic_load_explicit(&q->stop, memory_order_acquire) != 0;
}

static bool ensure_buffer(void **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return true;
    void *p = aligned_alloc(64, (need + 63) & ~(size_t)63);
    if (!p)
        return false;
    free(*buf);
    *buf = p;
    *cap = need;
    return true;
}

/* true: all groups ran; false: the queue was stopped in between. */
static bool run_dispatch(sim_queue *q, const hsa_kernel_dispatch_packet_t *p,
                         const dispatch_plan *plan)
{
    size_t gsize = p->group_segment_size, psize = p->private_segment_size;
    if (!ensure_buffer(&q->group_mem, &q->group_cap, gsize) ||
        !ensure_buffer(&q->private_mem, &q->private_cap, psize)) {
        /* ROCR: scratch could not be provided -> HSA_STATUS_ERROR_OUT_OF_RESOURCES */
        return false;
    }
    hsasim_dispatch d;
    memset(&d, 0, sizeof d);
    d.dimensions = plan->dims;
    for (int i = 0; i < 3; i++) {
        d.grid_size[i] = plan->grid[i];
        d.workgroup_size[i] = plan->wg[i];
        d.group_count[i] = plan->groups[i];
    }
    d.group_segment = gsize ? q->group_mem : NULL;
    d.private_segment = psize ? q->private_mem : NULL;
    d.packet = p;
    const void *kernarg = p->kernarg_address;
    for (uint32_t z = 0; z < plan->groups[2]; z++)
        for (uint32_t y = 0; y < plan->groups[1]; y++)
            for (uint32_t x = 0; x < plan->groups[0]; x++) {
                if (q_stopped(q))
                    return false;
                d.group_id[0] = x;
                d.group_id[1] = y;
                d.group_id[2] = z;
                if (gsize)
                    memset(q->group_mem, 0, gsize);
                if (psize)
                    memset(q->private_mem, 0, psize);
                plan->fn(kernarg, &d);
            }
    return !q_stopped(q);
}

/* true: the barrier is satisfied; false: the queue was stopped.  n_dead
 * dependencies were destroyed signals, dead_zero of them holding 0: their
 * values never change. */
static bool run_barrier(sim_queue *q, sim_signal **deps, uint32_t n, uint32_t n_dead,
                        uint32_t dead_zero, bool is_and)
{
    sim_signal *wait_on[5];
    hsa_signal_condition_t conds[5];
    hsa_signal_value_t zeros[5] = {0};
    for (;;) {
        if (q_stopped(q))
            return false;
        uint32_t zero = 0, m = 0;
        for (uint32_t i = 0; i < n; i++) {
            /* Liveness first: a signal destroyed right after its last value
             * was stored is then read with that value (0 counts). */
            bool live = sim_signal_get(sim_signal_handle(deps[i])) == deps[i];
            hsa_signal_value_t v = hsa_signal_load_scacquire(sim_signal_handle(deps[i]));
            if (v == 0) {
                zero++;
            } else if (live) {
                /* Destroyed signals keep their last value: never waited on
                 * (they would end the wait at once), never satisfied. */
                wait_on[m] = deps[i];
                conds[m] = HSA_SIGNAL_CONDITION_EQ;
                m++;
            }
        }
        uint32_t total = n + n_dead;
        zero += dead_zero;
        if (total == 0 || (is_and ? zero == total : zero > 0))
            return true;
        (void)sim_signal_wait_any_internal(m, wait_on, conds, zeros, q_stopped, q);
    }
}

/* (v & mask) cond value, compared as signed hsa_signal_value_t. */
static bool value_met(const hsa_amd_barrier_value_packet_t *p, hsa_signal_value_t v)
{
    hsa_signal_value_t x = v & p->mask;
    switch ((hsa_signal_condition_t)p->cond) {
    case HSA_SIGNAL_CONDITION_EQ: return x == p->value;
    case HSA_SIGNAL_CONDITION_NE: return x != p->value;
    case HSA_SIGNAL_CONDITION_LT: return x < p->value;
    case HSA_SIGNAL_CONDITION_GTE: return x >= p->value;
    }
    return false; /* rejected by check_barrier_value */
}

/* true: the barrier-value condition holds; false: the queue was stopped.
 * dep is the live signal (retained) or NULL: a 0 handle (satisfied) or,
 * with plan->dep_dead, a signal destroyed before launch. */
static bool run_barrier_value(sim_queue *q, sim_signal *dep, const value_plan *plan)
{
    const hsa_amd_barrier_value_packet_t *p = &plan->pkt;
    for (;;) {
        if (q_stopped(q))
            return false;
        if (!dep && !plan->dep_dead)
            return true;
        /* Liveness before the value: a signal destroyed after this load
         * ends the wait below, and the next round reads its final value. */
        bool live = dep && sim_signal_get(sim_signal_handle(dep)) == dep;
        hsa_signal_value_t v =
            dep ? hsa_signal_load_scacquire(sim_signal_handle(dep)) : plan->dep_value;
        if (value_met(p, v))
            return true;
        if (!live) {
            /* A destroyed signal keeps its value: only a stop ends this. */
            (void)sim_signal_wait_any_internal(0, NULL, NULL, NULL, q_stopped, q);
            continue;
        }
        /* Unmasked, the wait takes the packet's condition as it is; masked,
         * it cannot, so wake at every change of value and re-evaluate. */
        hsa_signal_condition_t cond = HSA_SIGNAL_CONDITION_NE;
        hsa_signal_value_t cmp = v;
        if (p->mask == -1) {
            cond = (hsa_signal_condition_t)p->cond;
            cmp = p->value;
        }
        (void)sim_signal_wait_any_internal(1, &dep, &cond, &cmp, q_stopped, q);
    }
}

static void complete_packet(sim_queue *q, sim_signal *completion)
{
    pthread_mutex_lock(&q->lock);
    if (atomic_load_explicit(&q->stop, memory_order_acquire) == 0 && completion)
        hsa_signal_subtract_scacq_screl(sim_signal_handle(completion), 1);
    pthread_mutex_unlock(&q->lock);
}

/* Is the packet at rd published? */
static bool packet_ready(sim_queue *q, uint64_t rd)
{
    uint64_t wr = __atomic_load_n(&q->amd.write_dispatch_id, __ATOMIC_ACQUIRE);
    if (wr <= rd)
        return false;
    uint16_t hdr = __atomic_load_n(&q->ring[rd & q->mask].header, __ATOMIC_ACQUIRE);
    return ((hdr >> HSA_PACKET_HEADER_TYPE) & ((1u << HSA_PACKET_HEADER_WIDTH_TYPE) - 1)) !=
           HSA_PACKET_TYPE_INVALID;
}

static void idle_wait(sim_queue *q, uint64_t rd)
{
    uint64_t start = sim_now_ns();
    while (sim_now_ns() - start < PROC_SPIN_NS) {
        if (q_stopped(q) || packet_ready(q, rd))
            return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    uint32_t seq = sim_signal_sleep_prepare(q->doorbell);
    if (!q_stopped(q) && !packet_ready(q, rd))
        sim_signal_sleep(q->doorbell, seq, UINT64_MAX);
    sim_signal_sleep_finish(q->doorbell);
}

/* Sleeps until q->stop differs from seen. */
static void stop_wait(sim_queue *q, uint32_t seen)
{
    for (;;) {
        uint32_t seq = sim_signal_sleep_prepare(q->doorbell);
        bool changed = atomic_load_explicit(&q->stop, memory_order_acquire) != seen;
        if (!changed)
            sim_signal_sleep(q->doorbell, seq, UINT64_MAX);
        sim_signal_sleep_finish(q->doorbell);
        if (changed || atomic_load_explicit(&q->stop, memory_order_acquire) != seen)
            return;
    }
}

static void queue_free(sim_queue *q);

/* A VM fault of q's agent at address, as KFD handles it (see the top):
 * every queue of the process on the device is evicted, for good, then the
 * memory exception is raised.  False when q had been evicted already (by
 * another queue's fault on the device): it was off the hardware before it
 * could fault, so nothing is reported for it.  False too on a device that
 * has left (its own memory is gone with it): it raises no interrupt, and
 * its queues are being stopped as the loss says (sim_queues_kill_agent). */
static bool vm_fault(sim_queue *q, uint64_t address)
{
    sim_agent *a = q->agent;
    if (atomic_load(&a->dead))
        return false;
    pthread_mutex_lock(&g_queue_lock);
    bool first = !(atomic_load_explicit(&q->stop, memory_order_acquire) & STOP_EVICT);
    if (first) {
        atomic_store(&a->vm_evicted, 1);
        for (sim_queue *o = g_queues; o; o = o->next) {
            if (o->agent != a)
                continue;
            /* Under o->lock: once set, no packet of o completes. */
            pthread_mutex_lock(&o->lock);
            atomic_fetch_or_explicit(&o->stop, STOP_EVICT, memory_order_seq_cst);
            pthread_mutex_unlock(&o->lock);
            sim_signal_kick(o->doorbell);
        }
    }
    pthread_mutex_unlock(&g_queue_lock);
    if (first)
        sim_events_memory_fault(a, address);
    return first;
}

/* A stopped queue: report a kill, park, exit on destroy.  Returns only to exit. */
static void parked_loop(sim_queue *q)
{
    for (;;) {
        uint32_t st = atomic_load_explicit(&q->stop, memory_order_acquire);
        pthread_mutex_lock(&q->lock);
        if (!q->parked) {
            q->parked = true;
            pthread_cond_broadcast(&q->parked_cv);
        }
        hsa_status_t kill_status = q->kill_status;
        pthread_mutex_unlock(&q->lock);
        if ((st & STOP_KILL) && !(st & STOP_KILL_DONE)) {
            atomic_fetch_or_explicit(&q->stop, STOP_KILL_DONE, memory_order_acq_rel);
            report_error(q, kill_status);
            continue;
        }
        if (st & STOP_DESTROY)
            return;
        stop_wait(q, st);
    }
}

static void *processor(void *arg)
{
    sim_queue *q = arg;
    uint64_t rd = 0;
    sim_signal *deps[5];
    for (;;) {
        if (q_stopped(q))
            break;
        if (!packet_ready(q, rd)) {
            idle_wait(q, rd);
            continue;
        }
        hsa_kernel_dispatch_packet_t *slot = &q->ring[rd & q->mask];
        hsa_kernel_dispatch_packet_t pkt;
        memcpy(&pkt, slot, sizeof pkt); /* after the acquire load of its header */
        uint32_t type = (pkt.header >> HSA_PACKET_HEADER_TYPE) &
                        ((1u << HSA_PACKET_HEADER_WIDTH_TYPE) - 1);

        hsa_status_t err = HSA_STATUS_SUCCESS;
        dispatch_plan plan = {0};
        value_plan vplan;
        uint32_t n_deps = 0, n_dead = 0, dead_zero = 0;
        bool dead = false;
        hsa_signal_value_t dead_value = 0;
        sim_signal *completion = NULL;
        hsa_signal_t completion_handle = {0};
        uint64_t fault_at = 0; /* the address a memory violation touched */
        if (type == HSA_PACKET_TYPE_KERNEL_DISPATCH) {
            err = check_dispatch(q, &pkt, &plan, &fault_at);
            completion_handle = pkt.completion_signal;
        } else if (type == HSA_PACKET_TYPE_BARRIER_AND || type == HSA_PACKET_TYPE_BARRIER_OR) {
            const hsa_barrier_and_packet_t *b = (const hsa_barrier_and_packet_t *)&pkt;
            for (int i = 0; i < 5 && err == HSA_STATUS_SUCCESS; i++) {
                sim_signal *s = packet_signal(b->dep_signal[i], &err, &dead, &dead_value);
                fault_at = b->dep_signal[i].handle;
                if (s)
                    deps[n_deps++] = s;
                if (dead) {
                    n_dead++;
                    dead_zero += dead_value == 0;
                }
            }
            completion_handle = b->completion_signal;
        } else if (type == HSA_PACKET_TYPE_VENDOR_SPECIFIC) {
            err = check_barrier_value(&pkt, &vplan);
            if (err == HSA_STATUS_SUCCESS) {
                sim_signal *s = packet_signal(vplan.pkt.signal, &err, &dead, &dead_value);
                fault_at = vplan.pkt.signal.handle;
                if (s)
                    deps[n_deps++] = s;
                vplan.dep_dead = dead;
                vplan.dep_value = dead_value;
                completion_handle = vplan.pkt.completion_signal;
            }
        } else {
            /* agent dispatch: not for a GPU queue's CP */
            err = HSA_STATUS_ERROR_INVALID_PACKET_FORMAT;
        }
        if (err == HSA_STATUS_SUCCESS) {
            completion = packet_signal(completion_handle, &err, &dead, &dead_value);
            fault_at = completion_handle.handle;
        }
        if (err != HSA_STATUS_SUCCESS) {
            for (uint32_t i = 0; i < n_deps; i++)
                sim_signal_release(deps[i]);
            /* The packet stays at the read index; the queue is suspended. */
            atomic_fetch_or_explicit(&q->stop, STOP_ERROR, memory_order_seq_cst);
            /* Touching unmapped memory is a VM fault: every queue of the
             * process on the device is evicted and KFD's memory exception
             * reaches the system event handlers (or aborts) -- no queue's
             * callback. */
            if (err == (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION)
                (void)vm_fault(q, fault_at);
            else
                report_error(q, err);
            break;
        }

        /* Launched: free the slot. */
        __atomic_store_n(&slot->header, (uint16_t)(HSA_PACKET_TYPE_INVALID << HSA_PACKET_HEADER_TYPE),
                         __ATOMIC_RELEASE);
        rd++;
        __atomic_store_n(&q->amd.read_dispatch_id, rd, __ATOMIC_RELEASE);

        bool done;
        if (type == HSA_PACKET_TYPE_KERNEL_DISPATCH)
            done = run_dispatch(q, &pkt, &plan);
        else if (type == HSA_PACKET_TYPE_VENDOR_SPECIFIC)
            done = run_barrier_value(q, n_deps ? deps[0] : NULL, &vplan);
        else
            done = run_barrier(q, deps, n_deps, n_dead, dead_zero,
                               type == HSA_PACKET_TYPE_BARRIER_AND);
        if (done)
            complete_packet(q, completion);
        for (uint32_t i = 0; i < n_deps; i++)
            sim_signal_release(deps[i]);
        if (completion)
            sim_signal_release(completion);
        if (!done && !q_stopped(q)) {
            /* run_dispatch could not allocate the segments */
            atomic_fetch_or_explicit(&q->stop, STOP_ERROR, memory_order_seq_cst);
            report_error(q, HSA_STATUS_ERROR_OUT_OF_RESOURCES);
            break;
        }
    }

    parked_loop(q);
    pthread_mutex_lock(&q->lock);
    bool self = q->self_destroy;
    pthread_mutex_unlock(&q->lock);
    if (self)
        queue_free(q);
    return NULL;
}

/* --- creation and destruction ------------------------------------------------------------- */
static void queue_free(sim_queue *q)
{
    sim_signal_free_internal(q->doorbell);
    sim_signal_free_internal(q->inactive_signal);
    free(q->ring);
    free(q->group_mem);
    free(q->private_mem);
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

    if (pthread_create(&q->thread, NULL, processor, q) != 0) {
        queue_free(q);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    pthread_mutex_lock(&g_queue_lock);
    /* KFD create_queue_cpsch: is_evicted = !!qpd->evicted, and nothing
     * brings a VM fault's eviction back (see the top): it never runs. */
    bool evicted = atomic_load(&a->vm_evicted);
    if (evicted)
        atomic_fetch_or_explicit(&q->stop, STOP_EVICT, memory_order_seq_cst);
    q->next = g_queues;
    g_queues = q;
    pthread_mutex_unlock(&g_queue_lock);
    if (evicted)
        sim_signal_kick(q->doorbell);
    *queue = &q->amd.hsa_queue;
    return HSA_STATUS_SUCCESS;
}

/* Stops the processor and frees q (already unlinked from g_queues). */
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
    queue_free(q);
}

SIM_API hsa_status_t hsa_queue_destroy(hsa_queue_t *queue)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!queue)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&g_queue_lock);
    sim_queue **pp = &g_queues;
    while (*pp && (hsa_queue_t *)*pp != queue)
        pp = &(*pp)->next;
    sim_queue *q = *pp;
    if (q)
        *pp = q->next;
    pthread_mutex_unlock(&g_queue_lock);
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
    pthread_mutex_lock(&g_queue_lock);
    sim_queue *q = queue_lookup_locked(queue);
    if (q) {
        /* As hsaKmtDestroyQueue: synchronous, the queue is off the hardware
         * when this returns (unless called from the queue's own thread). */
        pthread_mutex_lock(&q->lock);
        atomic_fetch_or_explicit(&q->stop, STOP_INACTIVE, memory_order_seq_cst);
        pthread_mutex_unlock(&q->lock);
        sim_signal_kick(q->doorbell);
    }
    pthread_mutex_unlock(&g_queue_lock);
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
    pthread_mutex_lock(&g_queue_lock);
    for (sim_queue *q = g_queues; q; q = q->next) {
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
    pthread_mutex_unlock(&g_queue_lock);
}

void sim_queues_shutdown(void)
{
    for (;;) {
        pthread_mutex_lock(&g_queue_lock);
        sim_queue *q = g_queues;
        if (q)
            g_queues = q->next;
        pthread_mutex_unlock(&g_queue_lock);
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

/* Deprecated names: aliases, as ROCR's hsacore.so.link. */
#define Q_ALIAS(ret, old, new, params)                                                 \
    SIM_API ret hsa_queue_##old params __attribute__((alias("hsa_queue_" #new)));

Q_ALIAS(uint64_t, load_read_index_acquire, load_read_index_scacquire, (const hsa_queue_t *))
Q_ALIAS(uint64_t, load_write_index_acquire, load_write_index_scacquire, (const hsa_queue_t *))
Q_ALIAS(void, store_write_index_release, store_write_index_screlease,
        (const hsa_queue_t *, uint64_t))
Q_ALIAS(void, store_read_index_release, store_read_index_screlease,
        (const hsa_queue_t *, uint64_t))
Q_ALIAS(uint64_t, cas_write_index_acq_rel, cas_write_index_scacq_screl,
        (const hsa_queue_t *, uint64_t, uint64_t))
Q_ALIAS(uint64_t, cas_write_index_acquire, cas_write_index_scacquire,
        (const hsa_queue_t *, uint64_t, uint64_t))
Q_ALIAS(uint64_t, cas_write_index_release, cas_write_index_screlease,
        (const hsa_queue_t *, uint64_t, uint64_t))
Q_ALIAS(uint64_t, add_write_index_acq_rel, add_write_index_scacq_screl,
        (const hsa_queue_t *, uint64_t))
Q_ALIAS(uint64_t, add_write_index_acquire, add_write_index_scacquire,
        (const hsa_queue_t *, uint64_t))
Q_ALIAS(uint64_t, add_write_index_release, add_write_index_screlease,
        (const hsa_queue_t *, uint64_t))
