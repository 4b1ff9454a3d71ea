/* The runtime calls HIP 5.7.1 makes that HIP 5.2.3 did not, on hsasim
 * (docs/rocm-versions.md), against ROCR 6.1.2's rules:
 * - hsa_amd_pointer_info (runtime.cpp Runtime::PtrInfo): a pool
 *   allocation, locked host memory, an unknown address, a caller's shorter
 *   struct, the accessible agents;
 * - hsa_system_get_major_extension_table / get_extension_table (hsa.cpp):
 *   the AMD loader's table, its argument checks and prefix copy;
 * and where the headers are ROCm 6's (HSA_AMD_INTERFACE_VERSION 1.4):
 * - HSA_AMD_AGENT_INFO_MEMORY_AVAIL: VRAM not allocated;
 * - hsa_amd_memory_copy_engine_status and _async_copy_on_engine
 *   (amd_gpu_agent.cpp DmaCopyStatus, DmaCopyOnEngine) on two MI210s of one
 *   xGMI hive (gfx90a: 2 SDMA engines, 3 xGMI ones, host-to-device on SDMA0
 *   only). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>
#include <hsa/hsa_ven_amd_loader.h>

#include "check.h"
#include "hsa_agents.h"
#include "ops.h"
#include "tmpdir.h"

#define VRAM 68719476736ull /* an MI210's (tools/rochp-sim/models.c) */

static hsa_status_t first_pool(hsa_amd_memory_pool_t p, void *data)
{
    hsa_amd_segment_t seg;
    REQUIRE(hsa_amd_memory_pool_get_info(p, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg) ==
            HSA_STATUS_SUCCESS);
    if (seg != HSA_AMD_SEGMENT_GLOBAL)
        return HSA_STATUS_SUCCESS;
    *(hsa_amd_memory_pool_t *)data = p;
    return HSA_STATUS_INFO_BREAK;
}

static hsa_amd_memory_pool_t global_pool(hsa_agent_t a)
{
    hsa_amd_memory_pool_t p = {0};
    hsa_amd_agent_iterate_memory_pools(a, first_pool, &p);
    REQUIRE(p.handle != 0);
    return p;
}

