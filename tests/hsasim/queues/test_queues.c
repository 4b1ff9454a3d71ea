/* hsasim queues through the public HSA API: creation checks (ROCR's status
 * codes), the amd_queue_t layout, index accessors, 10^5 kernel dispatches
 * over two queues, barrier-AND/OR across queues, packet errors, inactivate,
 * destroy with work in flight, AMD barrier-value packets, and an idle
 * processor that does not spin.  The kernels are those of the host code
 * object queue_kernels.co, loaded for both GPUs; kernarg segments come from
 * the kernarg pool and everything the kernels touch from pool memory opened
 * to every agent, as on a GPU.  What faults (and evicts a device's queues
 * for the rest of the process) is tested in ../faults/test_strict.c. */
#include <hsa/amd_hsa_queue.h>
#include <hsa/amd_hsa_signal.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "hsaq_common.h"
#include "queue_kernels.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* --- kernels ---------------------------------------------------------------- */
enum { K_COUNT, K_SLOW, K_CHECK, K_STORE, K_FILL, K_GATHER, K_N };
static const char *const kernel_names[K_N] = {"count", "slow", "check", "store", "fill", "gather"};
static uint64_t kernel_objects[K_N][HSAQ_MAX_GPUS];

/* Which GPU each queue of make_queue is on (queue addresses may be reused:
 * the latest wins). */
static struct {
    hsa_queue_t *q;
    int gpu;
} queue_gpus[256];
static pthread_mutex_t queue_gpus_lock = PTHREAD_MUTEX_INITIALIZER;

static void note_queue(hsa_queue_t *q, hsa_agent_t agent)
{
    int gpu = -1;
    for (int i = 0; i < hsaq_n_gpus; i++)
        if (hsaq_gpus[i].handle == agent.handle)
            gpu = i;
    REQUIRE(gpu >= 0);
    pthread_mutex_lock(&queue_gpus_lock);
    size_t free_at = SIZE_MAX;
    for (size_t i = 0; i < sizeof queue_gpus / sizeof *queue_gpus; i++) {
        if (queue_gpus[i].q == q || (!queue_gpus[i].q && free_at == SIZE_MAX))
            free_at = i;
        if (queue_gpus[i].q == q)
            break;
    }
    REQUIRE(free_at != SIZE_MAX);
    queue_gpus[free_at].q = q;
    queue_gpus[free_at].gpu = gpu;
    pthread_mutex_unlock(&queue_gpus_lock);
}

static uint64_t kernel_for(hsa_queue_t *q, int k)
{
    int gpu = -1;
    pthread_mutex_lock(&queue_gpus_lock);
    for (size_t i = 0; i < sizeof queue_gpus / sizeof *queue_gpus && gpu < 0; i++)
        if (queue_gpus[i].q == q)
            gpu = queue_gpus[i].gpu;
    pthread_mutex_unlock(&queue_gpus_lock);
    REQUIRE(gpu >= 0);
    return kernel_objects[k][gpu];
}

/* The variables the kernels read and write, in memory every GPU reaches. */
typedef struct shared_vars {
    _Atomic int started;
    int flag, seen;
    uint64_t items[4], order[4], errors[4];
} shared_vars;
static shared_vars *sv;

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

/* Kernel object ko with a kernarg segment holding a copy of args. */
static uint64_t dispatch_object(hsa_queue_t *q, uint64_t ko, const void *args, size_t args_size,
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
    p.kernel_object = ko;
    p.kernarg_address = hsaq_kernarg(args, args_size);
    p.completion_signal = completion;
    return submit(q, &p);
}

/* Kernel k of the queue's GPU. */
static uint64_t dispatch(hsa_queue_t *q, int k, const void *args, size_t args_size,
                         uint32_t dims, const uint32_t grid[3], const uint32_t wg[3],
                         uint32_t group_bytes, hsa_signal_t completion, bool barrier)
{
    return dispatch_object(q, kernel_for(q, k), args, args_size, dims, grid, wg, group_bytes,
                           completion, barrier);
}

static uint64_t dispatch1(hsa_queue_t *q, int k, const void *args, size_t args_size,
                          hsa_signal_t completion)
{
    const uint32_t one[3] = {1, 1, 1};
    return dispatch(q, k, args, args_size, 1, one, one, 0, completion, false);
}

