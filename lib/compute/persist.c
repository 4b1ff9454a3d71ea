/* The last checkpoint in a file (or memfd, or pipe), and back in a new
 * process: for when no device can take a lost one's work, or under the
 * kernel behaviour where the process must let go of the GPUs (exit or
 * exec) before the unplug completes.
 *
 * What is written: an application blob (its own progress, e.g. the step
 * number), every module's code object, every buffer that has a shadow (its
 * bytes as at the checkpoint, its device's gfx target and ordinal), and
 * every queue's options, device and next packet id at the checkpoint.
 * Loading makes them again in the given context -- each on a present GPU
 * of the same gfx target, the same ordinal among those when there is one --
 * with the buffers' bytes, shadows already in place (the loaded state is a
 * checkpoint) and the queues' ids going on from where they were; a
 * rochp_restored maps the saved ids to the new objects.
 *
 * Format (host byte order; a reader checks magic, version and every size,
 * so a truncated or foreign file is ROCHP_ERROR_MALFORMED, never a crash):
 *   header  "ROCHPCK1", u32 version, u32 0, u64 modules, buffers, queues, user bytes
 *   user    bytes
 *   module  u64 id, u64 size, bytes
 *   buffer  u64 id, u64 ordinal (0: host, k: k-th GPU), char gfx[32], u64 size, bytes
 *   queue   u64 id, u32 mode, packets, kernarg_bytes, journal_length, u64 ordinal,
 *           char gfx[32], u64 next id */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compute/compute.h"

#define MAGIC "ROCHPCK1"
#define VERSION 1u
#define MAX_COUNT (1u << 20)
#define MAX_BYTES (1ull << 40)
#define GFX_LEN 32

typedef struct file_header {
    char magic[8];
    uint32_t version, reserved;
    uint64_t modules, buffers, queues, user_size;
} file_header;

typedef struct file_buffer {
    uint64_t id, ordinal;
    char gfx[GFX_LEN];
    uint64_t size;
} file_buffer;

typedef struct file_queue {
    uint64_t id;
    uint32_t mode, packets, kernarg_bytes, journal_length;
    uint64_t ordinal;
    char gfx[GFX_LEN];
    uint64_t next_id;
} file_queue;

typedef struct id_map {
    uint64_t id;
    void *object;
} id_map;

struct rochp_restored {
    void *user;
    size_t user_size;
    id_map *modules, *buffers, *queues;
    size_t n_modules, n_buffers, n_queues;
};

/* --- plain I/O ---------------------------------------------------------------------------------- */
static rochp_status write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return rochp_set_errorf(ROCHP_ERROR_IO, "rochp_checkpoint_save: write: %s",
                                    n < 0 ? strerror(errno) : "no progress");
        p += n;
        size -= (size_t)n;
    }
    return ROCHP_OK;
}

