/* hsasim ISAs: the name an agent's ISA has in ROCR, and the hsa_isa_*
 * queries. */
#include <stdio.h>
#include <string.h>

#include "hsasim.h"

/* KFD node capability bit (hsakmttypes.h HSA_CAPABILITY). */
#define CAP_SRAM_EDC(c) (((c) >> 26) & 1)

struct sim_isa {
    uint64_t magic;
    char name[96]; /* amdgcn-amd-amdhsa--gfx942:sramecc+:xnack- */
};
#define SIM_ISA_MAGIC 0x4153494d49534148ull

/* One ISA per distinct name; lives as long as the process (ISA handles stay
 * valid across shut_down in ROCR, which keeps a static registry). */
static sim_isa isas[32];
static int n_isas;
static pthread_mutex_t isa_lock = PTHREAD_MUTEX_INITIALIZER;

/* Target features: sramecc on the targets that have it (state from the
 * node's SRAM EDC capability), xnack off on those that support it. */
static void isa_name_for(const sim_agent *a, char *out, size_t size)
{
    const char *gfx = a->node.gfx_target;
    static const char *const sramecc_targets[] = {"gfx906", "gfx908", "gfx90a", "gfx940",
                                                  "gfx941", "gfx942"};
    static const char *const xnack_targets[] = {"gfx801", "gfx810", "gfx900", "gfx902",
                                                "gfx904", "gfx906", "gfx908", "gfx909",
                                                "gfx90a", "gfx90c", "gfx940", "gfx941",
                                                "gfx942", "gfx1010", "gfx1011", "gfx1012",
                                                "gfx1013"};
    uint64_t cap = topo_props_get_or(&a->node.props, "capability", 0);
    int len = snprintf(out, size, "amdgcn-amd-amdhsa--%s", gfx);
    for (size_t i = 0; i < sizeof sramecc_targets / sizeof *sramecc_targets; i++)
        if (strcmp(gfx, sramecc_targets[i]) == 0)
            len += snprintf(out + len, size - (size_t)len, ":sramecc%c",
                            CAP_SRAM_EDC(cap) ? '+' : '-');
    for (size_t i = 0; i < sizeof xnack_targets / sizeof *xnack_targets; i++)
        if (strcmp(gfx, xnack_targets[i]) == 0)
            snprintf(out + len, size - (size_t)len, ":xnack-");
}

sim_isa *sim_isa_for(const sim_agent *a)
{
    char name[96];
    isa_name_for(a, name, sizeof name);
    pthread_mutex_lock(&isa_lock);
    sim_isa *found = NULL;
    for (int i = 0; i < n_isas && !found; i++)
        if (strcmp(isas[i].name, name) == 0)
            found = &isas[i];
    if (!found && n_isas < (int)(sizeof isas / sizeof *isas)) {
        found = &isas[n_isas++];
        found->magic = SIM_ISA_MAGIC;
        snprintf(found->name, sizeof found->name, "%s", name);
    }
    pthread_mutex_unlock(&isa_lock);
    return found;
}

static sim_isa *isa_get(hsa_isa_t isa)
{
    sim_isa *p = (sim_isa *)(uintptr_t)isa.handle;
    for (int i = 0; i < (int)(sizeof isas / sizeof *isas); i++)
        if (p == &isas[i] && p->magic == SIM_ISA_MAGIC)
            return p;
    return NULL;
}

/* --- ISA queries ------------------------------------------------------------------------ */

SIM_API hsa_status_t hsa_agent_iterate_isas(hsa_agent_t agent,
                                            hsa_status_t (*callback)(hsa_isa_t isa, void *data),
                                            void *data)
{
    sim_agent *a;
    hsa_status_t checked = sim_agent_checked(agent, callback != NULL, &a);
    if (checked != HSA_STATUS_SUCCESS)
        return checked;
    if (a->type != HSA_DEVICE_TYPE_GPU)
        return HSA_STATUS_SUCCESS;
    sim_isa *isa = sim_isa_for(a);
    if (!isa)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    return callback((hsa_isa_t){(uint64_t)(uintptr_t)isa}, data);
}

SIM_API hsa_status_t hsa_isa_from_name(const char *name, hsa_isa_t *isa)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!name || !isa)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < sim_rt.n_agents; i++) {
        if (sim_rt.agents[i].type != HSA_DEVICE_TYPE_GPU)
            continue;
        sim_isa *p = sim_isa_for(&sim_rt.agents[i]);
        if (p && strcmp(p->name, name) == 0) {
            *isa = (hsa_isa_t){(uint64_t)(uintptr_t)p};
            return HSA_STATUS_SUCCESS;
        }
    }
    return HSA_STATUS_ERROR_INVALID_ISA_NAME;
}

SIM_API hsa_status_t hsa_isa_get_info_alt(hsa_isa_t isa, hsa_isa_info_t attribute, void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_isa *p = isa_get(isa);
    if (!p)
        return HSA_STATUS_ERROR_INVALID_ISA;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    switch ((int)attribute) {
    case HSA_ISA_INFO_NAME_LENGTH: *(uint32_t *)value = (uint32_t)strlen(p->name) + 1; break;
    case HSA_ISA_INFO_NAME: memcpy(value, p->name, strlen(p->name) + 1); break;
    case HSA_ISA_INFO_MACHINE_MODELS:
        ((bool *)value)[HSA_MACHINE_MODEL_SMALL] = false;
        ((bool *)value)[HSA_MACHINE_MODEL_LARGE] = true;
        break;
    case HSA_ISA_INFO_PROFILES:
        ((bool *)value)[HSA_PROFILE_BASE] = true;
        ((bool *)value)[HSA_PROFILE_FULL] = false;
        break;
    case HSA_ISA_INFO_DEFAULT_FLOAT_ROUNDING_MODES:
    case HSA_ISA_INFO_BASE_PROFILE_DEFAULT_FLOAT_ROUNDING_MODES:
        ((bool *)value)[HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT] = false;
        ((bool *)value)[HSA_DEFAULT_FLOAT_ROUNDING_MODE_ZERO] = false;
        ((bool *)value)[HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR] = true;
        break;
    case HSA_ISA_INFO_FAST_F16_OPERATION: *(bool *)value = true; break;
    case HSA_ISA_INFO_WORKGROUP_MAX_DIM:
        for (int i = 0; i < 3; i++)
            ((uint16_t *)value)[i] = 1024;
        break;
    case HSA_ISA_INFO_WORKGROUP_MAX_SIZE: *(uint32_t *)value = 1024; break;
    case HSA_ISA_INFO_GRID_MAX_DIM:
        for (int i = 0; i < 3; i++)
            ((uint32_t *)value)[i] = UINT32_MAX;
        break;
    case HSA_ISA_INFO_GRID_MAX_SIZE: *(uint64_t *)value = UINT32_MAX; break;
    case HSA_ISA_INFO_FBARRIER_MAX_SIZE: *(uint32_t *)value = 32; break;
    default: return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_isa_get_info(hsa_isa_t isa, hsa_isa_info_t attribute, uint32_t index,
                                      void *value)
{
    if (index != 0)
        return HSA_STATUS_ERROR_INVALID_INDEX;
    return hsa_isa_get_info_alt(isa, attribute, value);
}
