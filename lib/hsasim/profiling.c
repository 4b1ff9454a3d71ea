/* hsasim profiling: packet and copy timestamps, as ROCR 5.2.3 gives them
 * (src/core/runtime/hsa_ext_amd.cpp hsa_amd_profiling_*, amd_gpu_agent.cpp
 * GpuAgent::DmaCopy / TranslateTime, core/inc/signal.h SharedSignal).
 *
 * - hsa_amd_profiling_set_profiler_enabled(queue, enable): sets or clears
 *   AMD_QUEUE_PROPERTIES_ENABLE_PROFILING in the queue's amd_queue_t
 *   (Queue::SetProfiling).  With it set, the CP writes the times a packet
 *   started and ended into its completion signal's amd_signal_t start_ts and
 *   end_ts; hsasim's processor does (queue_processor.c), for dispatches and
 *   barriers alike.
 * - hsa_amd_profiling_get_dispatch_time(agent, signal, time): those two,
 *   translated from the GPU's clock to the system's.  hsasim's GPUs count in
 *   the system domain already (HSA_SYSTEM_INFO_TIMESTAMP: CLOCK_MONOTONIC
 *   ns at 1 GHz), so the translation is the identity.  A CPU agent:
 *   INVALID_AGENT, after the signal's check.
 * - hsa_amd_profiling_async_copy_enable(enable): every GPU agent's DMA
 *   profiling (GpuAgent::profiling_enabled).  A copy run by a GPU's engine
 *   while it is on names that GPU as the completion signal's
 *   async_copy_agent and has its SDMA start and end written into the
 *   signal's sdma_start_ts/sdma_end_ts (zeroed at submission: CopyPrep).
 * - hsa_amd_profiling_get_async_copy_time(signal, time): HSA_STATUS_ERROR
 *   when no profiled copy ever named an agent on the signal; else the SDMA
 *   times, or the packet times when the SDMA end is 0 (a blit kernel did the
 *   copy: SharedSignal::GetRawTs).
 * Invalid handles: NOT_INITIALIZED first, then a NULL time INVALID_ARGUMENT,
 * then INVALID_AGENT / INVALID_SIGNAL (a 0 signal handle: INVALID_ARGUMENT,
 * as hsasim's other signal calls that return a status). */
#include "queue_impl.h"
#include "signal_impl.h"

static hsa_status_t signal_checked(hsa_signal_t signal, sim_signal **out)
{
    if (signal.handle == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    *out = sim_signal_get(signal);
    return *out ? HSA_STATUS_SUCCESS : HSA_STATUS_ERROR_INVALID_SIGNAL;
}

SIM_API hsa_status_t hsa_amd_profiling_set_profiler_enabled(hsa_queue_t *queue, int enable)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_mutex_lock(&sim_queue_lock);
    sim_queue *q = sim_queue_list;
    while (q && (hsa_queue_t *)q != queue)
        q = q->next;
    if (q) {
        if (enable)
            __atomic_fetch_or(&q->amd.queue_properties, AMD_QUEUE_PROPERTIES_ENABLE_PROFILING,
                              __ATOMIC_RELAXED);
        else
            __atomic_fetch_and(&q->amd.queue_properties, ~(uint32_t)AMD_QUEUE_PROPERTIES_ENABLE_PROFILING,
                               __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&sim_queue_lock);
    return q ? HSA_STATUS_SUCCESS : HSA_STATUS_ERROR_INVALID_QUEUE;
}

bool sim_queue_profiling(const sim_queue *q)
{
    return (__atomic_load_n(&q->amd.queue_properties, __ATOMIC_RELAXED) &
            AMD_QUEUE_PROPERTIES_ENABLE_PROFILING) != 0;
}

void sim_signal_stamp_packet(sim_signal *s, uint64_t start, uint64_t end)
{
    __atomic_store_n(&s->amd.start_ts, start, __ATOMIC_RELAXED);
    __atomic_store_n(&s->amd.end_ts, end, __ATOMIC_RELAXED);
}

SIM_API hsa_status_t hsa_amd_profiling_get_dispatch_time(hsa_agent_t agent, hsa_signal_t signal,
                                                         hsa_amd_profiling_dispatch_time_t *time)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!time)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_agent *a = sim_agent_get(agent);
    if (!a)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    sim_signal *s;
    hsa_status_t st = signal_checked(signal, &s);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (a->type != HSA_DEVICE_TYPE_GPU)
        return HSA_STATUS_ERROR_INVALID_AGENT;
    /* TranslateTime reads end first; the order does not matter here. */
    time->end = (uint64_t)__atomic_load_n(&s->amd.end_ts, __ATOMIC_RELAXED);
    time->start = (uint64_t)__atomic_load_n(&s->amd.start_ts, __ATOMIC_RELAXED);
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_profiling_async_copy_enable(bool enable)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    for (uint32_t i = 0; i < sim_rt.n_agents; i++)
        if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_GPU)
            atomic_store(&sim_rt.agents[i].dma_profiling, enable);
    return HSA_STATUS_SUCCESS;
}

void sim_signal_copy_prep(sim_signal *s, const sim_agent *engine)
{
    atomic_store_explicit(&s->sdma_start_ts, 0, memory_order_relaxed);
    atomic_store_explicit(&s->sdma_end_ts, 0, memory_order_relaxed);
    atomic_store_explicit(&s->copy_agent, engine, memory_order_relaxed);
}

void sim_signal_stamp_copy(sim_signal *s, uint64_t start, uint64_t end)
{
    atomic_store_explicit(&s->sdma_start_ts, start, memory_order_relaxed);
    atomic_store_explicit(&s->sdma_end_ts, end, memory_order_relaxed);
}

SIM_API hsa_status_t hsa_amd_profiling_get_async_copy_time(hsa_signal_t signal,
                                                           hsa_amd_profiling_async_copy_time_t *time)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!time)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_signal *s;
    hsa_status_t st = signal_checked(signal, &s);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (!atomic_load_explicit(&s->copy_agent, memory_order_relaxed))
        return HSA_STATUS_ERROR;
    uint64_t end = atomic_load_explicit(&s->sdma_end_ts, memory_order_relaxed);
    if (end) {
        time->start = atomic_load_explicit(&s->sdma_start_ts, memory_order_relaxed);
        time->end = end;
    } else {
        time->start = (uint64_t)__atomic_load_n(&s->amd.start_ts, __ATOMIC_RELAXED);
        time->end = (uint64_t)__atomic_load_n(&s->amd.end_ts, __ATOMIC_RELAXED);
    }
    return HSA_STATUS_SUCCESS;
}
