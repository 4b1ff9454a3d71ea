/* The flows users write first, each as a small program would write it, with
 * rochp's public headers only (tests/support/user_sim.h): a GPU lost at the
 * points where recovery used to break.  Each must work, or fail with the
 * status its header documents.
 *
 *   flows [NAME...]   (default: all) */
#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include "event_recorder.h"
#include "user_sim.h"

#define N 256u

static rochp_launch g_launch;

/* --- 1: a dispatch refused on a lost device, then recovery ------------------------------ */
/* A journal that wrapped, a loss while the queue is idle, a dispatch that
 * returns DEVICE_LOST (its id taken), then rochp_recover -- or, with
 * auto-recovery, the next wait.  The replay must run exactly the packets
 * that were published: the buffer ends bit-identical to the CPU's. */
static void flow_refused_then_recover(bool automatic)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow1", "mi210", 2, "silent");
    rochp_context *ctx = user_context(automatic ? ROCHP_CONTEXT_AUTO_RECOVER : 0, 20);
    rochp_device_info devs[2];
    REQUIRE(user_devices(ctx, devs, 2) == 2);
    user_kernels k = user_load(ctx);
    rochp_queue *q = user_queue(ctx, devs[0].id, ROCHP_QUEUE_JOURNALED, 64, 64);
    uint32_t want[N];
    rochp_buffer *b = user_words(ctx, devs[0].id, N, 1, want);
    const rochp_dispatch_kernel *bound;
    REQUIRE(rochp_kernel_bind(k.chain, q, &bound) == ROCHP_OK);
    uint64_t object_before = bound->kernel_object;
    rochp_completion c;
    uint32_t step = 0;
    for (; step < 40; step++) {
        chain_args a = {rochp_buffer_address(b), N, step};
        REQUIRE(rochp_dispatch(q, bound, &g_launch, &a, sizeof a, &c) == ROCHP_OK);
        cpu_chain(want, N, step);
    }
    REQUIRE(rochp_queue_wait_idle(q, 30 * SECOND) == ROCHP_OK);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    /* 30 more: the 64-entry journal's slots 40..63 and then 0..5 again. */
    for (; step < 70; step++) {
        chain_args a = {rochp_buffer_address(b), N, step};
        REQUIRE(rochp_dispatch(q, bound, &g_launch, &a, sizeof a, &c) == ROCHP_OK);
        cpu_chain(want, N, step);
    }
    rochp_completion last = c;
    REQUIRE(rochp_completion_wait(&last, 30 * SECOND) == ROCHP_OK);
    user_unplug(dir, &devs[0]);
    user_wait_lost(ctx, devs[0].id);
    /* Idle and lost: the dispatch is refused, its id taken. */
    chain_args a = {rochp_buffer_address(b), N, 999};
    rochp_completion refused;
    CHECK(rochp_dispatch(q, bound, &g_launch, &a, sizeof a, &refused) == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "lost");
    uint64_t journal;
    CHECK(rochp_queue_journal_length(q, &journal) == ROCHP_OK);
    CHECK_EQ_U64(journal, 31);
    rochp_journal_entry e;
    CHECK(rochp_queue_journal_entry(q, 30, &e, NULL) == ROCHP_OK && e.kind == ROCHP_JOURNAL_VOID);
    if (automatic) {
        /* The next wait recovers, then completes: the refused id included,
         * replayed as a packet that does nothing.  (A wait for a packet that
         * completed before the loss has nothing to wait for.) */
        CHECK(rochp_completion_wait(&last, 0) == ROCHP_OK);
        CHECK(rochp_queue_wait_idle(q, 60 * SECOND) == ROCHP_OK);
    } else {
        rochp_recovery_report rep;
        rochp_status st = rochp_recover(ctx, 30 * SECOND, &rep);
        if (st != ROCHP_OK)
            fprintf(stderr, "recover: %s\n", rochp_last_error());
        CHECK(st == ROCHP_OK);
        CHECK_EQ_U64(rep.packets_replayed, 31); /* 30 published, 1 void */
        CHECK_EQ_U64(rep.buffers_moved, 1);
    }
    CHECK(rochp_buffer_device(b) == devs[1].id);
    CHECK(rochp_queue_device(q) == devs[1].id);
    /* The binding follows the queue (flow 4): the object loaded on devs[1]. */
    uint64_t object_there = 0;
    CHECK(rochp_kernel_object(k.chain, devs[1].id, &object_there) == ROCHP_OK);
    CHECK(bound->kernel_object == object_there && object_there != object_before);
    for (; step < 80; step++) {
        chain_args more = {rochp_buffer_address(b), N, step};
        REQUIRE(rochp_dispatch(q, bound, &g_launch, &more, sizeof more, &c) == ROCHP_OK);
        cpu_chain(want, N, step);
    }
    CHECK(rochp_completion_wait(&c, 30 * SECOND) == ROCHP_OK);
    CHECK(user_same(b, want, N));
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

