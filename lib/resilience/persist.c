/* The last checkpoint in a file (or memfd, or pipe), and back in a new
 * process: for when no device can take a lost one's work, or under the
 * kernel behaviour where the process must let go of the GPUs (exit or
 * exec) before the unplug completes.
 *
 * What is written (format: persist_format.h): an application blob (its own
 * progress, e.g. the step number), every module's code object, every buffer
 * that has a shadow (its bytes as at the checkpoint, its device's gfx target
 * and ordinal), and every queue's options, device and next packet id at the
 * checkpoint, each section with its checksum.
 *
 * Loading reads the whole checkpoint first (never more memory than the
 * bytes that arrived, bounded by the file's size where it has one), checks
 * all of it (persist_parse: sizes, checksums, ids, placements) and where it
 * can go (persist_plan_make), and only then makes the objects
 * (persist_instantiate), which undoes itself if one cannot be made: a
 * refused load leaves the context as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "resilience/persist_load.h"

/* A pipe's bytes are taken in steps of at least this, doubling. */
#define READ_STEP ((size_t)1 << 20)

/* --- save --------------------------------------------------------------------------------------- */
static rochp_status fd_sink(void *arg, const void *data, size_t size, rochp__error *err)
{
    int fd = *(const int *)arg;
    const char *p = data;
    while (size) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return rochp__fail(err, n < 0 ? rochp__status_from_errno(errno) : ROCHP_ERROR_IO,
                              "write: %s", n < 0 ? strerror(errno) : "no progress");
        p += n;
        size -= (size_t)n;
    }
    return ROCHP_OK;
}

/* A device's place: 0 for the host, else its 1-based ordinal among the
 * context's devices of its gfx target. */
static uint64_t ordinal_of(const rochp_device_info *devs, size_t n, rochp_device_id device,
                           char gfx[PERSIST_GFX_LEN])
{
    memset(gfx, 0, PERSIST_GFX_LEN);
    if (device == ROCHP_HOST)
        return 0;
    const rochp_device_info *me = NULL;
    for (size_t i = 0; i < n && !me; i++)
        if (devs[i].id == device)
            me = &devs[i];
    if (!me)
        return 1;
    snprintf(gfx, PERSIST_GFX_LEN, "%s", me->gfx_target);
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(devs[i].gfx_target, me->gfx_target) == 0)
            k++;
        if (devs[i].id == device)
            break;
    }
    return k;
}

/* The context's devices, for ordinals (at most 256, as the format). */
typedef struct device_table {
    rochp_device_info devs[PERSIST_MAX_ORDINAL];
    size_t n;
} device_table;

/* Copies of the modules' images, taken under module_lock, so that the file
 * is written from what the modules were at this moment. */
static rochp_status collect_modules(rochp_context *ctx, persist_image *img)
{
    const void *image;
    size_t size, n = 0;
    uint64_t id;
    rochp_status st = ROCHP_OK;
    pthread_mutex_lock(&ctx->managed->module_lock);
    for (rochp_module *m = managed_module_next(ctx, NULL, &image, &size, &id); m;
         m = managed_module_next(ctx, m, &image, &size, &id))
        n++;
    img->modules = calloc(n + 1, sizeof *img->modules);
    for (rochp_module *m = managed_module_next(ctx, NULL, &image, &size, &id);
         m && img->modules && st == ROCHP_OK; m = managed_module_next(ctx, m, &image, &size, &id)) {
        uint8_t *copy = malloc(size);
        if (!copy)
            st = ROCHP_ERROR_OUT_OF_MEMORY;
        else
            memcpy(copy, image, size);
        img->modules[img->n_modules++] = (persist_module){id, copy, size};
    }
    pthread_mutex_unlock(&ctx->managed->module_lock);
    if (!img->modules || st != ROCHP_OK)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_save: out of memory");
    return ROCHP_OK;
}

/* The buffers with a shadow: it stays as it is while checkpoint_lock is
 * held, so the bytes are written from it directly. */
