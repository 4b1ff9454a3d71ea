/* The core layer: a rochp context's internals, shared by context.c (life
 * cycle), registry.c (devices and their state machine), delivery.c (event
 * queue, subscriptions, the callback thread), watcher.c (the watcher
 * thread), sigbus.c and hsa_devices.c (the runtime's agents and events,
 * re-enumeration).  Core uses common, topology, watch and hsa; the layers
 * above it reach it through core/layer.h's hooks, which it calls.
 *
 * Locks:
 *   ctx->lock         guards devices, subscriptions, the event queue and the
 *                     closing flag.  Never held while a callback runs, while
 *                     the topology is read, or while a thread is joined.
 *   ctx->rescan_lock  serialises topology reads and their application to the
 *                     registry (watcher vs rochp_rescan), so that two rescans
 *                     cannot apply out of order.  Taken before ctx->lock.
 *   ctx->runtime_gate (rwlock) keeps the HSA runtime up while it is used:
 *                     every API call that calls into the runtime or touches
 *                     its memory (buffers, modules, queues, completion waits
 *                     per slice) holds it for reading; re-enumeration, which
 *                     shuts the runtime down and starts it again, holds it
 *                     for writing, and is preferred: read locks are never
 *                     nested.  Taken before every other lock.  The
 *                     watcher only tries for it (it must not sit behind a
 *                     long wait) and retries on its next pass.  The inline
 *                     dispatch path takes nothing: queues fail at a
 *                     re-enumeration, and the application must not dispatch
 *                     across one.
 *   The layers above core add their own, taken after the runtime gate and
 *   before ctx->lock (managed/managed.h); docs/locking.md has the order.
 * Every "with X held" rule is asserted (common/lock_assert.h).
 * No lock is taken on any dispatch path. */
#ifndef ROCHP_CORE_CONTEXT_H
#define ROCHP_CORE_CONTEXT_H

#include <pthread.h>
#include <stdbool.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/handles.h"
#include "common/last_error.h"
#include "common/lock_assert.h"
#include "core/layer.h"
#include "hsa/hsa_table.h"
#include "rochp/rochp.h"
#include "topology/snapshot.h"

typedef struct device_entry {
    rochp_device_info info;
    bool in_topology; /* in the last snapshot applied */
    /* A loss whose event waits (up to LOSS_HOLD_NS) for a SIGBUS that would
     * explain it: 0, or the reason it was first seen with. */
    rochp_event_reason held_reason;
    uint64_t held_since_ns;
    /* A memory fault by this process's work (not the device's): the driver
     * stops the process's queues on the device for good.  "" when none;
     * fault_address is the page the work touched. */
    char fault[160];
    uint64_t fault_address;
} device_entry;

typedef struct event_node {
    struct event_node *next;
    rochp_event event;
} event_node;

typedef struct subscription {
    rochp_subscription id;
    uint32_t mask;
    rochp_event_fn fn;
    void *user;
} subscription;

struct rochp_context {
    char root[4096];
    uint32_t flags;
    uint32_t poll_ms;

    rochp__hsa hsa;
    bool hsa_up;
    bool hsa_attached; /* ROCHP_CONTEXT_ATTACH_HSA: the program's reference, not ours */

    pthread_mutex_t lock;
    pthread_cond_t cond; /* queue, delivery progress, closing */
    bool closing;

    device_entry *devices;
    size_t n_devices, cap_devices;
    uint64_t generation;
    uint64_t arrivals; /* arrived + returned events queued so far */

    event_node *head, *tail;
    uint64_t queued_seq;    /* last sequence queued */
    uint64_t delivered_seq; /* last sequence whose delivery finished */

    subscription *subs;
    size_t n_subs, cap_subs;
    rochp_subscription next_sub;
    rochp_subscription delivering; /* subscription whose callback runs now, or 0 */

    pthread_t callback_thread, watcher_thread;
    bool callback_started, watcher_started;

    pthread_mutex_t rescan_lock;
    pthread_rwlock_t runtime_gate;
    bool reenumerate_pending; /* watcher thread only: the policy is owed a try */
    int wake_fd; /* eventfd: wakes the watcher (stop, rescan requests) */
    struct uevent_listener *uevents; /* NULL: polling only (flag, or no netlink here) */