static void flow1(void)
{
    flow_refused_then_recover(false);
    flow_refused_then_recover(true);
}

/* --- 2: a recovery whose target goes --------------------------------------------------- */
typedef struct target_saboteur {
    const char *dir;
    int calls;
    bool unplug_each; /* every choice (else the first only) */
    rochp_device_id chosen[8];
} target_saboteur;

/* Picks the first candidate -- and unplugs it before answering. */
static rochp_device_id sabotage(rochp_context *ctx, const rochp_device_info *lost,
                                const rochp_device_info *candidates, size_t n, void *user)
{
    (void)lost;
    target_saboteur *s = user;
    if (!n)
        return 0;
    rochp_device_id pick = candidates[0].id;
    if (s->calls < 8)
        s->chosen[s->calls] = pick;
    if (s->unplug_each || s->calls == 0) {
        user_unplug(s->dir, &candidates[0]);
        rochp_rescan(ctx);
    }
    s->calls++;
    return pick;
}

typedef struct journaled_work {
    rochp_queue *q;
    rochp_buffer *b;
    const rochp_dispatch_kernel *bound;
    uint32_t want[N];
    uint32_t step;
    rochp_completion last;
} journaled_work;

static void work_start(journaled_work *w, rochp_context *ctx, user_kernels *k,
                       rochp_device_id dev, uint32_t seed)
{
    w->q = user_queue(ctx, dev, ROCHP_QUEUE_JOURNALED, 64, 1024);
    w->b = user_words(ctx, dev, N, seed, w->want);
    REQUIRE(rochp_kernel_bind(k->chain, w->q, &w->bound) == ROCHP_OK);
    w->step = 0;
}

static void work_steps(journaled_work *w, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++, w->step++) {
        chain_args a = {rochp_buffer_address(w->b), N, w->step};
        REQUIRE(rochp_dispatch(w->q, w->bound, &g_launch, &a, sizeof a, &w->last) == ROCHP_OK);
        cpu_chain(w->want, N, w->step);
    }
}

static void flow2_next_candidate(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow2a", "mi210", 3, "silent");
    rochp_context *ctx = user_context(0, 20);
    rochp_device_info devs[3];
    REQUIRE(user_devices(ctx, devs, 3) == 3);
    user_kernels k = user_load(ctx);
    journaled_work w;
    work_start(&w, ctx, &k, devs[0].id, 2);
    work_steps(&w, 10);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    work_steps(&w, 10);
    REQUIRE(rochp_completion_wait(&w.last, 30 * SECOND) == ROCHP_OK);
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_MIGRATED, event_record, &r, &sub) == ROCHP_OK);
    target_saboteur s = {.dir = dir};
    REQUIRE(rochp_set_recovery_target(ctx, sabotage, &s) == ROCHP_OK);
    user_unplug(dir, &devs[0]);
    user_wait_lost(ctx, devs[0].id);
    rochp_recovery_report rep;
    rochp_status st = rochp_recover(ctx, 30 * SECOND, &rep);
    if (st != ROCHP_OK)
        fprintf(stderr, "recover: %s\n", rochp_last_error());
    CHECK(st == ROCHP_OK);
    /* The first choice went; the next candidate took the work. */
    CHECK(s.calls == 2);
    rochp_device_id first = s.chosen[0], second = s.chosen[1];
    CHECK(first != second && second != 0);
    CHECK(rochp_buffer_device(w.b) == second);
    CHECK(rochp_queue_device(w.q) == second);
    work_steps(&w, 10);
    CHECK(rochp_completion_wait(&w.last, 30 * SECOND) == ROCHP_OK);
    CHECK(user_same(w.b, w.want, N));
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 1);
    if (event_count(&r) == 1)
        CHECK(r.events[0].device == devs[0].id && r.events[0].target == second);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* No candidate survives: the recovery fails by name, and every later call
 * is safe; the checkpoint can still be saved for a new process. */
