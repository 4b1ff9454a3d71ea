/* benchmarks/recovery: checkpoint and restore throughput against host
 * memcpy of the same bytes, on hsasim.
 *
 *   recovery [--mib M] [--gpus G] [--repeat R]   (defaults 1024, 2, 3)
 *
 * M MiB of buffers, in 8 buffers spread over G simulated GPUs, are filled,
 * checkpointed (all copied: the first checkpoint, which allocates the
 * shadows), then restored R times; the baseline is memcpy of the same bytes
 * between two touched host buffers, R times.  Then full checkpoints (a plain
 * queue ran, so every buffer is copied): one that allocates the spares,
 * then R with shadows reused, the steady state (checkpoint_full_*); and R
 * incremental ones after one buffer's write, each against memcpy of the
 * bytes it copied.  Medians.
 *
 * Replay: for journals of 100, 1,000 and 10,000 packets since the checkpoint
 * on a journaled queue of GPU 1 (of 2), GPU 1 is unplugged (silent) and the
 * time from the unplug to rochp_recover's return and to the last replayed
 * packet's completion is measured; loss_to_first_replay_ms is, for the
 * 1,000-packet journal, the time from the unplug until the first replayed
 * packet is seen complete after rochp_recover returns (an upper bound: the
 * whole journal is submitted first).  Prints one JSON object. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_tree.h"
#include "ops.h"
#include "rochp/rochp_dispatch.h"

#define BUFFERS 8

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

typedef struct empty_args {
    uint64_t a;
    uint32_t b, c;
} empty_args;

typedef struct replay_run {
    uint32_t packets;
    double recover_ms, replayed_ms, first_ms;
} replay_run;

static int fail(const char *what);

/* One loss with a journal of run->packets packets since the checkpoint. */
static int replay_once(replay_run *run)
{
    char dir[256];
    rochp__error err = {0};
    if (bench_make_tree("replay", "mi300x", 2, dir, sizeof dir) != 0)
        return 1;
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = ROCHP_CONTEXT_NO_UEVENTS;
    rochp_context *ctx;
    rochp_device_info devs[2];
    size_t n = 0;
    rochp_module *m;
    rochp_kernel *k;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK ||
        rochp_device_list(ctx, devs, 2, &n) != ROCHP_OK || n != 2 ||
        rochp_module_load_file(ctx, EMPTY_CO, &m) != ROCHP_OK ||
        rochp_module_kernel(m, "empty", &k) != ROCHP_OK)
        return fail("replay set-up");
    rochp_queue_options qo;
    rochp_queue_options_init(&qo);
    qo.mode = ROCHP_QUEUE_JOURNALED;
    qo.packets = 1024;
    qo.journal_length = 16384;
    rochp_queue *q;
    const rochp_dispatch_kernel *bound;
    rochp_launch launch;
    if (rochp_queue_create(ctx, devs[1].id, &qo, &q) != ROCHP_OK ||
        rochp_kernel_bind(k, q, &bound) != ROCHP_OK ||
        rochp_launch_init(&launch, (rochp_dim3){64, 1, 1}, (rochp_dim3){64, 1, 1}) != ROCHP_OK ||
        rochp_checkpoint(ctx, 60ull * 1000000000ull, NULL) != ROCHP_OK)
        return fail("replay queue");
    rochp_completion first = {q, 0}, last = {q, 0};
    for (uint32_t i = 0; i < run->packets; i++) {
        empty_args a = {i, i, i};
        if (rochp_dispatch(q, bound, &launch, &a, sizeof a, &last) != ROCHP_OK)
            return fail("replay dispatch");
    }
    if (rochp_queue_wait_idle(q, 60ull * 1000000000ull) != ROCHP_OK)
        return fail("replay work");
    double t0 = now_s();
    if (vtree_unplug(dir, devs[1].pci, 0, NULL, &err) != ROCHP_OK || rochp_rescan(ctx) != ROCHP_OK)
        return fail("unplug");
    rochp_recovery_report rep;
    if (rochp_recover(ctx, 60ull * 1000000000ull, &rep) != ROCHP_OK)
        return fail("recover");
    double t1 = now_s();
    if (rochp_completion_wait(&first, 60ull * 1000000000ull) != ROCHP_OK)
        return fail("first replayed packet");
    double t2 = now_s();
    if (rochp_completion_wait(&last, 60ull * 1000000000ull) != ROCHP_OK)
        return fail("replay");
    double t3 = now_s();
    run->recover_ms = (t1 - t0) * 1e3;
    run->first_ms = (t2 - t0) * 1e3;
    run->replayed_ms = (t3 - t0) * 1e3;
    rochp_context_destroy(ctx);
    return bench_remove_tree(dir);
}

