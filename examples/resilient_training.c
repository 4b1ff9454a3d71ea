/* resilient_training: a training-style loop that survives losing its GPU,
 * or its whole process, by resuming from its last checkpoint.
 *
 *   resilient_training CODE_OBJECT STATE_FILE [--steps S] [--every K]
 *                      [--die-at D] [--pause-at P]
 *
 * Each step updates the weights (chain_step of pipeline.co, order
 * sensitive) on a journaled queue; every K steps the loop checkpoints and
 * saves the checkpoint with its step number to STATE_FILE (written aside,
 * then renamed: a crash never leaves half a file).  At start, an existing
 * STATE_FILE is loaded -- onto any present GPU of the same gfx target -- and
 * the loop goes on from the saved step.  At the end it prints a checksum of
 * the weights, the same whether or not the run was interrupted.
 *   --die-at D   kill the process (SIGKILL) right after step D's dispatch
 *   --pause-at P after step P's dispatch, print "paused" and wait for a
 *                line on stdin (a test unplugs the GPU meanwhile: under the
 *                current kernel the process then gets SIGBUS and must go)
 * Uses the public API only. */
#include <fcntl.h>
#include <inttypes.h>
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
    uint64_t weights_id, queue_id, module_id;
} progress;

static int fail(const char *what, rochp_status st)
{
    fprintf(stderr, "resilient_training: %s: %s (%s)\n", what, rochp_status_string(st),
            rochp_last_error());
    return 1;
}

#define TRY(what, call)                                                                  \
    do {                                                                                 \
        rochp_status st_ = (call);                                                       \
        if (st_ != ROCHP_OK)                                                             \
            return fail(what, st_);                                                      \
    } while (0)

static int save(rochp_context *ctx, const char *path, const progress *p)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(tmp);
        return 1;
    }
    rochp_status st = rochp_checkpoint_save(ctx, fd, p, sizeof *p);
    if (st == ROCHP_OK && fsync(fd) != 0)
        st = ROCHP_ERROR_IO;
    close(fd);
    if (st != ROCHP_OK)
        return fail("save", st);
    if (rename(tmp, path) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}

static int run(rochp_context *ctx, const char *co, const char *path, uint32_t steps,
               uint32_t every, uint32_t die_at, uint32_t pause_at)
{
    progress p = {0};
    rochp_module *module = NULL;
    rochp_buffer *weights = NULL;
    rochp_queue *queue = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        rochp_restored *r = NULL;
        rochp_status st = rochp_checkpoint_load(ctx, fd, &r);
        close(fd);
        if (st != ROCHP_OK)
            return fail("load the checkpoint", st);
        size_t size = 0;
        const void *user = rochp_restored_user(r, &size);
        if (size != sizeof p) {
            rochp_restored_free(r);
            fprintf(stderr, "resilient_training: %s holds no progress record\n", path);
            return 1;
        }
        memcpy(&p, user, sizeof p);
        module = rochp_restored_module(r, p.module_id);
        weights = rochp_restored_buffer(r, p.weights_id);
        queue = rochp_restored_queue(r, p.queue_id);
        rochp_restored_free(r);
        if (!module || !weights || !queue) {
            fprintf(stderr, "resilient_training: %s misses an object\n", path);
            return 1;
        }
        printf("resumed at step %u on device %" PRIu64 "\n", p.next_step,
               rochp_queue_device(queue));
    } else {
        rochp_device_info dev;
        size_t n = 0;
        TRY("devices", rochp_device_list(ctx, &dev, 1, &n));
        if (n == 0) {
            fprintf(stderr, "resilient_training: no GPU\n");
            return 1;
        }
        TRY("module", rochp_module_load_file(ctx, co, &module));
        TRY("weights", rochp_buffer_alloc(ctx, dev.id, N * sizeof(uint32_t), &weights));
        uint32_t init[N];
        for (uint32_t x = 0; x < N; x++)
            init[x] = x * 2654435761u;
        TRY("weights", rochp_buffer_write(weights, 0, init, sizeof init));
        rochp_queue_options o;
        rochp_queue_options_init(&o);
        o.mode = ROCHP_QUEUE_JOURNALED;
        TRY("queue", rochp_queue_create(ctx, dev.id, &o, &queue));
        p.weights_id = rochp_buffer_id(weights);
        p.queue_id = rochp_queue_id(queue);
        p.module_id = rochp_module_id(module);
        printf("started on device %" PRIu64 " %s\n", dev.id, dev.pci);
    }
    rochp_kernel *chain;
    rochp_dispatch_kernel k;
    rochp_launch launch;
    TRY("kernel", rochp_module_kernel(module, "chain_step", &chain));
    TRY("bind", rochp_kernel_bind(chain, queue, &k));
    TRY("launch", rochp_launch_init(&launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}));
    for (uint32_t step = p.next_step; step < steps; step++) {
        chain_args a = {rochp_buffer_address(weights), N, step};
        TRY("dispatch", rochp_dispatch(queue, &k, &launch, &a, sizeof a, NULL));
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
            TRY("wait", rochp_queue_wait_idle(queue, WAIT_NS));
            TRY("checkpoint", rochp_checkpoint(ctx, WAIT_NS, NULL));
            p.next_step = step + 1;
            if (save(ctx, path, &p) != 0)
                return 1;
        }
    }
    TRY("wait", rochp_queue_wait_idle(queue, WAIT_NS));
    uint32_t w[N];
    TRY("read", rochp_buffer_read(weights, 0, w, sizeof w));
    uint64_t sum = 1469598103934665603ull; /* FNV-1a */
    for (uint32_t x = 0; x < N; x++) {
        sum ^= w[x];
        sum *= 1099511628211ull;
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
