/* Copies on the runtime's engines between any two memories rochp holds
 * (buffers, shadows, staging), waited for in slices that end when either
 * device is lost: a lost device's copy may never complete. */
#include <stdio.h>

#include "managed/managed.h"

/* Why memory of device is out of reach, for a message. */
static const char *why_gone(rochp_context *ctx, rochp_device_id device)
{
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    bool faulted = d && d->fault[0] && d->info.state == ROCHP_DEVICE_PRESENT;
    pthread_mutex_unlock(&ctx->lock);
    return faulted ? "stopped this process's work after a memory fault (the driver keeps it "
                     "stopped)"
                   : "has been lost";
}

rochp_status managed_engine_copy_start(rochp_context *ctx, void *dst, uint64_t dst_agent,
                                       rochp_device_id dst_device, const void *src,
                                       uint64_t src_agent, rochp_device_id src_device, size_t size,
                                       managed_copy *c)
{
    *c = (managed_copy){{0}, dst_device, src_device, dst_agent, src_agent};
    if (managed_memory_gone(ctx, dst_device, dst_agent) || managed_memory_gone(ctx, src_device, src_agent)) {
        rochp_device_id d = managed_memory_gone(ctx, dst_device, dst_agent) ? dst_device : src_device;
        return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST, "device %llu of the copy %s",
                                (unsigned long long)d, why_gone(ctx, d));
    }
    if (ctx->hsa.signal_create(1, 0, NULL, &c->done) != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "cannot create a signal for a copy");
    hsa_status_t hs = ctx->hsa.amd_memory_async_copy(dst, (hsa_agent_t){dst_agent}, src,
                                                     (hsa_agent_t){src_agent}, size, 0, NULL, c->done);
    if (hs != HSA_STATUS_SUCCESS) {
        ctx->hsa.signal_destroy(c->done);
        c->done.handle = 0;
        return rochp__set_errorf(ROCHP_ERROR_IO, "the copy could not start: %s",
                                rochp__hsa_status_text(&ctx->hsa, hs));
    }
    return ROCHP_OK;
}

rochp_status managed_engine_copy_finish(rochp_context *ctx, managed_copy *c)
{
    if (!c->done.handle)
        return ROCHP_OK; /* never started */
    hsa_signal_t done = c->done;
    c->done.handle = 0;
    while (!managed_copy_ended(ctx, done)) {
        if (managed_memory_gone(ctx, c->dst_device, c->dst_agent) ||
            managed_memory_gone(ctx, c->src_device, c->src_agent))
            /* The engine may still hold the signal: it goes with the runtime. */
            return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                    "a device of the copy was lost before it completed");
        managed_copy_nap(ctx, done, COPY_LOSS_CHECK_NS);
    }
    ctx->hsa.signal_destroy(done);
    if (managed_memory_gone(ctx, c->dst_device, c->dst_agent) ||
        managed_memory_gone(ctx, c->src_device, c->src_agent))
        return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                "a device of the copy was lost while it ran");
    return ROCHP_OK;
}

rochp_status managed_engine_copy(rochp_context *ctx, void *dst, uint64_t dst_agent,
                                 rochp_device_id dst_device, const void *src, uint64_t src_agent,
                                 rochp_device_id src_device, size_t size)
{
    managed_copy c;
    rochp_status st = managed_engine_copy_start(ctx, dst, dst_agent, dst_device, src, src_agent,
                                                src_device, size, &c);
    return st == ROCHP_OK ? managed_engine_copy_finish(ctx, &c) : st;
}
