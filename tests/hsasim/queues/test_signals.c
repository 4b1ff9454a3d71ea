/* hsasim signals through the public HSA API: every load/store/RMW variant
 * (including the deprecated names), argument checks, blocking waits and
 * timeouts, waits on many threads, wait-any and signal groups, and the
 * asynchronous handler thread. */
#include <hsa/amd_hsa_signal.h>
#include <stdatomic.h>
#include <string.h>

#include "hsaq_common.h"

/* The deprecated names are part of the ABI under test. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static hsa_signal_t make_signal(hsa_signal_value_t v)
{
    hsa_signal_t s = {0};
    REQUIRE(hsa_signal_create(v, 0, NULL, &s) == HSA_STATUS_SUCCESS);
    REQUIRE(s.handle != 0);
    return s;
}

/* --- operations ---------------------------------------------------------- */
typedef hsa_signal_value_t (*load_fn)(hsa_signal_t);
typedef void (*store_fn)(hsa_signal_t, hsa_signal_value_t);
typedef hsa_signal_value_t (*xchg_fn)(hsa_signal_t, hsa_signal_value_t);
typedef hsa_signal_value_t (*cas_fn)(hsa_signal_t, hsa_signal_value_t, hsa_signal_value_t);

#define F(fn) {fn, #fn}