static rochp_status collect_buffers(rochp_context *ctx, const device_table *t, persist_image *img)
{
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    img->buffers = calloc(ctx->managed->n_buffers + 1, sizeof *img->buffers);
    for (size_t i = 0; i < ctx->managed->n_buffers && img->buffers; i++) {
        const rochp_buffer *b = ctx->managed->buffers[i];
        if (!b->shadow.host)
            continue;
        persist_buffer *pb = &img->buffers[img->n_buffers++];
        pb->id = b->id;
        pb->flags = (b->registered ? PERSIST_BUFFER_REGISTERED : 0) |
                    (b->copy_always ? PERSIST_BUFFER_COPY_ALWAYS : 0);
        pb->ordinal = ordinal_of(t->devs, t->n, b->device, pb->gfx);
        pb->bytes = b->shadow.host;
        pb->size = b->size;
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    if (!img->buffers)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_save: out of memory");
    return ROCHP_OK;
}

static rochp_status collect_queues(rochp_context *ctx, const device_table *t, persist_image *img)
{
    pthread_mutex_lock(&ctx->lock);
    size_t n = 0;
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        n++;
    img->queues = calloc(n + 1, sizeof *img->queues);
    for (rochp_queue *q = ctx->managed->queues; q && img->queues; q = q->next) {
        persist_queue *pq = &img->queues[img->n_queues++];
        pq->id = q->id;
        pq->mode = (uint32_t)q->mode;
        pq->packets = q->packets;
        pq->kernarg_bytes = q->kernarg_bytes;
        pq->journal_length = q->ring.journal ? (uint32_t)(q->ring.slot_mask + 1) : 0;
        pq->next_id = q->checkpoint_index + q->ring.id_offset;
        pq->ordinal = ordinal_of(t->devs, t->n, q->device, pq->gfx);
    }
    pthread_mutex_unlock(&ctx->lock);
    if (!img->queues)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_save: out of memory");
    return ROCHP_OK;
}

static void release_collected(persist_image *img)
{
    for (size_t i = 0; i < img->n_modules; i++)
        free((void *)img->modules[i].image);
    persist_image_free(img);
}

rochp_status persist_have_checkpoint(rochp_context *ctx, const char *call)
{
    pthread_mutex_lock(&ctx->lock);
    uint64_t checkpoints = ctx->resilience->checkpoints;
    pthread_mutex_unlock(&ctx->lock);
    return checkpoints ? ROCHP_OK
                       : rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                           "%s: there is no checkpoint to save (rochp_checkpoint "
                                           "first)",
                                           call);
}

static rochp_status save_locked(rochp_context *ctx, int fd, const void *user, size_t user_size)
{
    ROCHP_ASSERT_GATE(ctx);
    rochp_status have = persist_have_checkpoint(ctx, "rochp_checkpoint_save");
    if (have != ROCHP_OK)
        return have;
    device_table *t = malloc(sizeof *t);
    if (!t)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_save: out of memory");
    rochp_status st = rochp_device_list(ctx, t->devs, PERSIST_MAX_ORDINAL, &t->n);
    if (t->n > PERSIST_MAX_ORDINAL)
        t->n = PERSIST_MAX_ORDINAL;
    persist_image img = {.user = user, .user_size = user_size};
    if (st == ROCHP_OK)
        st = collect_modules(ctx, &img);
    if (st == ROCHP_OK)
        st = collect_buffers(ctx, t, &img);
    if (st == ROCHP_OK)
        st = collect_queues(ctx, t, &img);
    free(t);
    if (st == ROCHP_OK) {
        rochp__error err = {0};
        st = persist_write(&img, fd_sink, &fd, &err);
        if (st != ROCHP_OK)
            rochp__set_errorf(st, "rochp_checkpoint_save: %s", err.message);
    }
    release_collected(&img);
    return st;
}

