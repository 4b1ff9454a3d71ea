/* hsasim memory pools and regions: what each agent offers and how others
 * may reach it (ROCR's MemoryRegion). */
#include <string.h>

#include "hsasim.h"

static bool pool_is_global(const sim_pool *p)
{
    return p->kind != SIM_POOL_GROUP;
}

static uint32_t pool_flags(const sim_pool *p)
{
    switch (p->kind) {
    case SIM_POOL_SYSTEM_FINE: return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED;
    case SIM_POOL_SYSTEM_KERNARG:
        return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT |
               HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED;
    case SIM_POOL_SYSTEM_COARSE:
    case SIM_POOL_VRAM_COARSE: return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED;
    case SIM_POOL_VRAM_FINE: return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED;
    case SIM_POOL_GROUP: break;
    }
    return 0;
}

sim_pool *sim_pool_get(uint64_t handle)
{
    sim_pool *p = (sim_pool *)(uintptr_t)handle;
    sim_pool *found = NULL;
    pthread_mutex_lock(&sim_rt.lock);
    for (uint32_t i = 0; sim_rt.refcount > 0 && i < sim_rt.n_agents && !found; i++)
        for (uint32_t k = 0; k < sim_rt.agents[i].n_pools; k++)
            if (p == &sim_rt.agents[i].pools[k])
                found = p;
    pthread_mutex_unlock(&sim_rt.lock);
    return found;
}

SIM_API hsa_status_t hsa_amd_agent_iterate_memory_pools(
    hsa_agent_t agent, hsa_status_t (*callback)(hsa_amd_memory_pool_t memory_pool, void *data),
    void *data)
{
    sim_agent *a;
    hsa_status_t checked = sim_agent_checked(agent, callback != NULL, &a);
    if (checked != HSA_STATUS_SUCCESS)
        return checked;
    for (uint32_t k = 0; k < a->n_pools; k++) {
        hsa_status_t st =
            callback((hsa_amd_memory_pool_t){(uint64_t)(uintptr_t)&a->pools[k]}, data);
        if (st != HSA_STATUS_SUCCESS)
            return st;
    }
    return HSA_STATUS_SUCCESS;
}

enum { POOL_GRANULE = 4096 };

