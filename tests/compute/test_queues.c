/* Queues and the inline dispatch path on hsasim: option checks, 10^5
 * order-sensitive dispatches over four queues on two devices with results
 * checked exactly, completions (blocking, polling, timeouts), cross-queue
 * barriers across devices, the journal, several producers on one queue, a
 * faulting kernel, and a device lost under a queue. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

#define N 256u
#define SECOND 1000000000ull
#define DEADLINE (30 * SECOND)

static rochp_kernel *g_chain, *g_join;
static rochp_device_info g_devs[2];

static rochp_launch g_launch; /* N work-items in blocks of 64 */

/* What a chain of steps first..first+count-1 makes of data. */
static void chain_expect(uint32_t *data, uint32_t first, uint32_t count)
{
    for (uint32_t s = first; s < first + count; s++)
        for (uint32_t x = 0; x < N; x++)
            data[x] = data[x] * 3u + s + x;
}

static rochp_queue *make_queue(rochp_context *ctx, rochp_device_id dev, rochp_queue_mode mode,
                               uint32_t packets, uint32_t journal)
{
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = mode;
    o.packets = packets;
    o.journal_length = journal;
    rochp_queue *q = NULL;
    REQUIRE(rochp_queue_create(ctx, dev, &o, &q) == ROCHP_OK);
    return q;
}

static uint32_t *device_words(rochp_context *ctx, rochp_device_id dev, rochp_buffer **b)
{
    REQUIRE(rochp_buffer_alloc(ctx, dev, N * sizeof(uint32_t), b) == ROCHP_OK);
    uint32_t zero[N] = {0};
    REQUIRE(rochp_buffer_write(*b, 0, zero, sizeof zero) == ROCHP_OK);
    return rochp_buffer_address(*b);
}

static void read_words(rochp_buffer *b, uint32_t *out)
{
    REQUIRE(rochp_buffer_read(b, 0, out, N * sizeof(uint32_t)) == ROCHP_OK);
}

