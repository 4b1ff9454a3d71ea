/* hsasim queues through the public HSA API: creation checks (ROCR's status
 * codes), the amd_queue_t layout, index accessors, 10^5 kernel dispatches
 * over two queues, barrier-AND/OR across queues, packet errors, inactivate,
 * destroy with work in flight, AMD barrier-value packets, and an idle
 * processor that does not spin. */
#include <hsa/amd_hsa_queue.h>
#include <hsa/amd_hsa_signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hsaq_common.h"
#include "hsasim/kernel.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* --- host kernels ---------------------------------------------------------- */
typedef struct count_args {
    uint64_t *items;  /* items[idx] += work-items of the dispatch */
    uint64_t *order;  /* per queue: dispatches seen, checked against seq */
    uint64_t *errors;
    uint64_t idx, seq;
} count_args;

static void count_kernel(const void *kernarg, const hsasim_dispatch *d)
{
    const count_args *a = kernarg;
    if (d->group_segment) {
        uint64_t *g = d->group_segment;
        if (g[0] != 0)
            (*a->errors)++; /* group memory must start zeroed */
        g[0] = 0xdeadbeef;
    }
    uint64_t n = 0;
    hsasim_for_each_item(d, x, y, z)
    {
        (void)x, (void)y, (void)z;
        n++;
    }
    a->items[a->idx] += n;
    if (d->group_id[0] == 0 && d->group_id[1] == 0 && d->group_id[2] == 0) {
        if (*a->order != a->seq)
            (*a->errors)++; /* out of order */
        (*a->order)++;
    }
}

static const hsasim_kernel_object count_ko = {
    HSASIM_KERNEL_MAGIC, count_kernel, "count", sizeof(count_args), 8, 0, 0};

typedef struct flag_args {
    _Atomic int *started;
    unsigned sleep_ms;
    int *flag;      /* written by "slow", read by "check" */
    int *seen;
} flag_args;

static void slow_kernel(const void *kernarg, const hsasim_dispatch *d)
{
    (void)d;
    const flag_args *a = kernarg;
    if (a->started)
        atomic_store(a->started, 1);
    hsaq_sleep_ms(a->sleep_ms);
    if (a->flag)
        *a->flag = 1;
}

static void check_kernel(const void *kernarg, const hsasim_dispatch *d)
{
    (void)d;
    const flag_args *a = kernarg;
    *a->seen = *a->flag;
}

static const hsasim_kernel_object slow_ko = {HSASIM_KERNEL_MAGIC, slow_kernel, "slow", 32, 8, 0, 0};
static const hsasim_kernel_object check_ko = {HSASIM_KERNEL_MAGIC, check_kernel, "check", 32, 8, 0,
                                              0};

/* --- submission ---------------------------------------------------------------- */
static uint16_t header(hsa_packet_type_t type, bool barrier)
{
    return (uint16_t)((type << HSA_PACKET_HEADER_TYPE) |
                      ((barrier ? 1 : 0) << HSA_PACKET_HEADER_BARRIER) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE));
}

/* Reserves a slot, writes the body, publishes the header, rings the bell.
 * Nothing of q is read after the header is published: a queue may be gone
 * by then (destroyed from its error callback). */
static uint64_t submit(hsa_queue_t *q, const void *packet)
{
    const hsa_signal_t doorbell = q->doorbell_signal;
    const uint32_t size = q->size;
    uint8_t *const ring = q->base_address;
    uint64_t idx = hsa_queue_add_write_index_scacq_screl(q, 1);
    while (idx - hsa_queue_load_read_index_scacquire(q) >= size)
        sched_yield();
    uint8_t *slot = ring + (idx & (size - 1)) * 64;
    memcpy(slot + 4, (const uint8_t *)packet + 4, 60);
    uint32_t hdr_setup;
    memcpy(&hdr_setup, packet, 4);
    __atomic_store_n((uint32_t *)slot, hdr_setup, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(doorbell, (hsa_signal_value_t)idx);
    return idx;
}

static uint64_t dispatch(hsa_queue_t *q, const hsasim_kernel_object *ko, const void *args,
                         uint32_t dims, const uint32_t grid[3], const uint32_t wg[3],
                         uint32_t group_bytes, hsa_signal_t completion, bool barrier)
{
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH, barrier);
    p.setup = (uint16_t)(dims << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS);
    p.workgroup_size_x = (uint16_t)wg[0];
    p.workgroup_size_y = (uint16_t)wg[1];
    p.workgroup_size_z = (uint16_t)wg[2];
    p.grid_size_x = grid[0];
    p.grid_size_y = grid[1];
    p.grid_size_z = grid[2];
    p.group_segment_size = group_bytes;
    p.private_segment_size = 16;
    p.kernel_object = (uint64_t)(uintptr_t)ko;
    p.kernarg_address = (void *)(uintptr_t)args;
    p.completion_signal = completion;
    return submit(q, &p);
}

static uint64_t dispatch1(hsa_queue_t *q, const hsasim_kernel_object *ko, const void *args,
                          hsa_signal_t completion)
{
    const uint32_t one[3] = {1, 1, 1};
    return dispatch(q, ko, args, 1, one, one, 0, completion, false);
}

static uint64_t barrier(hsa_queue_t *q, bool is_and, const hsa_signal_t deps[5],
                        hsa_signal_t completion)
{
    hsa_barrier_and_packet_t p;
    memset(&p, 0, sizeof p);
    p.header = header(is_and ? HSA_PACKET_TYPE_BARRIER_AND : HSA_PACKET_TYPE_BARRIER_OR, true);
    for (int i = 0; i < 5; i++)
        p.dep_signal[i] = deps[i];
    p.completion_signal = completion;
    return submit(q, &p);
}

typedef struct err_rec {
    _Atomic int calls;
    _Atomic int status;
    hsa_queue_t *_Atomic source;
} err_rec;

static void error_cb(hsa_status_t status, hsa_queue_t *source, void *data)
{
    err_rec *r = data;
    atomic_store(&r->status, (int)status);
    atomic_store(&r->source, source);
    atomic_fetch_add(&r->calls, 1);
}

static hsa_queue_t *make_queue(hsa_agent_t agent, uint32_t size, err_rec *rec)
{
    hsa_queue_t *q = NULL;
    REQUIRE(hsa_queue_create(agent, size, HSA_QUEUE_TYPE_MULTI, error_cb, rec, UINT32_MAX,
                             UINT32_MAX, &q) == HSA_STATUS_SUCCESS);
    REQUIRE(q != NULL);
    return q;
}

