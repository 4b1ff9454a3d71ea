/* Checkpoints: a consistent cut across the context's queues, and host
 * shadows of the buffers written since the previous one.
 *
 * The cut is each queue's write index when the checkpoint starts.  The
 * checkpoint waits for every packet before it, copies the buffers that work
 * may have written, and then checks that no queue moved and no buffer was
 * written meanwhile; if something did, the application dispatched during the
 * checkpoint and it fails with ROCHP_ERROR_BUSY, the previous checkpoint
 * standing.  New shadows replace the old ones only when all copies are done,
 * so a loss during a checkpoint leaves the previous one whole.
 *
 * What was written since the previous checkpoint: buffers named by copy and
 * write calls; buffers whose address a journaled dispatch passed in an
 * argument the kernel may write (its metadata: a global buffer not
 * read-only); and, since a plain queue keeps no record, every buffer once a
 * plain queue has run anything; registered buffers (the application's
 * memory, written by work rochp does not see) that the application marked
 * or asked to be copied always.  A buffer without a shadow is always copied.
 *
 * Shadows (managed/shadow.c) are process memory near the buffer's GPU,
 * locked for the runtime's copy engines.  Each buffer keeps its committed
 * shadow and a spare: a checkpoint copies into the spares (allocated once,
 * reused while the size matches) and swaps them in on commit, so a failed
 * one leaves the committed shadows whole and keeps the spares for the next.
 * Copies from different devices run at once (issued together, then waited
 * for).
 *
 * Locks: ctx->managed->checkpoint_lock serialises checkpoints and restores against
 * each other and against freeing buffers and destroying queues (which take
 * it too), since they hold pointers to both across long waits.  The runtime
 * gate is held for reading throughout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "resilience/resilience.h"

#define CHECKPOINT_SLICE_NS (100ull * 1000 * 1000)
/* A restore first waits this long for the work on the buffers it puts back. */
#define RESTORE_WAIT_NS (30ull * 1000 * 1000 * 1000)

typedef struct cut_queue {
    rochp_queue *q;
    uint64_t cut; /* the ring's write index */
} cut_queue;

typedef struct copy_job {
    rochp_buffer *b;
    hsa_signal_t done; /* 0: copied by the CPU */
    bool started;
} copy_job;

/* --- the cut ---------------------------------------------------------------------------------- */
static rochp_status take_cut(rochp_context *ctx, cut_queue **out, size_t *n_out)
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
            cuts[i].cut = queue_next_index(q);
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    if (!cuts)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    *out = cuts;
    *n_out = n;
    return ROCHP_OK;
}

static rochp_status wait_cut(const cut_queue *cuts, size_t n, uint64_t timeout_ns)
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

static bool cut_moved(rochp_context *ctx, const cut_queue *cuts, size_t n)
{
    bool moved = false;
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < n; i++)
        moved |= queue_next_index(cuts[i].q) != cuts[i].cut;
    pthread_mutex_unlock(&ctx->lock);
    return moved;
}

/* With ctx->lock held: the queues' work up to the cut is what the
 * checkpoint (or a restore) stands for from now on: the journals start over
 * there, and nothing a destroyed queue ran since is owed a replay. */
static void start_over(rochp_context *ctx, const cut_queue *cuts, size_t n)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    for (size_t i = 0; i < n; i++) {
        rochp_queue *q = cuts[i].q;
        if (q->ring.journal)
            __atomic_store_n(&q->ring.journal_start, cuts[i].cut, __ATOMIC_RELAXED);
        q->checkpoint_index = cuts[i].cut;
        atomic_store(&q->voided, 0);
    }
    ctx->managed->retired_packets = 0;
}

/* --- what was written ---------------------------------------------------------------------- */
/* With ctx->managed->buffer_lock held: marks what the work since the last checkpoint
 * may have written; false when a plain queue ran (everything is dirty). */