/* args and its size */
#define ARGS(a) &(a), sizeof(a)

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
    note_queue(q, agent);
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
    uint64_t *items;
    uint64_t *counters; /* order, errors: GPU-visible */
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
    const uint64_t ko = kernel_for(p->q, K_COUNT);
    for (uint64_t k = 0; k < PER_QUEUE; k++) {
        uint64_t idx = (uint64_t)p->qi * PER_QUEUE + k;
        count_args a = {p->items, &p->counters[0], &p->counters[1], idx, k};
        uint32_t g[3], wg[3];
        uint32_t dims = grid_of(k, g, wg);
        dispatch_object(p->q, ko, ARGS(a), dims, g, wg, k % 64 ? 0 : 256, p->done, k % 7 == 0);
    }
    return NULL;
}

static void test_many_dispatches(void)
{
    err_rec rec[2] = {{0}, {0}};
    static producer prod[2];
    uint64_t *items = hsaq_alloc(N_DISPATCH * sizeof *items);
    pthread_t th[2];
    uint64_t t0 = hsaq_now_ns();
    for (int i = 0; i < 2; i++) {
        prod[i] = (producer){.q = make_queue(hsaq_gpus[i], 1024, &rec[i]), .qi = i,
                             .done = make_signal(PER_QUEUE), .items = items,
                             .counters = hsaq_alloc(2 * sizeof(uint64_t))};
        REQUIRE(pthread_create(&th[i], NULL, producer_main, &prod[i]) == 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK(wait_zero(prod[i].done, MS(120000)));
    }
    uint64_t dt = hsaq_now_ns() - t0;
    fprintf(stderr, "%d dispatches over 2 queues: %.1f ms\n", N_DISPATCH, (double)dt / 1e6);
    for (int i = 0; i < 2; i++) {
        CHECK_EQ_U64(prod[i].counters[0], PER_QUEUE);
        CHECK_EQ_U64(prod[i].counters[1], 0);
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
        hsaq_free(prod[i].counters);
    }
    hsaq_free(items);
}

/* --- barriers across queues -------------------------------------------------------------- */
static void test_barriers(void)
{
    err_rec ra = {0}, rb = {0};
    hsa_queue_t *qa = make_queue(hsaq_gpus[0], 64, &ra);
    hsa_queue_t *qb = make_queue(hsaq_gpus[1], 64, &rb);
    const hsa_signal_t none[5] = {{0}, {0}, {0}, {0}, {0}};

    for (int is_and = 1; is_and >= 0; is_and--) {
        sv->flag = 0;
        sv->seen = -1;
        hsa_signal_t sa = make_signal(1), sb = make_signal(1), sbar = make_signal(1);
        hsa_signal_t never = make_signal(1);
        flag_args slow = {.flag = &sv->flag, .sleep_ms = 80};
        flag_args check = {.flag = &sv->flag, .seen = &sv->seen};
        /* B: barrier on A's completion (AND: with an idle 0 handle around it;
         * OR: with a signal that never completes), then the check kernel. */
        hsa_signal_t deps[5] = {{0}, sa, {0}, {0}, {0}};
        if (!is_and)
            deps[3] = never;
        uint64_t rd0 = hsa_queue_load_read_index_scacquire(qb);
        barrier(qb, is_and, deps, sbar);
        dispatch1(qb, K_CHECK, ARGS(check), sb);
        /* The barrier launches (read index moves past it) and then blocks:
         * A's work is not even enqueued, so nothing after it can have run,
         * however long this takes. */
        uint64_t deadline = hsaq_now_ns() + MS(60000);
        while (hsa_queue_load_read_index_scacquire(qb) < rd0 + 1 && hsaq_now_ns() < deadline)
            hsaq_sleep_ms(1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), rd0 + 1);
        CHECK(hsa_signal_load_scacquire(sbar) == 1);
        CHECK(hsa_signal_load_scacquire(sb) == 1);
        dispatch1(qa, K_SLOW, ARGS(slow), sa);
        CHECK(wait_zero(sb, MS(60000)));
        CHECK(hsa_signal_load_scacquire(sa) == 0);
        CHECK(hsa_signal_load_scacquire(sbar) == 0);
        CHECK(sv->seen == 1);
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
/* Errors that are not VM faults stop the queue with the status ROCR reports
 * and leave the device usable.  A memory fault would reach the system event
 * handler registered here first: there must be none in this file. */
static _Atomic uint64_t faults;
static hsa_status_t on_system_event(const hsa_amd_event_t *e, void *data)
{
    (void)data;
    if (e->event_type == HSA_AMD_GPU_MEMORY_FAULT_EVENT)
        atomic_fetch_add(&faults, 1);
    return HSA_STATUS_SUCCESS;
}

static void test_errors(void)
{
    REQUIRE(hsa_amd_register_system_event_handler(on_system_event, NULL) == HSA_STATUS_SUCCESS);
    count_args a = {sv->items, &sv->order[0], &sv->errors[0], 0, 0};
    /* memory the GPUs map, holding no kernel: a kernarg segment */
    const void *not_code = hsaq_kernarg(&a, sizeof a);
    struct {
        bool count; /* the count kernel, else kernel_object below */
        uint64_t ko;
        uint32_t dims;
        hsa_status_t want;
    } cases[] = {
        {false, 0, 1, HSA_STATUS_ERROR_INVALID_CODE_OBJECT},
        {false, (uint64_t)(uintptr_t)not_code, 1,
         (hsa_status_t)HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION},
        {true, 0, 0, HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err_rec rec = {0};
        hsa_queue_t *q = make_queue(hsaq_gpus[i % 2], 64, &rec);
        hsa_signal_t c1 = make_signal(1), c2 = make_signal(1);
        const uint32_t one[3] = {1, 1, 1};
        hsa_kernel_dispatch_packet_t p;
        memset(&p, 0, sizeof p);
        p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH, false);
        p.setup = (uint16_t)(cases[i].dims << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS);
        p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
        p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
        p.kernel_object = cases[i].count ? kernel_for(q, K_COUNT) : cases[i].ko;
        p.kernarg_address = hsaq_kernarg(&a, sizeof a);
        p.completion_signal = c1;
        submit(q, &p);
        dispatch(q, K_COUNT, ARGS(a), 1, one, one, 0, c2, false);
        uint64_t t0 = hsaq_now_ns();
        while (atomic_load(&rec.calls) == 0 && hsaq_now_ns() - t0 < MS(10000))
            hsaq_sleep_ms(1);
        hsaq_sleep_ms(20);
        CHECK_EQ_U64(atomic_load(&rec.calls), 1);
        CHECK_EQ_U64((uint32_t)atomic_load(&rec.status), (uint32_t)cases[i].want);
        CHECK(atomic_load(&rec.source) == q);
        /* the queue is suspended: nothing completes, nothing after runs */
        CHECK(hsa_signal_load_scacquire(c1) == 1);
        CHECK(hsa_signal_load_scacquire(c2) == 1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), 0);
        CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c1) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c2) == HSA_STATUS_SUCCESS);
    }
    CHECK_EQ_U64(sv->order[0], 0);
    CHECK_EQ_U64(atomic_load(&faults), 0);
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
    atomic_store(&sv->started, 0);
    flag_args slow = {.started = &sv->started, .sleep_ms = 50};
    hsa_signal_t c1 = make_signal(1), c2 = make_signal(1);
    dispatch1(q, K_SLOW, ARGS(slow), c1);
    while (!atomic_load(&sv->started))
        hsaq_sleep_ms(1);
    CHECK(hsa_queue_inactivate(q) == HSA_STATUS_SUCCESS);
    /* the dispatch in progress never completes; later packets never run */
    dispatch1(q, K_SLOW, ARGS(slow), c2);
    hsaq_sleep_ms(100);
    CHECK(hsa_signal_load_scacquire(c1) == 1);
    CHECK(hsa_signal_load_scacquire(c2) == 1);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    CHECK(hsa_queue_inactivate(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);

    /* destroy while packets are in flight */
    for (int round = 0; round < 4; round++) {
        q = make_queue(hsaq_gpus[1], 64, &rec);
        flag_args quick = {.sleep_ms = 1};
        hsa_signal_store_relaxed(c1, 20);
        for (int i = 0; i < 20; i++)
            dispatch1(q, K_SLOW, ARGS(quick), c1);
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

static hsa_kernel_dispatch_packet_t count_packet(hsa_queue_t *q, const count_args *a,
                                                 hsa_signal_t completion)
{
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH, false);
    p.setup = 1;
    p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
    p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
    p.kernel_object = kernel_for(q, K_COUNT);
    p.kernarg_address = hsaq_kernarg(a, sizeof *a);
    p.completion_signal = completion;
    return p;
}

static void test_publication(void)
{
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(hsaq_gpus[0], 64, &rec);
    hsa_signal_t done = make_signal(2);
    uint64_t *items = sv->items, *order = &sv->order[0], *errors = &sv->errors[0];
    memset(sv->items, 0, sizeof sv->items);
    *order = *errors = 0;
    count_args a[2] = {{items, order, errors, 0, 0}, {items, order, errors, 1, 1}};
    /* two slots reserved, the second published first: nothing runs until the
     * first is published too, then both in order */
    uint64_t i0 = hsa_queue_add_write_index_scacq_screl(q, 1);
    uint64_t i1 = hsa_queue_add_write_index_scacq_screl(q, 1);
    hsa_kernel_dispatch_packet_t p1 = count_packet(q, &a[1], done),
                                 p0 = count_packet(q, &a[0], done);
    publish_at(q, i1, &p1);
    hsaq_sleep_ms(30);
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), i0);
    CHECK(hsa_signal_load_scacquire(done) == 2);
    publish_at(q, i0, &p0);
    CHECK(wait_zero(done, MS(60000)));
    CHECK_EQ_U64(*order, 2);
    CHECK_EQ_U64(*errors, 0);
    CHECK_EQ_U64(items[0] + items[1], 2);

    /* a destroyed completion signal: the packet runs, nothing is reported
     * (its memory is still signal memory, as in ROCR's pool) */
    hsa_signal_t gone = make_signal(1);
    CHECK(hsa_signal_destroy(gone) == HSA_STATUS_SUCCESS);
    hsa_signal_store_relaxed(done, 1);
    a[0].seq = 2;
    a[1].seq = 3;
    hsa_kernel_dispatch_packet_t pg = count_packet(q, &a[0], gone),
                                 pd = count_packet(q, &a[1], done);
    submit(q, &pg);
    submit(q, &pd);
    CHECK(wait_zero(done, MS(60000)));
    CHECK_EQ_U64(*order, 4);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    /* (a completion "signal" that is not signal memory is a VM fault:
     * ../faults/test_strict.c) */

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
        sv->flag = 1;
        sv->seen = -1;
        flag_args check = {.flag = &sv->flag, .seen = &sv->seen};
        hsa_signal_store_screlease(sig, cases[i].start);
        hsa_signal_store_relaxed(sbar, 1);
        hsa_signal_store_relaxed(sb, 1);
        uint64_t idx =
            barrier_value(qb, sig, cases[i].cond, cases[i].value, cases[i].mask, sbar);
        dispatch1(qb, K_CHECK, ARGS(check), sb);
        CHECK(wait_launched(qb, idx));
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 1);
        CHECK(hsa_signal_load_scacquire(sbar) == 1);
        hsa_signal_store_screlease(sig, cases[i].miss);
        CHECK(stays_nonzero(sbar));
        CHECK(hsa_signal_load_scacquire(sb) == 1);
        CHECK(sv->seen == -1);
        CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 1);
        store_args st = {sig, cases[i].hit};
        if (i % 2) {
            hsa_signal_store_relaxed(sa, 1);
            dispatch1(qa, K_STORE, ARGS(st), sa);
            CHECK(wait_zero(sa, MS(60000)));
        } else {
            hsa_signal_store_screlease(sig, cases[i].hit);
        }
        CHECK(wait_zero(sb, MS(60000)));
        CHECK(hsa_signal_load_scacquire(sbar) == 0);
        CHECK(sv->seen == 1);
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
    sv->flag = 1;
    sv->seen = -1;
    flag_args check = {.flag = &sv->flag, .seen = &sv->seen};
    /* (0 & 1) == 1 would not hold: the 0 handle is not read at all */
    barrier_value(qa, none, HSA_SIGNAL_CONDITION_EQ, 1, 1, sbar);
    barrier_value(qa, none, HSA_SIGNAL_CONDITION_EQ, 1, 1, none);
    dispatch1(qa, K_CHECK, ARGS(check), sb);
    CHECK(wait_zero(sb, MS(60000)));
    CHECK(hsa_signal_load_scacquire(sbar) == 1); /* decremented once */
    CHECK(sv->seen == 1);

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
    sv->seen = -1;
    dispatch1(qc, K_CHECK, ARGS(check), c2);
    CHECK(stays_nonzero(c1));
    CHECK(hsa_queue_inactivate(qc) == HSA_STATUS_SUCCESS);
    CHECK(stays_nonzero(c2));
    CHECK(hsa_signal_load_scacquire(c1) == 1);
    CHECK(sv->seen == -1);
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

