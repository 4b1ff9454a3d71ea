/* The safe points: the application's waits, where rochp may do work the
 * application did not ask for in that call.  With ROCHP_CONTEXT_AUTO_RECOVER
 * a wait that finds its queue's device lost recovers (once) and waits on --
 * ids survive the rebuild; after a wait that went through, a checkpoint
 * runs if one is due (rochp_set_auto_checkpoint). */
#include "resilience/resilience.h"

/* Until packet id of q completed; a loss recovers under AUTO_RECOVER. */
static rochp_status wait_recovering(rochp_queue *q, uint64_t id, uint64_t timeout_ns)
{
    uint64_t start = rochp__now_ns();
    bool recovered = false;
    for (;;) {
        uint64_t waited = rochp__now_ns() - start;
        rochp_status st =
            queue_wait_packet(q, id, waited < timeout_ns ? timeout_ns - waited : 0, true);
        /* A memory fault that came of touching a lost device's buffer is the
         * loss's too: recovery undoes it (a fault of the work's own would
         * only fault again on another GPU). */
        bool lost = st == ROCHP_ERROR_DEVICE_LOST ||
                    (st == ROCHP_ERROR_QUEUE_FAILED && managed_fault_collateral(q->ctx, q->device));
        if (!lost || recovered || !(q->ctx->flags & ROCHP_CONTEXT_AUTO_RECOVER))
            return st;
        recovered = true;
        st = rochp_recover(q->ctx, timeout_ns, NULL);
        if (st != ROCHP_OK)
            return st;
    }
}

rochp_status rochp_completion_wait(const rochp_completion *c, uint64_t timeout_ns)
{
    if (!c)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                 "rochp_completion_wait: NULL completion");
    rochp_queue *q = c->queue;
    rochp_status st = handle_check(q, HANDLE_QUEUE, "rochp_completion_wait");
    if (st != ROCHP_OK)
        return st;
    if (c->id >= queue_written(q))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                 "rochp_completion_wait: packet %llu was never written on queue "
                                 "%llu",
                                 (unsigned long long)c->id, (unsigned long long)q->id);
    st = wait_recovering(q, c->id, timeout_ns);
    if (st == ROCHP_OK)
        checkpoint_safe_point(q->ctx);
    return st;
}

rochp_status rochp_queue_wait_idle(rochp_queue *q, uint64_t timeout_ns)
{
    rochp_status st = handle_check(q, HANDLE_QUEUE, "rochp_queue_wait_idle");
    if (st != ROCHP_OK)
        return st;
    uint64_t w = queue_written(q);
    st = w ? wait_recovering(q, w - 1, timeout_ns) : ROCHP_OK;
    if (st == ROCHP_OK)
        checkpoint_safe_point(q->ctx);
    return st;
}
