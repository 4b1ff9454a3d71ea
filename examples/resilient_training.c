/* resilient_training: a training-style loop that survives losing its GPU,
 * or its whole process, by resuming from its last checkpoint.
 *
 *   resilient_training CODE_OBJECT STATE_FILE [--steps S] [--every K]
 *                      [--die-at D] [--pause-at P]
 *
 * Each step is five packets on two journaled queues (two GPUs when there
 * are two): order-sensitive chain steps on weights a and b, and a join
 * c = a + b behind a barrier on a's step (pipeline.co's kernels); every K
 * steps the loop checkpoints and
 * saves the checkpoint with its step number to STATE_FILE
 * (rochp_checkpoint_save_path: written aside, then renamed, so that a crash
 * never leaves half a file).  At start, an existing
 * STATE_FILE is loaded -- onto any present GPU of the same gfx target -- and
 * the loop goes on from the saved step.  Under rochp-run the checkpoints go
 * to the supervisor's memory instead (rochp_checkpoint_hand_over) and a
 * restarted process takes the last one back from there (rochp_resume); a
 * lost GPU ends the process with 75, the code rochp-run restarts on.  At the
 * end it prints a checksum of
 * the weights, the same whether or not the run was interrupted.
 *   --die-at D   kill the process (SIGKILL) right after step D's dispatch
 *   --pause-at P after step P's dispatch, print "paused" and wait for a
 *                line on stdin (a test unplugs the GPU meanwhile: under the
 *                current kernel the process then gets SIGBUS and must go);
 *                a run that resumed does not pause
 * Uses the public API only. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rochp/rochp_dispatch.h>

#include "pipeline_kernels.h"

#define N 4096u
#define WAIT_NS (60ull * 1000 * 1000 * 1000)

/* What the application keeps in the checkpoint besides rochp's objects. */
typedef struct progress {
    uint32_t next_step;
    uint32_t reserved;
    uint64_t module_id;
    uint64_t buffer_ids[3]; /* weights a, b and their join c */
    uint64_t queue_ids[2];
} progress;

/* A lost GPU ends the process with 75 (EX_TEMPFAIL), the code a supervisor
 * (rochp-run, transparent mode's exit policy) restarts on. */
static int fail(const char *what, rochp_status st)
{
    fprintf(stderr, "resilient_training: %s: %s (%s)\n", what, rochp_status_string(st),
            rochp_last_error());
    return st == ROCHP_ERROR_DEVICE_LOST ? 75 : 1;
}

#define TRY(what, call)                                                                  \
    do {                                                                                 \
        rochp_status st_ = (call);                                                       \
        if (st_ != ROCHP_OK)                                                             \
            return fail(what, st_);                                                      \
    } while (0)

static int save(rochp_context *ctx, const char *path, const progress *p)
{
    /* To the supervisor's memory under rochp-run (no file on the way back),
     * to the file otherwise. */
    rochp_status st = rochp_checkpoint_hand_over(ctx, p->next_step, p, sizeof *p);
    if (st == ROCHP_ERROR_NOT_FOUND)
        st = rochp_checkpoint_save_path(ctx, path, p, sizeof *p);
    return st == ROCHP_OK ? 0 : fail("save", st);
}

static uint64_t fnv(uint64_t sum, const uint32_t *w)
{
    for (uint32_t x = 0; x < N; x++) {
        sum ^= w[x];
        sum *= 1099511628211ull;
    }
    return sum;
}

