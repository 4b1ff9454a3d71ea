/* Checkpoint shadows: a buffer's host copy, as the managed layer keeps it
 * beside the buffer (resilience fills and reads them).
 *
 * Shadows are process memory, on the NUMA node of the buffer's GPU (the PCI
 * device's numa_node, when the machine says), locked for the runtime's copy
 * engines with hsa_amd_memory_lock (managed.h: a lock outlives a
 * re-enumeration).
 *
 * Each buffer has two: the committed shadow and a spare the next checkpoint
 * copies into.  Both are allocated, faulted in and locked once and reused
 * while the buffer's size stays: allocating, zeroing and pinning a shadow
 * costs several times the copy itself (first-touch page faults alone are
 * ~1 s per GiB on a virtual machine), so a checkpoint that allocated its
 * shadows could never come near memcpy speed.  The price is twice the
 * buffers' bytes of host memory.
 *
 * A spare whose copy was abandoned (its device lost mid-copy) may still be
 * written by the engine, as far as rochp can tell: it is never reused, but
 * kept on the context's abandoned list until the copy's signal says it is
 * done or the runtime that ran the engine has gone. */
#include <errno.h>
#include <fcntl.h>
#include <numa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "managed/managed.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#define SHADOW_HUGE_PAGE ((size_t)2 << 20)

static int numa_node_of(const rochp_context *ctx, rochp_device_id device)
{
    if (device == ROCHP_HOST || numa_available() < 0)
        return -1;
    rochp_device_info info;
    if (rochp_device_get((rochp_context *)ctx, device, &info) != ROCHP_OK)
        return -1;
    char path[128];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/numa_node", info.pci);
    FILE *f = fopen(path, "r");
    int node = -1;
    if (f) {
        if (fscanf(f, "%d", &node) != 1)
            node = -1;
        fclose(f);
    }
    return node;
}

typedef struct shadow_grave {
    shadow s;
    hsa_signal_t done; /* 0: the runtime that ran the copy has gone */
    struct shadow_grave *next;
} shadow_grave;

rochp_status shadow_alloc_near(rochp_context *ctx, rochp_device_id device, size_t size,
                               shadow *out)
{
    int node = numa_node_of(ctx, device);
    memset(out, 0, sizeof *out);
    void *p = node >= 0 ? numa_alloc_onnode(size, node) : NULL;
    if (!p) {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            p = NULL;
    }
    /* Faulted in now (on the node numa_alloc_onnode bound it to) rather
     * than under the first checkpoint's copy; in huge pages where the kernel
     * has them, so that a GiB costs 512 faults rather than 262,144. */
    if (p && size >= SHADOW_HUGE_PAGE)
        (void)madvise(p, size, MADV_HUGEPAGE);
    if (p && madvise(p, size, MADV_POPULATE_WRITE) != 0)
        memset(p, 0, size); /* kernels before 5.14 */
    if (!p)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "checkpoint: no host memory for a %zu-byte shadow", size);
    out->host = p;
    out->size = size;
    out->near = device;
    ctx->managed->shadow_allocs++;
    return ROCHP_OK;
}

/* Locked for the runtime's copy engines (once: the lock outlives a
 * re-enumeration). */
rochp_status shadow_lock(rochp_context *ctx, shadow *s)
{
    if (s->agent)
        return ROCHP_OK;
    if (s->external)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "checkpoint: a shadow in the kept checkpoint is read-only and "
                                "cannot be locked for the copy engines");
    void *agent_ptr = NULL;
    hsa_status_t hs = ctx->hsa.amd_memory_lock(s->host, s->size, NULL, 0, &agent_ptr);
    if (hs != HSA_STATUS_SUCCESS || !agent_ptr)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "checkpoint: the runtime cannot lock %zu bytes of host memory "
                                "for its copy engines: %s",
                                s->size, rochp__hsa_status_text(&ctx->hsa, hs));
    s->agent = agent_ptr;
    return ROCHP_OK;
}

