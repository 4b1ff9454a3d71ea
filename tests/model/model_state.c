/* The model's bookkeeping: random numbers, what is lost, what a recovery
 * would say, hazards between queues, and checking the real buffers against
 * the model's bytes. */
#include <stdarg.h>

#include "model.h"
#include "model_internal.h"

void model_fail(model *m, const char *fmt, ...)
{
    if (m->failed)
        return;
    m->failed = true;
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "model: FAILED seed %llu mode %s%s, step %d (%s): %s\n"
            "       last error: %s\n"
            "       replay: model --mode %s --seed %llu --sequences 1 --verbose\n",
            (unsigned long long)m->seed, m->mode, m->auto_recover ? " auto-recover" : "",
            m->step, m->op ? m->op : "-", what, rochp_last_error(), m->mode,
            (unsigned long long)m->seed);
    if (m->verbose)
        model_dump(m);
}

/* What the model and the context say of the queues (for a failure). */
void model_dump(model *m)
{
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        m_queue *q = &m->queues[i];
        if (!q->alive)
            continue;
        fprintf(stderr, "  queue %d (id %llu): device %llu%s, %s, next id %llu, ids since %llu%s\n",
                i, (unsigned long long)rochp_queue_id(q->h), (unsigned long long)q->dev,
                model_dev_gone(m, q->dev) ? " (gone)" : "", q->journaled ? "journaled" : "plain",
                (unsigned long long)q->next_id, (unsigned long long)q->ids_since,
                q->stopped ? ", maybe stopped" : "");
        uint64_t n = 0;
        if (!q->journaled || rochp_queue_journal_length(q->h, &n) != ROCHP_OK)
            continue;
        for (uint64_t k = 0; k < n; k++) {
            rochp_journal_entry e;
            if (rochp_queue_journal_entry(q->h, k, &e, NULL) != ROCHP_OK)
                break;
            if (e.kind == ROCHP_JOURNAL_BARRIER)
                fprintf(stderr, "    [%llu] barrier on queue %llu packet %llu\n",
                        (unsigned long long)k, (unsigned long long)e.dep_queue_id,
                        (unsigned long long)e.dep_id);
            else
                fprintf(stderr, "    [%llu] %s\n", (unsigned long long)k,
                        e.kind == ROCHP_JOURNAL_DISPATCH ? "dispatch" : "void");
        }
    }
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
        if (m->buffers[i].alive)
            fprintf(stderr, "  buffer %d (id %llu): device %llu (rochp: %llu)%s%s%s%s\n", i,
                    (unsigned long long)rochp_buffer_id(m->buffers[i].h),
                    (unsigned long long)m->buffers[i].dev,
                    (unsigned long long)rochp_buffer_device(m->buffers[i].h),
                    m->buffers[i].has_shadow ? ", shadow" : "", m->buffers[i].dirty ? ", dirty" : "",
                    m->buffers[i].by_call ? ", by call" : "",
                    m->buffers[i].unknown ? ", unknown" : "");
    for (int i = 0; i < m->n_gpus; i++)
        fprintf(stderr, "  gpu %s: device %llu, state %d%s%s%s\n", m->gpus[i].info.pci,
                (unsigned long long)m->gpus[i].info.id, (int)user_state(m->ctx, m->gpus[i].info.id),
                m->gpus[i].unplugged ? ", unplugged" : "", m->gpus[i].plugged_back ? ", back" : "",
                m->gpus[i].faulted ? ", faulted" : "");
}

