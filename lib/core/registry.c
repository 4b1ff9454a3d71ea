/* The device registry: which devices this context has seen, under ids that
 * stay stable across a board leaving and returning, and the state machine
 * that makes every loss and every appearance one event, in order.
 *
 * A device has two facts: whether it is in the topology, and whether it is
 * usable (present) or lost.  A loss can come before the topology shows it
 * (a queue error, SIGBUS...): then it is lost while still in the topology,
 * and leaving the topology later is no second event.  A device comes back
 * (returned, same id) only after it left the topology and reappears with the
 * same unique_id and partition; without a unique_id there is no telling the
 * same board from another, so it arrives under a new id. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "context.h"
#include "topology/props.h"

/* Ids are unique across contexts too: never reused in a process. */
static _Atomic rochp_device_id next_device_id = 1;

device_entry *registry_find(rochp_context *ctx, rochp_device_id id)
{
    for (size_t i = 0; i < ctx->n_devices; i++)
        if (ctx->devices[i].info.id == id)
            return &ctx->devices[i];
    return NULL;
}

static bool is_device(const topo_node *n)
{
    return (n->kind == TOPO_KIND_GPU || n->kind == TOPO_KIND_APU) &&
           (n->has & TOPO_HAS_LOCATION);
}

/* The node's place in its board (partition index and count). */
static void partition_of(const topo_snapshot *snap, uint32_t node_pos, uint32_t *index,
                         uint32_t *count)
{
    *index = 0;
    *count = 1;
    int32_t g = snap->nodes[node_pos].group;
    if (g < 0)
        return;
    const topo_group *grp = &snap->groups[g];
    *count = grp->n_nodes;
    for (uint32_t k = 0; k < grp->n_nodes; k++)
        if (grp->nodes[k] == node_pos)
            *index = k;
}

/* The layers above keep what they need of a device's properties (while it
 * is gone, too). */
static void tell_layers(rochp_context *ctx, const device_entry *d, const topo_node *n)
{
    CORE_EACH_LAYER(ctx, device_seen, ctx, d->info.id, n);
}

static void describe(rochp_device_info *info, const topo_snapshot *snap, uint32_t pos)
{
    const topo_node *n = &snap->nodes[pos];
    memcpy(info->pci, n->pci, sizeof info->pci);
    info->pci_domain = n->domain;
    info->location_id = n->location_id;
    info->unique_id = n->unique_id;
    partition_of(snap, pos, &info->partition, &info->partition_count);
    memcpy(info->gfx_target, n->gfx_target, sizeof info->gfx_target);
    info->vram_bytes = n->vram_bytes;
    info->kfd_node = n->index;
}

static device_entry *add_entry(rochp_context *ctx)
{
    if (ctx->n_devices == ctx->cap_devices) {
        size_t cap = ctx->cap_devices ? ctx->cap_devices * 2 : 16;
        device_entry *grown = realloc(ctx->devices, cap * sizeof *grown);
        if (!grown)
            return NULL;
        ctx->devices = grown;
        ctx->cap_devices = cap;
    }
    device_entry *d = &ctx->devices[ctx->n_devices++];
    memset(d, 0, sizeof *d);
    d->info.id = atomic_fetch_add(&next_device_id, 1);
    return d;
}

static rochp_status emit(rochp_context *ctx, device_entry *d, rochp_event_type type,
                         rochp_event_reason reason)
{
    rochp_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.reason = reason;
    e.device = d->info.id;
    e.info = d->info;
    e.generation = ctx->generation;
    return delivery_queue(ctx, &e);
}

/* Under the current kernel a hot-unplug stops the process's queues (queue
 * errors, system events) around the time it sends SIGBUS, in no promised
 * order; the loss is the SIGBUS's, and the application must know it, since
 * it must then let go of the GPU.  So where the SIGBUS handler is on, a
 * loss first seen another way fails the device's queues at once but holds
 * its event up to LOSS_HOLD_NS for a SIGBUS to claim it (the watcher
 * probes the held devices then), after which it goes out as first seen. */
static bool held_for_sigbus(const rochp_context *ctx, rochp_event_reason reason)
{
    return (ctx->flags & ROCHP_CONTEXT_SIGBUS_HANDLER) &&
           (reason == ROCHP_REASON_QUEUE_ERROR || reason == ROCHP_REASON_SYSTEM_EVENT);
}

void registry_mark_lost(rochp_context *ctx, device_entry *d, rochp_event_reason reason)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    if (d->info.state == ROCHP_DEVICE_LOST) {
        /* The first source wins and later ones fold into its event -- but
         * a SIGBUS claims a held one. */
        if (d->held_reason && reason == ROCHP_REASON_SIGBUS) {
            d->held_reason = 0;
            emit(ctx, d, ROCHP_EVENT_LOST, reason);
        }
        return;
    }
    d->info.state = ROCHP_DEVICE_LOST;
    CORE_EACH_LAYER(ctx, device_lost, ctx, d->info.id);
    /* A SIGBUS just before (its probe found the device still answering)
     * explains it as well as one just after. */
    if (held_for_sigbus(ctx, reason) && ctx->last_sigbus_ns &&
        rochp__now_ns() - ctx->last_sigbus_ns < LOSS_HOLD_NS)
        reason = ROCHP_REASON_SIGBUS;
    if (held_for_sigbus(ctx, reason)) {
        d->held_reason = reason;
        d->held_since_ns = rochp__now_ns();
        if (ctx->wake_fd >= 0) {
            uint64_t one = 1;
            if (write(ctx->wake_fd, &one, sizeof one) < 0) {
                /* a full eventfd is awake already */
            }
        }
        return;
    }
    emit(ctx, d, ROCHP_EVENT_LOST, reason);
}

