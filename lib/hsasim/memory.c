/* hsasim memory: pools are backed by host memory (anonymous mappings, so a
 * simulated reset can wipe a GPU's "VRAM"), allocations are tracked in
 * address order with the GPUs whose page tables map them (async copies:
 * memory_copy.c).
 *
 * Which GPUs map an allocation, as ROCR 5.2.3 and its libhsakmt decide it:
 *  - hsa_amd_memory_pool_allocate passes AllocateRestrict (hsa_ext_amd.cpp):
 *    MemoryRegion::AllocateImpl maps device memory to its owner GPU only and
 *    system memory (fine-grained, coarse-grained and kernarg pools alike) to
 *    no GPU at all;
 *  - hsa_memory_allocate passes AllocateNoFlags (hsa.cpp): device memory
 *    again to its owner, system memory to every GPU (Runtime::gpu_ids());
 *  - hsa_amd_agents_allow_access (Runtime::AllowAccess, MemoryRegion::
 *    AllowAccess) maps the allocation to exactly the GPUs listed, plus the
 *    owner for device memory: libhsakmt's fmm_map_to_gpu_nodes unmaps the
 *    GPUs not in the list.  A list of CPUs only leaves system memory mapped
 *    to no GPU (MakeKfdMemoryUnresident).  The pointer must be the start of
 *    an allocation (allocation_map_.find): anything else, HSA_STATUS_ERROR,
 *    and only then are the agents checked (INVALID_AGENT).
 * That matches what hsa_amd_agent_memory_pool_get_info reports
 * (pools.c): ALLOWED_BY_DEFAULT for the owner's own pools only.
 * sim_memory_accessible adds host memory locked for the GPUs (host_lock.c)
 * and code object segments (code_index.c), and refuses the memory of a GPU
 * that has left: its page tables, and the memory, are gone.
 *
 * Locks: mem_lock guards the allocation list.  It is not held while waiting
 * on a signal or copying, nor while another module's lock is taken. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hsasim.h"

typedef struct allocation {
    uintptr_t base;
    size_t size;
    sim_pool *pool;
    uint64_t *gpus; /* a bit per agent index: the GPUs whose page tables map it */
} allocation;

#define SIM_HUGE_PAGE ((size_t)2 << 20)

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static allocation *allocs; /* by base address */
static size_t n_allocs, cap_allocs;
static _Atomic uint64_t access_gen;

uint64_t sim_memory_generation(void)
{
    return atomic_load_explicit(&access_gen, memory_order_acquire);
}

void sim_memory_access_changed(void)
{
    atomic_fetch_add_explicit(&access_gen, 1, memory_order_release);
}

/* Agents are fixed between init and shut_down, and so are these masks. */
static size_t mask_words(void)
{
    return (sim_rt.n_agents + 63) / 64;
}

static size_t agent_index(const sim_agent *a)
{
    return (size_t)(a - sim_rt.agents);
}

static bool mask_has(const uint64_t *mask, size_t i)
{
    return (mask[i / 64] >> (i % 64)) & 1;
}

static void mask_set(uint64_t *mask, size_t i)
{
    mask[i / 64] |= 1ull << (i % 64);
}

static bool is_device_memory(const sim_pool *p)
{
    return p->kind == SIM_POOL_VRAM_COARSE || p->kind == SIM_POOL_VRAM_FINE;
}

