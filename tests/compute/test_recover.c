/* Recovery on hsasim (silent removal and GPU reset): a three-queue pipeline over three
 * GPUs loses its middle GPU at a point chosen by the seed; rochp_recover
 * moves its buffers and queue to a survivor and replays the journals; the
 * pipeline then finishes on the same queue handles and its buffers are
 * bit-identical to the CPU's result.  Completion handles taken before the
 * loss complete, and what had completed before it has completed again when
 * rochp_recover returns.  Also every refusal, each changing nothing: no checkpoint,
 * no compatible target, a plain queue that ran, a write call since the
 * checkpoint.
 *
 *   compute_recover [SEEDS [SOAKS]]   (defaults 20 and 100, each in two kernel modes) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event_recorder.h"
#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

#define N 1024u
#define ROUNDS 40u
#define SECOND 1000000000ull

static rochp_kernel *g_chain, *g_join;
static rochp_launch g_launch;

static void chain_cpu(uint32_t *v, uint32_t step)
{
    for (uint32_t x = 0; x < N; x++)
        v[x] = v[x] * 3u + step + x;
}

static void join_cpu(uint32_t *out, const uint32_t *a, const uint32_t *b)
{
    for (uint32_t x = 0; x < N; x++)
        out[x] = a[x] + b[x];
}

typedef struct pipeline {
    rochp_queue *q[3];
    rochp_buffer *a, *b, *c, *out;
    rochp_completion last[3];
} pipeline;

/* One round: a chain on each of a (GPU 0) and b (GPU 1); GPU 1 joins
 * c = a + b after GPU 0's step; GPU 2 folds out = out + c after GPU 1.
 * Eight packets (with the two barriers that keep rounds apart). */
static void round_gpu(pipeline *p, uint32_t r)
{
    const rochp_dispatch_kernel *k0, *k1, *j1, *j2;
    REQUIRE(rochp_kernel_bind(g_chain, p->q[0], &k0) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_chain, p->q[1], &k1) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_join, p->q[1], &j1) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_join, p->q[2], &j2) == ROCHP_OK);
    uint32_t *a = rochp_buffer_address(p->a), *b = rochp_buffer_address(p->b),
             *c = rochp_buffer_address(p->c), *out = rochp_buffer_address(p->out);
    chain_args ca = {a, N, r}, cb = {b, N, 1000 + r};
    if (r > 0) {
        /* No overwriting what the previous round still reads: a (GPU 1's
         * join) and c (GPU 2's). */
        REQUIRE(rochp_dispatch_barrier(p->q[0], &p->last[1], NULL) == ROCHP_OK);
        REQUIRE(rochp_dispatch_barrier(p->q[1], &p->last[2], NULL) == ROCHP_OK);
    }
    REQUIRE(rochp_dispatch(p->q[0], k0, &g_launch, &ca, sizeof ca, &p->last[0]) == ROCHP_OK);
    REQUIRE(rochp_dispatch(p->q[1], k1, &g_launch, &cb, sizeof cb, NULL) == ROCHP_OK);
    REQUIRE(rochp_dispatch_barrier(p->q[1], &p->last[0], NULL) == ROCHP_OK);
    join_args jc = {c, a, b, N, 0};
    REQUIRE(rochp_dispatch(p->q[1], j1, &g_launch, &jc, sizeof jc, &p->last[1]) == ROCHP_OK);
    REQUIRE(rochp_dispatch_barrier(p->q[2], &p->last[1], NULL) == ROCHP_OK);
    join_args jo = {out, out, c, N, 0};
    REQUIRE(rochp_dispatch(p->q[2], j2, &g_launch, &jo, sizeof jo, &p->last[2]) == ROCHP_OK);
}

static void round_cpu(uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *out, uint32_t r)
{
    chain_cpu(a, r);
    chain_cpu(b, 1000 + r);
    join_cpu(c, a, b);
    join_cpu(out, out, c);
}

