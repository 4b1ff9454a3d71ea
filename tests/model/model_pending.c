/* The model's begun checkpoint (rochp_checkpoint_begin): what its cut holds,
 * and what the model believes once it commits or fails.
 *
 * rochp clears the dirty marks of what it copies at the cut and puts them
 * back if the checkpoint fails; the model does the same with its by_call,
 * dirty and journal_refs, so that work after the cut marks them as rochp
 * does.  A journal starts over only at the commit, so a queue's ids and runs
 * since the checkpoint keep counting from the standing one (a full journal
 * is full from there) and what the cut saw is taken off at the commit.
 *
 * A begun checkpoint settles first in the calls that need it or free what
 * it copies, and rochp keeps the result for rochp_checkpoint_finish; so
 * right after such a call the model asks finish how it ended -- when a GPU
 * went meanwhile it cannot know otherwise -- and goes on from there. */
#include "model.h"
#include "model_internal.h"

#define WORDS_BYTES (sizeof(uint32_t) * MODEL_WORDS)

void model_pending_cut(model *m)
{
    m->pending.active = true;
    m->pending.doomed = false;
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        b->in_cut = b->alive;
        if (!b->alive)
            continue;
        /* Its bytes now are the cut's: nothing ran since begin returned. */
        model_learn(m, b);
        memcpy(b->cut, b->val, sizeof b->cut);
        b->cut_copied = !b->has_shadow || b->by_call || b->dirty;
        b->cut_by_call = b->by_call;
        b->cut_dirty = b->dirty;
        b->cut_refs = b->journal_refs;
        b->by_call = b->dirty = false;
        b->journal_refs = 0;
    }
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        m_queue *q = &m->queues[i];
        q->in_cut = q->alive;
        q->next_id_at_cut = q->next_id;
        q->ids_at_cut = q->ids_since;
        q->ran_after_cut = false;
    }
}

void model_pending_commit(model *m)
{
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->in_cut)
            continue;
        b->in_cut = false;
        b->has_shadow = true;
        memcpy(b->ckpt, b->cut, sizeof b->ckpt);
    }
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        m_queue *q = &m->queues[i];
        if (!q->in_cut)
            continue;
        q->in_cut = false;
        q->ckpt_next_id = q->next_id_at_cut;
        q->ids_since -= q->ids_at_cut;
        q->ran_since = q->ran_after_cut;
    }
    /* A queue destroyed since would have settled it first: none retired
     * after the cut. */
    m->retired_ran = false;
    m->have_checkpoint = true;
    m->ckpt_from_begin = true;
    m->pending.active = false;
}

void model_pending_fail(model *m)
{
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->in_cut)
            continue;
        b->in_cut = false;
        /* rochp marks everything it copied dirty again. */
        b->by_call |= b->cut_by_call;
        b->dirty |= b->cut_dirty || b->cut_copied;
        b->journal_refs |= b->cut_refs;
    }
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        m->queues[i].in_cut = false;
    m->pending.active = false;
}

int model_pending_outcome(model *m, rochp_status st, const rochp_checkpoint_stats *s,
                          bool may_time_out, const char *what)
{
    if (m->verbose)
        fprintf(stderr, "  begun checkpoint (%s): %d%s\n", what, (int)st,
                m->pending.doomed ? " (doomed)" : "");
    if (st == ROCHP_ERROR_TIMEOUT && may_time_out)
        return -1;
    if (st == ROCHP_OK) {
        if (m->pending.doomed) {
            model_fail(m, "%s: the begun checkpoint committed, though the context had seen the "
                          "GPU of a buffer it copies lost",
                       what);
            return 0;
        }
        /* Its stats: every buffer of the cut counted, at least those it
         * must have copied copied. */
        uint64_t n = 0, must = 0;
        for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
            n += m->buffers[i].in_cut;
            must += m->buffers[i].in_cut && m->buffers[i].cut_copied;
        }
        if (s->buffers != n || s->bytes != n * WORDS_BYTES || s->buffers_copied < must ||
            s->buffers_copied > n || s->bytes_copied != s->buffers_copied * WORDS_BYTES) {
            model_fail(m, "%s: the begun checkpoint's stats say %llu buffers (%llu bytes), %llu "
                          "copied (%llu bytes); the model has %llu in its cut, %llu to copy",
                       what, (unsigned long long)s->buffers, (unsigned long long)s->bytes,
                       (unsigned long long)s->buffers_copied,
                       (unsigned long long)s->bytes_copied, (unsigned long long)n,
                       (unsigned long long)must);
            return 0;
        }
        model_pending_commit(m);
        return 1;
    }
    if (st == ROCHP_ERROR_DEVICE_LOST && model_any_gone(m)) {
        if (!strstr(rochp_last_error(), "previous checkpoint stands")) {
            model_fail(m, "%s: the begun checkpoint failed without saying the previous one "
                          "stands",
                       what);
            return 0;
        }
        model_pending_fail(m);
        return 0;
    }
    model_fail(m, "%s: the begun checkpoint's rochp_checkpoint_finish returned %d (%s); the "
                  "model allows OK%s%s",
               what, (int)st, rochp_status_string(st),
               model_any_gone(m) ? ", DEVICE_LOST" : "", may_time_out ? ", TIMEOUT" : "");
    return 0;
}

int model_pending_settled(model *m, bool must, const char *after)
{
    if (!m->pending.active || m->failed)
        return 0;
    rochp_checkpoint_stats s;
    rochp_status st = rochp_checkpoint_finish(m->ctx, 0, &s);
    if (st == ROCHP_ERROR_TIMEOUT && !must) {
        /* Still copying: the call did not settle it.  The model's finish
         * waits for it, so that what follows does not depend on how fast
         * the copies were (a seed replays its sequence). */
        st = rochp_checkpoint_finish(m->ctx, 30 * SECOND, &s);
    }
    return model_pending_outcome(m, st, &s, false, after);
}

int model_pending_finish(model *m, uint64_t timeout_ns, const char *why)
{
    if (!m->pending.active || m->failed)
        return 0;
    rochp_checkpoint_stats s;
    rochp_status st = rochp_checkpoint_finish(m->ctx, timeout_ns, &s);
    return model_pending_outcome(m, st, &s, false, why);
}

rochp_status model_pending_predict(model *m, bool commit, const char **why)
{
    if (!m->pending.active)
        return model_recovery_status(m, why);
    model *alt = malloc(sizeof *alt);
    REQUIRE(alt);
    *alt = *m;
    if (commit)
        model_pending_commit(alt);
    else
        model_pending_fail(alt);
    rochp_status st = model_recovery_status(alt, why); /* why: a literal */
    free(alt);
    return st;
}

void model_pending_lost(model *m, rochp_device_id device)
{
    if (!m->pending.active)
        return;
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        const m_buffer *b = &m->buffers[i];
        if (b->in_cut && b->cut_copied && b->dev == device)
            m->pending.doomed = true;
    }
}