/* Index of the first allocation whose base is > addr (mem_lock held). */
static size_t alloc_upper(uintptr_t addr)
{
    size_t lo = 0, hi = n_allocs;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (allocs[mid].base <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The allocation holding addr, or NULL (mem_lock held). */
static allocation *alloc_containing(uintptr_t addr)
{
    size_t i = alloc_upper(addr);
    if (i == 0)
        return NULL;
    allocation *a = &allocs[i - 1];
    return addr - a->base < a->size ? a : NULL;
}

/* The allocation starting at addr, or NULL (mem_lock held). */
static allocation *alloc_at(uintptr_t addr)
{
    allocation *a = alloc_containing(addr);
    return a && a->base == addr ? a : NULL;
}

static uint64_t pool_used(const sim_pool *p)
{
    uint64_t used = 0;
    for (size_t i = 0; i < n_allocs; i++)
        if (allocs[i].pool == p)
            used += allocs[i].size;
    return used;
}

/* map_all_gpus: system memory mapped to every GPU (hsa_memory_allocate). */
static hsa_status_t pool_allocate(sim_pool *p, size_t size, bool map_all_gpus, void **ptr)
{
    if (p->kind == SIM_POOL_GROUP)
        return HSA_STATUS_ERROR_INVALID_ALLOCATION; /* ROCR: group memory is not allocatable */
    if (size == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    size_t rounded = (size + 4095) & ~(size_t)4095;
    uint64_t *gpus = calloc(mask_words(), sizeof *gpus);
    if (!gpus)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    if (is_device_memory(p))
        mask_set(gpus, agent_index(p->owner));
    else if (map_all_gpus)
        for (uint32_t i = 0; i < sim_rt.n_agents; i++)
            if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_GPU)
                mask_set(gpus, i);
    pthread_mutex_lock(&mem_lock);
    hsa_status_t st = HSA_STATUS_SUCCESS;
    if (rounded < size || pool_used(p) + rounded > p->size) {
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    } else if (n_allocs == cap_allocs) {
        size_t ncap = cap_allocs ? cap_allocs * 2 : 64;
        allocation *grown = realloc(allocs, ncap * sizeof *grown);
        if (!grown)
            st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        else {
            allocs = grown;
            cap_allocs = ncap;
        }
    }
    if (st == HSA_STATUS_SUCCESS) {
        void *m = mmap(NULL, rounded, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                       -1, 0);
        if (m == MAP_FAILED) {
            st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        } else {
            /* VRAM is backed when allocated and never faults; 4 KiB pages
             * would charge a GPU's first touch one fault per page (about
             * 1 s per GiB on a virtual machine), which hardware never pays.
             * Huge pages where the kernel has them (best effort). */
            if (is_device_memory(p) && rounded >= SIM_HUGE_PAGE)
                (void)madvise(m, rounded, MADV_HUGEPAGE);
            size_t at = alloc_upper((uintptr_t)m);
            memmove(&allocs[at + 1], &allocs[at], (n_allocs - at) * sizeof *allocs);
            allocs[at] = (allocation){(uintptr_t)m, rounded, p, gpus};
            n_allocs++;
            gpus = NULL;
            *ptr = m;
        }
    }
    pthread_mutex_unlock(&mem_lock);
    free(gpus);
    return st;
}

static hsa_status_t pool_free(void *ptr)
{
    pthread_mutex_lock(&mem_lock);
    allocation *a = alloc_at((uintptr_t)ptr);
    if (!a) {
        pthread_mutex_unlock(&mem_lock);
        return HSA_STATUS_ERROR_INVALID_ALLOCATION;
    }
    munmap(ptr, a->size);
    free(a->gpus);
    size_t at = (size_t)(a - allocs);
    memmove(&allocs[at], &allocs[at + 1], (n_allocs - at - 1) * sizeof *allocs);
    n_allocs--;
    sim_memory_access_changed();
    pthread_mutex_unlock(&mem_lock);
    return HSA_STATUS_SUCCESS;
}

bool sim_memory_accessible(const sim_agent *agent, uintptr_t addr, size_t len, sim_range *out)
{
    if (len == 0 || addr > UINTPTR_MAX - (len - 1))
        return false;
    pthread_mutex_lock(&mem_lock);
    const allocation *a = alloc_containing(addr);
    bool in_alloc = a != NULL, ok = false;
    if (a) {
        const sim_agent *owner = a->pool->owner;
        ok = len <= a->size - (addr - a->base) && mask_has(a->gpus, agent_index(agent)) &&
             !(owner->type == HSA_DEVICE_TYPE_GPU && atomic_load(&owner->dead));
        *out = (sim_range){a->base, a->base + a->size};
    }
    pthread_mutex_unlock(&mem_lock);
    if (ok)
        return true;
    /* Host memory locked for the GPUs; a pool allocation that is locked too
     * (libhsakmt then maps its own buffer to them). */
    if (sim_host_lock_accessible(sim_agent_identity(agent), addr, len, out))
        return true;
    return !in_alloc &&
           sim_code_accessible((uint64_t)(uintptr_t)agent, addr, len, out);
}

/* The reset's own writes: the hardware's, not a thread's, and as racy with
 * a kernel still touching the memory as on a GPU -- so not the C program's
 * race for ThreadSanitizer to report. */
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SIM_HARDWARE_WRITE __attribute__((no_sanitize("thread"), noinline))
#endif
#endif
#ifndef SIM_HARDWARE_WRITE
#define SIM_HARDWARE_WRITE __attribute__((noinline))
#endif

static SIM_HARDWARE_WRITE void scramble(volatile uint8_t *p, size_t size)
{
    for (size_t i = 0; i < size; i++)
        p[i] = 0xa5;
}

bool sim_memory_find(uintptr_t addr, sim_alloc_view *out)
{
    pthread_mutex_lock(&mem_lock);
    allocation *a = alloc_containing(addr);
    if (a) {
        out->base = a->base;
        out->size = a->size;
        out->pool = a->pool;
        out->n_mapped = 0;
        for (size_t i = 0; i < sim_rt.n_agents && out->n_mapped < SIM_MAX_MAPPED; i++)
            if (mask_has(a->gpus, i))
                out->mapped[out->n_mapped++] = &sim_rt.agents[i];
    }
    pthread_mutex_unlock(&mem_lock);
    return a != NULL;
}

uint64_t sim_memory_vram_available(const sim_agent *agent)
{
    uint64_t vram = 0, used = 0;
    for (uint32_t i = 0; i < agent->n_pools; i++)
        if (is_device_memory(&agent->pools[i]))
            vram += agent->pools[i].size;
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++)
        if (allocs[i].pool->owner == agent && is_device_memory(allocs[i].pool))
            used += allocs[i].size;
    pthread_mutex_unlock(&mem_lock);
    return used < vram ? vram - used : 0;
}

/* A GPU reset loses VRAM contents: every allocation in the agent's device
 * pools is filled with a pattern no computation produces by accident. */
void sim_memory_lose_vram(sim_agent *agent)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++)
        if (allocs[i].pool->owner == agent && allocs[i].pool->kind == SIM_POOL_VRAM_COARSE)
            scramble((volatile uint8_t *)allocs[i].base, allocs[i].size);
    pthread_mutex_unlock(&mem_lock);
}