static rochp_buffer *words(rochp_context *ctx, rochp_device_id dev, uint32_t seed)
{
    rochp_buffer *b;
    REQUIRE(rochp_buffer_alloc(ctx, dev, N * 4, &b) == ROCHP_OK);
    uint32_t v[N];
    for (uint32_t x = 0; x < N; x++)
        v[x] = seed * 7919u + x;
    REQUIRE(rochp_buffer_write(b, 0, v, sizeof v) == ROCHP_OK);
    return b;
}

static bool same(rochp_buffer *b, const uint32_t *want)
{
    uint32_t got[N];
    REQUIRE(rochp_buffer_read(b, 0, got, sizeof got) == ROCHP_OK);
    return memcmp(got, want, sizeof got) == 0;
}

static rochp_context *open_tree(char *dir, size_t size, const char *tag, uint32_t gpus,
                                rochp_device_info *devs, const char *kernel)
{
    rochp_context *ctx = test_sim_context(dir, size, tag, "mi210", gpus, kernel);
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, gpus, &n) == ROCHP_OK && n == gpus);
    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &m) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "chain_step", &g_chain) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "join_add", &g_join) == ROCHP_OK);
    return ctx;
}

/* kernel: the ROCHP_SIM_KERNEL behaviour of the removal. */
static void scenario(uint32_t seed, const char *kernel)
{
    char dir[256];
    rochp_device_info devs[3];
    rochp_context *ctx = open_tree(dir, sizeof dir, "recover", 3, devs, kernel);
    static event_recorder rec = EVENT_RECORDER_INIT;
    rec.n = 0;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_MIGRATED | ROCHP_EVENT_RECOVERED, event_record, &rec,
                            &sub) == ROCHP_OK);
    pipeline p;
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 64; /* replays longer than a ring: the round robin must not stall */
    o.journal_length = 1024;
    for (int i = 0; i < 3; i++)
        REQUIRE(rochp_queue_create(ctx, devs[i].id, &o, &p.q[i]) == ROCHP_OK);
    p.a = words(ctx, devs[0].id, 1);
    p.b = words(ctx, devs[1].id, 2);
    p.c = words(ctx, devs[1].id, 3);
    p.out = words(ctx, devs[2].id, 4);
    uint32_t a[N], b[N], c[N], out[N];
    for (uint32_t x = 0; x < N; x++) {
        a[x] = 1 * 7919u + x;
        b[x] = 2 * 7919u + x;
        c[x] = 3 * 7919u + x;
        out[x] = 4 * 7919u + x;
    }
    /* Rounds before the checkpoint, rounds after it, then the loss. */
    srand(seed);
    uint32_t before = 1 + (uint32_t)rand() % 10, after = (uint32_t)rand() % 20;
    uint32_t r = 0;
    for (; r < before; r++) {
        round_gpu(&p, r);
        round_cpu(a, b, c, out, r);
    }
    rochp_checkpoint_stats cs;
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, &cs) == ROCHP_OK);
    for (; r < before + after; r++) {
        round_gpu(&p, r);
        round_cpu(a, b, c, out, r);
    }
    rochp_completion pending = p.last[2]; /* taken before the loss */
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);

    rochp_recovery_report rep;
    void *old_b = rochp_buffer_address(p.b);
    rochp_status st = rochp_recover(ctx, 30 * SECOND, &rep);
    if (st != ROCHP_OK)
        fprintf(stderr, "seed %u (%s): %s\n", seed, kernel, rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    /* GPU 2's fold reads c on GPU 1: one in flight at the unplug faults GPU 2
     * (a lost GPU's memory is not there), and the driver stops the
     * process's work there for good, so recovery moves it too. */
    bool collateral = rep.devices_lost == 2;
    CHECK(rep.devices_lost == 1 || (collateral && after));
    CHECK_EQ_U64(rep.buffers_moved, collateral ? 3 : 2); /* b and c (and out) */
    CHECK_EQ_U64(rep.bytes_moved, (collateral ? 3 : 2) * N * 4);
    CHECK_EQ_U64(rep.queues_rebuilt, 3);
    CHECK_EQ_U64(rep.buffers_rolled_back, after ? (collateral ? 1 : 2) : 0); /* a (and out) */
    /* every packet since the checkpoint */
    CHECK_EQ_U64(rep.packets_replayed, 8ull * after);
    CHECK(rochp_buffer_device(p.b) != devs[1].id && rochp_buffer_device(p.c) != devs[1].id);
    CHECK(rochp_buffer_address(p.b) != old_b); /* new memory: the replay was relocated */
    CHECK(rochp_queue_device(p.q[1]) == rochp_buffer_device(p.b));
    if (after)
        CHECK(rochp_completion_wait(&pending, 30 * SECOND) == ROCHP_OK);

    /* The pipeline goes on, on the same handles. */
    for (; r < ROUNDS; r++) {
        round_gpu(&p, r);
        round_cpu(a, b, c, out, r);
    }
    for (int i = 0; i < 3; i++)
        CHECK(rochp_completion_wait(&p.last[i], 30 * SECOND) == ROCHP_OK);
    CHECK(same(p.a, a));
    CHECK(same(p.b, b));
    CHECK(same(p.c, c));
    CHECK(same(p.out, out));

    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count_type(&rec, ROCHP_EVENT_MIGRATED), collateral ? 2 : 1);
    CHECK_EQ_U64(event_count_type(&rec, ROCHP_EVENT_RECOVERED), 1);
    pthread_mutex_lock(&rec.lock);
    for (size_t i = 0; i < rec.n; i++) {
        if (rec.events[i].type == ROCHP_EVENT_MIGRATED && rec.events[i].device == devs[2].id) {
            CHECK(collateral);
            CHECK(rec.events[i].target == rochp_buffer_device(p.out));
            CHECK_EQ_U64(rec.events[i].bytes, N * 4);
        } else if (rec.events[i].type == ROCHP_EVENT_MIGRATED) {
            CHECK(rec.events[i].device == devs[1].id);
            CHECK(rec.events[i].target == rochp_buffer_device(p.b));
            CHECK_EQ_U64(rec.events[i].bytes, 2 * N * 4);
        } else {
            CHECK_EQ_U64(rec.events[i].packets, 8ull * after);
        }
    }
    pthread_mutex_unlock(&rec.lock);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* The soak: 10^4 dispatches (1,250 rounds of 8) over 1-4 GPUs (the three
 * queues spread over them), a checkpoint at a random round, one of the
 * GPUs in use unplugged at a random later round.  With another GPU of the
 * gfx target, the pipeline finishes bit-identical to the CPU; with one GPU
 * only, the application is told that no target exists. */
