/* A program outside the tree that dispatches a kernel through rochp.
 *
 *   consumer_dispatch CODE_OBJECT
 *
 * Loads CODE_OBJECT (affine.co), runs affine over 1,000 work-items in
 * blocks of 64 (the last one partial) on the first GPU of the runtime
 * $ROCHP_HSA_RUNTIME over $ROCHP_SYSFS_ROOT, and compares every element with
 * the CPU's.  Prints "affine: 1000 elements exact, sum S" and exits 0 when
 * all are right. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include <rochp/rochp_dispatch.h>

#include "affine.h"

#define N 1000u
#define A 5u
#define WAIT_NS (30ull * 1000 * 1000 * 1000)

#define TRY(what, call)                                                                       \
    do {                                                                                      \
        rochp_status st_ = (call);                                                            \
        if (st_ != ROCHP_OK) {                                                                \
            fprintf(stderr, "consumer: %s: %s (%s)\n", what, rochp_status_string(st_),         \
                    rochp_last_error());                                                      \
            return 1;                                                                         \
        }                                                                                     \
    } while (0)

static int run(rochp_context *ctx, const char *path)
{
    rochp_device_info dev;
    size_t count = 0;
    TRY("device list", rochp_device_list(ctx, &dev, 1, &count));
    if (count == 0) {
        fprintf(stderr, "consumer: no GPU\n");
        return 1;
    }
    rochp_module *module;
    rochp_kernel *kernel;
    TRY("load module", rochp_module_load_file(ctx, path, &module));
    TRY("kernel affine", rochp_module_kernel(module, "affine", &kernel));

    static uint32_t in[N], out[N];
    for (uint32_t x = 0; x < N; x++)
        in[x] = x + 1;
    rochp_buffer *bin, *bout;
    TRY("buffer in", rochp_buffer_alloc(ctx, dev.id, sizeof in, &bin));
    TRY("buffer out", rochp_buffer_alloc(ctx, dev.id, sizeof out, &bout));
    TRY("upload", rochp_buffer_write(bin, 0, in, sizeof in));

    rochp_queue *queue;
    const rochp_dispatch_kernel *k;
    rochp_launch launch;
    TRY("queue", rochp_queue_create(ctx, dev.id, NULL, &queue));
    TRY("bind", rochp_kernel_bind(kernel, queue, &k));
    rochp_dim3 grid = {N, 1, 1}, block = {64, 1, 1};
    TRY("launch", rochp_launch_init(&launch, grid, block));
    affine_args args = {rochp_buffer_address(bout), rochp_buffer_address(bin), N, A};
    rochp_completion done;
    TRY("dispatch", rochp_dispatch(queue, k, &launch, &args, sizeof args, &done));
    TRY("wait", rochp_completion_wait(&done, WAIT_NS));
    TRY("download", rochp_buffer_read(bout, 0, out, sizeof out));

    uint32_t wrong = 0;
    uint64_t sum = 0;
    for (uint32_t x = 0; x < N; x++) {
        wrong += out[x] != A * in[x] + x;
        sum += out[x];
    }
    if (wrong)
        printf("affine: %u of %u elements WRONG, sum %" PRIu64 "\n", wrong, N, sum);
    else
        printf("affine: %u elements exact, sum %" PRIu64 "\n", N, sum);

    TRY("queue destroy", rochp_queue_destroy(queue));
    TRY("buffer free", rochp_buffer_free(bin));
    TRY("buffer free", rochp_buffer_free(bout));
    TRY("module free", rochp_module_free(module));
    return wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: consumer_dispatch CODE_OBJECT\n");
        return 2;
    }
    rochp_context *ctx;
    TRY("context", rochp_context_create(NULL, &ctx));
    int rc = run(ctx, argv[1]);
    TRY("context destroy", rochp_context_destroy(ctx));
    return rc;
}
