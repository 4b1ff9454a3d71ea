/* hsasim host memory locking: hsa_amd_memory_lock, hsa_amd_memory_lock_to_pool
 * and hsa_amd_memory_unlock, as ROCR 5.2.3 behaves on a dGPU system (the
 * simulated machines have coarse-grained system memory, so ROCR's APU
 * shortcut, "no coarse system region: *agent_ptr = host_ptr", never applies).
 *
 * ROCR (src/core/runtime/hsa_ext_amd.cpp hsa_amd_memory_lock / _lock_to_pool
 * / _unlock, amd_memory_region.cpp MemoryRegion::Lock / Unlock) over
 * libhsakmt (ROCT src/fmm.c fmm_register_memory, fmm_register_user_memory,
 * _fmm_map_to_gpu, _fmm_unmap_from_gpu, fmm_deregister_memory):
 *  - not initialised: HSA_STATUS_ERROR_NOT_INITIALIZED before anything else;
 *  - host_ptr NULL, size 0 or agent_ptr NULL (lock_to_pool: or flags != 0):
 *    HSA_STATUS_ERROR_INVALID_ARGUMENT, *agent_ptr untouched; past that
 *    check *agent_ptr is NULL until a lock succeeds;
 *  - agents NULL with num_agent != 0, or agents with num_agent == 0:
 *    HSA_STATUS_ERROR_INVALID_ARGUMENT;
 *  - lock_to_pool: a pool that is not a CPU agent's:
 *    HSA_STATUS_ERROR_INVALID_MEMORY_POOL;
 *  - an invalid agent in the list: HSA_STATUS_ERROR_INVALID_AGENT (CPU
 *    agents in the list are accepted and skipped);
 *  - no GPU to map to (only CPU agents listed, or no GPU at all):
 *    *agent_ptr = host_ptr, success, nothing registered;
 *  - otherwise the range is registered with KFD as a userptr and mapped to
 *    the GPUs (NULL agents: all of them).  A range the kernel cannot pin
 *    (not mapped in the process) fails the registration: HSA_STATUS_ERROR.
 *  - agent_ptr: ROCR returns the GPU virtual address of the userptr buffer,
 *    not host_ptr: libhsakmt allocates the BO a new address in its dGPU
 *    aperture (fmm.c fmm_register_user_memory: __fmm_allocate_device over
 *    svm.dgpu_aperture) and ROCR returns it plus host_ptr's page offset
 *    (MemoryRegion::Lock, alternate_va).  hsasim does the same: each lock
 *    reserves an alias of the range's pages (PROT_NONE, as the aperture's
 *    reservation is for the CPU), which the simulated GPUs translate to the
 *    host pages (sim_host_lock_translate: the copy engines, and the
 *    global_buffer arguments of a dispatch, queue_packets.c).  HIP depends
 *    on the difference: ROCclr files a registered buffer under both
 *    addresses (hipamd hip_memory.cpp ihipHostRegister/ihipHostUnregister,
 *    amd::MemObjMap), and with agent_ptr == host_ptr hipHostUnregister
 *    removes the one entry twice and aborts ("Memobj map does not have
 *    ptr").  Not modelled: a host kernel reaching the alias through a
 *    pointer that is not a global_buffer argument (inside a struct) faults
 *    on the reservation; and the GPUs still reach a locked range at its
 *    host address too, as hsasim always let them.
 *  - locking the exact same range (same host_ptr and size) again counts:
 *    libhsakmt keeps registration_count and mapping_count, and the same
 *    agent_ptr comes back (the GPUs it is mapped to stay those of the first
 *    lock).  A different size at the same address is a separate lock.
 *  - unlock always succeeds once initialised, whatever the pointer (NULL, an
 *    address never locked, one inside a locked range): ROCR ignores what
 *    libhsakmt answers.  Only a lock that starts at host_ptr is found, and
 *    only if it is the only one starting there (fmm.c vm_find_object with
 *    size 0); it drops one count and is released at zero.
 *  - shut down: ROCR keeps no record of locks and releases none
 *    (Runtime::Unload); libhsakmt's registrations live in its SVM aperture,
 *    which hsaKmtCloseKFD leaves alone and the next hsaKmtOpenKFD reuses,
 *    and the KFD process that owns the pinned buffers lives as long as the
 *    process, not the /dev/kfd descriptor.  So locks outlive the runtime: a
 *    lock taken before the last hsa_shut_down is still counted after the
 *    next hsa_init, and an unlock then releases it.  hsasim's registry is
 *    therefore process-wide and not emptied at shut down.
 * Not modelled: a GPU that has left (ROCR would fail the mapping), read-only
 * or PROT_NONE memory (the kernel refuses to pin it), and locking memory that
 * hsa_amd_memory_pool_allocate returned (libhsakmt finds its own buffer there
 * instead of a userptr; hsasim counts it like any host range).
 *
 * What the GPUs see (sim_host_lock_accessible, for the packet processors):
 * a locked range is mapped to EVERY GPU of the process, whichever agents the
 * lock names, as long as it names one (or none: all).  libhsakmt 5.2.3
 * registers a userptr without a node list (hsaKmtRegisterMemoryWithFlags ->
 * fmm_register_memory(..., NULL, 0, ...)), and fmm_map_to_gpu_nodes then
 * ignores the nodes ROCR asks for: "For userptr, we ignore the nodes array
 * and map all registered nodes", which for an unregistered list is
 * all_gpu_id_array (_fmm_map_to_gpu, "not specified, not registered: map all
 * GPUs").  So each lock records the identities of the GPUs present when it
 * was taken (locks outlive the runtime, agents do not), and the range stays
 * mapped to them until its count drops to zero.
 *
 * Locks: lock_mutex guards the registry (locks, n_locks, cap_locks).  It is
 * a leaf: taken after the runtime's checks (which take sim_rt.lock) are done,
 * and nothing else is called while it is held. */
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hsasim.h"

