/* Recovery's planning: which devices lost managed work and where it goes,
 * whether the work can be replayed at all, what the journals hold, which
 * buffers move.  Nothing here changes the context.
 *
 * Locks: ctx->lock and ctx->managed->buffer_lock in short sections, never together
 * (the caller holds the runtime gate and ctx->managed->checkpoint_lock). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resilience/recover.h"

size_t plan_device_index(const plan *p, rochp_device_id id)
{
    for (size_t i = 0; i < p->n_devices; i++)
        if (p->devices[i].id == id)
            return i;
    return SIZE_MAX;
}

/* Lost; back without an agent in this runtime (it left and returned); or
 * present but refusing this process's work after a memory fault (KFD keeps
 * the process's queues there evicted): the work on it must move. */
static bool gone(const plan *p, size_t i)
{
    const rochp_device_info *d = &p->devices[i];
    return d->state != ROCHP_DEVICE_PRESENT || !d->hsa_agent || p->faulted[i];
}

static bool is_lost(const plan *p, rochp_device_id id)
{
    size_t i = plan_device_index(p, id);
    return i != SIZE_MAX && gone(p, i);
}

static bool is_excluded(const plan *p, rochp_device_id id)
{
    for (size_t i = 0; i < p->n_excluded; i++)
        if (p->excluded[i] == id)
            return true;
    return false;
}

/* With ctx->managed->buffer_lock held: bytes of buffers on a device. */
static uint64_t load_of(rochp_context *ctx, rochp_device_id id)
{
    ROCHP_ASSERT_HELD(&ctx->managed->buffer_lock);
    uint64_t bytes = 0;
    for (size_t i = 0; i < ctx->managed->n_buffers; i++)
        if (ctx->managed->buffers[i]->device == id && ctx->managed->buffers[i]->address)
            bytes += ctx->managed->buffers[i]->size;
    return bytes;
}

/* Under ROCHP_TARGET_CRIU: may device to take lost's work?  why gets the
 * first difference seen (for the message when none can). */
