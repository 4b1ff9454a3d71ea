/* hsasim memory: pools are backed by host memory (anonymous mappings, so a
 * simulated reset can wipe a GPU's "VRAM"), allocations are tracked per pool,
 * and async copies run on one copy thread in submission order, after their
 * dependency signals reach 0, as an SDMA engine would.
 *
 * Locks: mem_lock guards the allocation list; copy_lock guards the copy
 * queue.  Neither is held while waiting on a signal or copying. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hsasim.h"

sim_pool *sim_pool_get(uint64_t handle);

typedef struct allocation {
    void *ptr;
    size_t size;
    sim_pool *pool;
} allocation;

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static allocation *allocs;
static size_t n_allocs, cap_allocs;

static uint64_t pool_used(const sim_pool *p)
{
    uint64_t used = 0;
    for (size_t i = 0; i < n_allocs; i++)
        if (allocs[i].pool == p)
            used += allocs[i].size;
    return used;
}

static hsa_status_t pool_allocate(sim_pool *p, size_t size, void **ptr)
{
    if (p->kind == SIM_POOL_GROUP)
        return HSA_STATUS_ERROR_INVALID_ALLOCATION; /* ROCR: group memory is not allocatable */
    if (size == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    size_t rounded = (size + 4095) & ~(size_t)4095;
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
            allocs[n_allocs++] = (allocation){m, rounded, p};
            *ptr = m;
        }
    }
    pthread_mutex_unlock(&mem_lock);
    return st;
}

static hsa_status_t pool_free(void *ptr)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++) {
        if (allocs[i].ptr == ptr) {
            munmap(ptr, allocs[i].size);
            allocs[i] = allocs[--n_allocs];
            pthread_mutex_unlock(&mem_lock);
            return HSA_STATUS_SUCCESS;
        }
    }
    pthread_mutex_unlock(&mem_lock);
    return HSA_STATUS_ERROR_INVALID_ALLOCATION;
}

/* The allocation containing [ptr, ptr + size), or NULL. */
static bool find_range(const void *ptr, size_t size, allocation *out)
{
    bool found = false;
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs && !found; i++) {
        const char *base = allocs[i].ptr;
        if ((const char *)ptr >= base && (const char *)ptr + size <= base + allocs[i].size) {
            *out = allocs[i];
            found = true;
        }
    }
    pthread_mutex_unlock(&mem_lock);
    return found;
}

/* A GPU reset loses VRAM contents: every allocation in the agent's device
 * pools is filled with a pattern no computation produces by accident. */
void sim_memory_lose_vram(sim_agent *agent);
void sim_memory_lose_vram(sim_agent *agent)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++)
        if (allocs[i].pool->owner == agent && allocs[i].pool->kind == SIM_POOL_VRAM_COARSE)
            memset(allocs[i].ptr, 0xa5, allocs[i].size);
    pthread_mutex_unlock(&mem_lock);
}

/* Everything allocated goes at the last shut_down, as in ROCR. */
void sim_memory_release_all(void);
void sim_memory_release_all(void)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++)
        munmap(allocs[i].ptr, allocs[i].size);
    free(allocs);
    allocs = NULL;
    n_allocs = cap_allocs = 0;
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
    return pool_allocate(p, size, ptr);
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
    return pool_allocate(p, size, ptr);
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
    for (uint32_t i = 0; i < num_agents; i++)
        if (!sim_agent_get(agents[i]))
            return HSA_STATUS_ERROR_INVALID_AGENT;
    allocation a;
    /* ROCR accepts pointers it did not allocate (system memory) too. */
    (void)find_range(ptr, 1, &a);
    return HSA_STATUS_SUCCESS;
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

/* --- async copies ------------------------------------------------------------------ */

typedef struct copy_job {
    struct copy_job *next;
    void *dst;
    const void *src;
    size_t size;
    sim_agent *dst_agent, *src_agent;
    uint32_t n_deps;
    hsa_signal_t *deps;
    hsa_signal_t completion;
} copy_job;

