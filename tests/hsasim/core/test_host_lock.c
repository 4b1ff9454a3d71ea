/* hsasim's hsa_amd_memory_lock, hsa_amd_memory_lock_to_pool and
 * hsa_amd_memory_unlock against ROCR 5.2.3 (hsa_ext_amd.cpp and
 * amd_memory_region.cpp MemoryRegion::Lock / Unlock over libhsakmt's
 * userptr registration; the rules are listed in lib/hsasim/host_lock.c):
 * every status code, lock/unlock round trips, counted double locks, unlocks
 * of pointers never locked (success), locks across a shut down, and async
 * copies between locked malloc'd memory and a GPU pool allocation.  As in
 * ROCR on a dGPU, agent_ptr is the range's own GPU address, not host_ptr. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "hsa_agents.h"
#include "ops.h"
#include "tmpdir.h"

#define COPY_DEADLINE_NS 30000000000ull
#define SENTINEL ((void *)(uintptr_t)0x5e5e5e5e)

/* agent_ptr is a GPU address of its own for host (libhsakmt gives the
 * userptr BO one in its aperture; ROCR keeps the page offset). */
static bool is_gpu_alias(const void *agent_ptr, const void *host)
{
    return agent_ptr && agent_ptr != host &&
           ((uintptr_t)agent_ptr & 4095) == ((uintptr_t)host & 4095);
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

/* Before hsa_init (and after the last hsa_shut_down) every call answers
 * "not initialised" first, whatever its arguments. */
static void test_not_initialized(void)
{
    char buf[64];
    void *agent_ptr = SENTINEL;
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, NULL, 0, &agent_ptr) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);
    CHECK(hsa_amd_memory_lock(NULL, 0, NULL, 0, NULL) == HSA_STATUS_ERROR_NOT_INITIALIZED);
    CHECK(agent_ptr == SENTINEL);
    CHECK(hsa_amd_memory_lock_to_pool(buf, sizeof buf, NULL, 0, (hsa_amd_memory_pool_t){0}, 0,
                                      &agent_ptr) == HSA_STATUS_ERROR_NOT_INITIALIZED);
    CHECK(hsa_amd_memory_unlock(buf) == HSA_STATUS_ERROR_NOT_INITIALIZED);
    CHECK(hsa_amd_memory_unlock(NULL) == HSA_STATUS_ERROR_NOT_INITIALIZED);
}

/* Argument checks, in ROCR's order: host_ptr, size and agent_ptr first
 * (agent_ptr untouched), then *agent_ptr = NULL, then agents against
 * num_agent, then each agent. */
static void test_lock_arguments(const agents *all)
{
    static char buf[4096];
    void *agent_ptr = SENTINEL;
    CHECK(hsa_amd_memory_lock(NULL, sizeof buf, NULL, 0, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(agent_ptr == SENTINEL);
    CHECK(hsa_amd_memory_lock(buf, 0, NULL, 0, &agent_ptr) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(agent_ptr == SENTINEL);
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, NULL, 0, NULL) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);

    hsa_agent_t list[3] = {all->cpu[0], all->gpu[0], all->gpu[1]};
    /* num_agent with no array, and an array with no count. */
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, NULL, 1, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(agent_ptr == NULL);
    agent_ptr = SENTINEL;
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, list, 0, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(agent_ptr == NULL);
    /* A negative count with an array (ROCR would read past it). */
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, list, -1, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);

    /* Invalid agents: a 0 handle, garbage, and a bad one after good ones. */
    hsa_agent_t zero = {0}, junk = {7};
    agent_ptr = SENTINEL;
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, &zero, 1, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(agent_ptr == NULL);
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, &junk, 1, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
    hsa_agent_t good_then_bad[3] = {all->cpu[0], all->gpu[0], junk};
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, good_then_bad, 3, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(agent_ptr == NULL);
}

/* Memory the kernel cannot pin fails the userptr registration:
 * HSA_STATUS_ERROR.  With no GPU in the list nothing is registered, so the
 * same memory "locks". */
