/* hsasim signal values: loads, stores, read-modify-writes (fast paths: an
 * invalid handle aborts, as ROCR's Signal::Convert throws). */
#include "signal_impl.h"

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

/* The deprecated names (ROCR's hsacore.so.link) are aliases of the exported
 * entry points (gen_api.py). */
