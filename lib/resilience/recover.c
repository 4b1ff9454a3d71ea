/* Recovery: the context's work goes back to the last checkpoint and is
 * replayed, with a lost device's share moved to a compatible one.
 *
 * rochp_recover runs where the application does not dispatch or write
 * buffers (as a checkpoint), in attempts.  An attempt:
 *   1. plans (recover_plan.c), changing nothing: refuses when the work
 *      cannot be replayed, chooses a target per lost device;
 *   2. builds beside what exists: new runtime objects for every queue (on
 *      its target for a lost device's), new memory on the targets for the
 *      lost devices' buffers filled from their shadows, the kernels loaded
 *      on the targets -- nothing the application sees changes;
 *   3. stops every queue (inactivated: the old packets must not run on
 *      while buffers roll back; the memory stays, so the journals do too),
 *      rolls back in place the buffers the work since the checkpoint may
 *      have written, and replays the journals into the new queues, round
 *      robin so that no queue waits for room behind a barrier on a packet
 *      not yet resubmitted, pointer arguments relocated by the kernels'
 *      metadata;
 *   4. commits: the new queues, buffer addresses and kernel objects become
 *      the context's, the old ones are given back; events migrated (per
 *      lost device) and recovered.
 * A device lost during an attempt (a target, or one whose queues were being
 * rebuilt in place) ends the attempt: what it built is given back, the
 * device is left out, and the next attempt plans again from the journals,
 * which are untouched.  So a recovery either commits whole, or fails with
 * the queues stopped, their journals and the checkpoint intact, the lost
 * devices' buffers where they were and the others' contents undefined
 * until a recovery succeeds -- and rochp_recover may be called again.
 * Completion handles stay valid: the same packets get the same ids.
 *
 * Locks: the runtime gate (read) and ctx->managed->checkpoint_lock throughout, as a
 * checkpoint; ctx->managed->buffer_lock and ctx->lock only in short sections. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resilience/recover.h"

/* Present and taking this process's work (not stopped after a memory fault). */
bool recover_device_present(rochp_context *ctx, rochp_device_id id)
{
    if (id == ROCHP_HOST)
        return true;
    pthread_mutex_lock(&ctx->lock);
    const device_entry *d = registry_find(ctx, id);
    bool present = d && d->info.state == ROCHP_DEVICE_PRESENT && !d->fault[0];
    pthread_mutex_unlock(&ctx->lock);
    return present;
}

bool recover_device_faulted(rochp_context *ctx, rochp_device_id id)
{
    pthread_mutex_lock(&ctx->lock);
    const device_entry *d = registry_find(ctx, id);
    bool faulted = d && d->info.state == ROCHP_DEVICE_PRESENT && d->fault[0];
    pthread_mutex_unlock(&ctx->lock);
    return faulted;
}

/* --- building beside ------------------------------------------------------------------------ */
rochp_status recover_object_for(plan *p, rochp_kernel *kernel, rochp_device_id device,
                               uint64_t *out)
{
    for (size_t i = 0; i < p->n_objects; i++)
        if (p->objects[i].kernel == kernel && p->objects[i].device == device) {
            *out = p->objects[i].object;
            return ROCHP_OK;
        }
    if (p->n_objects == p->cap_objects) {
        size_t cap = p->cap_objects ? p->cap_objects * 2 : 16;
        object_cache_entry *grown = realloc(p->objects, cap * sizeof *grown);
        if (!grown)
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
        p->objects = grown;
        p->cap_objects = cap;
    }
    rochp_status st = managed_kernel_object(kernel, device, out);
    if (st == ROCHP_OK)
        p->objects[p->n_objects++] = (object_cache_entry){kernel, device, *out};
    return st;
}

