/* Recovery: the context's work goes back to the last checkpoint and is
 * replayed, with a lost device's share moved to a compatible one.
 *
 * Steps (rochp_recover, where the application does not dispatch or write
 * buffers, as for a checkpoint):
 *   1. check that it can be done, changing nothing if not: a checkpoint
 *      exists; every buffer of a lost device has a shadow; no buffer was
 *      written by a copy or write call since the checkpoint (not journaled);
 *      no plain queue ran since it (no record); each lost device has a
 *      target: a present GPU of the same gfx target (the CRIU amdgpu rule
 *      starts there), the one holding the fewest buffer bytes, or the one
 *      the application's callback picks among those;
 *   2. keep each journal's packets since the checkpoint, with their
 *      argument bytes, and give every queue's runtime objects back (the
 *      lost device's never complete; the others' packets must not run on
 *      while buffers roll back);
 *   3. buffers: a lost device's get new memory on its target, filled from
 *      their shadows; the others that the journaled work may have written
 *      (argument metadata, as the checkpoint decides) are rolled back from
 *      theirs; copies from different devices run at once;
 *   4. every queue gets new runtime objects (on the target for a lost
 *      device's), its ids going on from where the checkpoint left them, and
 *      the journals are submitted again, round robin so that no queue waits
 *      for room behind a barrier on another queue's packet not yet
 *      resubmitted; pointer arguments into moved buffers are relocated by
 *      the kernels' metadata;
 *   5. events: migrated per lost device, then recovered.
 * Completion handles taken before stay valid: the same packets get the same
 * ids.  Buffers of a lost device have new addresses (rochp_buffer_address);
 * pointers into them an application kept are stale.
 *
 * Locks: the runtime gate (read) and ctx->checkpoint_lock throughout, as a
 * checkpoint; ctx->buffer_lock and ctx->lock only in short sections. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compute/compute.h"

#define RECOVER_SLICE_NS (100ull * 1000 * 1000)

typedef struct saved_entry {
    rochp_journal_entry e;
    uint8_t *args; /* e.args_size bytes, dispatches only */
} saved_entry;

typedef struct queue_plan {
    rochp_queue *q;
    rochp_device_id device; /* where it is rebuilt */
    uint64_t agent;
    uint64_t first_id;      /* the checkpoint's: ids go on from there */
    saved_entry *entries;
    uint64_t n, next;       /* saved, resubmitted */
    rochp_dispatch_kernel *bound; /* per entry, filled at replay */
} queue_plan;

typedef struct move {
    rochp_buffer *b;
    bool migrate;           /* to target (else a rollback in place) */
    rochp_device_id from;
    rochp_device_id target;
    uint64_t target_agent;
    void *old_address;
    void *new_address;
    hsa_signal_t done;
} move;

typedef struct plan {
    rochp_context *ctx;
    rochp_device_info *devices;
    size_t n_devices;
    rochp_device_id *targets; /* per device index: 0 or where its work goes */
    uint64_t *target_bytes;   /* per device index: bytes moved there */
    queue_plan *queues;
    size_t n_queues;
    move *moves;
    size_t n_moves;
} plan;

/* --- planning ---------------------------------------------------------------------------------- */
static size_t device_index(const plan *p, rochp_device_id id)
{
    for (size_t i = 0; i < p->n_devices; i++)
        if (p->devices[i].id == id)
            return i;
    return SIZE_MAX;
}

static bool is_lost(const plan *p, rochp_device_id id)
{
    size_t i = device_index(p, id);
    return i != SIZE_MAX && p->devices[i].state != ROCHP_DEVICE_PRESENT;
}

