/* benchmarks/checkpoint_overhead: what checkpoints cost a training-style
 * loop, on hsasim.
 *
 *   checkpoint_overhead [--steps S] [--work-mib W] [--device-ms D]
 *                       [--states M,M,...]   (defaults 100, 64, 40, 64,256,1024)
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
 * it, as a training step that updates every weight would.  S steps run
 * with no checkpoint, then with a checkpoint every 1, 10 and 100 steps,
 * stop-the-world (rochp_checkpoint) and concurrent (rochp_checkpoint_begin:
 * the copies overlap the next step's forward kernel, and its update waits
 * in rochp_dispatch for what is not copied yet).  Two checkpoints before
 * the runs allocate the shadows and their spares, so the runs see the steady
 * state (first_checkpoint_s is the first).  Each checkpointed run is
 * compared with the mean of the runs without checkpoints just before and
 * after it (the machine is shared: its drift falls on both sides).
 *
 * Prints {"runs":[{"state_bytes":N,"every":K,"mode":"stop"|"concurrent",
 * "overhead_pct":X,...},...]}. */
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
} loop;

typedef struct device_time_args {
    const uint32_t *weights;
    uint32_t words;
    uint32_t device_us;
} device_time_args;

/* steps steps, a checkpoint after every every-th (0: none; concurrent:
 * begun, committed by the next one or at the end); seconds per step, and
 * the checkpoints' mean seconds in *ck_s (concurrent: begin to commit). */
static int run(loop *l, unsigned steps, unsigned every, bool concurrent, double *per_step,
               double *ck_s)
{
    double ck = 0;
    unsigned n_ck = 0;
    double t0 = now_s();
    for (unsigned s = 0; s < steps; s++, l->step++) {
        rochp_completion done[2];
        /* Both GPUs' forward kernels first: an update that waits for a copy
         * (concurrent checkpoints) waits in its dispatch, on this thread. */
        for (int g = 0; g < 2 && l->device_us; g++) {
            device_time_args f = {rochp_buffer_address(l->state[g]), l->state_words,
                                  l->device_us};
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
        if (every && (s + 1) % every == 0) {
            rochp_checkpoint_stats st;
            if (!concurrent) {
                if (rochp_checkpoint(l->ctx, WAIT_NS, &st) != ROCHP_OK)
                    return fail("checkpoint");
            } else {
                rochp_status fs = rochp_checkpoint_finish(l->ctx, WAIT_NS, &st);
                if (fs != ROCHP_OK && fs != ROCHP_ERROR_NOT_FOUND)
                    return fail("checkpoint_finish");
                if (fs == ROCHP_OK)
                    n_ck++, ck += st.ns / 1e9;
                if (rochp_checkpoint_begin(l->ctx, WAIT_NS) != ROCHP_OK)
                    return fail("checkpoint_begin");
                continue;
            }
            ck += st.ns / 1e9;
            n_ck++;
        }
    }
    if (concurrent && every) {
        rochp_checkpoint_stats st;
        rochp_status fs = rochp_checkpoint_finish(l->ctx, WAIT_NS, &st);
        if (fs != ROCHP_OK && fs != ROCHP_ERROR_NOT_FOUND)
            return fail("checkpoint_finish");
        if (fs == ROCHP_OK)
            ck += st.ns / 1e9, n_ck++;
    }
    *per_step = (now_s() - t0) / steps;
    *ck_s = n_ck ? ck / n_ck : 0;
    return 0;
}

static int state_runs(size_t mib, unsigned steps, size_t work_mib, unsigned device_ms,
                      bool *first_out)
{
    char dir[256];
    if (bench_make_tree("ckoverhead", "mi300x", 2, dir, sizeof dir) != 0)
        return 1;
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
    /* The shadows (first) and their spares (second), untimed by the runs. */
    rochp_checkpoint_stats first, second;
    double per, ck;
    if (run(&l, 1, 0, false, &per, &ck) || rochp_checkpoint(l.ctx, WAIT_NS, &first) != ROCHP_OK ||
        run(&l, 1, 0, false, &per, &ck) || rochp_checkpoint(l.ctx, WAIT_NS, &second) != ROCHP_OK)
        return fail("first checkpoints");
    /* Each checkpointed run between two runs without: against the mean of
     * its neighbours, so that the machine's drift (it is shared) falls on
     * both sides alike. */
    static const unsigned everies[] = {1, 10, 100};
    double base[7], per_k[2][3], ck_k[2][3];
    if (run(&l, steps, 0, false, &base[0], &ck))
        return 1;
    for (int c = 0, r = 0; c < 2; c++)
        for (int i = 0; i < 3; i++, r++)
            if (run(&l, steps, everies[i], c == 1, &per_k[c][i], &ck_k[c][i]) ||
                run(&l, steps, 0, false, &base[r + 1], &ck))
                return 1;
    for (int c = 0, r = 0; c < 2; c++)
        for (int i = 0; i < 3; i++, r++) {
            double b = (base[r] + base[r + 1]) / 2;
            printf("%s{\"state_bytes\":%zu,\"every\":%u,\"mode\":\"%s\",\"overhead_pct\":%.2f,"
                   "\"step_ms\":%.3f,\"step_ms_no_checkpoint\":%.3f,"
                   "\"baseline_before_after_ms\":[%.3f,%.3f],\"checkpoint_ms\":%.3f,"
                   "\"first_checkpoint_s\":%.4f,\"steps\":%u,\"work_bytes\":%zu,"
                   "\"device_ms\":%u}",
                   *first_out ? "" : ",", 2 * each, everies[i], c ? "concurrent" : "stop",
                   (per_k[c][i] - b) / b * 100.0, per_k[c][i] * 1e3, b * 1e3, base[r] * 1e3,
                   base[r + 1] * 1e3, ck_k[c][i] * 1e3, first.ns / 1e9, steps, 2 * work,
                   device_ms);
            *first_out = false;
            fflush(stdout);
        }
    rochp_context_destroy(l.ctx);
    return bench_remove_tree(dir);
}

int main(int argc, char **argv)
{
    unsigned steps = 100;
    size_t work_mib = 64;
    unsigned device_ms = 40;
    char states[256] = "64,256,1024";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--work-mib") && i + 1 < argc)
            work_mib = strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--device-ms") && i + 1 < argc)
            device_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--states") && i + 1 < argc)
            snprintf(states, sizeof states, "%s", argv[++i]);
        else {
            fprintf(stderr, "usage: checkpoint_overhead [--steps S] [--work-mib W] "
                            "[--device-ms D] [--states M,M,...]\n");
            return 2;
        }
    }
    if (!steps || steps > 1000 || !work_mib || work_mib > 4096 || device_ms > 10000) {
        fprintf(stderr, "checkpoint_overhead: --steps 1..1000, --work-mib 1..4096, "
                        "--device-ms 0..10000\n");
        return 2;
    }
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    printf("{\"benchmark\":\"checkpoint_overhead\",\"gpus\":2,\"runs\":[");
    bool first = true;
    for (char *save = NULL, *tok = strtok_r(states, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        size_t mib = strtoul(tok, NULL, 10);
        if (mib < 2 || mib > 16384) {
            fprintf(stderr, "checkpoint_overhead: state sizes 2..16384 MiB\n");
            return 2;
        }
        if (state_runs(mib, steps, work_mib, device_ms, &first) != 0)
            return 1;
    }
    printf("]}\n");
    return 0;
}