static void test_options(rochp_context *ctx)
{
    rochp_queue *q = NULL;
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.packets = 100;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "packets 100 must be a power of two");
    rochp_queue_options_init(&o);
    o.kernarg_bytes = 48;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "kernarg_bytes 48 must be a power of two");
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 256;
    o.journal_length = 128;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "journal_length 128");
    rochp_queue_options_init(&o);
    o.mode = (rochp_queue_mode)7;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "unknown mode 7");
    rochp_queue_options_init(&o);
    o.struct_size = 3;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    /* The ring ABI: options made under another header's version, or by a
     * header without the field, are refused by name; this header's work. */
    rochp_queue_options_init(&o);
    CHECK(o.ring_abi == ROCHP_RING_ABI_VERSION);
    o.ring_abi = ROCHP_RING_ABI_VERSION + 1;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "compiled for ring ABI 3, this library has ring ABI 2");
    /* Ring ABI 1 (no guard) is still served; 0 never was one. */
    o.ring_abi = 1;
    REQUIRE(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_OK);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    q = NULL;
    o.ring_abi = 0;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_NOT_SUPPORTED);
    rochp_queue_options_init(&o);
    o.struct_size = (uint32_t)offsetof(rochp_queue_options, ring_abi);
    CHECK(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "without the ring ABI version");
    rochp_queue_options_init(&o);
    REQUIRE(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_OK);
    CHECK(rochp__ring(q)->abi_version == ROCHP_RING_ABI_VERSION);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    q = NULL;
    CHECK(rochp_queue_create(ctx, ROCHP_HOST, NULL, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "not ROCHP_HOST");
    CHECK(rochp_queue_create(ctx, 999, NULL, &q) == ROCHP_ERROR_NOT_FOUND);
    CHECK(rochp_queue_create(NULL, g_devs[0].id, NULL, &q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(q == NULL);

    /* A kernel whose arguments do not fit the slots is refused at bind time. */
    rochp_queue_options_init(&o);
    o.kernarg_bytes = 16;
    REQUIRE(rochp_queue_create(ctx, g_devs[0].id, &o, &q) == ROCHP_OK);
    const rochp_dispatch_kernel *k;
    CHECK(rochp_kernel_bind(g_join, q, &k) == ROCHP_ERROR_TOO_LARGE);
    CHECK_CONTAINS(rochp_last_error(), "join_add takes 28 bytes");
    CHECK(rochp_kernel_bind(g_chain, q, &k) == ROCHP_OK);
    CHECK_EQ_U64(k->kernarg_size, 16);
    CHECK_EQ_U64(k->args_min, 16);
    CHECK(k->kernel == g_chain && k->kernel_object != 0);
    const rochp_dispatch_kernel *again;
    CHECK(rochp_kernel_bind(g_chain, q, &again) == ROCHP_OK && again == k);
    uint64_t len;
    CHECK(rochp_queue_journal_length(q, &len) == ROCHP_ERROR_NOT_SUPPORTED);
    rochp_completion never = {q, 0};
    CHECK(rochp_completion_wait(&never, 0) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "never written");
    CHECK(rochp_queue_device(q) == g_devs[0].id);
    /* More argument bytes than a slot holds: refused before anything is written. */
    uint8_t big[32] = {0};
    size_t big_size = sizeof big;
    CHECK(rochp_dispatch(q, k, &g_launch, big, big_size, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_completion_wait(&never, 0) == ROCHP_ERROR_INVALID_ARGUMENT);
    rochp_launch l;
    CHECK(rochp_launch_init(&l, (rochp_dim3){1, 1, 1}, (rochp_dim3){1025, 1, 1}) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "block 1025x1x1");
    CHECK(rochp_launch_init(&l, (rochp_dim3){1, 1, 1}, (rochp_dim3){32, 32, 2}) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_launch_init(&l, (rochp_dim3){8, 0, 1}, (rochp_dim3){1, 1, 1}) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "zero dimension");
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    CHECK(rochp_queue_destroy(NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
}

/* 10^5 dispatches: 4 queues (2 per device, one of them journaled), each an
 * order-sensitive chain on its own buffer; rings of 64 packets so that the
 * wait-for-room path runs all the time. */
static void test_many(rochp_context *ctx)
{
    enum { QUEUES = 4, PER_QUEUE = 25000 };
    rochp_queue *q[QUEUES];
    rochp_buffer *b[QUEUES];
    uint32_t *data[QUEUES];
    const rochp_dispatch_kernel *k[QUEUES];
    for (int i = 0; i < QUEUES; i++) {
        rochp_device_id dev = g_devs[i % 2].id;
        q[i] = make_queue(ctx, dev, i == 3 ? ROCHP_QUEUE_JOURNALED : ROCHP_QUEUE_PLAIN, 64,
                          i == 3 ? 32768 : 0);
        data[i] = device_words(ctx, dev, &b[i]);
        REQUIRE(rochp_kernel_bind(g_chain, q[i], &k[i]) == ROCHP_OK);
    }
    rochp_completion last[QUEUES];
    for (uint32_t s = 0; s < PER_QUEUE; s++)
        for (int i = 0; i < QUEUES; i++) {
            chain_args a = {data[i], N, s + 1000u * (uint32_t)i};
            REQUIRE(rochp_dispatch(q[i], k[i], &g_launch, &a, sizeof a, &last[i]) == ROCHP_OK);
        }
    for (int i = 0; i < QUEUES; i++) {
        CHECK(rochp_completion_wait(&last[i], DEADLINE) == ROCHP_OK);
        CHECK(rochp_completion_done(&last[i]));
        CHECK_EQ_U64(last[i].id, PER_QUEUE - 1);
        uint32_t want[N] = {0}, got[N];
        chain_expect(want, 1000u * (uint32_t)i, PER_QUEUE);
        read_words(b[i], got);
        CHECK(memcmp(want, got, sizeof want) == 0);
    }
    uint64_t len = 0;
    CHECK(rochp_queue_journal_length(q[3], &len) == ROCHP_OK);
    CHECK_EQ_U64(len, PER_QUEUE);
    for (int i = 0; i < QUEUES; i++) {
        CHECK(rochp_queue_destroy(q[i]) == ROCHP_OK);
        CHECK(rochp_buffer_free(b[i]) == ROCHP_OK);
    }
}

/* Two chains on two devices, joined on a third queue that waits for both
 * with barrier packets; repeated so that a missing wait would show. */
static void test_cross_queue(rochp_context *ctx)
{
    rochp_queue *qa = make_queue(ctx, g_devs[0].id, ROCHP_QUEUE_PLAIN, 64, 0);
    rochp_queue *qb = make_queue(ctx, g_devs[1].id, ROCHP_QUEUE_PLAIN, 64, 0);
    rochp_queue *qj = make_queue(ctx, g_devs[1].id, ROCHP_QUEUE_JOURNALED, 64, 1024);
    rochp_buffer *ba, *bb, *bo;
    uint32_t *a = device_words(ctx, g_devs[0].id, &ba);
    uint32_t *b = device_words(ctx, g_devs[1].id, &bb);
    uint32_t *out = device_words(ctx, g_devs[1].id, &bo);
    const rochp_dispatch_kernel *ka, *kb, *kj;
    REQUIRE(rochp_kernel_bind(g_chain, qa, &ka) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_chain, qb, &kb) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_join, qj, &kj) == ROCHP_OK);
    uint32_t want_a[N] = {0}, want_b[N] = {0};
    for (uint32_t round = 0; round < 50; round++) {
        rochp_completion ca, cb, cj;
        for (uint32_t s = 0; s < 7; s++) {
            chain_args x = {a, N, round * 7 + s}, y = {b, N, 5000 + round * 7 + s};
            REQUIRE(rochp_dispatch(qa, ka, &g_launch, &x, sizeof x, &ca) == ROCHP_OK);
            REQUIRE(rochp_dispatch(qb, kb, &g_launch, &y, sizeof y, &cb) == ROCHP_OK);
        }
        chain_expect(want_a, round * 7, 7);
        chain_expect(want_b, 5000 + round * 7, 7);
        REQUIRE(rochp_dispatch_barrier(qj, &ca, NULL) == ROCHP_OK);
        REQUIRE(rochp_dispatch_barrier(qj, &cb, NULL) == ROCHP_OK);
        join_args j = {out, a, b, N, 0};
        REQUIRE(rochp_dispatch(qj, kj, &g_launch, &j, sizeof j, &cj) == ROCHP_OK);
        CHECK(rochp_completion_wait(&cj, DEADLINE) == ROCHP_OK);
        /* The chains may go on meanwhile only after the join: wait for them too. */
        CHECK(rochp_completion_done(&ca) && rochp_completion_done(&cb));
        uint32_t got[N];
        read_words(bo, got);
        uint32_t bad = 0;
        for (uint32_t x = 0; x < N; x++)
            bad += got[x] != want_a[x] + want_b[x];
        CHECK_EQ_U64(bad, 0);
    }
    /* The journal holds barriers with their dependencies and dispatches with
     * their arguments, in order. */
    uint64_t len = 0;
    CHECK(rochp_queue_journal_length(qj, &len) == ROCHP_OK);
    CHECK_EQ_U64(len, 150);
    rochp_journal_entry e;
    const void *args = NULL;
    CHECK(rochp_queue_journal_entry(qj, 147, &e, &args) == ROCHP_OK);
    CHECK(e.kind == ROCHP_JOURNAL_BARRIER && e.dep_queue == qa && args == NULL);
    CHECK_EQ_U64(e.dep_id, 49 * 7 + 6);
    CHECK(rochp_queue_journal_entry(qj, 148, &e, &args) == ROCHP_OK);
    CHECK(e.kind == ROCHP_JOURNAL_BARRIER && e.dep_queue == qb);
    CHECK(rochp_queue_journal_entry(qj, 149, &e, &args) == ROCHP_OK);
    CHECK(e.kind == ROCHP_JOURNAL_DISPATCH && e.kernel == g_join);
    CHECK(e.launch.grid[0] == N && e.launch.grid[1] == 1 && e.launch.block[0] == 64 &&
          e.launch.block[2] == 1 && e.args_size == sizeof(join_args));
    join_args j = {out, a, b, N, 0};
    CHECK(args && memcmp(args, &j, sizeof j) == 0);
    CHECK(rochp_queue_journal_entry(qj, 150, &e, &args) == ROCHP_ERROR_NOT_FOUND);

    /* A barrier on a packet not yet written waits for it: a timeout first. */
    rochp_completion future = {qa, 350 + 2}, cj;
    REQUIRE(rochp_dispatch_barrier(qj, &future, &cj) == ROCHP_OK);
    CHECK(rochp_completion_wait(&cj, 20 * 1000 * 1000) == ROCHP_ERROR_TIMEOUT);
    CHECK_CONTAINS(rochp_last_error(), "has not completed");
    CHECK(!rochp_completion_done(&cj));
    for (uint32_t s = 0; s < 3; s++) {
        chain_args x = {a, N, 9000 + s};
        REQUIRE(rochp_dispatch(qa, ka, &g_launch, &x, sizeof x, NULL) == ROCHP_OK);
    }
    CHECK(rochp_completion_wait(&cj, DEADLINE) == ROCHP_OK);
    CHECK(rochp_queue_wait_idle(qa, DEADLINE) == ROCHP_OK);

    /* qj's journal passes the buffers to kernels: they stay until it goes. */
    CHECK(rochp_buffer_free(ba) == ROCHP_ERROR_BUSY);
    CHECK_CONTAINS(rochp_last_error(), "journal of queue");
    rochp_queue *qs[] = {qa, qb, qj};
    rochp_buffer *bs[] = {ba, bb, bo};
    for (int i = 0; i < 3; i++)
        CHECK(rochp_queue_destroy(qs[i]) == ROCHP_OK);
    for (int i = 0; i < 3; i++)
        CHECK(rochp_buffer_free(bs[i]) == ROCHP_OK);
}

/* A full journal refuses before taking a packet id. */
static void test_journal_full(rochp_context *ctx)
{
    rochp_queue *q = make_queue(ctx, g_devs[0].id, ROCHP_QUEUE_JOURNALED, 64, 64);
    rochp_buffer *b;
    uint32_t *data = device_words(ctx, g_devs[0].id, &b);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(g_chain, q, &k) == ROCHP_OK);
    rochp_completion c;
    for (uint32_t s = 0; s < 64; s++) {
        chain_args a = {data, N, s};
        REQUIRE(rochp_dispatch(q, k, &g_launch, &a, sizeof a, &c) == ROCHP_OK);
    }
    chain_args a = {data, N, 64};
    CHECK(rochp_dispatch(q, k, &g_launch, &a, sizeof a, &c) == ROCHP_ERROR_JOURNAL_FULL);
    CHECK_EQ_U64(c.id, 63); /* untouched */
    CHECK(rochp_dispatch_barrier(q, &c, NULL) == ROCHP_ERROR_JOURNAL_FULL);
    CHECK(rochp_queue_wait_idle(q, DEADLINE) == ROCHP_OK);
    uint32_t want[N] = {0}, got[N];
    chain_expect(want, 0, 64);
    read_words(b, got);
    CHECK(memcmp(want, got, sizeof want) == 0);
    uint64_t len = 0;
    CHECK(rochp_queue_journal_length(q, &len) == ROCHP_OK);
    CHECK_EQ_U64(len, 64);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    CHECK(rochp_buffer_free(b) == ROCHP_OK);
}

/* Several producers on one queue: each thread's chain on its own buffer,
 * in its own order, interleaved with the others' packets in the ring. */
enum { PRODUCERS = 3, PRODUCER_STEPS = 3000 };

typedef struct producer {
    rochp_queue *queue;
    const rochp_dispatch_kernel *kernel;
    uint32_t *data;
    uint32_t first;
    rochp_status status;
    rochp_completion last;
} producer;

static void *produce(void *arg)
{
    producer *p = arg;
    for (uint32_t s = 0; s < PRODUCER_STEPS && p->status == ROCHP_OK; s++) {
        chain_args a = {p->data, N, p->first + s};
        p->status = rochp_dispatch(p->queue, p->kernel, &g_launch, &a, sizeof a, &p->last);
    }
    return NULL;
}

static void test_producers(rochp_context *ctx)
{
    rochp_queue *q = make_queue(ctx, g_devs[1].id, ROCHP_QUEUE_PLAIN, 64, 0);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(g_chain, q, &k) == ROCHP_OK);
    rochp_buffer *b[PRODUCERS];
    producer p[PRODUCERS];
    pthread_t t[PRODUCERS];
    for (uint32_t i = 0; i < PRODUCERS; i++)
        p[i] = (producer){q, k, device_words(ctx, g_devs[1].id, &b[i]), 100000 * i, ROCHP_OK,
                          {NULL, 0}};
    for (uint32_t i = 0; i < PRODUCERS; i++)
        REQUIRE(pthread_create(&t[i], NULL, produce, &p[i]) == 0);
    for (uint32_t i = 0; i < PRODUCERS; i++)
        pthread_join(t[i], NULL);
    CHECK(rochp_queue_wait_idle(q, DEADLINE) == ROCHP_OK);
    uint64_t max_id = 0;
    for (uint32_t i = 0; i < PRODUCERS; i++) {
        CHECK(p[i].status == ROCHP_OK);
        max_id = p[i].last.id > max_id ? p[i].last.id : max_id;
        uint32_t want[N] = {0}, got[N];
        chain_expect(want, p[i].first, PRODUCER_STEPS);
        read_words(b[i], got);
        CHECK(memcmp(want, got, sizeof want) == 0);
        CHECK(rochp_buffer_free(b[i]) == ROCHP_OK);
    }
    CHECK_EQ_U64(max_id, PRODUCERS * PRODUCER_STEPS - 1);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
}

/* A kernel object in memory the GPU maps but that holds no code: the
 * runtime reports the queue dead (illegal instruction); no memory fault, so
 * the device stays usable and a new queue works.  (A kernel object the GPU
 * cannot reach at all is a memory fault: the flows test covers that.) */
static void test_fault(rochp_context *ctx)
{
    rochp_queue *q = make_queue(ctx, g_devs[0].id, ROCHP_QUEUE_PLAIN, 64, 0);
    rochp_buffer *not_code;
    (void)device_words(ctx, g_devs[0].id, &not_code);
    const rochp_dispatch_kernel *good;
    REQUIRE(rochp_kernel_bind(g_chain, q, &good) == ROCHP_OK);
    rochp_dispatch_kernel bogus = *good;
    bogus.kernel_object = (uint64_t)(uintptr_t)rochp_buffer_address(not_code);
    chain_args a = {NULL, 0, 0};
    rochp_completion c;
    REQUIRE(rochp_dispatch(q, &bogus, &g_launch, &a, sizeof a, &c) == ROCHP_OK);
    CHECK(rochp_completion_wait(&c, DEADLINE) == ROCHP_ERROR_QUEUE_FAILED);
    CHECK_CONTAINS(rochp_last_error(), "failed");
    CHECK(rochp_dispatch(q, &bogus, &g_launch, &a, sizeof a, &c) == ROCHP_ERROR_QUEUE_FAILED);
    rochp_device_info info;
    CHECK(rochp_device_get(ctx, g_devs[0].id, &info) == ROCHP_OK &&
          info.state == ROCHP_DEVICE_PRESENT);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    CHECK(rochp_buffer_free(not_code) == ROCHP_OK);

    q = make_queue(ctx, g_devs[0].id, ROCHP_QUEUE_PLAIN, 64, 0);
    rochp_buffer *b;
    uint32_t *data = device_words(ctx, g_devs[0].id, &b);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(g_chain, q, &k) == ROCHP_OK);
    chain_args ok = {data, N, 7};
    REQUIRE(rochp_dispatch(q, k, &g_launch, &ok, sizeof ok, &c) == ROCHP_OK);
    CHECK(rochp_completion_wait(&c, DEADLINE) == ROCHP_OK);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    CHECK(rochp_buffer_free(b) == ROCHP_OK);
}

