/* The resilience layer's place in a context: its state, and what it keeps
 * of each device's topology for recovery's CRIU rule. */
#include <stdlib.h>
#include <string.h>

#include "resilience/resilience.h"
#include "topology/props.h"

const char *const criu_equal_keys[CRIU_EQUAL_PROPS] = {
    "simd_count",        "lds_size_in_kb",     "wave_front_size",        "array_count",
    "simd_arrays_per_engine", "cu_per_simd_array", "simd_per_cu",       "max_waves_per_simd",
    "device_id",         "num_sdma_engines",   "num_sdma_xgmi_engines",  "num_cp_queues"};
const char *const criu_at_least_keys[CRIU_AT_LEAST_PROPS] = {"fw_version", "sdma_fw_version"};

static rochp_status attach(rochp_context *ctx)
{
    struct resilience_state *r = calloc(1, sizeof *r);
    if (!r)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_context_create: out of memory");
    r->last_checkpoint_ns = rochp__now_ns();
    ctx->resilience = r;
    /* managed (below) frees buffers and destroys queues a begun
     * checkpoint names: it settles the checkpoint first through this. */
    ctx->managed->settle = checkpoint_settle;
    return ROCHP_OK;
}

/* A begun checkpoint commits (or fails) while the runtime and the objects
 * it copies are still there: before a re-enumeration shuts the runtime
 * down (the gate is held for writing, so no call holds the checkpoint
 * lock), and at the context's end (before managed's objects go). */
static void settle(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    (void)checkpoint_settle(ctx);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
}

static void detach(rochp_context *ctx)
{
    if (!ctx->resilience)
        return;
    if (ctx->managed)
        ctx->managed->settle = NULL;
    free(ctx->resilience->criu);
    free(ctx->resilience);
    ctx->resilience = NULL;
}

const criu_props *resilience_criu_props(rochp_context *ctx, rochp_device_id device)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    struct resilience_state *r = ctx->resilience;
    for (size_t i = 0; i < r->n_criu; i++)
        if (r->criu[i].device == device)
            return &r->criu[i];
    return NULL;
}

/* What CRIU's rule compares, kept for when the device is gone.  Out of
 * memory, the device stays unknown to the rule (no target then matches
 * it: the rule refuses rather than guesses). */
static void device_seen(rochp_context *ctx, rochp_device_id device, const topo_node *n)
{
    struct resilience_state *r = ctx->resilience;
    criu_props *c = (criu_props *)resilience_criu_props(ctx, device);
    if (!c) {
        if (r->n_criu == r->cap_criu) {
            size_t cap = r->cap_criu ? 2 * r->cap_criu : 8;
            criu_props *grown = realloc(r->criu, cap * sizeof *grown);
            if (!grown)
                return;
            r->criu = grown;
            r->cap_criu = cap;
        }
        c = &r->criu[r->n_criu++];
        c->device = device;
    }
    for (int i = 0; i < CRIU_EQUAL_PROPS; i++)
        c->equal[i] = topo_props_get_or(&n->props, criu_equal_keys[i], 0);
    for (int i = 0; i < CRIU_AT_LEAST_PROPS; i++)
        c->at_least[i] = topo_props_get_or(&n->props, criu_at_least_keys[i], 0);
}

const core_layer resilience_layer = {
    .name = "resilience",
    .attach = attach,
    .device_seen = device_seen,
    .runtime_stopping = settle,
    .teardown = settle,
    .detach = detach,
};