/* Every queue's new incarnation, and its kernels loaded where it goes. */
static attempt_result build_queues(plan *p)
{
    rochp_context *ctx = p->ctx;
    for (size_t i = 0; i < p->n_queues; i++) {
        queue_plan *qp = &p->queues[i];
        rochp_status st = queue_runtime_create(qp->q, qp->device, qp->agent, qp->first_id,
                                               &qp->ring, &qp->rt);
        if (st != ROCHP_OK)
            return failed_on(recover_device_present(ctx, qp->device) ? st : ROCHP_ERROR_DEVICE_LOST,
                             qp->device);
        /* The bindings' kernels (collected under ctx->lock, loaded without it). */
        pthread_mutex_lock(&ctx->lock);
        size_t n = 0;
        for (binding *b = qp->q->bindings; b; b = b->next)
            n++;
        rochp_kernel **kernels = calloc(n + 1, sizeof *kernels);
        n = 0;
        for (binding *b = qp->q->bindings; b && kernels; b = b->next)
            if (b->pub.kernel)
                kernels[n++] = b->pub.kernel;
        pthread_mutex_unlock(&ctx->lock);
        if (!kernels)
            return failed_on(rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                              "rochp_recover: out of memory"),
                             0);
        uint64_t object;
        for (size_t k = 0; k < n && st == ROCHP_OK; k++)
            st = recover_object_for(p, kernels[k], qp->device, &object);
        free(kernels);
        if (st != ROCHP_OK)
            return failed_on(recover_device_present(ctx, qp->device) ? st : ROCHP_ERROR_DEVICE_LOST,
                             qp->device);
    }
    return (attempt_result){ROCHP_OK, 0};
}

/* Waits for every started copy (so none outlives the plan); the first
 * device lost meanwhile is the culprit. */
static attempt_result wait_moves(plan *p)
{
    rochp_context *ctx = p->ctx;
    attempt_result res = {ROCHP_OK, 0};
    for (size_t i = 0; i < p->n_moves; i++) {
        move *m = &p->moves[i];
        if (!m->done.handle)
            continue;
        rochp_device_id dev = m->migrate ? m->target : m->b->device;
        bool abandoned = false;
        while (!managed_copy_ended(ctx, m->done)) {
            if (!recover_device_present(ctx, dev)) {
                abandoned = true; /* the engine may still hold the signal: the runtime's */
                break;
            }
            managed_copy_nap(ctx, m->done, COPY_LOSS_CHECK_NS);
        }
        if (!abandoned)
            ctx->hsa.signal_destroy(m->done);
        m->done.handle = 0;
        if ((abandoned || !recover_device_present(ctx, dev)) && res.status == ROCHP_OK)
            res = failed_on(rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                             "rochp_recover: device %llu was lost while "
                                             "buffers were restored onto it",
                                             (unsigned long long)dev),
                            dev);
    }
    return res;
}

/* The lost devices' buffers into new memory on their targets. */
static attempt_result build_migrations(plan *p)
{
    rochp_context *ctx = p->ctx;
    uint64_t cpu = managed_cpu_agent(ctx);
    attempt_result res = {ROCHP_OK, 0};
    for (size_t i = 0; i < p->n_moves && res.status == ROCHP_OK; i++) {
        move *m = &p->moves[i];
        if (!m->migrate)
            continue;
        rochp_status st =
            m->b->registered
                ? managed_registered_alloc(ctx, m->b->id, m->target, m->b->size, &m->new_address,
                                           &m->target_agent)
                : managed_pool_memory(ctx, m->target, false, m->b->size, &m->new_address,
                                      &m->target_agent);
        if (st == ROCHP_OK)
            st = shadow_copy_out(ctx, &m->b->shadow, m->new_address, m->target_agent,
                                 m->target, cpu, &m->done);
        if (st != ROCHP_OK)
            res = failed_on(recover_device_present(ctx, m->target) ? st : ROCHP_ERROR_DEVICE_LOST,
                            m->target);
    }
    attempt_result waited = wait_moves(p);
    return res.status == ROCHP_OK ? waited : res;
}

/* --- changing in place ------------------------------------------------------------------------ */
static void stop_queues(plan *p)
{
    for (size_t i = 0; i < p->n_queues; i++)
        queue_stop(p->queues[i].q, ROCHP_ERROR_DEVICE_LOST,
                   "a recovery stopped it and has not finished; call rochp_recover again");
}

