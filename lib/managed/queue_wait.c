/* Waiting for a queue's packets: completion waits, idle waits, and the
 * waits of checkpoints and destruction.
 *
 * A wait runs in slices of WAIT_SLICE_NS, each holding the runtime gate (or
 * the caller holds it), so that a re-enumeration may come in between and a
 * failure meanwhile ends the wait.  A packet never completes when its queue
 * failed, and also when its queue waits (a barrier) for a packet of a queue
 * that failed: each slice checks both, so neither sits out its timeout.
 * The application's waits, which may recover, are resilience's
 * (safe_points.c). */
#include <stdio.h>
#include <string.h>

#include "managed/managed.h"

#define WAIT_SLICE_NS (20ull * 1000 * 1000)

rochp_queue *queue_find_locked(rochp_context *ctx, const rochp_queue *q)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (rochp_queue *o = ctx->managed->queues; o; o = o->next)
        if (o == q)
            return o;
    return NULL;
}

/* With ctx->lock held: a queue of the context by id, or NULL. */
static rochp_queue *queue_by_id_locked(rochp_context *ctx, uint64_t id)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (rochp_queue *o = ctx->managed->queues; o; o = o->next)
        if (o->id == id)
            return o;
    return NULL;
}

/* The barrier record of q's oldest unfinished packet (ring index head), if
 * that packet is a barrier: its dependency, or false. */
static bool head_barrier(const rochp_queue *q, uint64_t *dep_queue_id, uint64_t *dep_id,
                         const rochp_queue **dep_queue)
{
    const struct rochp_queue_ring *r = &q->ring;
    if (!r->barriers || !r->completion_value)
        return false;
    uint64_t head = rochp__completed(r) - r->id_offset;
    if (head >= queue_next_index(q))
        return false; /* nothing unfinished */
    const struct rochp_barrier_record *b = &r->barriers[head & r->mask];
    if (__atomic_load_n(&b->ring_index, __ATOMIC_ACQUIRE) != head)
        return false; /* a dispatch, or a barrier not published yet */
    *dep_queue = __atomic_load_n(&b->dep_queue, __ATOMIC_RELAXED);
    *dep_id = __atomic_load_n(&b->dep_id, __ATOMIC_RELAXED);
    /* The record keeps the pointer; the journal (journaled queues) the id. */
    *dep_queue_id = 0;
    if (r->journal) {
        const rochp_journal_entry *e = &r->journal[head & r->slot_mask];
        if (e->kind == ROCHP_JOURNAL_BARRIER)
            *dep_queue_id = e->dep_queue_id;
    }
    return true;
}

rochp_status queue_blocked(rochp_context *ctx, rochp_queue *q, rochp_queue **culprit)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    /* A chain of waits is at most as long as the context has queues. */
    size_t hops = 0;
    for (rochp_queue *o = ctx->managed->queues; o; o = o->next)
        hops++;
    rochp_queue *at = q;
    while (hops--) {
        uint64_t dep_queue_id, dep_id;
        const rochp_queue *dep_ptr;
        if (!head_barrier(at, &dep_queue_id, &dep_id, &dep_ptr))
            return ROCHP_OK;
        rochp_queue *dep = dep_queue_id ? queue_by_id_locked(ctx, dep_queue_id)
                                        : queue_find_locked(ctx, dep_ptr);
        if (!dep || rochp__completed(&dep->ring) > dep_id)
            return ROCHP_OK; /* gone (its packets had completed), or done */
        uint32_t failed = ring_failed(&dep->ring);
        if (failed) {
            *culprit = dep;
            return (rochp_status)-(int32_t)failed;
        }
        at = dep;
    }
    return ROCHP_OK;
}

rochp_status queue_failure_message(rochp_queue *q, rochp_status status)
{
    rochp_context *ctx = q->ctx;
    pthread_mutex_lock(&ctx->lock);
    hsa_status_t error = q->error;
    char fault[sizeof q->fault];
    memcpy(fault, q->fault, sizeof fault);
    pthread_mutex_unlock(&ctx->lock);
    /* A fault in a lost device's memory is the loss's, whatever device's
     * queue took it: reported as the loss (recovery undoes it). */
    if (status == ROCHP_ERROR_QUEUE_FAILED && fault[0] && managed_fault_collateral(ctx, q->device))
        return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                "queue %llu on device %llu failed: %s, memory of a device that "
                                "has been lost",
                                (unsigned long long)q->id, (unsigned long long)q->device, fault);
    if (status == ROCHP_ERROR_QUEUE_FAILED)
        return rochp__set_errorf(status, "queue %llu on device %llu failed: %s",
                                (unsigned long long)q->id, (unsigned long long)q->device,
                                fault[0] ? fault : rochp__hsa_status_text(&ctx->hsa, error));
    if (fault[0])
        return rochp__set_errorf(status, "queue %llu on device %llu is stopped: %s",
                                (unsigned long long)q->id, (unsigned long long)q->device, fault);
    return rochp__set_errorf(status,
                            "device %llu of queue %llu has been lost (or the runtime restarted)",
                            (unsigned long long)q->device, (unsigned long long)q->id);
}