static rochp_status read_all(int fd, void *data, size_t size, const char *what)
{
    char *p = data;
    while (size) {
        ssize_t n = read(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rochp_set_errorf(ROCHP_ERROR_IO, "rochp_checkpoint_load: reading %s: %s",
                                    what, strerror(errno));
        if (n == 0)
            return rochp_set_errorf(ROCHP_ERROR_MALFORMED,
                                    "rochp_checkpoint_load: the checkpoint ends inside %s "
                                    "(truncated)",
                                    what);
        p += n;
        size -= (size_t)n;
    }
    return ROCHP_OK;
}

/* A device's place: 0 for the host, else its 1-based ordinal among the
 * context's devices of its gfx target. */
static uint64_t ordinal_of(rochp_context *ctx, rochp_device_id device, char gfx[GFX_LEN])
{
    memset(gfx, 0, GFX_LEN);
    if (device == ROCHP_HOST)
        return 0;
    rochp_device_info devs[256], me;
    size_t n = 0;
    if (rochp_device_get(ctx, device, &me) != ROCHP_OK ||
        rochp_device_list(ctx, devs, 256, &n) != ROCHP_OK)
        return 1;
    snprintf(gfx, GFX_LEN, "%s", me.gfx_target);
    uint64_t k = 0;
    for (size_t i = 0; i < n && i < 256; i++) {
        if (strcmp(devs[i].gfx_target, me.gfx_target) == 0)
            k++;
        if (devs[i].id == device)
            return k;
    }
    return 1;
}

/* --- save ------------------------------------------------------------------------------------- */
static rochp_status save_gated(rochp_context *ctx, int fd, const void *user, size_t user_size)
{
    pthread_mutex_lock(&ctx->lock);
    uint64_t checkpoints = ctx->checkpoints;
    pthread_mutex_unlock(&ctx->lock);
    if (!checkpoints)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint_save: there is no checkpoint to save "
                                "(rochp_checkpoint first)");
    file_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, sizeof h.magic);
    h.version = VERSION;
    h.user_size = user_size;
    const void *image;
    size_t size;
    uint64_t id;
    pthread_mutex_lock(&ctx->module_lock);
    for (rochp_module *m = compute_module_next(ctx, NULL, &image, &size, &id); m;
         m = compute_module_next(ctx, m, &image, &size, &id))
        h.modules++;
    pthread_mutex_unlock(&ctx->module_lock);
    pthread_mutex_lock(&ctx->buffer_lock);
    for (size_t i = 0; i < ctx->n_buffers; i++)
        h.buffers += ctx->buffers[i]->shadow.host != NULL;
    pthread_mutex_unlock(&ctx->buffer_lock);
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->queues; q; q = q->next)
        h.queues++;
    pthread_mutex_unlock(&ctx->lock);

    rochp_status st = write_all(fd, &h, sizeof h);
    if (st == ROCHP_OK && user_size)
        st = write_all(fd, user, user_size);
    /* Modules and buffers stay put meanwhile: checkpoint_lock keeps frees out. */
    pthread_mutex_lock(&ctx->module_lock);
    for (rochp_module *m = compute_module_next(ctx, NULL, &image, &size, &id); m && st == ROCHP_OK;
         m = compute_module_next(ctx, m, &image, &size, &id)) {
        uint64_t head[2] = {id, size};
        st = write_all(fd, head, sizeof head);
        if (st == ROCHP_OK)
            st = write_all(fd, image, size);
    }
    pthread_mutex_unlock(&ctx->module_lock);
    pthread_mutex_lock(&ctx->buffer_lock);
    size_t n = ctx->n_buffers;
    rochp_buffer **list = malloc((n + 1) * sizeof *list);
    if (list)
        memcpy(list, ctx->buffers, n * sizeof *list);
    pthread_mutex_unlock(&ctx->buffer_lock);
    if (!list)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_save: out of memory");
    for (size_t i = 0; i < n && st == ROCHP_OK; i++) {
        rochp_buffer *b = list[i];
        if (!b->shadow.host)
            continue;
        file_buffer fb;
        memset(&fb, 0, sizeof fb);
        fb.id = b->id;
        fb.ordinal = ordinal_of(ctx, b->device, fb.gfx);
        fb.size = b->size;
        st = write_all(fd, &fb, sizeof fb);
        if (st == ROCHP_OK)
            st = write_all(fd, b->shadow.host, b->size);
    }
    free(list);
    pthread_mutex_lock(&ctx->lock);
    size_t nq = 0;
    for (rochp_queue *q = ctx->queues; q; q = q->next)
        nq++;
    file_queue *fq = calloc(nq + 1, sizeof *fq);
    rochp_device_id *qdev = calloc(nq + 1, sizeof *qdev);
    size_t k = 0;
    for (rochp_queue *q = ctx->queues; q && fq && qdev; q = q->next, k++) {
        fq[k].id = q->id;
        fq[k].mode = q->mode;
        fq[k].packets = q->packets;
        fq[k].kernarg_bytes = q->kernarg_bytes;
        fq[k].journal_length = q->ring.journal ? (uint32_t)(q->ring.slot_mask + 1) : 0;
        fq[k].next_id = q->checkpoint_index + q->ring.id_offset;
        qdev[k] = q->device;
    }
    pthread_mutex_unlock(&ctx->lock);
    if (!fq || !qdev)
        st = rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_save: out of memory");
    for (size_t i = 0; i < nq && st == ROCHP_OK; i++) {
        fq[i].ordinal = ordinal_of(ctx, qdev[i], fq[i].gfx);
        st = write_all(fd, &fq[i], sizeof fq[i]);
    }
    free(fq);
    free(qdev);
    return st;
}