static unsigned g_recovered, g_no_target, g_no_target_collateral;

static void soak(uint32_t seed, const char *kernel)
{
    enum { SOAK_ROUNDS = 1250 };
    srand(seed * 7u + 3u);
    uint32_t gpus = 1 + (uint32_t)rand() % 4;
    char dir[256];
    rochp_device_info devs[4];
    rochp_context *ctx = open_tree(dir, sizeof dir, "recover-soak", gpus, devs, kernel);
    pipeline p;
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 256;
    o.journal_length = 8192;
    for (uint32_t i = 0; i < 3; i++)
        REQUIRE(rochp_queue_create(ctx, devs[i % gpus].id, &o, &p.q[i]) == ROCHP_OK);
    p.a = words(ctx, devs[0 % gpus].id, 1);
    p.b = words(ctx, devs[1 % gpus].id, 2);
    p.c = words(ctx, devs[1 % gpus].id, 3);
    p.out = words(ctx, devs[2 % gpus].id, 4);
    uint32_t a[N], b[N], c[N], out[N];
    for (uint32_t x = 0; x < N; x++) {
        a[x] = 1 * 7919u + x;
        b[x] = 2 * 7919u + x;
        c[x] = 3 * 7919u + x;
        out[x] = 4 * 7919u + x;
    }
    uint32_t at_checkpoint = 1 + (uint32_t)rand() % (SOAK_ROUNDS - 1);
    uint32_t at_loss = at_checkpoint + (uint32_t)rand() % (SOAK_ROUNDS - at_checkpoint);
    uint32_t lost = (uint32_t)rand() % (gpus < 3 ? gpus : 3); /* a GPU in use */
    for (uint32_t r = 0; r < SOAK_ROUNDS; r++) {
        if (r == at_checkpoint)
            REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
        if (r == at_loss) {
            rochp__error err = {0};
            REQUIRE(vtree_unplug(dir, devs[lost].pci, 0, NULL, &err) == ROCHP_OK);
            REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
            rochp_recovery_report rep;
            rochp_status st = rochp_recover(ctx, 60 * SECOND, &rep);
            if (gpus == 1) {
                g_no_target++;
                CHECK(st == ROCHP_ERROR_NO_TARGET);
                CHECK_CONTAINS(rochp_last_error(), "no present device has its gfx target");
                REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
                test_remove_tmpdir(dir);
                return;
            }
            /* Work in flight on the survivors that reads the lost GPU's
             * memory faults them (the driver then stops the process's work
             * there): when that leaves no GPU, there is no target. */
            if (st == ROCHP_ERROR_NO_TARGET) {
                g_no_target_collateral++;
                CHECK_CONTAINS(rochp_last_error(), "no present device has its gfx target");
                REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
                test_remove_tmpdir(dir);
                return;
            }
            if (st != ROCHP_OK)
                fprintf(stderr, "soak seed %u (%s, %u GPUs): %s\n", seed, kernel, gpus,
                        rochp_last_error());
            REQUIRE(st == ROCHP_OK);
            CHECK(rep.devices_lost >= 1 && rep.devices_lost < gpus);
            g_recovered++;
        }
        round_gpu(&p, r);
        round_cpu(a, b, c, out, r);
    }
    for (int i = 0; i < 3; i++)
        CHECK(rochp_completion_wait(&p.last[i], 60 * SECOND) == ROCHP_OK);
    bool exact = same(p.a, a) && same(p.b, b) && same(p.c, c) && same(p.out, out);
    if (!exact)
        fprintf(stderr, "soak seed %u (%s, %u GPUs, checkpoint %u, loss %u of GPU %u): "
                        "results differ\n",
                seed, kernel, gpus, at_checkpoint, at_loss, lost);
    CHECK(exact);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* The application's target callback: given the candidates least loaded
 * first, it takes the last; a callback that refuses gets NO_TARGET. */
static size_t g_candidates;
static uint64_t g_first_load_order_ok;

static rochp_device_id pick_last(rochp_context *ctx, const rochp_device_info *lost,
                                 const rochp_device_info *candidates, size_t n, void *user)
{
    (void)ctx;
    (void)lost;
    g_candidates = n;
    g_first_load_order_ok = n == 2 && candidates[0].id == *(rochp_device_id *)user;
    return n ? candidates[n - 1].id : 0;
}

static rochp_device_id refuse(rochp_context *ctx, const rochp_device_info *lost,
                              const rochp_device_info *candidates, size_t n, void *user)
{
    (void)ctx;
    (void)lost;
    (void)candidates;
    (void)n;
    (void)user;
    return 0;
}

static void target_callback(void)
{
    char dir[256];
    rochp_device_info devs[3];
    rochp_context *ctx = open_tree(dir, sizeof dir, "recover-callback", 3, devs, "silent");
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    rochp_queue *q;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &q) == ROCHP_OK);
    rochp_buffer *moved = words(ctx, devs[1].id, 1);
    rochp_buffer *heavy;
    REQUIRE(rochp_buffer_alloc(ctx, devs[0].id, 1 << 20, &heavy) == ROCHP_OK); /* GPU 0 loaded */
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    rochp_device_id least = devs[2].id;
    REQUIRE(rochp_set_recovery_target(ctx, pick_last, &least) == ROCHP_OK);
    rochp_recovery_report rep;
    REQUIRE(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_OK);
    CHECK_EQ_U64(g_candidates, 2);
    CHECK(g_first_load_order_ok); /* GPU 2, empty, came first */
    CHECK(rochp_buffer_device(moved) == devs[0].id); /* the callback's choice */
    CHECK(rochp_queue_device(q) == devs[0].id);
    /* Lose that one too: the callback refuses. */
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, devs[0].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_set_recovery_target(ctx, refuse, NULL) == ROCHP_OK);
    CHECK(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "callback refused");
    CHECK(rochp_set_recovery_target(NULL, NULL, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Opens the gate once the work has moved: dispatched from the callback
 * thread on the migrated event, after the recovery is done. */
typedef struct gate_opener {
    rochp_queue *gate;
    const rochp_dispatch_kernel *kernel;
    chain_args args;
    rochp_status status;
} gate_opener;

static void open_gate(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)e;
    gate_opener *g = user;
    g->status = rochp_dispatch(g->gate, g->kernel, &g_launch, &g->args, sizeof g->args, NULL);
}

/* Work the application saw complete before the loss is complete again
 * when rochp_recover returns: a read right after it finds the results (the
 * replay of 16 MiB of chain_step takes longer than starting the read). */
static void read_after_recover(void)
{
    enum { BIG = 4u << 20 }; /* words */
    char dir[256];
    rochp_device_info devs[2];
    rochp_context *ctx = open_tree(dir, sizeof dir, "recover-read", 2, devs, "silent");
    rochp_buffer *b;
    REQUIRE(rochp_buffer_alloc(ctx, devs[1].id, BIG * 4u, &b) == ROCHP_OK);
    uint32_t *want = calloc(BIG, 4);
    REQUIRE(want);
    REQUIRE(rochp_buffer_write(b, 0, want, BIG * 4u) == ROCHP_OK);
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    rochp_queue *q;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &q) == ROCHP_OK);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(g_chain, q, &k) == ROCHP_OK);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    rochp_launch big;
    REQUIRE(rochp_launch_init(&big, (rochp_dim3){BIG, 1, 1}, (rochp_dim3){256, 1, 1}) == ROCHP_OK);
    rochp_completion done;
    for (uint32_t step = 0; step < 2; step++) {
        chain_args a = {rochp_buffer_address(b), BIG, step};
        REQUIRE(rochp_dispatch(q, k, &big, &a, sizeof a, &done) == ROCHP_OK);
        for (uint32_t x = 0; x < BIG; x++)
            want[x] = want[x] * 3u + step + x;
    }
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    rochp_recovery_report rep;
    REQUIRE(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_OK);
    CHECK_EQ_U64(rep.packets_replayed, 2);
    CHECK(rochp_buffer_device(b) == devs[0].id);
    uint32_t *got = malloc(BIG * 4u);
    REQUIRE(got && rochp_buffer_read(b, 0, got, BIG * 4u) == ROCHP_OK);
    CHECK(memcmp(got, want, BIG * 4u) == 0);
    CHECK(rochp_completion_done(&done));
    free(got);
    free(want);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* ROCHP_CONTEXT_AUTO_RECOVER: the application only waits; the watcher
 * finds the GPU gone, the wait recovers and completes with the right bytes. */
