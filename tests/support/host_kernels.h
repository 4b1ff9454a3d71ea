/* What a program does before it dispatches on a GPU, for the tests that run
 * host kernels on hsasim, which is as strict as a GPU without XNACK
 * (lib/hsasim/queue_packets.c, "What a dispatch may touch"):
 *  - the kernels come from a code object loaded for that GPU into an
 *    executable of its own, frozen; a kernel object is valid only on the
 *    agent it was loaded for;
 *  - the kernarg segment and every buffer a kernel is given must be mapped
 *    for the GPU: pool allocations of system memory are mapped to no GPU
 *    until hsa_amd_agents_allow_access names it (ROCR's AllocateRestrict),
 *    and malloc'd, stack or static memory never is.
 * Anything else is a VM fault, which evicts every queue of the process on
 * that GPU for good: the dispatch never completes.  Failures here REQUIRE:
 * without its kernels or memory a test has nothing to check. */
#ifndef ROCHP_TESTS_HOST_KERNELS_H
#define ROCHP_TESTS_HOST_KERNELS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"

typedef struct host_gpu {
    hsa_agent_t gpu, cpu;
    hsa_executable_t exec;               /* the code object, loaded for gpu only */
    hsa_amd_memory_pool_t fine, kernarg; /* the CPU's system memory pools */
} host_gpu;

static inline hsa_status_t host_gpu_find_cpu_(hsa_agent_t a, void *data)
{
    hsa_device_type_t t;
    if (hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t) == HSA_STATUS_SUCCESS &&
        t == HSA_DEVICE_TYPE_CPU) {
        *(hsa_agent_t *)data = a;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

static inline hsa_status_t host_gpu_find_pools_(hsa_amd_memory_pool_t pool, void *data)
{
    host_gpu *h = data;
    uint32_t flags = 0;
    bool alloc = false;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED, &alloc);
    if (!alloc)
        return HSA_STATUS_SUCCESS;
    if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT) {
        if (!h->kernarg.handle)
            h->kernarg = pool;
    } else if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED) {
        if (!h->fine.handle)
            h->fine = pool;
    }
    return HSA_STATUS_SUCCESS;
}

/* Loads the host code object at path for gpu into a frozen executable. */
static inline void host_gpu_open(host_gpu *h, hsa_agent_t gpu, const char *path)
{
    memset(h, 0, sizeof *h);
    h->gpu = gpu;
    REQUIRE(hsa_iterate_agents(host_gpu_find_cpu_, &h->cpu) == HSA_STATUS_INFO_BREAK);
    REQUIRE(hsa_amd_agent_iterate_memory_pools(h->cpu, host_gpu_find_pools_, h) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(h->fine.handle && h->kernarg.handle);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        perror(path);
    REQUIRE(fd >= 0);
    hsa_code_object_reader_t reader;
    REQUIRE(hsa_code_object_reader_create_from_file(fd, &reader) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                      NULL, &h->exec) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_executable_load_agent_code_object(h->exec, gpu, reader, NULL, NULL) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(hsa_executable_freeze(h->exec, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_code_object_reader_destroy(reader) == HSA_STATUS_SUCCESS);
    close(fd);
}

/* The kernel object of kernel name ("fill") on h's GPU. */
static inline uint64_t host_gpu_kernel(const host_gpu *h, const char *name)
{
    char symbol[128];
    snprintf(symbol, sizeof symbol, "%s.kd", name);
    hsa_executable_symbol_t s;
    REQUIRE(hsa_executable_get_symbol_by_name(h->exec, symbol, &h->gpu, &s) ==
            HSA_STATUS_SUCCESS);
    uint64_t ko = 0;
    REQUIRE(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT, &ko) ==
                HSA_STATUS_SUCCESS &&
            ko != 0);
    return ko;
}

static inline void *host_gpu_alloc_(const host_gpu *h, hsa_amd_memory_pool_t pool, size_t size)
{
    void *p = NULL;
    REQUIRE(hsa_amd_memory_pool_allocate(pool, size, 0, &p) == HSA_STATUS_SUCCESS);
    hsa_agent_t both[2] = {h->cpu, h->gpu};
    REQUIRE(hsa_amd_agents_allow_access(2, both, NULL, p) == HSA_STATUS_SUCCESS);
    memset(p, 0, size);
    return p;
}

/* size bytes, zeroed, of fine-grained system memory the CPU and h's GPU
 * both reach: what a kernel writes there the host reads after completion. */
static inline void *host_gpu_memory(const host_gpu *h, size_t size)
{
    return host_gpu_alloc_(h, h->fine, size);
}

/* A kernarg segment of size bytes (zeroed) for dispatches on h's GPU. */
static inline void *host_gpu_kernarg(const host_gpu *h, size_t size)
{
    return host_gpu_alloc_(h, h->kernarg, size);
}

static inline void host_gpu_free(void *p)
{
    CHECK(hsa_amd_memory_pool_free(p) == HSA_STATUS_SUCCESS);
}

static inline void host_gpu_close(host_gpu *h)
{
    CHECK(hsa_executable_destroy(h->exec) == HSA_STATUS_SUCCESS);
    h->exec.handle = 0;
}

/* Publishes one 1-D dispatch of kernel_object over grid work-items in
 * work-groups of workgroup, with system-scope fences so that the host sees
 * the kernel's writes once completion (0 handle: none) reaches 0. */
static inline void host_dispatch(hsa_queue_t *q, uint64_t kernel_object, void *kernarg,
                                 uint32_t grid, uint16_t workgroup, hsa_signal_t completion)
{
    uint64_t index = hsa_queue_add_write_index_relaxed(q, 1);
    hsa_kernel_dispatch_packet_t *p =
        (hsa_kernel_dispatch_packet_t *)q->base_address + (index & (q->size - 1));
    memset((char *)p + 4, 0, sizeof *p - 4);
    p->workgroup_size_x = workgroup;
    p->workgroup_size_y = p->workgroup_size_z = 1;
    p->grid_size_x = grid;
    p->grid_size_y = p->grid_size_z = 1;
    p->kernel_object = kernel_object;
    p->kernarg_address = kernarg;
    p->completion_signal = completion;
    uint32_t header = HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE |
                      HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE |
                      HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE;
    uint32_t setup = 1u << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS;
    /* Header and setup in one store, last: the packet processor may take the
     * packet the moment its type is valid. */
    __atomic_store_n((uint32_t *)p, header | setup << 16, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
}

/* Whether s reaches 0 within timeout_ns: a dispatch that faulted never
 * completes, so a test waits with a deadline and fails instead of hanging. */
static inline bool host_completes(hsa_signal_t s, uint64_t timeout_ns)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, timeout_ns,
                                     HSA_WAIT_STATE_BLOCKED) == 0;
}

#endif
