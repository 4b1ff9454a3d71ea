/* The SDMA engine API of ROCm 6 (hsa_amd_memory_copy_engine_status,
 * hsa_amd_memory_async_copy_on_engine), which HIP 5.7.1 uses for its
 * host <-> device copies (clr rocm-5.7.1 rocclr/device/rocm/rocblit.cpp
 * DmaBlitManager::hsaCopy: it asks for the free engines and copies on the
 * lowest one, else falls back to hsa_amd_memory_async_copy).
 *
 * ROCR 6.1.2 (src/core/runtime/runtime.cpp CopyMemoryStatus,
 * CopyMemoryOnEngine; amd_gpu_agent.cpp GpuAgent::DmaCopyStatus,
 * DmaCopyOnEngine, DmaEngineIsFree): the copy agent is the source when it is
 * a GPU, else the destination; an engine id is one bit, bit n - 1 of engine
 * n's blit: SDMA_ENGINE_0 the host-to-device blit, SDMA_ENGINE_1 the
 * device-to-host one, SDMA_ENGINE_2 << i the i-th xGMI engine.  An engine is
 * free when it has nothing pending.
 *
 * hsasim has one copy engine per GPU (memory_copy.c), so every engine id
 * names it: a status reports all of the GPU's engines free when it is idle
 * and none (HSA_STATUS_ERROR_OUT_OF_RESOURCES, as ROCR with every engine
 * busy) while it copies; a copy on an engine is an ordinary copy on it, after
 * ROCR's checks of the engine id. */
#include "hsasim.h"

#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4

#include <string.h>
#include <strings.h>

/* The blits of GpuAgent (amd_gpu_agent.h): BlitDevToDev 0, BlitHostToDev 1,
 * BlitDevToHost 2, then the xGMI ones from DefaultBlitCount 3. */
enum { BLIT_HOST_TO_DEV = 1 };

static uint64_t gpu_prop(const sim_agent *a, const char *key)
{
    return topo_props_get_or(&a->node.props, key, 0);
}

static bool is_gpu(const sim_agent *a)
{
    return a->type == HSA_DEVICE_TYPE_GPU;
}

/* Both GPUs of one xGMI hive whose copy agent has xGMI engines. */
static bool over_xgmi(const sim_agent *copy, const sim_agent *dst, const sim_agent *src)
{
    uint64_t hive = gpu_prop(dst, "hive_id");
    return is_gpu(src) && is_gpu(dst) && hive && gpu_prop(src, "hive_id") == hive &&
           gpu_prop(copy, "num_sdma_xgmi_engines");
}

/* "Due to a RAS issue, GFX90a can only support H2D copies on SDMA0" (ROCR). */
static bool limits_h2d(const sim_agent *copy)
{
    return strcmp(copy->name, "gfx90a") == 0;
}

SIM_API hsa_status_t hsa_amd_memory_copy_engine_status(hsa_agent_t dst_agent,
                                                       hsa_agent_t src_agent,
                                                       uint32_t *engine_ids_mask)
{
    /* ROCR checks neither the runtime nor the pointer here; hsasim needs an
     * open runtime to find agents, and a null mask is refused, not written. */
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    const sim_agent *dst = sim_agent_get(dst_agent), *src = sim_agent_get(src_agent);
    if (!dst || !src)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    if (!engine_ids_mask)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (dst == src)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    const sim_agent *copy = is_gpu(src) ? src : dst;
    if (!is_gpu(copy))
        return HSA_STATUS_ERROR_INVALID_AGENT; /* ROCR asserts: no CPU agent has engines */
    *engine_ids_mask = 0;
    if (copy->dead || sim_copy_engine_busy(copy))
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    uint32_t n_sdma = (uint32_t)gpu_prop(copy, "num_sdma_engines");
    uint32_t n_xgmi = (uint32_t)gpu_prop(copy, "num_sdma_xgmi_engines");
    uint32_t mask = 0;
    if (!over_xgmi(copy, dst, src)) {
        bool h2d = !is_gpu(src) && is_gpu(dst);
        if (h2d || !limits_h2d(copy))
            mask |= HSA_AMD_SDMA_ENGINE_0;
        mask |= n_sdma > 1 ? HSA_AMD_SDMA_ENGINE_1 : HSA_AMD_SDMA_ENGINE_0;
    }
    for (uint32_t i = 0; i < n_xgmi && i < 14; i++)
        mask |= (uint32_t)HSA_AMD_SDMA_ENGINE_2 << i;
    *engine_ids_mask = mask;
    return mask ? HSA_STATUS_SUCCESS : HSA_STATUS_ERROR_OUT_OF_RESOURCES;
}

SIM_API hsa_status_t hsa_amd_memory_async_copy_on_engine(
    void *dst, hsa_agent_t dst_agent, const void *src, hsa_agent_t src_agent, size_t size,
    uint32_t num_dep_signals, const hsa_signal_t *dep_signals, hsa_signal_t completion_signal,
    hsa_amd_sdma_engine_id_t engine_id, bool force_copy_on_sdma)
{
    /* ROCR checks the pointers, the dependency list, the agents and the
     * signals first, exactly as hsa_amd_memory_async_copy does, and an empty
     * copy then succeeds without looking at the engine: the 0-byte copy is
     * that check and does nothing else. */
    hsa_status_t st = hsa_amd_memory_async_copy(dst, dst_agent, src, src_agent, 0,
                                                num_dep_signals, dep_signals, completion_signal);
    if (st != HSA_STATUS_SUCCESS || size == 0)
        return st;
    const sim_agent *da = sim_agent_get(dst_agent), *sa = sim_agent_get(src_agent);
    const sim_agent *copy = is_gpu(sa) ? sa : da;
    /* Runtime::CopyMemoryOnEngine: exactly one bit. */
    uint32_t id = (uint32_t)engine_id;
    int offset = ffs((int)id);
    if (!id || (id >> offset))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!is_gpu(copy))
        return HSA_STATUS_ERROR_INVALID_AGENT; /* ROCR asserts */
    /* GpuAgent::DmaCopyOnEngine: the engine within the agent's, an xGMI
     * engine for an xGMI copy and an SDMA one otherwise, and on gfx90a the
     * host-to-device engine only for host-to-device copies.  (force_copy_on_sdma
     * only chooses between a blit kernel and SDMA for a copy within one GPU;
     * hsasim's engine does both.) */
    (void)force_copy_on_sdma;
    uint64_t n_sdma = gpu_prop(copy, "num_sdma_engines");
    uint64_t n_xgmi = gpu_prop(copy, "num_sdma_xgmi_engines");
    bool same_gpu = da == sa;
    bool h2d = !is_gpu(sa) && is_gpu(da);
    if ((uint64_t)offset > n_sdma + n_xgmi)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if ((over_xgmi(copy, da, sa) && (uint64_t)offset <= n_sdma) ||
        (!h2d && !same_gpu && limits_h2d(copy) && offset == BLIT_HOST_TO_DEV))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return hsa_amd_memory_async_copy(dst, dst_agent, src, src_agent, size, num_dep_signals,
                                     dep_signals, completion_signal);
}

#endif