rochp_status shadow_external(rochp_context *ctx, rochp_device_id device, int fd, uint64_t offset,
                             size_t size, shadow *out)
{
    (void)ctx;
    memset(out, 0, sizeof *out);
    uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    uint64_t start = offset & ~(page - 1);
    size_t len = size + (size_t)(offset - start);
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    void *m = own >= 0 ? mmap(NULL, len, PROT_READ, MAP_SHARED, own, (off_t)start) : MAP_FAILED;
    if (m == MAP_FAILED) {
        int e = errno;
        if (own >= 0)
            close(own);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "cannot map %zu bytes of the kept checkpoint: %s", size,
                                strerror(e));
    }
    *out = (shadow){.host = (uint8_t *)m + (offset - start), .size = size, .near = device,
                    .external = true, .fd = own, .offset = offset, .map = m, .map_len = len};
    return ROCHP_OK;
}

rochp_status shadow_stage_alloc(rochp_context *ctx, shadow_stage *st)
{
    memset(st, 0, sizeof *st);
    rochp_status s = managed_pool_memory(ctx, ROCHP_HOST, false, 2 * SHADOW_STAGE, &st->base,
                                         &st->cpu);
    if (s != ROCHP_OK)
        return s;
    st->half[0] = st->base;
    st->half[1] = (uint8_t *)st->base + SHADOW_STAGE;
    return ROCHP_OK;
}

void shadow_stage_free(rochp_context *ctx, shadow_stage *st)
{
    if (st->base && ctx->hsa_up)
        ctx->hsa.amd_memory_pool_free(st->base);
    memset(st, 0, sizeof *st);
}

/* An external shadow into device memory, a half of the stage at a time
 * (read from the memfd, copied by the engine while the other half is
 * read). */
static rochp_status copy_out_external(rochp_context *ctx, shadow *s, void *dst,
                                      uint64_t dst_agent, rochp_device_id dst_device)
{
    shadow_stage stage;
    rochp_status st = shadow_stage_alloc(ctx, &stage);
    managed_copy c[2] = {0};
    for (size_t done = 0, i = 0; st == ROCHP_OK && done < s->size; done += SHADOW_STAGE, i++) {
        size_t n = s->size - done < SHADOW_STAGE ? s->size - done : SHADOW_STAGE;
        st = managed_engine_copy_finish(ctx, &c[i & 1]);
        if (st == ROCHP_OK)
            st = shadow_pread(s->fd, stage.half[i & 1], n, s->offset + done);
        if (st == ROCHP_OK)
            st = managed_engine_copy_start(ctx, (uint8_t *)dst + done, dst_agent, dst_device,
                                           stage.half[i & 1], stage.cpu, ROCHP_HOST, n, &c[i & 1]);
    }
    for (int k = 0; k < 2; k++) {
        rochp_status f = managed_engine_copy_finish(ctx, &c[k]);
        if (st == ROCHP_OK)
            st = f;
    }
    /* A copy abandoned on a lost device may still read the stage: kept. */
    if (st != ROCHP_ERROR_DEVICE_LOST)
        shadow_stage_free(ctx, &stage);
    return st;
}

rochp_status shadow_pread(int fd, void *to, size_t size, uint64_t at)
{
    for (size_t done = 0; done < size;) {
        ssize_t n = pread(fd, (uint8_t *)to + done, size - done, (off_t)(at + done));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return rochp__set_errorf(n < 0 ? ROCHP_ERROR_IO : ROCHP_ERROR_MALFORMED,
                                    "its bytes cannot be read: %s",
                                    n < 0 ? strerror(errno) : "the checkpoint ends (truncated)");
        done += (size_t)n;
    }
    return ROCHP_OK;
}

void shadow_free(rochp_context *ctx, shadow *s)
{
    if (!s->host)
        return;
    if (s->external) {
        munmap(s->map, s->map_len);
        close(s->fd);
        memset(s, 0, sizeof *s);
        return;
    }
    if (s->agent && ctx->hsa_up)
        ctx->hsa.amd_memory_unlock(s->host);
    /* numa_alloc_onnode is an mmap too: munmap frees either. */
    munmap(s->host, s->size);
    memset(s, 0, sizeof *s);
}

