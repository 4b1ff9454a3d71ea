/* hsasim's runtime core against the documented behaviour of each call
 * (hsa.h, hsa_ext_amd.h) and ROCR's status codes: init reference counting,
 * system and agent information, ISAs, pools and regions, allocation, copies
 * (synchronous, and async with dependencies on per-GPU copy engines, with
 * pending copies dropped at shut down), status strings, and the stubs
 * for what the simulator does not implement. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "hsa_agents.h"
#include "ops.h"
#include "tmpdir.h"

static hsa_status_t collect(hsa_agent_t a, void *data)
{
    const agents *all = data;
    hsa_device_type_t t;
    REQUIRE(hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t) == HSA_STATUS_SUCCESS);
    /* CPUs come before GPUs, as ROCR orders them. */
    CHECK(t == HSA_DEVICE_TYPE_CPU ? all->n_gpu == 0 : 1);
    return agents_collect(a, data);
}

static hsa_status_t stop_at_first(hsa_agent_t a, void *data)
{
    (void)a;
    ++*(int *)data;
    return HSA_STATUS_INFO_BREAK;
}

typedef struct pools {
    hsa_amd_memory_pool_t p[8];
    int n;
} pools;

static hsa_status_t collect_pool(hsa_amd_memory_pool_t p, void *data)
{
    pools *all = data;
    if (all->n < 8)
        all->p[all->n++] = p;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t count_region(hsa_region_t r, void *data)
{
    (void)r;
    ++*(int *)data;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t first_isa(hsa_isa_t isa, void *data)
{
    *(hsa_isa_t *)data = isa;
    return HSA_STATUS_SUCCESS;
}

static void test_before_init(void)
{
    uint16_t major;
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);
    CHECK(hsa_shut_down() == HSA_STATUS_ERROR_NOT_INITIALIZED);
    CHECK(hsa_iterate_agents(collect, NULL) == HSA_STATUS_ERROR_NOT_INITIALIZED);
    /* hsa_status_string works without a runtime. */
    const char *s = NULL;
    CHECK(hsa_status_string(HSA_STATUS_ERROR_INVALID_AGENT, &s) == HSA_STATUS_SUCCESS);
    CHECK_CONTAINS(s, "HSA_STATUS_ERROR_INVALID_AGENT: ");
    CHECK(hsa_status_string((hsa_status_t)0x7777, &s) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_status_string(HSA_STATUS_SUCCESS, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
}

static void test_system(void)
{
    uint16_t major = 0, minor = 0;
    uint64_t freq = 0, t1 = 0, t2 = 0, max_wait = 0;
    hsa_endianness_t endian;
    hsa_machine_model_t model;
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) == HSA_STATUS_SUCCESS);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MINOR, &minor) == HSA_STATUS_SUCCESS);
    CHECK(major == 1 && minor == 1);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_TIMESTAMP_FREQUENCY, &freq) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(freq, 1000000000u);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_TIMESTAMP, &t1) == HSA_STATUS_SUCCESS);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_TIMESTAMP, &t2) == HSA_STATUS_SUCCESS);
    CHECK(t2 >= t1 && t1 > 0);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_SIGNAL_MAX_WAIT, &max_wait) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(max_wait, UINT64_MAX);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_ENDIANNESS, &endian) == HSA_STATUS_SUCCESS);
    CHECK(endian == HSA_ENDIANNESS_LITTLE);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_MACHINE_MODEL, &model) == HSA_STATUS_SUCCESS);
    CHECK(model == HSA_MACHINE_MODEL_LARGE);
    CHECK(hsa_system_get_info((hsa_system_info_t)0x7777, &major) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, NULL) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
}

