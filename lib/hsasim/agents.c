/* hsasim agents: one CPU agent per KFD node with CPU cores and one GPU agent
 * per node with SIMDs (an old APU node gives both), CPUs first, as ROCR's
 * topology discovery orders them.  Their attributes follow ROCR's
 * GpuAgent/CpuAgent::GetInfo over the same KFD properties. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hsasim.h"

/* KFD node capability bits (hsakmttypes.h HSA_CAPABILITY). */
#define CAP_WATCH_POINTS_TOTAL_BITS(c) (((c) >> 8) & 0xf)
#define CAP_ASIC_REVISION(c) (((c) >> 22) & 0xf)
#define CAP_SRAM_EDC(c) (((c) >> 26) & 1)

/* --- ISAs -------------------------------------------------------------------- */

typedef struct sim_isa {
    uint64_t magic;
    char name[96]; /* amdgcn-amd-amdhsa--gfx942:sramecc+:xnack- */
} sim_isa;
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

static sim_isa *isa_for(const sim_agent *a)
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

/* --- names --------------------------------------------------------------------- */

/* libhsakmt asks libdrm for the marketing name (amdgpu.ids, by device and
 * PCI revision).  KFD does not give the PCI revision, so the simulator takes
 * its own table for the boards it models, then the first amdgpu.ids entry of
 * the device id. */
static void product_name(uint64_t device_id, char *out, size_t size)
{
    static const struct {
        uint16_t id;
        const char *name;
    } known[] = {
        {0x74a1, "AMD Instinct MI300X"}, {0x74a2, "AMD Instinct MI308X"},
        {0x74a0, "AMD Instinct MI300A"}, {0x740f, "AMD Instinct MI210"},
        {0x738c, "AMD Instinct MI100"},  {0x744c, "AMD Radeon RX 7900 XTX"},
        {0x1586, "AMD Radeon 8060S Graphics"},
    };
    out[0] = '\0';
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        if (known[i].id == device_id) {
            snprintf(out, size, "%s", known[i].name);
            return;
        }
    }
    FILE *f = fopen("/usr/share/libdrm/amdgpu.ids", "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        unsigned id, rev;
        char name[200];
        if (sscanf(line, "%x, %x, %199[^\n]", &id, &rev, name) == 3 && id == device_id) {
            snprintf(out, size, "%.*s", (int)size - 1, name); /* HSA names are 64 bytes */
            break;
        }
    }
    fclose(f);
}

/* CPU agents are named by the processor, as libhsakmt reads /proc/cpuinfo. */
static void cpu_name(char *out, size_t size)
{
    snprintf(out, size, "CPU");
    FILE *f = fopen("/proc/cpuinfo", "re");
    if (!f)
        return;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *colon = strchr(line, ':');
        if (strncmp(line, "model name", 10) == 0 && colon) {
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            colon[strcspn(colon, "\n")] = '\0';
            snprintf(out, size, "%s", colon);
            break;
        }
    }
    fclose(f);
}

/* --- building ------------------------------------------------------------------------ */

static uint64_t prop(const sim_agent *a, const char *key)
{
    return topo_props_get_or(&a->node.props, key, 0);
}

static uint64_t system_memory(const topo_node *n)
{
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n->n_mem_banks; i++)
        if (topo_props_get_or(&n->mem_banks[i].props, "heap_type", 0) == 0)
            sum += topo_props_get_or(&n->mem_banks[i].props, "size_in_bytes", 0);
    return sum;
}

static void add_pool(sim_agent *a, sim_pool_kind kind, uint64_t size)
{
    if (a->n_pools < SIM_MAX_POOLS)
        a->pools[a->n_pools++] = (sim_pool){.kind = kind, .owner = a, .size = size};
}