static hsa_signal_t make_signal(hsa_signal_value_t v)
{
    hsa_signal_t s = {0};
    REQUIRE(hsa_signal_create(v, 0, NULL, &s) == HSA_STATUS_SUCCESS);
    return s;
}

static bool wait_zero(hsa_signal_t s, uint64_t timeout)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, timeout,
                                     HSA_WAIT_STATE_BLOCKED) == 0;
}

/* --- creation ------------------------------------------------------------------------ */
static void test_create(void)
{
    hsa_queue_t *q = NULL;
    hsa_agent_t gpu = hsaq_gpus[0], bad = {0}, garbage = {0x7770};
    const hsa_queue_type32_t M = HSA_QUEUE_TYPE_MULTI;
    /* hsa.cpp argument checks */
    CHECK(hsa_queue_create(gpu, 64, M, NULL, NULL, 0, 0, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_create(gpu, 0, M, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_create(gpu, 100, M, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_create(gpu, 64, 3, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_create(bad, 64, M, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR_INVALID_AGENT);
    CHECK(hsa_queue_create(garbage, 64, M, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR_INVALID_AGENT);
    /* CpuAgent::QueueCreate */
    CHECK(hsa_queue_create(hsaq_cpu, 64, M, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR);
    /* GpuAgent::QueueCreate */
    CHECK(hsa_queue_create(gpu, 32, M, NULL, NULL, 0, 0, &q) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_create(gpu, 262144, M, NULL, NULL, 0, 0, &q) ==
          HSA_STATUS_ERROR_OUT_OF_RESOURCES);
    CHECK(hsa_queue_create(gpu, 64, HSA_QUEUE_TYPE_COOPERATIVE, NULL, NULL, 0, 0, &q) ==
          HSA_STATUS_ERROR_INVALID_QUEUE_CREATION);
    CHECK(hsa_queue_create(gpu, 64, M, NULL, NULL, 300000, 0, &q) ==
          HSA_STATUS_ERROR_OUT_OF_RESOURCES);

    uint32_t sizes[2] = {64, 131072};
    hsa_queue_t *qs[3];
    for (int i = 0; i < 2; i++) {
        REQUIRE(hsa_queue_create(hsaq_gpus[i], sizes[i], i ? HSA_QUEUE_TYPE_SINGLE : M, NULL, NULL,
                                 0, 0, &qs[i]) == HSA_STATUS_SUCCESS);
        q = qs[i];
        CHECK_EQ_U64(q->size, sizes[i]);
        CHECK_EQ_U64(q->type, HSA_QUEUE_TYPE_MULTI); /* AqlQueue reports MULTI */
        CHECK(q->features & HSA_QUEUE_FEATURE_KERNEL_DISPATCH);
        CHECK(q->base_address != NULL && (uintptr_t)q->base_address % 64 == 0);
        const amd_queue_t *amd = (const amd_queue_t *)q;
        CHECK_EQ_U64(amd->read_dispatch_id, 0);
        CHECK_EQ_U64(amd->write_dispatch_id, 0);
        CHECK_EQ_U64(amd->read_dispatch_id_field_base_byte_offset,
                     offsetof(amd_queue_t, read_dispatch_id));
        const hsa_kernel_dispatch_packet_t *ring = q->base_address;
        CHECK_EQ_U64(ring[0].header, HSA_PACKET_TYPE_INVALID);
        CHECK_EQ_U64(ring[sizes[i] - 1].header, HSA_PACKET_TYPE_INVALID);
        const amd_signal_t *db = (const amd_signal_t *)(uintptr_t)q->doorbell_signal.handle;
        CHECK(db != NULL && db->kind == AMD_SIGNAL_KIND_USER);
        /* the doorbell belongs to the queue */
        CHECK(hsa_signal_destroy(q->doorbell_signal) == HSA_STATUS_ERROR_INVALID_SIGNAL);
    }
    CHECK(qs[0]->id != qs[1]->id);
    REQUIRE(hsa_queue_create(gpu, 64, M, NULL, NULL, 0, 0, &qs[2]) == HSA_STATUS_SUCCESS);
    CHECK(qs[2]->id != qs[0]->id && qs[2]->id != qs[1]->id);

    /* cu mask: accepted, checked like ROCR */
    uint32_t mask[2] = {~0u, ~0u};
    CHECK(hsa_amd_queue_cu_set_mask(qs[0], 64, mask) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_queue_cu_set_mask(qs[0], 0, NULL) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_queue_cu_set_mask(qs[0], 33, mask) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_queue_cu_set_mask(qs[0], 32, NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_amd_queue_cu_set_mask((hsa_queue_t *)(uintptr_t)0x7000, 32, mask) ==
          HSA_STATUS_ERROR_INVALID_QUEUE);

    CHECK(hsa_queue_destroy(NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_destroy((hsa_queue_t *)(uintptr_t)0x7000) == HSA_STATUS_ERROR_INVALID_QUEUE);
    CHECK(hsa_queue_inactivate(NULL) == HSA_STATUS_ERROR_INVALID_ARGUMENT);
    CHECK(hsa_queue_inactivate((hsa_queue_t *)(uintptr_t)0x7000) == HSA_STATUS_ERROR_INVALID_QUEUE);
    for (int i = 0; i < 3; i++)
        CHECK(hsa_queue_destroy(qs[i]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(qs[0]) == HSA_STATUS_ERROR_INVALID_QUEUE);
}

/* --- indexes --------------------------------------------------------------------------- */
static void test_indexes(void)
{
    hsa_queue_t *q;
    REQUIRE(hsa_queue_create(hsaq_gpus[0], 64, HSA_QUEUE_TYPE_MULTI, NULL, NULL, 0, 0, &q) ==
            HSA_STATUS_SUCCESS);
    /* Moving the write index without publishing packets runs nothing: the
     * headers stay INVALID. */
    uint64_t (*loads_w[])(const hsa_queue_t *) = {hsa_queue_load_write_index_relaxed,
                                                  hsa_queue_load_write_index_scacquire,
                                                  hsa_queue_load_write_index_acquire};
    uint64_t (*loads_r[])(const hsa_queue_t *) = {hsa_queue_load_read_index_relaxed,
                                                  hsa_queue_load_read_index_scacquire,
                                                  hsa_queue_load_read_index_acquire};
    void (*stores_w[])(const hsa_queue_t *, uint64_t) = {hsa_queue_store_write_index_relaxed,
                                                         hsa_queue_store_write_index_screlease,
                                                         hsa_queue_store_write_index_release};
    uint64_t (*adds[])(const hsa_queue_t *, uint64_t) = {
        hsa_queue_add_write_index_relaxed, hsa_queue_add_write_index_scacquire,
        hsa_queue_add_write_index_screlease, hsa_queue_add_write_index_scacq_screl,
        hsa_queue_add_write_index_acquire, hsa_queue_add_write_index_release,
        hsa_queue_add_write_index_acq_rel};
    uint64_t (*cass[])(const hsa_queue_t *, uint64_t, uint64_t) = {
        hsa_queue_cas_write_index_relaxed, hsa_queue_cas_write_index_scacquire,
        hsa_queue_cas_write_index_screlease, hsa_queue_cas_write_index_scacq_screl,
        hsa_queue_cas_write_index_acquire, hsa_queue_cas_write_index_release,
        hsa_queue_cas_write_index_acq_rel};
    for (int i = 0; i < 3; i++) {
        stores_w[i](q, (uint64_t)i + 1);
        for (int j = 0; j < 3; j++)
            CHECK_EQ_U64(loads_w[j](q), i + 1);
    }
    uint64_t w = 3;
    for (size_t i = 0; i < sizeof adds / sizeof *adds; i++) {
        CHECK_EQ_U64(adds[i](q, 2), w);
        w += 2;
        CHECK_EQ_U64(hsa_queue_load_write_index_relaxed(q), w);
    }
    for (size_t i = 0; i < sizeof cass / sizeof *cass; i++) {
        CHECK_EQ_U64(cass[i](q, w + 1, 0), w); /* fails: returns the current value */
        CHECK_EQ_U64(cass[i](q, w, w + 1), w); /* swaps: returns the old value */
        w++;
        CHECK_EQ_U64(hsa_queue_load_write_index_relaxed(q), w);
    }
    /* the read index is the processor's: stores are ignored (ROCR) */
    hsa_queue_store_read_index_relaxed(q, 5);
    hsa_queue_store_read_index_screlease(q, 6);
    hsa_queue_store_read_index_release(q, 7);
    for (int j = 0; j < 3; j++)
        CHECK_EQ_U64(loads_r[j](q), 0);
    hsaq_sleep_ms(10);
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), 0);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
}

/* --- 10^5 dispatches over two queues --------------------------------------------------- */
enum { N_DISPATCH = 100000, PER_QUEUE = N_DISPATCH / 2 };

typedef struct producer {
    hsa_queue_t *q;
    int qi;
    hsa_signal_t done;
    count_args *args;
    uint64_t *items;
    uint64_t order;
    uint64_t errors;
} producer;

static uint32_t grid_of(uint64_t i, uint32_t g[3], uint32_t wg[3])
{
    /* most: one item; every 64th: a 3-D grid with partial groups */
    if (i % 64) {
        g[0] = g[1] = g[2] = wg[0] = wg[1] = wg[2] = 1;
        return 1;
    }
    g[0] = 70, g[1] = 5, g[2] = 3;
    wg[0] = 16, wg[1] = 2, wg[2] = 2;
    return 3;
}

static void *producer_main(void *arg)
{
    producer *p = arg;
    for (uint64_t k = 0; k < PER_QUEUE; k++) {
        uint64_t idx = (uint64_t)p->qi * PER_QUEUE + k;
        p->args[k] = (count_args){p->items, &p->order, &p->errors, idx, k};
        uint32_t g[3], wg[3];
        uint32_t dims = grid_of(k, g, wg);
        dispatch(p->q, &count_ko, &p->args[k], dims, g, wg, k % 64 ? 0 : 256, p->done,
                 k % 7 == 0);
    }
    return NULL;
}

static void test_many_dispatches(void)
{
    err_rec rec[2] = {{0}, {0}};
    static producer prod[2];
    uint64_t *items = calloc(N_DISPATCH, sizeof *items);
    REQUIRE(items);
    pthread_t th[2];
    uint64_t t0 = hsaq_now_ns();
    for (int i = 0; i < 2; i++) {
        prod[i] = (producer){.q = make_queue(hsaq_gpus[i], 1024, &rec[i]), .qi = i,
                             .done = make_signal(PER_QUEUE), .items = items};
        prod[i].args = calloc(PER_QUEUE, sizeof(count_args));
        REQUIRE(prod[i].args);
        REQUIRE(pthread_create(&th[i], NULL, producer_main, &prod[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(wait_zero(prod[i].done, MS(120000)));
    }
    uint64_t dt = hsaq_now_ns() - t0;
    fprintf(stderr, "%d dispatches over 2 queues: %.1f ms\n", N_DISPATCH, (double)dt / 1e6);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_U64(prod[i].order, PER_QUEUE);
        CHECK_EQ_U64(prod[i].errors, 0);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(prod[i].q), PER_QUEUE);
        CHECK_EQ_U64(hsa_queue_load_write_index_relaxed(prod[i].q), PER_QUEUE);
        const hsa_kernel_dispatch_packet_t *ring = prod[i].q->base_address;
        for (uint32_t j = 0; j < prod[i].q->size; j++)
            CHECK_EQ_U64(__atomic_load_n(&ring[j].header, __ATOMIC_ACQUIRE),
                         HSA_PACKET_TYPE_INVALID);
        CHECK_EQ_U64(atomic_load(&rec[i].calls), 0);
    }
    uint64_t bad = 0;
    for (uint64_t i = 0; i < N_DISPATCH; i++) {
        uint32_t g[3], wg[3];
        grid_of(i % PER_QUEUE, g, wg);
        if (items[i] != (uint64_t)g[0] * g[1] * g[2])
            bad++;
    }
    CHECK_EQ_U64(bad, 0);
    for (int i = 0; i < 2; i++) {
        CHECK(hsa_queue_destroy(prod[i].q) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(prod[i].done) == HSA_STATUS_SUCCESS);
        free(prod[i].args);
    }
    free(items);
}

/* --- barriers across queues -------------------------------------------------------------- */
static void test_barriers(void)
{
    err_rec ra = {0}, rb = {0};
    hsa_queue_t *qa = make_queue(hsaq_gpus[0], 64, &ra);
    hsa_queue_t *qb = make_queue(hsaq_gpus[1], 64, &rb);
    const hsa_signal_t none[5] = {{0}, {0}, {0}, {0}, {0}};

    for (int is_and = 1; is_and >= 0; is_and--) {
        int flag = 0, seen = -1;
        hsa_signal_t sa = make_signal(1), sb = make_signal(1), sbar = make_signal(1);
        hsa_signal_t never = make_signal(1);
        flag_args slow = {NULL, 80, &flag, NULL}, check = {NULL, 0, &flag, &seen};
        /* B: barrier on A's completion (AND: with an idle 0 handle around it;
         * OR: with a signal that never completes), then the check kernel. */
        hsa_signal_t deps[5] = {{0}, sa, {0}, {0}, {0}};
        if (!is_and)
            deps[3] = never;
        uint64_t rd0 = hsa_queue_load_read_index_scacquire(qb);
        barrier(qb, is_and, deps, sbar);
        dispatch1(qb, &check_ko, &check, sb);
        /* The barrier launches (read index moves past it) and then blocks:
         * A's work is not even enqueued, so nothing after it can have run,
         * however long this takes. */
        uint64_t deadline = hsaq_now_ns() + MS(60000);
        while (hsa_queue_load_read_index_scacquire(qb) < rd0 + 1 && hsaq_now_ns() < deadline)
            hsaq_sleep_ms(1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), rd0 + 1);
        CHECK(hsa_signal_load_scacquire(sbar) == 1);
        CHECK(hsa_signal_load_scacquire(sb) == 1);
        dispatch1(qa, &slow_ko, &slow, sa);
        CHECK(wait_zero(sb, MS(60000)));
        CHECK(hsa_signal_load_scacquire(sa) == 0);
        CHECK(hsa_signal_load_scacquire(sbar) == 0);
        CHECK(seen == 1);
        CHECK(hsa_signal_load_relaxed(never) == 1);
        CHECK(hsa_signal_destroy(sa) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(sb) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(sbar) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(never) == HSA_STATUS_SUCCESS);
    }

    /* AND over several signals completes only when all are 0 */
    hsa_signal_t d[3] = {make_signal(1), make_signal(2), make_signal(1)};
    hsa_signal_t done = make_signal(1);
    hsa_signal_t deps[5] = {d[0], d[1], {0}, d[2], {0}};
    barrier(qb, true, deps, done);
    hsa_signal_subtract_screlease(d[0], 1);
    hsa_signal_subtract_screlease(d[1], 1);
    hsa_signal_subtract_screlease(d[2], 1);
    CHECK(hsa_signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, MS(50),
                                    HSA_WAIT_STATE_BLOCKED) == 1);
    hsa_signal_subtract_screlease(d[1], 1);
    CHECK(wait_zero(done, MS(60000)));

    /* no dependencies: both kinds complete at once */
    hsa_signal_store_relaxed(done, 2);
    barrier(qa, true, none, done);
    barrier(qa, false, none, done);
    CHECK(wait_zero(done, MS(60000)));
    for (int i = 0; i < 3; i++)
        CHECK(hsa_signal_destroy(d[i]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(atomic_load(&ra.calls) + atomic_load(&rb.calls), 0);
    CHECK(hsa_queue_destroy(qa) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(qb) == HSA_STATUS_SUCCESS);
}

/* --- packet errors ---------------------------------------------------------------------------- */
/* Memory faults reach the system event handlers first: without one that
 * accepts them, the runtime aborts the process, as ROCR does. */
static _Atomic uint64_t faults, last_fault_address;
static hsa_status_t on_system_event(const hsa_amd_event_t *e, void *data)
{
    (void)data;
    if (e->event_type == HSA_AMD_GPU_MEMORY_FAULT_EVENT) {
        atomic_store(&last_fault_address, e->memory_fault.virtual_address);
        atomic_fetch_add(&faults, 1);
    }
    return HSA_STATUS_SUCCESS;
}

static void test_errors(void)
{
    REQUIRE(hsa_amd_register_system_event_handler(on_system_event, NULL) == HSA_STATUS_SUCCESS);
    long page = sysconf(_SC_PAGESIZE);
    void *hole = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(hole != MAP_FAILED);
    static const hsasim_kernel_object not_a_kernel = {0x1234, count_kernel, "x", 0, 0, 0, 0};
    struct {
        uint64_t ko;
        uint32_t dims;
        hsa_status_t want;
    } cases[] = {
        {0, 1, HSA_STATUS_ERROR_INVALID_CODE_OBJECT},
        {(uint64_t)(uintptr_t)hole, 1, (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION},
        {(uint64_t)(uintptr_t)&not_a_kernel, 1, (hsa_status_t)HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION},
        {(uint64_t)(uintptr_t)&count_ko, 0, HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err_rec rec = {0};
        hsa_queue_t *q = make_queue(hsaq_gpus[i % 2], 64, &rec);
        hsa_signal_t c1 = make_signal(1), c2 = make_signal(1);
        uint64_t items[1] = {0}, order = 0, errors = 0;
        count_args a = {items, &order, &errors, 0, 0};
        const uint32_t one[3] = {1, 1, 1};
        hsa_kernel_dispatch_packet_t p;
        memset(&p, 0, sizeof p);
        p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH, false);
        p.setup = (uint16_t)(cases[i].dims << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS);
        p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
        p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
        p.kernel_object = cases[i].ko;
        p.kernarg_address = &a;
        p.completion_signal = c1;
        submit(q, &p);
        dispatch(q, &count_ko, &a, 1, one, one, 0, c2, false);
        uint64_t t0 = hsaq_now_ns();
        while (atomic_load(&rec.calls) == 0 && hsaq_now_ns() - t0 < MS(10000))
            hsaq_sleep_ms(1);
        hsaq_sleep_ms(20);
        CHECK_EQ_U64(atomic_load(&rec.calls), 1);
        CHECK_EQ_U64((uint32_t)atomic_load(&rec.status), (uint32_t)cases[i].want);
        CHECK(atomic_load(&rec.source) == q);
        if (cases[i].want == (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION) {
            CHECK_EQ_U64(atomic_load(&faults), 1); /* the VM fault, at the descriptor */
            CHECK_EQ_U64(atomic_load(&last_fault_address), cases[i].ko);
        }
        /* the queue is suspended: nothing completes, nothing after runs */
        CHECK(hsa_signal_load_scacquire(c1) == 1);
        CHECK(hsa_signal_load_scacquire(c2) == 1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), 0);
        CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c1) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c2) == HSA_STATUS_SUCCESS);
    }
    munmap(hole, (size_t)page);
}

/* --- inactivate, destroy in flight, callback-time destroy --------------------------------------- */
static void destroying_cb(hsa_status_t status, hsa_queue_t *source, void *data)
{
    err_rec *r = data;
    atomic_store(&r->status, (int)status);
    CHECK(hsa_queue_destroy(source) == HSA_STATUS_SUCCESS); /* from the queue's own thread */
    atomic_fetch_add(&r->calls, 1);
}

static void test_inactivate_destroy(void)
{
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(hsaq_gpus[0], 64, &rec);
    _Atomic int started = 0;
    flag_args slow = {&started, 50, NULL, NULL};
    hsa_signal_t c1 = make_signal(1), c2 = make_signal(1);
    dispatch1(q, &slow_ko, &slow, c1);
    while (!atomic_load(&started))
        hsaq_sleep_ms(1);
    CHECK(hsa_queue_inactivate(q) == HSA_STATUS_SUCCESS);
    /* the dispatch in progress never completes; later packets never run */
    dispatch1(q, &slow_ko, &slow, c2);
    hsaq_sleep_ms(100);
    CHECK(hsa_signal_load_scacquire(c1) == 1);
    CHECK(hsa_signal_load_scacquire(c2) == 1);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    CHECK(hsa_queue_inactivate(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);

    /* destroy while packets are in flight */
    for (int round = 0; round < 4; round++) {
        q = make_queue(hsaq_gpus[1], 64, &rec);
        flag_args quick = {NULL, 1, NULL, NULL};
        hsa_signal_store_relaxed(c1, 20);
        for (int i = 0; i < 20; i++)
            dispatch1(q, &slow_ko, &quick, c1);
        if (round)
            hsaq_sleep_ms((unsigned)round * 3);
        CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_load_scacquire(c1) > 0);
    }

    /* destroy from inside the error callback (the processor's own thread) */
    err_rec rd = {0};
    REQUIRE(hsa_queue_create(hsaq_gpus[0], 64, HSA_QUEUE_TYPE_MULTI, destroying_cb, &rd, 0, 0,
                             &q) == HSA_STATUS_SUCCESS);
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH, false);
    p.setup = 1;
    p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
    p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
    /* The processor must be asleep, so that it sees the packet only at the
     * doorbell (after which the test no longer touches the queue). */
    hsaq_sleep_ms(10);
    submit(q, &p); /* kernel_object 0 */
    uint64_t t0 = hsaq_now_ns();
    while (atomic_load(&rd.calls) == 0 && hsaq_now_ns() - t0 < MS(10000))
        hsaq_sleep_ms(1);
    CHECK_EQ_U64(atomic_load(&rd.calls), 1);
    CHECK_EQ_U64((uint32_t)atomic_load(&rd.status), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    hsaq_sleep_ms(10);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_ERROR_INVALID_QUEUE); /* already gone */

    CHECK(hsa_signal_destroy(c1) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(c2) == HSA_STATUS_SUCCESS);
}

/* --- publication order, dead and bad completion signals ------------------------------------ */
static void publish_at(hsa_queue_t *q, uint64_t idx, const hsa_kernel_dispatch_packet_t *p)
{
    uint8_t *slot = (uint8_t *)q->base_address + (idx & (q->size - 1)) * 64;
    memcpy(slot + 4, (const uint8_t *)p + 4, 60);
    uint32_t hs;
    memcpy(&hs, p, 4);
    __atomic_store_n((uint32_t *)slot, hs, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)idx);
}

static hsa_kernel_dispatch_packet_t count_packet(count_args *a, hsa_signal_t completion)
{
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH, false);
    p.setup = 1;
    p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
    p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
    p.kernel_object = (uint64_t)(uintptr_t)&count_ko;
    p.kernarg_address = a;
    p.completion_signal = completion;
    return p;
}

static void test_publication(void)
{
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(hsaq_gpus[0], 64, &rec);
    hsa_signal_t done = make_signal(2);
    uint64_t items[2] = {0}, order = 0, errors = 0;
    count_args a[2] = {{items, &order, &errors, 0, 0}, {items, &order, &errors, 1, 1}};
    /* two slots reserved, the second published first: nothing runs until the
     * first is published too, then both in order */
    uint64_t i0 = hsa_queue_add_write_index_scacq_screl(q, 1);
    uint64_t i1 = hsa_queue_add_write_index_scacq_screl(q, 1);
    hsa_kernel_dispatch_packet_t p1 = count_packet(&a[1], done), p0 = count_packet(&a[0], done);
    publish_at(q, i1, &p1);
    hsaq_sleep_ms(30);
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), i0);
    CHECK(hsa_signal_load_scacquire(done) == 2);
    publish_at(q, i0, &p0);
    CHECK(wait_zero(done, MS(60000)));
    CHECK_EQ_U64(order, 2);
    CHECK_EQ_U64(errors, 0);
    CHECK_EQ_U64(items[0] + items[1], 2);

    /* a destroyed completion signal: the packet runs, nothing is reported
     * (its memory is still signal memory, as in ROCR's pool) */
    hsa_signal_t gone = make_signal(1);
    CHECK(hsa_signal_destroy(gone) == HSA_STATUS_SUCCESS);
    hsa_signal_store_relaxed(done, 1);
    a[0].seq = 2;
    a[1].seq = 3;
    hsa_kernel_dispatch_packet_t pg = count_packet(&a[0], gone), pd = count_packet(&a[1], done);
    submit(q, &pg);
    submit(q, &pd);
    CHECK(wait_zero(done, MS(60000)));
    CHECK_EQ_U64(order, 4);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);

    /* a completion "signal" that is not signal memory: the CP would fault */
    static uint64_t not_a_signal[16] __attribute__((aligned(64)));
    hsa_signal_t bogus = {(uint64_t)(uintptr_t)not_a_signal};
    a[0].seq = 4;
    hsa_kernel_dispatch_packet_t pb = count_packet(&a[0], bogus);
    submit(q, &pb);
    uint64_t t0 = hsaq_now_ns();
    while (atomic_load(&rec.calls) == 0 && hsaq_now_ns() - t0 < MS(10000))
        hsaq_sleep_ms(1);
    CHECK_EQ_U64(atomic_load(&rec.calls), 1);
    CHECK_EQ_U64((uint32_t)atomic_load(&rec.status),
                 (uint32_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION);
    CHECK_EQ_U64(atomic_load(&faults), 2);
    CHECK_EQ_U64(atomic_load(&last_fault_address), (uint64_t)(uintptr_t)not_a_signal);
    CHECK_EQ_U64(order, 4); /* not run */
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
}

/* --- AMD barrier-value packets ---------------------------------------------------------------- */
static hsa_amd_barrier_value_packet_t value_packet(hsa_signal_t signal, hsa_signal_condition_t cond,
                                                   hsa_signal_value_t value,
                                                   hsa_signal_value_t mask, hsa_signal_t completion)
{
    hsa_amd_barrier_value_packet_t p;
    memset(&p, 0, sizeof p);
    p.header.header = header(HSA_PACKET_TYPE_VENDOR_SPECIFIC, true);
    p.header.AmdFormat = HSA_AMD_PACKET_TYPE_BARRIER_VALUE;
    p.signal = signal;
    p.value = value;
    p.mask = mask;
    p.cond = cond;
    p.completion_signal = completion;
    return p;
}

static uint64_t barrier_value(hsa_queue_t *q, hsa_signal_t signal, hsa_signal_condition_t cond,
                              hsa_signal_value_t value, hsa_signal_value_t mask,
                              hsa_signal_t completion)
{
    hsa_amd_barrier_value_packet_t p = value_packet(signal, cond, value, mask, completion);
    return submit(q, &p);
}

/* The packet at idx has been launched (the read index is past it). */
static bool wait_launched(hsa_queue_t *q, uint64_t idx)
{
    uint64_t deadline = hsaq_now_ns() + MS(60000);
    while (hsa_queue_load_read_index_scacquire(q) <= idx && hsaq_now_ns() < deadline)
        hsaq_sleep_ms(1);
    return hsa_queue_load_read_index_scacquire(q) > idx;
}

static bool wait_error(err_rec *r)
{
    uint64_t deadline = hsaq_now_ns() + MS(60000);
    while (atomic_load(&r->calls) == 0 && hsaq_now_ns() < deadline)
        hsaq_sleep_ms(1);
    return atomic_load(&r->calls) != 0;
}

/* Something that must not happen does not happen within a while: a bounded
 * wait for s to reach 0 that has to time out. */
static bool stays_nonzero(hsa_signal_t s)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, MS(30),
                                     HSA_WAIT_STATE_BLOCKED) != 0;
}

