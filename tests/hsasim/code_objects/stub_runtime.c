/* Just enough of hsasim's runtime for the loader, so that it is
 * tested on its own (hsasim_co_loader_internal): one mi300x-like GPU agent,
 * one CPU agent, and the init count.  hsa_shut_down releases executables as
 * the runtime is asked to (sim_executables_release_all). */
#include <stdatomic.h>
#include <string.h>

#include "hsasim.h"

static _Atomic int refcount;
static sim_agent agents[2] = {
    {.magic = SIM_AGENT_MAGIC, .type = HSA_DEVICE_TYPE_CPU, .name = "Stub CPU"},
    {.magic = SIM_AGENT_MAGIC, .type = HSA_DEVICE_TYPE_GPU, .name = "gfx942"},
};
static const char gpu_isa[] = "amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-";
static const uint64_t isa_handle = 0x15a;

bool sim_is_initialized(void)
{
    return atomic_load(&refcount) > 0;
}

sim_agent *sim_agent_get(hsa_agent_t agent)
{
    if (!sim_is_initialized())
        return NULL;
    for (int i = 0; i < 2; i++)
        if (agent.handle == (uint64_t)(uintptr_t)&agents[i])
            return &agents[i];
    return NULL;
}

hsa_status_t hsa_init(void);
hsa_status_t hsa_shut_down(void);

hsa_status_t hsa_init(void)
{
    atomic_fetch_add(&refcount, 1);
    return HSA_STATUS_SUCCESS;
}

hsa_status_t hsa_shut_down(void)
{
    if (atomic_load(&refcount) == 0)
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (atomic_fetch_sub(&refcount, 1) == 1)
        sim_executables_release_all();
    return HSA_STATUS_SUCCESS;
}

hsa_status_t hsa_iterate_agents(hsa_status_t (*callback)(hsa_agent_t agent, void *data),
                                void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    for (int i = 0; i < 2; i++) {
        hsa_status_t st = callback((hsa_agent_t){(uint64_t)(uintptr_t)&agents[i]}, data);
        if (st != HSA_STATUS_SUCCESS)
            return st;
    }
    return HSA_STATUS_SUCCESS;
}

hsa_status_t hsa_agent_get_info(hsa_agent_t agent, hsa_agent_info_t attribute, void *value)
{
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    switch ((int)attribute) {
    case HSA_AGENT_INFO_DEVICE: *(hsa_device_type_t *)value = a->type; return HSA_STATUS_SUCCESS;
    case HSA_AGENT_INFO_NAME: memcpy(value, a->name, 64); return HSA_STATUS_SUCCESS;
    case HSA_AGENT_INFO_ISA:
        if (a->type != HSA_DEVICE_TYPE_GPU)
            return HSA_STATUS_ERROR_INVALID_AGENT;
        *(hsa_isa_t *)value = (hsa_isa_t){isa_handle};
        return HSA_STATUS_SUCCESS;
    }
    return HSA_STATUS_ERROR_INVALID_ARGUMENT;
}

hsa_status_t hsa_isa_get_info_alt(hsa_isa_t isa, hsa_isa_info_t attribute, void *value)
{
    if (isa.handle != isa_handle)
        return HSA_STATUS_ERROR_INVALID_ISA;
    switch ((int)attribute) {
    case HSA_ISA_INFO_NAME_LENGTH: *(uint32_t *)value = sizeof gpu_isa - 1; return HSA_STATUS_SUCCESS;
    case HSA_ISA_INFO_NAME: memcpy(value, gpu_isa, sizeof gpu_isa - 1); return HSA_STATUS_SUCCESS;
    }
    return HSA_STATUS_ERROR_INVALID_ARGUMENT;
}