static int run(rochp_context *ctx, const char *co, const char *path, uint32_t steps,
               uint32_t every, uint32_t die_at, uint32_t pause_at)
{
    progress p = {0};
    rochp_module *module = NULL;
    rochp_buffer *buf[3] = {NULL, NULL, NULL};
    rochp_queue *q[2] = {NULL, NULL};
    /* Under rochp-run the last checkpoint is in the supervisor's memory;
     * else (or before the first one) in the file. */
    rochp_restored *r = NULL;
    rochp_status st = rochp_resume(ctx, &r);
    if (st != ROCHP_OK && st != ROCHP_ERROR_NOT_FOUND)
        return fail("resume", st);
    int fd = st == ROCHP_OK ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        st = rochp_checkpoint_load(ctx, fd, &r);
        close(fd);
        if (st != ROCHP_OK)
            return fail("load the checkpoint", st);
    }
    if (r) {
        pause_at = UINT32_MAX; /* a job pauses once: a resumed run goes on */
        size_t size = 0;
        const void *user = rochp_restored_user(r, &size);
        if (size != sizeof p) {
            rochp_restored_free(r);
            fprintf(stderr, "resilient_training: %s holds no progress record\n", path);
            return 1;
        }
        memcpy(&p, user, sizeof p);
        module = rochp_restored_module(r, p.module_id);
        for (int i = 0; i < 3; i++)
            buf[i] = rochp_restored_buffer(r, p.buffer_ids[i]);
        for (int i = 0; i < 2; i++)
            q[i] = rochp_restored_queue(r, p.queue_ids[i]);
        rochp_restored_free(r);
        if (!module || !buf[0] || !buf[1] || !buf[2] || !q[0] || !q[1]) {
            fprintf(stderr, "resilient_training: %s misses an object\n", path);
            return 1;
        }
        printf("resumed at step %u on device %" PRIu64 "\n", p.next_step, rochp_queue_device(q[0]));
    } else {
        /* Two GPUs when there are two: a's chain on the first, b's and the
         * join on the second. */
        rochp_device_info devs[2];
        size_t n = 0;
        TRY("devices", rochp_device_list(ctx, devs, 2, &n));
        size_t present = 0;
        for (size_t i = 0; i < n && i < 2; i++)
            if (devs[i].state == ROCHP_DEVICE_PRESENT)
                devs[present++] = devs[i];
        if (present == 0) {
            fprintf(stderr, "resilient_training: no GPU\n");
            return 1;
        }
        rochp_device_id dev[2] = {devs[0].id, devs[present > 1 ? 1 : 0].id};
        TRY("module", rochp_module_load_file(ctx, co, &module));
        uint32_t init[N];
        for (int i = 0; i < 3; i++) {
            TRY("buffer", rochp_buffer_alloc(ctx, dev[i ? 1 : 0], N * sizeof(uint32_t), &buf[i]));
            for (uint32_t x = 0; x < N; x++)
                init[x] = x * 2654435761u + (uint32_t)i;
            TRY("buffer", rochp_buffer_write(buf[i], 0, init, sizeof init));
            p.buffer_ids[i] = rochp_buffer_id(buf[i]);
        }
        rochp_queue_options o;
        rochp_queue_options_init(&o);
        o.mode = ROCHP_QUEUE_JOURNALED;
        o.journal_length = 8192;
        for (int i = 0; i < 2; i++) {
            TRY("queue", rochp_queue_create(ctx, dev[i], &o, &q[i]));
            p.queue_ids[i] = rochp_queue_id(q[i]);
        }
        p.module_id = rochp_module_id(module);
        printf("started on device %" PRIu64 " %s\n", devs[0].id, devs[0].pci);
    }
    rochp_kernel *chain, *join;
    const rochp_dispatch_kernel *kc[2], *kj;
    rochp_launch launch;
    TRY("kernel", rochp_module_kernel(module, "chain_step", &chain));
    TRY("kernel", rochp_module_kernel(module, "join_add", &join));
    for (int i = 0; i < 2; i++)
        TRY("bind", rochp_kernel_bind(chain, q[i], &kc[i]));
    TRY("bind", rochp_kernel_bind(join, q[1], &kj));
    TRY("launch", rochp_launch_init(&launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}));
    /* Five packets a step: a's chain (after the previous join has read a),
     * b's chain, and the join c = a + b after a's chain. */
    rochp_completion a_done, joined;
    bool first = true; /* after a start or a resume everything before is done */
    for (uint32_t step = p.next_step; step < steps; step++) {
        uint32_t *a = rochp_buffer_address(buf[0]), *b = rochp_buffer_address(buf[1]);
        chain_args ca = {a, N, step}, cb = {b, N, 1000 + step};
        join_args jc = {rochp_buffer_address(buf[2]), a, b, N, 0};
        if (!first)
            TRY("barrier", rochp_dispatch_barrier(q[0], &joined, NULL));
        TRY("dispatch", rochp_dispatch(q[0], kc[0], &launch, &ca, sizeof ca, &a_done));
        TRY("dispatch", rochp_dispatch(q[1], kc[1], &launch, &cb, sizeof cb, NULL));
        TRY("barrier", rochp_dispatch_barrier(q[1], &a_done, NULL));
        TRY("dispatch", rochp_dispatch(q[1], kj, &launch, &jc, sizeof jc, &joined));
        first = false;
        if (step == die_at) {
            fflush(stdout);
            raise(SIGKILL);
        }
        if (step == pause_at) {
            printf("paused\n");
            fflush(stdout);
            char line[16];
            if (!fgets(line, sizeof line, stdin))
                return 1;
        }
        if ((step + 1) % every == 0) {
            for (int i = 0; i < 2; i++)
                TRY("wait", rochp_queue_wait_idle(q[i], WAIT_NS));
            TRY("checkpoint", rochp_checkpoint(ctx, WAIT_NS, NULL));
            p.next_step = step + 1;
            if (save(ctx, path, &p) != 0)
                return 1;
        }
    }
    for (int i = 0; i < 2; i++)
        TRY("wait", rochp_queue_wait_idle(q[i], WAIT_NS));
    uint64_t sum = 1469598103934665603ull; /* FNV-1a over a, b, c */
    for (int i = 0; i < 3; i++) {
        uint32_t w[N];
        TRY("read", rochp_buffer_read(buf[i], 0, w, sizeof w));
        sum = fnv(sum, w);
    }
    printf("steps %u checksum %016" PRIx64 "\n", steps, sum);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: resilient_training CODE_OBJECT STATE_FILE [--steps S] "
                        "[--every K] [--die-at D] [--pause-at P]\n");
        return 2;
    }
    uint32_t steps = 200, every = 25, die_at = UINT32_MAX, pause_at = UINT32_MAX;
    for (int i = 3; i + 1 < argc; i += 2) {
        uint32_t v = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        if (!strcmp(argv[i], "--steps"))
            steps = v;
        else if (!strcmp(argv[i], "--every"))
            every = v ? v : 1;
        else if (!strcmp(argv[i], "--die-at"))
            die_at = v;
        else if (!strcmp(argv[i], "--pause-at"))
            pause_at = v;
        else {
            fprintf(stderr, "resilient_training: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    rochp_options o;
    rochp_options_init(&o);
    rochp_context *ctx;
    TRY("context", rochp_context_create(&o, &ctx));
    int rc = run(ctx, argv[1], argv[2], steps, every, die_at, pause_at);
    rochp_context_destroy(ctx);
    return rc;
}