/* With ctx->buffer_lock held: bytes of buffers on a device. */
static uint64_t load_of(rochp_context *ctx, rochp_device_id id)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < ctx->n_buffers; i++)
        if (ctx->buffers[i]->device == id && ctx->buffers[i]->address)
            bytes += ctx->buffers[i]->size;
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
    if (ctx->target_rule == ROCHP_TARGET_CRIU && l && t) {
        for (int i = 0; i < CRIU_EQUAL_PROPS && ok; i++)
            if (l->criu_equal[i] != t->criu_equal[i]) {
                ok = false;
                snprintf(why, why_size, "device %llu has %s %llu, not %llu",
                         (unsigned long long)to, criu_equal_keys[i],
                         (unsigned long long)t->criu_equal[i],
                         (unsigned long long)l->criu_equal[i]);
            }
        for (int i = 0; i < CRIU_AT_LEAST_PROPS && ok; i++)
            if (t->criu_at_least[i] < l->criu_at_least[i]) {
                ok = false;
                snprintf(why, why_size, "device %llu has %s %llu, older than %llu",
                         (unsigned long long)to, criu_at_least_keys[i],
                         (unsigned long long)t->criu_at_least[i],
                         (unsigned long long)l->criu_at_least[i]);
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
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    }
    size_t n = 0;
    char why[160] = "";
    pthread_mutex_lock(&ctx->buffer_lock);
    for (size_t i = 0; i < p->n_devices; i++) {
        const rochp_device_info *d = &p->devices[i];
        if (d->state != ROCHP_DEVICE_PRESENT || !d->hsa_agent ||
            strcmp(d->gfx_target, l->gfx_target) != 0)
            continue;
        c[n].info = *d;
        c[n++].load = load_of(ctx, d->id) + p->target_bytes[i];
    }
    pthread_mutex_unlock(&ctx->buffer_lock);
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
    rochp_target_fn fn = ctx->target_fn;
    void *user = ctx->target_user;
    pthread_mutex_unlock(&ctx->lock);
    if (!n) {
        st = rochp_set_errorf(ROCHP_ERROR_NO_TARGET,
                              "rochp_recover: device %llu (%s, %s) was lost and no present "
                              "device has its gfx target to take its work%s%s",
                              (unsigned long long)l->id, l->pci, l->gfx_target,
                              why[0] ? " under the CRIU rule: " : "", why);
    } else if (fn) {
        best = fn(ctx, l, infos, n, user);
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed |= infos[i].id == best;
        if (!listed)
            st = rochp_set_errorf(ROCHP_ERROR_NO_TARGET,
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
    if (!ctx || (rule != ROCHP_TARGET_SAME_GFX && rule != ROCHP_TARGET_CRIU))
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_set_recovery_rule: NULL ctx or unknown rule %d", (int)rule);
    pthread_mutex_lock(&ctx->lock);
    ctx->target_rule = rule;
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

rochp_status rochp_set_recovery_target(rochp_context *ctx, rochp_target_fn fn, void *user)
{
    if (!ctx)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_set_recovery_target: ctx is NULL");
    pthread_mutex_lock(&ctx->lock);
    ctx->target_fn = fn;
    ctx->target_user = user;
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

static rochp_status plan_devices(plan *p)
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
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    st = rochp_device_list(ctx, p->devices, n, &p->n_devices);
    if (p->n_devices > n)
        p->n_devices = n;
    return st;
}

/* Which devices lost managed work, and where it goes. */
static rochp_status plan_targets(plan *p, bool *any)
{
    rochp_context *ctx = p->ctx;
    *any = false;
    for (size_t i = 0; i < p->n_devices; i++) {
        if (p->devices[i].state == ROCHP_DEVICE_PRESENT)
            continue;
        bool owns = false;
        pthread_mutex_lock(&ctx->lock);
        for (rochp_queue *q = ctx->queues; q && !owns; q = q->next)
            owns = q->device == p->devices[i].id;
        pthread_mutex_unlock(&ctx->lock);
        pthread_mutex_lock(&ctx->buffer_lock);
        owns |= load_of(ctx, p->devices[i].id) > 0;
        pthread_mutex_unlock(&ctx->buffer_lock);
        if (!owns)
            continue;
        *any = true;
        rochp_status st = choose_target(p, i);
        if (st != ROCHP_OK)
            return st;
        pthread_mutex_lock(&ctx->buffer_lock);
        p->target_bytes[device_index(p, p->targets[i])] += load_of(ctx, p->devices[i].id);
        pthread_mutex_unlock(&ctx->buffer_lock);
    }
    return ROCHP_OK;
}

/* The buffer conditions: shadows for a lost device's, no unjournaled writes. */
static rochp_status plan_buffers_check(plan *p)
{
    rochp_context *ctx = p->ctx;
    rochp_status st = ROCHP_OK;
    pthread_mutex_lock(&ctx->buffer_lock);
    for (size_t i = 0; i < ctx->n_buffers && st == ROCHP_OK; i++) {
        rochp_buffer *b = ctx->buffers[i];
        if (!b->address)
            continue;
        if (b->written_by_call)
            st = rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: a %zu-byte buffer on device %llu was written by "
                                  "a copy or write call since the last checkpoint, which no "
                                  "journal can replay (checkpoint after such writes)",
                                  b->size, (unsigned long long)b->device);
        else if (b->device != ROCHP_HOST && is_lost(p, b->device) && !b->shadow.host)
            st = rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: a %zu-byte buffer of lost device %llu was made "
                                  "after the last checkpoint: there is no copy of it",
                                  b->size, (unsigned long long)b->device);
    }
    pthread_mutex_unlock(&ctx->buffer_lock);
    return st;
}

/* Each queue's journal since the checkpoint, saved with argument bytes. */
static rochp_status plan_queues(plan *p)
{
    rochp_context *ctx = p->ctx;
    pthread_mutex_lock(&ctx->lock);
    size_t n = 0;
    for (rochp_queue *q = ctx->queues; q; q = q->next)
        n++;
    p->queues = calloc(n + 1, sizeof *p->queues);
    if (p->queues)
        for (rochp_queue *q = ctx->queues; q; q = q->next)
            p->queues[p->n_queues++].q = q;
    pthread_mutex_unlock(&ctx->lock);
    if (!p->queues)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    for (size_t i = 0; i < p->n_queues; i++) {
        queue_plan *qp = &p->queues[i];
        rochp_queue *q = qp->q;
        struct rochp_queue_ring *r = &q->ring;
        uint64_t next = queue_next_index(q);
        uint64_t from = r->journal ? __atomic_load_n(&r->journal_start, __ATOMIC_RELAXED)
                                   : q->checkpoint_index;
        if (!r->journal && next != q->checkpoint_index)
            return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                    "rochp_recover: a plain queue on device %llu ran %llu packets "
                                    "since the last checkpoint; a plain queue keeps no record to "
                                    "replay (use a journaled queue)",
                                    (unsigned long long)q->device,
                                    (unsigned long long)(next - q->checkpoint_index));
        if (r->journal && next != from && !r->kernargs)
            return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                    "rochp_recover: the journal of a queue on device %llu lost its "
                                    "arguments with an earlier runtime (re-enumeration)",
                                    (unsigned long long)q->device);
        size_t di = device_index(p, q->device);
        qp->device = di != SIZE_MAX && p->targets[di] ? p->targets[di] : q->device;
        qp->first_id = from + r->id_offset;
        qp->n = next - from;
        qp->entries = calloc(qp->n + 1, sizeof *qp->entries);
        qp->bound = calloc(qp->n + 1, sizeof *qp->bound);
        if (!qp->entries || !qp->bound)
            return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
        for (uint64_t k = 0; k < qp->n; k++) {
            uint64_t slot = (from + k) & r->slot_mask;
            saved_entry *se = &qp->entries[k];
            se->e = r->journal[slot];
            if (se->e.kind != ROCHP_JOURNAL_DISPATCH)
                continue;
            se->args = malloc(se->e.args_size + 1);
            if (!se->args)
                return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
            memcpy(se->args, r->kernargs + (slot << r->kernarg_shift), se->e.args_size);
        }
        rochp_status st = compute_device_agent(ctx, qp->device, &qp->agent);
        if (st != ROCHP_OK)
            return st;
    }
    return ROCHP_OK;
}

