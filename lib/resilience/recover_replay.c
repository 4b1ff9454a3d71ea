/* Recovery's replay: each queue's journal since the checkpoint written
 * again into its new ring, in order, with the pointers into moved buffers
 * relocated and barriers pointed at the rebuilt queues' signals (recover.c
 * has the steps around it). */
#include <stdio.h>
#include <string.h>

#include "resilience/recover.h"

/* Pointer arguments into a moved buffer now point into its new memory. */
static void relocate(const plan *p, const saved_entry *se, uint8_t *args)
{
    rochp_kernel_info info;
    if (rochp_kernel_get_info(se->e.kernel, &info) != ROCHP_OK)
        return;
    for (uint32_t a = 0; a < info.n_args; a++) {
        rochp_kernel_arg arg;
        if (rochp_kernel_get_arg(se->e.kernel, a, &arg) != ROCHP_OK ||
            strcmp(arg.value_kind, "global_buffer") != 0 || arg.size != sizeof(uint64_t) ||
            arg.offset + sizeof(uint64_t) > se->e.args_size)
            continue;
        uint64_t v;
        memcpy(&v, args + arg.offset, sizeof v);
        for (size_t i = 0; i < p->n_moves; i++) {
            const move *m = &p->moves[i];
            uint64_t base = (uint64_t)(uintptr_t)m->old_address;
            if (m->migrate && v >= base && v - base < m->b->size) {
                v = (uint64_t)(uintptr_t)m->new_address + (v - base);
                memcpy(args + arg.offset, &v, sizeof v);
                break;
            }
        }
    }
}

/* The plan of the queue a barrier waits for, or NULL (destroyed since: its
 * packets had completed, so the barrier holds at once). */
static const queue_plan *dep_plan(const plan *p, const rochp_journal_entry *e)
{
    for (size_t i = 0; i < p->n_queues; i++) {
        const rochp_queue *q = p->queues[i].q;
        if (e->dep_queue_id ? q->id == e->dep_queue_id : q == e->dep_queue)
            return &p->queues[i];
    }
    return NULL;
}

/* Resubmits one saved packet if the new ring has room (*submitted). */
static rochp_status replay_one(plan *p, queue_plan *qp, bool *submitted)
{
    struct rochp_queue_ring *r = &qp->ring;
    *submitted = false;
    uint64_t w = __atomic_load_n(r->write_index, __ATOMIC_RELAXED);
    if (w - (rochp__completed(r) - r->id_offset) > r->mask)
        return ROCHP_OK;
    saved_entry *se = &qp->entries[qp->next];
    const queue_plan *dep = se->e.kind == ROCHP_JOURNAL_BARRIER ? dep_plan(p, &se->e) : NULL;
    if (se->e.kind == ROCHP_JOURNAL_DISPATCH) {
        rochp_kernel_info info;
        rochp_status st = rochp_kernel_get_info(se->e.kernel, &info);
        rochp_dispatch_kernel k = {.private_segment_size = info.private_segment_size,
                                   .group_segment_size = info.group_segment_size,
                                   .kernarg_size = info.kernarg_size,
                                   .kernel = se->e.kernel};
        if (st == ROCHP_OK)
            st = recover_object_for(p, se->e.kernel, qp->device, &k.kernel_object);
        if (st != ROCHP_OK)
            return st;
        relocate(p, se, se->args);
        __atomic_store_n(r->write_index, w + 1, __ATOMIC_RELAXED);
        rochp__write_dispatch(r, r->journal != NULL, &k, &se->e.launch, se->args,
                              se->e.args_size, NULL, w);
    } else if (dep) {
        __atomic_store_n(r->write_index, w + 1, __ATOMIC_RELAXED);
        ring_write_barrier(r, w, se->e.dep_queue, se->e.dep_queue_id, dep->ring.completion,
                           se->e.dep_id);
    } else {
        /* void, or a barrier on a queue gone since: a packet that does nothing */
        __atomic_store_n(r->write_index, w + 1, __ATOMIC_RELAXED);
        ring_write_nop(r, w);
    }
    qp->next++;
    *submitted = true;
    return ROCHP_OK;
}

/* A new queue that failed, or whose device went, while the replay waits. */
static attempt_result replay_stuck(plan *p)
{
    for (size_t i = 0; i < p->n_queues; i++) {
        queue_plan *qp = &p->queues[i];
        uint32_t failed = ring_failed(&qp->ring);
        /* Pointers into moved memory were relocated: a fault now is the
         * work's own, and would fault on any target. */
        if (failed == (uint32_t)-ROCHP_ERROR_QUEUE_FAILED || recover_device_faulted(p->ctx, qp->device))
            return failed_on(rochp__set_errorf(ROCHP_ERROR_QUEUE_FAILED,
                                              "rochp_recover: a replayed packet faulted on the "
                                              "rebuilt queue %llu (device %llu)",
                                              (unsigned long long)qp->q->id,
                                              (unsigned long long)qp->device),
                             0);
        if (failed || !recover_device_present(p->ctx, qp->device))
            return failed_on(rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                              "rochp_recover: device %llu was lost while the "
                                              "journals were replayed onto it",
                                              (unsigned long long)qp->device),
                             qp->device);
    }
    return (attempt_result){ROCHP_OK, 0};
}

attempt_result recover_replay(plan *p, uint64_t timeout_ns, uint64_t *packets)
{
    uint64_t start = rochp__now_ns();
    for (;;) {
        bool left = false, progress = false;
        for (size_t i = 0; i < p->n_queues; i++) {
            queue_plan *qp = &p->queues[i];
            bool submitted = true;
            while (qp->next < qp->n && submitted) {
                rochp_status st = replay_one(p, qp, &submitted);
                if (st != ROCHP_OK)
                    return failed_on(recover_device_present(p->ctx, qp->device)
                                         ? st
                                         : ROCHP_ERROR_DEVICE_LOST,
                                     qp->device);
                progress |= submitted;
                *packets += submitted;
            }
            left |= qp->next < qp->n;
        }
        if (!left)
            return (attempt_result){ROCHP_OK, 0};
        if (progress)
            continue;
        attempt_result stuck = replay_stuck(p);
        if (stuck.status != ROCHP_OK)
            return stuck;
        if (rochp__now_ns() - start > timeout_ns)
            return failed_on(rochp__set_errorf(ROCHP_ERROR_TIMEOUT,
                                              "rochp_recover: the replayed work made no "
                                              "progress for %llu ns",
                                              (unsigned long long)timeout_ns),
                             0);
        sched_yield(); /* the queues drain meanwhile */
    }
}