/* The tree: 2 x MI210 on sockets 0/1 at buses 0x63 and 0x43 (rochp-sim model). */
static void test_agents(agents *all)
{
    REQUIRE(hsa_iterate_agents(collect, all) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(all->n_cpu, 2);
    CHECK_EQ_U64(all->n_gpu, 2);
    int calls = 0;
    CHECK(hsa_iterate_agents(stop_at_first, &calls) == HSA_STATUS_INFO_BREAK);
    CHECK_EQ_U64(calls, 1);
    CHECK(hsa_iterate_agents(NULL, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);

    hsa_agent_t g = all->gpu[0];
    char name[64], product[64], uuid[24];
    uint32_t u32;
    CHECK(hsa_agent_get_info(g, HSA_AGENT_INFO_NAME, name) == HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(name, "gfx90a");
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_PRODUCT_NAME, product) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(product, "AMD Instinct MI210");
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_UUID, uuid) ==
          HSA_STATUS_SUCCESS);
    CHECK(strncmp(uuid, "GPU-", 4) == 0 && strlen(uuid) == 20);
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_BDFID, &u32) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 0x6300);
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_DOMAIN, &u32) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 0);
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_DRIVER_NODE_ID, &u32) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 2);
    CHECK(hsa_agent_get_info(g, HSA_AGENT_INFO_NODE, &u32) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 2);
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_COMPUTE_UNIT_COUNT, &u32) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 104); /* simd_count 416 / simd_per_cu 4 */
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_CHIP_ID, &u32) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 0x740f);
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_MAX_WAVES_PER_CU, &u32) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(u32, 32);
    hsa_agent_feature_t feature;
    CHECK(hsa_agent_get_info(g, HSA_AGENT_INFO_FEATURE, &feature) == HSA_STATUS_SUCCESS);
    CHECK(feature == HSA_AGENT_FEATURE_KERNEL_DISPATCH);
    CHECK(hsa_agent_get_info(all->cpu[0], HSA_AGENT_INFO_FEATURE, &feature) ==
          HSA_STATUS_SUCCESS);
    CHECK(feature == 0);
    CHECK(hsa_agent_get_info(all->cpu[0], (hsa_agent_info_t)HSA_AMD_AGENT_INFO_UUID, uuid) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(uuid, "CPU-XX");
    /* HDP flush registers: two distinct writable words per GPU (HIP drops a
     * GPU without them), none for a CPU, as ROCR 5.2.3. */
    hsa_amd_hdp_flush_t hdp = {0}, hdp1 = {0}, hdp_cpu = {(uint32_t *)1, (uint32_t *)1};
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_HDP_FLUSH, &hdp) ==
          HSA_STATUS_SUCCESS);
    CHECK(hdp.HDP_MEM_FLUSH_CNTL && hdp.HDP_REG_FLUSH_CNTL == hdp.HDP_MEM_FLUSH_CNTL + 1);
    if (hdp.HDP_MEM_FLUSH_CNTL) {
        *hdp.HDP_MEM_FLUSH_CNTL = 1;
        *hdp.HDP_REG_FLUSH_CNTL = 1;
    }
    CHECK(hsa_agent_get_info(all->gpu[1], (hsa_agent_info_t)HSA_AMD_AGENT_INFO_HDP_FLUSH, &hdp1) ==
          HSA_STATUS_SUCCESS);
    CHECK(hdp1.HDP_MEM_FLUSH_CNTL && hdp1.HDP_MEM_FLUSH_CNTL != hdp.HDP_MEM_FLUSH_CNTL);
    CHECK(hsa_agent_get_info(all->cpu[0], (hsa_agent_info_t)HSA_AMD_AGENT_INFO_HDP_FLUSH,
                             &hdp_cpu) == HSA_STATUS_SUCCESS);
    CHECK(!hdp_cpu.HDP_MEM_FLUSH_CNTL && !hdp_cpu.HDP_REG_FLUSH_CNTL);

    /* Bad handles and arguments. */
    hsa_agent_t bogus = {(uint64_t)(uintptr_t)&u32};
    CHECK(hsa_agent_get_info(bogus, HSA_AGENT_INFO_NAME, name) == HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(hsa_agent_get_info((hsa_agent_t){0}, HSA_AGENT_INFO_NAME, name) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(hsa_agent_get_info(g, (hsa_agent_info_t)0x7777, name) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_agent_get_info(g, HSA_AGENT_INFO_NAME, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    hsa_isa_t isa;
    CHECK(hsa_agent_get_info(all->cpu[0], HSA_AGENT_INFO_ISA, &isa) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
}

static void test_isa(const agents *all)
{
    hsa_isa_t isa = {0}, by_name = {0}, via_info = {0};
    CHECK(hsa_agent_iterate_isas(all->gpu[0], first_isa, &isa) == HSA_STATUS_SUCCESS);
    CHECK(hsa_agent_get_info(all->gpu[0], HSA_AGENT_INFO_ISA, &via_info) == HSA_STATUS_SUCCESS);
    CHECK(isa.handle && isa.handle == via_info.handle);
    uint32_t len = 0;
    char name[96] = "";
    CHECK(hsa_isa_get_info_alt(isa, HSA_ISA_INFO_NAME_LENGTH, &len) == HSA_STATUS_SUCCESS);
    CHECK(hsa_isa_get_info_alt(isa, HSA_ISA_INFO_NAME, name) == HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(name, "amdgcn-amd-amdhsa--gfx90a:sramecc+:xnack-");
    CHECK_EQ_U64(len, strlen(name) + 1);
    CHECK(hsa_isa_from_name(name, &by_name) == HSA_STATUS_SUCCESS);
    CHECK(by_name.handle == isa.handle);
    CHECK(hsa_isa_from_name("amdgcn-amd-amdhsa--gfx9999", &by_name) ==
          HSA_STATUS_ERROR_INVALID_ISA_NAME);
    CHECK(hsa_isa_get_info_alt((hsa_isa_t){12345}, HSA_ISA_INFO_NAME, name) ==
          HSA_STATUS_ERROR_INVALID_ISA);
    CHECK(hsa_isa_get_info(isa, HSA_ISA_INFO_NAME, 1, name) == HSA_STATUS_ERROR_INVALID_INDEX);
    int none = 0;
    CHECK(hsa_agent_iterate_isas(all->cpu[0], first_isa, &none) == HSA_STATUS_SUCCESS);
}

static void test_pools(const agents *all)
{
    pools gp = {0}, cp = {0};
    CHECK(hsa_amd_agent_iterate_memory_pools(all->gpu[0], collect_pool, &gp) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_agent_iterate_memory_pools(all->cpu[0], collect_pool, &cp) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(gp.n, 2); /* VRAM (coarse) and group (LDS) */
    CHECK_EQ_U64(cp.n, 3); /* fine, kernarg, coarse */
    hsa_amd_segment_t seg;
    size_t size = 0;
    uint32_t flags = 0;
    bool alloc = false;
    CHECK(hsa_amd_memory_pool_get_info(gp.p[0], HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg) ==
          HSA_STATUS_SUCCESS);
    CHECK(seg == HSA_AMD_SEGMENT_GLOBAL);
    CHECK(hsa_amd_memory_pool_get_info(gp.p[0], HSA_AMD_MEMORY_POOL_INFO_SIZE, &size) ==
          HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(size, 68719476736ull); /* 64 GiB of HBM2e */
    CHECK(hsa_amd_memory_pool_get_info(gp.p[0], HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags) ==
          HSA_STATUS_SUCCESS);
    CHECK(flags == HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED);
    CHECK(hsa_amd_memory_pool_get_info(gp.p[1], HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg) ==
          HSA_STATUS_SUCCESS);
    CHECK(seg == HSA_AMD_SEGMENT_GROUP);
    CHECK(hsa_amd_memory_pool_get_info(gp.p[1], HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED,
                                       &alloc) == HSA_STATUS_SUCCESS);
    CHECK(!alloc);
    CHECK(hsa_amd_memory_pool_get_info(cp.p[1], HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags) ==
          HSA_STATUS_SUCCESS);
    CHECK(flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT);
    hsa_amd_memory_pool_access_t access;
    CHECK(hsa_amd_agent_memory_pool_get_info(all->cpu[0], gp.p[0],
                                             HSA_AMD_AGENT_MEMORY_POOL_INFO_ACCESS,
                                             &access) == HSA_STATUS_SUCCESS);
    CHECK(access == HSA_AMD_MEMORY_POOL_ACCESS_DISALLOWED_BY_DEFAULT);
    /* ROCR 5.2.3 MemoryRegion::GetAccessInfo: system memory is
     * DISALLOWED_BY_DEFAULT for a GPU, ALLOWED_BY_DEFAULT for a CPU. */
    CHECK(hsa_amd_agent_memory_pool_get_info(all->gpu[0], cp.p[0],
                                             HSA_AMD_AGENT_MEMORY_POOL_INFO_ACCESS,
                                             &access) == HSA_STATUS_SUCCESS);
    CHECK(access == HSA_AMD_MEMORY_POOL_ACCESS_DISALLOWED_BY_DEFAULT);
    CHECK(hsa_amd_agent_memory_pool_get_info(all->cpu[0], cp.p[0],
                                             HSA_AMD_AGENT_MEMORY_POOL_INFO_ACCESS,
                                             &access) == HSA_STATUS_SUCCESS);
    CHECK(access == HSA_AMD_MEMORY_POOL_ACCESS_ALLOWED_BY_DEFAULT);
    CHECK(hsa_amd_agent_memory_pool_get_info(all->gpu[0], gp.p[0],
                                             HSA_AMD_AGENT_MEMORY_POOL_INFO_ACCESS,
                                             &access) == HSA_STATUS_SUCCESS);
    CHECK(access == HSA_AMD_MEMORY_POOL_ACCESS_ALLOWED_BY_DEFAULT);
    CHECK(hsa_amd_memory_pool_get_info((hsa_amd_memory_pool_t){42}, HSA_AMD_MEMORY_POOL_INFO_SIZE,
                                       &size) == (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL);
    int regions = 0;
    CHECK(hsa_agent_iterate_regions(all->gpu[0], count_region, &regions) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(regions, 2);
    CHECK(hsa_region_get_info((hsa_region_t){42}, HSA_REGION_INFO_SIZE, &size) ==
          HSA_STATUS_ERROR_INVALID_REGION);

    /* Allocation: granule-rounded, accounted against the pool, freed once. */
    void *p = NULL, *q = NULL;
    CHECK(hsa_amd_memory_pool_allocate(gp.p[0], 100, 0, &p) == HSA_STATUS_SUCCESS);
    CHECK(p && ((uintptr_t)p & 4095) == 0);
    memset(p, 0x5a, 100);
    CHECK(hsa_amd_memory_pool_allocate(gp.p[1], 100, 0, &q) == HSA_STATUS_ERROR_INVALID_ALLOCATION);
    CHECK(hsa_amd_memory_pool_allocate(gp.p[0], 0, 0, &q) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_pool_allocate(gp.p[0], 100, 1, &q) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_pool_allocate(gp.p[0], (size_t)1 << 40, 0, &q) ==
          HSA_STATUS_ERROR_OUT_OF_RESOURCES);
    hsa_agent_t both[2] = {all->cpu[0], all->gpu[1]};
    CHECK(hsa_amd_agents_allow_access(2, both, NULL, p) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_agents_allow_access(0, both, NULL, p) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    /* Runtime::AllowAccess: only the start of an allocation (anything else,
     * HSA_STATUS_ERROR), and only then are the agents checked. */
    hsa_agent_t bad_agent[1] = {{42}};
    CHECK(hsa_amd_agents_allow_access(2, both, NULL, (char *)p + 64) == HSA_STATUS_ERROR);
    CHECK(hsa_amd_agents_allow_access(2, both, NULL, &size) == HSA_STATUS_ERROR);
    CHECK(hsa_amd_agents_allow_access(1, bad_agent, NULL, &size) == HSA_STATUS_ERROR);
    CHECK(hsa_amd_agents_allow_access(1, bad_agent, NULL, p) == HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(hsa_amd_memory_pool_free(p) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_agents_allow_access(2, both, NULL, p) == HSA_STATUS_ERROR);
    CHECK(hsa_amd_memory_pool_free(p) == HSA_STATUS_ERROR_INVALID_ALLOCATION);
    CHECK(hsa_amd_memory_pool_free(NULL) == HSA_STATUS_SUCCESS);
}

/* Async copies run in order after their dependencies, and complete by
 * decrementing the completion signal. */
static void test_async_copy(const agents *all)
{
    pools gp = {0};
    hsa_amd_agent_iterate_memory_pools(all->gpu[0], collect_pool, &gp);
    uint8_t *a, *b, host[4096];
    REQUIRE(hsa_amd_memory_pool_allocate(gp.p[0], 4096, 0, (void **)&a) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_amd_memory_pool_allocate(gp.p[0], 4096, 0, (void **)&b) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < 4096; i++)
        host[i] = (uint8_t)(i * 7);
    hsa_signal_t dep, first, second;
    REQUIRE(hsa_signal_create(1, 0, NULL, &dep) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &first) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &second) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(a, all->gpu[0], host, all->cpu[0], 4096, 1, &dep, first) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(b, all->gpu[0], a, all->gpu[0], 4096, 1, &first, second) ==
          HSA_STATUS_SUCCESS);
    /* Neither runs while its dependency is unmet. */
    CHECK(hsa_signal_wait_scacquire(second, HSA_SIGNAL_CONDITION_EQ, 0, 50 * 1000 * 1000,
                                    HSA_WAIT_STATE_BLOCKED) == 1);
    CHECK(hsa_signal_load_scacquire(first) == 1);
    hsa_signal_store_screlease(dep, 0);
    CHECK(hsa_signal_wait_scacquire(second, HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                    HSA_WAIT_STATE_BLOCKED) == 0);
    CHECK(memcmp(b, host, 4096) == 0);
    CHECK(hsa_amd_memory_async_copy(a, (hsa_agent_t){7}, host, all->cpu[0], 16, 0, NULL, first) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(hsa_amd_memory_async_copy(a, all->gpu[0], host, all->cpu[0], 16, 1, NULL, first) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    /* As ROCR 5.2.3: a list without a count, a 0 dependency or completion
     * handle are invalid arguments; a 0-byte copy succeeds and leaves the
     * completion signal alone. */
    CHECK(hsa_amd_memory_async_copy(a, all->gpu[0], host, all->cpu[0], 16, 0, &dep, first) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    hsa_signal_t none = {0};
    CHECK(hsa_amd_memory_async_copy(a, all->gpu[0], host, all->cpu[0], 16, 1, &none, first) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_async_copy(a, all->gpu[0], host, all->cpu[0], 16, 0, NULL, none) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    hsa_signal_store_screlease(first, 5);
    CHECK(hsa_amd_memory_async_copy(a, all->gpu[0], host, all->cpu[0], 0, 0, NULL, first) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_load_scacquire(first) == 5);
    CHECK(hsa_memory_copy(a, b, 4096) == HSA_STATUS_SUCCESS);
    CHECK(memcmp(a, host, 4096) == 0);
    hsa_signal_destroy(dep);
    hsa_signal_destroy(first);
    hsa_signal_destroy(second);
    hsa_amd_memory_pool_free(a);
    hsa_amd_memory_pool_free(b);
}

/* Signal waits for the engine tests: completion within a generous deadline,
 * and "not completed" as a short wait that must time out. */
#define COPY_DEADLINE_NS 30000000000ull
#define COPY_HELD_NS 50000000ull

static bool copy_done(hsa_signal_t s, uint64_t timeout_ns)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, timeout_ns,
                                     HSA_WAIT_STATE_BLOCKED) == 0;
}

static void *vram_alloc(hsa_agent_t gpu)
{
    pools gp = {0};
    hsa_amd_agent_iterate_memory_pools(gpu, collect_pool, &gp);
    void *p = NULL;
    REQUIRE(hsa_amd_memory_pool_allocate(gp.p[0], 4096, 0, &p) == HSA_STATUS_SUCCESS);
    return p;
}

/* Copy engines, chosen as ROCR's Runtime::CopyMemory does: one per GPU, the
 * source's when it is a GPU, else the destination's; host -> host copies run
 * on their own.  An engine runs its copies in submission order, so a copy
 * waiting for a dependency holds back the copies behind it on that engine,
 * and only those. */
static void test_copy_engines(const agents *all)
{
    REQUIRE(all->n_gpu >= 2 && all->n_cpu >= 2);
    hsa_agent_t cpu = all->cpu[0], cpu1 = all->cpu[1], gpu0 = all->gpu[0], gpu1 = all->gpu[1];
    uint8_t *x0 = vram_alloc(gpu0), *y0 = vram_alloc(gpu0), *z0 = vram_alloc(gpu0);
    uint8_t *x1 = vram_alloc(gpu1);
    static uint8_t h1[4096], h2[4096], h3[4096], d2h[4096], hh[4096], hh2[4096];
    for (int i = 0; i < 4096; i++) {
        h1[i] = (uint8_t)(i * 3 + 1);
        h2[i] = (uint8_t)(i * 5 + 2);
        h3[i] = (uint8_t)(i * 11 + 3);
    }
    memset(y0, 0x3c, 4096);
    memset(d2h, 0, sizeof d2h);
    memset(hh, 0, sizeof hh);
    memset(hh2, 0, sizeof hh2);

    enum { GATE, HELD, BEHIND, D2H, H2D1, PEER, HOST, HOST_GATE, HOST_HELD, HOST_FREE, N };
    hsa_signal_t s[N];
    for (int i = 0; i < N; i++)
        REQUIRE(hsa_signal_create(1, 0, NULL, &s[i]) == HSA_STATUS_SUCCESS);

    /* GPU 0's engine: a host -> GPU 0 copy waiting for GATE, then another
     * host -> GPU 0 copy to the same place and a GPU 0 -> host copy (the
     * source GPU's engine), neither with a dependency of its own. */
    CHECK(hsa_amd_memory_async_copy(x0, gpu0, h1, cpu, 4096, 1, &s[GATE], s[HELD]) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(x0, gpu0, h2, cpu, 4096, 0, NULL, s[BEHIND]) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(d2h, cpu, y0, gpu0, 4096, 0, NULL, s[D2H]) ==
          HSA_STATUS_SUCCESS);
    /* Meanwhile GPU 1's engine works: host -> GPU 1, then GPU 1 -> GPU 0
     * (the source's engine, though it writes GPU 0's memory). */
    CHECK(hsa_amd_memory_async_copy(x1, gpu1, h3, cpu, 4096, 0, NULL, s[H2D1]) ==
          HSA_STATUS_SUCCESS);
    CHECK(copy_done(s[H2D1], COPY_DEADLINE_NS));
    CHECK(memcmp(x1, h3, 4096) == 0);
    CHECK(hsa_amd_memory_async_copy(z0, gpu0, x1, gpu1, 4096, 0, NULL, s[PEER]) ==
          HSA_STATUS_SUCCESS);
    CHECK(copy_done(s[PEER], COPY_DEADLINE_NS));
    CHECK(memcmp(z0, h3, 4096) == 0);
    /* And host -> host copies, on no GPU's engine, as does ROCR. */
    CHECK(hsa_amd_memory_async_copy(hh, cpu1, h3, cpu, 4096, 0, NULL, s[HOST]) ==
          HSA_STATUS_SUCCESS);
    CHECK(copy_done(s[HOST], COPY_DEADLINE_NS));
    CHECK(memcmp(hh, h3, 4096) == 0);

    /* Still all held on GPU 0's engine. */
    CHECK(!copy_done(s[BEHIND], COPY_HELD_NS));
    CHECK(!copy_done(s[D2H], COPY_HELD_NS));
    CHECK(hsa_signal_load_scacquire(s[HELD]) == 1);
    hsa_signal_store_screlease(s[GATE], 0);
    CHECK(copy_done(s[HELD], COPY_DEADLINE_NS));
    CHECK(copy_done(s[BEHIND], COPY_DEADLINE_NS));
    CHECK(copy_done(s[D2H], COPY_DEADLINE_NS));
    /* In submission order: the second write to x0 is the one that stays. */
    CHECK(memcmp(x0, h2, 4096) == 0);
    CHECK(memcmp(d2h, y0, 4096) == 0);

    /* Host -> host copies are not ordered with each other (ROCR: a thread
     * per copy): one waiting for its dependency does not hold back the next. */
    CHECK(hsa_amd_memory_async_copy(hh2, cpu, h1, cpu, 4096, 1, &s[HOST_GATE], s[HOST_HELD]) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(hh, cpu1, h2, cpu, 4096, 0, NULL, s[HOST_FREE]) ==
          HSA_STATUS_SUCCESS);
    CHECK(copy_done(s[HOST_FREE], COPY_DEADLINE_NS));
    CHECK(memcmp(hh, h2, 4096) == 0);
    CHECK(!copy_done(s[HOST_HELD], COPY_HELD_NS));
    hsa_signal_store_screlease(s[HOST_GATE], 0);
    CHECK(copy_done(s[HOST_HELD], COPY_DEADLINE_NS));
    CHECK(memcmp(hh2, h1, 4096) == 0);

    for (int i = 0; i < N; i++)
        hsa_signal_destroy(s[i]);
    hsa_amd_memory_pool_free(x0);
    hsa_amd_memory_pool_free(y0);
    hsa_amd_memory_pool_free(z0);
    hsa_amd_memory_pool_free(x1);
}

/* Copies still waiting at the last shut_down are dropped, never run: the
 * engines stop without waiting for dependencies that will not come. */
static uint8_t pending_dst[4096], pending_host_dst[4096], pending_src[4096];

static void leave_pending_copies(const agents *all)
{
    memset(pending_src, 0x77, sizeof pending_src);
    uint8_t *x0 = vram_alloc(all->gpu[0]), *y0 = vram_alloc(all->gpu[0]);
    memset(y0, 0x66, 4096);
    hsa_signal_t gate, done[3];
    REQUIRE(hsa_signal_create(1, 0, NULL, &gate) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < 3; i++)
        REQUIRE(hsa_signal_create(1, 0, NULL, &done[i]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(x0, all->gpu[0], pending_src, all->cpu[0], 4096, 1, &gate,
                                    done[0]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(pending_dst, all->cpu[0], y0, all->gpu[0], 4096, 0, NULL,
                                    done[1]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(pending_host_dst, all->cpu[1], pending_src, all->cpu[0],
                                    4096, 1, &gate, done[2]) == HSA_STATUS_SUCCESS);
    CHECK(!copy_done(done[1], COPY_HELD_NS));
    /* The signals and buffers go with the runtime. */
}

int main(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "core") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    test_before_init();

    /* A runtime pointed at nothing fails cleanly, as ROCR without KFD. */
    setenv("ROCHP_SYSFS_ROOT", "/nonexistent-kfd", 1);
    CHECK(hsa_init() == HSA_STATUS_ERROR_OUT_OF_RESOURCES);
    CHECK(hsa_shut_down() == HSA_STATUS_ERROR_NOT_INITIALIZED);

    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS); /* counted */
    agents all = {0};
    test_system();
    test_agents(&all);
    test_isa(&all);
    test_pools(&all);
    test_async_copy(&all);
    test_copy_engines(&all);
    /* A call the simulator does not implement: a clear error, not a crash. */
    CHECK(hsa_ext_image_clear((hsa_agent_t){0}, (hsa_ext_image_t){0}, NULL, NULL) ==
          HSA_STATUS_ERROR);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    /* Still up after one shut_down of two inits. */
    uint16_t major;
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) == HSA_STATUS_SUCCESS);
    leave_pending_copies(&all);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    bool untouched = true; /* the engines are joined: no copy ran after all */
    for (int i = 0; i < 4096; i++)
        untouched &= pending_dst[i] == 0 && pending_host_dst[i] == 0;
    CHECK(untouched);
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);
    /* Handles die with the runtime. */
    char name[64];
    CHECK(hsa_agent_get_info(all.gpu[0], HSA_AGENT_INFO_NAME, name) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);
    /* And a new init sees the tree anew. */
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_remove_tmpdir(dir);
    return check_result();
}