/* --- buffers ----------------------------------------------------------------------------------- */
/* With ctx->buffer_lock held: buffers touched by the saved journals. */
static void mark_touched(plan *p)
{
    for (size_t i = 0; i < p->n_queues; i++)
        for (uint64_t k = 0; k < p->queues[i].n; k++) {
            const saved_entry *se = &p->queues[i].entries[k];
            if (se->e.kind == ROCHP_JOURNAL_DISPATCH)
                checkpoint_mark_dispatch(p->ctx, &se->e, se->args);
        }
}

static rochp_status plan_moves(plan *p)
{
    rochp_context *ctx = p->ctx;
    pthread_mutex_lock(&ctx->buffer_lock);
    mark_touched(p);
    p->moves = calloc(ctx->n_buffers + 1, sizeof *p->moves);
    rochp_status st = p->moves ? ROCHP_OK
                               : rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                                  "rochp_recover: out of memory");
    for (size_t i = 0; i < ctx->n_buffers && st == ROCHP_OK; i++) {
        rochp_buffer *b = ctx->buffers[i];
        if (!b->address)
            continue;
        bool migrate = b->device != ROCHP_HOST && is_lost(p, b->device);
        if (!migrate && !b->dirty)
            continue;
        if (!b->shadow.host) {
            st = rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                  "rochp_recover: a %zu-byte buffer on device %llu, made after "
                                  "the last checkpoint, was written by the work to replay: "
                                  "there is nothing to roll it back to",
                                  b->size, (unsigned long long)b->device);
            break;
        }
        move *m = &p->moves[p->n_moves++];
        m->b = b;
        m->migrate = migrate;
        m->old_address = b->address;
        m->from = b->device;
        if (migrate)
            m->target = p->targets[device_index(p, b->device)];
    }
    pthread_mutex_unlock(&ctx->buffer_lock);
    return st;
}