rochp_status rochp_checkpoint_save(rochp_context *ctx, int fd, const void *user, size_t user_size)
{
    if (!ctx || fd < 0 || (user_size && !user))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_checkpoint_save: ctx, a file descriptor and user (when "
                                "user_size > 0) must be given");
    rochp_status hst = handle_check(ctx, HANDLE_CONTEXT, "rochp_checkpoint_save");
    if (hst != ROCHP_OK)
        return hst;
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    (void)checkpoint_settle(ctx); /* a begun checkpoint commits (or fails) first */
    rochp_status st = save_locked(ctx, fd, user, user_size);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

/* --- load --------------------------------------------------------------------------------------- */
/* Up to size bytes; fewer only at the end of the file. */
static rochp_status read_upto(int fd, uint8_t *p, size_t size, size_t *got)
{
    *got = 0;
    while (*got < size) {
        ssize_t n = read(fd, p + *got, size - *got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return rochp__set_errorf(rochp__status_from_errno(errno),
                                    "rochp_checkpoint_load: read: %s", strerror(errno));
        if (n == 0)
            break;
        *got += (size_t)n;
    }
    return ROCHP_OK;
}

static rochp_status truncated(uint64_t have, uint64_t want)
{
    return rochp__set_errorf(ROCHP_ERROR_MALFORMED,
                            "rochp_checkpoint_load: header: the file has %llu bytes, its header "
                            "says %llu (truncated)",
                            (unsigned long long)have, (unsigned long long)want);
}

/* Where a checkpoint is read to.  A file (or memfd) of known size gets
 * one anonymous mapping in huge pages where the kernel has them: read into
 * 4 KiB pages, a GiB costs 262,144 first-touch faults (about 2.5 s on a
 * virtual machine, more than the copy); a pipe grows a malloc'd block. */
typedef struct read_area {
    uint8_t *p;
    size_t size; /* allocated: the checkpoint's size once it is read */
    bool mapped;
} read_area;

#define READ_HUGE_PAGE ((size_t)2 << 20)

static void read_area_free(read_area *a)
{
    if (a->mapped)
        munmap(a->p, a->size);
    else
        free(a->p);
    memset(a, 0, sizeof *a);
}

static bool read_area_map(read_area *a, size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return false;
    if (size >= READ_HUGE_PAGE)
        (void)madvise(p, size, MADV_HUGEPAGE);
    *a = (read_area){p, size, true};
    return true;
}

/* The rest of a checkpoint of total bytes whose header is in head.  sized:
 * the file is known to hold them; else (a pipe) at most twice the memory
 * of the bytes that came, plus one step. */
static rochp_status read_rest(int fd, const uint8_t *head, read_area *a, uint64_t total, bool sized)
{
    size_t have = PERSIST_HEADER_BYTES, cap = PERSIST_HEADER_BYTES;
    if (sized) {
        if (!read_area_map(a, (size_t)total))
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                    "rochp_checkpoint_load: no memory for %llu bytes",
                                    (unsigned long long)total);
        cap = (size_t)total;
    } else if (!(a->p = malloc(cap))) {
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_load: out of memory");
    } else {
        a->size = cap;
    }
    memcpy(a->p, head, PERSIST_HEADER_BYTES);
    for (;;) {
        if (have == total)
            return ROCHP_OK;
        if (have == cap) {
            size_t step = cap < READ_STEP ? READ_STEP : cap;
            cap = total - cap < step ? (size_t)total : cap + step;
            uint8_t *grown = realloc(a->p, cap);
            if (!grown)
                return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                        "rochp_checkpoint_load: no memory for %zu bytes", cap);
            a->p = grown;
            a->size = cap;
        }
        size_t got;
        rochp_status st = read_upto(fd, a->p + have, cap - have, &got);
        if (st != ROCHP_OK)
            return st;
        have += got;
        if (have < cap)
            return truncated(have, total);
    }
}

/* The whole checkpoint from fd's position: the header checked first, and
 * its size against what a file holds before anything is allocated. */
static rochp_status read_checkpoint(int fd, read_area *out)
{
    memset(out, 0, sizeof *out);
    uint8_t head[PERSIST_HEADER_BYTES];
    size_t got;
    persist_header h;
    rochp__error err = {0};
    rochp_status st = read_upto(fd, head, PERSIST_HEADER_BYTES, &got);
    if (st == ROCHP_OK && persist_parse_header(head, got, PERSIST_CHECK_SUMS, &h, &err) != ROCHP_OK)
        st = rochp__set_errorf(err.status, "rochp_checkpoint_load: %s", err.message);
    struct stat sb;
    bool sized = st == ROCHP_OK && fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
    if (sized) {
        off_t at = lseek(fd, 0, SEEK_CUR);
        uint64_t rest = at >= 0 && sb.st_size >= at ? (uint64_t)(sb.st_size - at) : 0;
        if (h.total_size - PERSIST_HEADER_BYTES > rest)
            st = truncated(PERSIST_HEADER_BYTES + rest, h.total_size);
    }
    if (st == ROCHP_OK && h.total_size > SIZE_MAX)
        st = truncated(SIZE_MAX, h.total_size);
    if (st == ROCHP_OK)
        st = read_rest(fd, head, out, h.total_size, sized);
    if (st != ROCHP_OK)
        read_area_free(out);
    return st;
}