static void test_ops(void)
{
    hsa_signal_t s = make_signal(5);

    /* layout: the handle is an amd_signal_t holding the value */
    const amd_signal_t *amd = (const amd_signal_t *)(uintptr_t)s.handle;
    CHECK(s.handle % 64 == 0);
    CHECK_EQ_U64(amd->kind, AMD_SIGNAL_KIND_USER);
    CHECK_EQ_U64(amd->value, 5);

    struct { load_fn f; const char *n; } loads[] = {
        F(hsa_signal_load_relaxed), F(hsa_signal_load_scacquire), F(hsa_signal_load_acquire)};
    for (size_t i = 0; i < sizeof loads / sizeof *loads; i++)
        CHECK_EQ_U64(loads[i].f(s), 5);

    struct { store_fn f; const char *n; } stores[] = {
        F(hsa_signal_store_relaxed), F(hsa_signal_store_screlease), F(hsa_signal_store_release),
        F(hsa_signal_silent_store_relaxed), F(hsa_signal_silent_store_screlease)};
    for (size_t i = 0; i < sizeof stores / sizeof *stores; i++) {
        stores[i].f(s, (hsa_signal_value_t)(100 + i));
        if (hsa_signal_load_scacquire(s) != (hsa_signal_value_t)(100 + i))
            fprintf(stderr, "%s\n", stores[i].n);
        CHECK_EQ_U64(hsa_signal_load_scacquire(s), 100 + i);
        CHECK_EQ_U64(amd->value, 100 + i);
    }

    /* Read-modify-writes: each variant from a known value. */
    struct { store_fn f; const char *n; int op; } rmws[] = {
        {hsa_signal_add_relaxed, "add_relaxed", 0}, {hsa_signal_add_scacquire, "add_scacquire", 0},
        {hsa_signal_add_screlease, "add_screlease", 0}, {hsa_signal_add_scacq_screl, "add_scacq_screl", 0},
        {hsa_signal_add_acquire, "add_acquire", 0}, {hsa_signal_add_release, "add_release", 0},
        {hsa_signal_add_acq_rel, "add_acq_rel", 0},
        {hsa_signal_subtract_relaxed, "sub_relaxed", 1}, {hsa_signal_subtract_scacquire, "sub_scacquire", 1},
        {hsa_signal_subtract_screlease, "sub_screlease", 1},
        {hsa_signal_subtract_scacq_screl, "sub_scacq_screl", 1},
        {hsa_signal_subtract_acquire, "sub_acquire", 1}, {hsa_signal_subtract_release, "sub_release", 1},
        {hsa_signal_subtract_acq_rel, "sub_acq_rel", 1},
        {hsa_signal_and_relaxed, "and_relaxed", 2}, {hsa_signal_and_scacquire, "and_scacquire", 2},
        {hsa_signal_and_screlease, "and_screlease", 2}, {hsa_signal_and_scacq_screl, "and_scacq_screl", 2},
        {hsa_signal_and_acquire, "and_acquire", 2}, {hsa_signal_and_release, "and_release", 2},
        {hsa_signal_and_acq_rel, "and_acq_rel", 2},
        {hsa_signal_or_relaxed, "or_relaxed", 3}, {hsa_signal_or_scacquire, "or_scacquire", 3},
        {hsa_signal_or_screlease, "or_screlease", 3}, {hsa_signal_or_scacq_screl, "or_scacq_screl", 3},
        {hsa_signal_or_acquire, "or_acquire", 3}, {hsa_signal_or_release, "or_release", 3},
        {hsa_signal_or_acq_rel, "or_acq_rel", 3},
        {hsa_signal_xor_relaxed, "xor_relaxed", 4}, {hsa_signal_xor_scacquire, "xor_scacquire", 4},
        {hsa_signal_xor_screlease, "xor_screlease", 4}, {hsa_signal_xor_scacq_screl, "xor_scacq_screl", 4},
        {hsa_signal_xor_acquire, "xor_acquire", 4}, {hsa_signal_xor_release, "xor_release", 4},
        {hsa_signal_xor_acq_rel, "xor_acq_rel", 4},
    };
    const hsa_signal_value_t start = 0x0ff0, arg = 0x3c3c;
    for (size_t i = 0; i < sizeof rmws / sizeof *rmws; i++) {
        hsa_signal_store_relaxed(s, start);
        rmws[i].f(s, arg);
        hsa_signal_value_t want = 0;
        switch (rmws[i].op) {
        case 0: want = start + arg; break;
        case 1: want = start - arg; break;
        case 2: want = start & arg; break;
        case 3: want = start | arg; break;
        case 4: want = start ^ arg; break;
        }
        if (hsa_signal_load_relaxed(s) != want)
            fprintf(stderr, "%s: %ld != %ld\n", rmws[i].n, (long)hsa_signal_load_relaxed(s),
                    (long)want);
        CHECK(hsa_signal_load_relaxed(s) == want);
    }
    /* negative values and wrap-free arithmetic on int64 */
    hsa_signal_store_relaxed(s, 1);
    hsa_signal_subtract_relaxed(s, 3);
    CHECK(hsa_signal_load_relaxed(s) == -2);
    hsa_signal_add_relaxed(s, INT64_C(1) << 40);
    CHECK(hsa_signal_load_relaxed(s) == (INT64_C(1) << 40) - 2);

    struct { xchg_fn f; const char *n; } xchgs[] = {
        F(hsa_signal_exchange_relaxed), F(hsa_signal_exchange_scacquire),
        F(hsa_signal_exchange_screlease), F(hsa_signal_exchange_scacq_screl),
        F(hsa_signal_exchange_acquire), F(hsa_signal_exchange_release),
        F(hsa_signal_exchange_acq_rel)};
    hsa_signal_store_relaxed(s, 7);
    for (size_t i = 0; i < sizeof xchgs / sizeof *xchgs; i++) {
        hsa_signal_value_t old = xchgs[i].f(s, (hsa_signal_value_t)(200 + i));
        CHECK(old == (i ? (hsa_signal_value_t)(200 + i - 1) : 7));
        CHECK(hsa_signal_load_relaxed(s) == (hsa_signal_value_t)(200 + i));
    }

    struct { cas_fn f; const char *n; } cases[] = {
        F(hsa_signal_cas_relaxed), F(hsa_signal_cas_scacquire), F(hsa_signal_cas_screlease),
        F(hsa_signal_cas_scacq_screl), F(hsa_signal_cas_acquire), F(hsa_signal_cas_release),
        F(hsa_signal_cas_acq_rel)};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        hsa_signal_store_relaxed(s, 10);
        /* failing: returns the current value, leaves it */
        CHECK(cases[i].f(s, 11, 99) == 10);
        CHECK(hsa_signal_load_relaxed(s) == 10);
        /* succeeding: returns the old value, swaps */
        CHECK(cases[i].f(s, 10, 42) == 10);
        CHECK(hsa_signal_load_relaxed(s) == 42);
    }
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
}