typedef struct store_args {
    hsa_signal_t signal;
    hsa_signal_value_t value;
} store_args;

static void store_kernel(const void *kernarg, const hsasim_dispatch *d)
{
    (void)d;
    const store_args *a = kernarg;
    hsa_signal_store_screlease(a->signal, a->value);
}

static const hsasim_kernel_object store_ko = {HSASIM_KERNEL_MAGIC, store_kernel, "store",
                                              sizeof(store_args), 8, 0, 0};

/* Producer/consumer across queues: fill writes its slice of out, gather
 * checks every slice. */
#define FILL_ITEMS 64u
typedef struct fill_args {
    uint64_t *out;
    uint64_t idx;
} fill_args;

static uint64_t fill_value(uint64_t idx, uint32_t x)
{
    return (idx + 1) * 1000003ull + x;
}

static void fill_kernel(const void *kernarg, const hsasim_dispatch *d)
{
    const fill_args *a = kernarg;
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y, (void)z;
        a->out[a->idx * FILL_ITEMS + x] = fill_value(a->idx, x);
    }
}

typedef struct gather_args {
    const uint64_t *out;
    uint64_t n_dispatches;
    uint64_t *sum, *mismatches;
} gather_args;

static void gather_kernel(const void *kernarg, const hsasim_dispatch *d)
{
    (void)d;
    const gather_args *a = kernarg;
    for (uint64_t i = 0; i < a->n_dispatches; i++)
        for (uint32_t x = 0; x < FILL_ITEMS; x++) {
            uint64_t v = a->out[i * FILL_ITEMS + x];
            *a->sum += v;
            *a->mismatches += v != fill_value(i, x);
        }
}