static attempt_result roll_back(plan *p)
{
    rochp_context *ctx = p->ctx;
    uint64_t cpu = managed_cpu_agent(ctx);
    attempt_result res = {ROCHP_OK, 0};
    for (size_t i = 0; i < p->n_moves && res.status == ROCHP_OK; i++) {
        move *m = &p->moves[i];
        rochp_buffer *b = m->b;
        if (m->migrate)
            continue;
        if (b->device == ROCHP_HOST) {
            memcpy(b->address, b->shadow.host, b->size);
            continue;
        }
        rochp_status st = recover_device_present(ctx, b->device)
                              ? shadow_copy_out(ctx, &b->shadow, b->address, b->agent,
                                                b->device, cpu, &m->done)
                              : ROCHP_ERROR_DEVICE_LOST;
        if (st != ROCHP_OK)
            res = failed_on(recover_device_present(ctx, b->device) ? st : ROCHP_ERROR_DEVICE_LOST,
                            b->device);
    }
    attempt_result waited = wait_moves(p);
    return res.status == ROCHP_OK ? waited : res;
}

/* --- commit or give back ---------------------------------------------------------------------- */
/* With ctx->lock held: the queue's bindings get their kernels' objects on
 * its new device (0 for a binding made while the recovery ran, which the
 * application promised not to do: it faults rather than run stale code). */
static void rebind(plan *p, queue_plan *qp)
{
    ROCHP_ASSERT_HELD(&p->ctx->lock);
    for (binding *b = qp->q->bindings; b; b = b->next) {
        if (!b->pub.kernel)
            continue;
        uint64_t object = 0;
        for (size_t i = 0; i < p->n_objects; i++)
            if (p->objects[i].kernel == b->pub.kernel && p->objects[i].device == qp->device)
                object = p->objects[i].object;
        b->pub.kernel_object = object;
    }
}

static void commit(plan *p, rochp_recovery_report *report)
{
    rochp_context *ctx = p->ctx;
    queue_runtime **old = calloc(p->n_queues + 1, sizeof *old);
    for (size_t i = 0; i < p->n_queues; i++) {
        queue_plan *qp = &p->queues[i];
        queue_runtime *was = queue_runtime_install(qp->q, qp->device, &qp->ring, qp->rt);
        qp->rt = NULL;
        if (old)
            old[i] = was;
        else
            queue_runtime_destroy(ctx, was);
        pthread_mutex_lock(&ctx->lock);
        rebind(p, qp);
        pthread_mutex_unlock(&ctx->lock);
    }
    /* The moved buffers live on their targets from now on (the registry is
     * sorted by address: re-sorted). */
    pthread_mutex_lock(&ctx->managed->buffer_lock);
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
    for (size_t i = 1; i < ctx->managed->n_buffers; i++)
        for (size_t j = i; j > 0 && (uintptr_t)ctx->managed->buffers[j - 1]->address >
                                        (uintptr_t)ctx->managed->buffers[j]->address;
             j--) {
            rochp_buffer *t = ctx->managed->buffers[j];
            ctx->managed->buffers[j] = ctx->managed->buffers[j - 1];
            ctx->managed->buffers[j - 1] = t;
        }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < p->n_moves; i++)
        if (p->moves[i].migrate) {
            /* A lost device's (registered: given back to the application). */
            if (p->moves[i].b->registered)
                managed_registered_free(ctx, p->moves[i].from, p->moves[i].old_address);
            else
                ctx->hsa.amd_memory_pool_free(p->moves[i].old_address);
            p->moves[i].new_address = NULL;
        }
    for (size_t i = 0; i < p->n_queues && old; i++)
        queue_runtime_destroy(ctx, old[i]);
    free(old);
    report->queues_rebuilt = p->n_queues;
    for (size_t i = 0; i < p->n_devices; i++)
        report->devices_lost += p->targets[i] != 0;
}