static rochp_status run_moves(plan *p, rochp_recovery_report *report)
{
    rochp_context *ctx = p->ctx;
    uint64_t cpu = compute_cpu_agent(ctx);
    rochp_status st = ROCHP_OK;
    for (size_t i = 0; i < p->n_moves && st == ROCHP_OK; i++) {
        move *m = &p->moves[i];
        rochp_buffer *b = m->b;
        void *dst = b->address;
        uint64_t dst_agent = b->agent;
        if (m->migrate) {
            st = compute_pool_memory(ctx, m->target, false, b->size, &m->new_address,
                                     &m->target_agent);
            if (st != ROCHP_OK)
                break;
            dst = m->new_address;
            dst_agent = m->target_agent;
        }
        if (b->device == ROCHP_HOST && !m->migrate) {
            memcpy(dst, b->shadow.host, b->size);
        } else {
            st = shadow_copy_out(ctx, &b->shadow, dst, dst_agent, cpu, &m->done);
        }
    }
    /* Every started copy is waited for, so none outlives the plan. */
    for (size_t i = 0; i < p->n_moves; i++) {
        move *m = &p->moves[i];
        if (!m->done.handle)
            continue;
        while (ctx->hsa.signal_wait_scacquire(m->done, HSA_SIGNAL_CONDITION_EQ, 0,
                                              RECOVER_SLICE_NS, HSA_WAIT_STATE_BLOCKED) != 0) {
            rochp_device_info info;
            rochp_device_id dev = m->migrate ? m->target : m->b->device;
            if (rochp_device_get(ctx, dev, &info) != ROCHP_OK ||
                info.state != ROCHP_DEVICE_PRESENT) {
                st = rochp_set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                      "rochp_recover: device %llu was lost too while buffers "
                                      "were restored onto it",
                                      (unsigned long long)dev);
                m->done.handle = 0; /* the engine may still hold it: left to the runtime */
                break;
            }
        }
        if (m->done.handle)
            ctx->hsa.signal_destroy(m->done);
        m->done.handle = 0;
    }
    if (st != ROCHP_OK) {
        /* The buffers stay where they were (lost): their new memory goes. */
        for (size_t i = 0; i < p->n_moves; i++)
            if (p->moves[i].new_address)
                ctx->hsa.amd_memory_pool_free(p->moves[i].new_address);
        return st;
    }
    /* The moved buffers live on their targets from now on (the registry is
     * sorted by address: re-sorted). */
    pthread_mutex_lock(&ctx->buffer_lock);
    for (size_t i = 0; i < p->n_moves; i++) {
        move *m = &p->moves[i];
        m->b->dirty = true; /* the replay writes it again */
        if (m->migrate) {
            m->b->address = m->new_address;
            m->b->device = m->target;
            m->b->agent = m->target_agent;
            report->buffers_moved++;
            report->bytes_moved += m->b->size;
        } else {
            report->buffers_rolled_back++;
            report->bytes_rolled_back += m->b->size;
        }
    }
    for (size_t i = 1; i < ctx->n_buffers; i++)
        for (size_t j = i; j > 0 && (uintptr_t)ctx->buffers[j - 1]->address >
                                        (uintptr_t)ctx->buffers[j]->address;
             j--) {
            rochp_buffer *t = ctx->buffers[j];
            ctx->buffers[j] = ctx->buffers[j - 1];
            ctx->buffers[j - 1] = t;
        }
    pthread_mutex_unlock(&ctx->buffer_lock);
    for (size_t i = 0; i < p->n_moves; i++)
        if (p->moves[i].migrate)
            ctx->hsa.amd_memory_pool_free(p->moves[i].old_address); /* a lost device's */
    return ROCHP_OK;
}