typedef struct host_lock {
    uintptr_t start; /* host_ptr as given */
    size_t size;     /* size as given */
    uint64_t count;  /* locks of exactly this range not yet unlocked */
    uint64_t *gpus;  /* sim_agent_identity of the GPUs it is mapped to */
    size_t n_gpus;
    uintptr_t alias; /* the GPU address of start (agent_ptr) */
    size_t alias_len; /* the reservation: start's pages, from alias's page */
} host_lock;

static pthread_mutex_t lock_mutex = PTHREAD_MUTEX_INITIALIZER;
static host_lock *locks;
static size_t n_locks, cap_locks;
static _Atomic size_t n_aliases; /* n_locks, for a lock-free "none" */

static uintptr_t page_size(void)
{
    return (uintptr_t)sysconf(_SC_PAGESIZE);
}

/* A GPU address range for the pages of [start, start + size): reserved, not
 * accessible to the CPU, as libhsakmt's aperture.  0 when out of address
 * space. */
static uintptr_t alias_reserve(uintptr_t start, size_t size, size_t *len)
{
    uintptr_t page = page_size(), first = start & ~(page - 1);
    *len = ((start + size - first) + page - 1) & ~(page - 1);
    void *p = mmap(NULL, *len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    return p == MAP_FAILED ? 0 : (uintptr_t)p + (start - first);
}

static void alias_release(uintptr_t alias, size_t len)
{
    if (alias)
        munmap((void *)(alias & ~(page_size() - 1)), len);
}

/* True when every page of [start, start + size) is mapped in the process,
 * as the kernel needs to pin a userptr range. */
static bool range_mapped(uintptr_t start, size_t size)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    if (start > UINTPTR_MAX - (size - 1))
        return false; /* wraps around the address space */
    uintptr_t first = start & ~(page - 1);
    uintptr_t last = (start + (size - 1)) & ~(page - 1);
    unsigned char vec[1024]; /* pages per mincore call */
    for (uintptr_t at = first;;) {
        uintptr_t pages = (last - at) / page + 1;
        if (pages > sizeof vec)
            pages = sizeof vec;
        if (mincore((void *)at, pages * page, vec) != 0)
            return false; /* ENOMEM: a page in the range is not mapped */
        if (at + (pages - 1) * page == last)
            return true;
        at += pages * page;
    }
}