SIM_API hsa_status_t hsa_amd_memory_pool_get_info(hsa_amd_memory_pool_t memory_pool,
                                                  hsa_amd_memory_pool_info_t attribute,
                                                  void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_pool *p = sim_pool_get(memory_pool.handle);
    if (!p)
        return (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    bool global = pool_is_global(p);
    switch ((int)attribute) {
    case HSA_AMD_MEMORY_POOL_INFO_SEGMENT:
        *(hsa_amd_segment_t *)value = global ? HSA_AMD_SEGMENT_GLOBAL : HSA_AMD_SEGMENT_GROUP;
        break;
    case HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS: *(uint32_t *)value = pool_flags(p); break;
    case HSA_AMD_MEMORY_POOL_INFO_SIZE: *(size_t *)value = (size_t)p->size; break;
    case HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED: *(bool *)value = global; break;
    case HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_GRANULE:
        *(size_t *)value = global ? POOL_GRANULE : 0;
        break;
    case HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALIGNMENT:
        *(size_t *)value = global ? POOL_GRANULE : 0;
        break;
    case HSA_AMD_MEMORY_POOL_INFO_ACCESSIBLE_BY_ALL:
        *(bool *)value = p->owner->type == HSA_DEVICE_TYPE_CPU;
        break;
    case HSA_AMD_MEMORY_POOL_INFO_ALLOC_MAX_SIZE:
        *(size_t *)value = global ? (size_t)p->size : 0;
        break;
#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
    /* ROCm 6.1.2's attributes (rocminfo 6.1.2 asks for them). */
    case HSA_AMD_MEMORY_POOL_INFO_LOCATION:
        *(hsa_amd_memory_pool_location_t *)value = p->owner->type == HSA_DEVICE_TYPE_CPU
                                                        ? HSA_AMD_MEMORY_POOL_LOCATION_CPU
                                                        : HSA_AMD_MEMORY_POOL_LOCATION_GPU;
        break;
    case HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_REC_GRANULE:
        *(size_t *)value = global ? POOL_GRANULE : 0;
        break;
#endif
    default: return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_agent_memory_pool_get_info(hsa_agent_t agent,
                                                        hsa_amd_memory_pool_t memory_pool,
                                                        hsa_amd_agent_memory_pool_info_t attribute,
                                                        void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    sim_pool *p = sim_pool_get(memory_pool.handle);
    if (!p)
        return (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    switch ((int)attribute) {
    case HSA_AMD_AGENT_MEMORY_POOL_INFO_ACCESS: {
        /* ROCR 5.2.3 MemoryRegion::GetAccessInfo: the owner, ALLOWED_BY_DEFAULT;
         * system memory, ALLOWED_BY_DEFAULT for CPUs and DISALLOWED_BY_DEFAULT
         * for GPUs (hsa_amd_memory_pool_allocate maps it to no GPU: memory.c);
         * another device's coarse-grained memory, DISALLOWED_BY_DEFAULT. */
        hsa_amd_memory_pool_access_t access;
        if (p->owner == a)
            access = p->kind == SIM_POOL_GROUP && a->type != HSA_DEVICE_TYPE_GPU
                         ? HSA_AMD_MEMORY_POOL_ACCESS_NEVER_ALLOWED
                         : HSA_AMD_MEMORY_POOL_ACCESS_ALLOWED_BY_DEFAULT;
        else if (p->kind == SIM_POOL_GROUP)
            access = HSA_AMD_MEMORY_POOL_ACCESS_NEVER_ALLOWED;
        else if (p->owner->type == HSA_DEVICE_TYPE_CPU)
            access = a->type == HSA_DEVICE_TYPE_CPU ? HSA_AMD_MEMORY_POOL_ACCESS_ALLOWED_BY_DEFAULT
                                                    : HSA_AMD_MEMORY_POOL_ACCESS_DISALLOWED_BY_DEFAULT;
        else
            access = HSA_AMD_MEMORY_POOL_ACCESS_DISALLOWED_BY_DEFAULT;
        *(hsa_amd_memory_pool_access_t *)value = access;
        break;
    }
    case HSA_AMD_AGENT_MEMORY_POOL_INFO_NUM_LINK_HOPS: *(uint32_t *)value = p->owner == a ? 0 : 1; break;
    case HSA_AMD_AGENT_MEMORY_POOL_INFO_LINK_INFO: {
        hsa_amd_memory_pool_link_info_t *info = value;
        memset(info, 0, sizeof *info);
        info->link_type = HSA_AMD_LINK_INFO_TYPE_PCIE;
        info->numa_distance = p->owner == a ? 0 : 20;
        break;
    }
    default: return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}

/* Regions are the pools seen through the core API (ROCR: one object). */
SIM_API hsa_status_t hsa_agent_iterate_regions(hsa_agent_t agent,
                                               hsa_status_t (*callback)(hsa_region_t region,
                                                                        void *data),
                                               void *data)
{
    sim_agent *a;
    hsa_status_t checked = sim_agent_checked(agent, callback != NULL, &a);
    if (checked != HSA_STATUS_SUCCESS)
        return checked;
    for (uint32_t k = 0; k < a->n_pools; k++) {
        hsa_status_t st = callback((hsa_region_t){(uint64_t)(uintptr_t)&a->pools[k]}, data);
        if (st != HSA_STATUS_SUCCESS)
            return st;
    }
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_region_get_info(hsa_region_t region, hsa_region_info_t attribute,
                                         void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_pool *p = sim_pool_get(region.handle);
    if (!p)
        return HSA_STATUS_ERROR_INVALID_REGION;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    bool global = pool_is_global(p);
    switch ((int)attribute) {
    case HSA_REGION_INFO_SEGMENT:
        *(hsa_region_segment_t *)value = global ? HSA_REGION_SEGMENT_GLOBAL : HSA_REGION_SEGMENT_GROUP;
        break;
    case HSA_REGION_INFO_GLOBAL_FLAGS: {
        uint32_t f = pool_flags(p), out = 0;
        if (f & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT)
            out |= HSA_REGION_GLOBAL_FLAG_KERNARG;
        if (f & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED)
            out |= HSA_REGION_GLOBAL_FLAG_FINE_GRAINED;
        if (f & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED)
            out |= HSA_REGION_GLOBAL_FLAG_COARSE_GRAINED;
        *(uint32_t *)value = out;
        break;
    }
    case HSA_REGION_INFO_SIZE: *(size_t *)value = (size_t)p->size; break;
    case HSA_REGION_INFO_ALLOC_MAX_SIZE: *(size_t *)value = global ? (size_t)p->size : 0; break;
    case HSA_REGION_INFO_ALLOC_MAX_PRIVATE_WORKGROUP_SIZE: *(uint32_t *)value = 0; break;
    case HSA_REGION_INFO_RUNTIME_ALLOC_ALLOWED: *(bool *)value = global; break;
    case HSA_REGION_INFO_RUNTIME_ALLOC_GRANULE: *(size_t *)value = global ? POOL_GRANULE : 0; break;
    case HSA_REGION_INFO_RUNTIME_ALLOC_ALIGNMENT: *(size_t *)value = global ? POOL_GRANULE : 0; break;
    case HSA_AMD_REGION_INFO_HOST_ACCESSIBLE:
        *(bool *)value = p->owner->type == HSA_DEVICE_TYPE_CPU;
        break;
    case HSA_AMD_REGION_INFO_BASE: *(void **)value = NULL; break;
    case HSA_AMD_REGION_INFO_BUS_WIDTH: *(uint32_t *)value = 0; break;
    case HSA_AMD_REGION_INFO_MAX_CLOCK_FREQUENCY: *(uint32_t *)value = 0; break;
    default: return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}
