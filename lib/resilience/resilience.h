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

typedef struct checkpoint_inflight checkpoint_inflight;

struct resilience_state {
    /* Under ctx->managed->checkpoint_lock: the checkpoint begun
     * (rochp_checkpoint_begin) and not yet committed, and the result of the
     * last one begun that rochp_checkpoint_finish has not reported yet. */
    checkpoint_inflight *inflight;
    bool begun_unreported;
    rochp_status begun_status;
    char begun_why[512];
    rochp_checkpoint_stats begun_stats;
    /* the rest under ctx->lock */
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

/* checkpoint.c -- with the checkpoint lock held: a begun checkpoint's
 * copies are waited for and it commits, or fails (the previous standing);
 * its result is kept for rochp_checkpoint_finish.  Every call that needs
 * the last checkpoint or frees what a begun one copies settles first. */
rochp_status checkpoint_settle(rochp_context *ctx);

/* checkpoint.c -- an application's wait just returned: checkpoint if one is
 * due (rochp_set_auto_checkpoint), never waiting. */
void checkpoint_safe_point(rochp_context *ctx);

#endif