/* What an attempt built goes back; the context stays as the attempt left
 * it (queues stopped once it got that far). */
static void give_back(plan *p)
{
    rochp_context *ctx = p->ctx;
    for (size_t i = 0; i < p->n_queues; i++) {
        queue_runtime_destroy(ctx, p->queues[i].rt); /* its packets stop first */
        p->queues[i].rt = NULL;
    }
    for (size_t i = 0; i < p->n_moves; i++)
        if (p->moves[i].new_address) {
            if (p->moves[i].b->registered)
                managed_registered_free(ctx, p->moves[i].target, p->moves[i].new_address);
            else
                ctx->hsa.amd_memory_pool_free(p->moves[i].new_address);
            p->moves[i].new_address = NULL;
        }
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

/* --- the recovery ------------------------------------------------------------------------------ */
/* One attempt; *done when there was nothing to recover. */
static attempt_result attempt(plan *p, uint64_t timeout_ns, rochp_recovery_report *report,
                              bool *nothing)
{
    bool any = false;
    rochp_status st = plan_devices(p);
    if (st == ROCHP_OK)
        st = plan_targets(p, &any);
    *nothing = st == ROCHP_OK && !any;
    if (st != ROCHP_OK || !any)
        return (attempt_result){st, 0};
    if ((st = plan_check(p)) != ROCHP_OK || (st = plan_queues(p)) != ROCHP_OK ||
        (st = plan_moves(p)) != ROCHP_OK)
        return (attempt_result){st, 0};
    attempt_result res = build_queues(p);
    if (res.status == ROCHP_OK)
        res = build_migrations(p);
    if (res.status == ROCHP_OK) {
        /* From here on the context changes. */
        stop_queues(p);
        res = roll_back(p);
    }
    uint64_t packets = 0;
    if (res.status == ROCHP_OK)
        res = recover_replay(p, timeout_ns, &packets);
    if (res.status != ROCHP_OK) {
        give_back(p);
        return res;
    }
    report->packets_replayed = packets;
    commit(p, report);
    return res;
}

/* Recoveries one call commits at most (each moves the work of devices lost
 * until it planned). */
#define MAX_COMMITS 8

static void add_report(rochp_recovery_report *to, const rochp_recovery_report *r)
{
    to->devices_lost += r->devices_lost;
    to->buffers_moved += r->buffers_moved;
    to->bytes_moved += r->bytes_moved;
    to->buffers_rolled_back += r->buffers_rolled_back;
    to->bytes_rolled_back += r->bytes_rolled_back;
    to->queues_rebuilt += r->queues_rebuilt;
    to->packets_replayed += r->packets_replayed;
}

static size_t present_devices(rochp_context *ctx)
{
    size_t n = 0;
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < ctx->n_devices; i++)
        n += ctx->devices[i].info.state == ROCHP_DEVICE_PRESENT;
    pthread_mutex_unlock(&ctx->lock);
    return n;
}

/* What the application may have seen complete on each queue when the
 * recovery started: its packets are replayed, and a read of a buffer after
 * rochp_recover must find their results again, as it did before the loss. */
typedef struct completed_floor {
    rochp_queue *q;
    uint64_t completed;
} completed_floor;

static completed_floor *completed_floors(rochp_context *ctx, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&ctx->lock);
    size_t count = 0;
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        count++;
    completed_floor *f = calloc(count ? count : 1, sizeof *f);
    for (rochp_queue *q = ctx->managed->queues; f && q; q = q->next)
        f[(*n)++] = (completed_floor){q, rochp__completed(&q->ring)};
    pthread_mutex_unlock(&ctx->lock);
    return f;
}

/* Until every queue completed again what it had completed (the queues
 * cannot go meanwhile: their destruction settles under the checkpoint lock,
 * which the recovery holds). */