/* The queue's own failure, or the failure of the queue its work waits for;
 * ROCHP_OK when neither. */
static rochp_status failure(rochp_queue *q)
{
    uint32_t failed = ring_failed(&q->ring);
    if (failed)
        return queue_failure_message(q, (rochp_status)-(int32_t)failed);
    rochp_context *ctx = q->ctx;
    rochp_queue *culprit = NULL;
    pthread_mutex_lock(&ctx->lock);
    rochp_status st = queue_blocked(ctx, q, &culprit);
    uint64_t cid = culprit ? culprit->id : 0, cdev = culprit ? culprit->device : 0;
    pthread_mutex_unlock(&ctx->lock);
    if (st == ROCHP_OK)
        return ROCHP_OK;
    /* Its packets never complete: the device lost to the wait is the
     * culprit's (a recovery rebuilds both). */
    return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                            "queue %llu on device %llu waits (a barrier) for a packet of queue "
                            "%llu on device %llu, which %s: it never completes",
                            (unsigned long long)q->id, (unsigned long long)q->device,
                            (unsigned long long)cid, (unsigned long long)cdev,
                            st == ROCHP_ERROR_QUEUE_FAILED ? "failed" : "was lost");
}

rochp_status rochp__room_stalled(rochp_queue *q)
{
    rochp_context *ctx = q->ctx;
    rochp_queue *culprit = NULL;
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->lock);
    rochp_status st = queue_blocked(ctx, q, &culprit);
    pthread_mutex_unlock(&ctx->lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    return st == ROCHP_OK ? ROCHP_OK : ROCHP_ERROR_DEVICE_LOST;
}

/* One look at packet id: ROCHP_OK when it completed, ROCHP_ERROR_TIMEOUT
 * when it has not after waiting up to slice_ns, or the failure. */
static rochp_status wait_slice(rochp_queue *q, uint64_t id, uint64_t slice_ns)
{
    if (rochp__completed(&q->ring) > id)
        return ROCHP_OK;
    rochp_status st = failure(q);
    if (st != ROCHP_OK || slice_ns == 0)
        return st != ROCHP_OK ? st : ROCHP_ERROR_TIMEOUT;
    if (q->rt && q->rt->hsa_queue)
        q->ctx->hsa.signal_wait_scacquire(q->ring.completion, HSA_SIGNAL_CONDITION_LT,
                                          ROCHP_COMPLETION_BASE - (int64_t)id, slice_ns,
                                          HSA_WAIT_STATE_BLOCKED);
    return rochp__completed(&q->ring) > id ? ROCHP_OK : ROCHP_ERROR_TIMEOUT;
}

/* Until the queue has completed more than id packets.  take_gate: each
 * slice holds the runtime gate; else the caller holds it (never both: the
 * gate prefers writers, so a second read lock could wait behind a waiting
 * re-enumeration). */
rochp_status queue_wait_packet(rochp_queue *q, uint64_t id, uint64_t timeout_ns, bool take_gate)
{
    uint64_t start = rochp__now_ns();
    for (;;) {
        uint64_t waited = rochp__now_ns() - start;
        uint64_t left = waited < timeout_ns ? timeout_ns - waited : 0;
        uint64_t slice = left < WAIT_SLICE_NS ? left : WAIT_SLICE_NS;
        rochp_status st;
        if (take_gate) {
            runtime_gate_enter(q->ctx);
            st = runtime_gate_leave(q->ctx, wait_slice(q, id, slice));
        } else {
            st = wait_slice(q, id, slice);
        }
        if (st != ROCHP_ERROR_TIMEOUT)
            return st;
        if (left == 0)
            return rochp__set_errorf(ROCHP_ERROR_TIMEOUT,
                                     "packet %llu of queue %llu on device %llu has not completed "
                                     "after %llu ns",
                                     (unsigned long long)id, (unsigned long long)q->id,
                                     (unsigned long long)q->device,
                                     (unsigned long long)(rochp__now_ns() - start));
    }
}

rochp_status queue_wait_written(rochp_queue *q, uint64_t written, uint64_t timeout_ns)
{
    ROCHP_ASSERT_GATE(q->ctx);
    return written ? queue_wait_packet(q, written - 1, timeout_ns, false) : ROCHP_OK;
}

uint64_t queue_written(rochp_queue *q)
{
    runtime_gate_enter(q->ctx);
    uint64_t id = queue_next_id(q);
    runtime_gate_leave(q->ctx, ROCHP_OK);
    return id;
}

rochp_status queue_wait_all(rochp_queue *q, uint64_t timeout_ns)
{
    uint64_t w = queue_written(q);
    return w ? queue_wait_packet(q, w - 1, timeout_ns, true) : ROCHP_OK;
}