static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t copy_cond = PTHREAD_COND_INITIALIZER;
static copy_job *copy_head, *copy_tail;
static pthread_t copy_thread;
static bool copy_running;
static atomic_bool copy_stop; /* read by the copy thread between wait slices */

static void *copy_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&copy_lock);
    for (;;) {
        while (!copy_head && !atomic_load(&copy_stop))
            pthread_cond_wait(&copy_cond, &copy_lock);
        if (atomic_load(&copy_stop) && !copy_head)
            break;
        copy_job *job = copy_head;
        copy_head = job->next;
        if (!copy_head)
            copy_tail = NULL;
        pthread_mutex_unlock(&copy_lock);
        /* Waits in slices, so that shutting down never waits on a dependency
         * that will not come (signal wake-ups only make waits re-check). */
        for (uint32_t i = 0; i < job->n_deps; i++)
            while (!atomic_load(&copy_stop) &&
                   hsa_signal_wait_scacquire(job->deps[i], HSA_SIGNAL_CONDITION_LT, 1,
                                             100 * 1000 * 1000, HSA_WAIT_STATE_BLOCKED) >= 1)
                ;
        /* A copy touching a gone device never completes, like its engine. */
        if (!atomic_load(&copy_stop) && !job->dst_agent->dead && !job->src_agent->dead) {
            memmove(job->dst, job->src, job->size);
            if (job->completion.handle)
                hsa_signal_subtract_screlease(job->completion, 1);
        }
        free(job->deps);
        free(job);
        pthread_mutex_lock(&copy_lock);
    }
    pthread_mutex_unlock(&copy_lock);
    return NULL;
}

void sim_copies_stop(void);
void sim_copies_stop(void)
{
    pthread_mutex_lock(&copy_lock);
    bool running = copy_running;
    atomic_store(&copy_stop, true);
    pthread_cond_broadcast(&copy_cond);
    pthread_mutex_unlock(&copy_lock);
    if (running)
        pthread_join(copy_thread, NULL);
    pthread_mutex_lock(&copy_lock);
    while (copy_head) { /* jobs never started: dropped with the runtime */
        copy_job *j = copy_head;
        copy_head = j->next;
        free(j->deps);
        free(j);
    }
    copy_tail = NULL;
    copy_running = false;
    atomic_store(&copy_stop, false);
    pthread_mutex_unlock(&copy_lock);
}

SIM_API hsa_status_t hsa_amd_memory_async_copy(void *dst, hsa_agent_t dst_agent, const void *src,
                                               hsa_agent_t src_agent, size_t size,
                                               uint32_t num_dep_signals,
                                               const hsa_signal_t *dep_signals,
                                               hsa_signal_t completion_signal)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_agent *da = sim_agent_get(dst_agent), *sa = sim_agent_get(src_agent);
    if (!da || !sa)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    if (!dst || !src || (num_dep_signals && !dep_signals))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (completion_signal.handle && !sim_signal_get(completion_signal))
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    for (uint32_t i = 0; i < num_dep_signals; i++)
        if (!sim_signal_get(dep_signals[i]))
            return HSA_STATUS_ERROR_INVALID_SIGNAL;
    copy_job *job = calloc(1, sizeof *job);
    if (!job)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    if (num_dep_signals && !(job->deps = malloc(num_dep_signals * sizeof *job->deps))) {
        free(job);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    if (num_dep_signals)
        memcpy(job->deps, dep_signals, num_dep_signals * sizeof *job->deps);
    job->dst = dst;
    job->src = src;
    job->size = size;
    job->dst_agent = da;
    job->src_agent = sa;
    job->n_deps = num_dep_signals;
    job->completion = completion_signal;

    pthread_mutex_lock(&copy_lock);
    if (!copy_running) {
        if (pthread_create(&copy_thread, NULL, copy_main, NULL) != 0) {
            pthread_mutex_unlock(&copy_lock);
            free(job->deps);
            free(job);
            return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        }
        copy_running = true;
    }
    if (copy_tail)
        copy_tail->next = job;
    else
        copy_head = job;
    copy_tail = job;
    pthread_cond_signal(&copy_cond);
    pthread_mutex_unlock(&copy_lock);
    return HSA_STATUS_SUCCESS;
}
