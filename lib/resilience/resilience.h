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

/* persist.c -- a checkpoint the caller has mapped from fd (size bytes, all
 * of it; rochp_resume: a sealed memfd, which nobody can change or shorten),
 * checked and loaded as rochp_checkpoint_load does.  Only the small
 * sections are read through the mapping; each buffer's bytes are read
 * from fd straight into its shadow and checked there: one pass over the
 * bytes rather than a checksum pass and a copy pass over a fresh mapping
 * (whose first touch of each 4 KiB page is what costs, on a virtual
 * machine ~0.4 s per GiB). */
rochp_status persist_load_mapped(rochp_context *ctx, const uint8_t *data, size_t size, int fd,
                                 rochp_restored **out);

/* checkpoint.c -- an application's wait just returned: checkpoint if one is
 * due (rochp_set_auto_checkpoint), never waiting. */
void checkpoint_safe_point(rochp_context *ctx);

#endif