/* --- creation, destruction, value pointers ------------------------------- */
static bool handler_true(hsa_signal_value_t v, void *arg)
{
    (void)v;
    (void)arg;
    return true;
}

static void test_create_destroy(void)
{
    hsa_signal_t s;
    CHECK(hsa_signal_create(0, 0, NULL, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    hsa_signal_t zero = {0}, garbage = {0x123456789a0ull}, odd = {0};
    CHECK(hsa_signal_destroy(zero) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_signal_destroy(garbage) == HSA_STATUS_ERROR_INVALID_SIGNAL);
    s = make_signal(1);
    odd.handle = s.handle + 8;
    CHECK(hsa_signal_destroy(odd) == HSA_STATUS_ERROR_INVALID_SIGNAL);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_ERROR_INVALID_SIGNAL);

    /* Many live signals have distinct handles; all destroy. */
    enum { N = 1000 };
    static hsa_signal_t many[N];
    for (int i = 0; i < N; i++) {
        many[i] = make_signal(i);
        for (int j = 0; j < i; j += 97)
            CHECK(many[j].handle != many[i].handle);
    }
    for (int i = 0; i < N; i++)
        CHECK(hsa_signal_load_relaxed(many[i]) == i);
    for (int i = 0; i < N; i++)
        CHECK(hsa_signal_destroy(many[i]) == HSA_STATUS_SUCCESS);

    /* Value pointers: only busy-wait (ROCR DefaultSignal) signals have one. */
    volatile hsa_signal_value_t *vp = NULL;
    s = make_signal(3);
    CHECK(hsa_amd_signal_value_pointer(s, &vp) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_signal_value_pointer(s, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_signal_value_pointer(zero, &vp) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_signal_value_pointer(garbage, &vp) == HSA_STATUS_ERROR_INVALID_SIGNAL);
    /* ... and interrupt signals take async handlers (checked below). */
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);

    CHECK(hsa_amd_signal_create(3, 0, NULL, HSA_AMD_SIGNAL_AMD_GPU_ONLY, &s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_signal_value_pointer(s, &vp) == HSA_STATUS_SUCCESS);
    CHECK(vp == &((amd_signal_t *)(uintptr_t)s.handle)->value);
    CHECK(*vp == 3);
    __atomic_store_n((hsa_signal_value_t *)(uintptr_t)vp, 9, __ATOMIC_RELEASE);
    CHECK(hsa_signal_load_scacquire(s) == 9);
    /* A busy-wait signal written through its pointer is still seen by a
     * blocking wait (polled). */
    CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 9, MS(1000),
                                    HSA_WAIT_STATE_BLOCKED) == 9);
    CHECK(hsa_amd_signal_async_handler(s, HSA_SIGNAL_CONDITION_EQ, 0, handler_true, NULL) ==
          HSA_STATUS_ERROR_INVALID_SIGNAL);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);

    /* Consumers: duplicates are an error; without a CPU: busy-wait. */
    hsa_agent_t two_gpus[2] = {hsaq_gpus[0], hsaq_gpus[0]};
    CHECK(hsa_signal_create(0, 2, two_gpus, &s) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_signal_create(0, 1, NULL, &s) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_signal_create(0, 1, hsaq_gpus, &s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_signal_value_pointer(s, &vp) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
    hsa_agent_t gpu_cpu[2] = {hsaq_gpus[1], hsaq_cpu};
    CHECK(hsa_signal_create(0, 2, gpu_cpu, &s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_signal_value_pointer(s, &vp) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_signal_create(0, 0, NULL, HSA_AMD_SIGNAL_IPC, &s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
}

/* --- waits ------------------------------------------------------------------ */
typedef struct setter {
    hsa_signal_t s;
    unsigned delay_ms;
    hsa_signal_value_t value;
    bool destroy;
} setter;

static void *setter_main(void *arg)
{
    setter *st = arg;
    hsaq_sleep_ms(st->delay_ms);
    if (st->destroy)
        CHECK(hsa_signal_destroy(st->s) == HSA_STATUS_SUCCESS);
    else
        hsa_signal_store_screlease(st->s, st->value);
    return NULL;
}

static void test_waits(void)
{
    hsa_signal_t s = make_signal(0);
    /* satisfied at once: every condition, both orders, both hints */
    for (int hint = 0; hint < 2; hint++) {
        hsa_wait_state_t h = hint ? HSA_WAIT_STATE_ACTIVE : HSA_WAIT_STATE_BLOCKED;
        hsa_signal_store_relaxed(s, 4);
        CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 4, UINT64_MAX, h) == 4);
        CHECK(hsa_signal_wait_relaxed(s, HSA_SIGNAL_CONDITION_NE, 3, UINT64_MAX, h) == 4);
        CHECK(hsa_signal_wait_acquire(s, HSA_SIGNAL_CONDITION_LT, 5, UINT64_MAX, h) == 4);
        CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_GTE, 4, UINT64_MAX, h) == 4);
        CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_GTE, -10, 0, h) == 4);
    }
    /* an invalid condition returns 0 (ROCR) */
    CHECK(hsa_signal_wait_scacquire(s, (hsa_signal_condition_t)77, 4, MS(10),
                                    HSA_WAIT_STATE_BLOCKED) == 0);

    /* not satisfied: timeout 0 returns the current value at once */
    uint64_t t0 = hsaq_now_ns();
    CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, 0, HSA_WAIT_STATE_BLOCKED) == 4);
    CHECK(hsaq_now_ns() - t0 < MS(2000));

    /* timeouts: returns the current value after at least the hint */
    uint64_t hints[] = {MS(1), MS(20), MS(120)};
    for (size_t i = 0; i < 3; i++)
        for (int hint = 0; hint < 2; hint++) {
            t0 = hsaq_now_ns();
            hsa_signal_value_t v = hsa_signal_wait_relaxed(
                s, HSA_SIGNAL_CONDITION_LT, 0, hints[i],
                hint ? HSA_WAIT_STATE_ACTIVE : HSA_WAIT_STATE_BLOCKED);
            uint64_t dt = hsaq_now_ns() - t0;
            CHECK(v == 4);
            CHECK(dt >= hints[i]);
            CHECK(dt < hints[i] + MS(2000));
        }

    /* satisfied later by another thread */
    setter st = {s, 30, 17, false};
    pthread_t th;
    t0 = hsaq_now_ns();
    REQUIRE(pthread_create(&th, NULL, setter_main, &st) == 0);
    CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 17, UINT64_MAX,
                                    HSA_WAIT_STATE_BLOCKED) == 17);
    CHECK(hsaq_now_ns() - t0 >= MS(25));
    pthread_join(th, NULL);

    /* a wait with a finite hint still ends early when satisfied */
    st.value = 18;
    t0 = hsaq_now_ns();
    REQUIRE(pthread_create(&th, NULL, setter_main, &st) == 0);
    CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_GTE, 18, MS(60000),
                                    HSA_WAIT_STATE_BLOCKED) == 18);
    CHECK(hsaq_now_ns() - t0 < MS(30000));
    pthread_join(th, NULL);

    /* destroyed while waited on: the wait returns 0 (ROCR) */
    setter sd = {s, 30, 0, true};
    REQUIRE(pthread_create(&th, NULL, setter_main, &sd) == 0);
    CHECK(hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 12345, UINT64_MAX,
                                    HSA_WAIT_STATE_BLOCKED) == 0);
    pthread_join(th, NULL);
}