static void auto_recover(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "recover-auto") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    rochp_options opts;
    rochp_options_init(&opts);
    opts.hsa_runtime = HSASIM_PATH;
    opts.flags = ROCHP_CONTEXT_AUTO_RECOVER | ROCHP_CONTEXT_NO_UEVENTS;
    opts.poll_interval_ms = 20;
    rochp_context *ctx;
    REQUIRE(rochp_context_create(&opts, &ctx) == ROCHP_OK);
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);
    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &m) == ROCHP_OK);
    rochp_kernel *chain;
    REQUIRE(rochp_module_kernel(m, "chain_step", &chain) == ROCHP_OK);
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    rochp_queue *q;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &q) == ROCHP_OK);
    rochp_buffer *b = words(ctx, devs[1].id, 5);
    uint32_t want[N];
    for (uint32_t x = 0; x < N; x++)
        want[x] = 5 * 7919u + x;
    /* The work after the checkpoint waits behind a barrier on a packet of
     * GPU 0's queue that is dispatched only once the work has moved (on the
     * migrated event), so the loss finds it all undone. */
    rochp_queue *gate;
    REQUIRE(rochp_queue_create(ctx, devs[0].id, &o, &gate) == ROCHP_OK);
    rochp_buffer *scratch = words(ctx, devs[0].id, 6);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    const rochp_dispatch_kernel *k, *kg;
    REQUIRE(rochp_kernel_bind(chain, q, &k) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(chain, gate, &kg) == ROCHP_OK);
    rochp_completion opens = {gate, 0}, last;
    REQUIRE(rochp_dispatch_barrier(q, &opens, NULL) == ROCHP_OK);
    gate_opener opener = {gate, kg, {rochp_buffer_address(scratch), N, 1}, ROCHP_ERROR_BUSY};
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_MIGRATED, open_gate, &opener, &sub) == ROCHP_OK);
    for (uint32_t s = 0; s < 20; s++) {
        chain_args a = {rochp_buffer_address(b), N, s};
        REQUIRE(rochp_dispatch(q, k, &g_launch, &a, sizeof a, &last) == ROCHP_OK);
        chain_cpu(want, s);
    }
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    /* No rescan, no rochp_recover: the wait does it all. */
    rochp_status st = rochp_completion_wait(&last, 60 * SECOND);
    if (st != ROCHP_OK)
        fprintf(stderr, "auto recovery: %s\n", rochp_last_error());
    CHECK(st == ROCHP_OK);
    CHECK(rochp_buffer_device(b) == devs[0].id);
    CHECK(same(b, want));
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK(opener.status == ROCHP_OK);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Rewrites one KFD property of a node of the tree (before a context reads it). */
static void set_property(const char *dir, unsigned node, const char *key, unsigned long value)
{
    char path[512], text[8192], out[8192] = "";
    snprintf(path, sizeof path, "%s/topology/nodes/%u/properties", dir, node);
    FILE *f = fopen(path, "r");
    REQUIRE(f);
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char name[64];
        if (sscanf(line, "%63s", name) == 1 && strcmp(name, key) == 0)
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s %lu\n", key, value);
        else
            snprintf(out + strlen(out), sizeof out - strlen(out), "%s\n", line);
    }
    f = fopen(path, "w");
    REQUIRE(f && fputs(out, f) >= 0);
    fclose(f);
}

