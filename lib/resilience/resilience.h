/* The resilience layer: keeping the managed objects' work across the loss
 * of a device -- checkpoints (a consistent cut and buffer shadows), recovery
 * (replaying journals on another device), checkpoint files, and the safe
 * points: the application's waits, where auto-checkpoint and auto-recover
 * run.  It uses managed and everything under it; core reaches it only
 * through resilience_layer's hooks (core/layer.h).
 *
 * Locks: its state is under ctx->lock; checkpoints, restores and recoveries
 * take the managed layer's checkpoint_lock (managed/managed.h). */
#ifndef ROCHP_RESILIENCE_RESILIENCE_H
#define ROCHP_RESILIENCE_RESILIENCE_H

#include "managed/managed.h"

/* The KFD properties CRIU's amdgpu plugin compares before restoring onto a
 * GPU (plugins/amdgpu/amdgpu_plugin_topology.c): equal, then at least. */
enum { CRIU_EQUAL_PROPS = 12, CRIU_AT_LEAST_PROPS = 2 };
extern const char *const criu_equal_keys[CRIU_EQUAL_PROPS];
extern const char *const criu_at_least_keys[CRIU_AT_LEAST_PROPS];

/* What CRIU's rule compares of a device, as its topology last showed it
 * (kept while it is gone: a lost device's values are what a target must
 * match). */
typedef struct criu_props {
    rochp_device_id device;
    uint64_t equal[CRIU_EQUAL_PROPS];
    uint64_t at_least[CRIU_AT_LEAST_PROPS];
} criu_props;

struct resilience_state {
    /* all under ctx->lock */
    uint64_t checkpoints;           /* completed */
    uint64_t last_checkpoint_ns;    /* when the last completed (or creation) */
    uint64_t auto_packets, auto_ns; /* rochp_set_auto_checkpoint */
    rochp_target_fn target_fn;      /* recovery's target choice */
    rochp_target_rule target_rule;
    void *target_user;
    criu_props *criu; /* one per device seen */
    size_t n_criu, cap_criu;
};

/* layer.c -- the layer's table for core (core/layer.h). */
extern const core_layer resilience_layer;
/* With ctx->lock held: a device's CRIU properties, or NULL if never seen. */
const criu_props *resilience_criu_props(rochp_context *ctx, rochp_device_id device);

/* persist.c -- a checkpoint in the caller's memory (size bytes, all of it),
 * checked and loaded as rochp_checkpoint_load does; the bytes must not
 * change while it runs. */
rochp_status persist_load_mapped(rochp_context *ctx, const uint8_t *data, size_t size,
                                 rochp_restored **out);

/* checkpoint.c -- an application's wait just returned: checkpoint if one is
 * due (rochp_set_auto_checkpoint), never waiting. */
void checkpoint_safe_point(rochp_context *ctx);

#endif
