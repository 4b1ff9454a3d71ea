/* Waits that a loss can end.  A wait runs in slices of tool.slice; between
 * two, a signal found failed (the completion signal of work stranded on a
 * lost device) ends it with the value it has -- unchanged, so the wait's
 * condition is not met, which is how an HSA wait reports that it ended
 * without its condition (as a timeout does).
 *
 * Cost: a wrapper that chained every wait would cost more than the 2% a
 * program that loses nothing may pay (the runtime's wait on a satisfied
 * signal is ~150 instructions).  So the wrapper first reads the signal's
 * value itself, as the runtime's wait does first: hsa_signal_t.handle is
 * the address of the signal's amd_signal_t (ROCR: core::Signal::Convert;
 * hsa/amd_hsa_signal.h), whose value rochp's dispatch path reads too.  A
 * satisfied condition returns that value at once, as the runtime would; a
 * wait that can end within one slice, before any loss, goes straight to
 * the runtime; only the rest is sliced.
 *
 * Failed signals stay failed until the program stores a value to them
 * (reusing them for new work), destroys them, or an async copy reuses them;
 * the store and destroy wrappers are in the table only after a loss. */
#include <stddef.h>
#include <stdlib.h>

#include <hsa/amd_hsa_signal.h>

#include "tool.h"

/* Unchanged from ROCm 5.2.3 to 6.1.2 (hsa/amd_hsa_signal.h). */
_Static_assert(offsetof(amd_signal_t, value) == 8, "ROCR's amd_signal_t layout");

typedef __typeof__(hsa_signal_wait_scacquire) wait_fn;

void tool_failed_add_locked(uint64_t signal)
{
    for (size_t i = 0; i < tool.n_failed; i++)
        if (tool.failed[i] == signal)
            return;
    if (tool.n_failed == tool.cap_failed) {
        size_t cap = tool.cap_failed ? tool.cap_failed * 2 : 64;
        uint64_t *grown = realloc(tool.failed, cap * sizeof *grown);
        if (!grown)
            return; /* the wait then ends by its timeout only */
        tool.failed = grown;
        tool.cap_failed = cap;
    }
    tool.failed[tool.n_failed++] = signal;
}

void tool_failed_remove_locked(uint64_t signal)
{
    for (size_t i = 0; i < tool.n_failed; i++)
        if (tool.failed[i] == signal) {
            tool.failed[i] = tool.failed[--tool.n_failed];
            tool_handlers_forget_locked(signal);
            return;
        }
}

bool tool_failed_has(uint64_t signal)
{
    bool found = false;
    pthread_mutex_lock(&tool.lock);
    tool_queues_drain_lost_locked(); /* packets published since the last look */
    tool_copies_fail_lost_locked();  /* copies that were being recorded then */
    for (size_t i = 0; i < tool.n_failed && !found; i++)
        found = tool.failed[i] == signal;
    pthread_mutex_unlock(&tool.lock);
    return found;
}

static inline bool satisfied(hsa_signal_condition_t condition, hsa_signal_value_t value,
                      hsa_signal_value_t compare)
{
    switch (condition) {
    case HSA_SIGNAL_CONDITION_EQ: return value == compare;
    case HSA_SIGNAL_CONDITION_NE: return value != compare;
    case HSA_SIGNAL_CONDITION_LT: return value < compare;
    case HSA_SIGNAL_CONDITION_GTE: return value >= compare;
    }
    return false; /* a condition the runtime refuses: it answers (wait_sliced) */
}

static hsa_signal_value_t wait_sliced(wait_fn *wait, hsa_signal_t signal,
                                      hsa_signal_condition_t condition,
                                      hsa_signal_value_t compare, uint64_t timeout,
                                      hsa_wait_state_t hint)
{
    if ((unsigned)condition > HSA_SIGNAL_CONDITION_GTE)
        return wait(signal, condition, compare, timeout, hint);
    for (;;) {
        uint64_t slice = timeout < tool.slice ? timeout : tool.slice;
        hsa_signal_value_t value = wait(signal, condition, compare, slice, hint);
        if (satisfied(condition, value, compare))
            return value;
        if (atomic_load(&tool.lost_any) && tool_failed_has(signal.handle))
            return value;
        if (timeout != UINT64_MAX) {
            /* The runtime may return early; the timeout is a hint anyway. */
            if (timeout <= slice)
                return value;
            timeout -= slice;
        }
    }
}

static inline hsa_signal_value_t value_of(hsa_signal_t signal)
{
    return __atomic_load_n(&((const amd_signal_t *)(uintptr_t)signal.handle)->value,
                           __ATOMIC_ACQUIRE);
}

