/* hsasim's asynchronous signal handler thread (hsa_amd_signal_async_handler,
 * hsa_amd_async_function).
 *
 * As ROCR's Runtime::AsyncEventsLoop: one thread for the runtime, started by
 * the first registration; it calls every handler whose condition holds (with
 * the value seen), drops a handler that returns false and drops handlers of
 * destroyed signals without calling them.  hsa_amd_async_function's
 * callbacks run on it too.  With nothing to watch it sleeps on sim_any_seq
 * until a registration kicks it.  g_async.lock guards the pending list and
 * the thread's life; the handlers are called with no lock held. */
#include <pthread.h>
#include <string.h>

#include "signal_impl.h"

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
        (void)sim_signal_wait_any_timed((uint32_t)live.n, sigs, conds, vals, UINT64_MAX,
                                        HSA_WAIT_STATE_BLOCKED, NULL, __ATOMIC_RELAXED, async_stop,
                                        NULL);
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
    if (sim_signal_interrupts_enabled() && s->busy_wait)
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

void sim_signal_async_stop(void)
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
}