static const hsasim_kernel_object fill_ko = {HSASIM_KERNEL_MAGIC, fill_kernel, "fill",
                                             sizeof(fill_args), 8, 0, 0};
static const hsasim_kernel_object gather_ko = {HSASIM_KERNEL_MAGIC, gather_kernel, "gather",
                                               sizeof(gather_args), 8, 0, 0};

/* Each condition with a mask: the packet launches, blocks (the dispatch
 * behind it does not run) through a change that leaves the masked value
 * unsatisfied, and completes at one that satisfies it, made by this thread
 * or by a dispatch on another queue. */
static void barrier_value_conditions(hsa_queue_t *qa, hsa_queue_t *qb)
{
    struct {
        hsa_signal_condition_t cond;
        hsa_signal_value_t mask, value, start, miss, hit;
    } cases[] = {
        /* (v & 0xff) == 3 while other bits are set */
        {HSA_SIGNAL_CONDITION_EQ, 0xff, 3, 0x7700000101ll, 0x0302, 0x5500000703ll},
        {HSA_SIGNAL_CONDITION_NE, 0xff00, 0x0500, 0x12345005ffll, 0x12345005a0ll, 0x1234500600ll},
        {HSA_SIGNAL_CONDITION_LT, 0xffff, 100, 0x100c8, 0x30096, 0x70063},
        {HSA_SIGNAL_CONDITION_GTE, 0xf0, 0x40, 0xff0f, 0x1030, 0x0f45},
        /* signed: the sign bit survives the mask, so -1 is LT 0 (unsigned it
         * would not be) */
        {HSA_SIGNAL_CONDITION_LT, INT64_MIN | 0xff, 0, 0x7f00000000000005ll, 0xff, -1},
        {HSA_SIGNAL_CONDITION_GTE, INT64_MIN | 0xff, -5, INT64_MIN | 0x10, -6, 0x100},
        /* no mask: the processor can wait on the condition itself */
        {HSA_SIGNAL_CONDITION_EQ, -1, 7, 5, 6, 7},
    };
    hsa_signal_t sig = make_signal(0), sbar = make_signal(1), sb = make_signal(1);
    hsa_signal_t sa = make_signal(1);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int flag = 1, seen = -1;
        flag_args check = {NULL, 0, &flag, &seen};
        hsa_signal_store_screlease(sig, cases[i].start);
        hsa_signal_store_relaxed(sbar, 1);
        hsa_signal_store_relaxed(sb, 1);
        uint64_t idx =
            barrier_value(qb, sig, cases[i].cond, cases[i].value, cases[i].mask, sbar);
        dispatch1(qb, &check_ko, &check, sb);
        CHECK(wait_launched(qb, idx));
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 1);
        CHECK(hsa_signal_load_scacquire(sbar) == 1);
        hsa_signal_store_screlease(sig, cases[i].miss);
        CHECK(stays_nonzero(sbar));
        CHECK(hsa_signal_load_scacquire(sb) == 1);
        CHECK(seen == -1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 1);
        store_args st = {sig, cases[i].hit};
        if (i % 2) {
            hsa_signal_store_relaxed(sa, 1);
            dispatch1(qa, &store_ko, &st, sa);
            CHECK(wait_zero(sa, MS(60000)));
        } else {
            hsa_signal_store_screlease(sig, cases[i].hit);
        }
        CHECK(wait_zero(sb, MS(60000)));
        CHECK(hsa_signal_load_scacquire(sbar) == 0);
        CHECK(seen == 1);
        CHECK(hsa_signal_load_scacquire(sig) == cases[i].hit);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 2);
    }
    /* satisfied at launch: straight through */
    hsa_signal_store_relaxed(sbar, 2);
    hsa_signal_store_screlease(sig, 0x4403);
    barrier_value(qb, sig, HSA_SIGNAL_CONDITION_EQ, 3, 0xff, sbar);
    barrier_value(qb, sig, HSA_SIGNAL_CONDITION_GTE, 0x4400, -1, sbar);
    CHECK(wait_zero(sbar, MS(60000)));
    CHECK(hsa_signal_destroy(sig) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sbar) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sb) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sa) == HSA_STATUS_SUCCESS);
}

