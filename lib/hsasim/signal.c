/* hsasim signals: the slabs, references, sleeping, creation and destruction
 * (signal_impl.h has the design and what ROCR does). */
#include <string.h>

#include "signal_impl.h"

sim_signal_slab sim_signal_slabs[SLAB_MAX];
_Atomic uint32_t sim_signal_nslabs;
pthread_mutex_t sim_signal_lock = PTHREAD_MUTEX_INITIALIZER;
static sim_signal *g_free_list; /* under sim_signal_lock */

_Atomic uint32_t sim_any_seq;
_Atomic uint32_t sim_any_sleepers;

/* --- helpers ---------------------------------------------------------------- */
uint64_t sim_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
    pthread_mutex_lock(&sim_signal_lock);
    atomic_store_explicit(&s->magic, SIM_SIGNAL_MAGIC_FREE, memory_order_release);
    s->next_free = g_free_list;
    g_free_list = s;
    pthread_mutex_unlock(&sim_signal_lock);
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
    uint32_t n = atomic_load_explicit(&sim_signal_nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *base = atomic_load_explicit(&sim_signal_slabs[i].base, memory_order_relaxed);
        for (size_t j = 0; j < sim_signal_slabs[i].count; j++) {
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
    pthread_mutex_lock(&sim_signal_lock);
    if (!g_free_list) {
        uint32_t n = atomic_load_explicit(&sim_signal_nslabs, memory_order_relaxed);
        size_t count = n < 10 ? (size_t)64 << n : 65536;
        sim_signal *slab = n < SLAB_MAX ? aligned_alloc(AMD_SIGNAL_ALIGN_BYTES,
                                                        count * sizeof(sim_signal))
                                        : NULL;
        if (!slab) {
            pthread_mutex_unlock(&sim_signal_lock);
            return NULL;
        }
        memset(slab, 0, count * sizeof(sim_signal));
        for (size_t i = count; i-- > 0;) {
            atomic_init(&slab[i].magic, SIM_SIGNAL_MAGIC_FREE);
            slab[i].next_free = g_free_list;
            g_free_list = &slab[i];
        }
        sim_signal_slabs[n].count = count;
        atomic_store_explicit(&sim_signal_slabs[n].base, slab, memory_order_relaxed);
        atomic_store_explicit(&sim_signal_nslabs, n + 1, memory_order_release);
    }
    sim_signal *s = g_free_list;
    g_free_list = s->next_free;
    s->next_free = NULL;
    pthread_mutex_unlock(&sim_signal_lock);

    /* seq and the waiter counts are left as they are: stale waiters (none
     * should exist once refs reached 0) and wake_all read them atomically. */
    __atomic_store_n(val_ptr(s), initial, __ATOMIC_RELAXED);
    s->amd.event_mailbox_ptr = 0;
    s->amd.event_id = 0;
    s->amd.start_ts = 0;
    s->amd.end_ts = 0;
    s->amd.queue_ptr = NULL;
    atomic_store_explicit(&s->copy_agent, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->sdma_start_ts, 0, memory_order_relaxed);
    atomic_store_explicit(&s->sdma_end_ts, 0, memory_order_relaxed);
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

bool sim_signal_interrupts_enabled(void)
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
    bool busy =
        ipc || (attributes & HSA_AMD_SIGNAL_AMD_GPU_ONLY) || !sim_signal_interrupts_enabled();
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

void sim_signals_shutdown(void)
{
    sim_signal_async_stop();

    /* Every user signal dies with the runtime; waiters return 0. */
    uint32_t n = atomic_load_explicit(&sim_signal_nslabs, memory_order_acquire);
    for (uint32_t i = 0; i < n; i++) {
        sim_signal *base = atomic_load_explicit(&sim_signal_slabs[i].base, memory_order_relaxed);
        for (size_t j = 0; j < sim_signal_slabs[i].count; j++) {
            sim_signal *s = &base[j];
            if (atomic_load_explicit(&s->magic, memory_order_acquire) == SIM_SIGNAL_MAGIC_LIVE &&
                !s->internal)
                sig_invalidate(s);
        }
    }

    sim_signal_groups_free();
}
