/* hsa_amd_pointer_info: what an address is to the runtime.
 *
 * HIP 5.7.1 asks it on its copy paths for memory it does not know
 * (clr rocm-5.7.1 rocclr/device/rocm/rocdevice.cpp Device::IsValidAllocation,
 * GetArenaMemObj) and logs an error when it fails ("The call should never
 * fail in ROCR").
 *
 * ROCR 6.1.2 (src/core/runtime/runtime.cpp Runtime::PtrInfo; 5.2.3 the same
 * but global_flags):
 * - info->size 0: INVALID_ARGUMENT; the result is written up to
 *   min(info->size, sizeof(hsa_amd_pointer_info_t)) bytes, size included;
 * - an address KFD does not know: type UNKNOWN, nothing else, SUCCESS;
 * - an allocation of a pool: type HSA, agent and host base both the
 *   allocation's start, its size, the pool's owner as agentOwner, coarse or
 *   fine grained as global_flags (the kernarg pool: fine | KERNARG_INIT);
 * - locked host memory: type LOCKED, hostBaseAddress the host range,
 *   agentBaseAddress its GPU address, a CPU agent as agentOwner ("users are
 *   expecting to see a CPU when the memory is system");
 * - with alloc, num_agents_accessible and accessible all given, the agents
 *   the memory is mapped to, in an array from alloc (OUT_OF_RESOURCES when
 *   it returns NULL).
 * hsasim's allocations come from its own table (memory.c), which holds what
 * KFD would: the range, the pool and the GPUs mapping it; system memory is
 * also the CPU's.  userData is always NULL: hsasim does not implement
 * hsa_amd_pointer_info_set_userdata. */
#include <string.h>

#include "hsasim.h"

static hsa_agent_t handle_of(const sim_agent *a)
{
    return (hsa_agent_t){(uint64_t)(uintptr_t)a};
}

static const sim_agent *first_cpu(void)
{
    for (uint32_t i = 0; i < sim_rt.n_agents; i++)
        if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_CPU)
            return &sim_rt.agents[i];
    return NULL;
}

static bool is_vram(const sim_pool *p)
{
    return p->kind == SIM_POOL_VRAM_COARSE || p->kind == SIM_POOL_VRAM_FINE;
}

static uint32_t flags_of(const sim_pool *p)
{
    switch (p->kind) {
    case SIM_POOL_SYSTEM_COARSE:
    case SIM_POOL_VRAM_COARSE: return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED;
    case SIM_POOL_SYSTEM_KERNARG:
        return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED |
               HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT;
    default: return HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED;
    }
}

/* The accessible agents: system memory's CPUs first, then the mapped GPUs. */
static hsa_status_t list_agents(const sim_alloc_view *v, bool cpus, void *(*alloc)(size_t),
                                uint32_t *n_out, hsa_agent_t **out)
{
    size_t n = v->n_mapped;
    for (uint32_t i = 0; cpus && i < sim_rt.n_agents; i++)
        n += sim_rt.agents[i].type == HSA_DEVICE_TYPE_CPU;
    hsa_agent_t *list = alloc(n ? n * sizeof *list : sizeof *list);
    if (!list)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    size_t k = 0;
    for (uint32_t i = 0; cpus && i < sim_rt.n_agents; i++)
        if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_CPU)
            list[k++] = handle_of(&sim_rt.agents[i]);
    for (size_t i = 0; i < v->n_mapped; i++)
        list[k++] = handle_of(v->mapped[i]);
    *n_out = (uint32_t)k;
    *out = list;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_pointer_info(const void *ptr, hsa_amd_pointer_info_t *info,
                                          void *(*alloc)(size_t),
                                          uint32_t *num_agents_accessible,
                                          hsa_agent_t **accessible)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!ptr || !info) /* ROCR: IS_BAD_PTR on both */
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (info->size == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_amd_pointer_info_t r;
    memset(&r, 0, sizeof r);
    r.size = info->size < sizeof r ? info->size : (uint32_t)sizeof r;
    bool list = alloc && num_agents_accessible && accessible;
    uintptr_t addr = (uintptr_t)ptr, host, agent;
    size_t size;
    sim_alloc_view v;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    if (sim_memory_find(addr, &v)) {
        r.type = HSA_EXT_POINTER_TYPE_HSA;
        r.agentBaseAddress = r.hostBaseAddress = (void *)v.base;
        r.sizeInBytes = v.size;
        r.agentOwner = handle_of(v.pool->owner);
        r.global_flags = flags_of(v.pool);
        if (list)
            st = list_agents(&v, !is_vram(v.pool), alloc, num_agents_accessible, accessible);
    } else if (sim_host_lock_find(addr, &host, &agent, &size)) {
        r.type = HSA_EXT_POINTER_TYPE_LOCKED;
        r.hostBaseAddress = (void *)host;
        r.agentBaseAddress = (void *)agent;
        r.sizeInBytes = size;
        r.global_flags = HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED;
        const sim_agent *cpu = first_cpu();
        r.agentOwner = cpu ? handle_of(cpu) : (hsa_agent_t){0};
        if (list) {
            /* The CPUs and the GPUs the lock mapped it to. */
            sim_alloc_view mapped = {.n_mapped = 0};
            for (uint32_t i = 0; i < sim_rt.n_agents && mapped.n_mapped < SIM_MAX_MAPPED; i++) {
                sim_range range;
                if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_GPU &&
                    sim_host_lock_accessible(sim_agent_identity(&sim_rt.agents[i]), agent, 1,
                                             &range))
                    mapped.mapped[mapped.n_mapped++] = &sim_rt.agents[i];
            }
            st = list_agents(&mapped, true, alloc, num_agents_accessible, accessible);
        }
    } else {
        r.type = HSA_EXT_POINTER_TYPE_UNKNOWN; /* the list arguments are left alone */
    }
    if (st != HSA_STATUS_SUCCESS)
        return st;
    memcpy(info, &r, r.size);
    return HSA_STATUS_SUCCESS;
}
