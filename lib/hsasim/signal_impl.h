/* hsasim signals: hsa_signal_*, signal groups, hsa_amd_signal_* and the
 * runtime's asynchronous signal handler thread; what signal.c,
 * signal_ops.c, signal_wait.c, signal_group.c and signal_async.c share.
 *
 * Layout (as ROCR): hsa_signal_t.handle is the address of the amd_signal_t at
 * the start of a struct sim_signal; amd_signal_t.kind is AMD_SIGNAL_KIND_USER
 * while the handle is valid and amd_signal_t.value is the signal value.
 *
 * Memory: signals come from slabs that are never unmapped (ROCR's
 * SharedSignalPool keeps its blocks too), so a handle can be checked without
 * dereferencing it: it must lie on a slot boundary of a slab and the slot's
 * magic must say "live".  The slab table is append-only and read lock-free;
 * sim_signal_lock guards the free list and the signal-group list only.
 *
 * Validation, per call, following ROCR 5.2.3 (src/core/runtime/hsa.cpp,
 * hsa_ext_amd.cpp, core/inc/signal.h Signal::Convert):
 *  - calls that return hsa_status_t (destroy, group create, async handler,
 *    value pointer) return HSA_STATUS_ERROR_INVALID_ARGUMENT for a 0 handle
 *    and HSA_STATUS_ERROR_INVALID_SIGNAL for any other invalid one;
 *  - loads, stores, read-modify-writes and hsa_signal_wait_* cannot return
 *    an error: ROCR throws from Signal::Convert and CATCHRET calls abort().
 *    hsasim aborts too, with a message naming the call and handle; a garbage
 *    handle is caught by the slab check instead of faulting;
 *  - hsa_amd_signal_wait_any does not validate (ROCR only asserts) and
 *    returns UINT32_MAX for an invalid or destroyed signal, as ROCR's
 *    Signal::WaitAny does for a signal that becomes invalid.
 *
 * Waiting: waiters spin for at most SPIN_NS, then sleep on a futex.  Each
 * signal has a waiter count and a futex word (seq); a change of value wakes
 * only when the count is non-zero, so an unwatched signal costs no syscall
 * (the count is the "asleep" flag queue processors rely on for doorbells).
 * Multi-signal waits (hsa_amd_signal_wait_any, signal groups, barrier
 * packets, the async handler thread) announce themselves on each signal's
 * any_waiters count and sleep on one global futex word, sim_any_seq.
 * Handshake: the writer changes the value, issues a seq_cst fence, then reads
 * the counts; a waiter increments a count, issues a seq_cst fence, reads the
 * futex word (acquire) and then re-checks the value before sleeping, so one
 * of the two always sees the other.  The value operations themselves use
 * the memory order named by the call.
 *
 * Signal kinds (ROCR hsa_amd_signal_create): a signal is an InterruptSignal
 * unless it is created with HSA_AMD_SIGNAL_IPC or HSA_AMD_SIGNAL_AMD_GPU_ONLY,
 * or with a consumer list that names no CPU agent, or HSA_ENABLE_INTERRUPT=0
 * is set; those are "busy wait" DefaultSignals.  As in ROCR only busy-wait
 * signals have a value pointer (hsa_amd_signal_value_pointer) and, with
 * interrupts enabled, only interrupt signals take async handlers.  Because a
 * busy-wait signal's value may be written through its pointer without any
 * notification, sleeps on it are capped at BUSY_POLL_NS.
 *
 * sim_signals_wake_all (device loss: KFD sets every event) wakes every
 * sleeper; as in ROCR, whose waits loop over hsaKmtWaitOnEvent, a woken wait
 * re-checks its condition and goes back to sleep: it returns only when the
 * condition holds, the timeout passes or the signal is destroyed.
 *
 * Timeouts are in HSA_SYSTEM_INFO_TIMESTAMP_FREQUENCY ticks, which hsasim
 * defines as 1 GHz: one tick is one nanosecond (CLOCK_MONOTONIC). */
#ifndef HSASIM_SIGNAL_IMPL_H
#define HSASIM_SIGNAL_IMPL_H

