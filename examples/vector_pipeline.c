/* vector_pipeline: a multi-step computation on one or two GPUs through
 * rochp's managed objects, checked against the same computation on the CPU.
 *
 *   vector_pipeline CODE_OBJECT [--steps S] [--elements N]
 *
 * CODE_OBJECT holds the kernels chain_step and join_add: pipeline.co (built
 * with this example for hsasim) or pipeline_kernels.cl compiled by clang for
 * a real GPU.  Two chains of S order-sensitive steps run on two queues (on
 * two devices when there are two), a third step on the first queue waits
 * for the second chain with a barrier packet and adds both; the result is
 * read back and compared element by element.  The runtime is
 * $ROCHP_HSA_RUNTIME (hsasim or the real ROCR) over $ROCHP_SYSFS_ROOT.
 * Exit 0 when the result is exact.  Uses the public API only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rochp/rochp_dispatch.h>

#include "pipeline_kernels.h"

#define WAIT_NS (60ull * 1000 * 1000 * 1000)

static int fail(const char *what, rochp_status st)
{
    fprintf(stderr, "vector_pipeline: %s: %s (%s)\n", what, rochp_status_string(st),
            rochp_last_error());
    return 1;
}

#define TRY(what, call)                                                                  \
    do {                                                                                 \
        rochp_status st_ = (call);                                                       \
        if (st_ != ROCHP_OK)                                                             \
            return fail(what, st_);                                                      \
    } while (0)

static void chain_on_cpu(uint32_t *v, uint32_t n, uint32_t first, uint32_t steps)
{
    for (uint32_t s = first; s < first + steps; s++)
        for (uint32_t x = 0; x < n; x++)
            v[x] = v[x] * 3u + s + x;
}

static int run(rochp_context *ctx, const char *path, uint32_t steps, uint32_t n)
{
    rochp_device_info devs[2];
    size_t count = 0;
    TRY("device list", rochp_device_list(ctx, devs, 2, &count));
    if (count == 0) {
        fprintf(stderr, "vector_pipeline: no GPU\n");
        return 1;
    }
    rochp_device_id d0 = devs[0].id, d1 = devs[count > 1 ? 1 : 0].id;
    printf("devices: %s (%s)", devs[0].pci, devs[0].gfx_target);
    if (count > 1)
        printf(", %s (%s)", devs[1].pci, devs[1].gfx_target);
    printf("\n");

    rochp_module *module;
    rochp_kernel *chain, *join;
    TRY("load module", rochp_module_load_file(ctx, path, &module));
    TRY("kernel chain_step", rochp_module_kernel(module, "chain_step", &chain));
    TRY("kernel join_add", rochp_module_kernel(module, "join_add", &join));

    size_t bytes = (size_t)n * sizeof(uint32_t);
    rochp_buffer *ba, *bb, *bout;
    TRY("buffer a", rochp_buffer_alloc(ctx, d0, bytes, &ba));
    TRY("buffer b", rochp_buffer_alloc(ctx, d1, bytes, &bb));
    TRY("buffer out", rochp_buffer_alloc(ctx, d0, bytes, &bout));
    uint32_t *want_a = calloc(n, sizeof *want_a), *want_b = calloc(n, sizeof *want_b);
    uint32_t *got = calloc(n, sizeof *got);
    if (!want_a || !want_b || !got)
        return fail("host memory", ROCHP_ERROR_OUT_OF_MEMORY);
    for (uint32_t x = 0; x < n; x++) {
        want_a[x] = x;
        want_b[x] = 7u * x + 1u;
    }
    TRY("upload a", rochp_buffer_write(ba, 0, want_a, bytes));
    TRY("upload b", rochp_buffer_write(bb, 0, want_b, bytes));

    rochp_queue *q0, *q1;
    TRY("queue 0", rochp_queue_create(ctx, d0, NULL, &q0));
    TRY("queue 1", rochp_queue_create(ctx, d1, NULL, &q1));
    const rochp_dispatch_kernel *k0, *k1, *kj;
    TRY("bind", rochp_kernel_bind(chain, q0, &k0));
    TRY("bind", rochp_kernel_bind(chain, q1, &k1));
    TRY("bind", rochp_kernel_bind(join, q0, &kj));
    rochp_launch launch;
    TRY("launch", rochp_launch_init(&launch, (rochp_dim3){n, 1, 1}, (rochp_dim3){256, 1, 1}));

    uint32_t *a = rochp_buffer_address(ba), *b = rochp_buffer_address(bb);
    rochp_completion done_b = {q1, 0}, done;
    for (uint32_t s = 0; s < steps; s++) {
        chain_args x = {a, n, s}, y = {b, n, 1000u + s};
        TRY("dispatch", rochp_dispatch(q0, k0, &launch, &x, sizeof x, NULL));
        TRY("dispatch", rochp_dispatch(q1, k1, &launch, &y, sizeof y, &done_b));
    }
    TRY("barrier", rochp_dispatch_barrier(q0, &done_b, NULL));
    join_args j = {rochp_buffer_address(bout), a, b, n, 0};
    TRY("dispatch", rochp_dispatch(q0, kj, &launch, &j, sizeof j, &done));
    TRY("wait", rochp_completion_wait(&done, WAIT_NS));
    TRY("download", rochp_buffer_read(bout, 0, got, bytes));

    chain_on_cpu(want_a, n, 0, steps);
    chain_on_cpu(want_b, n, 1000u, steps);
    uint32_t wrong = 0;
    uint64_t sum = 0;
    for (uint32_t x = 0; x < n; x++) {
        wrong += got[x] != want_a[x] + want_b[x];
        sum += got[x];
    }
    printf("pipeline: %u elements, 2 x %u steps + join on %zu device(s): %s "
           "(%u wrong, checksum %" PRIu64 ")\n",
           n, steps, count > 1 ? (size_t)2 : (size_t)1, wrong ? "WRONG" : "exact", wrong, sum);

    rochp_queue_destroy(q0);
    rochp_queue_destroy(q1);
    rochp_buffer_free(ba);
    rochp_buffer_free(bb);
    rochp_buffer_free(bout);
    rochp_module_free(module);
    free(want_a);
    free(want_b);
    free(got);
    return wrong ? 1 : 0;
}

int main(int argc, char **argv)
{
    uint32_t steps = 100, n = 4096;
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--elements") && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!path && argv[i][0] != '-')
            path = argv[i];
        else
            path = NULL, i = argc;
    }
    if (!path || n == 0 || steps == 0) {
        fprintf(stderr, "usage: vector_pipeline CODE_OBJECT [--steps S] [--elements N]\n");
        return 2;
    }
    rochp_options o;
    rochp_options_init(&o);
    rochp_context *ctx;
    TRY("context", rochp_context_create(&o, &ctx));
    int rc = run(ctx, path, steps, n);
    rochp_context_destroy(ctx);
    return rc;
}