rochp_status rochp_checkpoint_save(rochp_context *ctx, int fd, const void *user, size_t user_size)
{
    if (!ctx || fd < 0 || (user_size && !user))
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_checkpoint_save: ctx, a file descriptor and user (when "
                                "user_size > 0) must be given");
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->checkpoint_lock);
    rochp_status st = save_gated(ctx, fd, user, user_size);
    pthread_mutex_unlock(&ctx->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

/* --- load ------------------------------------------------------------------------------------- */
/* Ordinal 0: the host; else the k-th present GPU of gfx (else the first).
 * false: none. */
static bool place(rochp_context *ctx, const char gfx[GFX_LEN], uint64_t ordinal,
                  rochp_device_id *out)
{
    *out = ROCHP_HOST;
    if (ordinal == 0)
        return true;
    rochp_device_info devs[256];
    size_t n = 0;
    if (rochp_device_list(ctx, devs, 256, &n) != ROCHP_OK)
        return false;
    rochp_device_id first = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < n && i < 256; i++) {
        if (strncmp(devs[i].gfx_target, gfx, GFX_LEN) != 0 ||
            devs[i].state != ROCHP_DEVICE_PRESENT || !devs[i].hsa_agent)
            continue;
        if (!first)
            first = devs[i].id;
        if (++k == ordinal) {
            *out = devs[i].id;
            return true;
        }
    }
    *out = first;
    return first != 0;
}

static rochp_status no_place(const char gfx[GFX_LEN], const char *what)
{
    return rochp_set_errorf(ROCHP_ERROR_NO_TARGET,
                            "rochp_checkpoint_load: no present device with gfx target %.*s for "
                            "a saved %s",
                            GFX_LEN, gfx, what);
}

static rochp_status load_buffer(rochp_context *ctx, int fd, rochp_restored *r)
{
    file_buffer fb;
    rochp_status st = read_all(fd, &fb, sizeof fb, "a buffer's header");
    if (st != ROCHP_OK)
        return st;
    if (fb.size == 0 || fb.size > MAX_BYTES)
        return rochp_set_errorf(ROCHP_ERROR_MALFORMED,
                                "rochp_checkpoint_load: a buffer of %llu bytes",
                                (unsigned long long)fb.size);
    rochp_device_id dev;
    if (!place(ctx, fb.gfx, fb.ordinal, &dev))
        return no_place(fb.gfx, "buffer");
    /* The bytes go to the shadow first: the loaded state is a checkpoint. */
    shadow s = {0};
    void *p = mmap(NULL, fb.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "rochp_checkpoint_load: no memory for %llu bytes",
                                (unsigned long long)fb.size);
    s.host = p;
    s.size = fb.size;
    st = read_all(fd, s.host, fb.size, "a buffer's bytes");
    rochp_buffer *b = NULL;
    if (st == ROCHP_OK)
        st = rochp_buffer_alloc(ctx, dev, fb.size, &b);
    if (st == ROCHP_OK)
        st = rochp_buffer_write(b, 0, s.host, fb.size);
    if (st != ROCHP_OK) {
        if (b)
            rochp_buffer_free(b);
        shadow_free(ctx, &s);
        return st;
    }
    pthread_mutex_lock(&ctx->buffer_lock);
    b->shadow = s;
    b->dirty = false;
    b->written_by_call = false;
    pthread_mutex_unlock(&ctx->buffer_lock);
    r->buffers[r->n_buffers++] = (id_map){fb.id, b};
    return ROCHP_OK;
}

static rochp_status load_queue(rochp_context *ctx, int fd, rochp_restored *r)
{
    file_queue fq;
    rochp_status st = read_all(fd, &fq, sizeof fq, "a queue");
    if (st != ROCHP_OK)
        return st;
    rochp_device_id dev;
    if (!place(ctx, fq.gfx, fq.ordinal ? fq.ordinal : 1, &dev))
        return no_place(fq.gfx, "queue");
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = (rochp_queue_mode)fq.mode;
    o.packets = fq.packets;
    o.kernarg_bytes = fq.kernarg_bytes;
    o.journal_length = fq.journal_length;
    rochp_queue *q;
    /* Checks every option; the ids go on from where the saved queue was. */
    st = compute_queue_create(ctx, dev, &o, fq.next_id, &q);
    if (st != ROCHP_OK)
        return st;
    r->queues[r->n_queues++] = (id_map){fq.id, q};
    return st;
}