static bool criu_compatible(rochp_context *ctx, rochp_device_id lost, rochp_device_id to,
                            char *why, size_t why_size)
{
    pthread_mutex_lock(&ctx->lock);
    bool ok = true;
    const device_entry *l = registry_find(ctx, lost), *t = registry_find(ctx, to);
    if (ctx->resilience->target_rule == ROCHP_TARGET_CRIU && l && t) {
        const criu_props *lc = resilience_criu_props(ctx, lost), *tc = resilience_criu_props(ctx, to);
        if (!lc || !tc) {
            ok = false;
            snprintf(why, why_size, "device %llu's properties were never read",
                     (unsigned long long)(lc ? to : lost));
        }
        for (int i = 0; i < CRIU_EQUAL_PROPS && ok; i++)
            if (lc->equal[i] != tc->equal[i]) {
                ok = false;
                snprintf(why, why_size, "device %llu has %s %llu, not %llu",
                         (unsigned long long)to, criu_equal_keys[i],
                         (unsigned long long)tc->equal[i], (unsigned long long)lc->equal[i]);
            }
        for (int i = 0; i < CRIU_AT_LEAST_PROPS && ok; i++)
            if (tc->at_least[i] < lc->at_least[i]) {
                ok = false;
                snprintf(why, why_size, "device %llu has %s %llu, older than %llu",
                         (unsigned long long)to, criu_at_least_keys[i],
                         (unsigned long long)tc->at_least[i], (unsigned long long)lc->at_least[i]);
            }
        if (ok && t->info.vram_bytes < l->info.vram_bytes) {
            ok = false;
            snprintf(why, why_size, "device %llu has less VRAM", (unsigned long long)to);
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    return ok;
}

typedef struct candidate {
    rochp_device_info info;
    uint64_t load;
} candidate;

static int by_load(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    return (x->load > y->load) - (x->load < y->load);
}

/* The present GPUs of the lost one's gfx target, least loaded first; the
 * application's callback picks among them if it set one, else the first. */
static rochp_status choose_target(plan *p, size_t lost)
{
    rochp_context *ctx = p->ctx;
    const rochp_device_info *l = &p->devices[lost];
    candidate *c = calloc(p->n_devices + 1, sizeof *c);
    rochp_device_info *infos = calloc(p->n_devices + 1, sizeof *infos);
    if (!c || !infos) {
        free(c);
        free(infos);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    }
    size_t n = 0;
    char why[160] = "";
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < p->n_devices; i++) {
        const rochp_device_info *d = &p->devices[i];
        if (gone(p, i) || is_excluded(p, d->id) || strcmp(d->gfx_target, l->gfx_target) != 0)
            continue;
        c[n].info = *d;
        c[n++].load = load_of(ctx, d->id) + p->target_bytes[i];
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    /* The rule reads the registry (ctx->lock, never with buffer_lock). */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (criu_compatible(ctx, l->id, c[i].info.id, why, sizeof why))
            c[kept++] = c[i];
    n = kept;
    qsort(c, n, sizeof *c, by_load);
    for (size_t i = 0; i < n; i++)
        infos[i] = c[i].info;
    rochp_device_id best = n ? c[0].info.id : 0;
    rochp_status st = ROCHP_OK;
    pthread_mutex_lock(&ctx->lock);
    rochp_target_fn fn = ctx->resilience->target_fn;
    void *user = ctx->resilience->target_user;
    pthread_mutex_unlock(&ctx->lock);
    if (!n) {
        st = rochp__set_errorf(ROCHP_ERROR_NO_TARGET,
                              "rochp_recover: device %llu (%s, %s) was lost and no present "
                              "device has its gfx target to take its work%s%s%s",
                              (unsigned long long)l->id, l->pci, l->gfx_target,
                              why[0] ? " under the CRIU rule: " : "", why,
                              p->n_excluded ? " (devices that failed as targets during this "
                                              "recovery are left out)"
                                            : "");
    } else if (fn) {
        best = fn(ctx, l, infos, n, user);
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed |= infos[i].id == best;
        if (!listed)
            st = rochp__set_errorf(ROCHP_ERROR_NO_TARGET,
                                  "rochp_recover: the application's target callback %s for lost "
                                  "device %llu (%s)",
                                  best ? "chose a device that is not a candidate" : "refused",
                                  (unsigned long long)l->id, l->pci);
    }
    free(c);
    free(infos);
    if (st == ROCHP_OK)
        p->targets[lost] = best;
    return st;
}

rochp_status rochp_set_recovery_rule(rochp_context *ctx, rochp_target_rule rule)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_set_recovery_rule");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (rule != ROCHP_TARGET_SAME_GFX && rule != ROCHP_TARGET_CRIU)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_set_recovery_rule: unknown rule %d", (int)rule);
    pthread_mutex_lock(&ctx->lock);
    ctx->resilience->target_rule = rule;
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

rochp_status rochp_set_recovery_target(rochp_context *ctx, rochp_target_fn fn, void *user)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_set_recovery_target");
    if (hst_ != ROCHP_OK)
        return hst_;
    pthread_mutex_lock(&ctx->lock);
    ctx->resilience->target_fn = fn;
    ctx->resilience->target_user = user;
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

rochp_status plan_devices(plan *p)
{
    rochp_context *ctx = p->ctx;
    size_t n = 0;
    rochp_status st = rochp_device_list(ctx, NULL, 0, &n);
    if (st != ROCHP_OK)
        return st;
    p->devices = calloc(n + 1, sizeof *p->devices);
    p->targets = calloc(n + 1, sizeof *p->targets);
    p->target_bytes = calloc(n + 1, sizeof *p->target_bytes);
    if (!p->devices || !p->targets || !p->target_bytes)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    p->faulted = calloc(n + 1, sizeof *p->faulted);
    if (!p->faulted)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    st = rochp_device_list(ctx, p->devices, n, &p->n_devices);
    if (p->n_devices > n)
        p->n_devices = n;
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < p->n_devices; i++) {
        const device_entry *d = registry_find(ctx, p->devices[i].id);
        p->faulted[i] = d && d->fault[0];
    }
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

rochp_status plan_targets(plan *p, bool *any)
{
    rochp_context *ctx = p->ctx;
    *any = false;
    for (size_t i = 0; i < p->n_devices; i++) {
        if (!gone(p, i))
            continue;
        bool owns = false;
        pthread_mutex_lock(&ctx->lock);
        for (rochp_queue *q = ctx->managed->queues; q && !owns; q = q->next)
            owns = q->device == p->devices[i].id;
        pthread_mutex_unlock(&ctx->lock);
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        owns |= load_of(ctx, p->devices[i].id) > 0;
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
        if (!owns)
            continue;
        *any = true;
        rochp_status st = choose_target(p, i);
        if (st != ROCHP_OK)
            return st;
        pthread_mutex_lock(&ctx->managed->buffer_lock);
        p->target_bytes[plan_device_index(p, p->targets[i])] += load_of(ctx, p->devices[i].id);
        pthread_mutex_unlock(&ctx->managed->buffer_lock);
    }
    return ROCHP_OK;
}

/* The buffer conditions: shadows for a lost device's, no unjournaled writes. */
static rochp_status check_buffers(plan *p)
{
    rochp_context *ctx = p->ctx;
    rochp_status st = ROCHP_OK;
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < ctx->managed->n_buffers && st == ROCHP_OK; i++) {
        rochp_buffer *b = ctx->managed->buffers[i];
        if (!b->address)
            continue;
        if (b->written_by_call)
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: buffer %llu (%zu bytes, device %llu) was "
                                  "written by a copy or write call since the last checkpoint, "
                                  "which no journal can replay (checkpoint after such writes)",
                                  (unsigned long long)b->id, b->size,
                                  (unsigned long long)b->device);
        else if (b->registered && b->device != ROCHP_HOST && is_lost(p, b->device) &&
                 !ctx->managed->allocator.alloc)
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: buffer %llu (%zu bytes) of lost device %llu is "
                                  "the application's memory (rochp_buffer_register) and the "
                                  "context has no allocator to make it again on a target "
                                  "(rochp_set_allocator)",
                                  (unsigned long long)b->id, b->size,
                                  (unsigned long long)b->device);
        else if (b->device != ROCHP_HOST && is_lost(p, b->device) && !b->shadow.host)
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: buffer %llu (%zu bytes) of lost device %llu was "
                                  "made after the last checkpoint: there is no copy of it",
                                  (unsigned long long)b->id, b->size,
                                  (unsigned long long)b->device);
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return st;
}