static bool mark_journaled(rochp_context *ctx, const cut_queue *cuts, size_t n, uint64_t *packets)
{
    ROCHP_ASSERT_HELD(&ctx->managed->buffer_lock);
    bool all = false;
    for (size_t i = 0; i < n; i++) {
        rochp_queue *q = cuts[i].q;
        if (cuts[i].cut == q->checkpoint_index)
            continue;
        if (!q->ring.journal) {
            all = true;
            continue;
        }
        uint64_t from = __atomic_load_n(&q->ring.journal_start, __ATOMIC_RELAXED);
        *packets += cuts[i].cut - from;
        for (uint64_t w = from; w < cuts[i].cut; w++) {
            uint64_t slot = w & q->ring.slot_mask;
            const rochp_journal_entry *e = &q->ring.journal[slot];
            if (e->kind == ROCHP_JOURNAL_DISPATCH && q->ring.kernargs)
                dirty_mark_dispatch(ctx, e, q->ring.kernargs + (slot << q->ring.kernarg_shift));
        }
    }
    return !all;
}

/* --- copies ------------------------------------------------------------------------------------ */

static rochp_status start_copy(rochp_context *ctx, copy_job *j, uint64_t cpu)
{
    rochp_buffer *b = j->b;
    /* rochp may know of a loss before the runtime does, which would still
     * copy: the registry is asked before and after each copy. */
    if (!managed_buffer_reachable(b))
        return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                "checkpoint: device %llu, which held buffer %llu, has been lost "
                                "(its memory with it); the previous checkpoint stands",
                                (unsigned long long)b->device, (unsigned long long)b->id);
    /* Into the buffer's spare: allocated and locked at its first checkpoint
     * only (managed/shadow.c). */
    rochp_status st = shadow_spare_ready(ctx, b);
    if (st != ROCHP_OK)
        return st;
    if (b->device == ROCHP_HOST) {
        memcpy(b->spare.host, b->address, b->size);
        j->started = true;
        return ROCHP_OK;
    }
    if (ctx->hsa.signal_create(1, 0, NULL, &j->done) != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: cannot create a signal");
    /* One copy per buffer, not chunks spread over engines: ROCR 5.2.x runs
     * every device-to-host copy of a GPU on that GPU's one D2H blit
     * (GpuAgent::DmaCopy -> GetBlitObject(dst, src): the SDMA engine chosen
     * by direction, not per call), so chunks of one buffer would only queue
     * behind each other there, and hsasim, faithful to it, has one engine
     * thread per GPU.  Copies of different GPUs already run at once. */
    hsa_status_t hs = ctx->hsa.amd_memory_async_copy(b->spare.agent, (hsa_agent_t){cpu},
                                                     b->address, (hsa_agent_t){b->agent}, b->size,
                                                     0, NULL, j->done);
    if (hs != HSA_STATUS_SUCCESS) {
        ctx->hsa.signal_destroy(j->done);
        j->done.handle = 0;
        return rochp__set_errorf(ROCHP_ERROR_IO,
                                "checkpoint: the copy of a %zu-byte buffer of device %llu could "
                                "not start: %s",
                                b->size, (unsigned long long)b->device,
                                rochp__hsa_status_text(&ctx->hsa, hs));
    }
    j->started = true;
    return ROCHP_OK;
}

/* Waits for every started copy; a lost device's copy never ends, and its
 * shadow may still be written by the engine: *abandoned marks it kept. */