/* ROCHP_TARGET_CRIU: GPUs of the same gfx target that differ in what CRIU's
 * amdgpu plugin compares are no targets; the same-gfx rule takes them. */
static void criu_rule(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "recover-criu") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 3, 1, NULL, &err) == ROCHP_OK);
    /* nodes 0-1 are CPUs, 2-4 the GPUs */
    set_property(dir, 3, "simd_count", 400);
    set_property(dir, 4, "fw_version", 50);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    rochp_options opts;
    rochp_options_init(&opts);
    opts.hsa_runtime = HSASIM_PATH;
    rochp_context *ctx;
    REQUIRE(rochp_context_create(&opts, &ctx) == ROCHP_OK);
    rochp_device_info devs[3];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 3, &n) == ROCHP_OK && n == 3);
    REQUIRE(rochp_set_recovery_rule(ctx, ROCHP_TARGET_CRIU) == ROCHP_OK);
    rochp_buffer *b = words(ctx, devs[0].id, 8);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, devs[0].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    rochp_recovery_report rep;
    CHECK(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "under the CRIU rule");
    CHECK(rochp_buffer_device(b) == devs[0].id); /* nothing changed */
    REQUIRE(rochp_set_recovery_rule(ctx, ROCHP_TARGET_SAME_GFX) == ROCHP_OK);
    CHECK(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_OK);
    CHECK(rochp_buffer_device(b) != devs[0].id);
    CHECK(rochp_set_recovery_rule(ctx, (rochp_target_rule)9) == ROCHP_ERROR_INVALID_ARGUMENT);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Each refusal names its cause and changes nothing. */
