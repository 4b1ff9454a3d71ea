/* Async copies.  One that involves a lost device is refused at once with
 * HSA_STATUS_ERROR (the status ROCR gives a removed device's queue error)
 * and its completion signal is failed, in case the program waits anyway.
 * One in flight when its device goes never completes (its engine is gone),
 * so every copy is remembered in a ring: at the loss, the latest copy of
 * each completion signal that involves the device and has not completed
 * (the signal still has the value it had when the copy was issued) fails
 * its signal. */
#include "tool.h"

static bool involves_lost(hsa_agent_t a, hsa_agent_t b)
{
    tool_agent *x = tool_agent_find(a), *y = tool_agent_find(b);
    return (x && atomic_load(&x->lost)) || (y && atomic_load(&y->lost));
}

static void refuse(hsa_signal_t completion)
{
    pthread_mutex_lock(&tool.lock);
    if (completion.handle)
        tool_failed_add_locked(completion.handle);
    pthread_mutex_unlock(&tool.lock);
}

static void remember(hsa_signal_t completion, uint64_t src, uint64_t dst)
{
    if (!completion.handle)
        return;
    hsa_signal_value_t value = tool.rt.signal_load_relaxed(completion);
    pthread_mutex_lock(&tool.lock);
    tool.copies[tool.n_copies++ % TOOL_COPY_RING] =
        (tool_copy){completion.handle, value, src, dst};
    pthread_mutex_unlock(&tool.lock);
}

void tool_copies_fail_agent_locked(uint64_t agent)
{
    uint64_t n = tool.n_copies < TOOL_COPY_RING ? tool.n_copies : TOOL_COPY_RING;
    for (uint64_t k = 0; k < n; k++) {
        const tool_copy *c = &tool.copies[(tool.n_copies - 1 - k) % TOOL_COPY_RING];
        bool newer = false; /* a later copy with the same signal decides */
        for (uint64_t j = 0; j < k && !newer; j++)
            newer = tool.copies[(tool.n_copies - 1 - j) % TOOL_COPY_RING].signal == c->signal;
        if (newer || (c->src_agent != agent && c->dst_agent != agent))
            continue;
        if (tool.rt.signal_load_relaxed((hsa_signal_t){c->signal}) == c->value)
            tool_failed_add_locked(c->signal);
    }
}

hsa_status_t tool_amd_memory_async_copy(void *dst, hsa_agent_t dst_agent, const void *src,
                                        hsa_agent_t src_agent, size_t size,
                                        uint32_t num_dep_signals,
                                        const hsa_signal_t *dep_signals,
                                        hsa_signal_t completion_signal)
{
    if (atomic_load_explicit(&tool.lost_any, memory_order_relaxed)) {
        if (involves_lost(dst_agent, src_agent)) {
            refuse(completion_signal);
            return HSA_STATUS_ERROR;
        }
        pthread_mutex_lock(&tool.lock);
        tool_failed_remove_locked(completion_signal.handle);
        pthread_mutex_unlock(&tool.lock);
    }
    remember(completion_signal, src_agent.handle, dst_agent.handle);
    return tool.rt.amd_memory_async_copy(dst, dst_agent, src, src_agent, size, num_dep_signals,
                                         dep_signals, completion_signal);
}

/* Only in the table after a loss (the agent doing the copy is the one that
 * matters: both ends are reached through it). */
hsa_status_t tool_amd_memory_async_copy_rect(const hsa_pitched_ptr_t *dst,
                                             const hsa_dim3_t *dst_offset,
                                             const hsa_pitched_ptr_t *src,
                                             const hsa_dim3_t *src_offset,
                                             const hsa_dim3_t *range, hsa_agent_t copy_agent,
                                             hsa_amd_copy_direction_t dir,
                                             uint32_t num_dep_signals,
                                             const hsa_signal_t *dep_signals,
                                             hsa_signal_t completion_signal)
{
    if (involves_lost(copy_agent, copy_agent)) {
        refuse(completion_signal);
        return HSA_STATUS_ERROR;
    }
    return tool.rt.amd_memory_async_copy_rect(dst, dst_offset, src, src_offset, range, copy_agent,
                                              dir, num_dep_signals, dep_signals,
                                              completion_signal);
}