static rochp_status load_gated(rochp_context *ctx, int fd, rochp_restored *r)
{
    file_header h;
    rochp_status st = read_all(fd, &h, sizeof h, "the header");
    if (st != ROCHP_OK)
        return st;
    if (memcmp(h.magic, MAGIC, sizeof h.magic) != 0)
        return rochp_set_errorf(ROCHP_ERROR_MALFORMED,
                                "rochp_checkpoint_load: not a rochp checkpoint (bad magic)");
    if (h.version != VERSION)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint_load: checkpoint format version %u, this "
                                "library reads %u",
                                h.version, VERSION);
    if (h.modules > MAX_COUNT || h.buffers > MAX_COUNT || h.queues > MAX_COUNT ||
        h.user_size > MAX_BYTES)
        return rochp_set_errorf(ROCHP_ERROR_MALFORMED,
                                "rochp_checkpoint_load: %llu modules, %llu buffers, %llu queues, "
                                "%llu user bytes: beyond what a checkpoint holds",
                                (unsigned long long)h.modules, (unsigned long long)h.buffers,
                                (unsigned long long)h.queues, (unsigned long long)h.user_size);
    r->modules = calloc(h.modules + 1, sizeof *r->modules);
    r->buffers = calloc(h.buffers + 1, sizeof *r->buffers);
    r->queues = calloc(h.queues + 1, sizeof *r->queues);
    r->user = malloc(h.user_size + 1);
    if (!r->modules || !r->buffers || !r->queues || !r->user)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_load: out of memory");
    r->user_size = h.user_size;
    st = read_all(fd, r->user, h.user_size, "the application's data");
    for (uint64_t i = 0; i < h.modules && st == ROCHP_OK; i++) {
        uint64_t head[2];
        st = read_all(fd, head, sizeof head, "a module's header");
        if (st == ROCHP_OK && (head[1] == 0 || head[1] > MAX_BYTES))
            st = rochp_set_errorf(ROCHP_ERROR_MALFORMED,
                                  "rochp_checkpoint_load: a module of %llu bytes",
                                  (unsigned long long)head[1]);
        void *image = st == ROCHP_OK ? malloc(head[1]) : NULL;
        if (st == ROCHP_OK && !image)
            st = rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                  "rochp_checkpoint_load: out of memory");
        if (st == ROCHP_OK)
            st = read_all(fd, image, head[1], "a module's code object");
        rochp_module *m = NULL;
        if (st == ROCHP_OK)
            st = rochp_module_load(ctx, image, head[1], &m);
        free(image);
        if (st == ROCHP_OK)
            r->modules[r->n_modules++] = (id_map){head[0], m};
    }
    for (uint64_t i = 0; i < h.buffers && st == ROCHP_OK; i++)
        st = load_buffer(ctx, fd, r);
    for (uint64_t i = 0; i < h.queues && st == ROCHP_OK; i++)
        st = load_queue(ctx, fd, r);
    if (st == ROCHP_OK) {
        /* The loaded state is a checkpoint (its shadows are in place). */
        pthread_mutex_lock(&ctx->lock);
        ctx->checkpoints++;
        pthread_mutex_unlock(&ctx->lock);
    }
    return st;
}

void rochp_restored_free(rochp_restored *r)
{
    if (!r)
        return;
    free(r->user);
    free(r->modules);
    free(r->buffers);
    free(r->queues);
    free(r);
}

rochp_status rochp_checkpoint_load(rochp_context *ctx, int fd, rochp_restored **out)
{
    if (!ctx || fd < 0 || !out)
        return rochp_set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_checkpoint_load: ctx, a file descriptor and out must be "
                                "given");
    *out = NULL;
    if (!ctx->hsa_up)
        return rochp_set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint_load: this context has no HSA runtime");
    rochp_restored *r = calloc(1, sizeof *r);
    if (!r)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_load: out of memory");
    rochp_status st = load_gated(ctx, fd, r);
    if (st != ROCHP_OK) {
        /* What was made stays in the context (freed with it); the map goes. */
        rochp_restored_free(r);
        return st;
    }
    *out = r;
    return ROCHP_OK;
}

static void *lookup(const id_map *map, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].id == id)
            return map[i].object;
    return NULL;
}

rochp_buffer *rochp_restored_buffer(const rochp_restored *r, uint64_t id)
{
    return r ? lookup(r->buffers, r->n_buffers, id) : NULL;
}

rochp_queue *rochp_restored_queue(const rochp_restored *r, uint64_t id)
{
    return r ? lookup(r->queues, r->n_queues, id) : NULL;
}

rochp_module *rochp_restored_module(const rochp_restored *r, uint64_t id)
{
    return r ? lookup(r->modules, r->n_modules, id) : NULL;
}

const void *rochp_restored_user(const rochp_restored *r, size_t *size)
{
    if (size)
        *size = r ? r->user_size : 0;
    return r ? r->user : NULL;
}