/* --- replay ---------------------------------------------------------------------------------- */
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

/* Resubmits one saved packet if the queue has room; false: no room now. */
static rochp_status replay_one(plan *p, queue_plan *qp, bool *submitted)
{
    rochp_queue *q = qp->q;
    struct rochp_queue_ring *r = &q->ring;
    *submitted = false;
    uint64_t w = queue_next_index(q);
    if (w - (rochp__completed(r) - r->id_offset) > r->mask)
        return ROCHP_OK;
    saved_entry *se = &qp->entries[qp->next];
    rochp_status st;
    if (se->e.kind == ROCHP_JOURNAL_DISPATCH) {
        rochp_dispatch_kernel *k = &qp->bound[qp->next];
        st = compute_kernel_bind(se->e.kernel, q, k);
        if (st != ROCHP_OK)
            return st;
        relocate(p, se, se->args);
        st = rochp__dispatch(r, r->journal != NULL, k, &se->e.launch, se->args, se->e.args_size,
                             NULL);
    } else if (se->e.kind == ROCHP_JOURNAL_BARRIER) {
        rochp_completion dep = {se->e.dep_queue, se->e.dep_id};
        st = rochp_dispatch_barrier(q, &dep, NULL);
    } else {
        st = rochp_set_errorf(ROCHP_ERROR_MALFORMED,
                              "rochp_recover: journal entry of kind %u", se->e.kind);
    }
    if (st == ROCHP_OK) {
        qp->next++;
        *submitted = true;
    }
    return st;
}

static rochp_status rebuild_and_replay(plan *p, uint64_t timeout_ns, uint64_t *packets)
{
    rochp_status st = ROCHP_OK;
    for (size_t i = 0; i < p->n_queues && st == ROCHP_OK; i++) {
        queue_plan *qp = &p->queues[i];
        st = queue_attach(qp->q, qp->device, qp->agent, qp->first_id);
    }
    uint64_t start = rochp_now_ns();
    for (bool left = true; left && st == ROCHP_OK;) {
        left = false;
        bool progress = false;
        for (size_t i = 0; i < p->n_queues && st == ROCHP_OK; i++) {
            queue_plan *qp = &p->queues[i];
            bool submitted = true;
            while (qp->next < qp->n && submitted && st == ROCHP_OK) {
                st = replay_one(p, qp, &submitted);
                progress |= submitted;
                *packets += submitted;
            }
            left |= qp->next < qp->n;
        }
        if (left && !progress) {
            if (rochp_now_ns() - start > timeout_ns)
                st = rochp_set_errorf(ROCHP_ERROR_TIMEOUT,
                                      "rochp_recover: the replayed work made no progress for %llu "
                                      "ns",
                                      (unsigned long long)timeout_ns);
            sched_yield(); /* the queues drain meanwhile */
        }
    }
    return st;
}

