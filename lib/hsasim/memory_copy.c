/* hsasim async copies (hsa_amd_memory_async_copy): one copy engine (thread)
 * per GPU, each in submission order after the copies' dependency signals
 * reach 0, as SDMA engines would.
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
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "hsasim.h"

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
    bool profiled; /* the engine's DMA profiling was on (profiling.c) */
    /* hsa_amd_memory_async_copy_rect: range.x bytes per row, rows and
     * slices at the pitches; dst and src point at the first byte. */
    bool rect;
    size_t dst_pitch, dst_slice, src_pitch, src_slice;
    hsa_dim3_t range;
} copy_job;

typedef struct copy_engine {
    struct copy_engine *next;
    const sim_agent *agent; /* the GPU whose engine this is; NULL: one host -> host copy */
    pthread_t thread;
    pthread_cond_t cond;    /* the queue grew, or the runtime is stopping */
    copy_job *head, *tail;
    bool running;           /* a job taken off the queue is being copied */
    bool finished;          /* the thread is done (a host copy's, or stopped) */
} copy_engine;

static pthread_mutex_t copy_lock = PTHREAD_MUTEX_INITIALIZER;
#define ENGINE_NICE 10
static copy_engine *engines;
static atomic_bool copy_stop; /* read by copying threads between wait slices */

static void job_free(copy_job *job)
{
    free(job->deps);
    free(job);
}

/* A copy in slices, the core offered to others between them.  Niced, an
 * engine still keeps a core until the scheduler's next tick (4 ms at
 * HZ=250) from a queue's processor woken by a doorbell, so a kernel
 * dispatched beside a large copy started up to a tick late -- a GPU's CP
 * is never held by its SDMA engines.  Yielding after each slice bounds that
 * to one slice (~0.1 ms); with no one waiting it returns at once.
 * Overlapping ranges (one allocation) are copied whole: slices in order
 * would read what an earlier slice wrote. */
#define ENGINE_SLICE (1u << 20)

static void engine_copy(void *dst, const void *src, size_t size)
{
    char *d = dst;
    const char *s = src;
    if (size <= ENGINE_SLICE || (d < s + size && s < d + size)) {
        memmove(d, s, size);
        return;
    }
    for (size_t at = 0; at < size; at += ENGINE_SLICE) {
        size_t n = size - at < ENGINE_SLICE ? size - at : ENGINE_SLICE;
        memcpy(d + at, s + at, n);
        sched_yield();
    }
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
        uint64_t start = sim_now_ns();
        if (!job->rect)
            engine_copy(job->dst, job->src, job->size);
        for (uint32_t z = 0; job->rect && z < job->range.z; z++)
            for (uint32_t y = 0; y < job->range.y; y++)
                memmove((char *)job->dst + z * job->dst_slice + y * job->dst_pitch,
                        (const char *)job->src + z * job->src_slice + y * job->src_pitch,
                        job->range.x);
        sim_signal *s = job->profiled ? sim_signal_get(job->completion) : NULL;
        if (s)
            sim_signal_stamp_copy(s, start, sim_now_ns());
        if (job->completion.handle)
            hsa_signal_subtract_screlease(job->completion, 1);
    }
}

/* A GPU engine runs until the runtime stops; a host copy's thread runs its
 * one job. */
static void *engine_main(void *arg)
{
    copy_engine *e = arg;
    /* A GPU's SDMA engines take no cycles from its compute units or from
     * the host; here they are threads on the host's cores beside the
     * kernels' and the application's.  Niced, they give way to both (a
     * copy on idle cores runs as fast; engine_copy yields between slices
     * for the wake-ups a nice value alone leaves a tick late). */
    (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), ENGINE_NICE);
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
        e->running = true;
        pthread_mutex_unlock(&copy_lock);
        run_job(job);
        job_free(job);
        pthread_mutex_lock(&copy_lock);
        e->running = false;
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

/* A job with its own copy of the dependency list; NULL: out of memory. */
static copy_job *job_new(uint32_t num_dep_signals, const hsa_signal_t *dep_signals)
{
    copy_job *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    if (num_dep_signals && !(job->deps = malloc(num_dep_signals * sizeof *job->deps))) {
        free(job);
        return NULL;
    }
    if (num_dep_signals)
        memcpy(job->deps, dep_signals, num_dep_signals * sizeof *job->deps);
    job->n_deps = num_dep_signals;
    return job;
}

