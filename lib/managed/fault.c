/* Memory faults and losses: whether a queue's fault came of touching a
 * lost device's memory (the loss's doing, which recovery undoes) or of the
 * work itself. */
#include "managed/managed.h"

/* The buffer of another device that device's memory fault touched: true
 * with its device and agent, false when the fault was in none. */
static bool fault_in_peer(rochp_context *ctx, rochp_device_id device, rochp_device_id *owner,
                          uint64_t *agent)
{
    pthread_mutex_lock(&ctx->lock);
    const device_entry *d = registry_find(ctx, device);
    uint64_t address = d && d->fault[0] ? d->fault_address : 0;
    pthread_mutex_unlock(&ctx->lock);
    if (!address)
        return false;
    /* The fault names a page: any buffer on it will do. */
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    rochp_buffer *b = NULL;
    for (uint64_t a = address; a < address + 4096 && !b; a += 64)
        b = managed_buffer_at(ctx, (const void *)(uintptr_t)a);
    *owner = b ? b->device : ROCHP_HOST;
    *agent = b ? b->agent : 0;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return b && *owner != device;
}

bool managed_fault_collateral(rochp_context *ctx, rochp_device_id device)
{
    rochp_device_id owner;
    uint64_t agent;
    if (!fault_in_peer(ctx, device, &owner, &agent))
        return false;
    if (managed_memory_gone(ctx, owner, agent))
        return true;
    /* The peer looks present, but the fault may be the first sign of its
     * loss: a device dies before the driver takes it out of the topology
     * (and before the uevent), and the runtime reports a peer's access to
     * its memory at once.  Read the topology now rather than call the fault
     * the work's own (a failure path: the cost is one sysfs read). */
    (void)watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
    return managed_memory_gone(ctx, owner, agent);
}