static rochp_status load_image(rochp_context *ctx, const uint8_t *data, size_t size, int fd,
                               rochp_restored **out)
{
    persist_image img;
    rochp__error err = {0};
    unsigned flags = PERSIST_CHECK_SUMS | (fd >= 0 ? PERSIST_DEFER_BUFFER_SUMS : 0);
    if (persist_parse(data, size, flags, &img, &err) != ROCHP_OK)
        return rochp__set_errorf(err.status, "rochp_checkpoint_load: %s", err.message);
    persist_plan plan;
    rochp_status st = persist_plan_make(ctx, &img, &plan);
    if (st == ROCHP_OK) {
        persist_source src = {data, fd};
        st = persist_instantiate(ctx, &img, &plan, &src, out);
        persist_plan_free(&plan);
    }
    persist_image_free(&img);
    return st;
}

/* fd >= 0: the buffers' bytes are read from it into their shadows and
 * checked there (persist_source), not read through data.  A buffer's head
 * is then used before its checksum is known; so when anything fails, the
 * whole file is checked as a file load checks it, and a corrupt section is
 * what is reported (as a file load would), not what the corruption caused
 * (a section misplaced, a gfx target no device has). */
static rochp_status load_bytes(rochp_context *ctx, const uint8_t *data, size_t size, int fd,
                               rochp_restored **out)
{
    rochp_status st = load_image(ctx, data, size, fd, out);
    if (st == ROCHP_OK || fd < 0)
        return st;
    persist_image img;
    rochp__error err = {0};
    if (persist_parse(data, size, PERSIST_CHECK_SUMS, &img, &err) != ROCHP_OK)
        return rochp__set_errorf(err.status, "rochp_checkpoint_load: %s", err.message);
    persist_image_free(&img);
    return st;
}

rochp_status rochp_checkpoint_load(rochp_context *ctx, int fd, rochp_restored **out)
{
    if (!ctx || fd < 0 || !out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_checkpoint_load: ctx, a file descriptor and out must be "
                                "given");
    *out = NULL;
    rochp_status hst = handle_check(ctx, HANDLE_CONTEXT, "rochp_checkpoint_load");
    if (hst != ROCHP_OK)
        return hst;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint_load: this context has no HSA runtime");
    read_area a;
    rochp_status st = read_checkpoint(fd, &a);
    if (st != ROCHP_OK)
        return st;
    st = load_bytes(ctx, a.p, a.size, -1, out);
    read_area_free(&a);
    return st;
}

rochp_status persist_load_mapped(rochp_context *ctx, const uint8_t *data, size_t size, int fd,
                                 rochp_restored **out)
{
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_checkpoint_load: this context has no HSA runtime");
    return load_bytes(ctx, data, size, fd, out);
}

/* --- the restored map --------------------------------------------------------------------------- */
void rochp_restored_free(rochp_restored *r)
{
    /* A map freed twice (or never made) is left alone. */
    if (!r || !handle_live(r, HANDLE_RESTORED))
        return;
    handle_remove(r);
    persist_restored_release(r);
}

void persist_restored_release(rochp_restored *r)
{
    free(r->user);
    free(r->modules);
    free(r->buffers);
    free(r->queues);
    free(r);
}

static void *lookup(const persist_ref *map, size_t n, uint64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (map[i].id == id)
            return map[i].object;
    return NULL;
}

rochp_buffer *rochp_restored_buffer(const rochp_restored *r, uint64_t id)
{
    return handle_live(r, HANDLE_RESTORED) ? lookup(r->buffers, r->n_buffers, id) : NULL;
}

rochp_queue *rochp_restored_queue(const rochp_restored *r, uint64_t id)
{
    return handle_live(r, HANDLE_RESTORED) ? lookup(r->queues, r->n_queues, id) : NULL;
}

rochp_module *rochp_restored_module(const rochp_restored *r, uint64_t id)
{
    return handle_live(r, HANDLE_RESTORED) ? lookup(r->modules, r->n_modules, id) : NULL;
}

const void *rochp_restored_user(const rochp_restored *r, size_t *size)
{
    bool live = handle_live(r, HANDLE_RESTORED);
    if (size)
        *size = live ? r->user_size : 0;
    return live ? r->user : NULL;
}