/* Both waits, inlined into each: the runtime's own wait is the argument. */
static inline __attribute__((always_inline)) hsa_signal_value_t wait_with(wait_fn *wait, hsa_signal_t signal,
                                           hsa_signal_condition_t condition,
                                           hsa_signal_value_t compare, uint64_t timeout,
                                           hsa_wait_state_t hint)
{
    hsa_signal_value_t now = value_of(signal);
    if (satisfied(condition, now, compare))
        return now;
    if (timeout <= tool.slice && !atomic_load_explicit(&tool.lost_any, memory_order_relaxed))
        return wait(signal, condition, compare, timeout, hint);
    return wait_sliced(wait, signal, condition, compare, timeout, hint);
}

hsa_signal_value_t tool_signal_wait_scacquire(hsa_signal_t signal,
                                              hsa_signal_condition_t condition,
                                              hsa_signal_value_t compare_value,
                                              uint64_t timeout_hint,
                                              hsa_wait_state_t wait_state_hint)
{
    return wait_with(tool.rt.signal_wait_scacquire, signal, condition, compare_value,
                     timeout_hint, wait_state_hint);
}

hsa_signal_value_t tool_signal_wait_relaxed(hsa_signal_t signal, hsa_signal_condition_t condition,
                                            hsa_signal_value_t compare_value,
                                            uint64_t timeout_hint,
                                            hsa_wait_state_t wait_state_hint)
{
    return wait_with(tool.rt.signal_wait_relaxed, signal, condition, compare_value, timeout_hint,
                     wait_state_hint);
}

/* Ends on a failed signal too: its index, and its (unsatisfying) value. */
uint32_t tool_amd_signal_wait_any(uint32_t signal_count, hsa_signal_t *signals,
                                  hsa_signal_condition_t *conds, hsa_signal_value_t *values,
                                  uint64_t timeout_hint, hsa_wait_state_t wait_hint,
                                  hsa_signal_value_t *satisfying_value)
{
    if (signals && conds && values)
        for (uint32_t i = 0; i < signal_count; i++) {
            hsa_signal_value_t now = value_of(signals[i]);
            if (satisfied(conds[i], now, values[i])) {
                if (satisfying_value)
                    *satisfying_value = now;
                return i;
            }
        }
    if (timeout_hint <= tool.slice && !atomic_load_explicit(&tool.lost_any, memory_order_relaxed))
        return tool.rt.amd_signal_wait_any(signal_count, signals, conds, values, timeout_hint,
                                           wait_hint, satisfying_value);
    for (;;) {
        uint64_t slice = timeout_hint < tool.slice ? timeout_hint : tool.slice;
        uint32_t index = tool.rt.amd_signal_wait_any(signal_count, signals, conds, values, slice,
                                                     wait_hint, satisfying_value);
        if (index != UINT32_MAX)
            return index;
        if (atomic_load(&tool.lost_any) && signals)
            for (uint32_t i = 0; i < signal_count; i++)
                if (tool_failed_has(signals[i].handle)) {
                    if (satisfying_value)
                        *satisfying_value = tool.rt.signal_load_relaxed(signals[i]);
                    return i;
                }
        if (timeout_hint != UINT64_MAX) {
            if (timeout_hint <= slice)
                return index;
            timeout_hint -= slice;
        }
    }
}

/* --- after a loss: a signal given a new value or destroyed is no longer failed ---- */

static void forget(hsa_signal_t signal)
{
    pthread_mutex_lock(&tool.lock);
    tool_failed_remove_locked(signal.handle);
    pthread_mutex_unlock(&tool.lock);
}

void tool_signal_store_relaxed(hsa_signal_t signal, hsa_signal_value_t value)
{
    forget(signal);
    tool.rt.signal_store_relaxed(signal, value);
}

void tool_signal_store_screlease(hsa_signal_t signal, hsa_signal_value_t value)
{
    forget(signal);
    tool.rt.signal_store_screlease(signal, value);
}

void tool_signal_silent_store_relaxed(hsa_signal_t signal, hsa_signal_value_t value)
{
    forget(signal);
    tool.rt.signal_silent_store_relaxed(signal, value);
}

void tool_signal_silent_store_screlease(hsa_signal_t signal, hsa_signal_value_t value)
{
    forget(signal);
    tool.rt.signal_silent_store_screlease(signal, value);
}

hsa_status_t tool_signal_destroy(hsa_signal_t signal)
{
    forget(signal);
    return tool.rt.signal_destroy(signal);
}
