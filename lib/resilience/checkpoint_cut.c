/* The cut across the queues and the waits for engine copies, as checkpoints
 * and restores use them (checkpoint.c, restore.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resilience/checkpoint_cut.h"

rochp_status cut_take(rochp_context *ctx, cut_queue **out, size_t *n_out)
{
    pthread_mutex_lock(&ctx->lock);
    size_t n = 0;
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        n++;
    cut_queue *cuts = calloc(n + 1, sizeof *cuts);
    if (cuts) {
        size_t i = 0;
        for (rochp_queue *q = ctx->managed->queues; q; q = q->next, i++) {
            cuts[i].q = q;
            /* Sequentially consistent: after the copy guard was armed
             * (copy_guard.c), as the inline path reads it after its id. */
            cuts[i].cut = __atomic_load_n(q->ring.write_index, __ATOMIC_SEQ_CST);
            cuts[i].voided = atomic_load(&q->voided);
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    if (!cuts)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    *out = cuts;
    *n_out = n;
    return ROCHP_OK;
}

rochp_status cut_wait(const cut_queue *cuts, size_t n, uint64_t timeout_ns)
{
    uint64_t start = rochp__now_ns();
    for (size_t i = 0; i < n; i++) {
        uint64_t waited = rochp__now_ns() - start;
        const rochp_queue *q = cuts[i].q;
        rochp_status st = queue_wait_written(cuts[i].q, cuts[i].cut + q->ring.id_offset,
                                             waited < timeout_ns ? timeout_ns - waited : 0);
        if (st != ROCHP_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", rochp_last_error());
            return rochp__set_errorf(st, "checkpoint: the work before it on the queue of device "
                                        "%llu did not complete: %s",
                                    (unsigned long long)rochp_queue_device(cuts[i].q), why);
        }
    }
    return ROCHP_OK;
}

bool cut_moved(rochp_context *ctx, const cut_queue *cuts, size_t n)
{
    bool moved = false;
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < n; i++)
        moved |= __atomic_load_n(cuts[i].q->ring.write_index, __ATOMIC_SEQ_CST) != cuts[i].cut;
    pthread_mutex_unlock(&ctx->lock);
    return moved;
}

void cut_start_over(rochp_context *ctx, const cut_queue *cuts, size_t n, uint64_t retired)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (size_t i = 0; i < n; i++) {
        rochp_queue *q = cuts[i].q;
        /* Never back: rochp_queue_journal_truncate may have moved it past
         * a begun checkpoint's cut (and the slots before are reused). */
        if (q->ring.journal &&
            __atomic_load_n(&q->ring.journal_start, __ATOMIC_RELAXED) < cuts[i].cut)
            __atomic_store_n(&q->ring.journal_start, cuts[i].cut, __ATOMIC_RELAXED);
        q->checkpoint_index = cuts[i].cut;
        atomic_fetch_sub(&q->voided, cuts[i].voided);
    }
    uint64_t *r = &ctx->managed->retired_packets;
    *r = *r > retired ? *r - retired : 0;
}

static rochp_status lost(const copy_job *j, const char *what)
{
    bool checkpoint = strcmp(what, "checkpoint") == 0;
    return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                            "%s: device %llu was lost while its buffers were copied%s", what,
                            (unsigned long long)j->b->device,
                            checkpoint ? "; the previous checkpoint stands" : "");
}

rochp_status copies_wait(rochp_context *ctx, copy_job *jobs, size_t n, uint64_t deadline_ns,
                         const char *what)
{
    rochp_status st = ROCHP_OK;
    for (size_t i = 0; i < n; i++) {
        copy_job *j = &jobs[i];
        if (j->abandoned) {
            if (st == ROCHP_OK)
                st = lost(j, what);
            continue;
        }
        if (!j->done.handle)
            continue;
        /* Done, else lost (a loss rochp knows of is told at once), else
         * out of time, else a slice of waiting. */
        for (;;) {
            if (managed_copy_ended(ctx, j->done))
                break;
            if (!managed_buffer_reachable(j->b)) {
                j->abandoned = true;
                if (st == ROCHP_OK)
                    st = lost(j, what);
                break;
            }
            uint64_t slice = COPY_LOSS_CHECK_NS;
            if (deadline_ns) {
                uint64_t now = rochp__now_ns();
                if (now >= deadline_ns)
                    return rochp__set_errorf(ROCHP_ERROR_TIMEOUT,
                                            "%s: the copy of buffer %llu (device %llu) did not "
                                            "end in time",
                                            what, (unsigned long long)j->b->id,
                                            (unsigned long long)j->b->device);
                if (deadline_ns - now < slice)
                    slice = deadline_ns - now;
            }
            managed_copy_nap(ctx, j->done, slice);
        }
    }
    /* rochp may learn of a loss after the runtime completed a copy whose
     * bytes then cannot be trusted. */
    for (size_t i = 0; i < n && st == ROCHP_OK; i++)
        if (!managed_buffer_reachable(jobs[i].b))
            st = lost(&jobs[i], what);
    return st;
}

void copies_release(rochp_context *ctx, copy_job *jobs, size_t n, bool spares)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    for (size_t i = 0; i < n; i++) {
        copy_job *j = &jobs[i];
        if (j->abandoned && spares) {
            shadow_spare_abandon(ctx, j->b, j->done);
        } else if (j->done.handle && !j->abandoned) {
            ctx->hsa.signal_destroy(j->done);
        }
        j->done.handle = 0;
    }
}
