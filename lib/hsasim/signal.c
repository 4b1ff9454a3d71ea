/* hsasim signals: hsa_signal_*, signal groups, hsa_amd_signal_* and the
 * runtime's asynchronous signal handler thread.
 *
 * Layout (as ROCR): hsa_signal_t.handle is the address of the amd_signal_t at
 * the start of a struct sim_signal; amd_signal_t.kind is AMD_SIGNAL_KIND_USER
 * while the handle is valid and amd_signal_t.value is the signal value.
 *
 * Memory: signals come from slabs that are never unmapped (ROCR's
 * SharedSignalPool keeps its blocks too), so a handle can be checked without
 * dereferencing it: it must lie on a slot boundary of a slab and the slot's
 * magic must say "live".  The slab table is append-only and read lock-free;
 * g_sig_lock guards the free list and the signal-group list only.
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
 * any_waiters count and sleep on one global futex word, g_any_seq.
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
#include "hsasim.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>


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
    bool internal;                 /* queue doorbell: not destroyable by the user */
    sim_signal *next_free;
};
_Static_assert(offsetof(struct sim_signal, amd) == 0, "handle is the amd_signal_t");

#define SPIN_NS 4000ull            /* bounded spin before sleeping */
#define BUSY_POLL_NS 1000000ull    /* poll period of busy-wait signals */

/* Slabs: 64, 128, 256, ... slots, at most 65536 per slab. */
#define SLAB_MAX 64
static struct {
    _Atomic(sim_signal *) base;
    size_t count;
} g_slabs[SLAB_MAX];
static _Atomic uint32_t g_nslabs;
static pthread_mutex_t g_sig_lock = PTHREAD_MUTEX_INITIALIZER; /* free list, groups, slab growth */
static sim_signal *g_free_list;

/* Multi-signal waiters. */
static _Atomic uint32_t g_any_seq;
static _Atomic uint32_t g_any_sleepers;

/* --- helpers ---------------------------------------------------------------- */
uint64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t deadline_after(uint64_t now, uint64_t timeout)
{
    return timeout > UINT64_MAX - now ? UINT64_MAX : now + timeout;
}

static void futex_wait_until(_Atomic uint32_t *word, uint32_t val, uint64_t deadline_ns)
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