#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hsasim.h"

/* --- the signal ----------------------------------------------------------- */
#define SIM_SIGNAL_MAGIC_LIVE 0x4c4e47495341534dull /* "MSASIGNL" */
#define SIM_SIGNAL_MAGIC_FREE 0x45455246474953ull

struct sim_signal {
    amd_signal_t amd;              /* the handle points here */
    _Atomic uint64_t magic;        /* SIM_SIGNAL_MAGIC_LIVE until the slot is freed */
    _Atomic uint32_t seq;          /* futex word of single-signal waiters */
    _Atomic uint32_t waiters;      /* threads that may sleep on seq */
    _Atomic uint32_t any_waiters;  /* multi-signal waiters watching this signal */
    _Atomic uint32_t refs;         /* the handle + waits + async handlers in progress */
    bool busy_wait;                /* ROCR DefaultSignal: value pointer, polled */
    /* ROCR SharedSignal's copy profiling (profiling.c): the GPU whose engine
     * ran a profiled copy, and that copy's SDMA times. */
    _Atomic(const sim_agent *) copy_agent;
    _Atomic uint64_t sdma_start_ts, sdma_end_ts;
    bool internal;                 /* queue doorbell: not destroyable by the user */
    sim_signal *next_free;
};
_Static_assert(offsetof(struct sim_signal, amd) == 0, "handle is the amd_signal_t");

#define SPIN_NS 4000ull            /* bounded spin before sleeping */
#define BUSY_POLL_NS 1000000ull    /* poll period of busy-wait signals */

/* Slabs: 64, 128, 256, ... slots, at most 65536 per slab. */
#define SLAB_MAX 64
typedef struct sim_signal_slab {
    _Atomic(sim_signal *) base;
    size_t count;
} sim_signal_slab;
extern sim_signal_slab sim_signal_slabs[SLAB_MAX]; /* append-only, read lock-free */
extern _Atomic uint32_t sim_signal_nslabs;
extern pthread_mutex_t sim_signal_lock; /* free list, groups, slab growth */

/* Multi-signal waiters. */
extern _Atomic uint32_t sim_any_seq;
extern _Atomic uint32_t sim_any_sleepers;

/* --- helpers ------------------------------------------------------------------- */
static inline void futex_wait_until(_Atomic uint32_t *word, uint32_t val, uint64_t deadline_ns)
{
    struct timespec ts, *tp = NULL;
    if (deadline_ns != UINT64_MAX) {
        ts.tv_sec = (time_t)(deadline_ns / 1000000000ull);
        ts.tv_nsec = (long)(deadline_ns % 1000000000ull);
        tp = &ts;
    }
    /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
    syscall(SYS_futex, (void *)word, FUTEX_WAIT_BITSET_PRIVATE, val, tp, NULL,
            FUTEX_BITSET_MATCH_ANY);
}

static inline void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline int64_t *val_ptr(sim_signal *s)
{
    return (int64_t *)(uintptr_t)&s->amd.value;
}

static inline int64_t kind_of(sim_signal *s)
{
    return __atomic_load_n(&s->amd.kind, __ATOMIC_ACQUIRE);
}

static inline bool sig_alive(sim_signal *s)
{
    return kind_of(s) == AMD_SIGNAL_KIND_USER;
}

/* The slot a handle designates, or NULL; never dereferences the handle. */
static inline sim_signal *slot_of(uint64_t handle)
{
    uint32_t n = atomic_load_explicit(&sim_signal_nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *base = atomic_load_explicit(&sim_signal_slabs[i].base, memory_order_relaxed);
        uint64_t off = handle - (uint64_t)(uintptr_t)base;
        if (off < sim_signal_slabs[i].count * sizeof(sim_signal)) {
            if (off % sizeof(sim_signal))
                return NULL;
            return base + off / sizeof(sim_signal);
        }
    }
    return NULL;
}

