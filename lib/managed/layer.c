/* The managed layer's place in a context: its state, and what core's news
 * of devices and the runtime means for buffers, modules and queues. */
#include <stdlib.h>

#include "managed/managed.h"

static rochp_status attach(rochp_context *ctx)
{
    struct managed_state *m = calloc(1, sizeof *m);
    if (!m)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_context_create: out of memory");
    pthread_mutex_init(&m->checkpoint_lock, NULL);
    pthread_mutex_init(&m->buffer_lock, NULL);
    pthread_mutex_init(&m->module_lock, NULL);
    ctx->managed = m;
    return ROCHP_OK;
}

static void runtime_gone(rochp_context *ctx)
{
    buffers_invalidate(ctx); /* their memory went with the runtime */
    modules_invalidate(ctx); /* and so did the executables */
    queues_invalidate(ctx);  /* and the queues, signals and kernargs */
    shadow_abandoned_runtime_gone(ctx); /* and the engines of abandoned copies */
}

static void teardown(rochp_context *ctx)
{
    queues_free_all(ctx);  /* before the modules their packets run */
    modules_free_all(ctx); /* before the runtime that holds them goes */
    buffers_free_all(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    shadow_reap_abandoned(ctx); /* what no engine writes any more, while the runtime is up */
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
}

static void detach(rochp_context *ctx)
{
    struct managed_state *m = ctx->managed;
    if (!m)
        return;
    shadow_abandoned_free_all(ctx); /* the runtime, and its engines, are down */
    pthread_mutex_destroy(&m->checkpoint_lock);
    pthread_mutex_destroy(&m->buffer_lock);
    pthread_mutex_destroy(&m->module_lock);
    free(m);
    ctx->managed = NULL;
}

const core_layer managed_layer = {
    .name = "managed",
    .attach = attach,
    .device_lost = queues_mark_lost,
    .device_faulted = queues_mark_faulted,
    .runtime_stopping = queues_before_shut_down,
    .runtime_gone = runtime_gone,
    .teardown = teardown,
    .detach = detach,
};
