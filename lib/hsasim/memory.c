/* hsasim memory: pools are backed by host memory (anonymous mappings, so a
 * simulated reset can wipe a GPU's "VRAM"), allocations are tracked in
 * address order with the GPUs whose page tables map them, and async copies
 * run on one copy engine (thread) per GPU, each in submission order after
 * the copies' dependency signals reach 0, as SDMA engines would (which
 * engine: see "async copies" below).
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
 * (agents.c): ALLOWED_BY_DEFAULT for the owner's own pools only.
 * sim_memory_accessible adds host memory locked for the GPUs (host_lock.c)
 * and code object segments (code_index.c), and refuses the memory of a GPU
 * that has left: its page tables, and the memory, are gone.
 *
 * Locks: mem_lock guards the allocation list; copy_lock guards the copy
 * engines and their queues.  Neither is held while waiting on a signal or
 * copying, nor while another module's lock is taken. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hsasim.h"

sim_pool *sim_pool_get(uint64_t handle);

typedef struct allocation {
    uintptr_t base;
    size_t size;
    sim_pool *pool;
    uint64_t *gpus; /* a bit per agent index: the GPUs whose page tables map it */
} allocation;

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

/* A GPU reset loses VRAM contents: every allocation in the agent's device
 * pools is filled with a pattern no computation produces by accident. */
void sim_memory_lose_vram(sim_agent *agent);
void sim_memory_lose_vram(sim_agent *agent)
{
    pthread_mutex_lock(&mem_lock);
    for (size_t i = 0; i < n_allocs; i++)
        if (allocs[i].pool->owner == agent && allocs[i].pool->kind == SIM_POOL_VRAM_COARSE)
            scramble((volatile uint8_t *)allocs[i].base, allocs[i].size);
    pthread_mutex_unlock(&mem_lock);
}

/* Everything allocated goes at the last shut_down, as in ROCR. */
void sim_memory_release_all(void);
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

/* --- async copies ------------------------------------------------------------------
 *
 * Which engine runs a copy, as ROCR decides it (ROCm 5.2.3 src/core/runtime/
 * runtime.cpp Runtime::CopyMemory; the same rule in later releases):
 *     if (dst_gpu || src_gpu) {
 *       core::Agent* copy_agent = (src_gpu) ? &src_agent : &dst_agent;
 *       return copy_agent->DmaCopy(...);
 *     }
 *     // For cpu to cpu, fire and forget a copy thread.
 * so the copy agent is the source when it is a GPU, else the destination:
 *   host -> GPU             the destination GPU's engine;
 *   GPU -> host             the source GPU's engine;
 *   GPU -> GPU (peer/same)  the source GPU's engine;
 *   host -> host            no engine: a thread of its own per copy, which
 *                           waits for the dependencies, copies and
 *                           decrements the completion signal; such copies
 *                           are not ordered with anything.  Not an error.
 * Each GPU agent has one engine: a thread started at its first copy, which
 * takes its copies in submission order and waits for each one's dependency
 * signals before starting it, so an unmet dependency holds back the copies
 * behind it on that engine (as ROCR's SDMA queue does with its poll packets,
 * amd_blit_sdma.cpp SubmitCommand), never those of another GPU's engine.
 * Copies on different engines run in parallel.  (ROCR further spreads one
 * GPU's copies over blits per direction, GpuAgent::GetBlitObject: device to
 * device, host to device, device to host / PCIe peer, xGMI peers; those are
 * not ordered with each other either, so nothing may rely on the order the
 * simulator keeps between directions on one GPU.)
 *
 * A copy whose dependencies are met runs unless the runtime is stopping or
 * either of its agents is gone; a copy touching a gone device never
 * completes, like the device's engine.  Nor does a copy on the engine of a
 * GPU whose queues a VM fault evicted: ROCR's SDMA queues and blit-kernel
 * queues are the process's queues on that device too, and KFD's
 * evict_process_queues_cpsch evicts every queue of the process there
 * (queue_processor.c, "VM faults").  sim_copies_stop (last shut_down)
 * stops and joins every thread; copies not yet started are dropped.
 *
 * Locks: copy_lock guards the engine list and every engine's queue; idle
 * threads sleep on their engine's condition variable.  It is never held
 * while waiting on a signal or copying. */

typedef struct copy_job {
    struct copy_job *next;
    void *dst;
    const void *src;
    size_t size;
    sim_agent *dst_agent, *src_agent;
    const sim_agent *engine; /* the GPU whose engine runs it; NULL: host -> host */
    uint32_t n_deps;
    hsa_signal_t *deps;
    hsa_signal_t completion;
} copy_job;

typedef struct copy_engine {
    struct copy_engine *next;
    const sim_agent *agent; /* the GPU whose engine this is; NULL: one host -> host copy */
    pthread_t thread;
    pthread_cond_t cond;    /* the queue grew, or the runtime is stopping */
    copy_job *head, *tail;
    bool finished;          /* the thread is done (a host copy's, or stopped) */
} copy_engine;

static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
static copy_engine *engines;
static atomic_bool copy_stop; /* read by copying threads between wait slices */

static void job_free(copy_job *job)
{
    free(job->deps);
    free(job);
}