static void test_pointer_info(const agents *all, void *vram)
{
    hsa_amd_pointer_info_t info;
    memset(&info, 0, sizeof info);
    CHECK(hsa_amd_pointer_info(vram, &info, NULL, NULL, NULL) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT); /* size 0 */

    info.size = sizeof info;
    CHECK(hsa_amd_pointer_info((char *)vram + 100, &info, NULL, NULL, NULL) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(info.size, sizeof info);
    CHECK_EQ_U64(info.type, HSA_EXT_POINTER_TYPE_HSA);
    CHECK(info.agentBaseAddress == vram && info.hostBaseAddress == vram);
    CHECK_EQ_U64(info.sizeInBytes, 8192);
    CHECK(info.userData == NULL);
    CHECK_EQ_U64(info.agentOwner.handle, all->gpu[0].handle);
    CHECK_EQ_U64(info.global_flags, HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED);

    uint32_t n = 99;
    hsa_agent_t *list = NULL;
    CHECK(hsa_amd_pointer_info(vram, &info, malloc, &n, &list) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(n, 1);
    CHECK(list && list[0].handle == all->gpu[0].handle);
    free(list);

    /* A caller whose struct ends before global_flags gets only its part. */
    hsa_amd_pointer_info_t old;
    memset(&old, 0x5a, sizeof old);
    old.size = (uint32_t)offsetof(hsa_amd_pointer_info_t, global_flags);
    CHECK(hsa_amd_pointer_info(vram, &old, NULL, NULL, NULL) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(old.size, offsetof(hsa_amd_pointer_info_t, global_flags));
    CHECK_EQ_U64(old.type, HSA_EXT_POINTER_TYPE_HSA);
    CHECK_EQ_U64(old.global_flags, 0x5a5a5a5a);

    /* Memory the runtime does not know: UNKNOWN, the list left alone. */
    static char mine[64];
    memset(&info, 0x5a, sizeof info);
    info.size = sizeof info;
    n = 99;
    CHECK(hsa_amd_pointer_info(mine, &info, malloc, &n, &list) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(info.type, HSA_EXT_POINTER_TYPE_UNKNOWN);
    CHECK(info.agentBaseAddress == NULL && info.sizeInBytes == 0);
    CHECK_EQ_U64(n, 99);

    /* Locked host memory: LOCKED, both bases, a CPU owning it, the CPUs and
     * the GPUs it is mapped to: every GPU, whatever the list (ROCR 5.2.3's
     * MemoryRegion::Lock, lib/hsasim/host_lock.c). */
    static char page[2][4096] __attribute__((aligned(4096)));
    void *agent_ptr = NULL;
    hsa_agent_t gpu1 = all->gpu[1];
    REQUIRE(hsa_amd_memory_lock(page, sizeof page, &gpu1, 1, &agent_ptr) == HSA_STATUS_SUCCESS);
    info.size = sizeof info;
    CHECK(hsa_amd_pointer_info(page[1], &info, malloc, &n, &list) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(info.type, HSA_EXT_POINTER_TYPE_LOCKED);
    CHECK(info.hostBaseAddress == (void *)page && info.agentBaseAddress == agent_ptr);
    CHECK_EQ_U64(info.sizeInBytes, sizeof page);
    CHECK_EQ_U64(info.agentOwner.handle, all->cpu[0].handle);
    CHECK_EQ_U64(n, (uint64_t)all->n_cpu + 2);
    CHECK(list && list[0].handle == all->cpu[0].handle);
    CHECK(list && n >= 2 && list[n - 2].handle == all->gpu[0].handle &&
          list[n - 1].handle == gpu1.handle);
    free(list);
    CHECK(hsa_amd_pointer_info(agent_ptr, &info, NULL, NULL, NULL) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(info.type, HSA_EXT_POINTER_TYPE_LOCKED);
    CHECK(hsa_amd_memory_unlock(page) == HSA_STATUS_SUCCESS);
}

static void test_loader_table(void)
{
    hsa_ven_amd_loader_1_03_pfn_t t;
    CHECK(hsa_system_get_major_extension_table(HSA_EXTENSION_AMD_LOADER, 1, sizeof t, NULL) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_system_get_major_extension_table(HSA_EXTENSION_AMD_LOADER, 1, 0, &t) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_system_get_major_extension_table(HSA_EXTENSION_AMD_LOADER, 2, sizeof t, &t) ==
          HSA_STATUS_ERROR);
    CHECK(hsa_system_get_major_extension_table(HSA_EXTENSION_IMAGES, 1, sizeof t, &t) ==
          HSA_STATUS_ERROR);

    /* HIP 5.7.1 asks with the 1.00 table's size: only that prefix is written. */
    memset(&t, 0, sizeof t);
    CHECK(hsa_system_get_major_extension_table(HSA_EXTENSION_AMD_LOADER, 1,
                                               sizeof(hsa_ven_amd_loader_1_00_pfn_t),
                                               &t) == HSA_STATUS_SUCCESS);
    CHECK(t.hsa_ven_amd_loader_query_host_address != NULL);
    CHECK(t.hsa_ven_amd_loader_query_segment_descriptors != NULL);
    CHECK(t.hsa_ven_amd_loader_query_executable != NULL);
    CHECK(t.hsa_ven_amd_loader_executable_iterate_loaded_code_objects == NULL);
    CHECK(t.hsa_ven_amd_loader_iterate_executables == NULL);

    memset(&t, 0, sizeof t);
    CHECK(hsa_system_get_extension_table(HSA_EXTENSION_AMD_LOADER, 1, 3, &t) ==
          HSA_STATUS_SUCCESS);
    CHECK(t.hsa_ven_amd_loader_iterate_executables != NULL);
    CHECK(hsa_system_get_extension_table(HSA_EXTENSION_AMD_LOADER, 1, 4, &t) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT); /* no 1.04 table: length 0 */
    /* Not simulated: the functions say so. */
    const void *host = NULL;
    CHECK(t.hsa_ven_amd_loader_query_host_address(&host, &host) == HSA_STATUS_ERROR);
}

#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
static void test_engines(const agents *all, void *vram)
{
    hsa_agent_t cpu = all->cpu[0], g0 = all->gpu[0], g1 = all->gpu[1];
    uint64_t avail = 0;
    CHECK(hsa_agent_get_info(g1, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_MEMORY_AVAIL, &avail) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(avail, VRAM);
    CHECK(hsa_agent_get_info(g0, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_MEMORY_AVAIL, &avail) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(avail, VRAM - 8192); /* vram's 8 KiB */

    uint32_t mask = 0;
    CHECK(hsa_amd_memory_copy_engine_status(g0, g0, &mask) == HSA_STATUS_ERROR_INVALID_AGENT);
    /* Device to host: SDMA1 (gfx90a keeps SDMA0 for host to device) and the
     * three xGMI engines (bits 2..4); host to device: SDMA0 as well; within
     * the hive: the xGMI engines only. */
    CHECK(hsa_amd_memory_copy_engine_status(cpu, g0, &mask) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(mask, 0x1e);
    CHECK(hsa_amd_memory_copy_engine_status(g0, cpu, &mask) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(mask, 0x1f);
    CHECK(hsa_amd_memory_copy_engine_status(g1, g0, &mask) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(mask, 0x1c);

    static uint8_t host[8192];
    for (size_t i = 0; i < sizeof host; i++)
        host[i] = (uint8_t)(i * 7 + 1);
    void *agent_ptr = NULL;
    REQUIRE(hsa_amd_memory_lock(host, sizeof host, &g0, 1, &agent_ptr) == HSA_STATUS_SUCCESS);
    hsa_signal_t done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    /* Two bits, SDMA0 for device to host on gfx90a, an SDMA engine within
     * the hive, an engine past the agent's five: refused. */
    CHECK(hsa_amd_memory_async_copy_on_engine(vram, g0, agent_ptr, cpu, sizeof host, 0, NULL,
                                              done, (hsa_amd_sdma_engine_id_t)0x3, false) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_async_copy_on_engine(agent_ptr, cpu, vram, g0, sizeof host, 0, NULL,
                                              done, HSA_AMD_SDMA_ENGINE_0, false) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_async_copy_on_engine(vram, g1, vram, g0, 64, 0, NULL, done,
                                              HSA_AMD_SDMA_ENGINE_1, false) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_async_copy_on_engine(vram, g0, agent_ptr, cpu, sizeof host, 0, NULL,
                                              done, HSA_AMD_SDMA_ENGINE_5, false) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK_EQ_U64(hsa_signal_load_relaxed(done), 1);
    /* Host to device on SDMA0: done, the bytes there. */
    CHECK(hsa_amd_memory_async_copy_on_engine(vram, g0, agent_ptr, cpu, sizeof host, 0, NULL,
                                              done, HSA_AMD_SDMA_ENGINE_0, false) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(hsa_signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_LT, 1, UINT64_MAX,
                                           HSA_WAIT_STATE_BLOCKED),
                 0);
    CHECK(memcmp(vram, host, sizeof host) == 0);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
}
#endif

int main(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "rocm6-calls") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);

    hsa_ven_amd_loader_1_03_pfn_t t;
    CHECK(hsa_system_get_major_extension_table(HSA_EXTENSION_AMD_LOADER, 1, sizeof t, &t) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    agents all = {0};
    REQUIRE(hsa_iterate_agents(agents_collect, &all) == HSA_STATUS_SUCCESS);
    REQUIRE(all.n_cpu >= 1 && all.n_gpu == 2);
    void *vram = NULL;
    REQUIRE(hsa_amd_memory_pool_allocate(global_pool(all.gpu[0]), 8192, 0, &vram) ==
            HSA_STATUS_SUCCESS);

    test_pointer_info(&all, vram);
    test_loader_table();
#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
    test_engines(&all, vram);
#endif
    CHECK(hsa_amd_memory_pool_free(vram) == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_remove_tmpdir(dir);
    return check_result();
}
