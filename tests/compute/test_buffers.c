/* Buffers on hsasim: allocation on each device and the host, copies every
 * way (host->device, device->device, device->host), reads and writes,
 * address lookup (inside, at the edges, outside, after free), argument
 * errors, and a lost device: allocation and copies fail with
 * ROCHP_ERROR_DEVICE_LOST instead of hanging. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "sim_context.h"
#include "tmpdir.h"

int main(void)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "buffers", "mi210", 2, "silent");
    rochp__error err = {0};
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);

    enum { SIZE = 1 << 20 };
    rochp_buffer *host, *back, *d0, *d1;
    REQUIRE(rochp_buffer_alloc(ctx, ROCHP_HOST, SIZE, &host) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, ROCHP_HOST, SIZE, &back) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, devs[0].id, SIZE, &d0) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, devs[1].id, SIZE, &d1) == ROCHP_OK);
    CHECK_EQ_U64(rochp_buffer_size(d0), SIZE);
    CHECK_EQ_U64(rochp_buffer_device(d0), devs[0].id);
    CHECK_EQ_U64(rochp_buffer_device(host), ROCHP_HOST);

    uint32_t *pattern = malloc(SIZE), *got = malloc(SIZE);
    REQUIRE(pattern && got);
    for (uint32_t i = 0; i < SIZE / 4; i++)
        pattern[i] = i * 2654435761u;
    /* host buffer -> d0 -> d1 -> host buffer, and write/read through staging */
    CHECK(rochp_buffer_write(host, 0, pattern, SIZE) == ROCHP_OK);
    CHECK(rochp_buffer_copy(d0, 0, host, 0, SIZE) == ROCHP_OK);
    CHECK(rochp_buffer_copy(d1, 0, d0, 0, SIZE) == ROCHP_OK);
    CHECK(rochp_buffer_copy(back, 0, d1, 0, SIZE) == ROCHP_OK);
    CHECK(memcmp(rochp_buffer_address(back), pattern, SIZE) == 0);
    memset(got, 0, SIZE);
    CHECK(rochp_buffer_read(d1, 0, got, SIZE) == ROCHP_OK);
    CHECK(memcmp(got, pattern, SIZE) == 0);
    CHECK(rochp_buffer_write(d0, 4096, pattern, 16) == ROCHP_OK);
    CHECK(rochp_buffer_read(d0, 4096, got, 16) == ROCHP_OK);
    CHECK(memcmp(got, pattern, 16) == 0);
    /* Offsets and bounds. */
    CHECK(rochp_buffer_copy(d1, SIZE - 8, d0, 0, 8) == ROCHP_OK);
    CHECK(rochp_buffer_copy(d1, SIZE - 8, d0, 0, 9) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "outside the buffer");
    CHECK(rochp_buffer_read(d0, SIZE, got, 1) == ROCHP_ERROR_INVALID_ARGUMENT);

    /* Lookup: any address inside, not one past the end. */
    rochp_buffer *found;
    size_t off;
    char *base = rochp_buffer_address(d1);
    CHECK(rochp_buffer_find(ctx, base, &found, &off) == ROCHP_OK && found == d1 && off == 0);
    CHECK(rochp_buffer_find(ctx, base + SIZE - 1, &found, &off) == ROCHP_OK && found == d1 &&
          off == SIZE - 1);
    CHECK(rochp_buffer_find(ctx, base + SIZE + 1000000000, &found, &off) == ROCHP_ERROR_NOT_FOUND);
    CHECK(rochp_buffer_find(ctx, pattern, &found, &off) == ROCHP_ERROR_NOT_FOUND);
    /* Many buffers: each found from its middle. */
    rochp_buffer *many[200];
    for (int i = 0; i < 200; i++)
        REQUIRE(rochp_buffer_alloc(ctx, i % 2 ? devs[1].id : ROCHP_HOST, 4096 + (size_t)i, &many[i]) ==
                ROCHP_OK);
    for (int i = 0; i < 200; i++) {
        char *mid = (char *)rochp_buffer_address(many[i]) + 2048;
        CHECK(rochp_buffer_find(ctx, mid, &found, &off) == ROCHP_OK && found == many[i] && off == 2048);
    }
    for (int i = 0; i < 200; i += 2)
        CHECK(rochp_buffer_free(many[i]) == ROCHP_OK);
    CHECK(rochp_buffer_find(ctx, (char *)rochp_buffer_address(many[1]) + 1, &found, &off) == ROCHP_OK);

    CHECK(rochp_buffer_alloc(ctx, 424242, 16, &found) == ROCHP_ERROR_NOT_FOUND);
    CHECK(rochp_buffer_alloc(ctx, devs[0].id, 0, &found) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_buffer_alloc(ctx, devs[0].id, (size_t)1 << 50, &found) == ROCHP_ERROR_OUT_OF_MEMORY);

    /* GPU 0 goes: nothing involving it waits forever. */
    REQUIRE(vtree_unplug(dir, devs[0].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_buffer_alloc(ctx, devs[0].id, 16, &found) == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "has been lost");
    CHECK(rochp_buffer_copy(d1, 0, d0, 0, SIZE) == ROCHP_ERROR_DEVICE_LOST);
    CHECK(rochp_buffer_read(d0, 0, got, 64) == ROCHP_ERROR_DEVICE_LOST);
    /* The other GPU still works. */
    CHECK(rochp_buffer_copy(back, 0, d1, 0, SIZE) == ROCHP_OK);
    CHECK(memcmp(rochp_buffer_address(back), pattern, SIZE - 8) == 0);

    for (int i = 1; i < 200; i += 2)
        CHECK(rochp_buffer_free(many[i]) == ROCHP_OK);
    CHECK(rochp_buffer_free(d0) == ROCHP_OK);
    CHECK(rochp_buffer_free(NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    /* d1, host, back: freed with the context. */
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    free(pattern);
    free(got);
    test_remove_tmpdir(dir);
    return check_result();
}