/* A live slot (not yet freed; it may already be destroyed), or NULL. */
static inline sim_signal *sig_lookup(uint64_t handle)
{
    sim_signal *s = handle ? slot_of(handle) : NULL;
    if (s && atomic_load_explicit(&s->magic, memory_order_acquire) == SIM_SIGNAL_MAGIC_LIVE)
        return s;
    return NULL;
}

/* Fast paths: ROCR aborts (Signal::Convert throws, CATCHRET aborts). */
static inline sim_signal *sig_fast(hsa_signal_t h, const char *fn)
{
    sim_signal *s = sig_lookup(h.handle);
    if (__builtin_expect(s == NULL, 0)) {
        fprintf(stderr, "hsasim: %s: invalid signal handle 0x%llx\n", sim_api_name(fn),
                (unsigned long long)h.handle);
        abort();
    }
    return s;
}

/* Checked paths: 0 -> INVALID_ARGUMENT, else INVALID_SIGNAL (Signal::Convert). */
static inline hsa_status_t sig_checked(hsa_signal_t h, sim_signal **out)
{
    if (h.handle == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_signal *s = sig_lookup(h.handle);
    if (!s || !sig_alive(s))
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    *out = s;
    return HSA_STATUS_SUCCESS;
}

/* Wakes multi-signal waiters (they re-check everything they watch). */
static inline void any_kick(void)
{
    atomic_fetch_add_explicit(&sim_any_seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&sim_any_sleepers, memory_order_seq_cst))
        futex_wake_all(&sim_any_seq);
}

/* After every change of value: wake whoever sleeps on it, and nobody else. */
static inline void sig_notify(sim_signal *s)
{
    atomic_thread_fence(memory_order_seq_cst);
    uint32_t w = atomic_load_explicit(&s->waiters, memory_order_relaxed);
    uint32_t a = atomic_load_explicit(&s->any_waiters, memory_order_relaxed);
    if (__builtin_expect(w != 0, 0)) {
        atomic_fetch_add_explicit(&s->seq, 1, memory_order_release);
        futex_wake_all(&s->seq);
    }
    if (__builtin_expect(a != 0, 0))
        any_kick();
}

/* -1: invalid condition (ROCR returns 0 / UINT32_MAX for it). */
static inline int cond_met(hsa_signal_condition_t c, int64_t v, int64_t cmp)
{
    switch (c) {
    case HSA_SIGNAL_CONDITION_EQ: return v == cmp;
    case HSA_SIGNAL_CONDITION_NE: return v != cmp;
    case HSA_SIGNAL_CONDITION_LT: return v < cmp;
    case HSA_SIGNAL_CONDITION_GTE: return v >= cmp;
    default: return -1;
    }
}

/* --- across the files -------------------------------------------------------------- */

/* HSA_ENABLE_INTERRUPT (signal.c). */
bool sim_signal_interrupts_enabled(void);

/* Several signals (ROCR Signal::WaitAny, signal_wait.c).  stop, when given,
 * is polled and ends the wait (WAIT_STOPPED); waking the waiter for it is the
 * caller's business (sim_signal_kick on any signal wakes every multi-waiter). */
#define WAIT_STOPPED (UINT32_MAX - 1)
uint32_t sim_signal_wait_any_timed(uint32_t n, sim_signal *const *sigs,
                                   const hsa_signal_condition_t *conds,
                                   const hsa_signal_value_t *values, uint64_t timeout,
                                   hsa_wait_state_t hint, hsa_signal_value_t *out, int order,
                                   bool (*stop)(void *), void *stop_arg);
/* The same on handles, retained for the wait: UINT32_MAX when one is
 * invalid (signal_wait.c). */
uint32_t sim_signal_wait_any_handles(uint32_t n, const hsa_signal_t *handles,
                                     const hsa_signal_condition_t *conds,
                                     const hsa_signal_value_t *values, uint64_t timeout,
                                     hsa_wait_state_t hint, hsa_signal_value_t *out, int order);

/* Last shut_down (sim_signals_shutdown): the handler thread stops, pending
 * and registered handlers are dropped uncalled (signal_async.c); every
 * group goes (signal_group.c). */
void sim_signal_async_stop(void);
void sim_signal_groups_free(void);

#endif
