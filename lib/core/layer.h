/* The layers above core (managed objects, resilience) as core sees them: a
 * table of hooks each fills.  Core tells them about devices and the runtime
 * through these and never calls them by name, so that it depends on nothing
 * above it (lib/README.md has the layering).  A NULL hook is skipped.  The
 * hooks run in the order the layers were given (lowest first), teardown and
 * detach in the reverse order. */
#ifndef ROCHP_CORE_LAYER_H
#define ROCHP_CORE_LAYER_H

#include "rochp/rochp.h"
#include "topology/snapshot.h"

typedef struct core_layer {
    const char *name;
    /* At creation, before the topology is read: the layer's state in the
     * context.  A failure's message is set; the context is not made. */
    rochp_status (*attach)(rochp_context *ctx);
    /* With ctx->lock held: a device as a topology snapshot shows it (at
     * creation and on each change that keeps it present). */
    void (*device_seen)(rochp_context *ctx, rochp_device_id device, const topo_node *node);
    /* With ctx->lock held: the device was lost (its work can no longer run). */
    void (*device_lost)(rochp_context *ctx, rochp_device_id device);
    /* With ctx->lock held: the process's work faulted on the device (the
     * driver stops its queues there; the device itself is fine). */
    void (*device_faulted)(rochp_context *ctx, rochp_device_id device, const char *fault);
    /* With the runtime gate held for writing (and no other core lock): the
     * runtime is about to be shut down, and may end (re-enumeration); its
     * memory is still there. */
    void (*runtime_stopping)(rochp_context *ctx);
    /* The runtime ended (and started again): its memory, queues and
     * executables are gone. */
    void (*runtime_gone)(rochp_context *ctx);
    /* Context destruction, threads joined, the runtime still up: the layer's
     * objects go. */
    void (*teardown)(rochp_context *ctx);
    /* Last, after the runtime went: the layer's state goes. */
    void (*detach)(rochp_context *ctx);
} core_layer;

/* context.c -- rochp_context_create's work, with the layers above core
 * (kept by pointer: static tables). */
rochp_status core_context_create(const rochp_options *options, const core_layer *const *layers,
                                 size_t n_layers, rochp_context **out);

/* Runs a hook of every layer that has one, in order. */
#define CORE_EACH_LAYER(ctx, hook, ...)                                                  \
    do {                                                                                 \
        for (size_t layer_i_ = 0; layer_i_ < (ctx)->n_layers; layer_i_++)                \
            if ((ctx)->layers[layer_i_]->hook)                                           \
                (ctx)->layers[layer_i_]->hook(__VA_ARGS__);                              \
    } while (0)

#endif
