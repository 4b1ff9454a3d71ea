/* Checkpoints: a consistent cut across the context's queues, and host
 * shadows of the buffers written since the previous one.
 *
 * The cut is each queue's write index when the checkpoint begins.  The
 * checkpoint waits for every packet before it, starts copying the buffers
 * that work may have written, and checks that no queue moved and no buffer
 * was written meanwhile; if something did, the application dispatched
 * during the call and it fails with ROCHP_ERROR_BUSY, the previous
 * checkpoint standing.  From then on work may run beside the copies: the
 * copy guard (managed/copy_guard.c) makes a dispatch or a buffer write that
 * would change a buffer not yet copied wait for its copy.  New shadows
 * replace the old ones only when all copies are done (the commit), so a
 * loss during a checkpoint leaves the previous one whole.  rochp_checkpoint
 * is a begin and its commit; rochp_checkpoint_begin leaves the commit to
 * rochp_checkpoint_finish or to the next call that needs it (settle).
 *
 * What was written since the previous checkpoint: buffers named by copy and
 * write calls; buffers whose address a journaled dispatch passed in an
 * argument the kernel may write (its metadata: a global buffer not
 * read-only); and, since a plain queue keeps no record, every buffer once a
 * plain queue has run anything; registered buffers (the application's
 * memory, written by work rochp does not see) that the application marked
 * or asked to be copied always.  A buffer without a shadow is always copied.
 * The marks are cleared at the cut (work after it marks them again) and put
 * back if the checkpoint fails.
 *
 * Shadows (managed/shadow.c) are process memory near the buffer's GPU,
 * locked for the runtime's copy engines.  Each buffer keeps its committed
 * shadow and a spare: a checkpoint copies into the spares (allocated once,
 * reused while the size matches) and swaps them in on commit, so a failed
 * one leaves the committed shadows whole and keeps the spares for the next.
 * Copies from different devices run at once.
 *
 * Locks: ctx->managed->checkpoint_lock serialises checkpoints, their
 * commits and restores against each other and against freeing buffers and
 * destroying queues (which take it too and settle a begun checkpoint
 * first), since they hold pointers to both across long waits.  The runtime
 * gate is held for reading throughout.  The begun checkpoint
 * (resilience_state.inflight) is under the checkpoint lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resilience/checkpoint_cut.h"

/* A begun checkpoint, until its commit. */
struct checkpoint_inflight {
    cut_queue *cuts;
    size_t n_cuts;
    copy_job *jobs;
    size_t n_jobs;
    uint64_t retired;      /* destroyed queues' packets counted at the cut */
    uint64_t writes;       /* buffer writes counted at the cut */
    bool check_after;      /* a queue does not read the guard: nothing may run until the commit */
    bool report;           /* begun by rochp_checkpoint_begin: finish reports it */
    uint64_t t0;
    rochp_checkpoint_stats stats;
};

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

/* --- begin ---------------------------------------------------------------------------------------- */
/* With buffer_lock held: what the checkpoint copies, into f->jobs; their
 * marks cleared (work after the cut sets them again). */
static rochp_status choose(rochp_context *ctx, checkpoint_inflight *f)
{
    ROCHP_ASSERT_HELD(&ctx->managed->buffer_lock);
    bool selective = mark_journaled(ctx, f->cuts, f->n_cuts, &f->stats.packets);
    f->jobs = calloc(ctx->managed->n_buffers + 1, sizeof *f->jobs);
    if (!f->jobs)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    for (size_t i = 0; i < ctx->managed->n_buffers; i++) {
        rochp_buffer *b = ctx->managed->buffers[i];
        f->stats.buffers++;
        f->stats.bytes += b->size;
        if (!b->address || (selective && !b->dirty && !b->copy_always && b->shadow.host))
            continue;
        copy_job *j = &f->jobs[f->n_jobs++];
        j->b = b;
        j->was_written_by_call = b->written_by_call;
        b->dirty = false;
        b->written_by_call = false;
    }
    f->writes = ctx->managed->buffer_writes;
    return ROCHP_OK;
}

static rochp_status publish(rochp_context *ctx, const checkpoint_inflight *f)
{
    copy_guard_entry *e = calloc(f->n_jobs + 1, sizeof *e);
    if (!e)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    for (size_t i = 0; i < f->n_jobs; i++) {
        const rochp_buffer *b = f->jobs[i].b;
        e[i] = (copy_guard_entry){(uintptr_t)b->address, (uintptr_t)b->address + b->size,
                                  f->jobs[i].done, f->jobs[i].b};
    }
    rochp_status st = copy_guard_publish(ctx, e, f->n_jobs);
    free(e);
    return st;
}

static bool written_since(rochp_context *ctx, const checkpoint_inflight *f)
{
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    bool written = ctx->managed->buffer_writes != f->writes;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return written || cut_moved(ctx, f->cuts, f->n_cuts);
}

