/* Shared set-up of the hsasim queue/signal tests: a virtual mi300x tree with
 * two GPUs made by rochp-sim on tmpfs, hsa_init over it, the agents found by
 * hsa_iterate_agents, a few timing helpers, and for the tests that dispatch
 * what a real application needs: a host code object loaded for every GPU,
 * and memory every agent may touch (pool memory opened with
 * hsa_amd_agents_allow_access; kernarg segments from the kernarg pool). */
#ifndef HSAQ_COMMON_H
#define HSAQ_COMMON_H

#include <fcntl.h>
#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <time.h>

#include "check.h"
#include "tmpdir.h"

#define HSAQ_MAX_GPUS 8

static char hsaq_dir[512];
static hsa_agent_t hsaq_cpu;
static hsa_agent_t hsaq_gpus[HSAQ_MAX_GPUS];
static int hsaq_n_gpus;
static hsa_amd_memory_pool_t hsaq_fine_pool, hsaq_kernarg_pool; /* the CPU's */

static hsa_status_t hsaq_pool_cb(hsa_amd_memory_pool_t pool, void *data)
{
    (void)data;
    uint32_t flags = 0;
    bool alloc = false;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED, &alloc);
    if (!alloc)
        return HSA_STATUS_SUCCESS;
    if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT)
        hsaq_kernarg_pool = pool;
    else if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED)
        hsaq_fine_pool = pool;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t hsaq_agent_cb(hsa_agent_t agent, void *data)
{
    (void)data;
    hsa_device_type_t type;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) != HSA_STATUS_SUCCESS)
        return HSA_STATUS_ERROR;
    if (type == HSA_DEVICE_TYPE_CPU && hsaq_cpu.handle == 0)
        hsaq_cpu = agent;
    if (type == HSA_DEVICE_TYPE_GPU && hsaq_n_gpus < HSAQ_MAX_GPUS)
        hsaq_gpus[hsaq_n_gpus++] = agent;
    return HSA_STATUS_SUCCESS;
}

static void hsaq_setup(const char *tag)
{
    REQUIRE(test_make_tmpdir(hsaq_dir, sizeof hsaq_dir, tag) == 0);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "'%s' create '%s' --model mi300x --gpus 2 >/dev/null", ROCHP_SIM_BIN,
             hsaq_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "failed: %s\n", cmd);
        test_remove_tmpdir(hsaq_dir);
        exit(1);
    }
    REQUIRE(setenv("ROCHP_SYSFS_ROOT", hsaq_dir, 1) == 0);
    hsa_status_t st = hsa_init();
    if (st != HSA_STATUS_SUCCESS) {
        fprintf(stderr, "hsa_init: status 0x%x\n", (unsigned)st);
        test_remove_tmpdir(hsaq_dir);
        exit(1);
    }
    REQUIRE(hsa_iterate_agents(hsaq_agent_cb, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsaq_cpu.handle != 0);
    REQUIRE(hsaq_n_gpus >= 2);
    REQUIRE(hsa_amd_agent_iterate_memory_pools(hsaq_cpu, hsaq_pool_cb, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsaq_fine_pool.handle && hsaq_kernarg_pool.handle);
    uint64_t freq = 0;
    REQUIRE(hsa_system_get_info(HSA_SYSTEM_INFO_TIMESTAMP_FREQUENCY, &freq) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(freq, 1000000000ull); /* timeouts below are in ns */
}

static void hsaq_teardown(void)
{
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_remove_tmpdir(hsaq_dir);
}

static inline uint64_t hsaq_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void hsaq_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* CPU time of the whole process (every thread), in ns. */
static inline uint64_t hsaq_cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000ull +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000ull;
}

#define MS(x) ((uint64_t)(x) * 1000000ull)

/* --- what dispatching tests need -------------------------------------------------- */

/* size bytes, zeroed, that the CPU and every GPU may touch: system memory
 * from the fine-grained (or kernarg) pool opened to them all, as ROCR
 * requires (hsa_amd_memory_pool_allocate maps system memory to no GPU). */
static inline void *hsaq_alloc_from(hsa_amd_memory_pool_t pool, size_t size)
{
    void *p = NULL;
    REQUIRE(hsa_amd_memory_pool_allocate(pool, size, 0, &p) == HSA_STATUS_SUCCESS);
    hsa_agent_t all[HSAQ_MAX_GPUS + 1];
    uint32_t n = 0;
    all[n++] = hsaq_cpu;
    for (int i = 0; i < hsaq_n_gpus; i++)
        all[n++] = hsaq_gpus[i];
    REQUIRE(hsa_amd_agents_allow_access(n, all, NULL, p) == HSA_STATUS_SUCCESS);
    memset(p, 0, size);
    return p;
}

static inline void *hsaq_alloc(size_t size)
{
    return hsaq_alloc_from(hsaq_fine_pool, size);
}

static inline void hsaq_free(void *p)
{
    CHECK(hsa_amd_memory_pool_free(p) == HSA_STATUS_SUCCESS);
}

/* A kernarg segment holding a copy of args, taken from one kernarg pool
 * allocation (never reused: the tests' dispatches fit). */
static inline void *hsaq_kernarg(const void *args, size_t size)
{
    enum { ARENA = 32 << 20, SLOT = 64 };
    static uint8_t *_Atomic arena;
    static _Atomic size_t used;
    static pthread_mutex_t arena_lock = PTHREAD_MUTEX_INITIALIZER;
    if (!atomic_load(&arena)) {
        pthread_mutex_lock(&arena_lock);
        if (!atomic_load(&arena))
            atomic_store(&arena, (uint8_t *)hsaq_alloc_from(hsaq_kernarg_pool, ARENA));
        pthread_mutex_unlock(&arena_lock);
    }
    size_t at = atomic_fetch_add(&used, (size + SLOT - 1) / SLOT * SLOT);
    REQUIRE(at + size <= ARENA);
    uint8_t *p = atomic_load(&arena) + at;
    memcpy(p, args, size);
    return p;
}

/* The code object at path, loaded for every GPU into one frozen executable. */
static hsa_executable_t hsaq_exec;

static inline void hsaq_load_kernels(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    hsa_code_object_reader_t reader;
    REQUIRE(hsa_code_object_reader_create_from_file(fd, &reader) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                      NULL, &hsaq_exec) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < hsaq_n_gpus; i++)
        REQUIRE(hsa_executable_load_agent_code_object(hsaq_exec, hsaq_gpus[i], reader, NULL,
                                                      NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_executable_freeze(hsaq_exec, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_code_object_reader_destroy(reader) == HSA_STATUS_SUCCESS);
    close(fd);
}

/* The kernel object of kernel name ("count") for agent. */
static inline uint64_t hsaq_kernel_object(const char *name, hsa_agent_t agent)
{
    char symbol[128];
    snprintf(symbol, sizeof symbol, "%s.kd", name);
    hsa_executable_symbol_t s;
    REQUIRE(hsa_executable_get_symbol_by_name(hsaq_exec, symbol, &agent, &s) == HSA_STATUS_SUCCESS);
    uint64_t ko = 0;
    REQUIRE(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT, &ko) ==
            HSA_STATUS_SUCCESS);
    return ko;
}

#endif