/* Many threads waiting on one signal, each for its own threshold. */
enum { N_WAITERS = 12 };
typedef struct waiter {
    hsa_signal_t s;
    int index;
    hsa_signal_value_t got;
    _Atomic int done;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    w->got = hsa_signal_wait_scacquire(w->s, HSA_SIGNAL_CONDITION_GTE, w->index, UINT64_MAX,
                                       HSA_WAIT_STATE_BLOCKED);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_many_waiters(void)
{
    hsa_signal_t s = make_signal(-1);
    static waiter w[N_WAITERS];
    pthread_t th[N_WAITERS];
    for (int i = 0; i < N_WAITERS; i++) {
        w[i] = (waiter){.s = s, .index = i};
        REQUIRE(pthread_create(&th[i], NULL, waiter_main, &w[i]) == 0);
    }
    hsaq_sleep_ms(20);
    for (int i = 0; i < N_WAITERS; i++)
        CHECK(atomic_load(&w[i].done) == 0);
    /* raise the value step by step: exactly the waiters at or below it go */
    for (int v = 0; v < N_WAITERS; v++) {
        hsa_signal_add_screlease(s, 1);
        uint64_t t0 = hsaq_now_ns();
        while (atomic_load(&w[v].done) == 0 && hsaq_now_ns() - t0 < MS(10000))
            hsaq_sleep_ms(1);
        CHECK(atomic_load(&w[v].done) == 1);
        if (v + 1 < N_WAITERS)
            CHECK(atomic_load(&w[v + 1].done) == 0 || w[v + 1].got >= v + 1);
    }
    for (int i = 0; i < N_WAITERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].got >= i);
    }
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);

    /* all of them on one condition, released by a single store */
    s = make_signal(-5);
    for (int i = 0; i < N_WAITERS; i++) {
        w[i] = (waiter){.s = s, .index = 0};
        REQUIRE(pthread_create(&th[i], NULL, waiter_main, &w[i]) == 0);
    }
    hsaq_sleep_ms(10);
    hsa_signal_store_screlease(s, 0);
    for (int i = 0; i < N_WAITERS; i++) {
        pthread_join(th[i], NULL);
        CHECK(w[i].got == 0);
    }
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
}

