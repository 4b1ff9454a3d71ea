/* Device loss inside hsasim: sim_queues_kill_agent stops every queue of the
 * agent (the dispatch in progress finishes its work-group and never
 * completes, later packets never run, the error callback runs once with the
 * status from the queue's thread) and leaves other agents' queues alone;
 * sim_signals_wake_all wakes waiters without satisfying their waits.
 * Barriers (AND/OR and AMD barrier-value) waiting forever are stopped too.
 * Links hsasim's objects to reach those internal calls.  The kernel is
 * "groups" of the host code object queue_kernels.co. */
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "hsaq_common.h"
#include "hsasim.h"
#include "queue_kernels.h"

static uint64_t groups_ko[HSAQ_MAX_GPUS]; /* per GPU */

/* What the kernel counts, in memory every GPU reaches. */
typedef struct counters {
    _Atomic int started;
    _Atomic uint32_t groups_run;
} counters;

typedef struct err_rec {
    _Atomic int calls;
    _Atomic int status;
    hsa_queue_t *_Atomic source;
    _Atomic int on_own_thread; /* not the test's thread */
} err_rec;

static pthread_t main_thread;

static void error_cb(hsa_status_t status, hsa_queue_t *source, void *data)
{
    err_rec *r = data;
    atomic_store(&r->status, (int)status);
    atomic_store(&r->source, source);
    atomic_store(&r->on_own_thread, !pthread_equal(pthread_self(), main_thread));
    atomic_fetch_add(&r->calls, 1);
}

static uint64_t submit_dispatch(hsa_queue_t *q, int gpu, const groups_args *args,
                                uint32_t groups, hsa_signal_t completion)
{
    uint64_t idx = hsa_queue_add_write_index_scacq_screl(q, 1);
    while (idx - hsa_queue_load_read_index_scacquire(q) >= q->size)
        sched_yield();
    hsa_kernel_dispatch_packet_t *slot =
        (hsa_kernel_dispatch_packet_t *)q->base_address + (idx & (q->size - 1));
    slot->workgroup_size_x = 1;
    slot->workgroup_size_y = 1;
    slot->workgroup_size_z = 1;
    slot->grid_size_x = groups;
    slot->grid_size_y = 1;
    slot->grid_size_z = 1;
    slot->private_segment_size = 0;
    slot->group_segment_size = 0;
    slot->kernel_object = groups_ko[gpu];
    slot->kernarg_address = hsaq_kernarg(args, sizeof *args);
    slot->completion_signal = completion;
    uint32_t hs = (HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE) |
                  (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE) |
                  (1u << 16) /* setup: 1 dimension */;
    __atomic_store_n((uint32_t *)slot, hs, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)idx);
    return idx;
}

static bool wait_calls(err_rec *r, int n)
{
    uint64_t t0 = hsaq_now_ns();
    while (atomic_load(&r->calls) < n) {
        if (hsaq_now_ns() - t0 > MS(10000))
            return false;
        hsaq_sleep_ms(1);
    }
    return true;
}