/* A 0 handle is a satisfied dependency; destroyed signals keep their value:
 * judged on it once, and if it does not hold, only a stop ends the wait
 * (inactivate and destroy here; device loss in test_queue_kill.c). */
static void barrier_value_special_signals(hsa_queue_t *qa)
{
    const hsa_signal_t none = {0};
    hsa_signal_t sbar = make_signal(2), sb = make_signal(1);
    int flag = 1, seen = -1;
    flag_args check = {NULL, 0, &flag, &seen};
    /* (0 & 1) == 1 would not hold: the 0 handle is not read at all */
    barrier_value(qa, none, HSA_SIGNAL_CONDITION_EQ, 1, 1, sbar);
    barrier_value(qa, none, HSA_SIGNAL_CONDITION_EQ, 1, 1, none);
    dispatch1(qa, &check_ko, &check, sb);
    CHECK(wait_zero(sb, MS(60000)));
    CHECK(hsa_signal_load_scacquire(sbar) == 1); /* decremented once */
    CHECK(seen == 1);

    /* destroyed before launch, holding a value that satisfies it.  No signal
     * is created until the packet has run: the slot could be reused. */
    hsa_signal_t gone = make_signal(0x1203);
    CHECK(hsa_signal_destroy(gone) == HSA_STATUS_SUCCESS);
    barrier_value(qa, gone, HSA_SIGNAL_CONDITION_EQ, 3, 0xff, sbar);
    CHECK(wait_zero(sbar, MS(60000)));

    /* destroyed before launch, not satisfying it: blocks until inactivated */
    err_rec rec = {0};
    hsa_queue_t *qc = make_queue(hsaq_gpus[1], 64, &rec);
    hsa_signal_t c1 = make_signal(1), c2 = make_signal(1);
    gone = make_signal(0x1204);
    CHECK(hsa_signal_destroy(gone) == HSA_STATUS_SUCCESS);
    uint64_t idx = barrier_value(qc, gone, HSA_SIGNAL_CONDITION_EQ, 3, 0xff, c1);
    CHECK(wait_launched(qc, idx));
    seen = -1;
    dispatch1(qc, &check_ko, &check, c2);
    CHECK(stays_nonzero(c1));
    CHECK(hsa_queue_inactivate(qc) == HSA_STATUS_SUCCESS);
    CHECK(stays_nonzero(c2));
    CHECK(hsa_signal_load_scacquire(c1) == 1);
    CHECK(seen == -1);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    CHECK(hsa_queue_destroy(qc) == HSA_STATUS_SUCCESS);

    /* live at launch, destroyed while waited on: it keeps its (unsatisfying)
     * value; destroying the queue ends the wait */
    qc = make_queue(hsaq_gpus[0], 64, &rec);
    hsa_signal_t dying = make_signal(0x10);
    idx = barrier_value(qc, dying, HSA_SIGNAL_CONDITION_LT, 0x10, 0xf0, c1);
    CHECK(wait_launched(qc, idx));
    CHECK(hsa_signal_destroy(dying) == HSA_STATUS_SUCCESS);
    CHECK(stays_nonzero(c1));
    CHECK(hsa_queue_destroy(qc) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_load_scacquire(c1) == 1);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);

    CHECK(hsa_signal_destroy(c1) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(c2) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sbar) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sb) == HSA_STATUS_SUCCESS);
}

