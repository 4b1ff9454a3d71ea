/* Checkpoint shadows on hsasim: reused (the checkpoints after the second
 * allocate nothing: each buffer has its shadow and a spare), and a
 * checkpoint that a device loss fails while its copies run leaves the
 * previous checkpoint whole: the recovery that follows puts back exactly
 * its bytes, and the spare the lost engine might still write is given up,
 * never reused.
 *
 * The copy of the lost GPU's buffer is held on that GPU's engine behind a
 * copy waiting for a signal the test raises only after the loss, so it
 * cannot complete before the loss (no timing involved): the checkpoint
 * fails whether the loss comes before it starts that copy or while it
 * waits for it. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "managed/managed.h"
#include "sim_context.h"

#define SIZE (1u << 20)
#define SECOND 1000000000ull

static rochp_context *g_ctx;
static char g_dir[256];
static rochp_device_info g_devs[2];

static void fill(rochp_buffer *b, uint32_t seed)
{
    uint32_t *v = malloc(SIZE);
    REQUIRE(v);
    for (size_t i = 0; i < SIZE / 4; i++)
        v[i] = seed * 2654435761u + (uint32_t)i;
    REQUIRE(rochp_buffer_write(b, 0, v, SIZE) == ROCHP_OK);
    free(v);
}

static bool holds(rochp_buffer *b, uint32_t seed)
{
    uint32_t *v = malloc(SIZE);
    REQUIRE(v && rochp_buffer_read(b, 0, v, SIZE) == ROCHP_OK);
    bool same = true;
    for (size_t i = 0; i < SIZE / 4 && same; i++)
        same = v[i] == seed * 2654435761u + (uint32_t)i;
    free(v);
    return same;
}

static void checkpoint_ok(void)
{
    rochp_status st = rochp_checkpoint(g_ctx, 30 * SECOND, NULL);
    if (st != ROCHP_OK)
        fprintf(stderr, "checkpoint: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
}

static void *unplug(void *arg)
{
    (void)arg;
    rochp__error err = {0};
    REQUIRE(vtree_unplug(g_dir, g_devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(g_ctx) == ROCHP_OK);
    return NULL;
}

int main(void)
{
    g_ctx = test_sim_context(g_dir, sizeof g_dir, "ckshadows", "mi210", 2, "silent");
    size_t n = 0;
    REQUIRE(rochp_device_list(g_ctx, g_devs, 2, &n) == ROCHP_OK && n == 2);
    enum { PER = 3 };
    rochp_buffer *b[2 * PER];
    for (int i = 0; i < 2 * PER; i++) {
        REQUIRE(rochp_buffer_alloc(g_ctx, g_devs[i % 2].id, SIZE, &b[i]) == ROCHP_OK);
        fill(b[i], (uint32_t)i);
    }

    /* Reuse: the first checkpoint makes the shadows, the second (everything
     * written again) the spares; the third and later allocate nothing. */
    uint64_t before = managed_shadow_allocations(g_ctx);
    checkpoint_ok();
    CHECK_EQ_U64(managed_shadow_allocations(g_ctx) - before, 2 * PER);
    for (int i = 0; i < 2 * PER; i++)
        fill(b[i], (uint32_t)i + 100);
    checkpoint_ok();
    CHECK_EQ_U64(managed_shadow_allocations(g_ctx) - before, 4 * PER);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2 * PER; i++)
            fill(b[i], (uint32_t)(i + 200 + 10 * round));
        checkpoint_ok();
    }
    CHECK_EQ_U64(managed_shadow_allocations(g_ctx) - before, 4 * PER);
    /* The committed shadow is the last checkpoint's, the spare another. */
    pthread_mutex_lock(&g_ctx->managed->checkpoint_lock);
    CHECK(b[0]->shadow.host && b[0]->spare.host && b[0]->shadow.host != b[0]->spare.host);
    CHECK(((uint32_t *)b[0]->shadow.host)[1] == 220u * 2654435761u + 1u);
    pthread_mutex_unlock(&g_ctx->managed->checkpoint_lock);
    /* What the checkpoint holds now: seeds 220 + i. */
    for (int i = 0; i < 2 * PER; i++)
        fill(b[i], (uint32_t)i + 500);

    /* GPU 1's engine held: a copy there waits on a signal at 1. */
    hsa_signal_t hold, held_done;
    REQUIRE(g_ctx->hsa.signal_create(1, 0, NULL, &hold) == HSA_STATUS_SUCCESS);
    REQUIRE(g_ctx->hsa.signal_create(1, 0, NULL, &held_done) == HSA_STATUS_SUCCESS);
    rochp_buffer *scratch;
    REQUIRE(rochp_buffer_alloc(g_ctx, g_devs[1].id, 4096, &scratch) == ROCHP_OK);
    REQUIRE(g_ctx->hsa.amd_memory_async_copy(
                scratch->address, (hsa_agent_t){scratch->agent}, (char *)scratch->address + 2048,
                (hsa_agent_t){scratch->agent}, 1024, 1, &hold, held_done) == HSA_STATUS_SUCCESS);

    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, unplug, NULL) == 0);
    rochp_status st = rochp_checkpoint(g_ctx, 30 * SECOND, NULL);
    REQUIRE(pthread_join(t, NULL) == 0);
    CHECK(st == ROCHP_ERROR_DEVICE_LOST);
    CHECK_CONTAINS(rochp_last_error(), "previous checkpoint stands");
    /* Mid-copy (the copy was started and abandoned): its spare was given
     * up, and stays given up while the engine might still write it. */
    size_t abandoned = managed_shadows_abandoned(g_ctx);
    CHECK(abandoned <= PER + 1); /* GPU 1's buffers and the scratch one */
    pthread_mutex_lock(&g_ctx->managed->checkpoint_lock);
    for (int i = 1; i < 2 * PER && abandoned == PER + 1; i += 2)
        CHECK(!b[i]->spare.host);
    pthread_mutex_unlock(&g_ctx->managed->checkpoint_lock);
    g_ctx->hsa.signal_store_screlease(hold, 0);

    /* The previous checkpoint, bit for bit: every committed shadow (the
     * lost GPU's too, which a recovery would move elsewhere) holds it, and
     * GPU 0's buffers restore to it. */
    pthread_mutex_lock(&g_ctx->managed->checkpoint_lock);
    for (int i = 0; i < 2 * PER; i++) {
        const uint32_t *v = b[i]->shadow.host;
        bool same = v && b[i]->shadow.size == SIZE;
        for (size_t k = 0; same && k < SIZE / 4; k++)
            same = v[k] == (uint32_t)(i + 220) * 2654435761u + (uint32_t)k;
        CHECK(same);
    }
    pthread_mutex_unlock(&g_ctx->managed->checkpoint_lock);
    REQUIRE(rochp_buffer_free(scratch) == ROCHP_OK);
    for (int i = 1; i < 2 * PER; i += 2) {
        REQUIRE(rochp_buffer_free(b[i]) == ROCHP_OK);
        b[i] = NULL;
    }
    REQUIRE(rochp_checkpoint_restore(g_ctx, NULL) == ROCHP_OK);
    for (int i = 0; i < 2 * PER; i += 2)
        CHECK(holds(b[i], (uint32_t)(i + 220)));
    /* The checkpoints go on, on the buffers left, allocating nothing. */
    uint64_t allocs = managed_shadow_allocations(g_ctx);
    for (int i = 0; i < 2 * PER; i += 2)
        fill(b[i], (uint32_t)i + 700);
    checkpoint_ok();
    CHECK_EQ_U64(managed_shadow_allocations(g_ctx) - allocs, 0);
    for (int i = 0; i < 2 * PER; i += 2)
        fill(b[i], (uint32_t)i + 800);
    REQUIRE(rochp_checkpoint_restore(g_ctx, NULL) == ROCHP_OK);
    for (int i = 0; i < 2 * PER; i += 2)
        CHECK(holds(b[i], (uint32_t)(i + 700)));
    /* The lost GPU's copies never signal (hsasim, as a gone engine): the
     * given-up spares stay given up until the runtime goes. */
    CHECK_EQ_U64(managed_shadows_abandoned(g_ctx), abandoned);
    for (int i = 0; i < 2 * PER; i += 2)
        REQUIRE(rochp_buffer_free(b[i]) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(g_ctx) == ROCHP_OK);
    test_remove_tmpdir(g_dir);
    return check_result();
}
