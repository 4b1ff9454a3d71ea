/* Restores: every buffer with a shadow put back as it was at the last
 * checkpoint, the journals starting over there.
 *
 * Locks: the runtime gate for reading, then the checkpoint lock
 * (managed/managed.h), held throughout. */
#include <stdlib.h>
#include <string.h>

#include "resilience/checkpoint_cut.h"

/* A restore first waits this long for the work on the buffers it puts back. */
#define RESTORE_WAIT_NS (30ull * 1000 * 1000 * 1000)

/* --- restore --------------------------------------------------------------------------------- */
/* The buffers go back to the checkpoint, and so does the work's record:
 * what the queues ran before the restore is undone, so a recovery must not
 * replay it -- the checkpoint stands for the queues' current ids from now on
 * (journals start over, plain queues count as not having run). */
static rochp_status restore_locked(rochp_context *ctx, rochp_checkpoint_stats *stats)
{
    ROCHP_ASSERT_GATE(ctx);
    uint64_t t0 = rochp__now_ns();
    /* Nothing may still run on the buffers being put back. */
    cut_queue *cuts = NULL;
    size_t n_cuts = 0;
    rochp_status cut = cut_take(ctx, &cuts, &n_cuts);
    if (cut == ROCHP_OK)
        cut = cut_wait(cuts, n_cuts, RESTORE_WAIT_NS);
    if (cut != ROCHP_OK) {
        free(cuts);
        return cut;
    }
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    size_t n = ctx->managed->n_buffers, n_jobs = 0;
    copy_job *jobs = calloc(n + 1, sizeof *jobs);
    rochp_status st = jobs ? ROCHP_OK
                                        : rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                                           "rochp_checkpoint_restore: out of memory");
    for (size_t i = 0; i < n && st == ROCHP_OK; i++) {
        rochp_buffer *b = ctx->managed->buffers[i];
        stats->buffers++;
        stats->bytes += b->size;
        if (b->shadow.host && b->address)
            jobs[n_jobs++].b = b;
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    /* All or nothing where it can be: a buffer whose memory is gone refuses
     * the restore before any is put back. */
    for (size_t i = 0; i < n_jobs && st == ROCHP_OK; i++)
        if (!managed_buffer_reachable(jobs[i].b))
            st = rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                  "rochp_checkpoint_restore: buffer %llu's device %llu has been "
                                  "lost (nothing was restored)",
                                  (unsigned long long)jobs[i].b->id,
                                  (unsigned long long)jobs[i].b->device);
    uint64_t cpu = st == ROCHP_OK ? managed_cpu_agent(ctx) : 0;
    for (size_t i = 0; i < n_jobs && st == ROCHP_OK; i++) {
        rochp_buffer *b = jobs[i].b;
        if (b->device != ROCHP_HOST)
            st = shadow_copy_out(ctx, &b->shadow, b->address, b->agent, b->device, cpu,
                                 &jobs[i].done);
    }
    if (jobs) {
        rochp_status waited = copies_wait(ctx, jobs, n_jobs, 0, "rochp_checkpoint_restore");
        if (st == ROCHP_OK)
            st = waited;
    }
    /* The host's last: a device lost under the engines' copies leaves them
     * as they were. */
    for (size_t i = 0; i < n_jobs && st == ROCHP_OK; i++)
        if (jobs[i].b->device == ROCHP_HOST)
            memcpy(jobs[i].b->address, jobs[i].b->shadow.host, jobs[i].b->size);
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        for (size_t i = 0; i < n_jobs; i++) {
            /* As they were at the checkpoint: nothing written since. */
            jobs[i].b->dirty = false;
            jobs[i].b->written_by_call = false;
            stats->buffers_copied++;
            stats->bytes_copied += jobs[i].b->size;
        }
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
        pthread_mutex_lock(&ctx->lock);
        cut_start_over(ctx, cuts, n_cuts, ctx->managed->retired_packets);
        pthread_mutex_unlock(&ctx->lock);
    }
    free(cuts);
    /* A copy abandoned on a lost device keeps its signal (the engine may
     * still signal it); the shadow is the committed one, kept. */
    copies_release(ctx, jobs, n_jobs, false);
    free(jobs);
    stats->ns = rochp__now_ns() - t0;
    return st;
}

rochp_status rochp_checkpoint_restore(rochp_context *ctx, rochp_checkpoint_stats *stats)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_checkpoint_restore");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint_restore: this context has no HSA runtime");
    rochp_checkpoint_stats local;
    memset(&local, 0, sizeof local);
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    checkpoint_settle(ctx); /* a begun checkpoint commits (or fails) first */
    rochp_status st = restore_locked(ctx, &local);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    if (stats)
        *stats = local;
    return st;
}