static rochp_status wait_copies(rochp_context *ctx, copy_job *jobs, size_t n, bool *abandoned)
{
    rochp_status st = ROCHP_OK;
    for (size_t i = 0; i < n; i++) {
        copy_job *j = &jobs[i];
        if (!j->done.handle)
            continue;
        while (ctx->hsa.signal_wait_scacquire(j->done, HSA_SIGNAL_CONDITION_EQ, 0,
                                              CHECKPOINT_SLICE_NS, HSA_WAIT_STATE_BLOCKED) != 0) {
            if (!managed_buffer_reachable(j->b)) {
                abandoned[i] = true;
                st = rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                      "checkpoint: device %llu was lost while its buffers were "
                                      "copied; the previous checkpoint stands",
                                      (unsigned long long)j->b->device);
                break;
            }
        }
        if (!abandoned[i]) {
            ctx->hsa.signal_destroy(j->done);
            j->done.handle = 0;
        }
    }
    for (size_t i = 0; i < n && st == ROCHP_OK; i++)
        if (!managed_buffer_reachable(jobs[i].b))
            st = rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                  "checkpoint: device %llu was lost while its buffers were "
                                  "copied; the previous checkpoint stands",
                                  (unsigned long long)jobs[i].b->device);
    return st;
}

/* --- the checkpoint ----------------------------------------------------------------------------- */
static rochp_status checkpoint_locked(rochp_context *ctx, uint64_t timeout_ns,
                                     rochp_checkpoint_stats *stats)
{
    ROCHP_ASSERT_GATE(ctx);
    uint64_t t0 = rochp__now_ns();
    cut_queue *cuts = NULL;
    size_t n_cuts = 0;
    copy_job *jobs = NULL;
    bool *abandoned = NULL;
    size_t n_jobs = 0;
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    /* Spares given up by earlier checkpoints whose copies have ended since. */
    shadow_reap_abandoned(ctx);
    rochp_status st = take_cut(ctx, &cuts, &n_cuts);
    if (st == ROCHP_OK)
        st = wait_cut(cuts, n_cuts, timeout_ns);

    /* What to copy, and the write count to check the cut against. */
    uint64_t packets = 0, writes_before = 0;
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        bool selective = mark_journaled(ctx, cuts, n_cuts, &packets);
        jobs = calloc(ctx->managed->n_buffers + 1, sizeof *jobs);
        abandoned = calloc(ctx->managed->n_buffers + 1, sizeof *abandoned);
        if (jobs && abandoned) {
            for (size_t i = 0; i < ctx->managed->n_buffers; i++) {
                rochp_buffer *b = ctx->managed->buffers[i];
                stats->buffers++;
                stats->bytes += b->size;
                if (b->address && (!selective || b->dirty || b->copy_always || !b->shadow.host))
                    jobs[n_jobs++].b = b;
            }
        } else {
            st = rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
        }
        writes_before = ctx->managed->buffer_writes;
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
    }
    uint64_t cpu = st == ROCHP_OK ? managed_cpu_agent(ctx) : 0;
    for (size_t i = 0; i < n_jobs && st == ROCHP_OK; i++)
        st = start_copy(ctx, &jobs[i], cpu);
    if (jobs) {
        rochp_status waited = wait_copies(ctx, jobs, n_jobs, abandoned);
        if (st == ROCHP_OK)
            st = waited;
    }
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        bool written = ctx->managed->buffer_writes != writes_before;
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
        if (written || cut_moved(ctx, cuts, n_cuts))
            st = rochp__set_errorf(ROCHP_ERROR_BUSY,
                                  "checkpoint: work was dispatched or buffers written while it "
                                  "ran, so its copies are not one consistent point; the previous "
                                  "checkpoint stands (checkpoint where nothing else runs)");
    }
    if (st == ROCHP_OK) {
        /* Commit: the spares become the shadows and the old shadows the
         * spares of the next checkpoint; the journals start over. */
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        for (size_t i = 0; i < n_jobs; i++) {
            rochp_buffer *b = jobs[i].b;
            shadow old = b->shadow;
            b->shadow = b->spare;
            b->spare = old;
            b->dirty = false;
            b->written_by_call = false;
            stats->buffers_copied++;
            stats->bytes_copied += b->size;
        }
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
        pthread_mutex_lock(&ctx->lock);
        start_over(ctx, cuts, n_cuts);
        stats->packets = packets;
        ctx->resilience->checkpoints++;
        ctx->resilience->last_checkpoint_ns = rochp__now_ns();
        pthread_mutex_unlock(&ctx->lock);
    }
    /* A failed checkpoint keeps its spares for the next one, except those
     * an engine may still write, which are given up (never reused). */
    for (size_t i = 0; i < n_jobs; i++) {
        if (abandoned[i])
            shadow_spare_abandon(ctx, jobs[i].b, jobs[i].done);
        else if (jobs[i].done.handle)
            ctx->hsa.signal_destroy(jobs[i].done);
    }
    free(jobs);
    free(abandoned);
    free(cuts);
    stats->ns = rochp__now_ns() - t0;
    return st;
}

