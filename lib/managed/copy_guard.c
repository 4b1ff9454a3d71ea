/* The copy guard: while a begun checkpoint (rochp_checkpoint_begin) still
 * copies buffers into its shadows, work that would write one of them waits
 * for its copy, so that the shadow holds the buffer as it was at the cut.
 *
 * A checkpoint arms the guard before it reads the queues' write indexes
 * (each ring's guard word, which the inline path reads after taking a
 * packet id: rochp_dispatch.h), then publishes what it copies -- each
 * buffer's range and its copy's signal -- and withdraws both when it
 * commits or fails.  A dispatch on a guarded ring calls
 * rochp__dispatch_guard, which looks at the kernel's writable pointer
 * arguments (metadata: global buffers not read-only, as the dirty marks
 * do); buffer copy and write calls ask for their destination range.
 *
 * No lock on the way: readers enter by incrementing guard_readers and then
 * load the published table; the withdrawal clears the pointer and then
 * waits for guard_readers to reach 0 before it frees the table, and the
 * checkpoint destroys the copies' signals only after that (both sequentially
 * consistent, so either a reader sees NULL or the withdrawal sees it).
 *
 * The wait is on the host, in the dispatching thread: the packet's id is
 * taken and nothing is written, so the device runs the work before it (a
 * training step's kernels that read the weights) while the copy ends, and
 * the packet's id and journal entry are those of a plain dispatch. */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "managed/managed.h"

struct copy_guard {
    uint32_t generation; /* the rings' guard word while it is armed */
    size_t n;
    copy_guard_entry e[]; /* sorted by start, not overlapping (buffers) */
};

static int by_start(const void *a, const void *b)
{
    const copy_guard_entry *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start;
}

/* With ctx->lock held: every queue's ring gets gen (0: disarmed). */
static void set_rings(rochp_context *ctx, uint32_t gen)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    ctx->managed->guard_generation = gen;
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        __atomic_store_n(&q->ring.guard, gen, __ATOMIC_SEQ_CST);
}

void copy_guard_arm(rochp_context *ctx)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    pthread_mutex_lock(&ctx->lock);
    uint32_t gen = ++ctx->managed->guard_counter;
    if (!gen)
        gen = ++ctx->managed->guard_counter;
    set_rings(ctx, gen);
    pthread_mutex_unlock(&ctx->lock);
}

bool copy_guard_all_aware(rochp_context *ctx)
{
    bool all = true;
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        all &= q->guard_aware;
    pthread_mutex_unlock(&ctx->lock);
    return all;
}

rochp_status copy_guard_publish(rochp_context *ctx, const copy_guard_entry *e, size_t n)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    struct copy_guard *g = malloc(sizeof *g + (n + 1) * sizeof *e);
    if (!g)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "checkpoint: out of memory");
    pthread_mutex_lock(&ctx->lock);
    g->generation = ctx->managed->guard_generation;
    pthread_mutex_unlock(&ctx->lock);
    g->n = n;
    if (n)
        memcpy(g->e, e, n * sizeof *e);
    qsort(g->e, n, sizeof *e, by_start);
    atomic_store(&ctx->managed->guard, g);
    return ROCHP_OK;
}

void copy_guard_withdraw(rochp_context *ctx)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    pthread_mutex_lock(&ctx->lock);
    set_rings(ctx, 0);
    pthread_mutex_unlock(&ctx->lock);
    struct copy_guard *g = atomic_exchange(&ctx->managed->guard, NULL);
    /* A reader waits at most for a copy to end or its device to be found
     * lost; the checkpoint has waited for the copies already. */
    while (atomic_load(&ctx->managed->guard_readers) != 0)
        sched_yield();
    free(g);
}

/* The entry whose buffer holds address, or NULL. */
static const copy_guard_entry *find(const struct copy_guard *g, uintptr_t address)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (g->e[mid].end <= address)
            lo = mid + 1;
        else if (g->e[mid].start > address)
            hi = mid;
        else
            return &g->e[mid];
    }
    return NULL;
}

static bool copied(rochp_context *ctx, const copy_guard_entry *e)
{
    return !e->done.handle || managed_copy_ended(ctx, e->done);
}

/* Until e's copy ended, or its buffer's device is gone (the copy then never
 * ends, and the checkpoint fails). */
static void wait_copy(rochp_context *ctx, const copy_guard_entry *e)
{
    while (!copied(ctx, e) && managed_buffer_reachable(e->b))
        managed_copy_nap(ctx, e->done, COPY_LOSS_CHECK_NS);
}

static struct copy_guard *enter(rochp_context *ctx)
{
    atomic_fetch_add(&ctx->managed->guard_readers, 1);
    struct copy_guard *g = atomic_load(&ctx->managed->guard);
    if (!g)
        atomic_fetch_sub(&ctx->managed->guard_readers, 1);
    return g;
}

static void leave(rochp_context *ctx)
{
    atomic_fetch_sub(&ctx->managed->guard_readers, 1);
}

void copy_guard_wait_range(rochp_context *ctx, const void *address, size_t size)
{
    if (!size)
        return;
    struct copy_guard *g = enter(ctx);
    if (!g)
        return;
    /* Buffers do not overlap: a range in one buffer meets one entry. */
    const copy_guard_entry *e = find(g, (uintptr_t)address);
    if (!e)
        e = find(g, (uintptr_t)address + size - 1);
    if (e)
        wait_copy(ctx, e);
    leave(ctx);
}

void rochp__dispatch_guard(rochp_queue *queue, const rochp_dispatch_kernel *k, const void *args,
                           size_t args_size)
{
    /* The inline path passes what it was given; a queue or kernel that is
     * not one would fail the dispatch's own checks or fault in it anyway. */
    if (!queue || !k || !k->kernel || !args)
        return;
    rochp_context *ctx = queue->ctx;
    struct copy_guard *g = enter(ctx);
    if (!g)
        return;
    uint32_t n = managed_kernel_arg_count(k->kernel);
    for (uint32_t a = 0; a < n; a++) {
        uint32_t offset;
        if (!managed_kernel_writable_pointer_arg(k->kernel, a, &offset) ||
            offset + sizeof(uint64_t) > args_size)
            continue;
        uint64_t address;
        memcpy(&address, (const uint8_t *)args + offset, sizeof address);
        const copy_guard_entry *e = find(g, (uintptr_t)address);
        if (e)
            wait_copy(ctx, e);
    }
    /* Every copy done: this ring need not ask again for this checkpoint. */
    bool all = true;
    for (size_t i = 0; i < g->n && all; i++)
        all = copied(ctx, &g->e[i]);
    if (all) {
        uint32_t gen = g->generation;
        __atomic_compare_exchange_n(&queue->ring.guard, &gen, 0, false, __ATOMIC_SEQ_CST,
                                    __ATOMIC_RELAXED);
    }
    leave(ctx);
}