    /* The layers above core (core_layer tables, in order) and their state,
     * which core never reads: it only hands the context to their hooks. */
    const struct core_layer *const *layers;
    size_t n_layers;
    struct managed_state *managed;       /* lib/managed */
    struct resilience_state *resilience; /* lib/resilience */

    int sigbus_slot;      /* in sigbus.c's table, or -1 */
    uint64_t sigbus_seen; /* SIGBUS count already acted on (watcher thread only) */
    uint64_t last_sigbus_ns; /* when the watcher last saw a new one (ctx->lock) */
};

/* registry.c -- with ctx->lock held: apply a snapshot, queueing the events
 * it implies (losses first, then arrivals, in node order).  initial: fill
 * the registry without events (the devices present at creation). */
rochp_status registry_apply(rochp_context *ctx, const topo_snapshot *snap,
                            rochp_event_reason reason, bool initial);
/* With ctx->lock held: the device stops being usable for a reason other
 * than the topology; queues its lost event unless it is already lost. */
void registry_mark_lost(rochp_context *ctx, device_entry *d, rochp_event_reason reason);
device_entry *registry_find(rochp_context *ctx, rochp_device_id id);
/* How long a loss's event may wait for a SIGBUS that explains it. */
#define LOSS_HOLD_NS (100ull * 1000 * 1000)
/* With ctx->lock held: queues the held losses whose time is up; returns
 * when the next one is due (UINT64_MAX: none held). */
uint64_t registry_release_held(rochp_context *ctx, uint64_t now_ns);
void registry_free(rochp_context *ctx);

/* delivery.c */
/* With ctx->lock held: appends an event (sequence and time assigned here). */
rochp_status delivery_queue(rochp_context *ctx, rochp_event *event);
rochp_status delivery_start(rochp_context *ctx);
void delivery_free(rochp_context *ctx);
bool delivery_on_callback_thread(const rochp_context *ctx);

/* hsa_devices.c */
/* Sets each device's hsa_agent from the runtime's agents; a mismatch that a
 * second read does not explain fails with the agent named. */
rochp_status hsa_devices_match(rochp_context *ctx);
/* The process-wide system event handler's view of live contexts. */
rochp_status hsa_devices_register(rochp_context *ctx);
void hsa_devices_unregister(rochp_context *ctx);
/* rochp_reenumerate's work (takes the runtime gate for writing, then
 * ctx->rescan_lock).  wait false: ROCHP_ERROR_BUSY with *gate_busy set at
 * once if a call is using the runtime. */
rochp_status hsa_devices_reenumerate(rochp_context *ctx, bool wait, bool *gate_busy);

/* How many times this thread holds a runtime gate (for the assertions:
 * an rwlock does not know its readers). */
extern _Thread_local unsigned runtime_gate_depth;
#define ROCHP_ASSERT_GATE(ctx) ROCHP_ASSERT_THAT(runtime_gate_depth > 0, "the runtime gate held")

static inline void runtime_gate_enter(rochp_context *ctx)
{
    /* Read locks are never nested (the gate prefers writers). */
    ROCHP_ASSERT_THAT(runtime_gate_depth == 0, "the runtime gate not held already");
    pthread_rwlock_rdlock(&ctx->runtime_gate);
#ifdef ROCHP_LOCK_ASSERTS
    runtime_gate_depth++;
#endif
}

/* Returns status, so that a call can be wrapped in one expression. */
static inline rochp_status runtime_gate_leave(rochp_context *ctx, rochp_status status)
{
#ifdef ROCHP_LOCK_ASSERTS
    runtime_gate_depth--;
#endif
    pthread_rwlock_unlock(&ctx->runtime_gate);
    return status;
}

/* sigbus.c */
rochp_status sigbus_attach(rochp_context *ctx);
void sigbus_detach(rochp_context *ctx);
uint64_t sigbus_count(void);
/* hsa_devices.c: asks every present GPU (and every lost one whose event is
 * held) for a page; the ones that refuse are lost with reason (the devices
 * going away after a SIGBUS). */
void hsa_devices_probe(rochp_context *ctx, rochp_event_reason reason);

/* watcher.c */
rochp_status watcher_start(rochp_context *ctx);
/* Reads the topology and applies it: the one way changes enter the registry. */
rochp_status watcher_rescan(rochp_context *ctx, rochp_event_reason reason);

#endif