uint32_t model_rand(model *m, uint32_t n)
{
    /* splitmix64 */
    uint64_t z = (m->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return n ? (uint32_t)(z % n) : 0;
}

bool model_chance(model *m, uint32_t percent)
{
    return model_rand(m, 100) < percent;
}

/* --- devices ------------------------------------------------------------------------------------ */
m_gpu *model_gpu(model *m, rochp_device_id dev)
{
    for (int i = 0; i < m->n_gpus; i++)
        if (m->gpus[i].info.id == dev)
            return &m->gpus[i];
    return NULL;
}

/* Work made on it is dead: unplugged (and maybe back, without an agent). */
bool model_dev_gone(model *m, rochp_device_id dev)
{
    if (dev == ROCHP_HOST)
        return false;
    m_gpu *g = model_gpu(m, dev);
    return g && (g->unplugged || g->faulted);
}

/* Usable for new work: present with an agent. */
bool model_dev_usable(model *m, rochp_device_id dev)
{
    if (dev == ROCHP_HOST)
        return true;
    m_gpu *g = model_gpu(m, dev);
    return g && !g->unplugged && !g->faulted;
}

int model_usable_gpus(model *m)
{
    int n = 0;
    for (int i = 0; i < m->n_gpus; i++)
        n += !m->gpus[i].unplugged && !m->gpus[i].faulted;
    return n;
}

bool model_any_gone(model *m)
{
    for (int i = 0; i < m->n_gpus; i++)
        if (m->gpus[i].unplugged || m->gpus[i].faulted)
            return true;
    return false;
}

bool model_queue_dead(model *m, const m_queue *q)
{
    return model_dev_gone(m, q->dev) || q->stopped;
}

bool model_any_stopped(model *m)
{
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        if (m->queues[i].alive && m->queues[i].stopped)
            return true;
    return false;
}

/* Does a lost device hold managed work (so that a recovery has work to do)? */
bool model_lost_work(model *m)
{
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        if (m->queues[i].alive && model_dev_gone(m, m->queues[i].dev))
            return true;
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
        if (m->buffers[i].alive && model_dev_gone(m, m->buffers[i].dev))
            return true;
    return false;
}

/* Which usable GPUs faulted (work in flight touched an unplugged GPU's
 * memory): a new queue there is refused with QUEUE_FAILED. */
void model_sync_faults(model *m)
{
    if (!model_any_gone(m))
        return;
    bool destroyed = false;
    for (int i = 0; i < m->n_gpus; i++) {
        m_gpu *g = &m->gpus[i];
        if (g->unplugged || g->faulted)
            continue;
        rochp_queue *probe = NULL;
        rochp_status st = rochp_queue_create(m->ctx, g->info.id, NULL, &probe);
        if (st == ROCHP_OK)
            destroyed |= rochp_queue_destroy(probe) == ROCHP_OK;
        else if (st == ROCHP_ERROR_QUEUE_FAILED)
            g->faulted = true;
        else
            model_fail(m, "a probe queue on GPU %s: status %d", g->info.pci, (int)st);
    }
    /* A queue destroyed settles a begun checkpoint. */
    model_pending_settled(m, destroyed, "rochp_queue_destroy (probe)");
}

/* --- what a recovery says ------------------------------------------------------------------------ */
rochp_status model_recovery_status(model *m, const char **why)
{
    *why = "nothing lost";
    if (!model_lost_work(m))
        return ROCHP_OK;
    *why = "no target";
    if (model_usable_gpus(m) == 0)
        return ROCHP_ERROR_NO_TARGET;
    *why = "no checkpoint";
    if (!m->have_checkpoint)
        return ROCHP_ERROR_NOT_SUPPORTED;
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        const m_buffer *b = &m->buffers[i];
        if (!b->alive)
            continue;
        *why = "a buffer written by a call";
        if (b->by_call)
            return ROCHP_ERROR_NOT_SUPPORTED;
        *why = "a lost buffer without a shadow";
        if (model_dev_gone(m, b->dev) && !b->has_shadow)
            return ROCHP_ERROR_NOT_SUPPORTED;
    }
    *why = "a destroyed queue had run";
    if (m->retired_ran)
        return ROCHP_ERROR_NOT_SUPPORTED;
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        const m_queue *q = &m->queues[i];
        *why = "a plain queue ran";
        if (q->alive && !q->journaled && q->ran_since)
            return ROCHP_ERROR_NOT_SUPPORTED;
    }
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        const m_buffer *b = &m->buffers[i];
        *why = "a buffer to roll back without a shadow";
        if (b->alive && b->dirty && !b->has_shadow && !model_dev_gone(m, b->dev))
            return ROCHP_ERROR_NOT_SUPPORTED;
    }
    *why = "recoverable";
    return ROCHP_OK;
}