/* --- wait any and groups -------------------------------------------------------- */
static void test_wait_any_groups(void)
{
    hsa_signal_t sigs[3] = {make_signal(1), make_signal(1), make_signal(1)};
    hsa_signal_condition_t conds[3] = {HSA_SIGNAL_CONDITION_EQ, HSA_SIGNAL_CONDITION_EQ,
                                       HSA_SIGNAL_CONDITION_LT};
    hsa_signal_value_t vals[3] = {0, 0, 0};
    hsa_signal_value_t got = 99;

    /* timeout */
    uint64_t t0 = hsaq_now_ns();
    CHECK(hsa_amd_signal_wait_any(3, sigs, conds, vals, MS(30), HSA_WAIT_STATE_BLOCKED, &got) ==
          UINT32_MAX);
    CHECK(hsaq_now_ns() - t0 >= MS(30));
    /* already satisfied */
    hsa_signal_store_relaxed(sigs[2], -5);
    CHECK(hsa_amd_signal_wait_any(3, sigs, conds, vals, UINT64_MAX, HSA_WAIT_STATE_BLOCKED, &got) ==
          2);
    CHECK(got == -5);
    hsa_signal_store_relaxed(sigs[2], 1);
    /* satisfied later by another thread */
    setter st = {sigs[1], 20, 0, false};
    pthread_t th;
    REQUIRE(pthread_create(&th, NULL, setter_main, &st) == 0);
    CHECK(hsa_amd_signal_wait_any(3, sigs, conds, vals, UINT64_MAX, HSA_WAIT_STATE_BLOCKED, &got) ==
          1);
    CHECK(got == 0);
    pthread_join(th, NULL);
    hsa_signal_store_relaxed(sigs[1], 1);
    /* an invalid signal ends the wait */
    hsa_signal_t bad[2] = {sigs[0], {0x1230}};
    CHECK(hsa_amd_signal_wait_any(2, bad, conds, vals, MS(10), HSA_WAIT_STATE_BLOCKED, NULL) ==
          UINT32_MAX);

    /* groups */
    hsa_signal_group_t g, g2;
    CHECK(hsa_signal_group_create(0, sigs, 0, NULL, &g) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    hsa_signal_t with_zero[2] = {sigs[0], {0}};
    CHECK(hsa_signal_group_create(2, with_zero, 0, NULL, &g) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_signal_group_create(2, bad, 0, NULL, &g) == HSA_STATUS_ERROR_INVALID_SIGNAL);
    hsa_agent_t bad_agent = {0x40};
    CHECK(hsa_signal_group_create(3, sigs, 1, &bad_agent, &g) == HSA_STATUS_ERROR_INVALID_AGENT);
    REQUIRE(hsa_signal_group_create(3, sigs, 1, &hsaq_cpu, &g) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_group_create(2, sigs, 0, NULL, &g2) == HSA_STATUS_SUCCESS);

    hsa_signal_t which = {0};
    hsa_signal_store_relaxed(sigs[0], 0);
    CHECK(hsa_signal_group_wait_any_scacquire(g, conds, vals, HSA_WAIT_STATE_BLOCKED, &which,
                                              &got) == HSA_STATUS_SUCCESS);
    CHECK(which.handle == sigs[0].handle);
    CHECK(got == 0);
    hsa_signal_store_relaxed(sigs[0], 1);
    st = (setter){sigs[2], 20, -1, false};
    REQUIRE(pthread_create(&th, NULL, setter_main, &st) == 0);
    CHECK(hsa_signal_group_wait_any_relaxed(g, conds, vals, HSA_WAIT_STATE_ACTIVE, &which, &got) ==
          HSA_STATUS_SUCCESS);
    CHECK(which.handle == sigs[2].handle);
    CHECK(got == -1);
    pthread_join(th, NULL);

    hsa_signal_group_t bad_group = {0x5550};
    CHECK(hsa_signal_group_wait_any_relaxed(bad_group, conds, vals, HSA_WAIT_STATE_BLOCKED, &which,
                                            &got) == HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP);
    CHECK(hsa_signal_group_destroy(bad_group) == HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP);
    CHECK(hsa_signal_group_destroy(g) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_group_destroy(g) == HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP);
    CHECK(hsa_signal_group_destroy(g2) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < 3; i++)
        CHECK(hsa_signal_destroy(sigs[i]) == HSA_STATUS_SUCCESS);
}

/* --- async handlers ---------------------------------------------------------------- */
typedef struct handler_rec {
    _Atomic int calls;
    _Atomic hsa_signal_value_t last;
    int keep_for; /* return true this many times */
    pthread_t thread;
    _Atomic int have_thread;
} handler_rec;

static bool record_handler(hsa_signal_value_t v, void *arg)
{
    handler_rec *r = arg;
    int n = atomic_fetch_add(&r->calls, 1) + 1;
    atomic_store(&r->last, v);
    if (!atomic_load(&r->have_thread)) {
        r->thread = pthread_self();
        atomic_store(&r->have_thread, 1);
    }
    return n < r->keep_for;
}

static _Atomic int func_calls;
static pthread_t func_thread;
static void async_func(void *arg)
{
    func_thread = pthread_self();
    atomic_fetch_add(&func_calls, 1);
    CHECK(arg == &func_calls);
}

static bool wait_for(_Atomic int *p, int want, uint64_t timeout)
{
    uint64_t t0 = hsaq_now_ns();
    while (atomic_load(p) < want) {
        if (hsaq_now_ns() - t0 > timeout)
            return false;
        hsaq_sleep_ms(1);
    }
    return true;
}

static void test_async_handler(void)
{
    hsa_signal_t s = make_signal(1), zero = {0}, garbage = {0x98760};
    handler_rec r1 = {.keep_for = 1}, r2 = {.keep_for = 3}, r3 = {.keep_for = 100};

    CHECK(hsa_amd_signal_async_handler(s, HSA_SIGNAL_CONDITION_EQ, 0, NULL, &r1) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_signal_async_handler(zero, HSA_SIGNAL_CONDITION_EQ, 0, record_handler, &r1) ==
          HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_signal_async_handler(garbage, HSA_SIGNAL_CONDITION_EQ, 0, record_handler, &r1) ==
          HSA_STATUS_ERROR_INVALID_SIGNAL);

    /* returns false at once: called once with the value, then unregistered */
    REQUIRE(hsa_amd_signal_async_handler(s, HSA_SIGNAL_CONDITION_EQ, 5, record_handler, &r1) ==
            HSA_STATUS_SUCCESS);
    hsaq_sleep_ms(20);
    CHECK(atomic_load(&r1.calls) == 0);
    hsa_signal_store_screlease(s, 5);
    CHECK(wait_for(&r1.calls, 1, MS(10000)));
    CHECK(atomic_load(&r1.last) == 5);
    CHECK(!pthread_equal(r1.thread, pthread_self()));
    hsa_signal_store_screlease(s, 0);
    hsa_signal_store_screlease(s, 5);
    hsaq_sleep_ms(30);
    CHECK(atomic_load(&r1.calls) == 1);

    /* returns true twice, then false: three calls, on the same thread */
    hsa_signal_t s2 = make_signal(10);
    REQUIRE(hsa_amd_signal_async_handler(s2, HSA_SIGNAL_CONDITION_LT, 5, record_handler, &r2) ==
            HSA_STATUS_SUCCESS);
    for (int i = 0; i < 3; i++) {
        hsa_signal_store_screlease(s2, 1 - i);
        CHECK(wait_for(&r2.calls, i + 1, MS(10000)));
        hsa_signal_store_screlease(s2, 10);
    }
    hsaq_sleep_ms(10);
    hsa_signal_store_screlease(s2, 0);
    hsaq_sleep_ms(30);
    CHECK(atomic_load(&r2.calls) == 3);
    CHECK(pthread_equal(r1.thread, r2.thread)); /* one handler thread */

    /* a destroyed signal's handler is dropped without a call */
    hsa_signal_t s3 = make_signal(1);
    REQUIRE(hsa_amd_signal_async_handler(s3, HSA_SIGNAL_CONDITION_EQ, 0, record_handler, &r3) ==
            HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(s3) == HSA_STATUS_SUCCESS);
    hsaq_sleep_ms(30);
    CHECK(atomic_load(&r3.calls) == 0);

    /* hsa_amd_async_function runs on the same thread */
    CHECK(hsa_amd_async_function(NULL, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    REQUIRE(hsa_amd_async_function(async_func, &func_calls) == HSA_STATUS_SUCCESS);
    CHECK(wait_for(&func_calls, 1, MS(10000)));
    CHECK(pthread_equal(func_thread, r1.thread));

    /* idle: the handler thread sleeps while a handler waits */
    handler_rec r4 = {.keep_for = 1};
    hsa_signal_t s4 = make_signal(1);
    REQUIRE(hsa_amd_signal_async_handler(s4, HSA_SIGNAL_CONDITION_EQ, 0, record_handler, &r4) ==
            HSA_STATUS_SUCCESS);
    hsaq_sleep_ms(10);
    uint64_t c0 = hsaq_cpu_ns();
    hsaq_sleep_ms(200);
    uint64_t used = hsaq_cpu_ns() - c0;
    CHECK(used < MS(20));
    if (used >= MS(20))
        fprintf(stderr, "idle handler thread used %llu ns of CPU in 200 ms\n",
                (unsigned long long)used);
    hsa_signal_store_screlease(s4, 0);
    CHECK(wait_for(&r4.calls, 1, MS(10000)));
    CHECK(atomic_load(&r4.last) == 0);

    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(s2) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(s4) == HSA_STATUS_SUCCESS);
}

int main(void)
{
    /* Before hsa_init. */
    hsa_signal_t s;
    CHECK(hsa_signal_create(0, 0, NULL, &s) == HSA_STATUS_ERROR_NOT_INITIALIZED);

    hsaq_setup("hsasig");
    test_ops();
    test_create_destroy();
    test_waits();
    test_many_waiters();
    test_wait_any_groups();
    test_async_handler();
    hsaq_teardown();
    return check_result();
}