static void test_kill(void)
{
    sim_agent *gpu0 = sim_agent_get(hsaq_gpus[0]);
    REQUIRE(gpu0 != NULL);
    err_rec r0 = {0}, r0b = {0}, r1 = {0};
    hsa_queue_t *q0, *q0b, *q1;
    REQUIRE(hsa_queue_create(hsaq_gpus[0], 64, HSA_QUEUE_TYPE_MULTI, error_cb, &r0, 0, 0, &q0) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(hsa_queue_create(hsaq_gpus[0], 64, HSA_QUEUE_TYPE_MULTI, error_cb, &r0b, 0, 0, &q0b) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(hsa_queue_create(hsaq_gpus[1], 64, HSA_QUEUE_TYPE_MULTI, error_cb, &r1, 0, 0, &q1) ==
            HSA_STATUS_SUCCESS);

    /* q0: a long dispatch in progress and one behind it; q0b: idle */
    counters *c = hsaq_alloc(3 * sizeof *c); /* big, late, other */
    _Atomic int *started = &c[0].started, *started_late = &c[1].started;
    _Atomic uint32_t *groups_run = &c[0].groups_run;
    groups_args big = {started, groups_run, 5}, late = {started_late, &c[1].groups_run, 0};
    hsa_signal_t c_big, c_late, c_other;
    REQUIRE(hsa_signal_create(1, 0, NULL, &c_big) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &c_late) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &c_other) == HSA_STATUS_SUCCESS);
    submit_dispatch(q0, 0, &big, 1000, c_big);
    submit_dispatch(q0, 0, &late, 1, c_late);
    while (!atomic_load(started))
        hsaq_sleep_ms(1);

    sim_queues_kill_agent(gpu0, HSA_STATUS_ERROR);
    uint32_t at_kill = atomic_load(groups_run);

    CHECK(wait_calls(&r0, 1));
    CHECK(wait_calls(&r0b, 1));
    CHECK_EQ_U64((uint32_t)atomic_load(&r0.status), HSA_STATUS_ERROR);
    CHECK(atomic_load(&r0.source) == q0);
    CHECK(atomic_load(&r0.on_own_thread));
    CHECK_EQ_U64((uint32_t)atomic_load(&r0b.status), HSA_STATUS_ERROR);
    CHECK(atomic_load(&r0b.source) == q0b);

    /* the dispatch in flight stopped after its current work-group */
    hsaq_sleep_ms(50);
    uint32_t after = atomic_load(groups_run);
    CHECK(after <= at_kill + 1);
    CHECK(after < 1000);
    /* and never completes, nor does anything behind it or submitted later */
    CHECK(hsa_signal_wait_scacquire(c_big, HSA_SIGNAL_CONDITION_EQ, 0, MS(100),
                                    HSA_WAIT_STATE_BLOCKED) == 1);
    submit_dispatch(q0b, 0, &late, 1, c_late);
    hsaq_sleep_ms(50);
    CHECK(hsa_signal_load_scacquire(c_late) == 1);
    CHECK(atomic_load(started_late) == 0);

    /* a second kill does not call back again */
    sim_queues_kill_agent(gpu0, HSA_STATUS_ERROR_EXCEPTION);
    hsaq_sleep_ms(50);
    CHECK_EQ_U64(atomic_load(&r0.calls), 1);
    CHECK_EQ_U64(atomic_load(&r0b.calls), 1);

    /* the other GPU is untouched */
    CHECK_EQ_U64(atomic_load(&r1.calls), 0);
    groups_args other = {&c[2].started, &c[2].groups_run, 0};
    submit_dispatch(q1, 1, &other, 7, c_other);
    CHECK(hsa_signal_wait_scacquire(c_other, HSA_SIGNAL_CONDITION_EQ, 0, MS(60000),
                                    HSA_WAIT_STATE_BLOCKED) == 0);
    CHECK_EQ_U64(atomic_load(&c[2].groups_run), 7);

    CHECK(hsa_queue_destroy(q0) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(q0b) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(q1) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(c_big) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(c_late) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(c_other) == HSA_STATUS_SUCCESS);
    hsaq_free(c);
}

/* A barrier waiting on a signal that will never complete is stopped too. */
static void test_kill_in_barrier(void)
{
    err_rec r = {0};
    hsa_queue_t *q;
    REQUIRE(hsa_queue_create(hsaq_gpus[1], 64, HSA_QUEUE_TYPE_MULTI, error_cb, &r, 0, 0, &q) ==
            HSA_STATUS_SUCCESS);
    hsa_signal_t dep, done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &dep) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    uint64_t idx = hsa_queue_add_write_index_scacq_screl(q, 1);
    hsa_barrier_or_packet_t *b = (hsa_barrier_or_packet_t *)q->base_address + idx;
    memset((uint8_t *)b + 4, 0, 60);
    b->dep_signal[2] = dep;
    b->completion_signal = done;
    __atomic_store_n(&b->header,
                     (uint16_t)((HSA_PACKET_TYPE_BARRIER_OR << HSA_PACKET_HEADER_TYPE) |
                                (1u << HSA_PACKET_HEADER_BARRIER)),
                     __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)idx);
    uint64_t t0 = hsaq_now_ns();
    while (hsa_queue_load_read_index_scacquire(q) == 0 && hsaq_now_ns() - t0 < MS(10000))
        hsaq_sleep_ms(1);
    hsaq_sleep_ms(10);
    sim_queues_kill_agent(sim_agent_get(hsaq_gpus[1]), HSA_STATUS_ERROR);
    CHECK(wait_calls(&r, 1));
    hsa_signal_store_screlease(dep, 0); /* too late */
    hsaq_sleep_ms(30);
    CHECK(hsa_signal_load_scacquire(done) == 1);
    CHECK_EQ_U64(atomic_load(&r.calls), 1);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(dep) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
}

/* So is an AMD barrier-value packet whose condition never holds: the mask
 * keeps only bits that stay clear, whatever else changes. */