hsa_status_t sim_agents_build(void);
hsa_status_t sim_agents_build(void)
{
    const topo_snapshot *snap = sim_rt.snapshot;
    uint32_t cpus = 0, gpus = 0;
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        cpus += snap->nodes[i].cpu_cores > 0;
        gpus += snap->nodes[i].simd_count > 0 && snap->nodes[i].gfx_target[0];
    }
    sim_agent *agents = calloc(cpus + gpus ? cpus + gpus : 1, sizeof *agents);
    if (!agents)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    uint32_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (uint32_t i = 0; i < snap->n_nodes; i++) {
            const topo_node *node = &snap->nodes[i];
            bool cpu = node->cpu_cores > 0;
            /* A GPU whose ISA cannot be named is skipped, as ROCR skips
             * nodes whose gfx version it does not support. */
            bool gpu = node->simd_count > 0 && node->gfx_target[0];
            if ((pass == 0 && !cpu) || (pass == 1 && !gpu))
                continue;
            sim_agent *a = &agents[n++];
            a->magic = SIM_AGENT_MAGIC;
            a->node = *node;
            a->node_id = node->index;
            if (pass == 0) {
                a->type = HSA_DEVICE_TYPE_CPU;
                cpu_name(a->name, sizeof a->name);
                snprintf(a->product, sizeof a->product, "%s", a->name);
                snprintf(a->uuid, sizeof a->uuid, "CPU-XX");
                uint64_t mem = system_memory(node);
                /* ROCR 5.x: fine-grained, kernarg (fine-grained) and
                 * coarse-grained views of system memory. */
                add_pool(a, SIM_POOL_SYSTEM_FINE, mem);
                add_pool(a, SIM_POOL_SYSTEM_KERNARG, mem);
                add_pool(a, SIM_POOL_SYSTEM_COARSE, mem);
            } else {
                a->type = HSA_DEVICE_TYPE_GPU;
                snprintf(a->name, sizeof a->name, "%s", node->gfx_target);
                product_name(node->device_id, a->product, sizeof a->product);
                if (node->unique_id)
                    snprintf(a->uuid, sizeof a->uuid, "GPU-%016llx",
                             (unsigned long long)node->unique_id);
                else
                    snprintf(a->uuid, sizeof a->uuid, "GPU-XX");
                add_pool(a, SIM_POOL_VRAM_COARSE, node->vram_bytes);
                add_pool(a, SIM_POOL_GROUP, prop(a, "lds_size_in_kb") * 1024);
            }
        }
    }
    sim_rt.agents = agents;
    sim_rt.n_agents = n;
    return HSA_STATUS_SUCCESS;
}

void sim_agents_release(void);
void sim_agents_release(void)
{
    for (uint32_t i = 0; i < sim_rt.n_agents; i++)
        sim_rt.agents[i].magic = 0;
    free(sim_rt.agents);
    sim_rt.agents = NULL;
    sim_rt.n_agents = 0;
}

sim_agent *sim_agent_get(hsa_agent_t agent)
{
    sim_agent *p = (sim_agent *)(uintptr_t)agent.handle;
    sim_agent *found = NULL;
    pthread_mutex_lock(&sim_rt.lock);
    if (sim_rt.refcount > 0 && p >= sim_rt.agents && p < sim_rt.agents + sim_rt.n_agents &&
        p->magic == SIM_AGENT_MAGIC)
        found = p;
    pthread_mutex_unlock(&sim_rt.lock);
    return found;
}

/* --- the API -------------------------------------------------------------------------- */

SIM_API hsa_status_t hsa_iterate_agents(hsa_status_t (*callback)(hsa_agent_t agent, void *data),
                                        void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* The agent list is fixed between init and shut_down: no lock across callbacks. */
    for (uint32_t i = 0; i < sim_rt.n_agents; i++) {
        hsa_status_t st = callback((hsa_agent_t){(uint64_t)(uintptr_t)&sim_rt.agents[i]}, data);
        if (st != HSA_STATUS_SUCCESS)
            return st;
    }
    return HSA_STATUS_SUCCESS;
}

/* Sizes in bytes of the first cache of each level 1..4, from the node's
 * cache entries (ROCR reads them from the same KFD files). */
static void cache_sizes(const sim_agent *a, uint32_t out[4])
{
    memset(out, 0, 4 * sizeof *out);
    for (uint32_t i = 0; a->node.caches && i < a->node.n_caches; i++) {
        uint64_t level = topo_props_get_or(&a->node.caches[i], "level", 0);
        uint64_t kb = topo_props_get_or(&a->node.caches[i], "size", 0);
        if (level >= 1 && level <= 4 && out[level - 1] == 0)
            out[level - 1] = (uint32_t)(kb * 1024);
    }
}

static unsigned gfx_major(const sim_agent *a)
{
    return (unsigned)(prop(a, "gfx_target_version") / 10000);
}