static void test_lock_unmapped(const agents *all)
{
    void *agent_ptr = SENTINEL;
    /* The kernel's half of the address space: never mapped for the process. */
    void *unmapped = (void *)(uintptr_t)0xffff900000000000ull;
    CHECK(hsa_amd_memory_lock(unmapped, 4096, NULL, 0, &agent_ptr) == HSA_STATUS_ERROR);
    CHECK(agent_ptr == NULL);
    CHECK(hsa_amd_memory_lock(unmapped, 4096, (hsa_agent_t *)&all->gpu[0], 1, &agent_ptr) ==
          HSA_STATUS_ERROR);
    /* A range that wraps around the address space. */
    CHECK(hsa_amd_memory_lock((void *)(UINTPTR_MAX - 4095), 8192, NULL, 0, &agent_ptr) ==
          HSA_STATUS_ERROR);
    /* A mapped page followed by a hole. */
    char *pages = mmap(NULL, 3 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(pages != MAP_FAILED);
    REQUIRE(munmap(pages + 4096, 4096) == 0);
    CHECK(hsa_amd_memory_lock(pages + 100, 4096, NULL, 0, &agent_ptr) == HSA_STATUS_ERROR);
    CHECK(hsa_amd_memory_lock(pages + 100, 4096 - 100, NULL, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS); /* up to the hole */
    CHECK(is_gpu_alias(agent_ptr, pages + 100));
    CHECK(hsa_amd_memory_unlock(pages + 100) == HSA_STATUS_SUCCESS);
    munmap(pages, 4096);
    munmap(pages + 2 * 4096, 4096);
    /* CPU agents only: no GPU to map to, host_ptr back, success. */
    CHECK(hsa_amd_memory_lock(unmapped, 4096, (hsa_agent_t *)&all->cpu[0], 1, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    CHECK(agent_ptr == unmapped);
    hsa_agent_t cpus[2] = {all->cpu[0], all->cpu[1]};
    agent_ptr = NULL;
    CHECK(hsa_amd_memory_lock(unmapped, 4096, cpus, 2, &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(agent_ptr == unmapped);
    CHECK(hsa_amd_memory_unlock(unmapped) == HSA_STATUS_SUCCESS);
}

/* Locks and unlocks: agent_ptr is the userptr's GPU address, the same
 * range locked twice is counted (same address) and needs two unlocks, and
 * unlock succeeds for anything. */
static void test_round_trips(const agents *all)
{
    size_t size = 3 * 4096 + 123;
    char *mem = malloc(size + 1);
    REQUIRE(mem);
    char *host = mem + 1; /* not page aligned: ROCR keeps the page offset */
    void *agent_ptr = NULL, *again = NULL;

    CHECK(hsa_amd_memory_lock(host, size, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(agent_ptr, host));
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);

    /* Listed agents: one GPU; a CPU and a GPU (the CPU is skipped). */
    CHECK(hsa_amd_memory_lock(host, size, (hsa_agent_t *)&all->gpu[0], 1, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(agent_ptr, host));
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    hsa_agent_t mixed[2] = {all->cpu[0], all->gpu[1]};
    CHECK(hsa_amd_memory_lock(host, size, mixed, 2, &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(agent_ptr, host));
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);

    /* Twice the same range (libhsakmt counts registrations and mappings):
     * both succeed with the same agent pointer, even with another agent
     * list, and two unlocks follow. */
    CHECK(hsa_amd_memory_lock(host, size, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_lock(host, size, (hsa_agent_t *)&all->gpu[1], 1, &again) ==
          HSA_STATUS_SUCCESS);
    CHECK(again == agent_ptr);
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    /* A third unlock finds nothing, and succeeds all the same. */
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);

    /* A range inside a locked one locks too, and unlocks by its own start. */
    CHECK(hsa_amd_memory_lock(host, size, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_lock(host + 4096, 100, NULL, 0, &again) == HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(again, host + 4096) && again != (char *)agent_ptr + 4096);
    CHECK(hsa_amd_memory_unlock(host + 4096) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(host + 1) == HSA_STATUS_SUCCESS); /* inside, not a start */
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);

    /* Unlocking what was never locked: success. */
    char other[16];
    CHECK(hsa_amd_memory_unlock(other) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(NULL) == HSA_STATUS_SUCCESS);
    free(mem);

    /* Another size at the same address is a lock of its own.  Two locks
     * then start at one address, and libhsakmt cannot tell which an unlock
     * by address means: neither is released (they stay until the process
     * ends, as in ROCR), and the call still succeeds.  Static memory, so
     * that no later allocation lands on that address. */
    static char twin[8192];
    CHECK(hsa_amd_memory_lock(twin, 4096, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_lock(twin, sizeof twin, NULL, 0, &again) == HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(agent_ptr, twin) && is_gpu_alias(again, twin) && agent_ptr != again);
    CHECK(hsa_amd_memory_unlock(twin) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(twin) == HSA_STATUS_SUCCESS);
}

/* hsa_amd_memory_lock_to_pool: a CPU agent's pool, flags 0. */
static void test_lock_to_pool(const agents *all)
{
    pools cp = {0}, gp = {0};
    REQUIRE(hsa_amd_agent_iterate_memory_pools(all->cpu[0], collect_pool, &cp) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(hsa_amd_agent_iterate_memory_pools(all->gpu[0], collect_pool, &gp) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(cp.n >= 1 && gp.n >= 1);
    static char buf[8192];
    void *agent_ptr = SENTINEL;

    CHECK(hsa_amd_memory_lock_to_pool(NULL, 16, NULL, 0, cp.p[0], 0, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_lock_to_pool(buf, 0, NULL, 0, cp.p[0], 0, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_lock_to_pool(buf, 16, NULL, 0, cp.p[0], 0, NULL) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_memory_lock_to_pool(buf, 16, NULL, 0, cp.p[0], 1, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(agent_ptr == SENTINEL);
    CHECK(hsa_amd_memory_lock_to_pool(buf, 16, NULL, 2, cp.p[0], 0, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(agent_ptr == NULL);
    /* Pools: garbage, and a GPU's. */
    CHECK(hsa_amd_memory_lock_to_pool(buf, 16, NULL, 0, (hsa_amd_memory_pool_t){42}, 0,
                                      &agent_ptr) ==
          (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL);
    CHECK(hsa_amd_memory_lock_to_pool(buf, 16, NULL, 0, gp.p[0], 0, &agent_ptr) ==
          (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL);
    hsa_agent_t junk = {7};
    CHECK(hsa_amd_memory_lock_to_pool(buf, 16, &junk, 1, cp.p[0], 0, &agent_ptr) ==
          HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(agent_ptr == NULL);
    void *unmapped = (void *)(uintptr_t)0xffff900000000000ull;
    CHECK(hsa_amd_memory_lock_to_pool(unmapped, 16, NULL, 0, cp.p[0], 0, &agent_ptr) ==
          HSA_STATUS_ERROR);

    /* Every CPU pool locks; the same range through two pools is counted. */
    void *first = NULL;
    for (int i = 0; i < cp.n; i++) {
        agent_ptr = NULL;
        CHECK(hsa_amd_memory_lock_to_pool(buf, sizeof buf, NULL, 0, cp.p[i], 0, &agent_ptr) ==
              HSA_STATUS_SUCCESS);
        CHECK(is_gpu_alias(agent_ptr, buf));
        if (i == 0)
            first = agent_ptr;
        CHECK(agent_ptr == first);
    }
    CHECK(hsa_amd_memory_lock(buf, sizeof buf, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    for (int i = 0; i <= cp.n; i++)
        CHECK(hsa_amd_memory_unlock(buf) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_lock_to_pool(buf, 100, (hsa_agent_t *)&all->gpu[1], 1, cp.p[0], 0,
                                      &agent_ptr) == HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(agent_ptr, buf));
    CHECK(hsa_amd_memory_unlock(buf) == HSA_STATUS_SUCCESS);
}

static bool copy_done(hsa_signal_t s)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, COPY_DEADLINE_NS,
                                     HSA_WAIT_STATE_BLOCKED) == 0;
}

/* Locked malloc'd memory to a GPU pool allocation and back, through the
 * agent pointer as ROCR requires (the GPU's copy engine sees agent_ptr). */
static void test_async_copy(const agents *all)
{
    enum { SIZE = 5 * 4096 + 321 };
    char *mem = malloc(SIZE + 3);
    REQUIRE(mem);
    uint8_t *host = (uint8_t *)mem + 3;
    for (int i = 0; i < SIZE; i++)
        host[i] = (uint8_t)(i * 13 + 7);
    void *agent_ptr = NULL;
    REQUIRE(hsa_amd_memory_lock(host, SIZE, (hsa_agent_t *)&all->gpu[0], 1, &agent_ptr) ==
            HSA_STATUS_SUCCESS);

    pools gp = {0};
    REQUIRE(hsa_amd_agent_iterate_memory_pools(all->gpu[0], collect_pool, &gp) ==
            HSA_STATUS_SUCCESS);
    uint8_t *vram = NULL;
    REQUIRE(hsa_amd_memory_pool_allocate(gp.p[0], SIZE, 0, (void **)&vram) == HSA_STATUS_SUCCESS);
    memset(vram, 0, SIZE);
    hsa_signal_t done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);

    /* Host -> GPU (the destination GPU's engine). */
    CHECK(hsa_amd_memory_async_copy(vram, all->gpu[0], agent_ptr, all->cpu[0], SIZE, 0, NULL,
                                    done) == HSA_STATUS_SUCCESS);
    CHECK(copy_done(done));
    CHECK(memcmp(vram, host, SIZE) == 0);

    /* GPU -> host (the source GPU's engine), into the cleared buffer. */
    memset(host, 0, SIZE);
    hsa_signal_store_screlease(done, 1);
    CHECK(hsa_amd_memory_async_copy(agent_ptr, all->cpu[0], vram, all->gpu[0], SIZE, 0, NULL,
                                    done) == HSA_STATUS_SUCCESS);
    CHECK(copy_done(done));
    bool same = true;
    for (int i = 0; i < SIZE; i++)
        same &= host[i] == (uint8_t)(i * 13 + 7);
    CHECK(same);

    hsa_signal_destroy(done);
    CHECK(hsa_amd_memory_pool_free(vram) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    free(mem);
}

/* Locks from several threads at once: the registry is shared. */
#define THREADS 4
#define ROUNDS 200

static char shared_buf[THREADS + 1][4096]; /* [0]: every thread's; [1..]: one each */

static void *lock_worker(void *arg)
{
    int id = (int)(intptr_t)arg;
    int failures = 0;
    for (int r = 0; r < ROUNDS; r++) {
        void *p = NULL, *q = NULL;
        failures += hsa_amd_memory_lock(shared_buf[0], 4096, NULL, 0, &p) != HSA_STATUS_SUCCESS;
        failures += hsa_amd_memory_lock(shared_buf[id], 1000 + (size_t)r, NULL, 0, &q) !=
                    HSA_STATUS_SUCCESS;
        failures += !is_gpu_alias(p, shared_buf[0]) || !is_gpu_alias(q, shared_buf[id]);
        failures += hsa_amd_memory_unlock(shared_buf[id]) != HSA_STATUS_SUCCESS;
        failures += hsa_amd_memory_unlock(shared_buf[0]) != HSA_STATUS_SUCCESS;
    }
    return (void *)(intptr_t)failures;
}

static void test_threads(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        REQUIRE(pthread_create(&t[i], NULL, lock_worker, (void *)(intptr_t)(i + 1)) == 0);
    for (int i = 0; i < THREADS; i++) {
        void *failures = NULL;
        pthread_join(t[i], &failures);
        CHECK_EQ_U64((intptr_t)failures, 0);
    }
}

int main(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "host-lock") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);

    test_not_initialized();
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    agents all = {0};
    REQUIRE(hsa_iterate_agents(agents_collect, &all) == HSA_STATUS_SUCCESS);
    REQUIRE(all.n_cpu >= 2 && all.n_gpu >= 2);
    test_lock_arguments(&all);
    test_lock_unmapped(&all);
    test_round_trips(&all);
    test_lock_to_pool(&all);
    test_async_copy(&all);
    test_threads();

    /* Shut down: ROCR releases no lock (libhsakmt keeps its registrations
     * and KFD its pinned pages, for the life of the process), so the
     * calls answer "not initialised" while the runtime is down, and after
     * the next init an unlock releases what was locked before. */
    static char kept[3][4096];
    void *agent_ptr = NULL;
    CHECK(hsa_amd_memory_lock(kept[0], sizeof kept[0], NULL, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_lock(kept[1], sizeof kept[1], NULL, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_lock(kept[1], sizeof kept[1], NULL, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    void *kept_gpu = agent_ptr;
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_not_initialized();
    CHECK(hsa_amd_memory_unlock(kept[0]) == HSA_STATUS_ERROR_NOT_INITIALIZED);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(kept[0]) == HSA_STATUS_SUCCESS);
    /* Locked twice before the shut down, once after: three unlocks. */
    CHECK(hsa_amd_memory_lock(kept[1], sizeof kept[1], NULL, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    CHECK(is_gpu_alias(agent_ptr, kept[1]) && agent_ptr == kept_gpu); /* the same registration */
    for (int i = 0; i < 3; i++)
        CHECK(hsa_amd_memory_unlock(kept[1]) == HSA_STATUS_SUCCESS);
    /* A range locked after the new init round-trips as before. */
    CHECK(hsa_amd_memory_lock(kept[2], sizeof kept[2], NULL, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(kept[2]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_remove_tmpdir(dir);
    return check_result();
}
