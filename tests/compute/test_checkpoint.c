/* Checkpoints on hsasim: which buffers each checkpoint copies (exact byte
 * counts: the first copies all, then only what copy/write calls and
 * journaled dispatches through writable arguments touched, everything after
 * a plain queue ran), restore giving back the checkpoint's bytes exactly, a
 * timeout on work that cannot finish, concurrent writers (BUSY, never a
 * mixed checkpoint), and a lost device (the previous checkpoint stands). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

#define N 4096u /* words per buffer of the chains */
#define SECOND 1000000000ull

static rochp_context *g_ctx;
static rochp_device_info g_devs[2];
static rochp_kernel *g_chain, *g_join;
static rochp_launch g_launch;

static rochp_buffer *buffer(rochp_device_id dev, size_t size, uint32_t seed)
{
    rochp_buffer *b;
    REQUIRE(rochp_buffer_alloc(g_ctx, dev, size, &b) == ROCHP_OK);
    uint32_t *v = malloc(size);
    REQUIRE(v);
    for (size_t i = 0; i < size / 4; i++)
        v[i] = seed * 2654435761u + (uint32_t)i;
    REQUIRE(rochp_buffer_write(b, 0, v, size) == ROCHP_OK);
    free(v);
    return b;
}

static void *contents(rochp_buffer *b)
{
    void *v = malloc(rochp_buffer_size(b));
    REQUIRE(v && rochp_buffer_read(b, 0, v, rochp_buffer_size(b)) == ROCHP_OK);
    return v;
}