/* The queue conditions: every packet since the checkpoint is in a journal. */
static rochp_status check_queues(plan *p)
{
    rochp_context *ctx = p->ctx;
    rochp_status st = ROCHP_OK;
    pthread_mutex_lock(&ctx->lock);
    if (ctx->managed->retired_packets)
        st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                              "rochp_recover: queues destroyed since the last checkpoint had run "
                              "%llu packets, which no journal holds any more (checkpoint before "
                              "destroying a queue)",
                              (unsigned long long)ctx->managed->retired_packets);
    for (rochp_queue *q = ctx->managed->queues; q && st == ROCHP_OK; q = q->next) {
        const struct rochp_queue_ring *r = &q->ring;
        uint64_t next = queue_next_index(q);
        if (!r->journal && next - q->checkpoint_index != atomic_load(&q->voided))
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: plain queue %llu on device %llu ran %llu "
                                  "packets since the last checkpoint; a plain queue keeps no "
                                  "record to replay (use a journaled queue)",
                                  (unsigned long long)q->id, (unsigned long long)q->device,
                                  (unsigned long long)(next - q->checkpoint_index -
                                                       atomic_load(&q->voided)));
        else if (r->journal && r->journal_start != q->checkpoint_index)
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: the journal of queue %llu was truncated "
                                  "(rochp_queue_journal_truncate) since the last checkpoint: "
                                  "the packets before the truncation cannot be replayed",
                                  (unsigned long long)q->id);
        else if (r->journal && next != r->journal_start && !r->kernargs)
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: the journal of queue %llu on device %llu lost "
                                  "its arguments with an earlier runtime (re-enumeration)",
                                  (unsigned long long)q->id, (unsigned long long)q->device);
    }
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

rochp_status plan_check(plan *p)
{
    rochp_context *ctx = p->ctx;
    pthread_mutex_lock(&ctx->lock);
    bool have_checkpoint = ctx->resilience->checkpoints > 0;
    pthread_mutex_unlock(&ctx->lock);
    if (!have_checkpoint)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_recover: a device with managed work was lost and there "
                                "is no checkpoint to recover from (rochp_checkpoint)");
    rochp_status st = check_buffers(p);
    return st == ROCHP_OK ? check_queues(p) : st;
}