/* Malformed vendor packets stop the queue with the status ROCR reports (a
 * "signal" that is not signal memory is a VM fault: ../faults). */
static void barrier_value_errors(void)
{
    struct {
        uint8_t format;
        uint32_t cond;
        hsa_status_t want;
    } cases[] = {
        {0, HSA_SIGNAL_CONDITION_EQ, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {3, HSA_SIGNAL_CONDITION_EQ, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {0xff, HSA_SIGNAL_CONDITION_EQ, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {HSA_AMD_PACKET_TYPE_BARRIER_VALUE, HSA_SIGNAL_CONDITION_GTE + 1,
         HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
        {HSA_AMD_PACKET_TYPE_BARRIER_VALUE, UINT32_MAX, HSA_STATUS_ERROR_INVALID_PACKET_FORMAT},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        err_rec rec = {0};
        hsa_queue_t *q = make_queue(hsaq_gpus[i % 2], 64, &rec);
        /* the signal satisfies the condition: only the check stops it */
        hsa_signal_t sig = make_signal(0), c1 = make_signal(1), c2 = make_signal(1);
        sv->flag = 1;
        sv->seen = -1;
        flag_args check = {.flag = &sv->flag, .seen = &sv->seen};
        hsa_amd_barrier_value_packet_t p = value_packet(sig, HSA_SIGNAL_CONDITION_EQ, 0, -1, c1);
        p.header.AmdFormat = cases[i].format;
        p.cond = cases[i].cond;
        submit(q, &p);
        dispatch1(q, K_CHECK, ARGS(check), c2);
        CHECK(wait_error(&rec));
        CHECK(stays_nonzero(c2)); /* and leaves time for a wrong second call */
        CHECK_EQ_U64(atomic_load(&rec.calls), 1);
        CHECK_EQ_U64((uint32_t)atomic_load(&rec.status), (uint32_t)cases[i].want);
        CHECK(atomic_load(&rec.source) == q);
        CHECK_EQ_U64(atomic_load(&faults), 0);
        CHECK(hsa_signal_load_scacquire(c1) == 1);
        CHECK(sv->seen == -1);
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
    uint64_t *out = hsaq_alloc((size_t)N * FILL_ITEMS * sizeof *out);
    uint64_t *totals = hsaq_alloc(2 * sizeof *totals); /* sum, mismatches */
    gather_args g = {.out = out, .sum = &totals[0], .mismatches = &totals[1], .n_dispatches = N};
    hsa_signal_t all = make_signal(v0), sbar = make_signal(1), sb = make_signal(1);
    uint64_t idx = barrier_value(qb, all, HSA_SIGNAL_CONDITION_LT, v0 - (N - 1), -1, sbar);
    dispatch1(qb, K_GATHER, ARGS(g), sb);
    CHECK(wait_launched(qb, idx));
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb), idx + 1);
    CHECK(hsa_signal_load_scacquire(sbar) == 1);
    CHECK(hsa_signal_load_scacquire(sb) == 1);
    const uint32_t grid[3] = {FILL_ITEMS, 1, 1}, wg[3] = {16, 1, 1};
    for (uint64_t i = 0; i < N; i++) {
        fill_args fa = {out, i};
        dispatch(qa, K_FILL, ARGS(fa), 1, grid, wg, 0, all, false);
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
    CHECK_EQ_U64(totals[1], 0);
    CHECK_EQ_U64(totals[0], want);
    CHECK(hsa_signal_destroy(all) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sbar) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(sb) == HSA_STATUS_SUCCESS);
    hsaq_free(totals);
    hsaq_free(out);
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
    uint64_t *items = sv->items, *order = sv->order, *errors = sv->errors;
    memset(sv->items, 0, sizeof sv->items);
    memset(sv->order, 0, sizeof sv->order);
    memset(sv->errors, 0, sizeof sv->errors);
    count_args a[3];
    for (int i = 0; i < 3; i++) {
        a[i] = (count_args){items, &order[i], &errors[i], (uint64_t)i, 0};
        dispatch1(q[i], K_COUNT, ARGS(a[i]), done);
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
    p.kernel_object = kernel_for(q[2], K_COUNT);
    p.kernarg_address = hsaq_kernarg(&a[2], sizeof a[2]);
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
    hsaq_load_kernels(QUEUE_KERNELS_CO);
    for (int k = 0; k < K_N; k++)
        for (int g = 0; g < hsaq_n_gpus; g++)
            kernel_objects[k][g] = hsaq_kernel_object(kernel_names[k], hsaq_gpus[g]);
    sv = hsaq_alloc(sizeof *sv);
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