rochp_status rochp_checkpoint(rochp_context *ctx, uint64_t timeout_ns,
                              rochp_checkpoint_stats *stats)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_checkpoint");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint: this context has no HSA runtime");
    rochp_checkpoint_stats local;
    memset(&local, 0, sizeof local);
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    rochp_status st = checkpoint_locked(ctx, timeout_ns, &local);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    if (stats)
        *stats = local;
    return st;
}

/* --- automatic checkpoints ------------------------------------------------------------------ */
rochp_status rochp_set_auto_checkpoint(rochp_context *ctx, uint64_t every_packets,
                                       uint64_t every_ns)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_set_auto_checkpoint");
    if (hst_ != ROCHP_OK)
        return hst_;
    pthread_mutex_lock(&ctx->lock);
    ctx->resilience->auto_packets = every_packets;
    ctx->resilience->auto_ns = every_ns;
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

/* A safe point (an application's wait just returned): a checkpoint is taken
 * if one is due, without waiting -- work still running elsewhere or
 * dispatched meanwhile skips it until a later safe point. */
void checkpoint_safe_point(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    uint64_t every_packets = ctx->resilience->auto_packets, every_ns = ctx->resilience->auto_ns;
    bool due = every_ns && rochp__now_ns() - ctx->resilience->last_checkpoint_ns >= every_ns;
    pthread_mutex_unlock(&ctx->lock);
    if (!due && every_packets) {
        uint64_t since = 0;
        runtime_gate_enter(ctx);
        pthread_mutex_lock(&ctx->lock);
        for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
            since += queue_next_index(q) - q->checkpoint_index;
        pthread_mutex_unlock(&ctx->lock);
        runtime_gate_leave(ctx, ROCHP_OK);
        due = since >= every_packets;
    }
    if (due)
        (void)rochp_checkpoint(ctx, 0, NULL);
}

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
    rochp_status cut = take_cut(ctx, &cuts, &n_cuts);
    if (cut == ROCHP_OK)
        cut = wait_cut(cuts, n_cuts, RESTORE_WAIT_NS);
    if (cut != ROCHP_OK) {
        free(cuts);
        return cut;
    }
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    size_t n = ctx->managed->n_buffers, n_jobs = 0;
    copy_job *jobs = calloc(n + 1, sizeof *jobs);
    bool *abandoned = calloc(n + 1, sizeof *abandoned);
    rochp_status st = jobs && abandoned ? ROCHP_OK
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
            st = shadow_copy_out(ctx, &b->shadow, b->address, b->agent, cpu, &jobs[i].done);
    }
    if (jobs) {
        rochp_status waited = wait_copies(ctx, jobs, n_jobs, abandoned);
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
        start_over(ctx, cuts, n_cuts);
        pthread_mutex_unlock(&ctx->lock);
    }
    free(cuts);
    for (size_t i = 0; i < n_jobs; i++)
        if (jobs[i].done.handle && !abandoned[i])
            ctx->hsa.signal_destroy(jobs[i].done);
    free(jobs);
    free(abandoned);
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
    rochp_status st = restore_locked(ctx, &local);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    if (stats)
        *stats = local;
    return st;
}