bool sim_copy_engine_busy(const sim_agent *a)
{
    pthread_mutex_lock(&copy_lock);
    copy_engine *e = engines;
    while (e && e->agent != a)
        e = e->next;
    bool busy = e && (e->head || e->running);
    pthread_mutex_unlock(&copy_lock);
    return busy;
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
    copy_job *job = job_new(num_dep_signals, dep_signals);
    if (!job)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    /* The engine reaches locked host memory through its GPU address
     * (host_lock.c): the pages behind it. */
    uintptr_t host;
    if (sim_host_lock_translate((uintptr_t)dst, size, &host))
        dst = (void *)host;
    if (sim_host_lock_translate((uintptr_t)src, size, &host))
        src = (const void *)host;
    job->dst = dst;
    job->src = src;
    job->size = size;
    job->dst_agent = da;
    job->src_agent = sa;
    job->completion = completion_signal;

    /* ROCR's copy agent: the source if it is a GPU, else the destination;
     * a CPU (host -> host) has no engine. */
    const sim_agent *engine = sa->type == HSA_DEVICE_TYPE_GPU   ? sa
                              : da->type == HSA_DEVICE_TYPE_GPU ? da
                                                                : NULL;
    job->engine = engine;
    /* GpuAgent::DmaCopy: a profiling engine names itself on the signal. */
    if (engine && atomic_load(&engine->dma_profiling)) {
        sim_signal *cs = sim_signal_get(completion_signal);
        job->profiled = cs != NULL;
        if (cs)
            sim_signal_copy_prep(cs, engine);
    }
    hsa_status_t st = engine_submit(engine, job);
    if (st != HSA_STATUS_SUCCESS)
        job_free(job);
    return st;
}

/* ROCR 5.2.3 (hsa_ext_amd.cpp hsa_amd_memory_async_copy_rect, GpuAgent::
 * DmaCopyRect, amd_blit_sdma.cpp SubmitCopyRectCommand): null pointers or a
 * mismatched dependency list, and host to host, INVALID_ARGUMENT; a copy
 * agent that is no GPU INVALID_AGENT; bad signals INVALID_SIGNAL; an empty
 * range does nothing; then the SDMA engine's rules, INVALID_ARGUMENT: bases,
 * pitches and slices DWORD aligned, the rows within their pitch, the rows
 * within a slice, a slice pitch when there are several slices.  The copy
 * runs on the copy agent's engine, in order with its other copies. */
SIM_API hsa_status_t hsa_amd_memory_async_copy_rect(
    const hsa_pitched_ptr_t *dst, const hsa_dim3_t *dst_offset, const hsa_pitched_ptr_t *src,
    const hsa_dim3_t *src_offset, const hsa_dim3_t *range, hsa_agent_t copy_agent,
    hsa_amd_copy_direction_t dir, uint32_t num_dep_signals, const hsa_signal_t *dep_signals,
    hsa_signal_t completion_signal)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!dst || !src || !dst_offset || !src_offset || !range ||
        (num_dep_signals == 0 && dep_signals) || (num_dep_signals > 0 && !dep_signals) ||
        dir == hsaHostToHost)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_agent *agent = sim_agent_get(copy_agent);
    if (!agent || agent->type != HSA_DEVICE_TYPE_GPU)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    for (uint32_t i = 0; i < num_dep_signals; i++)
        if (!sim_signal_get(dep_signals[i]))
            return HSA_STATUS_ERROR_INVALID_SIGNAL;
    sim_signal *done = sim_signal_get(completion_signal);
    if (!done)
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    if (range->x == 0 || range->y == 0 || range->z == 0)
        return HSA_STATUS_SUCCESS;
    if ((uintptr_t)dst->base % 4 || (uintptr_t)src->base % 4 || dst->pitch % 4 ||
        src->pitch % 4 || dst->slice % 4 || src->slice % 4 ||
        (uint64_t)src_offset->x + range->x > src->pitch ||
        (uint64_t)dst_offset->x + range->x > dst->pitch ||
        (src->slice && (uint64_t)src_offset->y + range->y > src->slice / src->pitch) ||
        (dst->slice && (uint64_t)dst_offset->y + range->y > dst->slice / dst->pitch) ||
        (range->z > 1 && (!src->slice || !dst->slice)))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    copy_job *job = job_new(num_dep_signals, dep_signals);
    if (!job)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    char *d = (char *)dst->base + dst_offset->z * dst->slice + dst_offset->y * dst->pitch +
              dst_offset->x;
    const char *s = (const char *)src->base + src_offset->z * src->slice +
                    src_offset->y * src->pitch + src_offset->x;
    /* Locked host memory through its GPU address: the pages behind it. */
    size_t dspan = (range->z - 1) * dst->slice + (range->y - 1) * dst->pitch + range->x;
    size_t sspan = (range->z - 1) * src->slice + (range->y - 1) * src->pitch + range->x;
    uintptr_t host;
    if (sim_host_lock_translate((uintptr_t)d, dspan, &host))
        d = (char *)host;
    if (sim_host_lock_translate((uintptr_t)s, sspan, &host))
        s = (const char *)host;
    job->rect = true;
    job->dst = d;
    job->src = s;
    job->dst_pitch = dst->pitch;
    job->dst_slice = dst->slice;
    job->src_pitch = src->pitch;
    job->src_slice = src->slice;
    job->range = *range;
    job->dst_agent = job->src_agent = agent;
    job->engine = agent;
    job->completion = completion_signal;
    if (atomic_load(&agent->dma_profiling)) {
        job->profiled = true;
        sim_signal_copy_prep(done, agent);
    }
    hsa_status_t st = engine_submit(agent, job);
    if (st != HSA_STATUS_SUCCESS)
        job_free(job);
    return st;
}