static void test_kill_in_barrier_value(void)
{
    err_rec r = {0};
    hsa_queue_t *q;
    REQUIRE(hsa_queue_create(hsaq_gpus[1], 64, HSA_QUEUE_TYPE_MULTI, error_cb, &r, 0, 0, &q) ==
            HSA_STATUS_SUCCESS);
    hsa_signal_t dep, done;
    REQUIRE(hsa_signal_create(0x100, 0, NULL, &dep) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    uint64_t idx = hsa_queue_add_write_index_scacq_screl(q, 1);
    hsa_amd_barrier_value_packet_t *b = (hsa_amd_barrier_value_packet_t *)q->base_address + idx;
    memset((uint8_t *)b + 4, 0, 60);
    b->signal = dep;
    b->value = 1;
    b->mask = 0xff;
    b->cond = HSA_SIGNAL_CONDITION_EQ;
    b->completion_signal = done;
    hsa_amd_vendor_packet_header_t h = {
        (uint16_t)((HSA_PACKET_TYPE_VENDOR_SPECIFIC << HSA_PACKET_HEADER_TYPE) |
                   (1u << HSA_PACKET_HEADER_BARRIER)),
        HSA_AMD_PACKET_TYPE_BARRIER_VALUE, 0};
    uint32_t hs;
    memcpy(&hs, &h, sizeof hs);
    __atomic_store_n((uint32_t *)b, hs, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)idx);
    uint64_t t0 = hsaq_now_ns();
    while (hsa_queue_load_read_index_scacquire(q) == 0 && hsaq_now_ns() - t0 < MS(10000))
        hsaq_sleep_ms(1);
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), 1);
    hsa_signal_store_screlease(dep, 0x200); /* a change, still (v & 0xff) != 1 */
    sim_queues_kill_agent(sim_agent_get(hsaq_gpus[1]), HSA_STATUS_ERROR);
    CHECK(wait_calls(&r, 1));
    CHECK_EQ_U64((uint32_t)atomic_load(&r.status), HSA_STATUS_ERROR);
    CHECK(atomic_load(&r.source) == q);
    hsa_signal_store_screlease(dep, 0x301); /* would satisfy it: too late */
    CHECK(hsa_signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, MS(30),
                                    HSA_WAIT_STATE_BLOCKED) == 1);
    CHECK_EQ_U64(atomic_load(&r.calls), 1);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(dep) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
}

/* A silent loss (HSA_STATUS_SUCCESS): the queue stops, nobody is told. */
static void test_silent_kill(void)
{
    err_rec r = {0};
    hsa_queue_t *q;
    REQUIRE(hsa_queue_create(hsaq_gpus[0], 64, HSA_QUEUE_TYPE_MULTI, error_cb, &r, 0, 0, &q) ==
            HSA_STATUS_SUCCESS);
    counters *k = hsaq_alloc(sizeof *k);
    groups_args big = {&k->started, &k->groups_run, 2};
    hsa_signal_t c;
    REQUIRE(hsa_signal_create(1, 0, NULL, &c) == HSA_STATUS_SUCCESS);
    submit_dispatch(q, 0, &big, 100, c);
    while (!atomic_load(&k->started))
        hsaq_sleep_ms(1);
    sim_queues_kill_agent(sim_agent_get(hsaq_gpus[0]), HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_wait_scacquire(c, HSA_SIGNAL_CONDITION_EQ, 0, MS(300),
                                    HSA_WAIT_STATE_BLOCKED) == 1);
    CHECK(atomic_load(&k->groups_run) < 100);
    CHECK_EQ_U64(atomic_load(&r.calls), 0);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    hsaq_free(k);
    CHECK(hsa_signal_destroy(c) == HSA_STATUS_SUCCESS);
}

typedef struct waiter {
    hsa_signal_t s;
    hsa_signal_value_t got;
    _Atomic int done;
} waiter;

static void *waiter_main(void *arg)
{
    waiter *w = arg;
    w->got = hsa_signal_wait_scacquire(w->s, HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                       HSA_WAIT_STATE_BLOCKED);
    atomic_store(&w->done, 1);
    return NULL;
}

static void *any_waiter_main(void *arg)
{
    waiter *w = arg;
    hsa_signal_condition_t c = HSA_SIGNAL_CONDITION_EQ;
    hsa_signal_value_t v = 0;
    uint32_t i = hsa_amd_signal_wait_any(1, &w->s, &c, &v, UINT64_MAX, HSA_WAIT_STATE_BLOCKED,
                                         &w->got);
    CHECK(i == 0);
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_wake_all(void)
{
    waiter w = {0}, wa = {0};
    REQUIRE(hsa_signal_create(1, 0, NULL, &w.s) == HSA_STATUS_SUCCESS);
    wa.s = w.s;
    pthread_t th, tha;
    REQUIRE(pthread_create(&th, NULL, waiter_main, &w) == 0);
    REQUIRE(pthread_create(&tha, NULL, any_waiter_main, &wa) == 0);
    hsaq_sleep_ms(20);
    for (int i = 0; i < 5; i++) {
        sim_signals_wake_all();
        hsaq_sleep_ms(5);
    }
    hsaq_sleep_ms(20);
    CHECK(atomic_load(&w.done) == 0); /* woken, condition false: still waiting */
    CHECK(atomic_load(&wa.done) == 0);
    hsa_signal_store_screlease(w.s, 0);
    pthread_join(th, NULL);
    pthread_join(tha, NULL);
    CHECK(w.got == 0 && wa.got == 0);
    CHECK(hsa_signal_destroy(w.s) == HSA_STATUS_SUCCESS);
}

int main(void)
{
    main_thread = pthread_self();
    hsaq_setup("hsaqkill");
    hsaq_load_kernels(QUEUE_KERNELS_CO);
    for (int g = 0; g < hsaq_n_gpus; g++)
        groups_ko[g] = hsaq_kernel_object("groups", hsaq_gpus[g]);
    test_kill();
    test_kill_in_barrier();
    test_kill_in_barrier_value();
    test_silent_kill();
    test_wake_all();
    hsaq_teardown();
    return check_result();
}