SIM_API hsa_status_t hsa_agent_get_info(hsa_agent_t agent, hsa_agent_info_t attribute, void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    bool gpu = a->type == HSA_DEVICE_TYPE_GPU;
    uint64_t simd_per_cu = prop(a, "simd_per_cu");
    switch ((int)attribute) {
    case HSA_AGENT_INFO_NAME:
        memset(value, 0, 64);
        memcpy(value, a->name, strnlen(a->name, 63));
        break;
    case HSA_AGENT_INFO_VENDOR_NAME:
        memset(value, 0, 64);
        memcpy(value, gpu ? "AMD" : "CPU", 3);
        break;
    case HSA_AGENT_INFO_FEATURE:
        *(hsa_agent_feature_t *)value = gpu ? HSA_AGENT_FEATURE_KERNEL_DISPATCH : 0;
        break;
    case HSA_AGENT_INFO_MACHINE_MODEL:
        *(hsa_machine_model_t *)value = HSA_MACHINE_MODEL_LARGE;
        break;
    case HSA_AGENT_INFO_PROFILE:
        /* Discrete GPUs are base profile; CPUs and APU GPUs full. */
        *(hsa_profile_t *)value =
            gpu && a->node.kind != TOPO_KIND_APU ? HSA_PROFILE_BASE : HSA_PROFILE_FULL;
        break;
    case HSA_AGENT_INFO_WAVEFRONT_SIZE:
        *(uint32_t *)value = gpu ? (uint32_t)prop(a, "wave_front_size") : 0;
        break;
    case HSA_AGENT_INFO_WORKGROUP_MAX_DIM:
        for (int i = 0; i < 3; i++)
            ((uint16_t *)value)[i] = gpu ? 1024 : 0;
        break;
    case HSA_AGENT_INFO_WORKGROUP_MAX_SIZE: *(uint32_t *)value = gpu ? 1024 : 0; break;
    case HSA_AGENT_INFO_GRID_MAX_DIM:
        for (int i = 0; i < 3; i++)
            ((uint32_t *)value)[i] = gpu ? UINT32_MAX : 0;
        break;
    case HSA_AGENT_INFO_GRID_MAX_SIZE: *(uint32_t *)value = gpu ? UINT32_MAX : 0; break;
    case HSA_AGENT_INFO_FBARRIER_MAX_SIZE: *(uint32_t *)value = gpu ? 32 : 0; break;
    case HSA_AGENT_INFO_QUEUES_MAX: *(uint32_t *)value = gpu ? 128 : 0; break;
    case HSA_AGENT_INFO_QUEUE_MIN_SIZE: *(uint32_t *)value = gpu ? 64 : 0; break;
    case HSA_AGENT_INFO_QUEUE_MAX_SIZE: *(uint32_t *)value = gpu ? 131072 : 0; break;
    case HSA_AGENT_INFO_QUEUE_TYPE: *(hsa_queue_type32_t *)value = HSA_QUEUE_TYPE_MULTI; break;
    case HSA_AGENT_INFO_NODE: *(uint32_t *)value = a->node_id; break;
    case HSA_AGENT_INFO_DEVICE: *(hsa_device_type_t *)value = a->type; break;
    case HSA_AGENT_INFO_CACHE_SIZE: cache_sizes(a, value); break;
    case HSA_AGENT_INFO_ISA: {
        if (!gpu)
            return HSA_STATUS_ERROR_INVALID_AGENT; /* ROCR: CPU agents have no ISA */
        sim_isa *isa = isa_for(a);
        if (!isa)
            return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        *(hsa_isa_t *)value = (hsa_isa_t){(uint64_t)(uintptr_t)isa};
        break;
    }
    case HSA_AGENT_INFO_EXTENSIONS: memset(value, 0, 128); break;
    case HSA_AGENT_INFO_VERSION_MAJOR: *(uint16_t *)value = 1; break;
    case HSA_AGENT_INFO_VERSION_MINOR: *(uint16_t *)value = 1; break;
    case HSA_AGENT_INFO_DEFAULT_FLOAT_ROUNDING_MODE:
        *(hsa_default_float_rounding_mode_t *)value = HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR;
        break;
    case HSA_AGENT_INFO_BASE_PROFILE_DEFAULT_FLOAT_ROUNDING_MODES:
        *(hsa_default_float_rounding_mode_t *)value = HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR;
        break;
    case HSA_AGENT_INFO_FAST_F16_OPERATION: *(bool *)value = gpu; break;
    case HSA_AMD_AGENT_INFO_CHIP_ID: *(uint32_t *)value = (uint32_t)a->node.device_id; break;
    case HSA_AMD_AGENT_INFO_CACHELINE_SIZE:
        *(uint32_t *)value = gpu && gfx_major(a) >= 10 ? 128 : 64;
        break;
    case HSA_AMD_AGENT_INFO_COMPUTE_UNIT_COUNT:
        *(uint32_t *)value = gpu ? (uint32_t)(simd_per_cu ? a->node.simd_count / simd_per_cu : 0)
                                 : (uint32_t)a->node.cpu_cores;
        break;
    case HSA_AMD_AGENT_INFO_MAX_CLOCK_FREQUENCY:
        *(uint32_t *)value =
            (uint32_t)prop(a, gpu ? "max_engine_clk_fcompute" : "max_engine_clk_ccompute");
        break;
    case HSA_AMD_AGENT_INFO_DRIVER_NODE_ID: *(uint32_t *)value = a->node_id; break;
    case HSA_AMD_AGENT_INFO_MAX_ADDRESS_WATCH_POINTS: {
        uint64_t bits = CAP_WATCH_POINTS_TOTAL_BITS(prop(a, "capability"));
        *(uint32_t *)value = gpu ? 1u << bits : 0;
        break;
    }
    case HSA_AMD_AGENT_INFO_BDFID: *(uint32_t *)value = a->node.location_id; break;
    case HSA_AMD_AGENT_INFO_DOMAIN: *(uint32_t *)value = a->node.domain; break;
    case HSA_AMD_AGENT_INFO_MEMORY_WIDTH:
        *(uint32_t *)value = a->node.n_mem_banks
                                 ? (uint32_t)topo_props_get_or(&a->node.mem_banks[0].props, "width", 0)
                                 : 0;
        break;
    case HSA_AMD_AGENT_INFO_MEMORY_MAX_FREQUENCY:
        *(uint32_t *)value =
            a->node.n_mem_banks
                ? (uint32_t)topo_props_get_or(&a->node.mem_banks[0].props, "mem_clk_max", 0)
                : 0;
        break;
    case HSA_AMD_AGENT_INFO_PRODUCT_NAME:
        memset(value, 0, 64);
        memcpy(value, a->product, strnlen(a->product, 63));
        break;
    case HSA_AMD_AGENT_INFO_MAX_WAVES_PER_CU:
        *(uint32_t *)value = (uint32_t)(prop(a, "max_waves_per_simd") * simd_per_cu);
        break;
    case HSA_AMD_AGENT_INFO_NUM_SIMDS_PER_CU: *(uint32_t *)value = (uint32_t)simd_per_cu; break;
    case HSA_AMD_AGENT_INFO_NUM_SHADER_ENGINES: {
        uint64_t per = prop(a, "simd_arrays_per_engine");
        *(uint32_t *)value = per ? (uint32_t)(prop(a, "array_count") / per) : 0;
        break;
    }
    case HSA_AMD_AGENT_INFO_NUM_SHADER_ARRAYS_PER_SE:
        *(uint32_t *)value = (uint32_t)prop(a, "simd_arrays_per_engine");
        break;
    case HSA_AMD_AGENT_INFO_UUID:
        memset(value, 0, 21);
        memcpy(value, a->uuid, strnlen(a->uuid, 20));
        break;
    case HSA_AMD_AGENT_INFO_ASIC_REVISION:
        *(uint32_t *)value = (uint32_t)CAP_ASIC_REVISION(prop(a, "capability"));
        break;
    case HSA_AMD_AGENT_INFO_COOPERATIVE_QUEUES: *(bool *)value = false; break;
    case HSA_AMD_AGENT_INFO_SVM_DIRECT_HOST_ACCESS: *(bool *)value = !gpu; break;
    case HSA_AMD_AGENT_INFO_COOPERATIVE_COMPUTE_UNIT_COUNT:
        *(uint32_t *)value = gpu ? (uint32_t)(simd_per_cu ? a->node.simd_count / simd_per_cu : 0) : 0;
        break;
    default:
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}

/* --- ISA queries ------------------------------------------------------------------------ */

SIM_API hsa_status_t hsa_agent_iterate_isas(hsa_agent_t agent,
                                            hsa_status_t (*callback)(hsa_isa_t isa, void *data),
                                            void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (a->type != HSA_DEVICE_TYPE_GPU)
        return HSA_STATUS_SUCCESS;
    sim_isa *isa = isa_for(a);
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
        sim_isa *p = isa_for(&sim_rt.agents[i]);
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

/* --- pools and regions ------------------------------------------------------------------ */

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

sim_pool *sim_pool_get(uint64_t handle);
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
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
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
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
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
