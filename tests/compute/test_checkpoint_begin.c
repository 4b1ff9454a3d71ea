/* Checkpoints whose copies overlap the next work (rochp_checkpoint_begin /
 * _finish), through the public API on hsasim.  A GPU's copy engine is held
 * (an async copy waiting on a signal the test owns, through the runtime's
 * own calls), so that the checkpoint's copy of a buffer is still pending
 * when work is dispatched after begin:
 *   - a kernel that writes the buffer waits in rochp_dispatch for the copy,
 *     so the checkpoint holds the bytes of the cut (restore gives them back);
 *     without the guard it would run before the copy and the checkpoint
 *     would hold the step's result;
 *   - a kernel that only reads it runs (and completes) with the copy held;
 *   - a second begin while the copies are held is BUSY; finish times out;
 *   - a call that needs the checkpoint commits it and finish reports it;
 *   - a device lost under the copy: finish is DEVICE_LOST, the previous
 *     checkpoint stands, and recovery gives the work back bit for bit;
 *   - a queue of ring ABI 1 (no guard) makes begin wait for its copies. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

#define N (1u << 20) /* words: 4 MiB buffers */
#define SECOND 1000000000ull

static rochp_context *g_ctx;
static rochp_device_info g_devs[2];
static rochp_kernel *g_chain, *g_join;
static rochp_launch g_launch;

/* The runtime's calls, from the hsasim rochp loaded. */
static hsa_status_t (*p_signal_create)(hsa_signal_value_t, uint32_t, const hsa_agent_t *,
                                       hsa_signal_t *);
static hsa_status_t (*p_signal_destroy)(hsa_signal_t);
static void (*p_signal_store)(hsa_signal_t, hsa_signal_value_t);
static hsa_signal_value_t (*p_signal_wait)(hsa_signal_t, hsa_signal_condition_t,
                                           hsa_signal_value_t, uint64_t, hsa_wait_state_t);
static hsa_status_t (*p_async_copy)(void *, hsa_agent_t, const void *, hsa_agent_t, size_t,
                                    uint32_t, const hsa_signal_t *, hsa_signal_t);

static void runtime_calls(void)
{
    void *h = dlopen(HSASIM_PATH, RTLD_NOW | RTLD_NOLOAD);
    REQUIRE(h);
    *(void **)&p_signal_create = dlsym(h, "hsa_signal_create");
    *(void **)&p_signal_destroy = dlsym(h, "hsa_signal_destroy");
    *(void **)&p_signal_store = dlsym(h, "hsa_signal_store_screlease");
    *(void **)&p_signal_wait = dlsym(h, "hsa_signal_wait_scacquire");
    *(void **)&p_async_copy = dlsym(h, "hsa_amd_memory_async_copy");
    REQUIRE(p_signal_create && p_signal_destroy && p_signal_store && p_signal_wait &&
            p_async_copy);
    dlclose(h);
}

/* A device's copy engine, busy with a copy that waits for release(). */
typedef struct hold {
    hsa_signal_t gate, done;
} hold;

/* What the holds copy: made before the first checkpoint (so that it is not
 * copied again: nothing rochp sees writes it). */
static rochp_buffer *g_scratch[2];

static hold engine_hold(int dev)
{
    hold h;
    REQUIRE(p_signal_create(1, 0, NULL, &h.gate) == HSA_STATUS_SUCCESS);
    REQUIRE(p_signal_create(1, 0, NULL, &h.done) == HSA_STATUS_SUCCESS);
    char *p = rochp_buffer_address(g_scratch[dev]);
    hsa_agent_t a = {g_devs[dev].hsa_agent};
    REQUIRE(p_async_copy(p, a, p + 4096, a, 4096, 1, &h.gate, h.done) == HSA_STATUS_SUCCESS);
    return h;
}

static void engine_release(hold *h)
{
    p_signal_store(h->gate, 0);
    REQUIRE(p_signal_wait(h->done, HSA_SIGNAL_CONDITION_LT, 1, 30 * SECOND,
                          HSA_WAIT_STATE_BLOCKED) == 0);
    p_signal_destroy(h->gate);
    p_signal_destroy(h->done);
}

static uint32_t *seeded(uint32_t seed)
{
    uint32_t *v = malloc(N * 4);
    REQUIRE(v);
    for (uint32_t i = 0; i < N; i++)
        v[i] = seed * 2654435761u + i;
    return v;
}

static bool holds(rochp_buffer *b, const uint32_t *want)
{
    uint32_t *got = malloc(N * 4);
    REQUIRE(got && rochp_buffer_read(b, 0, got, N * 4) == ROCHP_OK);
    bool same = memcmp(got, want, N * 4) == 0;
    free(got);
    return same;
}

/* chain_step's result on the host. */
static void step_on_host(uint32_t *v, uint32_t step)
{
    for (uint32_t x = 0; x < N; x++)
        v[x] = v[x] * 3u + step + x;
}

