/* Checkpoint shadows: a buffer's host copy, as the managed layer keeps it
 * beside the buffer (resilience fills and reads them).
 *
 * Shadows are process memory, on the NUMA node of the buffer's GPU (the PCI
 * device's numa_node, when the machine says), locked for the runtime's copy
 * engines with hsa_amd_memory_lock (managed.h: a lock outlives a
 * re-enumeration). */
#include <numa.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "managed/managed.h"

static int numa_node_of(const rochp_context *ctx, rochp_device_id device)
{
    if (device == ROCHP_HOST || numa_available() < 0)
        return -1;
    rochp_device_info info;
    if (rochp_device_get((rochp_context *)ctx, device, &info) != ROCHP_OK)
        return -1;
    char path[128];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", info.pci);
    FILE *f = fopen(path, "r");
    int node = -1;
    if (f) {
        if (fscanf(f, "%d", &node) != 1)
            node = -1;
        fclose(f);
    }
    return node;
}

rochp_status shadow_alloc_near(rochp_context *ctx, rochp_device_id device, size_t size,
                               shadow *out)
{
    int node = numa_node_of(ctx, device);
    memset(out, 0, sizeof *out);
    void *p = node >= 0 ? numa_alloc_onnode(size, node) : NULL;
    if (!p) {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE,
                 -1, 0);
        if (p == MAP_FAILED)
            p = NULL;
    }
    if (!p)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "checkpoint: no host memory for a %zu-byte shadow", size);
    out->host = p;
    out->size = size;
    return ROCHP_OK;
}

/* Locked for the runtime's copy engines (once: the lock outlives a
 * re-enumeration). */
rochp_status shadow_lock(rochp_context *ctx, shadow *s)
{
    if (s->agent)
        return ROCHP_OK;
    void *agent_ptr = NULL;
    hsa_status_t hs = ctx->hsa.amd_memory_lock(s->host, s->size, NULL, 0, &agent_ptr);
    if (hs != HSA_STATUS_SUCCESS || !agent_ptr)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "checkpoint: the runtime cannot lock %zu bytes of host memory "
                                "for its copy engines: %s",
                                s->size, rochp__hsa_status_text(&ctx->hsa, hs));
    s->agent = agent_ptr;
    return ROCHP_OK;
}

void shadow_free(rochp_context *ctx, shadow *s)
{
    if (!s->host)
        return;
    if (s->agent && ctx->hsa_up)
        ctx->hsa.amd_memory_unlock(s->host);
    /* numa_alloc_onnode is an mmap too: munmap frees either. */
    munmap(s->host, s->size);
    memset(s, 0, sizeof *s);
}

rochp_status shadow_copy_out(rochp_context *ctx, shadow *s, void *dst, uint64_t dst_agent,
                             uint64_t cpu, hsa_signal_t *done)
{
    done->handle = 0;
    rochp_status st = shadow_lock(ctx, s);
    if (st != ROCHP_OK)
        return st;
    if (ctx->hsa.signal_create(1, 0, NULL, done) != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "restore: cannot create a signal");
    hsa_status_t hs = ctx->hsa.amd_memory_async_copy(dst, (hsa_agent_t){dst_agent}, s->agent,
                                                     (hsa_agent_t){cpu}, s->size, 0, NULL, *done);
    if (hs != HSA_STATUS_SUCCESS) {
        ctx->hsa.signal_destroy(*done);
        done->handle = 0;
        return rochp__set_errorf(ROCHP_ERROR_IO, "restore: a %zu-byte copy could not start: %s",
                                s->size, rochp__hsa_status_text(&ctx->hsa, hs));
    }
    return ROCHP_OK;
}

