/* benchmarks/checkpoint_overhead: what checkpoints cost a training-style
 * loop, on hsasim.
 *
 *   checkpoint_overhead [--steps S] [--rounds R] [--work-mib W] [--device-ms D]
 *                       [--states M,M,...] [--every K,K,...]
 *                       (defaults 20, 6, 64, 40, 64,256,1024, 1,10,100)
 *
 * The state, M MiB, is one buffer on each of two simulated GPUs (M/2 each).
 * Each step dispatches, on each GPU's journaled queue, a forward-and-
 * backward kernel that reads the state and keeps the GPU busy for D ms
 * (kernels_step.c: device time, which on hsasim leaves the host's cores to
 * the copy engines as a GPU's compute units do; 0: none), then
 * pipeline.co's chain_step over the first W/2 MiB of the state (the update:
 * the same kernel work whatever the state's size), then waits for both.
 * chain_step's argument is a writable global buffer (its metadata), so the
 * journal marks the whole state written and each checkpoint copies all of
 * it, as a training step that updates every weight would.
 *
 * For each K and each kind -- stop-the-world (rochp_checkpoint) and
 * concurrent (rochp_checkpoint_begin: the copies overlap the next step's
 * forward kernel, and its update waits in rochp_dispatch for what is not
 * copied yet) -- R rounds each run a block of S steps (rounded up to a
 * multiple of K) with a checkpoint every K steps and a block without, in
 * alternating order, so that the machine's drift (it is shared) falls on
 * both alike; the overhead is the blocks' total times compared.  Two
 * checkpoints before the runs allocate the shadows and their spares, so
 * the blocks see the steady state (first_checkpoint_s is the first).
 *
 * Prints {"runs":[{"state_bytes":N,"every":K,"mode":"stop"|"concurrent",
 * "overhead_pct":X,"round_median_pct":...,...},...]}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_tree.h"
#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"

#define WAIT_NS (120ull * 1000 * 1000 * 1000)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what)
{
    fprintf(stderr, "checkpoint_overhead: %s: %s\n", what, rochp_last_error());
    return 1;
}

typedef struct loop {
    rochp_context *ctx;
    rochp_queue *q[2];
    const rochp_dispatch_kernel *k[2], *fwd[2];
    rochp_buffer *state[2];
    rochp_launch launch, one;
    uint32_t words;     /* chain_step's n: the fixed work */
    uint32_t state_words;
    uint32_t device_us; /* the forward kernel's device time (0: no forward kernel) */
    uint32_t step;
    double call_s; /* on the clock in the checkpoint calls themselves */
} loop;

typedef struct device_time_args {
    const uint32_t *weights;
    uint32_t words;
    uint32_t device_us;
} device_time_args;

/* One step: both GPUs' forward kernels first (an update that waits for a
 * copy, under a concurrent checkpoint, waits in its dispatch on this
 * thread), then both updates, then wait for both. */
static int step(loop *l)
{
    rochp_completion done[2];
    for (int g = 0; g < 2 && l->device_us; g++) {
        device_time_args f = {rochp_buffer_address(l->state[g]), l->state_words, l->device_us};
        if (rochp_dispatch(l->q[g], l->fwd[g], &l->one, &f, sizeof f, NULL) != ROCHP_OK)
            return fail("dispatch");
    }
    for (int g = 0; g < 2; g++) {
        chain_args a = {rochp_buffer_address(l->state[g]), l->words, l->step};
        if (rochp_dispatch(l->q[g], l->k[g], &l->launch, &a, sizeof a, &done[g]) != ROCHP_OK)
            return fail("dispatch");
    }
    for (int g = 0; g < 2; g++)
        if (rochp_completion_wait(&done[g], WAIT_NS) != ROCHP_OK)
            return fail("step");
    l->step++;
    return 0;
}

/* A concurrent checkpoint: commit the one begun before (its time added to
 * *ck, counted in *n_ck) and begin the next. */
static int checkpoint_concurrent(loop *l, double *ck, unsigned *n_ck)
{
    rochp_checkpoint_stats st;
    rochp_status fs = rochp_checkpoint_finish(l->ctx, WAIT_NS, &st);
    if (fs != ROCHP_OK && fs != ROCHP_ERROR_NOT_FOUND)
        return fail("checkpoint_finish");
    if (fs == ROCHP_OK)
        *ck += st.ns / 1e9, ++*n_ck;
    return rochp_checkpoint_begin(l->ctx, WAIT_NS) != ROCHP_OK ? fail("checkpoint_begin") : 0;
}

/* A block of steps steps (a multiple of every), a checkpoint after every
 * every-th (0: none); seconds per step into *per_step, the checkpoints'
 * seconds into *ck (concurrent: begin to commit) and their number into
 * *n_ck.  The block is timed as the steady state: a concurrent block starts
 * with a checkpoint begun before the clock (the block's first step runs
 * beside its copies, as every step after a checkpoint does) and ends with
 * one begun on the clock and committed off it; each block is led by an
 * untimed step, checkpointed or not alike. */