/* --- the recovery ------------------------------------------------------------------------------- */
static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n_queues; i++) {
        for (uint64_t k = 0; k < p->queues[i].n && p->queues[i].entries; k++)
            free(p->queues[i].entries[k].args);
        free(p->queues[i].entries);
        free(p->queues[i].bound);
    }
    free(p->queues);
    free(p->moves);
    free(p->devices);
    free(p->targets);
    free(p->target_bytes);
}

static void emit(rochp_context *ctx, const plan *p, const rochp_recovery_report *report)
{
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < p->n_devices; i++) {
        if (!p->targets[i])
            continue;
        rochp_event e;
        memset(&e, 0, sizeof e);
        e.type = ROCHP_EVENT_MIGRATED;
        e.device = p->devices[i].id;
        e.info = p->devices[i];
        e.target = p->targets[i];
        for (size_t m = 0; m < p->n_moves; m++)
            if (p->moves[m].migrate && p->moves[m].from == e.device)
                e.bytes += p->moves[m].b->size;
        e.generation = ctx->generation;
        delivery_queue(ctx, &e);
    }
    rochp_event e;
    memset(&e, 0, sizeof e);
    e.type = ROCHP_EVENT_RECOVERED;
    e.bytes = report->bytes_moved + report->bytes_rolled_back;
    e.packets = report->packets_replayed;
    e.duration_ns = report->ns;
    e.generation = ctx->generation;
    delivery_queue(ctx, &e);
    pthread_mutex_unlock(&ctx->lock);
}

static rochp_status recover_gated(rochp_context *ctx, uint64_t timeout_ns,
                                  rochp_recovery_report *report)
{
    uint64_t t0 = rochp_now_ns();
    plan p;
    memset(&p, 0, sizeof p);
    p.ctx = ctx;
    bool any = false;
    pthread_mutex_lock(&ctx->lock);
    bool have_checkpoint = ctx->checkpoints > 0;
    pthread_mutex_unlock(&ctx->lock);
    rochp_status st = plan_devices(&p);
    if (st == ROCHP_OK)
        st = plan_targets(&p, &any);
    if (st == ROCHP_OK && any && !have_checkpoint)
        st = rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                              "rochp_recover: a device with managed work was lost and there is "
                              "no checkpoint to recover from (rochp_checkpoint)");
    if (st == ROCHP_OK && any)
        st = plan_buffers_check(&p);
    if (st == ROCHP_OK && any)
        st = plan_queues(&p);
    if (st == ROCHP_OK && any) {
        /* From here on the context changes. */
        for (size_t i = 0; i < p.n_queues; i++) {
            queue_fail(p.queues[i].q, ROCHP_ERROR_DEVICE_LOST);
            queue_detach(p.queues[i].q);
        }
        st = plan_moves(&p);
        if (st == ROCHP_OK)
            st = run_moves(&p, report);
        if (st == ROCHP_OK)
            st = rebuild_and_replay(&p, timeout_ns, &report->packets_replayed);
        for (size_t i = 0; i < p.n_devices; i++)
            report->devices_lost += p.targets[i] != 0;
        report->queues_rebuilt = p.n_queues;
        report->ns = rochp_now_ns() - t0;
        if (st == ROCHP_OK)
            emit(ctx, &p, report);
    }
    report->ns = rochp_now_ns() - t0;
    plan_free(&p);
    return st;
}

rochp_status rochp_recover(rochp_context *ctx, uint64_t timeout_ns, rochp_recovery_report *report)
{
    if (!ctx)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_recover: ctx is NULL");
    if (!ctx->hsa_up)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_recover: this context has no HSA runtime");
    rochp_recovery_report local;
    memset(&local, 0, sizeof local);
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->checkpoint_lock);
    rochp_status st = recover_gated(ctx, timeout_ns, &local);
    pthread_mutex_unlock(&ctx->checkpoint_lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    if (report)
        *report = local;
    return st;
}