static void flow2_no_candidate_left(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow2b", "mi210", 2, "silent");
    rochp_context *ctx = user_context(0, 20);
    rochp_device_info devs[2];
    REQUIRE(user_devices(ctx, devs, 2) == 2);
    user_kernels k = user_load(ctx);
    journaled_work w;
    work_start(&w, ctx, &k, devs[0].id, 3);
    work_steps(&w, 5);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    uint32_t at_checkpoint[N];
    memcpy(at_checkpoint, w.want, sizeof at_checkpoint);
    work_steps(&w, 5);
    REQUIRE(rochp_completion_wait(&w.last, 30 * SECOND) == ROCHP_OK);
    target_saboteur s = {.dir = dir, .unplug_each = true};
    REQUIRE(rochp_set_recovery_target(ctx, sabotage, &s) == ROCHP_OK);
    user_unplug(dir, &devs[0]);
    user_wait_lost(ctx, devs[0].id);
    rochp_status st = rochp_recover(ctx, 30 * SECOND, NULL);
    CHECK(st == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "no present device");
    /* Again: the same answer, nothing changed. */
    CHECK(rochp_recover(ctx, 30 * SECOND, NULL) == ROCHP_ERROR_NO_TARGET);
    CHECK(rochp_completion_wait(&w.last, SECOND) == ROCHP_OK); /* it had completed */
    rochp_completion next = {w.q, w.last.id + 1};
    CHECK(rochp_completion_wait(&next, SECOND) == ROCHP_ERROR_INVALID_ARGUMENT);
    chain_args a = {rochp_buffer_address(w.b), N, 77};
    CHECK(rochp_dispatch(w.q, w.bound, &g_launch, &a, sizeof a, NULL) == ROCHP_ERROR_DEVICE_LOST);
    /* The checkpoint is whole: saved, and loaded by another context on a
     * machine with a GPU, it gives the buffer as it was then. */
    int fd = memfd_create("flow2b", 0);
    REQUIRE(fd >= 0);
    CHECK(rochp_checkpoint_save(ctx, fd, "x", 1) == ROCHP_OK);
    uint64_t id = rochp_buffer_id(w.b);
    CHECK(rochp_queue_destroy(w.q) == ROCHP_OK);
    CHECK(rochp_buffer_free(w.b) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);

    char dir2[256];
    user_machine(dir2, sizeof dir2, "flow2b-new", "mi210", 1, "silent");
    rochp_context *fresh = user_context(0, 20);
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    rochp_restored *restored = NULL;
    st = rochp_checkpoint_load(fresh, fd, &restored);
    if (st != ROCHP_OK)
        fprintf(stderr, "load: %s\n", rochp_last_error());
    CHECK(st == ROCHP_OK);
    if (st == ROCHP_OK) {
        rochp_buffer *b = rochp_restored_buffer(restored, id);
        CHECK(b && user_same(b, at_checkpoint, N));
        rochp_restored_free(restored);
        /* A freed map answers nothing and frees once. */
        CHECK(rochp_restored_buffer(restored, id) == NULL);
        rochp_restored_free(restored);
    }
    close(fd);
    REQUIRE(rochp_context_destroy(fresh) == ROCHP_OK);
    test_remove_tmpdir(dir);
    test_remove_tmpdir(dir2);
}

/* Lose A (work to B), then lose B (work to C), without a checkpoint in
 * between: the journals carry both. */