/* Everything allocated goes at the last shut_down, as in ROCR. */
void sim_memory_release_all(void)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++) {
        munmap((void *)allocs[i].base, allocs[i].size);
        free(allocs[i].gpus);
    }
    free(allocs);
    allocs = NULL;
    n_allocs = cap_allocs = 0;
    sim_memory_access_changed();
    pthread_mutex_unlock(&mem_lock);
}

SIM_API hsa_status_t hsa_amd_memory_pool_allocate(hsa_amd_memory_pool_t memory_pool, size_t size,
                                                  uint32_t flags, void **ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_pool *p = sim_pool_get(memory_pool.handle);
    if (!p)
        return (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL;
    if (!ptr || flags != 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (p->owner->dead)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES; /* a gone device has no memory to give */
    return pool_allocate(p, size, false, ptr); /* AllocateRestrict */
}

SIM_API hsa_status_t hsa_amd_memory_pool_free(void *ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!ptr)
        return HSA_STATUS_SUCCESS; /* free(NULL) semantics, as ROCR */
    return pool_free(ptr);
}

SIM_API hsa_status_t hsa_memory_allocate(hsa_region_t region, size_t size, void **ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_pool *p = sim_pool_get(region.handle);
    if (!p)
        return HSA_STATUS_ERROR_INVALID_REGION;
    if (!ptr)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return pool_allocate(p, size, true, ptr); /* AllocateNoFlags */
}

SIM_API hsa_status_t hsa_memory_free(void *ptr)
{
    return hsa_amd_memory_pool_free(ptr);
}

SIM_API hsa_status_t hsa_amd_agents_allow_access(uint32_t num_agents, const hsa_agent_t *agents,
                                                 const uint32_t *flags, const void *ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (num_agents == 0 || !agents || flags || !ptr)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&mem_lock);
    bool known = alloc_at((uintptr_t)ptr) != NULL;
    pthread_mutex_unlock(&mem_lock);
    if (!known)
        return HSA_STATUS_ERROR; /* Runtime::AllowAccess: not in allocation_map_ */
    uint64_t *gpus = calloc(mask_words(), sizeof *gpus);
    if (!gpus)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    for (uint32_t i = 0; i < num_agents; i++) {
        sim_agent *a = sim_agent_get(agents[i]);
        if (!a) {
            free(gpus);
            return HSA_STATUS_ERROR_INVALID_AGENT;
        }
        if (a->type == HSA_DEVICE_TYPE_GPU)
            mask_set(gpus, agent_index(a));
    }
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_mutex_lock(&mem_lock);
    allocation *a = alloc_at((uintptr_t)ptr);
    if (!a) {
        st = HSA_STATUS_ERROR; /* freed meanwhile */
    } else {
        if (is_device_memory(a->pool))
            mask_set(gpus, agent_index(a->pool->owner));
        free(a->gpus);
        a->gpus = gpus;
        gpus = NULL;
        sim_memory_access_changed();
    }
    pthread_mutex_unlock(&mem_lock);
    free(gpus);
    return st;
}

SIM_API hsa_status_t hsa_memory_copy(void *dst, const void *src, size_t size)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!dst || !src)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    memmove(dst, src, size);
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_memory_fill(void *ptr, uint32_t value, size_t count)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!ptr || ((uintptr_t)ptr & 3))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    for (size_t i = 0; i < count; i++)
        ((uint32_t *)ptr)[i] = value;
    return HSA_STATUS_SUCCESS;
}