static rochp_status busy(void)
{
    return rochp__set_errorf(ROCHP_ERROR_BUSY,
                            "checkpoint: work was dispatched or buffers written while it took "
                            "its cut, so its copies are not one consistent point; the previous "
                            "checkpoint stands (checkpoint where nothing else runs)");
}

static void inflight_free(checkpoint_inflight *f)
{
    if (!f)
        return;
    free(f->jobs);
    free(f->cuts);
    free(f);
}

/* With the checkpoint lock held: the copies of a checkpoint that will not
 * commit are waited for (a lost device's abandoned), the guard withdrawn,
 * the marks put back. */
static void fail_inflight(rochp_context *ctx, checkpoint_inflight *f)
{
    (void)copies_wait(ctx, f->jobs, f->n_jobs, 0, "checkpoint");
    copy_guard_withdraw(ctx);
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < f->n_jobs; i++) {
        f->jobs[i].b->dirty = true;
        f->jobs[i].b->written_by_call |= f->jobs[i].was_written_by_call;
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    copies_release(ctx, f->jobs, f->n_jobs, true);
}

/* With the checkpoint lock held and no checkpoint begun: takes the cut and
 * starts the copies; *out the begun checkpoint. */
static rochp_status begin_locked(rochp_context *ctx, uint64_t timeout_ns, checkpoint_inflight **out)
{
    ROCHP_ASSERT_GATE(ctx);
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    *out = NULL;
    checkpoint_inflight *f = calloc(1, sizeof *f);
    if (!f)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    f->t0 = rochp__now_ns();
    /* Spares given up by earlier checkpoints whose copies have ended since. */
    shadow_reap_abandoned(ctx);
    /* Armed before the cut is read: a packet after the cut sees it. */
    copy_guard_arm(ctx);
    f->check_after = !copy_guard_all_aware(ctx);
    rochp_status st = cut_take(ctx, &f->cuts, &f->n_cuts);
    if (st == ROCHP_OK)
        st = cut_wait(f->cuts, f->n_cuts, timeout_ns);
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        st = choose(ctx, f);
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
    }
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->lock);
        f->retired = ctx->managed->retired_packets;
        pthread_mutex_unlock(&ctx->lock);
    }
    uint64_t cpu = st == ROCHP_OK ? managed_cpu_agent(ctx) : 0;
    for (size_t i = 0; i < f->n_jobs && st == ROCHP_OK; i++)
        st = start_copy(ctx, &f->jobs[i], cpu);
    if (st == ROCHP_OK)
        st = publish(ctx, f);
    /* Published first: a dispatch or write not seen here waits for the copies. */
    if (st == ROCHP_OK && written_since(ctx, f))
        st = busy();
    if (st != ROCHP_OK) {
        fail_inflight(ctx, f);
        inflight_free(f);
        return st;
    }
    *out = f;
    return ROCHP_OK;
}

/* --- commit ----------------------------------------------------------------------------------------- */
static void commit(rochp_context *ctx, checkpoint_inflight *f)
{
    /* The spares become the shadows and the old shadows the spares of the
     * next checkpoint; the journals start over at the cut. */
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < f->n_jobs; i++) {
        rochp_buffer *b = f->jobs[i].b;
        shadow old = b->shadow;
        b->shadow = b->spare;
        b->spare = old;
        /* A resumed buffer's shadow in the kept checkpoint is read-only:
         * the next checkpoint gets a spare of its own. */
        if (b->spare.external)
            shadow_free(ctx, &b->spare);
        f->stats.buffers_copied++;
        f->stats.bytes_copied += b->size;
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    pthread_mutex_lock(&ctx->lock);
    cut_start_over(ctx, f->cuts, f->n_cuts, f->retired);
    ctx->resilience->checkpoints++;
    ctx->resilience->last_checkpoint_ns = rochp__now_ns();
    pthread_mutex_unlock(&ctx->lock);
}

/* With the checkpoint lock held: the begun checkpoint's copies are waited
 * for (until deadline_ns; 0: no deadline) and it commits or fails;
 * ROCHP_ERROR_TIMEOUT leaves it begun.  Its result is kept for finish when
 * rochp_checkpoint_begin began it. */
static rochp_status settle_locked(rochp_context *ctx, uint64_t deadline_ns,
                                  rochp_checkpoint_stats *stats)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    struct resilience_state *r = ctx->resilience;
    checkpoint_inflight *f = r->inflight;
    if (!f)
        return ROCHP_OK;
    rochp_status st = copies_wait(ctx, f->jobs, f->n_jobs, deadline_ns, "checkpoint");
    if (st == ROCHP_ERROR_TIMEOUT)
        return st;
    /* Work that did not read the guard ran beside the copies. */
    if (st == ROCHP_OK && f->check_after && written_since(ctx, f))
        st = busy();
    if (st == ROCHP_OK) {
        copy_guard_withdraw(ctx);
        commit(ctx, f);
        copies_release(ctx, f->jobs, f->n_jobs, true);
    } else {
        fail_inflight(ctx, f);
    }
    f->stats.ns = rochp__now_ns() - f->t0;
    if (f->report) {
        r->begun_unreported = true;
        r->begun_status = st;
        snprintf(r->begun_why, sizeof r->begun_why, "%s", st == ROCHP_OK ? "" : rochp_last_error());
        r->begun_stats = f->stats;
    }
    if (stats)
        *stats = f->stats;
    r->inflight = NULL;
    inflight_free(f);
    return st;
}