rochp_status plan_queues(plan *p)
{
    rochp_context *ctx = p->ctx;
    pthread_mutex_lock(&ctx->lock);
    size_t n = 0;
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        n++;
    p->queues = calloc(n + 1, sizeof *p->queues);
    if (p->queues)
        for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
            p->queues[p->n_queues++].q = q;
    pthread_mutex_unlock(&ctx->lock);
    if (!p->queues)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    for (size_t i = 0; i < p->n_queues; i++) {
        queue_plan *qp = &p->queues[i];
        rochp_queue *q = qp->q;
        struct rochp_queue_ring *r = &q->ring;
        /* A plain queue ran nothing since (checked): its ids go on after
         * the failed reservations' (never reused: a completion handle names
         * one packet), which count as done. */
        uint64_t next = queue_next_index(q);
        uint64_t from = r->journal ? r->journal_start : next;
        size_t di = plan_device_index(p, q->device);
        qp->device = di != SIZE_MAX && p->targets[di] ? p->targets[di] : q->device;
        qp->first_id = from + r->id_offset;
        qp->n = next - from;
        qp->entries = calloc(qp->n + 1, sizeof *qp->entries);
        if (!qp->entries)
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
        for (uint64_t k = 0; k < qp->n; k++) {
            uint64_t slot = (from + k) & r->slot_mask;
            saved_entry *se = &qp->entries[k];
            se->e = r->journal[slot];
            if (se->e.kind == ROCHP_JOURNAL_VOID || se->e.kind == ROCHP_JOURNAL_BARRIER)
                continue;
            if (se->e.kind != ROCHP_JOURNAL_DISPATCH)
                return rochp__set_errorf(ROCHP_ERROR_MALFORMED,
                                        "rochp_recover: entry %llu of queue %llu's journal is of "
                                        "kind %u (the journal's memory was overwritten)",
                                        (unsigned long long)k, (unsigned long long)q->id,
                                        se->e.kind);
            if (!se->e.kernel || !handle_live(se->e.kernel, HANDLE_KERNEL))
                return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                        "rochp_recover: entry %llu of queue %llu's journal "
                                        "dispatches a kernel whose module was freed",
                                        (unsigned long long)k, (unsigned long long)q->id);
            se->args = malloc(se->e.args_size + 1);
            if (!se->args)
                return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
            memcpy(se->args, r->kernargs + (slot << r->kernarg_shift), se->e.args_size);
        }
        rochp_status st = managed_device_agent(ctx, qp->device, &qp->agent);
        if (st != ROCHP_OK)
            return st;
    }
    return ROCHP_OK;
}

/* With ctx->managed->buffer_lock held: buffers touched by the saved journals. */
static void mark_touched(plan *p)
{
    ROCHP_ASSERT_HELD(&p->ctx->managed->buffer_lock);
    for (size_t i = 0; i < p->n_queues; i++)
        for (uint64_t k = 0; k < p->queues[i].n; k++) {
            const saved_entry *se = &p->queues[i].entries[k];
            if (se->e.kind == ROCHP_JOURNAL_DISPATCH)
                dirty_mark_dispatch(p->ctx, &se->e, se->args);
        }
}

rochp_status plan_moves(plan *p)
{
    rochp_context *ctx = p->ctx;
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    mark_touched(p);
    p->moves = calloc(ctx->managed->n_buffers + 1, sizeof *p->moves);
    rochp_status st = p->moves ? ROCHP_OK
                               : rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                                  "rochp_recover: out of memory");
    for (size_t i = 0; i < ctx->managed->n_buffers && st == ROCHP_OK; i++) {
        rochp_buffer *b = ctx->managed->buffers[i];
        if (!b->address)
            continue;
        bool migrate = b->device != ROCHP_HOST && is_lost(p, b->device);
        if (!migrate && !b->dirty && !b->copy_always)
            continue;
        if (!b->shadow.host) {
            st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: buffer %llu (%zu bytes, device %llu), made "
                                  "after the last checkpoint, was written by the work to "
                                  "replay: there is nothing to roll it back to",
                                  (unsigned long long)b->id, b->size,
                                  (unsigned long long)b->device);
            break;
        }
        move *m = &p->moves[p->n_moves++];
        m->b = b;
        m->migrate = migrate;
        m->old_address = b->address;
        m->from = b->device;
        if (migrate)
            m->target = p->targets[plan_device_index(p, b->device)];
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return st;
}

void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n_queues; i++) {
        for (uint64_t k = 0; k < p->queues[i].n && p->queues[i].entries; k++)
            free(p->queues[i].entries[k].args);
        free(p->queues[i].entries);
    }
    free(p->objects);
    free(p->queues);
    free(p->moves);
    free(p->devices);
    free(p->faulted);
    free(p->targets);
    free(p->target_bytes);
}