/* Counts one more lock of exactly [start, start + size), mapped to gpus
 * (taken over) when it is the first; *agent_ptr: its GPU address. */
static hsa_status_t registry_add(uintptr_t start, size_t size, uint64_t *gpus, size_t n_gpus,
                                 void **agent_ptr)
{
    size_t alias_len = 0;
    uintptr_t alias = alias_reserve(start, size, &alias_len);
    if (!alias) {
        free(gpus);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_mutex_lock(&lock_mutex);
    size_t i = 0;
    while (i < n_locks && !(locks[i].start == start && locks[i].size == size))
        i++;
    if (i < n_locks) {
        locks[i].count++; /* libhsakmt: the mapping stays as it is */
        *agent_ptr = (void *)locks[i].alias;
    } else {
        if (n_locks == cap_locks) {
            size_t ncap = cap_locks ? cap_locks * 2 : 16;
            host_lock *grown = realloc(locks, ncap * sizeof *grown);
            if (grown) {
                locks = grown;
                cap_locks = ncap;
            } else {
                st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
            }
        }
        if (st == HSA_STATUS_SUCCESS) {
            locks[n_locks++] = (host_lock){start, size, 1, gpus, n_gpus, alias, alias_len};
            atomic_store(&n_aliases, n_locks);
            *agent_ptr = (void *)alias;
            gpus = NULL;
            alias = 0;
        }
    }
    pthread_mutex_unlock(&lock_mutex);
    free(gpus);
    alias_release(alias, alias_len); /* not needed: counted, or failed */
    return st;
}

/* Drops one count of the lock that starts at start, if exactly one does
 * (libhsakmt's lookup by address alone finds nothing when several do). */
static void registry_drop(uintptr_t start)
{
    pthread_mutex_lock(&lock_mutex);
    size_t found = SIZE_MAX, n = 0;
    for (size_t i = 0; i < n_locks; i++)
        if (locks[i].start == start) {
            found = i;
            n++;
        }
    if (n == 1 && --locks[found].count == 0) {
        free(locks[found].gpus);
        alias_release(locks[found].alias, locks[found].alias_len);
        locks[found] = locks[--n_locks];
        atomic_store(&n_aliases, n_locks);
        sim_memory_access_changed(); /* unmapped from the GPUs */
        if (n_locks == 0) {
            free(locks); /* an empty registry holds no memory */
            locks = NULL;
            cap_locks = 0;
        }
    }
    pthread_mutex_unlock(&lock_mutex);
}

static bool within(uintptr_t base, size_t size, uintptr_t addr, size_t len)
{
    return addr >= base && addr - base < size && len <= size - (addr - base);
}

bool sim_host_lock_accessible(uint64_t identity, uintptr_t addr, size_t len, sim_range *out)
{
    bool found = false;
    pthread_mutex_lock(&lock_mutex);
    for (size_t i = 0; i < n_locks && !found; i++) {
        const host_lock *l = &locks[i];
        /* Its GPU address, or (as hsasim always allowed) its host address. */
        uintptr_t base = within(l->alias, l->size, addr, len)   ? l->alias
                         : within(l->start, l->size, addr, len) ? l->start
                                                                : 0;
        if (!base)
            continue;
        for (size_t k = 0; k < l->n_gpus && !found; k++)
            found = l->gpus[k] == identity;
        if (found)
            *out = (sim_range){base, base + l->size};
    }
    pthread_mutex_unlock(&lock_mutex);
    return found;
}

bool sim_host_lock_find(uintptr_t addr, uintptr_t *host, uintptr_t *agent, size_t *size)
{
    bool found = false;
    pthread_mutex_lock(&lock_mutex);
    for (size_t i = 0; i < n_locks && !found; i++)
        if ((found = within(locks[i].alias, locks[i].size, addr, 1) ||
                     within(locks[i].start, locks[i].size, addr, 1))) {
            *host = locks[i].start;
            *agent = locks[i].alias;
            *size = locks[i].size;
        }
    pthread_mutex_unlock(&lock_mutex);
    return found;
}

bool sim_host_lock_translate(uintptr_t addr, size_t len, uintptr_t *host)
{
    if (atomic_load_explicit(&n_aliases, memory_order_relaxed) == 0)
        return false;
    bool found = false;
    pthread_mutex_lock(&lock_mutex);
    for (size_t i = 0; i < n_locks && !found; i++)
        if ((found = within(locks[i].alias, locks[i].size, addr, len ? len : 1)))
            *host = locks[i].start + (addr - locks[i].alias);
    pthread_mutex_unlock(&lock_mutex);
    return found;
}

/* The identities of every GPU of the runtime (see the top). */
static hsa_status_t all_gpus(uint64_t **out, size_t *n)
{
    *n = 0;
    pthread_mutex_lock(&sim_rt.lock);
    *out = malloc((sim_rt.n_agents ? sim_rt.n_agents : 1) * sizeof **out);
    for (uint32_t i = 0; *out && i < sim_rt.n_agents; i++)
        if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_GPU)
            (*out)[(*n)++] = sim_agent_identity(&sim_rt.agents[i]);
    pthread_mutex_unlock(&sim_rt.lock);
    return *out ? HSA_STATUS_SUCCESS : HSA_STATUS_ERROR_OUT_OF_RESOURCES;
}