static rochp_checkpoint_stats checkpoint_ok(void)
{
    rochp_checkpoint_stats s;
    rochp_status st = rochp_checkpoint(g_ctx, 30 * SECOND, &s);
    if (st != ROCHP_OK)
        fprintf(stderr, "checkpoint: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    return s;
}

int main(void)
{
    char dir[256];
    g_ctx = test_sim_context(dir, sizeof dir, "checkpoint", "mi210", 2, "silent");
    size_t n = 0;
    REQUIRE(rochp_device_list(g_ctx, g_devs, 2, &n) == ROCHP_OK && n == 2);
    rochp_module *m;
    REQUIRE(rochp_module_load_file(g_ctx, CHAIN_CO, &m) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "chain_step", &g_chain) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "join_add", &g_join) == ROCHP_OK);
    REQUIRE(rochp_launch_init(&g_launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);

    const size_t SA = N * 4, SB = N * 4, SC = N * 4, SH = 64 * 1024, SBIG = 1 << 20;
    rochp_buffer *a = buffer(g_devs[0].id, SA, 1), *b = buffer(g_devs[1].id, SB, 2);
    rochp_buffer *c = buffer(g_devs[0].id, SC, 3), *h = buffer(ROCHP_HOST, SH, 4);
    rochp_buffer *big = buffer(g_devs[1].id, SBIG, 5);
    const uint64_t all = SA + SB + SC + SH + SBIG;

    /* The first checkpoint copies everything; the next, nothing. */
    rochp_checkpoint_stats s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers, 5);
    CHECK_EQ_U64(s.bytes, all);
    CHECK_EQ_U64(s.buffers_copied, 5);
    CHECK_EQ_U64(s.bytes_copied, all);
    s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers_copied, 0);
    CHECK_EQ_U64(s.bytes_copied, 0);

    /* A write call: that buffer only.  A copy: its destination only. */
    uint32_t word = 77;
    REQUIRE(rochp_buffer_write(h, 128, &word, sizeof word) == ROCHP_OK);
    s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers_copied, 1);
    CHECK_EQ_U64(s.bytes_copied, SH);
    REQUIRE(rochp_buffer_copy(c, 0, a, 0, 64) == ROCHP_OK);
    s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers_copied, 1);
    CHECK_EQ_U64(s.bytes_copied, SC);

    /* Journaled dispatches: what their writable pointer arguments name. */
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    rochp_queue *qj;
    REQUIRE(rochp_queue_create(g_ctx, g_devs[1].id, &o, &qj) == ROCHP_OK);
    const rochp_dispatch_kernel *kc, *kj;
    REQUIRE(rochp_kernel_bind(g_chain, qj, &kc) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(g_join, qj, &kj) == ROCHP_OK);
    uint32_t *pa = rochp_buffer_address(a), *pb = rochp_buffer_address(b),
             *pc = rochp_buffer_address(c);
    for (uint32_t step = 0; step < 10; step++) {
        chain_args x = {pb, N, step};
        REQUIRE(rochp_dispatch(qj, kc, &g_launch, &x, sizeof x, NULL) == ROCHP_OK);
    }
    s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers_copied, 1); /* b: chain_step's data is read-write */
    CHECK_EQ_U64(s.bytes_copied, SB);
    CHECK_EQ_U64(s.packets, 10);
    uint64_t len = 99;
    CHECK(rochp_queue_journal_length(qj, &len) == ROCHP_OK);
    CHECK_EQ_U64(len, 0); /* truncated */
    join_args j = {pc, pa, pb, N, 0};
    REQUIRE(rochp_dispatch(qj, kj, &g_launch, &j, sizeof j, NULL) == ROCHP_OK);
    s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers_copied, 1); /* c only: a and b are read-only there */
    CHECK_EQ_U64(s.bytes_copied, SC);
    CHECK_EQ_U64(s.packets, 1);

    /* Restore: every buffer as it was at the last checkpoint, exactly. */
    void *at_a = contents(a), *at_b = contents(b), *at_c = contents(c), *at_h = contents(h),
         *at_big = contents(big);
    for (uint32_t step = 100; step < 105; step++) {
        chain_args x = {pb, N, step};
        REQUIRE(rochp_dispatch(qj, kc, &g_launch, &x, sizeof x, NULL) == ROCHP_OK);
    }
    j = (join_args){pa, pb, pc, N, 0};
    REQUIRE(rochp_dispatch(qj, kj, &g_launch, &j, sizeof j, NULL) == ROCHP_OK);
    REQUIRE(rochp_queue_wait_idle(qj, 30 * SECOND) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(h, 0, &word, sizeof word) == ROCHP_OK);
    void *now_b = contents(b);
    CHECK(memcmp(now_b, at_b, SB) != 0); /* the work did change it */
    free(now_b);
    rochp_checkpoint_stats r;
    REQUIRE(rochp_checkpoint_restore(g_ctx, &r) == ROCHP_OK);
    CHECK_EQ_U64(r.buffers_copied, 5);
    CHECK_EQ_U64(r.bytes_copied, all);
    rochp_buffer *bufs[] = {a, b, c, h, big};
    void *was[] = {at_a, at_b, at_c, at_h, at_big};
    for (int i = 0; i < 5; i++) {
        void *now = contents(bufs[i]);
        CHECK(memcmp(now, was[i], rochp_buffer_size(bufs[i])) == 0);
        free(now);
        free(was[i]);
    }

    /* Automatic: every 10 packets, at the application's waits. */
    REQUIRE(rochp_checkpoint(g_ctx, 30 * SECOND, NULL) == ROCHP_OK);
    REQUIRE(rochp_set_auto_checkpoint(g_ctx, 10, 0) == ROCHP_OK);
    for (uint32_t step = 0; step < 25; step++) {
        chain_args x = {pb, N, step};
        rochp_completion done;
        REQUIRE(rochp_dispatch(qj, kc, &g_launch, &x, sizeof x, &done) == ROCHP_OK);
        REQUIRE(rochp_completion_wait(&done, 30 * SECOND) == ROCHP_OK);
    }
    CHECK(rochp_queue_journal_length(qj, &len) == ROCHP_OK);
    CHECK_EQ_U64(len, 5); /* checkpoints after the 10th and the 20th */
    /* By time: due at once (1 ns), so each wait takes one. */
    REQUIRE(rochp_set_auto_checkpoint(g_ctx, 0, 1) == ROCHP_OK);
    chain_args once = {pb, N, 99};
    REQUIRE(rochp_dispatch(qj, kc, &g_launch, &once, sizeof once, NULL) == ROCHP_OK);
    REQUIRE(rochp_queue_wait_idle(qj, 30 * SECOND) == ROCHP_OK);
    CHECK(rochp_queue_journal_length(qj, &len) == ROCHP_OK);
    CHECK_EQ_U64(len, 0);
    REQUIRE(rochp_set_auto_checkpoint(g_ctx, 0, 0) == ROCHP_OK);
    CHECK(rochp_set_auto_checkpoint(NULL, 1, 1) == ROCHP_ERROR_INVALID_ARGUMENT);

    /* A plain queue keeps no record: after it ran, everything is copied. */
    rochp_queue *qp;
    REQUIRE(rochp_queue_create(g_ctx, g_devs[0].id, NULL, &qp) == ROCHP_OK);
    const rochp_dispatch_kernel *kp;
    REQUIRE(rochp_kernel_bind(g_chain, qp, &kp) == ROCHP_OK);
    chain_args x = {pa, N, 1};
    REQUIRE(rochp_dispatch(qp, kp, &g_launch, &x, sizeof x, NULL) == ROCHP_OK);
    s = checkpoint_ok();
    CHECK_EQ_U64(s.buffers_copied, 5);
    CHECK_EQ_U64(s.bytes_copied, all);

    /* Work that cannot finish: a barrier on a packet never written. */
    rochp_completion never = {qp, 1u << 30};
    REQUIRE(rochp_dispatch_barrier(qj, &never, NULL) == ROCHP_OK);
    CHECK(rochp_checkpoint(g_ctx, 50 * 1000 * 1000, &s) == ROCHP_ERROR_TIMEOUT);
    CHECK_CONTAINS(rochp_last_error(), "did not complete");

    /* A lost device: the checkpoint fails, the previous one stands, and
     * the other device's buffers still restore. */
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, g_devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(g_ctx) == ROCHP_OK);
    rochp_status st = rochp_checkpoint(g_ctx, 5 * SECOND, &s);
    CHECK(st == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "has been lost");
    CHECK(rochp_checkpoint_restore(g_ctx, &r) == ROCHP_ERROR_DEVICE_LOST);

    CHECK(rochp_checkpoint(NULL, 0, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_checkpoint_restore(NULL, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    REQUIRE(rochp_context_destroy(g_ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
