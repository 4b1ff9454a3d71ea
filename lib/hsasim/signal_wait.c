/* hsasim signal waits: one signal, several (hsa_amd_signal_wait_any and
 * hsasim's own multi-waits).  Waiters spin for at most SPIN_NS, then sleep
 * (signal_impl.h: the handshake with writers). */
#include <sched.h>

#include "signal_impl.h"

static uint64_t deadline_after(uint64_t now, uint64_t timeout)
{
    return timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* --- waits ---------------------------------------------------------------------- */
/* One signal (ROCR InterruptSignal/BusyWaitSignal::WaitRelaxed): returns the
 * value satisfying the condition, the current value on timeout, 0 when the
 * signal is destroyed meanwhile or the condition is invalid. */
static hsa_signal_value_t sig_wait(sim_signal *s, hsa_signal_condition_t cond,
                                   hsa_signal_value_t cmp, uint64_t timeout,
                                   hsa_wait_state_t hint, int order)
{
    if (!sim_signal_retain(s))
        return 0;
    const uint64_t start = sim_now_ns();
    const uint64_t deadline = deadline_after(start, timeout);
    hsa_signal_value_t v = 0;
    for (;;) {
        if (!sig_alive(s)) {
            v = 0;
            break;
        }
        v = __atomic_load_n(val_ptr(s), order);
        int met = cond_met(cond, v, cmp);
        if (met != 0) {
            if (met < 0)
                v = 0;
            break;
        }
        uint64_t now = sim_now_ns();
        if (now >= deadline && timeout != UINT64_MAX)
            break; /* the current value, as ROCR */
        if (hint == HSA_WAIT_STATE_ACTIVE || now - start < SPIN_NS) {
            cpu_relax();
            if (hint == HSA_WAIT_STATE_ACTIVE && now - start >= SPIN_NS)
                sched_yield();
            continue;
        }
        uint32_t seq = sim_signal_sleep_prepare(s);
        v = __atomic_load_n(val_ptr(s), order);
        if (cond_met(cond, v, cmp) == 0 && sig_alive(s)) {
            uint64_t until = deadline;
            if (s->busy_wait && until - now > BUSY_POLL_NS)
                until = now + BUSY_POLL_NS;
            futex_wait_until(&s->seq, seq, until);
        }
        sim_signal_sleep_finish(s);
    }
    sim_signal_release(s);
    return v;
}

SIM_API hsa_signal_value_t hsa_signal_wait_relaxed(hsa_signal_t signal,
                                                   hsa_signal_condition_t condition,
                                                   hsa_signal_value_t compare_value,
                                                   uint64_t timeout_hint,
                                                   hsa_wait_state_t wait_state_hint)
{
    sim_signal *s = sig_fast(signal, __func__);
    return sig_wait(s, condition, compare_value, timeout_hint, wait_state_hint,
                    __ATOMIC_RELAXED);
}

SIM_API hsa_signal_value_t hsa_signal_wait_scacquire(hsa_signal_t signal,
                                                     hsa_signal_condition_t condition,
                                                     hsa_signal_value_t compare_value,
                                                     uint64_t timeout_hint,
                                                     hsa_wait_state_t wait_state_hint)
{
    sim_signal *s = sig_fast(signal, __func__);
    /* ROCR: relaxed wait + acquire fence; an acquire load of the returned
     * value gives the same ordering and is visible to TSan. */
    return sig_wait(s, condition, compare_value, timeout_hint, wait_state_hint,
                    __ATOMIC_ACQUIRE);
}

/* 1: some condition holds (result set), 0: none, and result is left alone. */
static int any_check(uint32_t n, sim_signal *const *sigs, const hsa_signal_condition_t *conds,
                     const hsa_signal_value_t *values, hsa_signal_value_t *out, int order,
                     uint32_t *result)
{
    for (uint32_t i = 0; i < n; i++) {
        if (!sig_alive(sigs[i])) {
            *result = UINT32_MAX;
            return 1;
        }
        hsa_signal_value_t v = __atomic_load_n(val_ptr(sigs[i]), order);
        int met = cond_met(conds[i], v, values[i]);
        if (met < 0) {
            *result = UINT32_MAX;
            return 1;
        }
        if (met) {
            if (out)
                *out = v;
            *result = i;
            return 1;
        }
    }
    return 0;
}

uint32_t sim_signal_wait_any_timed(uint32_t n, sim_signal *const *sigs,
                                   const hsa_signal_condition_t *conds,
                                   const hsa_signal_value_t *values, uint64_t timeout,
                                   hsa_wait_state_t hint, hsa_signal_value_t *out, int order,
                                   bool (*stop)(void *), void *stop_arg)
{
    const uint64_t start = sim_now_ns();
    const uint64_t deadline = deadline_after(start, timeout);
    bool any_busy = false;
    for (uint32_t i = 0; i < n; i++)
        any_busy |= sigs[i]->busy_wait;
    bool announced = false;
    uint32_t result = UINT32_MAX;
    for (;;) {
        if (any_check(n, sigs, conds, values, out, order, &result))
            break;
        if (stop && stop(stop_arg)) {
            result = WAIT_STOPPED;
            break;
        }
        uint64_t now = sim_now_ns();
        if (timeout != UINT64_MAX && now >= deadline) {
            result = UINT32_MAX;
            break;
        }
        if (hint == HSA_WAIT_STATE_ACTIVE || now - start < SPIN_NS) {
            cpu_relax();
            if (hint == HSA_WAIT_STATE_ACTIVE && now - start >= SPIN_NS)
                sched_yield();
            continue;
        }
        if (!announced) {
            for (uint32_t i = 0; i < n; i++)
                atomic_fetch_add_explicit(&sigs[i]->any_waiters, 1, memory_order_relaxed);
            announced = true;
        }
        atomic_thread_fence(memory_order_seq_cst);
        uint32_t seq = atomic_load_explicit(&sim_any_seq, memory_order_acquire);
        /* Re-check after announcing; sleep unless something changed. */
        uint32_t ignored;
        hsa_signal_value_t scratch;
        if (any_check(n, sigs, conds, values, &scratch, order, &ignored) ||
            (stop && stop(stop_arg)))
            continue;
        uint64_t until = deadline;
        if (any_busy && until - now > BUSY_POLL_NS)
            until = now + BUSY_POLL_NS;
        atomic_fetch_add_explicit(&sim_any_sleepers, 1, memory_order_seq_cst);
        futex_wait_until(&sim_any_seq, seq, until);
        atomic_fetch_sub_explicit(&sim_any_sleepers, 1, memory_order_seq_cst);
    }
    if (announced)
        for (uint32_t i = 0; i < n; i++)
            atomic_fetch_sub_explicit(&sigs[i]->any_waiters, 1, memory_order_relaxed);
    return result;
}

uint32_t sim_signal_wait_any_internal(uint32_t n, sim_signal *const *sigs,
                                      const hsa_signal_condition_t *conds,
                                      const hsa_signal_value_t *values,
                                      bool (*stop)(void *), void *stop_arg)
{
    uint32_t r =
        sim_signal_wait_any_timed(n, sigs, conds, values, UINT64_MAX, HSA_WAIT_STATE_BLOCKED, NULL,
                                  __ATOMIC_ACQUIRE, stop, stop_arg);
    return r == WAIT_STOPPED ? UINT32_MAX : r;
}

/* Retains the signals of a handle list; returns false (nothing retained) if
 * one is invalid. */
static bool retain_all(uint32_t n, const hsa_signal_t *handles, sim_signal **out)
{
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *s = sig_lookup(handles[i].handle);
        if (!s || !sim_signal_retain(s)) {
            while (i-- > 0)
                sim_signal_release(out[i]);
            return false;
        }
        out[i] = s;
    }
    return true;
}

