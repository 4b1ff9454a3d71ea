/* Checkpoints in files: a save loaded into a second context gives the same
 * bytes in every buffer, the queue's ids going on, the application blob;
 * and every bad input is refused by name: no checkpoint to save, a file cut
 * short at each place, a foreign or newer file, no GPU of the gfx target. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pipeline_kernels.h"
#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

#define N 2048u
#define SECOND 1000000000ull

static int memfd_with(const void *data, size_t size)
{
    int fd = memfd_create("rochp-test", 0);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, data, size) == (ssize_t)size);
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

int main(void)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "persist", "mi210", 2, "silent");
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);
    int fd = memfd_create("rochp-test", 0);
    REQUIRE(fd >= 0);
    CHECK(rochp_checkpoint_save(ctx, fd, NULL, 0) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "no checkpoint");
    CHECK(rochp_checkpoint_save(ctx, -1, NULL, 0) == ROCHP_ERROR_INVALID_ARGUMENT);

    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &m) == ROCHP_OK);
    rochp_buffer *b0, *b1, *h;
    uint32_t v0[N], v1[N], vh[N];
    for (uint32_t x = 0; x < N; x++) {
        v0[x] = x * 3u;
        v1[x] = x * 5u + 1;
        vh[x] = ~x;
    }
    REQUIRE(rochp_buffer_alloc(ctx, devs[0].id, sizeof v0, &b0) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, devs[1].id, sizeof v1, &b1) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, ROCHP_HOST, sizeof vh, &h) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(b0, 0, v0, sizeof v0) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(b1, 0, v1, sizeof v1) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(h, 0, vh, sizeof vh) == ROCHP_OK);
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 128;
    rochp_queue *q;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &q) == ROCHP_OK);
    rochp_kernel *chain;
    REQUIRE(rochp_module_kernel(m, "chain_step", &chain) == ROCHP_OK);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(chain, q, &k) == ROCHP_OK);
    rochp_launch launch;
    REQUIRE(rochp_launch_init(&launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);
    rochp_completion c;
    for (uint32_t s = 0; s < 7; s++) {
        chain_args a = {rochp_buffer_address(b1), N, s};
        REQUIRE(rochp_dispatch(q, k, &launch, &a, sizeof a, &c) == ROCHP_OK);
    }
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    for (uint32_t s = 0; s < 7; s++)
        for (uint32_t x = 0; x < N; x++)
            v1[x] = v1[x] * 3u + s + x;
    const char blob[] = "step 7";
    REQUIRE(rochp_checkpoint_save(ctx, fd, blob, sizeof blob) == ROCHP_OK);
    off_t size = lseek(fd, 0, SEEK_END);
    REQUIRE(size > 0);
    unsigned char *file = malloc((size_t)size);
    REQUIRE(file && pread(fd, file, (size_t)size, 0) == size);
    close(fd);
    uint64_t id0 = rochp_buffer_id(b0), id1 = rochp_buffer_id(b1), idh = rochp_buffer_id(h);
    uint64_t idq = rochp_queue_id(q), idm = rochp_module_id(m);
    CHECK(id0 && id1 && idh && idq && idm && id0 != id1);

    /* A second context loads it. */
    rochp_options opts;
    rochp_options_init(&opts);
    opts.hsa_runtime = HSASIM_PATH;
    rochp_context *ctx2;
    REQUIRE(rochp_context_create(&opts, &ctx2) == ROCHP_OK);
    fd = memfd_with(file, (size_t)size);
    rochp_restored *r = NULL;
    rochp_status st = rochp_checkpoint_load(ctx2, fd, &r);
    if (st != ROCHP_OK)
        fprintf(stderr, "load: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    close(fd);
    size_t user_size = 0;
    CHECK(memcmp(rochp_restored_user(r, &user_size), blob, sizeof blob) == 0);
    CHECK_EQ_U64(user_size, sizeof blob);
    rochp_buffer *r0 = rochp_restored_buffer(r, id0), *r1 = rochp_restored_buffer(r, id1),
                 *rh = rochp_restored_buffer(r, idh);
    rochp_queue *rq = rochp_restored_queue(r, idq);
    rochp_module *rm = rochp_restored_module(r, idm);
    REQUIRE(r0 && r1 && rh && rq && rm);
    CHECK(rochp_restored_buffer(r, 999999) == NULL);
    /* The same GPUs (by ordinal; ids are the new context's own). */
    rochp_device_info devs2[2];
    REQUIRE(rochp_device_list(ctx2, devs2, 2, &n) == ROCHP_OK && n == 2);
    CHECK_EQ_STR(devs2[0].pci, devs[0].pci);
    CHECK(rochp_buffer_device(r0) == devs2[0].id && rochp_buffer_device(r1) == devs2[1].id);
    CHECK(rochp_buffer_device(rh) == ROCHP_HOST);
    CHECK(rochp_queue_device(rq) == devs2[1].id);
    uint32_t got[N];
    REQUIRE(rochp_buffer_read(r0, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, v0, sizeof got) == 0);
    REQUIRE(rochp_buffer_read(r1, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, v1, sizeof got) == 0);
    REQUIRE(rochp_buffer_read(rh, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, vh, sizeof got) == 0);
    /* The queue's ids go on: the next packet is the 8th. */
    rochp_kernel *rchain;
    REQUIRE(rochp_module_kernel(rm, "chain_step", &rchain) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(rchain, rq, &k) == ROCHP_OK);
    chain_args a = {rochp_buffer_address(r1), N, 7};
    REQUIRE(rochp_dispatch(rq, k, &launch, &a, sizeof a, &c) == ROCHP_OK);
    CHECK_EQ_U64(c.id, 7);
    CHECK(rochp_completion_wait(&c, 30 * SECOND) == ROCHP_OK);
    for (uint32_t x = 0; x < N; x++)
        v1[x] = v1[x] * 3u + 7 + x;
    REQUIRE(rochp_buffer_read(r1, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, v1, sizeof got) == 0);
    /* The loaded state counts as a checkpoint: only what changed is copied. */
    rochp_checkpoint_stats cs;
    REQUIRE(rochp_checkpoint(ctx2, 30 * SECOND, &cs) == ROCHP_OK);
    CHECK_EQ_U64(cs.buffers_copied, 1);
    rochp_restored_free(r);

    /* Cut short anywhere: malformed, never a crash. */
    size_t cuts[] = {0, 10, 47, 48, 60, (size_t)size / 2, (size_t)size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        fd = memfd_with(file, cuts[i]);
        CHECK(rochp_checkpoint_load(ctx2, fd, &r) == ROCHP_ERROR_MALFORMED);
        CHECK_CONTAINS(rochp_last_error(), "truncated");
        CHECK(r == NULL);
        close(fd);
    }
    unsigned char *bad = malloc((size_t)size);
    REQUIRE(bad);
    memcpy(bad, file, (size_t)size);
    bad[0] = 'X';
    fd = memfd_with(bad, (size_t)size);
    CHECK(rochp_checkpoint_load(ctx2, fd, &r) == ROCHP_ERROR_MALFORMED);
    CHECK_CONTAINS(rochp_last_error(), "bad magic");
    close(fd);
    memcpy(bad, file, (size_t)size);
    bad[8] = 2; /* version */
    fd = memfd_with(bad, (size_t)size);
    CHECK(rochp_checkpoint_load(ctx2, fd, &r) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "version 2");
    close(fd);
    memcpy(bad, file, (size_t)size);
    memset(bad + 16, 0xff, 8); /* module count */
    fd = memfd_with(bad, (size_t)size);
    CHECK(rochp_checkpoint_load(ctx2, fd, &r) == ROCHP_ERROR_MALFORMED);
    close(fd);
    free(bad);
    REQUIRE(rochp_context_destroy(ctx2) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);

    /* No GPU of the saved gfx target (an RX 7900 XTX machine). */
    ctx = test_sim_context(dir, sizeof dir, "persist-other", "rx7900xtx", 1, "silent");
    fd = memfd_with(file, (size_t)size);
    CHECK(rochp_checkpoint_load(ctx, fd, &r) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "gfx90a");
    close(fd);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    free(file);
    return check_result();
}
