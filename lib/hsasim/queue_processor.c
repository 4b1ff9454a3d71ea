/* hsasim queues: the packet processor, one thread per queue.
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
 * (memory_copy.c).  Queues on other agents go on.  The faulting queue's
 * callback is not called: ROCR 5.2.3 sends a page fault to no queue (its
 * trap handler, amd_gpu_shaders.h, leaves XNACK errors to "the VM
 * interrupt") and reserves HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION for
 * aperture violations, which a host kernel cannot make; the event is the one
 * report.  Not modelled: the eviction outliving hsa_shut_down (the KFD
 * process lives as long as the address space); the agents are rebuilt at
 * the next hsa_init.
 *
 * Sleeping: with no ready packet the processor spins for a few microseconds
 * and then sleeps on its doorbell signal's futex.  It counts as a waiter of
 * the doorbell only while it is about to sleep, so a doorbell store made
 * while it works costs no syscall (signal.c).  A packet published without a
 * doorbell store is only seen at the next doorbell (as on the hardware).
 *
 * Errors (ROCR AqlQueue::DynamicScratchHandler/ExceptionHandler): the queue
 * is suspended and its callback is called with the status, here from the
 * processor thread (ROCR uses its async-events thread); with no callback,
 * ROCR's Queue::DefaultErrorHandler prints "Queue at %p inactivated due to
 * async error" and aborts unless HSA_ENABLE_QUEUE_FAULT_MESSAGE=0. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue_impl.h"

#define PROC_SPIN_NS 5000ull

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
    const void *kernarg = plan->kernarg;
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
    pthread_mutex_lock(&sim_queue_lock);
    bool first = !(atomic_load_explicit(&q->stop, memory_order_acquire) & STOP_EVICT);
    if (first) {
        atomic_store(&a->vm_evicted, 1);
        for (sim_queue *o = sim_queue_list; o; o = o->next) {
            if (o->agent != a)
                continue;
            /* Under o->lock: once set, no packet of o completes. */
            pthread_mutex_lock(&o->lock);
            atomic_fetch_or_explicit(&o->stop, STOP_EVICT, memory_order_seq_cst);
            pthread_mutex_unlock(&o->lock);
            sim_signal_kick(o->doorbell);
        }
    }
    pthread_mutex_unlock(&sim_queue_lock);
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

void *sim_queue_processor(void *arg)
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
            err = sim_queue_check_dispatch(q, &pkt, &plan, &fault_at);
            completion_handle = pkt.completion_signal;
        } else if (type == HSA_PACKET_TYPE_BARRIER_AND || type == HSA_PACKET_TYPE_BARRIER_OR) {
            const hsa_barrier_and_packet_t *b = (const hsa_barrier_and_packet_t *)&pkt;
            for (int i = 0; i < 5 && err == HSA_STATUS_SUCCESS; i++) {
                sim_signal *s = sim_queue_packet_signal(b->dep_signal[i], &err, &dead, &dead_value);
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
            err = sim_queue_check_barrier_value(&pkt, &vplan);
            if (err == HSA_STATUS_SUCCESS) {
                sim_signal *s = sim_queue_packet_signal(vplan.pkt.signal, &err, &dead, &dead_value);
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
            completion = sim_queue_packet_signal(completion_handle, &err, &dead, &dead_value);
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

        /* With profiling on, the CP stamps the packet's start and end into
         * its completion signal (profiling.c). */
        uint64_t started = completion && sim_queue_profiling(q) ? sim_now_ns() : 0;
        bool done;
        if (type == HSA_PACKET_TYPE_KERNEL_DISPATCH)
            done = run_dispatch(q, &pkt, &plan);
        else if (type == HSA_PACKET_TYPE_VENDOR_SPECIFIC)
            done = run_barrier_value(q, n_deps ? deps[0] : NULL, &vplan);
        else
            done = run_barrier(q, deps, n_deps, n_dead, dead_zero,
                               type == HSA_PACKET_TYPE_BARRIER_AND);
        if (done && started)
            sim_signal_stamp_packet(completion, started, sim_now_ns());
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
        sim_queue_free(q);
    return NULL;
}