rochp_status checkpoint_settle(rochp_context *ctx)
{
    return settle_locked(ctx, 0, NULL);
}

static uint64_t deadline_after(uint64_t timeout_ns)
{
    uint64_t now = rochp__now_ns();
    /* 0 means no deadline: a timeout of 0 is now + 1 (a poll). */
    return timeout_ns > UINT64_MAX - now - 1 ? 0 : now + timeout_ns + 1;
}

/* With the checkpoint lock held: a checkpoint begun earlier must be settled
 * before another begins. */
static rochp_status settle_before(rochp_context *ctx, uint64_t timeout_ns, const char *call)
{
    rochp_status st = settle_locked(ctx, deadline_after(timeout_ns), NULL);
    if (st == ROCHP_ERROR_TIMEOUT)
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "%s: the checkpoint begun earlier is still copying buffers "
                                "(rochp_checkpoint_finish waits for it)",
                                call);
    return ROCHP_OK; /* its own result is finish's to report */
}

/* With the checkpoint lock held: the checkpoint begun earlier settled,
 * then a new one begun (*out). */
static rochp_status settle_and_begin(rochp_context *ctx, uint64_t timeout_ns, const char *call,
                                     checkpoint_inflight **out)
{
    *out = NULL;
    rochp_status st = settle_before(ctx, timeout_ns, call);
    return st == ROCHP_OK ? begin_locked(ctx, timeout_ns, out) : st;
}

/* --- the API ------------------------------------------------------------------------------------ */
static rochp_status enter(rochp_context *ctx, const char *call)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, call);
    if (st != ROCHP_OK)
        return st;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "%s: this context has no HSA runtime", call);
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    return ROCHP_OK;
}

static rochp_status leave(rochp_context *ctx, rochp_status st)
{
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    return st;
}

rochp_status rochp_checkpoint(rochp_context *ctx, uint64_t timeout_ns,
                              rochp_checkpoint_stats *stats)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    rochp_status st = enter(ctx, "rochp_checkpoint");
    if (st != ROCHP_OK)
        return st;
    checkpoint_inflight *f = NULL;
    st = settle_and_begin(ctx, timeout_ns, "rochp_checkpoint", &f);
    if (st == ROCHP_OK) {
        ctx->resilience->inflight = f;
        st = settle_locked(ctx, 0, stats);
    }
    return leave(ctx, st);
}

rochp_status rochp_checkpoint_begin(rochp_context *ctx, uint64_t timeout_ns)
{
    rochp_status st = enter(ctx, "rochp_checkpoint_begin");
    if (st != ROCHP_OK)
        return st;
    checkpoint_inflight *f = NULL;
    st = settle_and_begin(ctx, timeout_ns, "rochp_checkpoint_begin", &f);
    if (st == ROCHP_OK) {
        /* From now on finish reports this one; a begin that fails (its
         * status says why) leaves an earlier one's result to finish. */
        ctx->resilience->begun_unreported = false;
        f->report = true;
        ctx->resilience->inflight = f;
        /* A queue that does not read the guard could overtake the copies:
         * nothing may run until they are done, so the call waits for them. */
        if (f->check_after)
            st = settle_locked(ctx, 0, NULL);
    }
    return leave(ctx, st);
}

rochp_status rochp_checkpoint_finish(rochp_context *ctx, uint64_t timeout_ns,
                                     rochp_checkpoint_stats *stats)
{
    if (stats)
        memset(stats, 0, sizeof *stats);
    rochp_status st = enter(ctx, "rochp_checkpoint_finish");
    if (st != ROCHP_OK)
        return st;
    struct resilience_state *r = ctx->resilience;
    if (r->inflight && r->inflight->report) {
        st = settle_locked(ctx, deadline_after(timeout_ns), NULL);
        if (st == ROCHP_ERROR_TIMEOUT)
            return leave(ctx, st);
    }
    if (!r->begun_unreported)
        return leave(ctx, rochp__set_errorf(ROCHP_ERROR_NOT_FOUND,
                                           "rochp_checkpoint_finish: no checkpoint was begun "
                                           "(rochp_checkpoint_begin) since the last finish"));
    r->begun_unreported = false;
    if (stats)
        *stats = r->begun_stats;
    st = r->begun_status;
    if (st != ROCHP_OK)
        (void)rochp__set_errorf(st, "%s", r->begun_why);
    return leave(ctx, st);
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