/* Device 0 leaves: its queue's waits and dispatches fail with DEVICE_LOST;
 * the other device's queue goes on. */
static void test_loss(rochp_context *ctx, const char *dir)
{
    rochp_queue *q0 = make_queue(ctx, g_devs[0].id, ROCHP_QUEUE_PLAIN, 64, 0);
    rochp_queue *q1 = make_queue(ctx, g_devs[1].id, ROCHP_QUEUE_PLAIN, 64, 0);
    rochp_buffer *b1;
    uint32_t *data = device_words(ctx, g_devs[1].id, &b1);
    const rochp_dispatch_kernel *k1;
    REQUIRE(rochp_kernel_bind(g_chain, q1, &k1) == ROCHP_OK);
    /* In flight on device 0 when it goes: a barrier on what never comes. */
    rochp_completion never = {q1, 1u << 30}, stuck;
    REQUIRE(rochp_dispatch_barrier(q0, &never, &stuck) == ROCHP_OK);
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, g_devs[0].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_completion_wait(&stuck, DEADLINE) == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "has been lost");
    CHECK(rochp_dispatch_barrier(q0, &stuck, NULL) == ROCHP_ERROR_DEVICE_LOST);
    rochp_queue *q;
    CHECK(rochp_queue_create(ctx, g_devs[0].id, NULL, &q) == ROCHP_ERROR_DEVICE_LOST);

    chain_args a = {data, N, 3};
    rochp_completion c;
    REQUIRE(rochp_dispatch(q1, k1, &g_launch, &a, sizeof a, &c) == ROCHP_OK);
    CHECK(rochp_completion_wait(&c, DEADLINE) == ROCHP_OK);
    uint32_t want[N] = {0}, got[N];
    chain_expect(want, 3, 1);
    read_words(b1, got);
    CHECK(memcmp(want, got, sizeof want) == 0);
    /* Destroying the dead queue does not wait for what never completes. */
    CHECK(rochp_queue_destroy(q0) == ROCHP_OK);
    CHECK(rochp_queue_destroy(q1) == ROCHP_OK);
    CHECK(rochp_buffer_free(b1) == ROCHP_OK);
}