uint32_t sim_signal_wait_any_handles(uint32_t n, const hsa_signal_t *handles,
                                     const hsa_signal_condition_t *conds,
                                     const hsa_signal_value_t *values, uint64_t timeout,
                                     hsa_wait_state_t hint, hsa_signal_value_t *out, int order)
{
    sim_signal *small[16] = {0};
    sim_signal **sigs = n <= 16 ? small : malloc(n * sizeof *sigs);
    if (!sigs)
        return UINT32_MAX;
    uint32_t r = UINT32_MAX;
    if (retain_all(n, handles, sigs)) {
        r = sim_signal_wait_any_timed(n, sigs, conds, values, timeout, hint, out, order, NULL,
                                      NULL);
        for (uint32_t i = 0; i < n; i++)
            sim_signal_release(sigs[i]);
    }
    if (sigs != small)
        free(sigs);
    return r;
}

SIM_API uint32_t hsa_amd_signal_wait_any(uint32_t signal_count, hsa_signal_t *signals,
                                         hsa_signal_condition_t *conds,
                                         hsa_signal_value_t *values, uint64_t timeout_hint,
                                         hsa_wait_state_t wait_hint,
                                         hsa_signal_value_t *satisfying_value)
{
    if (!sim_is_initialized())
        return 0; /* ROCR: assert, then 0 */
    if (signal_count && (!signals || !conds || !values))
        return UINT32_MAX;
    return sim_signal_wait_any_handles(signal_count, signals, conds, values, timeout_hint,
                                       wait_hint, satisfying_value, __ATOMIC_RELAXED);
}