static int fail(const char *what)
{
    fprintf(stderr, "recovery: %s: %s\n", what, rochp_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    size_t mib = 1024;
    unsigned gpus = 2, repeat = 3;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc)
            mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--gpus") && i + 1 < argc)
            gpus = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: recovery [--mib M] [--gpus G] [--repeat R]\n");
            return 2;
        }
    }
    if (!mib || !gpus || gpus > 8 || !repeat || repeat > 100) {
        fprintf(stderr, "recovery: --mib > 0, --gpus 1..8, --repeat 1..100\n");
        return 2;
    }
    char dir[256];
    if (bench_make_tree("recovery", "mi300x", gpus, dir, sizeof dir) != 0)
        return 1;
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = ROCHP_CONTEXT_NO_UEVENTS;
    rochp_context *ctx;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK)
        return fail("context");
    rochp_device_info devs[8];
    size_t n = 0;
    if (rochp_device_list(ctx, devs, 8, &n) != ROCHP_OK || n != gpus)
        return fail("devices");

    size_t each = mib * 1024 * 1024 / BUFFERS;
    rochp_buffer *b[BUFFERS];
    unsigned char *pattern = malloc(each);
    if (!pattern)
        return fail("host memory");
    for (int i = 0; i < BUFFERS; i++) {
        memset(pattern, 0x11 * (i + 1), each);
        if (rochp_buffer_alloc(ctx, devs[i % gpus].id, each, &b[i]) != ROCHP_OK ||
            rochp_buffer_write(b[i], 0, pattern, each) != ROCHP_OK)
            return fail("buffers");
    }
    rochp_checkpoint_stats first, full, inc, rs;
    if (rochp_checkpoint(ctx, 60ull * 1000000000ull, &first) != ROCHP_OK)
        return fail("checkpoint");
    double *restore = calloc(repeat, sizeof *restore), *copy = calloc(repeat, sizeof *copy);
    double *full_s = calloc(repeat, sizeof *full_s), *inc_s = calloc(repeat, sizeof *inc_s);
    double *inc_copy = calloc(repeat, sizeof *inc_copy);
    unsigned char *src = mmap(NULL, each * BUFFERS, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned char *dst = mmap(NULL, each * BUFFERS, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (!restore || !copy || !full_s || !inc_s || !inc_copy || src == MAP_FAILED ||
        dst == MAP_FAILED)
        return fail("host memory");
    /* The baseline at its best: huge pages, as the shadows and hsasim's
     * device memory have (4 KiB pages would make memcpy the slower side). */
    (void)madvise(src, each * BUFFERS, MADV_HUGEPAGE);
    (void)madvise(dst, each * BUFFERS, MADV_HUGEPAGE);
    memset(src, 1, each * BUFFERS);
    memset(dst, 2, each * BUFFERS);
    for (unsigned r = 0; r < repeat; r++) {
        double t0 = now_s();
        if (rochp_checkpoint_restore(ctx, &rs) != ROCHP_OK)
            return fail("restore");
        restore[r] = now_s() - t0;
        t0 = now_s();
        memcpy(dst, src, each * BUFFERS);
        copy[r] = now_s() - t0;
    }
    /* Later full checkpoints: a plain queue that ran anything makes every
     * buffer dirty.  The second allocates the spares (the first had made
     * the shadows); from the third on, nothing is allocated: steady state,
     * the median of R after one unmeasured. */
    rochp_queue *plain;
    rochp_module *em;
    rochp_kernel *ek;
    const rochp_dispatch_kernel *eb;
    rochp_launch el;
    if (rochp_module_load_file(ctx, EMPTY_CO, &em) != ROCHP_OK ||
        rochp_module_kernel(em, "empty", &ek) != ROCHP_OK ||
        rochp_queue_create(ctx, devs[0].id, NULL, &plain) != ROCHP_OK ||
        rochp_kernel_bind(ek, plain, &eb) != ROCHP_OK ||
        rochp_launch_init(&el, (rochp_dim3){1, 1, 1}, (rochp_dim3){1, 1, 1}) != ROCHP_OK)
        return fail("plain queue");
    for (unsigned r = 0; r <= repeat; r++) {
        empty_args a = {r, r, r};
        rochp_completion c;
        if (rochp_dispatch(plain, eb, &el, &a, sizeof a, &c) != ROCHP_OK ||
            rochp_completion_wait(&c, 60ull * 1000000000ull) != ROCHP_OK ||
            rochp_checkpoint(ctx, 60ull * 1000000000ull, &full) != ROCHP_OK)
            return fail("full checkpoint");
        if (r)
            full_s[r - 1] = full.ns / 1e9;
    }
    /* Incremental: one buffer written since, against memcpy of its bytes. */
    for (unsigned r = 0; r < repeat; r++) {
        memset(pattern, 0x70 + r, each);
        if (rochp_buffer_write(b[3], 0, pattern, each) != ROCHP_OK ||
            rochp_checkpoint(ctx, 60ull * 1000000000ull, &inc) != ROCHP_OK)
            return fail("incremental checkpoint");
        inc_s[r] = inc.ns / 1e9;
        double t0 = now_s();
        memcpy(dst, src, inc.bytes_copied);
        inc_copy[r] = now_s() - t0;
    }
    rochp_queue_destroy(plain);
    double restore_s = median(restore, (int)repeat), memcpy_s = median(copy, (int)repeat);
    double full_med = median(full_s, (int)repeat), inc_med = median(inc_s, (int)repeat);
    double inc_memcpy = median(inc_copy, (int)repeat);
    replay_run runs[3] = {{100, 0, 0, 0}, {1000, 0, 0, 0}, {10000, 0, 0, 0}};
    for (int i = 0; i < 3; i++)
        if (replay_once(&runs[i]) != 0)
            return 1;
    printf("{\"benchmark\":\"recovery\",\"gpus\":%u,\"buffers\":%d,\"restore_bytes\":%llu,"
           "\"restore_s\":%.4f,\"memcpy_s\":%.4f,\"restore_vs_memcpy\":%.3f,"
           "\"checkpoint_full_bytes\":%llu,\"checkpoint_full_s\":%.4f,"
           "\"checkpoint_full_vs_memcpy\":%.3f,\"checkpoint_full_which\":\"steady: median of %u "
           "full checkpoints after the second, shadows reused\","
           "\"checkpoint_first_s\":%.4f,\"checkpoint_first_vs_memcpy\":%.3f,"
           "\"checkpoint_incremental_bytes\":%llu,\"checkpoint_incremental_s\":%.4f,"
           "\"memcpy_incremental_s\":%.4f,\"checkpoint_incremental_vs_memcpy\":%.3f,"
           "\"loss_to_first_replay_ms\":%.3f,\"replay\":[",
           gpus, BUFFERS, (unsigned long long)rs.bytes_copied, restore_s, memcpy_s,
           restore_s / memcpy_s, (unsigned long long)full.bytes_copied, full_med,
           full_med / memcpy_s, repeat, first.ns / 1e9, first.ns / 1e9 / memcpy_s,
           (unsigned long long)inc.bytes_copied, inc_med, inc_memcpy, inc_med / inc_memcpy,
           runs[1].first_ms);
    for (int i = 0; i < 3; i++)
        printf("%s{\"packets\":%u,\"loss_to_recovered_ms\":%.3f,\"loss_to_replayed_ms\":%.3f}",
               i ? "," : "", runs[i].packets, runs[i].recover_ms, runs[i].replayed_ms);
    printf("]}\n");
    for (int i = 0; i < BUFFERS; i++)
        rochp_buffer_free(b[i]);
    rochp_context_destroy(ctx);
    munmap(src, each * BUFFERS);
    munmap(dst, each * BUFFERS);
    free(pattern);
    free(restore);
    free(copy);
    free(full_s);
    free(inc_s);
    free(inc_copy);
    return bench_remove_tree(dir);
}