static int block(loop *l, unsigned steps, unsigned every, bool concurrent, double *per_step,
                 double *ck, unsigned *n_ck)
{
    double unused = 0;
    unsigned unused_n = 0;
    if (step(l) || (every && concurrent && checkpoint_concurrent(l, &unused, &unused_n)))
        return 1;
    double t0 = now_s();
    for (unsigned s = 1; s <= steps; s++) {
        if (step(l))
            return 1;
        if (!every || s % every != 0)
            continue;
        double c0 = now_s();
        if (concurrent) {
            if (checkpoint_concurrent(l, ck, n_ck))
                return 1;
        } else {
            rochp_checkpoint_stats st;
            if (rochp_checkpoint(l->ctx, WAIT_NS, &st) != ROCHP_OK)
                return fail("checkpoint");
            *ck += st.ns / 1e9, ++*n_ck;
        }
        l->call_s += now_s() - c0;
    }
    *per_step = (now_s() - t0) / steps;
    if (every && concurrent) {
        rochp_checkpoint_stats st;
        if (rochp_checkpoint_finish(l->ctx, WAIT_NS, &st) != ROCHP_OK)
            return fail("checkpoint_finish");
        *ck += st.ns / 1e9, ++*n_ck;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define MAX_ROUNDS 100

/* One configuration: rounds rounds of a block without checkpoints and one
 * with, the order alternating (without-with, with-without, ...) so that the
 * machine's drift (it is shared) falls on both alike.  The overhead is the
 * with-blocks' total time over the without-blocks'; each round's own is
 * kept too, for the spread. */
static int config(loop *l, unsigned steps, unsigned every, unsigned rounds, bool concurrent,
                  size_t each, size_t work, unsigned device_ms, double first_s, bool *first_out)
{
    unsigned block_steps = (steps + every - 1) / every * every;
    double with = 0, without = 0, ck = 0, ratio[MAX_ROUNDS];
    unsigned n_ck = 0;
    l->call_s = 0;
    for (unsigned r = 0; r < rounds; r++) {
        double w, wo, unused = 0;
        unsigned unused_n = 0;
        bool with_first = r % 2 == 1;
        if ((with_first && block(l, block_steps, every, concurrent, &w, &ck, &n_ck)) ||
            block(l, block_steps, 0, false, &wo, &unused, &unused_n) ||
            (!with_first && block(l, block_steps, every, concurrent, &w, &ck, &n_ck)))
            return 1;
        with += w, without += wo;
        ratio[r] = (w - wo) / wo * 100.0;
    }
    qsort(ratio, rounds, sizeof ratio[0], cmp_double);
    double median = rounds % 2 ? ratio[rounds / 2] : (ratio[rounds / 2 - 1] + ratio[rounds / 2]) / 2;
    printf("%s{\"state_bytes\":%zu,\"every\":%u,\"mode\":\"%s\",\"overhead_pct\":%.2f,"
           "\"round_median_pct\":%.2f,\"round_min_pct\":%.2f,\"round_max_pct\":%.2f,"
           "\"step_ms\":%.3f,\"step_ms_no_checkpoint\":%.3f,\"in_checkpoint_calls_ms\":%.3f,"
           "\"checkpoint_ms\":%.3f,"
           "\"checkpoints\":%u,\"rounds\":%u,\"block_steps\":%u,\"work_bytes\":%zu,"
           "\"device_ms\":%u,\"first_checkpoint_s\":%.4f}",
           *first_out ? "" : ",", 2 * each, every, concurrent ? "concurrent" : "stop", (with - without) / without * 100.0, median,
           ratio[0], ratio[rounds - 1], with / rounds * 1e3, without / rounds * 1e3,
           l->call_s / (rounds * block_steps) * 1e3,
           n_ck ? ck / n_ck * 1e3 : 0.0, n_ck, rounds, block_steps, 2 * work, device_ms, first_s);
    fflush(stdout);
    *first_out = false;
    return 0;
}

static int state_runs(const char *dir, size_t mib, unsigned steps, unsigned rounds,
                      const unsigned *everies, size_t n_every, size_t work_mib,
                      unsigned device_ms, bool *first_out)
{
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = ROCHP_CONTEXT_NO_UEVENTS;
    loop l = {0};
    rochp_device_info devs[2];
    size_t n = 0;
    rochp_module *m, *fm;
    rochp_kernel *k, *fk;
    if (rochp_context_create(&o, &l.ctx) != ROCHP_OK ||
        rochp_device_list(l.ctx, devs, 2, &n) != ROCHP_OK || n != 2 ||
        rochp_module_load_file(l.ctx, PIPELINE_CO, &m) != ROCHP_OK ||
        rochp_module_kernel(m, "chain_step", &k) != ROCHP_OK ||
        rochp_module_load_file(l.ctx, STEP_CO, &fm) != ROCHP_OK ||
        rochp_module_kernel(fm, "device_time", &fk) != ROCHP_OK)
        return fail("set-up");
    size_t each = mib * 1024 * 1024 / 2;
    size_t work = work_mib * 1024 * 1024 / 2;
    if (work > each)
        work = each;
    l.words = (uint32_t)(work / 4);
    l.state_words = (uint32_t)(each / 4);
    l.device_us = device_ms * 1000;
    rochp_queue_options qo;
    rochp_queue_options_init(&qo);
    qo.mode = ROCHP_QUEUE_JOURNALED;
    qo.packets = 256;
    qo.journal_length = 1024;
    for (int g = 0; g < 2; g++)
        if (rochp_buffer_alloc(l.ctx, devs[g].id, each, &l.state[g]) != ROCHP_OK ||
            rochp_queue_create(l.ctx, devs[g].id, &qo, &l.q[g]) != ROCHP_OK ||
            rochp_kernel_bind(k, l.q[g], &l.k[g]) != ROCHP_OK ||
            rochp_kernel_bind(fk, l.q[g], &l.fwd[g]) != ROCHP_OK)
            return fail("state");
    if (rochp_launch_init(&l.launch, (rochp_dim3){l.words, 1, 1}, (rochp_dim3){256, 1, 1}) !=
            ROCHP_OK ||
        rochp_launch_init(&l.one, (rochp_dim3){1, 1, 1}, (rochp_dim3){1, 1, 1}) != ROCHP_OK)
        return fail("launch");
    /* The shadows (first) and their spares (second), off the clock. */
    rochp_checkpoint_stats first, second;
    if (step(&l) || rochp_checkpoint(l.ctx, WAIT_NS, &first) != ROCHP_OK || step(&l) ||
        rochp_checkpoint(l.ctx, WAIT_NS, &second) != ROCHP_OK)
        return fail("first checkpoints");
    for (int c = 0; c < 2; c++)
        for (size_t i = 0; i < n_every; i++)
            if (config(&l, steps, everies[i], rounds, c == 1, each, work, device_ms,
                       first.ns / 1e9, first_out))
                return 1;
    rochp_context_destroy(l.ctx);
    return 0;
}

/* A comma-separated list of 1..max into out (at most cap), its length in *n. */
static int parse_list(char *text, unsigned max, unsigned *out, size_t cap, size_t *n)
{
    *n = 0;
    for (char *save = NULL, *tok = strtok_r(text, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *end;
        unsigned long v = strtoul(tok, &end, 10);
        if (*end || v < 1 || v > max || *n == cap)
            return -1;
        out[(*n)++] = (unsigned)v;
    }
    return *n ? 0 : -1;
}

int main(int argc, char **argv)
{
    unsigned steps = 20, rounds = 6, device_ms = 40;
    size_t work_mib = 64;
    char states_text[256] = "64,256,1024", every_text[256] = "1,10,100";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
            rounds = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--work-mib") && i + 1 < argc)
            work_mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--device-ms") && i + 1 < argc)
            device_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--states") && i + 1 < argc)
            snprintf(states_text, sizeof states_text, "%s", argv[++i]);
        else if (!strcmp(argv[i], "--every") && i + 1 < argc)
            snprintf(every_text, sizeof every_text, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: checkpoint_overhead [--steps S] [--rounds R] [--work-mib W] "
                            "[--device-ms D] [--states M,M,...] [--every K,K,...]\n");
            return 2;
        }
    }
    unsigned states[16], everies[16];
    size_t n_states, n_every;
    if (!steps || steps > 1000 || !rounds || rounds > MAX_ROUNDS || !work_mib ||
        work_mib > 4096 || device_ms > 10000 ||
        parse_list(states_text, 16384, states, 16, &n_states) ||
        parse_list(every_text, 1000, everies, 16, &n_every)) {
        fprintf(stderr, "checkpoint_overhead: --steps 1..1000, --rounds 1..%d, --work-mib "
                        "1..4096, --device-ms 0..10000, --states of 2..16384 MiB, --every of "
                        "1..1000 (at most 16 of each)\n", MAX_ROUNDS);
        return 2;
    }
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    printf("{\"benchmark\":\"checkpoint_overhead\",\"gpus\":2,\"runs\":[");
    bool first = true;
    for (size_t i = 0; i < n_states; i++) {
        if (states[i] < 2) {
            fprintf(stderr, "checkpoint_overhead: state sizes 2..16384 MiB\n");
            return 2;
        }
        char dir[256];
        if (bench_make_tree("ckoverhead", "mi300x", 2, dir, sizeof dir) != 0)
            return 1;
        /* The tree goes whatever happened: a failed run leaves nothing behind. */
        int rc = state_runs(dir, states[i], steps, rounds, everies, n_every, work_mib,
                            device_ms, &first);
        if (bench_remove_tree(dir) != 0 || rc != 0)
            return 1;
    }
    printf("]}\n");
    return 0;
}