/* Malformed vendor packets stop the queue with the status ROCR reports; a
 * "signal" that is not signal memory is a memory fault, as for barriers. */
static void barrier_value_errors(void)
{
    static uint64_t not_a_signal[16] __attribute__((aligned(64)));
    const hsa_signal_t bogus = {(uint64_t)(uintptr_t)not_a_signal};
    const hsa_status_t aperture = (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION;
    struct {
        uint8_t format;
        uint32_t cond;
        bool bogus_signal;
        hsa_status_t want;
    } cases[] = {
        {0, HSA_SIGNAL_CONDITION_EQ, false, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {3, HSA_SIGNAL_CONDITION_EQ, false, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {0xff, HSA_SIGNAL_CONDITION_EQ, false, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {HSA_AMD_PACKET_TYPE_BARRIER_VALUE, HSA_SIGNAL_CONDITION_GTE + 1, false,
         HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {HSA_AMD_PACKET_TYPE_BARRIER_VALUE, UINT32_MAX, false,
         HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {HSA_AMD_PACKET_TYPE_BARRIER_VALUE, HSA_SIGNAL_CONDITION_EQ, true, aperture},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err_rec rec = {0};
        hsa_queue_t *q = make_queue(hsaq_gpus[i % 2], 64, &rec);
        /* the signal satisfies the condition: only the check stops it */
        hsa_signal_t sig = make_signal(0), c1 = make_signal(1), c2 = make_signal(1);
        int flag = 1, seen = -1;
        flag_args check = {NULL, 0, &flag, &seen};
        hsa_amd_barrier_value_packet_t p =
            value_packet(cases[i].bogus_signal ? bogus : sig, HSA_SIGNAL_CONDITION_EQ, 0, -1, c1);
        p.header.AmdFormat = cases[i].format;
        p.cond = cases[i].cond;
        uint64_t faults0 = atomic_load(&faults);
        submit(q, &p);
        dispatch1(q, &check_ko, &check, c2);
        CHECK(wait_error(&rec));
        CHECK(stays_nonzero(c2)); /* and leaves time for a wrong second call */
        CHECK_EQ_U64(atomic_load(&rec.calls), 1);
        CHECK_EQ_U64((uint32_t)atomic_load(&rec.status), (uint32_t)cases[i].want);
        CHECK(atomic_load(&rec.source) == q);
        if (cases[i].want == aperture) {
            CHECK_EQ_U64(atomic_load(&faults), faults0 + 1);
            CHECK_EQ_U64(atomic_load(&last_fault_address), bogus.handle);
        } else {
            CHECK_EQ_U64(atomic_load(&faults), faults0);
        }
        CHECK(hsa_signal_load_scacquire(c1) == 1);
        CHECK(seen == -1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), 0);
        CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(sig) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c1) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c2) == HSA_STATUS_SUCCESS);
    }
}

/* B waits for A's N dispatches through their shared count-down completion
 * signal, starting at V0: LT V0-(N-1) holds only after the last one. */
static void barrier_value_across_queues(hsa_queue_t *qa, hsa_queue_t *qb)
{
    enum { N = 300 };
    const hsa_signal_value_t v0 = (hsa_signal_value_t)1 << 40;
    uint64_t *out = calloc((size_t)N * FILL_ITEMS, sizeof *out);
    fill_args *fa = calloc(N, sizeof *fa);
    REQUIRE(out && fa);
    uint64_t sum = 0, mismatches = 0;
    gather_args g = {out, N, &sum, &mismatches};
    hsa_signal_t all = make_signal(v0), sbar = make_signal(1), sb = make_signal(1);
    uint64_t idx = barrier_value(qb, all, HSA_SIGNAL_CONDITION_LT, v0 - (N - 1), -1, sbar);
    dispatch1(qb, &gather_ko, &g, sb);
    CHECK(wait_launched(qb, idx));
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 1);
    CHECK(hsa_signal_load_scacquire(sbar) == 1);
    CHECK(hsa_signal_load_scacquire(sb) == 1);
    const uint32_t grid[3] = {FILL_ITEMS, 1, 1}, wg[3] = {16, 1, 1};
    for (uint64_t i = 0; i < N; i++) {
        fa[i] = (fill_args){out, i};
        dispatch(qa, &fill_ko, &fa[i], 1, grid, wg, 0, all, false);
    }
    CHECK(wait_zero(sb, MS(60000)));
    CHECK(hsa_signal_load_scacquire(all) == v0 - N);
    CHECK(hsa_signal_load_scacquire(sbar) == 0);
    uint64_t want = 0, bad = 0;
    for (uint64_t i = 0; i < N; i++)
        for (uint32_t x = 0; x < FILL_ITEMS; x++) {
            want += fill_value(i, x);
            bad += out[i * FILL_ITEMS + x] != fill_value(i, x);
        }
    CHECK_EQ_U64(bad, 0);
    CHECK_EQ_U64(mismatches, 0);
    CHECK_EQ_U64(sum, want);
    CHECK(hsa_signal_destroy(all) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sbar) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sb) == HSA_STATUS_SUCCESS);
    free(fa);
    free(out);
}