/* The example's OpenCL kernels built by clang for gfx90a put their explicit
 * arguments where the host kernels do (any hidden ones follow). */
static void test_real_layout(rochp_context *ctx, rochp_module *host)
{
    if (!PIPELINE_GFX90A_CO[0]) {
        fprintf(stderr, "no clang-15: the gfx90a pipeline object is not checked\n");
        return;
    }
    rochp_module *real;
    REQUIRE(rochp_module_load_file(ctx, PIPELINE_GFX90A_CO, &real) == ROCHP_OK);
    const char *names[] = {"chain_step", "join_add"};
    for (int i = 0; i < 2; i++) {
        rochp_kernel *hk, *rk;
        REQUIRE(rochp_module_kernel(host, names[i], &hk) == ROCHP_OK);
        REQUIRE(rochp_module_kernel(real, names[i], &rk) == ROCHP_OK);
        rochp_kernel_info hi, ri;
        REQUIRE(rochp_kernel_get_info(hk, &hi) == ROCHP_OK);
        REQUIRE(rochp_kernel_get_info(rk, &ri) == ROCHP_OK);
        CHECK(ri.n_args >= hi.n_args);
        for (uint32_t a = hi.n_args; a < ri.n_args; a++) {
            rochp_kernel_arg extra;
            CHECK(rochp_kernel_get_arg(rk, a, &extra) == ROCHP_OK && extra.hidden);
        }
        for (uint32_t a = 0; a < hi.n_args; a++) {
            rochp_kernel_arg ha, ra;
            REQUIRE(rochp_kernel_get_arg(hk, a, &ha) == ROCHP_OK);
            REQUIRE(rochp_kernel_get_arg(rk, a, &ra) == ROCHP_OK);
            CHECK_EQ_U64(ra.offset, ha.offset);
            CHECK_EQ_U64(ra.size, ha.size);
            CHECK_EQ_STR(ra.value_kind, ha.value_kind);
            CHECK(!ra.hidden);
        }
    }
    CHECK(rochp_module_free(real) == ROCHP_OK);
}

int main(void)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "queues", "mi210", 2, "silent");
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, g_devs, 2, &n) == ROCHP_OK && n == 2);
    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &m) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "chain_step", &g_chain) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "join_add", &g_join) == ROCHP_OK);
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){64, 1, 1}) ==
            ROCHP_OK);

    test_real_layout(ctx, m);
    test_options(ctx);
    test_many(ctx);
    test_cross_queue(ctx);
    test_journal_full(ctx);
    test_producers(ctx);
    test_fault(ctx);
    test_loss(ctx, dir);

    /* A queue left alive is destroyed with its context. */
    (void)make_queue(ctx, g_devs[1].id, ROCHP_QUEUE_JOURNALED, 64, 64);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