static rochp_status wait_floors(const completed_floor *f, size_t n, uint64_t deadline_ns)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t now = rochp__now_ns();
        rochp_status st = queue_wait_written(f[i].q, f[i].completed,
                                             deadline_ns > now ? deadline_ns - now : 0);
        if (st != ROCHP_OK) {
            char cause[ROCHP_ERROR_MESSAGE_MAX];
            snprintf(cause, sizeof cause, "%s", rochp_last_error());
            return rochp__set_errorf(st,
                                     "rochp_recover: the work replayed on queue %llu, which had "
                                     "completed %llu packets before the loss, did not complete "
                                     "them again: %s",
                                     (unsigned long long)f[i].q->id,
                                     (unsigned long long)f[i].completed, cause);
        }
    }
    return ROCHP_OK;
}

static rochp_status recover_attempts(rochp_context *ctx, uint64_t timeout_ns, uint64_t t0,
                                     rochp_recovery_report *report,
                                     const completed_floor *floors, size_t n_floors)
{
    rochp_device_id excluded[64];
    size_t n_excluded = 0;
    unsigned moves = 0;
    memset(report, 0, sizeof *report);
    /* What the topology says now: a loss the watcher has not read yet
     * must not be recovered onto. */
    (void)watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
    for (;;) {
        plan p;
        memset(&p, 0, sizeof p);
        p.ctx = ctx;
        p.excluded = excluded;
        p.n_excluded = n_excluded;
        rochp_recovery_report step;
        memset(&step, 0, sizeof step);
        bool nothing = false;
        size_t present = present_devices(ctx);
        attempt_result res = attempt(&p, timeout_ns, &step, &nothing);
        step.ns = rochp__now_ns() - t0;
        if (res.status == ROCHP_OK && !nothing) {
            emit(ctx, &p, &step);
            add_report(report, &step);
        }
        report->ns = rochp__now_ns() - t0;
        plan_free(&p);
        /* A device lost during a recovery that committed, holding work it
         * did not move, gets the next attempt: when this returns OK, no lost
         * device holds managed work. */
        if (res.status == ROCHP_OK && !nothing && ++moves < MAX_COMMITS) {
            (void)watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
            continue;
        }
        /* Recovered (or nothing was lost): what had completed before the
         * loss completes again before this returns.  A device lost under
         * that replay gets one more recovery. */
        if (res.status == ROCHP_OK && moves) {
            res.status = wait_floors(floors, n_floors, t0 + timeout_ns);
            if (res.status == ROCHP_ERROR_DEVICE_LOST && ++moves < MAX_COMMITS) {
                (void)watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
                continue;
            }
        }
        if (res.status != ROCHP_ERROR_DEVICE_LOST ||
            n_excluded == sizeof excluded / sizeof *excluded)
            return res.status;
        /* A device failed under the attempt: leave it out, learn what the
         * topology says now, and plan again -- as long as each attempt
         * loses a device, so that this ends. */
        if (res.culprit)
            excluded[n_excluded++] = res.culprit;
        (void)watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
        if (!res.culprit && present_devices(ctx) >= present)
            return res.status;
    }
}

static rochp_status recover_locked(rochp_context *ctx, uint64_t timeout_ns,
                                  rochp_recovery_report *report)
{
    ROCHP_ASSERT_GATE(ctx);
    uint64_t t0 = rochp__now_ns();
    size_t n_floors;
    completed_floor *floors = completed_floors(ctx, &n_floors);
    if (!floors)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_recover: out of memory");
    rochp_status st = recover_attempts(ctx, timeout_ns, t0, report, floors, n_floors);
    free(floors);
    return st;
}

rochp_status rochp_recover(rochp_context *ctx, uint64_t timeout_ns, rochp_recovery_report *report)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, "rochp_recover");
    if (st != ROCHP_OK)
        return st;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_recover: this context has no HSA runtime");
    rochp_recovery_report local;
    memset(&local, 0, sizeof local);
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    (void)checkpoint_settle(ctx); /* a begun checkpoint commits (or fails) first */
    st = recover_locked(ctx, timeout_ns, &local);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    runtime_gate_leave(ctx, ROCHP_OK);
    if (report)
        *report = local;
    return st;
}