static void refusals(void)
{
    char dir[256];
    rochp_device_info devs[2];
    rochp_context *ctx = open_tree(dir, sizeof dir, "recover-refuse", 2, devs, "silent");
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){64, 1, 1}) ==
            ROCHP_OK);
    rochp_recovery_report rep;
    CHECK(rochp_recover(ctx, SECOND, &rep) == ROCHP_OK); /* nothing lost */
    CHECK_EQ_U64(rep.devices_lost, 0);

    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    rochp_queue *qj, *qp;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &qj) == ROCHP_OK);
    REQUIRE(rochp_queue_create(ctx, devs[0].id, NULL, &qp) == ROCHP_OK);
    rochp_buffer *b = words(ctx, devs[1].id, 9);
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_recover(ctx, SECOND, &rep) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "no checkpoint");

    /* Checkpoint taken with the device already gone: it needs its buffers. */
    CHECK(rochp_checkpoint(ctx, SECOND, NULL) == ROCHP_ERROR_DEVICE_LOST);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);

    /* A write call since the checkpoint; a plain queue that ran; no target. */
    ctx = open_tree(dir, sizeof dir, "recover-refuse2", 2, devs, "silent");
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &qj) == ROCHP_OK);
    REQUIRE(rochp_queue_create(ctx, devs[0].id, NULL, &qp) == ROCHP_OK);
    b = words(ctx, devs[1].id, 9);
    rochp_buffer *h = words(ctx, ROCHP_HOST, 10);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    uint32_t one = 1;
    REQUIRE(rochp_buffer_write(h, 0, &one, sizeof one) == ROCHP_OK);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(g_chain, qp, &k) == ROCHP_OK);
    chain_args x = {rochp_buffer_address(h), 1, 0};
    rochp_completion done;
    REQUIRE(rochp_dispatch(qp, k, &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_recover(ctx, SECOND, &rep) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "written by a copy or write call");
    REQUIRE(rochp_checkpoint_restore(ctx, NULL) == ROCHP_ERROR_DEVICE_LOST);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);

    ctx = open_tree(dir, sizeof dir, "recover-refuse3", 2, devs, "silent");
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &qj) == ROCHP_OK);
    REQUIRE(rochp_queue_create(ctx, devs[0].id, NULL, &qp) == ROCHP_OK);
    b = words(ctx, devs[1].id, 9);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_chain, qp, &k) == ROCHP_OK);
    x = (chain_args){rochp_buffer_address(b), 1, 0};
    REQUIRE(rochp_dispatch(qp, k, &g_launch, &x, sizeof x, &done) == ROCHP_OK);
    REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_recover(ctx, SECOND, &rep) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "a plain queue keeps no record");
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);

    /* No other GPU of its gfx target: an RX 7900 XTX among MI210s. */
    ctx = open_tree(dir, sizeof dir, "recover-refuse4", 1, devs, "silent");
    REQUIRE(vtree_plug_model(dir, vtree_model_find("rx7900xtx"), 1, NULL, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_reenumerate(ctx) == ROCHP_OK);
    rochp_device_info all[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, all, 2, &n) == ROCHP_OK && n == 2);
    rochp_queue *qn;
    REQUIRE(rochp_queue_create(ctx, all[1].id, &o, &qn) == ROCHP_OK);
    b = words(ctx, all[1].id, 9);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, all[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_recover(ctx, SECOND, &rep) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "gfx1100");
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    (void)qj;
    (void)qp;
    (void)b;
}

int main(int argc, char **argv)
{
    uint32_t seeds = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 20;
    /* Sanitizer builds run fewer soaks (ROCHP_TEST_SOAKS from CMake). */
    const char *env = getenv("ROCHP_TEST_SOAKS");
    uint32_t soaks = argc > 2   ? (uint32_t)strtoul(argv[2], NULL, 10)
                     : env ? (uint32_t)strtoul(env, NULL, 10)
                           : 100;
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);
    refusals();
    read_after_recover();
    target_callback();
    criu_rule();
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);
    auto_recover();
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);
    for (uint32_t s = 1; s <= seeds; s++) {
        scenario(s, "silent");
        scenario(s, "reset"); /* VRAM contents lost as well */
    }
    for (uint32_t s = 1; s <= soaks; s++) {
        soak(s, "silent");
        soak(s, "reset");
    }
    fprintf(stderr,
            "soak: %u runs recovered bit-identical, %u told there is no target (one GPU), %u "
            "no target left once survivors faulted on the lost GPU's memory\n",
            g_recovered, g_no_target, g_no_target_collateral);
    return check_result();
}
