/* Async copies.  One that involves a lost device is refused at once with
 * HSA_STATUS_ERROR (the status ROCR gives a removed device's queue error)
 * and its completion signal is failed, in case the program waits anyway.
 * One in flight when its device goes never completes (its engine is gone),
 * so every copy is remembered in a ring: at the loss, the latest copy of
 * each completion signal that involves the device fails its signal.  One
 * that had completed costs nothing (a wait on a satisfied signal returns
 * at once); the signal stops being failed when the program stores to it or
 * copies with it again, as it does before reusing it.
 *
 * The ring is written without the lock (a copy call must stay cheap): a
 * slot's agents first, its signal last (release), so that a reader that
 * sees the signal sees its agents.  The reader (under tool.lock) looks at
 * the whole ring at the loss and again each time a wait after a loss finds
 * its signal not failed, so that a copy issued at the moment of the loss,
 * its slot still being written at the first look, is found at a later one.
 */
#include <stddef.h>
#include <stdlib.h>

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

/* The ring: slot i at byte offset 32 * i (signal, src agent, dst agent,
 * padding), so that the position is a byte offset the record needs no
 * multiplication for. */
__attribute__((visibility("hidden"))) tool_copy tool_copy_ring[TOOL_COPY_RING];
__attribute__((visibility("hidden"))) _Atomic uint64_t tool_copy_pos; /* bytes */
__attribute__((visibility("hidden"))) void *tool_copy_runtime;  /* the runtime's copy */

static inline void remember(hsa_signal_t completion, uint64_t src, uint64_t dst)
{
    uint64_t pos = atomic_fetch_add_explicit(&tool_copy_pos, sizeof(tool_copy),
                                             memory_order_relaxed);
    tool_copy *c = &tool_copy_ring[(pos / sizeof(tool_copy)) % TOOL_COPY_RING];
    atomic_store_explicit(&c->src_agent, src, memory_order_relaxed);
    atomic_store_explicit(&c->dst_agent, dst, memory_order_relaxed);
    atomic_store_explicit(&c->signal, completion.handle, memory_order_release);
}

void tool_copies_fail_lost_locked(void)
{
    uint64_t end = atomic_load(&tool_copy_pos) / sizeof(tool_copy);
    uint64_t n = end < TOOL_COPY_RING ? end : TOOL_COPY_RING;
    static uint64_t seen[TOOL_COPY_RING]; /* signals of newer copies; under tool.lock */
    size_t n_seen = 0;
    for (uint64_t k = 0; k < n; k++) {
        const tool_copy *c = &tool_copy_ring[(end - 1 - k) % TOOL_COPY_RING];
        uint64_t signal = atomic_load_explicit(&c->signal, memory_order_acquire);
        if (!signal)
            continue;
        bool newer = false; /* the latest copy with a signal decides */
        for (size_t j = 0; j < n_seen && !newer; j++)
            newer = seen[j] == signal;
        if (newer)
            continue;
        seen[n_seen++] = signal;
        tool_agent *src = tool_agent_find(
            (hsa_agent_t){atomic_load_explicit(&c->src_agent, memory_order_relaxed)});
        tool_agent *dst = tool_agent_find(
            (hsa_agent_t){atomic_load_explicit(&c->dst_agent, memory_order_relaxed)});
        if ((src && atomic_load(&src->lost)) || (dst && atomic_load(&dst->lost)))
            tool_failed_add_locked(signal);
    }
}

/* From the first loss on (the slot is swapped then). */
hsa_status_t tool_amd_memory_async_copy_after_loss(void *dst, hsa_agent_t dst_agent,
                                                   const void *src, hsa_agent_t src_agent,
                                                   size_t size, uint32_t num_dep_signals,
                                                   const hsa_signal_t *dep_signals,
                                                   hsa_signal_t completion_signal)
{
    if (involves_lost(dst_agent, src_agent)) {
        refuse(completion_signal);
        return HSA_STATUS_ERROR;
    }
    pthread_mutex_lock(&tool.lock);
    tool_failed_remove_locked(completion_signal.handle);
    pthread_mutex_unlock(&tool.lock);
    remember(completion_signal, src_agent.handle, dst_agent.handle);
    return tool.rt.amd_memory_async_copy(dst, dst_agent, src, src_agent, size, num_dep_signals,
                                         dep_signals, completion_signal);
}

/* Until the first loss: the copy recorded, nothing else.  A call that took
 * this one just as the slot was swapped is in the ring, where the looks
 * after the loss find it.
 *
 * On x86-64 it is written in assembly: the C version costs 19 instructions
 * (gcc reloads and rewrites the two stack arguments around the tail call),
 * 2.3% of hsasim's own copy call, over the 2% a program that loses nothing
 * may pay; this one costs 9.  The same stores, in the same order (the
 * signal last: x86 keeps stores in order), as remember(). */
#if defined(__x86_64__)
_Static_assert(sizeof(tool_copy) == 32 && offsetof(tool_copy, signal) == 0 &&
                   offsetof(tool_copy, src_agent) == 8 && offsetof(tool_copy, dst_agent) == 16,
               "the assembly below knows this layout");
__asm__(".text\n"
        ".globl tool_amd_memory_async_copy\n"
        ".hidden tool_amd_memory_async_copy\n"
        ".type tool_amd_memory_async_copy, @function\n"
        "tool_amd_memory_async_copy:\n"
        "  .cfi_startproc\n"
        "  movl $32, %eax\n"
        "  lock xaddq %rax, tool_copy_pos(%rip)\n"
        "  andl $(32 * 1024 - 1), %eax\n"
        "  leaq tool_copy_ring(%rip), %r10\n"
        "  movq 16(%rsp), %r11\n"          /* completion_signal, the 8th argument */
        "  movq %rcx, 8(%r10,%rax)\n"       /* src_agent */
        "  movq %rsi, 16(%r10,%rax)\n"      /* dst_agent */
        "  movq %r11, (%r10,%rax)\n"        /* the signal, last */
        "  jmp *tool_copy_runtime(%rip)\n"
        "  .cfi_endproc\n"
        ".size tool_amd_memory_async_copy, .-tool_amd_memory_async_copy\n");
_Static_assert(TOOL_COPY_RING == 1024, "the assembly masks with 32 * 1024 - 1");
#else
hsa_status_t tool_amd_memory_async_copy(void *dst, hsa_agent_t dst_agent, const void *src,
                                        hsa_agent_t src_agent, size_t size,
                                        uint32_t num_dep_signals,
                                        const hsa_signal_t *dep_signals,
                                        hsa_signal_t completion_signal)
{
    remember(completion_signal, src_agent.handle, dst_agent.handle);
    return tool.rt.amd_memory_async_copy(dst, dst_agent, src, src_agent, size, num_dep_signals,
                                         dep_signals, completion_signal);
}
#endif

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
