/* Recovery's internals, shared by recover_plan.c (what to do: targets,
 * conditions, the journals to replay, the buffers to move) and recover.c
 * (doing it, in attempts).  See recover.c for the steps and what a failure
 * leaves. */
#ifndef ROCHP_RESILIENCE_RECOVER_H
#define ROCHP_RESILIENCE_RECOVER_H

#include "resilience/resilience.h"

typedef struct saved_entry {
    rochp_journal_entry e;
    uint8_t *args; /* e.args_size bytes, dispatches only */
} saved_entry;

typedef struct queue_plan {
    rochp_queue *q;
    rochp_device_id device; /* where it is rebuilt */
    uint64_t agent;
    uint64_t first_id; /* the checkpoint's: ids go on from there */
    saved_entry *entries;
    uint64_t n, next; /* saved, resubmitted */
    /* The new incarnation, built beside the queue's own until the commit. */
    struct rochp_queue_ring ring;
    queue_runtime *rt;
} queue_plan;

typedef struct move {
    rochp_buffer *b;
    bool migrate; /* to target (else a rollback in place) */
    rochp_device_id from;
    rochp_device_id target;
    uint64_t target_agent;
    void *old_address;
    void *new_address;
    hsa_signal_t done;
} move;

/* A kernel's object on a device, loaded once per attempt. */
typedef struct object_cache_entry {
    rochp_kernel *kernel;
    rochp_device_id device;
    uint64_t object;
} object_cache_entry;

typedef struct plan {
    rochp_context *ctx;
    rochp_device_info *devices;
    bool *faulted; /* per device index: the driver stopped the process's work there */
    size_t n_devices;
    rochp_device_id *targets; /* per device index: 0 or where its work goes */
    uint64_t *target_bytes;   /* per device index: bytes moved there */
    const rochp_device_id *excluded; /* failed as targets in an earlier attempt */
    size_t n_excluded;
    queue_plan *queues;
    size_t n_queues;
    move *moves;
    size_t n_moves;
    object_cache_entry *objects;
    size_t n_objects, cap_objects;
} plan;

/* recover_plan.c.  Each returns ROCHP_OK or a refusal with its message;
 * none changes the context. */
rochp_status plan_devices(plan *p);
/* Which lost devices have managed work (*any), and a target for each. */
rochp_status plan_targets(plan *p, bool *any);
/* The conditions a recovery needs (a checkpoint, replayable work). */
rochp_status plan_check(plan *p);
/* Each queue's journal since the checkpoint, saved with argument bytes. */
rochp_status plan_queues(plan *p);
/* The buffers to migrate and to roll back. */
rochp_status plan_moves(plan *p);
void plan_free(plan *p);
size_t plan_device_index(const plan *p, rochp_device_id id);

/* What ended an attempt: its status, and the device to leave out next time
 * (0: none known). */
typedef struct attempt_result {
    rochp_status status;
    rochp_device_id culprit;
} attempt_result;

static inline attempt_result failed_on(rochp_status st, rochp_device_id device)
{
    return (attempt_result){st, st == ROCHP_ERROR_DEVICE_LOST ? device : 0};
}

/* recover.c -- present and taking this process's work (not stopped after a
 * memory fault); present but stopped after one. */
bool recover_device_present(rochp_context *ctx, rochp_device_id id);
bool recover_device_faulted(rochp_context *ctx, rochp_device_id id);
/* The kernel's object on device, loaded once per attempt. */
rochp_status recover_object_for(plan *p, rochp_kernel *kernel, rochp_device_id device,
                                uint64_t *out);
/* recover_replay.c -- every queue's saved journal into its staged ring;
 * *packets counts what was resubmitted. */
attempt_result recover_replay(plan *p, uint64_t timeout_ns, uint64_t *packets);

#endif