static void test_barrier_value(void)
{
    err_rec ra = {0}, rb = {0};
    hsa_queue_t *qa = make_queue(hsaq_gpus[0], 64, &ra);
    hsa_queue_t *qb = make_queue(hsaq_gpus[1], 64, &rb);
    barrier_value_conditions(qa, qb);
    barrier_value_special_signals(qa);
    barrier_value_across_queues(qa, qb);
    CHECK_EQ_U64(atomic_load(&ra.calls) + atomic_load(&rb.calls), 0);
    CHECK(hsa_queue_destroy(qa) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(qb) == HSA_STATUS_SUCCESS);
    barrier_value_errors();
}

/* --- idle ---------------------------------------------------------------------------------------------- */
static void test_idle(void)
{
    err_rec rec[3] = {{0}, {0}, {0}};
    hsa_queue_t *q[3];
    for (int i = 0; i < 3; i++)
        q[i] = make_queue(hsaq_gpus[i % 2], 64, &rec[i]);
    /* one packet each, then nothing: every processor must go to sleep */
    hsa_signal_t done = make_signal(3);
    uint64_t items[3] = {0}, order[3] = {0}, errors[3] = {0};
    count_args a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (count_args){items, &order[i], &errors[i], (uint64_t)i, 0};
        dispatch1(q[i], &count_ko, &a[i], done);
    }
    CHECK(wait_zero(done, MS(60000)));
    /* a queue whose next packet is reserved but not yet published sleeps too */
    hsa_queue_add_write_index_scacq_screl(q[2], 1);
    hsa_signal_store_screlease(q[2]->doorbell_signal, 0);
    hsaq_sleep_ms(20);
    uint64_t c0 = hsaq_cpu_ns(), t0 = hsaq_now_ns();
    hsaq_sleep_ms(200);
    uint64_t used = hsaq_cpu_ns() - c0, wall = hsaq_now_ns() - t0;
    fprintf(stderr, "3 idle queues: %llu us CPU in %llu us\n", (unsigned long long)used / 1000,
            (unsigned long long)wall / 1000);
    CHECK(used < MS(20));
    /* and wake up for the late packet */
    uint8_t *slot = (uint8_t *)q[2]->base_address + 64;
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    hsa_signal_store_relaxed(done, 1);
    a[2].seq = 1;
    p.setup = 1;
    p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
    p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
    p.kernel_object = (uint64_t)(uintptr_t)&count_ko;
    p.kernarg_address = &a[2];
    p.completion_signal = done;
    memcpy(slot + 4, (uint8_t *)&p + 4, 60);
    uint32_t hs = (uint32_t)header(HSA_PACKET_TYPE_KERNEL_DISPATCH, false) | (1u << 16);
    __atomic_store_n((uint32_t *)slot, hs, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q[2]->doorbell_signal, 1);
    CHECK(wait_zero(done, MS(60000)));
    for (int i = 0; i < 3; i++)
        CHECK_EQ_U64(errors[i], 0);
    CHECK_EQ_U64(items[0], 1);
    CHECK_EQ_U64(items[1], 1);
    CHECK_EQ_U64(items[2], 2);
    for (int i = 0; i < 3; i++)
        CHECK(hsa_queue_destroy(q[i]) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
}

int main(void)
{
    hsa_queue_t *q;
    hsa_agent_t a = {1};
    CHECK(hsa_queue_create(a, 64, HSA_QUEUE_TYPE_MULTI, NULL, NULL, 0, 0, &q) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);

    hsaq_setup("hsaq");
    test_create();
    test_indexes();
    test_barriers();
    test_errors();
    test_inactivate_destroy();
    test_publication();
    test_barrier_value();
    test_idle();
    test_many_dispatches();
    hsaq_teardown();
    return check_result();
}
