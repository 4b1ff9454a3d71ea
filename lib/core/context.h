/* A rochp context's internals, shared by context.c (life cycle), registry.c
 * (devices and their state machine), delivery.c (event queue, subscriptions,
 * the callback thread) and watcher.c (the watcher thread).
 *
 * Locks:
 *   ctx->lock         guards devices, subscriptions, the event queue and the
 *                     closing flag.  Never held while a callback runs, while
 *                     the topology is read, or while a thread is joined.
 *   ctx->rescan_lock  serialises topology reads and their application to the
 *                     registry (watcher vs rochp_rescan), so that two rescans
 *                     cannot apply out of order.  Taken before ctx->lock.
 *   ctx->buffer_lock  guards the buffer registry (compute/buffer.c); never
 *                     held while waiting for the runtime, never with
 *                     ctx->lock.
 *   ctx->module_lock  guards the module list and each module's per-agent
 *                     executables (compute/module.c); held while one is
 *                     loaded, so that an agent gets it once.  ctx->lock may be
 *                     taken inside it (device lookup), never the reverse.
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
 *   ctx->checkpoint_lock serialises checkpoints and restores against each
 *                     other and against freeing buffers and destroying
 *                     queues; taken after the runtime gate, before the rest.
 *   The queue list (compute/queue.c) is under ctx->lock, so that a device's
 *   loss and its queues' failure are one step.
 * No lock is taken on any dispatch path. */
#ifndef ROCHP_CORE_CONTEXT_H
#define ROCHP_CORE_CONTEXT_H

#include <pthread.h>
#include <stdbool.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/handles.h"
#include "common/last_error.h"
#include "hsa/hsa_table.h"
#include "rochp/rochp.h"
#include "topology/snapshot.h"

/* The KFD properties CRIU's amdgpu plugin compares before restoring onto a
 * GPU (plugins/amdgpu/amdgpu_plugin_topology.c): equal, then at least. */
enum { CRIU_EQUAL_PROPS = 12, CRIU_AT_LEAST_PROPS = 2 };
extern const char *const criu_equal_keys[CRIU_EQUAL_PROPS];
extern const char *const criu_at_least_keys[CRIU_AT_LEAST_PROPS];

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
    uint64_t criu_equal[CRIU_EQUAL_PROPS];     /* as last seen in the topology */
    uint64_t criu_at_least[CRIU_AT_LEAST_PROPS];
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
    pthread_mutex_t checkpoint_lock; /* compute/checkpoint.c */
    uint64_t checkpoints;   /* completed, under ctx->lock */
    uint64_t last_checkpoint_ns;       /* when the last completed (or creation), ctx->lock */
    uint64_t auto_packets, auto_ns;    /* rochp_set_auto_checkpoint, ctx->lock */
    uint64_t buffer_writes; /* copy and write calls so far, under buffer_lock */
    _Atomic uint64_t next_object_id; /* buffers, queues and modules: 1, 2, 3... */
    /* Packets that queues destroyed since the last checkpoint had run: no
     * recovery can replay them (under ctx->lock). */
    uint64_t retired_packets;
    rochp_target_fn target_fn;       /* recovery's target choice, under ctx->lock */
    rochp_target_rule target_rule;
    void *target_user;
    bool reenumerate_pending; /* watcher thread only: the policy is owed a try */
    int wake_fd; /* eventfd: wakes the watcher (stop, rescan requests) */
    struct uevent_listener *uevents; /* NULL: polling only (flag, or no netlink here) */
    pthread_mutex_t buffer_lock;
    struct rochp_buffer **buffers; /* sorted by address */
    size_t n_buffers, cap_buffers;
    pthread_mutex_t module_lock;
    struct rochp_module *modules; /* list through rochp_module.next */
    struct rochp_queue *queues;   /* list through rochp_queue.next, under ctx->lock */

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

static inline void runtime_gate_enter(rochp_context *ctx)
{
    pthread_rwlock_rdlock(&ctx->runtime_gate);
}

/* Returns status, so that a call can be wrapped in one expression. */
static inline rochp_status runtime_gate_leave(rochp_context *ctx, rochp_status status)
{
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

/* compute/buffer.c */
void buffers_invalidate(rochp_context *ctx);
void buffers_free_all(rochp_context *ctx);
/* The HSA agent of a present device (ROCHP_HOST: the CPU agent); a lost
 * device is ROCHP_ERROR_DEVICE_LOST, with the message set. */
rochp_status compute_device_agent(rochp_context *ctx, rochp_device_id device, uint64_t *agent);
/* Pool memory of a device (ROCHP_HOST: host fine-grained; kernarg: the
 * host's kernarg pool), opened to every agent; *agent gets the pool's. */
rochp_status compute_pool_memory(rochp_context *ctx, rochp_device_id device, bool kernarg,
                                 size_t size, void **out, uint64_t *agent);

/* compute/queue.c -- with ctx->lock held: the device's queues fail with
 * ROCHP_ERROR_DEVICE_LOST (their inline paths see it on the next packet). */
void queues_mark_lost(rochp_context *ctx, rochp_device_id device);
/* With ctx->lock held: the device's queues fail with ROCHP_ERROR_QUEUE_FAILED
 * (a memory fault by the process's work; fault says what). */
void queues_mark_faulted(rochp_context *ctx, rochp_device_id device, const char *fault);
/* Before a shut-down that may end the runtime: note each queue's indexes
 * while its memory is there.  Then, if it did end, queues_invalidate: every
 * queue fails and reads the noted values from now on. */
void queues_before_shut_down(rochp_context *ctx);
/* With the runtime gate held: until the queue's first written packets have
 * completed (or it failed, or timeout_ns passed). */
struct rochp_queue;
rochp_status queue_wait_written(struct rochp_queue *q, uint64_t written, uint64_t timeout_ns);
void queues_invalidate(rochp_context *ctx);
/* Destroys every queue (before the runtime goes). */
void queues_free_all(rochp_context *ctx);

/* compute/module.c */
/* The runtime went away: forget every per-agent executable (kept on the host,
 * modules load again on demand). */
void modules_invalidate(rochp_context *ctx);
/* Destroys every module (their executables first, while the runtime is up). */
void modules_free_all(rochp_context *ctx);

/* watcher.c */
rochp_status watcher_start(rochp_context *ctx);
/* Reads the topology and applies it: the one way changes enter the registry. */
rochp_status watcher_rescan(rochp_context *ctx, rochp_event_reason reason);

#endif