uint64_t registry_release_held(rochp_context *ctx, uint64_t now_ns)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    uint64_t next = UINT64_MAX;
    for (size_t i = 0; i < ctx->n_devices; i++) {
        device_entry *d = &ctx->devices[i];
        if (!d->held_reason)
            continue;
        uint64_t due = d->held_since_ns + LOSS_HOLD_NS;
        if (now_ns >= due) {
            rochp_event_reason reason = d->held_reason;
            d->held_reason = 0;
            emit(ctx, d, ROCHP_EVENT_LOST, reason);
        } else if (due < next) {
            next = due;
        }
    }
    return next;
}

rochp_status registry_apply(rochp_context *ctx, const topo_snapshot *snap,
                            rochp_event_reason reason, bool initial)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    bool *seen = calloc(ctx->n_devices + 1, sizeof *seen);
    /* Arrivals wait until the losses are queued: each a (pointer-stable)
     * entry index and its event type. */
    size_t *arrivals = calloc(snap->n_nodes + 1, sizeof *arrivals);
    rochp_event_type *kinds = calloc(snap->n_nodes + 1, sizeof *kinds);
    if (!seen || !arrivals || !kinds) {
        free(seen);
        free(arrivals);
        free(kinds);
        return ROCHP_ERROR_OUT_OF_MEMORY;
    }
    size_t n_before = ctx->n_devices, n_arrivals = 0;
    rochp_status st = ROCHP_OK;
    ctx->generation = snap->has_generation ? snap->generation : 0;

    for (uint32_t pos = 0; pos < snap->n_nodes && st == ROCHP_OK; pos++) {
        const topo_node *n = &snap->nodes[pos];
        if (!is_device(n))
            continue;
        uint32_t part, parts;
        partition_of(snap, pos, &part, &parts);
        device_entry *match = NULL;
        /* Still there: same address, and not a different board. */
        for (size_t i = 0; i < n_before && !match; i++) {
            device_entry *d = &ctx->devices[i];
            if (!seen[i] && d->in_topology && d->info.pci_domain == n->domain &&
                d->info.location_id == n->location_id &&
                (d->info.unique_id == 0 || n->unique_id == 0 || d->info.unique_id == n->unique_id)) {
                match = d;
                seen[i] = true;
            }
        }
        if (match) {
            describe(&match->info, snap, pos); /* renumbered nodes: new kfd_node */
            tell_layers(ctx, match, &snap->nodes[pos]);
            continue;
        }
        /* Back: the same board's same partition, after it left. */
        for (size_t i = 0; i < n_before && !match && n->unique_id; i++) {
            device_entry *d = &ctx->devices[i];
            if (!seen[i] && !d->in_topology && d->info.unique_id == n->unique_id &&
                d->info.partition == part) {
                match = d;
                seen[i] = true;
            }
        }
        rochp_event_type type = ROCHP_EVENT_RETURNED;
        if (!match) {
            if (!(match = add_entry(ctx))) {
                st = ROCHP_ERROR_OUT_OF_MEMORY;
                break;
            }
            type = ROCHP_EVENT_ARRIVED;
        }
        describe(&match->info, snap, pos);
        tell_layers(ctx, match, &snap->nodes[pos]);
        match->in_topology = true;
        match->info.state = ROCHP_DEVICE_PRESENT;
        arrivals[n_arrivals] = (size_t)(match - ctx->devices);
        kinds[n_arrivals++] = type;
    }
    /* Gone from the topology: lost, unless something said so already. */
    for (size_t i = 0; i < n_before && st == ROCHP_OK; i++) {
        device_entry *d = &ctx->devices[i];
        if (seen[i] || !d->in_topology)
            continue;
        d->in_topology = false;
        /* The event tells where the device was; the registry, that it is gone. */
        if (!initial)
            registry_mark_lost(ctx, d, reason);
        d->info.kfd_node = UINT32_MAX;
        d->info.hsa_agent = 0;
    }
    for (size_t k = 0; k < n_arrivals && st == ROCHP_OK && !initial; k++) {
        st = emit(ctx, &ctx->devices[arrivals[k]], kinds[k], reason);
        ctx->arrivals++;
    }
    free(seen);
    free(arrivals);
    free(kinds);
    return st;
}

void registry_free(rochp_context *ctx)
{
    free(ctx->devices);
    ctx->devices = NULL;
    ctx->n_devices = ctx->cap_devices = 0;
}