/* MemoryRegion::Lock from its agent checks on (the runtime is up and the
 * arguments have passed the entry point's checks; *agent_ptr is NULL). */
static hsa_status_t lock_range(void *host_ptr, size_t size, const hsa_agent_t *agents,
                               int num_agent, void **agent_ptr)
{
    if (num_agent < 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT; /* ROCR reads past the array: undefined */
    uint64_t *gpus = NULL;
    size_t n_gpus = 0;
    hsa_status_t st = all_gpus(&gpus, &n_gpus);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    bool any_gpu = false;
    if (num_agent == 0) {
        any_gpu = n_gpus > 0; /* every GPU */
    } else {
        for (int i = 0; i < num_agent; i++) {
            sim_agent *a = sim_agent_get(agents[i]);
            if (!a) {
                free(gpus);
                return HSA_STATUS_ERROR_INVALID_AGENT;
            }
            any_gpu |= a->type == HSA_DEVICE_TYPE_GPU;
        }
    }
    if (!any_gpu) {
        /* No GPU to map to: nothing is registered. */
        free(gpus);
        *agent_ptr = host_ptr;
        return HSA_STATUS_SUCCESS;
    }
    /* hsaKmtRegisterMemoryWithFlags fails: ROCR returns HSA_STATUS_ERROR. */
    if (!range_mapped((uintptr_t)host_ptr, size)) {
        free(gpus);
        return HSA_STATUS_ERROR;
    }
    return registry_add((uintptr_t)host_ptr, size, gpus, n_gpus, agent_ptr);
}

SIM_API hsa_status_t hsa_amd_memory_lock(void *host_ptr, size_t size, hsa_agent_t *agents,
                                         int num_agent, void **agent_ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (size == 0 || !host_ptr || !agent_ptr)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    *agent_ptr = NULL;
    if ((agents && num_agent == 0) || (!agents && num_agent != 0))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return lock_range(host_ptr, size, agents, num_agent, agent_ptr);
}

SIM_API hsa_status_t hsa_amd_memory_lock_to_pool(void *host_ptr, size_t size,
                                                 hsa_agent_t *agents, int num_agent,
                                                 hsa_amd_memory_pool_t pool, uint32_t flags,
                                                 void **agent_ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (size == 0 || !host_ptr || !agent_ptr || flags != 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    *agent_ptr = NULL;
    if ((agents && num_agent == 0) || (!agents && num_agent != 0))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_pool *p = sim_pool_get(pool.handle);
    if (!p || p->owner->type != HSA_DEVICE_TYPE_CPU)
        return (hsa_status_t)HSA_STATUS_ERROR_INVALID_MEMORY_POOL;
    /* The pool only chooses coarse or fine grain for a first registration;
     * a range already locked keeps its registration. */
    return lock_range(host_ptr, size, agents, num_agent, agent_ptr);
}

SIM_API hsa_status_t hsa_amd_memory_unlock(void *host_ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    registry_drop((uintptr_t)host_ptr);
    return HSA_STATUS_SUCCESS;
}
