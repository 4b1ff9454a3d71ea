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

hsa_status_t sim_agent_checked(hsa_agent_t agent, bool given, sim_agent **out)
{
    *out = NULL;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!(*out = sim_agent_get(agent)))
        return HSA_STATUS_ERROR_INVALID_AGENT;
    return given ? HSA_STATUS_SUCCESS : HSA_STATUS_ERROR_INVALID_ARGUMENT;
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
    sim_agent *a;
    hsa_status_t checked = sim_agent_checked(agent, value != NULL, &a);
    if (checked != HSA_STATUS_SUCCESS)
        return checked;
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
        sim_isa *isa = sim_isa_for(a);
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
    case HSA_AMD_AGENT_INFO_HDP_FLUSH:
        /* ROCR 5.2.3 GetInfo: the GPU's MMIO_REMAP words, {NULL, NULL} for
         * a CPU (CpuAgent::GetInfo).  ROCclr's roc::Device::create drops a
         * GPU whose query fails, so HIP would see no device. */
        *(hsa_amd_hdp_flush_t *)value = gpu ? (hsa_amd_hdp_flush_t){&a->hdp_regs[0], &a->hdp_regs[1]}
                                            : (hsa_amd_hdp_flush_t){NULL, NULL};
        break;
    case HSA_AMD_AGENT_INFO_COOPERATIVE_QUEUES: *(bool *)value = false; break;
    case HSA_AMD_AGENT_INFO_SVM_DIRECT_HOST_ACCESS: *(bool *)value = !gpu; break;
    case HSA_AMD_AGENT_INFO_COOPERATIVE_COMPUTE_UNIT_COUNT:
        *(uint32_t *)value = gpu ? (uint32_t)(simd_per_cu ? a->node.simd_count / simd_per_cu : 0) : 0;
        break;
#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
    /* ROCm 6.1.2's attributes (not in 5.2.3's hsa_ext_amd.h), from the node's
     * KFD properties as ROCR's GpuAgent::GetInfo reads them.  HIP 5.7.1's
     * roc::Device::populateOCLDeviceConstants drops a GPU whose
     * NUM_SDMA_ENG query fails. */
    case HSA_AMD_AGENT_INFO_MEMORY_AVAIL:
        /* ROCR: hsaKmtAvailableMemory of the node (its VRAM not allocated)
         * plus the bytes of its pools' and scratch caches, which hsasim does
         * not have.  HIP 5.7.1's hipMemGetInfo reads it (rocdevice.cpp
         * Device::globalFreeMemory).  A CPU: KFD reports 0 for a node
         * without VRAM. */
        *(uint64_t *)value = gpu ? sim_memory_vram_available(a) : 0;
        break;
    case HSA_AMD_AGENT_INFO_TIMESTAMP_FREQUENCY:
        *(uint64_t *)value = 1000000000ull; /* hsasim's timestamps are nanoseconds */
        break;
    case HSA_AMD_AGENT_INFO_UCODE_VERSION:
        *(uint32_t *)value = (uint32_t)(prop(a, "fw_version") & 0x3ff);
        break;
    case HSA_AMD_AGENT_INFO_SDMA_UCODE_VERSION:
        *(uint32_t *)value = (uint32_t)prop(a, "sdma_fw_version");
        break;
    case HSA_AMD_AGENT_INFO_NUM_SDMA_ENG:
        *(uint32_t *)value = (uint32_t)prop(a, "num_sdma_engines");
        break;
    case HSA_AMD_AGENT_INFO_NUM_SDMA_XGMI_ENG:
        *(uint32_t *)value = (uint32_t)prop(a, "num_sdma_xgmi_engines");
        break;
    case HSA_AMD_AGENT_INFO_IOMMU_SUPPORT:
        *(hsa_amd_iommu_version_t *)value = HSA_IOMMU_SUPPORT_NONE;
        break;
    case HSA_AMD_AGENT_INFO_NUM_XCC:
        *(uint32_t *)value = gpu ? (uint32_t)(prop(a, "num_xcc") ? prop(a, "num_xcc") : 1) : 0;
        break;
    case HSA_AMD_AGENT_INFO_DRIVER_UID: *(uint32_t *)value = (uint32_t)a->node.gpu_id; break;
    case HSA_AMD_AGENT_INFO_MEMORY_PROPERTIES: memset(value, 0, 8); break; /* no APU */
    case HSA_AMD_AGENT_INFO_AQL_EXTENSIONS: memset(value, 0, 8); break;
#endif
    default:
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}