rochp_status shadow_copy_out(rochp_context *ctx, shadow *s, void *dst, uint64_t dst_agent,
                             rochp_device_id dst_device, uint64_t cpu, hsa_signal_t *done)
{
    done->handle = 0;
    if (s->external)
        return copy_out_external(ctx, s, dst, dst_agent, dst_device);
    rochp_status st = shadow_lock(ctx, s);
    if (st != ROCHP_OK)
        return st;
    if (ctx->hsa.signal_create(1, 0, NULL, done) != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "restore: cannot create a signal");
    hsa_status_t hs = ctx->hsa.amd_memory_async_copy(dst, (hsa_agent_t){dst_agent}, s->agent,
                                                     (hsa_agent_t){cpu}, s->size, 0, NULL, *done);
    if (hs != HSA_STATUS_SUCCESS) {
        ctx->hsa.signal_destroy(*done);
        done->handle = 0;
        return rochp__set_errorf(ROCHP_ERROR_IO, "restore: a %zu-byte copy could not start: %s",
                                s->size, rochp__hsa_status_text(&ctx->hsa, hs));
    }
    return ROCHP_OK;
}


rochp_status shadow_spare_ready(rochp_context *ctx, rochp_buffer *b)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    if (b->spare.host && (b->spare.size != b->size || b->spare.near != b->device))
        shadow_free(ctx, &b->spare);
    if (!b->spare.host) {
        rochp_status st = shadow_alloc_near(ctx, b->device, b->size, &b->spare);
        if (st != ROCHP_OK)
            return st;
    }
    /* Host buffers are copied by the CPU: no lock needed. */
    return b->device == ROCHP_HOST ? ROCHP_OK : shadow_lock(ctx, &b->spare);
}

void shadow_spare_abandon(rochp_context *ctx, rochp_buffer *b, hsa_signal_t done)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    shadow_grave *g = malloc(sizeof *g);
    if (g) {
        *g = (shadow_grave){b->spare, done, ctx->managed->abandoned};
        ctx->managed->abandoned = g;
    }
    /* Out of memory: the shadow is leaked rather than freed under an engine. */
    memset(&b->spare, 0, sizeof b->spare);
}

void shadow_reap_abandoned(rochp_context *ctx)
{
    ROCHP_ASSERT_HELD(&ctx->managed->checkpoint_lock);
    for (shadow_grave **p = &ctx->managed->abandoned; *p;) {
        shadow_grave *g = *p;
        bool done = !g->done.handle || (ctx->hsa_up && ctx->hsa.signal_wait_scacquire(g->done, HSA_SIGNAL_CONDITION_EQ, 0, 0,
                                                            HSA_WAIT_STATE_BLOCKED) == 0);
        if (!done) {
            p = &g->next;
            continue;
        }
        if (g->done.handle)
            ctx->hsa.signal_destroy(g->done);
        shadow_free(ctx, &g->s);
        *p = g->next;
        free(g);
    }
}

void shadow_abandoned_runtime_gone(rochp_context *ctx)
{
    for (shadow_grave *g = ctx->managed->abandoned; g; g = g->next)
        g->done.handle = 0;
}

void shadow_abandoned_free_all(rochp_context *ctx)
{
    while (ctx->managed->abandoned) {
        shadow_grave *g = ctx->managed->abandoned;
        ctx->managed->abandoned = g->next;
        /* A runtime the program still holds may run the copy yet: leaked
         * (the engine would write freed memory). */
        if (!ctx->hsa_attached || !g->done.handle)
            shadow_free(ctx, &g->s);
        free(g);
    }
}

uint64_t managed_shadow_allocations(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    uint64_t n = ctx->managed->shadow_allocs;
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return n;
}

size_t managed_shadows_abandoned(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    size_t n = 0;
    for (const shadow_grave *g = ctx->managed->abandoned; g; g = g->next)
        n++;
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return n;
}