static void run_job(copy_job *job)
{
    /* Waits in slices, so that shutting down never waits on a dependency
     * that will not come (signal wake-ups only make waits re-check). */
    for (uint32_t i = 0; i < job->n_deps; i++)
        while (!atomic_load(&copy_stop) &&
               hsa_signal_wait_scacquire(job->deps[i], HSA_SIGNAL_CONDITION_LT, 1,
                                         100 * 1000 * 1000, HSA_WAIT_STATE_BLOCKED) >= 1)
            ;
    /* A copy touching a gone device never completes, like its engine. */
    if (!atomic_load(&copy_stop) && !job->dst_agent->dead && !job->src_agent->dead &&
        !(job->engine && atomic_load(&job->engine->vm_evicted))) {
        memmove(job->dst, job->src, job->size);
        if (job->completion.handle)
            hsa_signal_subtract_screlease(job->completion, 1);
    }
}

/* A GPU engine runs until the runtime stops; a host copy's thread runs its
 * one job. */
static void *engine_main(void *arg)
{
    copy_engine *e = arg;
    pthread_mutex_lock(&copy_lock);
    for (;;) {
        while (e->agent && !e->head && !atomic_load(&copy_stop))
            pthread_cond_wait(&e->cond, &copy_lock);
        if (!e->head || atomic_load(&copy_stop))
            break; /* what is left is dropped by sim_copies_stop */
        copy_job *job = e->head;
        e->head = job->next;
        if (!e->head)
            e->tail = NULL;
        pthread_mutex_unlock(&copy_lock);
        run_job(job);
        job_free(job);
        pthread_mutex_lock(&copy_lock);
    }
    e->finished = true;
    pthread_mutex_unlock(&copy_lock);
    return NULL;
}

static void engine_free(copy_engine *e)
{
    while (e->head) {
        copy_job *j = e->head;
        e->head = j->next;
        job_free(j);
    }
    pthread_cond_destroy(&e->cond);
    free(e);
}

/* Joins the threads of host copies that are done (copy_lock held; a
 * finished thread no longer takes it). */
static void reap_host_copies(void)
{
    for (copy_engine **p = &engines; *p;) {
        copy_engine *e = *p;
        if (!e->agent && e->finished) {
            *p = e->next;
            pthread_join(e->thread, NULL);
            engine_free(e);
        } else {
            p = &e->next;
        }
    }
}

void sim_copies_stop(void);
void sim_copies_stop(void)
{
    pthread_mutex_lock(&copy_lock);
    atomic_store(&copy_stop, true);
    copy_engine *list = engines;
    engines = NULL;
    for (copy_engine *e = list; e; e = e->next)
        pthread_cond_broadcast(&e->cond);
    pthread_mutex_unlock(&copy_lock);
    /* Every thread sees the stop at once; join them all, then drop the
     * copies they never started. */
    for (copy_engine *e = list; e; e = e->next)
        pthread_join(e->thread, NULL);
    while (list) {
        copy_engine *e = list;
        list = e->next;
        engine_free(e);
    }
    atomic_store(&copy_stop, false);
}

/* Queues job on the engine of agent (NULL: a thread of its own). */
static hsa_status_t engine_submit(const sim_agent *agent, copy_job *job)
{
    pthread_mutex_lock(&copy_lock);
    reap_host_copies();
    copy_engine *e = NULL;
    if (agent)
        for (e = engines; e && e->agent != agent; e = e->next)
            ;
    if (e) {
        if (e->tail)
            e->tail->next = job;
        else
            e->head = job;
        e->tail = job;
        pthread_cond_signal(&e->cond);
        pthread_mutex_unlock(&copy_lock);
        return HSA_STATUS_SUCCESS;
    }
    /* A first copy on this engine (or a host copy): a new thread. */
    e = calloc(1, sizeof *e);
    if (!e || pthread_cond_init(&e->cond, NULL) != 0) {
        pthread_mutex_unlock(&copy_lock);
        free(e);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    e->agent = agent;
    e->head = e->tail = job;
    if (pthread_create(&e->thread, NULL, engine_main, e) != 0) {
        pthread_mutex_unlock(&copy_lock);
        e->head = e->tail = NULL; /* the caller keeps the job */
        engine_free(e);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    e->next = engines;
    engines = e;
    pthread_mutex_unlock(&copy_lock);
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_memory_async_copy(void *dst, hsa_agent_t dst_agent, const void *src,
                                               hsa_agent_t src_agent, size_t size,
                                               uint32_t num_dep_signals,
                                               const hsa_signal_t *dep_signals,
                                               hsa_signal_t completion_signal)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    /* ROCR 5.2.3's order (hsa_ext_amd.cpp): pointers, the dependency list,
     * agents, dependency signals, the completion signal (a 0 handle is an
     * invalid argument, as Signal::Convert throws), and a 0-byte copy then
     * succeeds without touching the completion signal. */
    if (!dst || !src || (num_dep_signals && !dep_signals) || (!num_dep_signals && dep_signals))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_agent *da = sim_agent_get(dst_agent), *sa = sim_agent_get(src_agent);
    if (!da || !sa)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    for (uint32_t i = 0; i < num_dep_signals; i++) {
        if (!dep_signals[i].handle)
            return HSA_STATUS_ERROR_INVALID_ARGUMENT;
        if (!sim_signal_get(dep_signals[i]))
            return HSA_STATUS_ERROR_INVALID_SIGNAL;
    }
    if (!completion_signal.handle)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!sim_signal_get(completion_signal))
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    if (size == 0)
        return HSA_STATUS_SUCCESS;
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

    /* ROCR's copy agent: the source if it is a GPU, else the destination;
     * a CPU (host -> host) has no engine. */
    const sim_agent *engine = sa->type == HSA_DEVICE_TYPE_GPU   ? sa
                              : da->type == HSA_DEVICE_TYPE_GPU ? da
                                                                : NULL;
    job->engine = engine;
    hsa_status_t st = engine_submit(engine, job);
    if (st != HSA_STATUS_SUCCESS)
        job_free(job);
    return st;
}