static void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (void *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
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
static sim_signal *slot_of(uint64_t handle)
{
    uint32_t n = atomic_load_explicit(&g_nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *base = atomic_load_explicit(&g_slabs[i].base, memory_order_relaxed);
        uint64_t off = handle - (uint64_t)(uintptr_t)base;
        if (off < g_slabs[i].count * sizeof(sim_signal)) {
            if (off % sizeof(sim_signal))
                return NULL;
            return base + off / sizeof(sim_signal);
        }
    }
    return NULL;
}

/* A live slot (not yet freed; it may already be destroyed), or NULL. */
static sim_signal *sig_lookup(uint64_t handle)
{
    sim_signal *s = handle ? slot_of(handle) : NULL;
    if (s && atomic_load_explicit(&s->magic, memory_order_acquire) == SIM_SIGNAL_MAGIC_LIVE)
        return s;
    return NULL;
}

/* Fast paths: ROCR aborts (Signal::Convert throws, CATCHRET aborts). */
static sim_signal *sig_fast(hsa_signal_t h, const char *fn)
{
    sim_signal *s = sig_lookup(h.handle);
    if (__builtin_expect(s == NULL, 0)) {
        fprintf(stderr, "hsasim: %s: invalid signal handle 0x%llx\n", fn,
                (unsigned long long)h.handle);
        abort();
    }
    return s;
}

/* Checked paths: 0 -> INVALID_ARGUMENT, else INVALID_SIGNAL (Signal::Convert). */
static hsa_status_t sig_checked(hsa_signal_t h, sim_signal **out)
{
    if (h.handle == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_signal *s = sig_lookup(h.handle);
    if (!s || !sig_alive(s))
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    *out = s;
    return HSA_STATUS_SUCCESS;
}

bool sim_signal_retain(sim_signal *s)
{
    uint32_t r = atomic_load_explicit(&s->refs, memory_order_relaxed);
    while (r != 0)
        if (atomic_compare_exchange_weak_explicit(&s->refs, &r, r + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return true;
    return false;
}

void sim_signal_release(sim_signal *s)
{
    if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    pthread_mutex_lock(&g_sig_lock);
    atomic_store_explicit(&s->magic, SIM_SIGNAL_MAGIC_FREE, memory_order_release);
    s->next_free = g_free_list;
    g_free_list = s;
    pthread_mutex_unlock(&g_sig_lock);
}

hsa_signal_t sim_signal_handle(sim_signal *s)
{
    hsa_signal_t h = {(uint64_t)(uintptr_t)s};
    return h;
}

/* For a packet processor, which reads and writes signal memory like the CP:
 * 1: a live signal, retained (*out); 0: a signal slot that is no longer
 * live (destroyed: its memory stays mapped, as ROCR's pool), *value is what
 * it holds; -1: not signal memory at all (the CP would fault). */
int sim_signal_acquire_any(hsa_signal_t h, sim_signal **out, hsa_signal_value_t *value)
{
    sim_signal *s = h.handle ? slot_of(h.handle) : NULL;
    if (!s)
        return -1;
    if (atomic_load_explicit(&s->magic, memory_order_acquire) == SIM_SIGNAL_MAGIC_LIVE &&
        sig_alive(s) && sim_signal_retain(s)) {
        *out = s;
        return 1;
    }
    *value = __atomic_load_n(val_ptr(s), __ATOMIC_ACQUIRE);
    return 0;
}

sim_signal *sim_signal_get(hsa_signal_t signal)
{
    sim_signal *s = sig_lookup(signal.handle);
    return s && sig_alive(s) ? s : NULL;
}

/* Wakes multi-signal waiters (they re-check everything they watch). */
static void any_kick(void)
{
    atomic_fetch_add_explicit(&g_any_seq, 1, memory_order_seq_cst);
    if (atomic_load_explicit(&g_any_sleepers, memory_order_seq_cst))
        futex_wake_all(&g_any_seq);
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

/* Unconditional wake of every waiter of s (destroy, device loss, queue stop). */
void sim_signal_kick(sim_signal *s)
{
    atomic_fetch_add_explicit(&s->seq, 1, memory_order_seq_cst);
    futex_wake_all(&s->seq);
    any_kick();
}

uint32_t sim_signal_sleep_prepare(sim_signal *s)
{
    atomic_fetch_add_explicit(&s->waiters, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
    return atomic_load_explicit(&s->seq, memory_order_acquire);
}

void sim_signal_sleep(sim_signal *s, uint32_t seq, uint64_t deadline_ns)
{
    futex_wait_until(&s->seq, seq, deadline_ns);
}

void sim_signal_sleep_finish(sim_signal *s)
{
    atomic_fetch_sub_explicit(&s->waiters, 1, memory_order_relaxed);
}

void sim_signals_wake_all(void)
{
    uint32_t n = atomic_load_explicit(&g_nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *base = atomic_load_explicit(&g_slabs[i].base, memory_order_relaxed);
        for (size_t j = 0; j < g_slabs[i].count; j++) {
            sim_signal *s = &base[j];
            if (atomic_load_explicit(&s->magic, memory_order_acquire) != SIM_SIGNAL_MAGIC_LIVE)
                continue;
            atomic_fetch_add_explicit(&s->seq, 1, memory_order_seq_cst);
            if (atomic_load_explicit(&s->waiters, memory_order_seq_cst))
                futex_wake_all(&s->seq);
        }
    }
    any_kick();
}

/* --- creation and destruction ------------------------------------------------ */
static sim_signal *sig_alloc(hsa_signal_value_t initial, bool busy_wait, bool internal)
{
    pthread_mutex_lock(&g_sig_lock);
    if (!g_free_list) {
        uint32_t n = atomic_load_explicit(&g_nslabs, memory_order_relaxed);
        size_t count = n < 10 ? (size_t)64 << n : 65536;
        sim_signal *slab = n < SLAB_MAX ? aligned_alloc(AMD_SIGNAL_ALIGN_BYTES,
                                                        count * sizeof(sim_signal))
                                        : NULL;
        if (!slab) {
            pthread_mutex_unlock(&g_sig_lock);
            return NULL;
        }
        memset(slab, 0, count * sizeof(sim_signal));
        for (size_t i = count; i-- > 0;) {
            atomic_init(&slab[i].magic, SIM_SIGNAL_MAGIC_FREE);
            slab[i].next_free = g_free_list;
            g_free_list = &slab[i];
        }
        g_slabs[n].count = count;
        atomic_store_explicit(&g_slabs[n].base, slab, memory_order_relaxed);
        atomic_store_explicit(&g_nslabs, n + 1, memory_order_release);
    }
    sim_signal *s = g_free_list;
    g_free_list = s->next_free;
    s->next_free = NULL;
    pthread_mutex_unlock(&g_sig_lock);

    /* seq and the waiter counts are left as they are: stale waiters (none
     * should exist once refs reached 0) and wake_all read them atomically. */
    __atomic_store_n(val_ptr(s), initial, __ATOMIC_RELAXED);
    s->amd.event_mailbox_ptr = 0;
    s->amd.event_id = 0;
    s->amd.start_ts = 0;
    s->amd.end_ts = 0;
    s->amd.queue_ptr = NULL;
    s->busy_wait = busy_wait;
    s->internal = internal;
    atomic_store_explicit(&s->refs, 1, memory_order_relaxed);
    __atomic_store_n(&s->amd.kind, (int64_t)AMD_SIGNAL_KIND_USER, __ATOMIC_RELAXED);
    atomic_store_explicit(&s->magic, SIM_SIGNAL_MAGIC_LIVE, memory_order_release);
    return s;
}

/* Marks s destroyed (once), wakes its waiters (they return 0, as in ROCR's
 * Signal::DestroySignal) and drops the handle's reference. */
static bool sig_invalidate(sim_signal *s)
{
    int64_t expected = AMD_SIGNAL_KIND_USER;
    if (!__atomic_compare_exchange_n(&s->amd.kind, &expected, (int64_t)AMD_SIGNAL_KIND_INVALID,
                                     false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return false;
    sig_notify(s);
    sim_signal_release(s);
    return true;
}

sim_signal *sim_signal_new_internal(hsa_signal_value_t initial)
{
    return sig_alloc(initial, false, true);
}

void sim_signal_free_internal(sim_signal *s)
{
    if (s)
        sig_invalidate(s);
}

static bool interrupts_enabled(void)
{
    static _Atomic int cached = -1;
    int v = atomic_load_explicit(&cached, memory_order_relaxed);
    if (v < 0) {
        const char *e = getenv("HSA_ENABLE_INTERRUPT");
        v = !(e && strcmp(e, "0") == 0);
        atomic_store_explicit(&cached, v, memory_order_relaxed);
    }
    return v != 0;
}

SIM_API hsa_status_t hsa_amd_signal_create(hsa_signal_value_t initial_value, uint32_t num_consumers,
                                           const hsa_agent_t *consumers, uint64_t attributes,
                                           hsa_signal_t *signal)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!signal)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;

    bool ipc = (attributes & HSA_AMD_SIGNAL_IPC) != 0;
    bool busy = ipc || (attributes & HSA_AMD_SIGNAL_AMD_GPU_ONLY) || !interrupts_enabled();
    if (!busy && num_consumers != 0) {
        if (!consumers)
            return HSA_STATUS_ERROR_INVALID_ARGUMENT;
        /* Duplicates are an error; a list without a CPU agent makes a
         * busy-wait signal (ROCR: nobody on the host will wait on it). */
        busy = true;
        for (uint32_t i = 0; i < num_consumers; i++) {
            for (uint32_t j = 0; j < i; j++)
                if (consumers[j].handle == consumers[i].handle)
                    return HSA_STATUS_ERROR_INVALID_ARGUMENT;
            sim_agent *a = sim_agent_get(consumers[i]);
            if (a && a->type == HSA_DEVICE_TYPE_CPU)
                busy = false;
        }
    }

    sim_signal *s = sig_alloc(initial_value, busy, false);
    if (!s)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    *signal = sim_signal_handle(s);
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_signal_create(hsa_signal_value_t initial_value, uint32_t num_consumers,
                                       const hsa_agent_t *consumers, hsa_signal_t *signal)
{
    return hsa_amd_signal_create(initial_value, num_consumers, consumers, 0, signal);
}

SIM_API hsa_status_t hsa_signal_destroy(hsa_signal_t signal)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    sim_signal *s;
    hsa_status_t st = sig_checked(signal, &s);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (s->internal || !sig_invalidate(s))
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_signal_value_pointer(hsa_signal_t signal,
                                                  volatile hsa_signal_value_t **value_ptr)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!value_ptr)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_signal *s;
    hsa_status_t st = sig_checked(signal, &s);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (!s->busy_wait) /* ROCR: only BusyWaitSignal (DefaultSignal) */
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    *value_ptr = &s->amd.value;
    return HSA_STATUS_SUCCESS;
}

/* --- loads, stores, read-modify-writes ------------------------------------- */
#define SIG_LOAD(name, order)                                                      \
    SIM_API hsa_signal_value_t hsa_signal_##name(hsa_signal_t signal)              \
    {                                                                              \
        sim_signal *s = sig_fast(signal, __func__);                                \
        return __atomic_load_n(val_ptr(s), order);                                 \
    }

SIG_LOAD(load_relaxed, __ATOMIC_RELAXED)
SIG_LOAD(load_scacquire, __ATOMIC_ACQUIRE)

#define SIG_STORE(name, order)                                                     \
    SIM_API void hsa_signal_##name(hsa_signal_t signal, hsa_signal_value_t value)  \
    {                                                                              \
        sim_signal *s = sig_fast(signal, __func__);                                \
        __atomic_store_n(val_ptr(s), value, order);                                \
        sig_notify(s);                                                             \
    }

SIG_STORE(store_relaxed, __ATOMIC_RELAXED)
SIG_STORE(store_screlease, __ATOMIC_RELEASE)
/* ROCR 5.2.3 maps the silent stores to the plain ones (hsa_api_trace.cpp). */
SIG_STORE(silent_store_relaxed, __ATOMIC_RELAXED)
SIG_STORE(silent_store_screlease, __ATOMIC_RELEASE)

#define SIG_RMW(name, builtin, order)                                              \
    SIM_API void hsa_signal_##name(hsa_signal_t signal, hsa_signal_value_t value)  \
    {                                                                              \
        sim_signal *s = sig_fast(signal, __func__);                                \
        (void)builtin(val_ptr(s), value, order);                                   \
        sig_notify(s);                                                             \
    }

#define SIG_RMW_ALL(op, builtin)                                                   \
    SIG_RMW(op##_relaxed, builtin, __ATOMIC_RELAXED)                               \
    SIG_RMW(op##_scacquire, builtin, __ATOMIC_ACQUIRE)                             \
    SIG_RMW(op##_screlease, builtin, __ATOMIC_RELEASE)                             \
    SIG_RMW(op##_scacq_screl, builtin, __ATOMIC_ACQ_REL)

SIG_RMW_ALL(add, __atomic_fetch_add)
SIG_RMW_ALL(subtract, __atomic_fetch_sub)
SIG_RMW_ALL(and, __atomic_fetch_and)
SIG_RMW_ALL(or, __atomic_fetch_or)
SIG_RMW_ALL(xor, __atomic_fetch_xor)

#define SIG_XCHG(name, order)                                                      \
    SIM_API hsa_signal_value_t hsa_signal_##name(hsa_signal_t signal,              \
                                                 hsa_signal_value_t value)         \
    {                                                                              \
        sim_signal *s = sig_fast(signal, __func__);                                \
        hsa_signal_value_t old = __atomic_exchange_n(val_ptr(s), value, order);    \
        sig_notify(s);                                                             \
        return old;                                                                \
    }

SIG_XCHG(exchange_relaxed, __ATOMIC_RELAXED)
SIG_XCHG(exchange_scacquire, __ATOMIC_ACQUIRE)
SIG_XCHG(exchange_screlease, __ATOMIC_RELEASE)
SIG_XCHG(exchange_scacq_screl, __ATOMIC_ACQ_REL)

/* Returns the value observed (the old value), whether or not it was swapped;
 * waiters are woken either way, as ROCR's InterruptSignal::Cas* do. */
#define SIG_CAS(name, order, fail_order)                                           \
    SIM_API hsa_signal_value_t hsa_signal_##name(hsa_signal_t signal,              \
                                                 hsa_signal_value_t expected,      \
                                                 hsa_signal_value_t value)         \
    {                                                                              \
        sim_signal *s = sig_fast(signal, __func__);                                \
        hsa_signal_value_t seen = expected;                                        \
        __atomic_compare_exchange_n(val_ptr(s), &seen, value, false, order,        \
                                    fail_order);                                   \
        sig_notify(s);                                                             \
        return seen;                                                               \
    }

SIG_CAS(cas_relaxed, __ATOMIC_RELAXED, __ATOMIC_RELAXED)
SIG_CAS(cas_scacquire, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)
SIG_CAS(cas_screlease, __ATOMIC_RELEASE, __ATOMIC_RELAXED)
SIG_CAS(cas_scacq_screl, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)

/* Deprecated names: aliases, as ROCR's hsacore.so.link. */
#define SIG_ALIAS(ret, old, new, params)                                           \
    SIM_API ret hsa_signal_##old params __attribute__((alias("hsa_signal_" #new)));

SIG_ALIAS(hsa_signal_value_t, load_acquire, load_scacquire, (hsa_signal_t))
SIG_ALIAS(void, store_release, store_screlease, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, add_acquire, add_scacquire, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, add_release, add_screlease, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, add_acq_rel, add_scacq_screl, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, subtract_acquire, subtract_scacquire, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, subtract_release, subtract_screlease, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, subtract_acq_rel, subtract_scacq_screl, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, and_acquire, and_scacquire, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, and_release, and_screlease, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, and_acq_rel, and_scacq_screl, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, or_acquire, or_scacquire, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, or_release, or_screlease, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, or_acq_rel, or_scacq_screl, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, xor_acquire, xor_scacquire, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, xor_release, xor_screlease, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(void, xor_acq_rel, xor_scacq_screl, (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(hsa_signal_value_t, exchange_acquire, exchange_scacquire,
          (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(hsa_signal_value_t, exchange_release, exchange_screlease,
          (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(hsa_signal_value_t, exchange_acq_rel, exchange_scacq_screl,
          (hsa_signal_t, hsa_signal_value_t))
SIG_ALIAS(hsa_signal_value_t, cas_acquire, cas_scacquire,
          (hsa_signal_t, hsa_signal_value_t, hsa_signal_value_t))
SIG_ALIAS(hsa_signal_value_t, cas_release, cas_screlease,
          (hsa_signal_t, hsa_signal_value_t, hsa_signal_value_t))
SIG_ALIAS(hsa_signal_value_t, cas_acq_rel, cas_scacq_screl,
          (hsa_signal_t, hsa_signal_value_t, hsa_signal_value_t))

/* --- waits ---------------------------------------------------------------------- */
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

SIM_API hsa_signal_value_t hsa_signal_wait_acquire(hsa_signal_t, hsa_signal_condition_t,
                                                   hsa_signal_value_t, uint64_t,
                                                   hsa_wait_state_t)
    __attribute__((alias("hsa_signal_wait_scacquire")));

/* Several signals (ROCR Signal::WaitAny).  stop, when given, is polled and
 * ends the wait (UINT32_MAX - 1); waking the waiter for it is the caller's
 * business (sim_signal_kick on any signal wakes every multi-waiter). */
#define WAIT_STOPPED (UINT32_MAX - 1)

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

static uint32_t sig_wait_any(uint32_t n, sim_signal *const *sigs,
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
        uint32_t seq = atomic_load_explicit(&g_any_seq, memory_order_acquire);
        /* Re-check after announcing; sleep unless something changed. */
        uint32_t ignored;
        hsa_signal_value_t scratch;
        if (any_check(n, sigs, conds, values, &scratch, order, &ignored) ||
            (stop && stop(stop_arg)))
            continue;
        uint64_t until = deadline;
        if (any_busy && until - now > BUSY_POLL_NS)
            until = now + BUSY_POLL_NS;
        atomic_fetch_add_explicit(&g_any_sleepers, 1, memory_order_seq_cst);
        futex_wait_until(&g_any_seq, seq, until);
        atomic_fetch_sub_explicit(&g_any_sleepers, 1, memory_order_seq_cst);
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
    uint32_t r = sig_wait_any(n, sigs, conds, values, UINT64_MAX, HSA_WAIT_STATE_BLOCKED, NULL,
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

static uint32_t wait_any_handles(uint32_t n, const hsa_signal_t *handles,
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
        r = sig_wait_any(n, sigs, conds, values, timeout, hint, out, order, NULL, NULL);
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
    return wait_any_handles(signal_count, signals, conds, values, timeout_hint, wait_hint,
                            satisfying_value, __ATOMIC_RELAXED);
}

/* --- signal groups ------------------------------------------------------------------ */
#define SIM_GROUP_MAGIC 0x5055524753415348ull

typedef struct sim_group {
    uint64_t magic;
    uint32_t count;
    struct sim_group *next;
    hsa_signal_t signals[];
} sim_group;

static sim_group *g_groups; /* under g_sig_lock */

static sim_group *group_lookup_locked(hsa_signal_group_t g)
{
    for (sim_group *p = g_groups; p; p = p->next)
        if ((uint64_t)(uintptr_t)p == g.handle)
            return p;
    return NULL;
}

SIM_API hsa_status_t hsa_signal_group_create(uint32_t num_signals, const hsa_signal_t *signals,
                                             uint32_t num_consumers, const hsa_agent_t *consumers,
                                             hsa_signal_group_t *signal_group)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (num_signals == 0 || !signals || !signal_group || (num_consumers && !consumers))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < num_signals; i++) {
        sim_signal *s;
        hsa_status_t st = sig_checked(signals[i], &s);
        if (st != HSA_STATUS_SUCCESS)
            return st;
    }
    for (uint32_t i = 0; i < num_consumers; i++)
        if (!sim_agent_get(consumers[i]))
            return HSA_STATUS_ERROR_INVALID_AGENT;
    sim_group *g = malloc(sizeof *g + num_signals * sizeof(hsa_signal_t));
    if (!g)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    g->magic = SIM_GROUP_MAGIC;
    g->count = num_signals;
    memcpy(g->signals, signals, num_signals * sizeof(hsa_signal_t));
    pthread_mutex_lock(&g_sig_lock);
    g->next = g_groups;
    g_groups = g;
    pthread_mutex_unlock(&g_sig_lock);
    signal_group->handle = (uint64_t)(uintptr_t)g;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_signal_group_destroy(hsa_signal_group_t signal_group)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_mutex_lock(&g_sig_lock);
    sim_group **pp = &g_groups;
    while (*pp && (uint64_t)(uintptr_t)*pp != signal_group.handle)
        pp = &(*pp)->next;
    sim_group *g = *pp;
    if (g)
        *pp = g->next;
    pthread_mutex_unlock(&g_sig_lock);
    if (!g)
        return HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP;
    g->magic = 0;
    free(g);
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t group_wait(hsa_signal_group_t signal_group,
                               const hsa_signal_condition_t *conditions,
                               const hsa_signal_value_t *compare_values,
                               hsa_wait_state_t wait_state_hint, hsa_signal_t *signal,
                               hsa_signal_value_t *value, int order)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!conditions || !compare_values || !signal)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* Copy the list so that a concurrent group destroy cannot pull it away. */
    pthread_mutex_lock(&g_sig_lock);
    sim_group *g = group_lookup_locked(signal_group);
    uint32_t n = g ? g->count : 0;
    hsa_signal_t *list = g ? malloc(n * sizeof *list) : NULL;
    if (list)
        memcpy(list, g->signals, n * sizeof *list);
    pthread_mutex_unlock(&g_sig_lock);
    if (!g)
        return HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP;
    if (!list)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    uint32_t index = wait_any_handles(n, list, conditions, compare_values, UINT64_MAX,
                                      wait_state_hint, value, order);
    hsa_status_t st = HSA_STATUS_SUCCESS;
    if (index >= n)
        st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
    else
        *signal = list[index];
    free(list);
    return st;
}

SIM_API hsa_status_t hsa_signal_group_wait_any_relaxed(hsa_signal_group_t signal_group,
                                                       const hsa_signal_condition_t *conditions,
                                                       const hsa_signal_value_t *compare_values,
                                                       hsa_wait_state_t wait_state_hint,
                                                       hsa_signal_t *signal,
                                                       hsa_signal_value_t *value)
{
    return group_wait(signal_group, conditions, compare_values, wait_state_hint, signal, value,
                      __ATOMIC_RELAXED);
}

SIM_API hsa_status_t hsa_signal_group_wait_any_scacquire(
    hsa_signal_group_t signal_group, const hsa_signal_condition_t *conditions,
    const hsa_signal_value_t *compare_values, hsa_wait_state_t wait_state_hint,
    hsa_signal_t *signal, hsa_signal_value_t *value)
{
    return group_wait(signal_group, conditions, compare_values, wait_state_hint, signal, value,
                      __ATOMIC_ACQUIRE);
}

/* --- the asynchronous handler thread ------------------------------------------------
 * As ROCR's Runtime::AsyncEventsLoop: one thread for the runtime, started by
 * the first registration; it calls every handler whose condition holds (with
 * the value seen), drops a handler that returns false and drops handlers of
 * destroyed signals without calling them.  hsa_amd_async_function's
 * callbacks run on it too.  With nothing to watch it sleeps on g_any_seq
 * until a registration kicks it.  g_async.lock guards the pending list and
 * the thread's life; the handlers are called with no lock held. */
typedef struct async_entry {
    sim_signal *sig; /* NULL: a plain function (hsa_amd_async_function) */
    hsa_signal_condition_t cond;
    hsa_signal_value_t value;
    hsa_amd_signal_handler handler;
    void (*func)(void *);
    void *arg;
} async_entry;

typedef struct async_list {
    async_entry *v;
    size_t n, cap;
} async_list;

static struct {
    pthread_mutex_t lock;
    bool started;
    pthread_t thread;
    async_list pending;
    _Atomic bool has_pending;
    _Atomic bool exit;
} g_async = {.lock = PTHREAD_MUTEX_INITIALIZER};

static bool async_push(async_list *l, const async_entry *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        async_entry *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return false;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *e;
    return true;
}

static bool async_stop(void *arg)
{
    (void)arg;
    return atomic_load_explicit(&g_async.has_pending, memory_order_acquire) ||
           atomic_load_explicit(&g_async.exit, memory_order_acquire);
}

static void *async_loop(void *arg)
{
    (void)arg;
    async_list live = {0}, funcs = {0};
    sim_signal **sigs = NULL;
    hsa_signal_condition_t *conds = NULL;
    hsa_signal_value_t *vals = NULL;
    size_t arrays_cap = 0;

    for (;;) {
        /* Take new registrations. */
        pthread_mutex_lock(&g_async.lock);
        bool quit = atomic_load_explicit(&g_async.exit, memory_order_acquire);
        atomic_store_explicit(&g_async.has_pending, false, memory_order_relaxed);
        for (size_t i = 0; i < g_async.pending.n; i++) {
            async_entry *e = &g_async.pending.v[i];
            if (quit) {
                if (e->sig)
                    sim_signal_release(e->sig);
            } else if (!async_push(e->sig ? &live : &funcs, e)) {
                if (e->sig) /* out of memory: the registration is lost */
                    sim_signal_release(e->sig);
            }
        }
        g_async.pending.n = 0;
        pthread_mutex_unlock(&g_async.lock);
        if (quit)
            break;

        for (size_t i = 0; i < funcs.n; i++)
            funcs.v[i].func(funcs.v[i].arg);
        funcs.n = 0;

        /* Call satisfied handlers; drop dead signals and finished handlers. */
        bool called = false;
        for (size_t i = 0; i < live.n;) {
            async_entry *e = &live.v[i];
            bool drop = false;
            if (!sig_alive(e->sig)) {
                drop = true;
            } else {
                hsa_signal_value_t v = __atomic_load_n(val_ptr(e->sig), __ATOMIC_ACQUIRE);
                if (cond_met(e->cond, v, e->value) > 0) {
                    called = true;
                    drop = !e->handler(v, e->arg);
                }
            }
            if (drop) {
                sim_signal_release(e->sig);
                live.v[i] = live.v[--live.n];
            } else {
                i++;
            }
        }
        if (called)
            continue;

        /* Sleep until one of them changes or a registration arrives. */
        if (live.n > arrays_cap) {
            size_t cap = live.n * 2;
            sim_signal **s2 = realloc(sigs, cap * sizeof *s2);
            if (s2)
                sigs = s2;
            hsa_signal_condition_t *c2 = realloc(conds, cap * sizeof *c2);
            if (c2)
                conds = c2;
            hsa_signal_value_t *v2 = realloc(vals, cap * sizeof *v2);
            if (v2)
                vals = v2;
            if (!s2 || !c2 || !v2) { /* out of memory: poll */
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
                continue;
            }
            arrays_cap = cap;
        }
        for (size_t i = 0; i < live.n; i++) {
            sigs[i] = live.v[i].sig;
            conds[i] = live.v[i].cond;
            vals[i] = live.v[i].value;
        }
        (void)sig_wait_any((uint32_t)live.n, sigs, conds, vals, UINT64_MAX,
                           HSA_WAIT_STATE_BLOCKED, NULL, __ATOMIC_RELAXED, async_stop, NULL);
    }

    for (size_t i = 0; i < live.n; i++)
        sim_signal_release(live.v[i].sig);
    free(live.v);
    free(funcs.v);
    free(sigs);
    free(conds);
    free(vals);
    return NULL;
}

static hsa_status_t async_register(sim_signal *s, hsa_signal_condition_t cond,
                                   hsa_signal_value_t value, hsa_amd_signal_handler handler,
                                   void (*func)(void *), void *arg)
{
    async_entry e = {s, cond, value, handler, func, arg};
    pthread_mutex_lock(&g_async.lock);
    if (!g_async.started) {
        atomic_store_explicit(&g_async.exit, false, memory_order_relaxed);
        if (pthread_create(&g_async.thread, NULL, async_loop, NULL) != 0) {
            pthread_mutex_unlock(&g_async.lock);
            return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        }
        g_async.started = true;
    }
    if (!async_push(&g_async.pending, &e)) {
        pthread_mutex_unlock(&g_async.lock);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    atomic_store_explicit(&g_async.has_pending, true, memory_order_release);
    pthread_mutex_unlock(&g_async.lock);
    any_kick();
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_amd_signal_async_handler(hsa_signal_t signal, hsa_signal_condition_t cond,
                                                  hsa_signal_value_t value,
                                                  hsa_amd_signal_handler handler, void *arg)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!handler)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_signal *s;
    hsa_status_t st = sig_checked(signal, &s);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (interrupts_enabled() && s->busy_wait)
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    /* ROCR does not check cond; an invalid one would make its loop spin. */
    if (cond_met(cond, 0, 0) < 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!sim_signal_retain(s))
        return HSA_STATUS_ERROR_INVALID_SIGNAL;
    st = async_register(s, cond, value, handler, NULL, arg);
    if (st != HSA_STATUS_SUCCESS)
        sim_signal_release(s);
    return st;
}

SIM_API hsa_status_t hsa_amd_async_function(void (*callback)(void *arg), void *arg)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return async_register(NULL, HSA_SIGNAL_CONDITION_EQ, 0, NULL, callback, arg);
}

void sim_signals_shutdown(void)
{
    /* Stop the handler thread (ROCR AsyncEventsControl::Shutdown): pending
     * and registered handlers are dropped without being called. */
    pthread_mutex_lock(&g_async.lock);
    bool started = g_async.started;
    pthread_t thread = g_async.thread;
    g_async.started = false;
    atomic_store_explicit(&g_async.exit, true, memory_order_release);
    pthread_mutex_unlock(&g_async.lock);
    if (started) {
        any_kick();
        if (pthread_equal(thread, pthread_self()))
            pthread_detach(thread);
        else
            pthread_join(thread, NULL);
    }

    /* Every user signal dies with the runtime; waiters return 0. */
    uint32_t n = atomic_load_explicit(&g_nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *base = atomic_load_explicit(&g_slabs[i].base, memory_order_relaxed);
        for (size_t j = 0; j < g_slabs[i].count; j++) {
            sim_signal *s = &base[j];
            if (atomic_load_explicit(&s->magic, memory_order_acquire) == SIM_SIGNAL_MAGIC_LIVE &&
                !s->internal)
                sig_invalidate(s);
        }
    }

    pthread_mutex_lock(&g_sig_lock);
    sim_group *g = g_groups;
    g_groups = NULL;
    pthread_mutex_unlock(&g_sig_lock);
    while (g) {
        sim_group *next = g->next;
        free(g);
        g = next;
    }
}