/* A recovery went through: every queue and buffer lives on a usable device,
 * as the model's bytes. */
void model_recovered(model *m)
{
    /* Its event is this recovery's, not one a later wait should apply. */
    rochp_flush(m->ctx);
    m->recovered_seen = __atomic_load_n(&m->recovered_events, __ATOMIC_ACQUIRE);
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        m_queue *q = &m->queues[i];
        if (!q->alive)
            continue;
        rochp_device_id dev = rochp_queue_device(q->h);
        if (!model_dev_usable(m, dev) || dev == ROCHP_HOST)
            model_fail(m, "queue %d is on device %llu after the recovery", i,
                       (unsigned long long)dev);
        q->dev = dev;
        q->stopped = false;
    }
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->alive)
            continue;
        rochp_device_id dev = rochp_buffer_device(b->h);
        if (!model_dev_usable(m, dev))
            model_fail(m, "buffer %d is on device %llu after the recovery", i,
                       (unsigned long long)dev);
        /* Moved, or rolled back and written again by the replay: the
         * model's bytes; others are as they were. */
        if (model_dev_gone(m, b->dev) || b->dirty)
            b->unknown = false;
        if (model_dev_gone(m, b->dev))
            b->dirty = true;
        b->dev = dev;
    }
}

/* A recovery failed: it may have stopped every queue and rolled buffers
 * back under work it did not replay. */
void model_recovery_failed(model *m)
{
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        if (m->queues[i].alive)
            m->queues[i].stopped = true;
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
        if (m->buffers[i].alive && m->buffers[i].dirty)
            m->buffers[i].unknown = true;
}

/* Auto-recovery ran inside a call if a recovered event came since. */
void model_note_auto_recovery(model *m)
{
    if (!m->auto_recover)
        return;
    rochp_flush(m->ctx);
    uint64_t seen = __atomic_load_n(&m->recovered_events, __ATOMIC_ACQUIRE);
    /* A recovery settles a begun checkpoint first and goes on from the one
     * standing then; a wait that found a loss may have tried one that
     * failed.  (Without one, the model's finish settles it.) */
    if (model_any_gone(m))
        model_pending_settled(m, seen != m->recovered_seen, "a wait (auto-recovery)");
    if (seen != m->recovered_seen)
        model_recovered(m);
}

/* --- checking the bytes --------------------------------------------------------------------------- */
/* Waits for every queue; then, when nothing is lost or undefined, compares
 * every buffer with the model. */
void model_check_all(model *m, const char *when)
{
    bool clean = !model_lost_work(m) && !model_any_stopped(m);
    for (int i = 0; i < MODEL_MAX_QUEUES && !m->failed; i++) {
        m_queue *q = &m->queues[i];
        if (!q->alive)
            continue;
        rochp_status st = rochp_queue_wait_idle(q->h, 30 * SECOND);
        model_note_auto_recovery(m);
        if (st == ROCHP_OK)
            continue;
        if (clean || st == ROCHP_ERROR_TIMEOUT)
            model_fail(m, "%s: waiting for queue %d: status %d", when, i, (int)st);
        clean = false;
    }
    if (!clean || m->failed)
        return;
    for (int i = 0; i < MODEL_MAX_BUFFERS && !m->failed; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->alive || b->unknown)
            continue;
        uint32_t got[MODEL_WORDS];
        rochp_status st = rochp_buffer_read(b->h, 0, got, sizeof got);
        if (st != ROCHP_OK) {
            model_fail(m, "%s: reading buffer %d: status %d", when, i, (int)st);
            return;
        }
        for (uint32_t x = 0; x < MODEL_WORDS; x++)
            if (got[x] != b->val[x]) {
                model_fail(m, "%s: buffer %d word %u is %u, the model says %u", when, i, x,
                           got[x], b->val[x]);
                return;
            }
    }
}

/* Reads what a buffer holds into the model (its bytes were undefined). */
void model_learn(model *m, m_buffer *b)
{
    if (!b->unknown || model_dev_gone(m, b->dev))
        return;
    if (rochp_buffer_read(b->h, 0, b->val, sizeof b->val) == ROCHP_OK)
        b->unknown = false;
}