static void flow2_twice(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow2c", "mi210", 3, "silent");
    rochp_context *ctx = user_context(0, 20);
    rochp_device_info devs[3];
    REQUIRE(user_devices(ctx, devs, 3) == 3);
    user_kernels k = user_load(ctx);
    journaled_work w;
    work_start(&w, ctx, &k, devs[0].id, 4);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    for (int loss = 0; loss < 2; loss++) {
        work_steps(&w, 15);
        REQUIRE(rochp_completion_wait(&w.last, 30 * SECOND) == ROCHP_OK);
        rochp_device_info where;
        REQUIRE(rochp_device_get(ctx, rochp_queue_device(w.q), &where) == ROCHP_OK);
        user_unplug(dir, &where);
        user_wait_lost(ctx, where.id);
        rochp_recovery_report rep;
        rochp_status st = rochp_recover(ctx, 30 * SECOND, &rep);
        if (st != ROCHP_OK)
            fprintf(stderr, "recover %d: %s\n", loss, rochp_last_error());
        CHECK(st == ROCHP_OK);
        CHECK_EQ_U64(rep.packets_replayed, 15u * (unsigned)(loss + 1));
        CHECK(rochp_queue_device(w.q) != where.id);
    }
    CHECK(rochp_queue_device(w.q) == devs[2].id);
    work_steps(&w, 5);
    CHECK(rochp_completion_wait(&w.last, 30 * SECOND) == ROCHP_OK);
    CHECK(user_same(w.b, w.want, N));
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

static void flow2(void)
{
    flow2_next_candidate();
    flow2_no_candidate_left();
    flow2_twice();
}

/* --- 3: a barrier on a lost GPU ---------------------------------------------------------- */
typedef struct gate_opener {
    rochp_queue *gate;
    const rochp_dispatch_kernel *bound;
    chain_args args;
    rochp_status status;
} gate_opener;

/* On recovered: the gate packet the held work waits for is dispatched. */
static void open_gate(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)e;
    gate_opener *g = user;
    g->status = rochp_dispatch(g->gate, g->bound, &g_launch, &g->args, sizeof g->args, NULL);
}

/* GPU 1's queue y waits for a packet of a gate queue on GPU 0 not yet
 * written; GPU 0's queue x waits (barrier) for y's chain.  GPU 1 goes: x's
 * work can never complete.  A wait on it must say so at once (and recover,
 * under auto-recovery), and destroying x must not sit out a timeout. */
static void flow3_case(bool automatic)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow3", "mi210", 2, "silent");
    rochp_context *ctx = user_context(automatic ? ROCHP_CONTEXT_AUTO_RECOVER : 0, 20);
    rochp_device_info devs[2];
    REQUIRE(user_devices(ctx, devs, 2) == 2);
    user_kernels k = user_load(ctx);
    rochp_queue *x = user_queue(ctx, devs[0].id, ROCHP_QUEUE_JOURNALED, 64, 1024);
    rochp_queue *y = user_queue(ctx, devs[1].id, ROCHP_QUEUE_JOURNALED, 64, 1024);
    rochp_queue *gate = user_queue(ctx, devs[0].id, ROCHP_QUEUE_JOURNALED, 64, 1024);
    uint32_t want_x[N], want_y[N], scratch_cpu[N];
    rochp_buffer *bx = user_words(ctx, devs[0].id, N, 5, want_x);
    rochp_buffer *by = user_words(ctx, devs[1].id, N, 6, want_y);
    rochp_buffer *scratch = user_words(ctx, devs[0].id, N, 7, scratch_cpu);
    const rochp_dispatch_kernel *kx, *ky, *kg;
    REQUIRE(rochp_kernel_bind(k.chain, x, &kx) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(k.chain, y, &ky) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(k.chain, gate, &kg) == ROCHP_OK);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    rochp_completion opens = {gate, 0}, y_done, x_done;
    REQUIRE(rochp_dispatch_barrier(y, &opens, NULL) == ROCHP_OK);
    chain_args ay = {rochp_buffer_address(by), N, 1};
    REQUIRE(rochp_dispatch(y, ky, &g_launch, &ay, sizeof ay, &y_done) == ROCHP_OK);
    cpu_chain(want_y, N, 1);
    REQUIRE(rochp_dispatch_barrier(x, &y_done, NULL) == ROCHP_OK);
    chain_args ax = {rochp_buffer_address(bx), N, 2};
    REQUIRE(rochp_dispatch(x, kx, &g_launch, &ax, sizeof ax, &x_done) == ROCHP_OK);
    cpu_chain(want_x, N, 2);
    gate_opener opener = {gate, kg, {rochp_buffer_address(scratch), N, 3}, ROCHP_ERROR_BUSY};
    rochp_subscription sub;
    if (automatic)
        REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_RECOVERED, open_gate, &opener, &sub) ==
                ROCHP_OK);
    user_unplug(dir, &devs[1]);
    uint64_t t0 = user_now_ns();
    rochp_status st = rochp_completion_wait(&x_done, 60 * SECOND);
    if (automatic) {
        if (st != ROCHP_OK)
            fprintf(stderr, "auto: %s\n", rochp_last_error());
        CHECK(st == ROCHP_OK);
        CHECK(rochp_buffer_device(by) == devs[0].id);
        CHECK(user_same(bx, want_x, N));
        CHECK(user_same(by, want_y, N));
        REQUIRE(rochp_flush(ctx) == ROCHP_OK);
        CHECK(opener.status == ROCHP_OK);
    } else {
        /* Not a timeout: the work depends on a lost device. */
        CHECK(st == ROCHP_ERROR_DEVICE_LOST);
        CHECK_CONTAINS(rochp_last_error(), "never completes");
        /* The lost queue stays while x's barrier on it is unfinished: the
         * barrier reads its signal (a freed one faults on a GPU). */
        CHECK(rochp_queue_destroy(y) == ROCHP_ERROR_BUSY);
        CHECK_CONTAINS(rochp_last_error(), "is a barrier on queue");
        /* Ten seconds was destroy's old wait for such a queue. */
        uint64_t t1 = user_now_ns();
        CHECK(rochp_queue_destroy(x) == ROCHP_OK);
        CHECK(user_now_ns() - t1 < 5 * SECOND);
        CHECK(t1 - t0 < 30 * SECOND);
        CHECK(rochp_queue_destroy(y) == ROCHP_OK);
    }
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