typedef struct dispatcher {
    rochp_queue *q;
    const rochp_dispatch_kernel *k;
    const void *args;
    size_t size;
    rochp_completion done;
    rochp_status st;
    atomic_int returned;
} dispatcher;

static void *dispatch_thread(void *arg)
{
    dispatcher *d = arg;
    d->st = rochp_dispatch(d->q, d->k, &g_launch, d->args, d->size, &d->done);
    atomic_store(&d->returned, 1);
    return NULL;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Until d's dispatch returned or deadline_s passed. */
static bool returned_within(dispatcher *d, int deadline_s)
{
    for (int i = 0; i < deadline_s * 100 && !atomic_load(&d->returned); i++)
        nap_ms(10);
    return atomic_load(&d->returned);
}

static void checkpoint_ok(void)
{
    rochp_status st = rochp_checkpoint(g_ctx, 30 * SECOND, NULL);
    if (st != ROCHP_OK)
        fprintf(stderr, "checkpoint: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
}

int main(void)
{
    char dir[256];
    g_ctx = test_sim_context(dir, sizeof dir, "ckbegin", "mi210", 2, "silent");
    runtime_calls();
    size_t n = 0;
    REQUIRE(rochp_device_list(g_ctx, g_devs, 2, &n) == ROCHP_OK && n == 2);
    rochp_module *m;
    REQUIRE(rochp_module_load_file(g_ctx, CHAIN_CO, &m) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "chain_step", &g_chain) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "join_add", &g_join) == ROCHP_OK);
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);
    rochp_queue_options qo;
    rochp_queue_options_init(&qo);
    qo.mode = ROCHP_QUEUE_JOURNALED;
    rochp_queue *q[2];
    const rochp_dispatch_kernel *chain[2], *join0;
    for (int g = 0; g < 2; g++) {
        REQUIRE(rochp_queue_create(g_ctx, g_devs[g].id, &qo, &q[g]) == ROCHP_OK);
        REQUIRE(rochp_kernel_bind(g_chain, q[g], &chain[g]) == ROCHP_OK);
    }
    REQUIRE(rochp_kernel_bind(g_join, q[0], &join0) == ROCHP_OK);
    rochp_buffer *a, *b, *c;
    REQUIRE(rochp_buffer_alloc(g_ctx, g_devs[0].id, N * 4, &a) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(g_ctx, g_devs[1].id, N * 4, &b) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(g_ctx, g_devs[0].id, N * 4, &c) == ROCHP_OK);
    uint32_t *va = seeded(1), *vb = seeded(2), *vc = seeded(3);
    REQUIRE(rochp_buffer_write(a, 0, va, N * 4) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(b, 0, vb, N * 4) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(c, 0, vc, N * 4) == ROCHP_OK);
    for (int g = 0; g < 2; g++)
        REQUIRE(rochp_buffer_alloc(g_ctx, g_devs[g].id, 8192, &g_scratch[g]) == ROCHP_OK);
    checkpoint_ok();

    rochp_checkpoint_stats s;
    CHECK(rochp_checkpoint_finish(g_ctx, 0, &s) == ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(rochp_last_error(), "no checkpoint was begun");
    CHECK(rochp_checkpoint_begin(NULL, 0) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_checkpoint_finish(NULL, 0, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);

    /* A step on a, then a checkpoint begun with GPU 0's engine held: a's
     * copy waits behind the hold. */
    chain_args x = {rochp_buffer_address(a), N, 7};
    rochp_completion done;
    REQUIRE(rochp_dispatch(q[0], chain[0], &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    step_on_host(va, 7); /* the cut's bytes of a */
    hold h = engine_hold(0);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);
    /* Not done while the copy is held; a second one cannot begin. */
    CHECK(rochp_checkpoint_finish(g_ctx, 20 * 1000 * 1000, &s) == ROCHP_ERROR_TIMEOUT);
    CHECK(rochp_checkpoint_begin(g_ctx, 0) == ROCHP_ERROR_BUSY);
    CHECK_CONTAINS(rochp_last_error(), "still copying");

    /* A kernel that only reads a (writing c, not being copied) runs now. */
    join_args jx = {rochp_buffer_address(c), rochp_buffer_address(a), rochp_buffer_address(a), N,
                    0};
    dispatcher rd = {.q = q[0], .k = join0, .args = &jx, .size = sizeof jx};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, dispatch_thread, &rd) == 0);
    bool reader_ran = returned_within(&rd, 30);
    CHECK(reader_ran);
    if (reader_ran) {
        CHECK(rd.st == ROCHP_OK);
        CHECK(rochp_completion_wait(&rd.done, 30 * SECOND) == ROCHP_OK);
    }
    /* One that writes a waits for a's copy. */
    chain_args x2 = {rochp_buffer_address(a), N, 8};
    dispatcher wr = {.q = q[0], .k = chain[0], .args = &x2, .size = sizeof x2};
    pthread_t t2;
    REQUIRE(pthread_create(&t2, NULL, dispatch_thread, &wr) == 0);
    nap_ms(100); /* time for an unguarded dispatch to run before the copy */
    CHECK(!atomic_load(&wr.returned));
    engine_release(&h);
    REQUIRE(pthread_join(t, NULL) == 0);
    REQUIRE(pthread_join(t2, NULL) == 0);
    CHECK(wr.st == ROCHP_OK);
    CHECK(rochp_completion_wait(&wr.done, 30 * SECOND) == ROCHP_OK);
    CHECK(rochp_checkpoint_finish(g_ctx, 30 * SECOND, &s) == ROCHP_OK);
    CHECK_EQ_U64(s.buffers_copied, 1); /* a: written since the last checkpoint */
    CHECK_EQ_U64(s.bytes_copied, N * 4);
    CHECK_EQ_U64(s.packets, 1);
    CHECK(rochp_checkpoint_finish(g_ctx, 0, &s) == ROCHP_ERROR_NOT_FOUND);
    /* The work after the cut ran on a and c ... */
    uint32_t *va2 = malloc(N * 4), *vc2 = malloc(N * 4);
    REQUIRE(va2 && vc2);
    memcpy(va2, va, N * 4);
    for (uint32_t i = 0; i < N; i++)
        vc2[i] = va[i] + va[i];
    step_on_host(va2, 8);
    CHECK(holds(a, va2));
    CHECK(holds(c, vc2));
    /* ... and the checkpoint holds the cut: a restore gives it back. */
    CHECK(rochp_checkpoint_restore(g_ctx, NULL) == ROCHP_OK);
    CHECK(holds(a, va));
    CHECK(holds(c, vc));

    /* A call that needs the checkpoint commits it; finish reports that. */
    REQUIRE(rochp_dispatch(q[0], chain[0], &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    step_on_host(va, 7);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);
    CHECK(rochp_checkpoint_restore(g_ctx, NULL) == ROCHP_OK);
    CHECK(holds(a, va));
    CHECK(rochp_checkpoint_finish(g_ctx, 0, &s) == ROCHP_OK);
    CHECK_EQ_U64(s.buffers_copied, 1);

    /* GPU 1 lost under the copy of b: finish fails, the previous checkpoint
     * stands, and recovery replays b's step from it onto GPU 0. */
    chain_args y = {rochp_buffer_address(b), N, 9};
    REQUIRE(rochp_dispatch(q[1], chain[1], &g_launch, &y, sizeof y, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    step_on_host(vb, 9);
    hold h1 = engine_hold(1);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, g_devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(g_ctx) == ROCHP_OK);
    CHECK(rochp_checkpoint_finish(g_ctx, 30 * SECOND, &s) == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "previous checkpoint stands");
    rochp_recovery_report rep;
    rochp_status rs = rochp_recover(g_ctx, 30 * SECOND, &rep);
    if (rs != ROCHP_OK)
        fprintf(stderr, "recover: %s\n", rochp_last_error());
    CHECK(rs == ROCHP_OK);
    CHECK(rochp_buffer_device(b) == g_devs[0].id);
    CHECK(holds(b, vb));
    /* The held copy's engine went with the GPU. */
    p_signal_store(h1.gate, 0);

    /* A queue of ring ABI 1 does not read the guard: begin commits before
     * it returns (finish reports it at once). */
    rochp_queue *old;
    rochp_queue_options o1;
    rochp_queue_options_init(&o1);
    o1.ring_abi = 1;
    REQUIRE(rochp_queue_create(g_ctx, g_devs[0].id, &o1, &old) == ROCHP_OK);
    REQUIRE(rochp_dispatch(q[0], chain[0], &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);
    CHECK(rochp_checkpoint_finish(g_ctx, 0, &s) == ROCHP_OK);
    CHECK(s.buffers_copied >= 1);
    CHECK(rochp_queue_destroy(old) == ROCHP_OK);

    /* Freeing a buffer being copied, or destroying a queue the cut names,
     * commits the checkpoint first; so does the context's end. */
    REQUIRE(rochp_dispatch(q[0], chain[0], &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);
    CHECK(rochp_buffer_free(c) == ROCHP_OK);
    CHECK(rochp_checkpoint_finish(g_ctx, 0, &s) == ROCHP_OK);
    CHECK_EQ_U64(s.buffers_copied, 1);
    REQUIRE(rochp_dispatch(q[0], chain[0], &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);
    CHECK(rochp_queue_destroy(q[0]) == ROCHP_OK);
    CHECK(rochp_checkpoint_finish(g_ctx, 0, &s) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(a, 0, va, N * 4) == ROCHP_OK);
    REQUIRE(rochp_checkpoint_begin(g_ctx, 30 * SECOND) == ROCHP_OK);

    free(va);
    free(vb);
    free(vc);
    free(va2);
    free(vc2);
    REQUIRE(rochp_context_destroy(g_ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