static void flow3(void)
{
    flow3_case(false);
    flow3_case(true);
}

/* --- 7: a module a journal still names ----------------------------------------------------- */
static void flow7(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow7", "mi210", 1, "silent");
    rochp_context *ctx = user_context(0, 50);
    rochp_device_info dev;
    REQUIRE(user_devices(ctx, &dev, 1) == 1);
    user_kernels k = user_load(ctx);
    journaled_work w;
    work_start(&w, ctx, &k, dev.id, 8);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    work_steps(&w, 3);
    REQUIRE(rochp_completion_wait(&w.last, 30 * SECOND) == ROCHP_OK);
    char name[32];
    snprintf(name, sizeof name, "queue %llu", (unsigned long long)rochp_queue_id(w.q));
    CHECK(rochp_module_free(k.module) == ROCHP_ERROR_BUSY);
    CHECK_CONTAINS(rochp_last_error(), name);
    CHECK_CONTAINS(rochp_last_error(), "journal");
    /* Still whole: a checkpoint reads the journal's kernels. */
    CHECK(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    CHECK(rochp_module_free(k.module) == ROCHP_OK);
    /* The binding forgot it: a dispatch with it would fault, not run freed code. */
    CHECK(w.bound->kernel_object == 0 && w.bound->kernel == NULL);
    CHECK(rochp_module_free(k.module) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(user_same(w.b, w.want, N));
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* --- peer: a fault in a dying peer's memory is the loss's ------------------------------ */
/* GPU 0's kernel reads a buffer on GPU 1, which is unplugged (silent: no
 * notice) while the context has not looked at the topology (its poll is an
 * hour away, no uevents): the kernel faults on GPU 0 before rochp knows of
 * the loss.  The wait must call it the loss (DEVICE_LOST, GPU 1 lost by
 * then), not a fault of the work's own, and recovery moves both GPUs' work
 * (the driver keeps GPU 0 stopped for this process) to GPU 2. */
static void flow_peer(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flowpeer", "mi210", 3, "silent");
    rochp_context *ctx = user_context(0, 3600 * 1000);
    rochp_device_info devs[3];
    REQUIRE(user_devices(ctx, devs, 3) == 3);
    user_kernels k = user_load(ctx);
    rochp_queue *q = user_queue(ctx, devs[0].id, ROCHP_QUEUE_JOURNALED, 64, 64);
    const rochp_dispatch_kernel *join;
    REQUIRE(rochp_kernel_bind(k.join, q, &join) == ROCHP_OK);
    uint32_t a[N], b[N], out[N];
    rochp_buffer *ba = user_words(ctx, devs[0].id, N, 1, a);
    rochp_buffer *bb = user_words(ctx, devs[1].id, N, 2, b);
    rochp_buffer *bo = user_words(ctx, devs[0].id, N, 3, out);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    user_unplug(dir, &devs[1]);
    CHECK(user_state(ctx, devs[1].id) == ROCHP_DEVICE_PRESENT); /* not looked yet */
    join_args j = {rochp_buffer_address(bo), rochp_buffer_address(ba), rochp_buffer_address(bb),
                   N, 0};
    rochp_completion c;
    REQUIRE(rochp_dispatch(q, join, &g_launch, &j, sizeof j, &c) == ROCHP_OK);
    rochp_status st = rochp_completion_wait(&c, 30 * SECOND);
    CHECK(st == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "memory of a device that has been lost");
    CHECK(user_state(ctx, devs[1].id) == ROCHP_DEVICE_LOST);
    CHECK(rochp_dispatch(q, join, &g_launch, &j, sizeof j, NULL) == ROCHP_ERROR_DEVICE_LOST);
    rochp_recovery_report rep;
    st = rochp_recover(ctx, 60 * SECOND, &rep);
    if (st != ROCHP_OK)
        fprintf(stderr, "rochp_recover: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    CHECK_EQ_U64(rep.devices_lost, 2);
    CHECK(rochp_queue_device(q) == devs[2].id);
    CHECK(rochp_completion_wait(&c, 30 * SECOND) == ROCHP_OK);
    cpu_join(out, a, b, N);
    CHECK(user_same(bo, out, N));
    CHECK(user_same(ba, a, N) && user_same(bb, b, N));
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* --- 8: a faulting kernel is its queue's fault, not the device's ----------------------- */
static void flow8(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow8", "mi210", 2, "silent");
    rochp_context *ctx = user_context(0, 50);
    rochp_device_info devs[2];
    REQUIRE(user_devices(ctx, devs, 2) == 2);
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    user_kernels k = user_load(ctx);
    rochp_queue *q = user_queue(ctx, devs[0].id, ROCHP_QUEUE_PLAIN, 64, 0);
    /* A kernel object in memory no agent may read: the packet faults. */
    long page = sysconf(_SC_PAGESIZE);
    void *hole = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(hole != MAP_FAILED);
    const rochp_dispatch_kernel *good;
    REQUIRE(rochp_kernel_bind(k.chain, q, &good) == ROCHP_OK);
    rochp_dispatch_kernel bad = *good;
    bad.kernel_object = (uint64_t)(uintptr_t)hole;
    uint32_t want[N];
    rochp_buffer *b = user_words(ctx, devs[0].id, N, 9, want);
    chain_args a = {rochp_buffer_address(b), N, 1};
    rochp_completion c;
    REQUIRE(rochp_dispatch(q, &bad, &g_launch, &a, sizeof a, &c) == ROCHP_OK);
    CHECK(rochp_completion_wait(&c, 30 * SECOND) == ROCHP_ERROR_QUEUE_FAILED);
    CHECK_CONTAINS(rochp_last_error(), "failed");
    CHECK(rochp_dispatch(q, good, &g_launch, &a, sizeof a, NULL) == ROCHP_ERROR_QUEUE_FAILED);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 0); /* no device was lost */
    CHECK(user_state(ctx, devs[0].id) == ROCHP_DEVICE_PRESENT);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    /* The other GPU goes on. */
    rochp_queue *q1 = user_queue(ctx, devs[1].id, ROCHP_QUEUE_PLAIN, 64, 0);
    uint32_t want1[N];
    rochp_buffer *b1 = user_words(ctx, devs[1].id, N, 10, want1);
    const rochp_dispatch_kernel *k1;
    REQUIRE(rochp_kernel_bind(k.chain, q1, &k1) == ROCHP_OK);
    chain_args a1 = {rochp_buffer_address(b1), N, 4};
    REQUIRE(rochp_dispatch(q1, k1, &g_launch, &a1, sizeof a1, &c) == ROCHP_OK);
    cpu_chain(want1, N, 4);
    CHECK(rochp_completion_wait(&c, 30 * SECOND) == ROCHP_OK);
    CHECK(user_same(b1, want1, N));
    munmap(hole, (size_t)page);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* --- 9: lifetimes and misuse --------------------------------------------------------------- */
static void flow9(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow9", "mi210", 1, "silent");
    rochp_context *ctx = user_context(0, 50);
    rochp_device_info dev;
    REQUIRE(user_devices(ctx, &dev, 1) == 1);
    user_kernels k = user_load(ctx);
    rochp_buffer *b = user_words(ctx, dev.id, N, 11, NULL);
    rochp_buffer *kept = user_words(ctx, dev.id, N, 12, NULL);
    rochp_queue *q = user_queue(ctx, dev.id, ROCHP_QUEUE_JOURNALED, 64, 64);
    rochp_queue *kept_q = user_queue(ctx, dev.id, ROCHP_QUEUE_PLAIN, 64, 0);
    /* Double frees are named, not undefined. */
    CHECK(rochp_buffer_free(b) == ROCHP_OK);
    CHECK(rochp_buffer_free(b) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "not a live buffer");
    CHECK(rochp_buffer_address(b) == NULL && rochp_buffer_size(b) == 0);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    CHECK(rochp_queue_destroy(q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "not a live queue");
    rochp_completion c = {q, 0};
    CHECK(rochp_completion_wait(&c, 0) == ROCHP_ERROR_INVALID_ARGUMENT);
    /* Objects die with their context; using them after is named too. */
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    CHECK(rochp_buffer_free(kept) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_queue_destroy(kept_q) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_module_free(k.module) == ROCHP_ERROR_INVALID_ARGUMENT);
    rochp_kernel_info info;
    CHECK(rochp_kernel_get_info(k.chain, &info) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_context_destroy(ctx) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "not a live context");
    rochp_device_info d;
    CHECK(rochp_device_get(ctx, dev.id, &d) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_checkpoint(ctx, 0, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_checkpoint_save(ctx, 1, NULL, 0) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "not a live context");
    CHECK(rochp_checkpoint_save_path(ctx, "/nonexistent/x", NULL, 0) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    rochp_restored *none = NULL;
    CHECK(rochp_checkpoint_load(ctx, 0, &none) == ROCHP_ERROR_INVALID_ARGUMENT && none == NULL);
    test_remove_tmpdir(dir);
}

/* --- 10: each failure its own message ------------------------------------------------------- */
typedef struct flush_probe {
    rochp_status status;
    char message[512];
} flush_probe;

static void flush_from_callback(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)e;
    flush_probe *p = user;
    p->status = rochp_flush(ctx);
    snprintf(p->message, sizeof p->message, "%s", rochp_last_error());
}

static void flow10(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow10", "mi210", 2, "silent");
    rochp_context *ctx = user_context(0, 20);
    rochp_device_info devs[2];
    REQUIRE(user_devices(ctx, devs, 2) == 2);
    /* BUSY's string fits every use, not only the topology's. */
    CHECK(strstr(rochp_status_string(ROCHP_ERROR_BUSY), "topology") == NULL);
    flush_probe probe = {ROCHP_OK, ""};
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_LOST, flush_from_callback, &probe, &sub) ==
            ROCHP_OK);
    user_kernels k = user_load(ctx);
    rochp_queue *q = user_queue(ctx, devs[0].id, ROCHP_QUEUE_JOURNALED, 64, 64);
    const rochp_dispatch_kernel *bound;
    REQUIRE(rochp_kernel_bind(k.join, q, &bound) == ROCHP_OK);
    CHECK_EQ_U64(bound->args_min, 28);
    /* Fewer bytes than the kernel's explicit arguments. */
    chain_args short_args = {NULL, 0, 0};
    CHECK(rochp_dispatch(q, bound, &g_launch, &short_args, sizeof short_args, NULL) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "16 bytes of arguments, kernel join_add takes 28");
    /* A failing inline dispatch sets its own message, not an older call's. */
    user_unplug(dir, &devs[0]);
    user_wait_lost(ctx, devs[0].id);
    CHECK(rochp_buffer_alloc(ctx, 4242, 16, &(rochp_buffer *){NULL}) == ROCHP_ERROR_NOT_FOUND);
    join_args j = {NULL, NULL, NULL, 0, 0};
    CHECK(rochp_dispatch(q, bound, &g_launch, &j, sizeof j, NULL) == ROCHP_ERROR_DEVICE_LOST);
    CHECK(strstr(rochp_last_error(), "4242") == NULL);
    CHECK_CONTAINS(rochp_last_error(), "has been lost");
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK(probe.status == ROCHP_ERROR_BUSY);
    CHECK_CONTAINS(probe.message, "rochp_flush from a callback");
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* --- 11: the reason under the current kernel ------------------------------------------------ */
static void flow11(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flow11", "mi210", 2, "sigbus");
    rochp_context *ctx = user_context(ROCHP_CONTEXT_SIGBUS_HANDLER, 20);
    rochp_device_info devs[2];
    REQUIRE(user_devices(ctx, devs, 2) == 2);
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_LOST, event_record, &r, &sub) == ROCHP_OK);
    user_kernels k = user_load(ctx);
    journaled_work w;
    work_start(&w, ctx, &k, devs[0].id, 13);
    /* Busy queues: packets in flight when the unplug comes. */
    work_steps(&w, 200);
    user_unplug(dir, &devs[0]);
    for (int i = 0; i < 3000 && event_count(&r) == 0; i++)
        usleep(10000);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 1);
    if (event_count(&r) == 1) {
        CHECK(r.events[0].device == devs[0].id);
        CHECK(r.events[0].reason == ROCHP_REASON_SIGBUS);
    }
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* --- the ring ABI: options from a program built before the version field --------------- */
/* Such a program calls librochp's exported rochp_queue_options_init (the
 * header's is inline now): it must fill only the fields that program has,
 * and rochp_queue_create must ask it to rebuild rather than trust it. */
static void flow_abi(void)
{
    char dir[256];
    user_machine(dir, sizeof dir, "flowabi", "mi210", 1, "silent");
    rochp_context *ctx = user_context(0, 20);
    rochp_device_info dev;
    REQUIRE(user_devices(ctx, &dev, 1) == 1);
    void (*exported)(rochp_queue_options *) =
        (void (*)(rochp_queue_options *))dlsym(RTLD_DEFAULT, "rochp_queue_options_init");
    REQUIRE(exported);
    union {
        rochp_queue_options o;
        unsigned char bytes[sizeof(rochp_queue_options) + 8];
    } old;
    memset(&old, 0xab, sizeof old);
    exported(&old.o);
    size_t had = offsetof(rochp_queue_options, ring_abi);
    CHECK(old.o.struct_size == had);
    for (size_t i = had; i < sizeof old.bytes; i++)
        CHECK(old.bytes[i] == 0xab);
    rochp_queue *q = NULL;
    CHECK(rochp_queue_create(ctx, dev.id, &old.o, &q) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "without the ring ABI version");
    CHECK(q == NULL);
    rochp_queue_options now;
    rochp_queue_options_init(&now);
    REQUIRE(rochp_queue_create(ctx, dev.id, &now, &q) == ROCHP_OK);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        void (*run)(void);
    } flows[] = {{"refused", flow1}, {"target", flow2},  {"barrier", flow3},
                 {"module", flow7},  {"fault", flow8},   {"peer", flow_peer},   {"lifetime", flow9},
                 {"messages", flow10}, {"sigbus", flow11}, {"abi", flow_abi}};
    g_launch = user_launch(N);
    for (size_t i = 0; i < sizeof flows / sizeof *flows; i++) {
        bool wanted = argc < 2;
        for (int a = 1; a < argc; a++)
            wanted |= strcmp(argv[a], flows[i].name) == 0;
        if (!wanted)
            continue;
        fprintf(stderr, "flow %s\n", flows[i].name);
        flows[i].run();
    }
    return check_result();
}
