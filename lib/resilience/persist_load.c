/* A parsed checkpoint made again in a context: placement decided for every
 * object first (a machine without a GPU of the gfx target is refused before
 * anything exists), then modules, buffers and queues in that order, each
 * one recorded in the restored map as it is made, so that a failure part
 * way (a GPU lost, memory short, queue options the library refuses) can
 * free exactly those and leave the context as it was. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xxhash.h>

#include "resilience/persist_load.h"

_Static_assert(PERSIST_MAX_NEXT_ID == (uint64_t)ROCHP_COMPLETION_BASE,
               "saved queue ids stop where the completion signal's count does");
_Static_assert((int)PERSIST_QUEUE_PLAIN == (int)ROCHP_QUEUE_PLAIN &&
                   (int)PERSIST_QUEUE_JOURNALED == (int)ROCHP_QUEUE_JOURNALED,
               "queue modes are saved as rochp_queue_mode's values");

/* --- placement ---------------------------------------------------------------------------------- */
/* The context's devices now (present and lost, in id order). */
static rochp_status device_snapshot(rochp_context *ctx, rochp_device_info **out, size_t *n)
{
    *out = NULL;
    for (;;) {
        size_t count = 0, got = 0;
        rochp_status st = rochp_device_list(ctx, NULL, 0, &count);
        rochp_device_info *devs = st == ROCHP_OK ? calloc(count + 1, sizeof *devs) : NULL;
        if (st == ROCHP_OK && !devs)
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                    "rochp_checkpoint_load: out of memory");
        if (st == ROCHP_OK)
            st = rochp_device_list(ctx, devs, count + 1, &got);
        if (st != ROCHP_OK || got <= count + 1) {
            *out = devs;
            *n = got < count + 1 ? got : count + 1;
            return st;
        }
        free(devs); /* devices arrived meanwhile: again */
    }
}

/* Ordinal 0: the host; else the ordinal-th present GPU of gfx, else the
 * first.  0 when there is none. */
static rochp_device_id place(const rochp_device_info *devs, size_t n, const char *gfx,
                             uint64_t ordinal)
{
    if (ordinal == 0)
        return ROCHP_HOST;
    rochp_device_id first = 0;
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(devs[i].gfx_target, gfx, PERSIST_GFX_LEN) != 0 ||
            devs[i].state != ROCHP_DEVICE_PRESENT || !devs[i].hsa_agent)
            continue;
        if (!first)
            first = devs[i].id;
        if (++k == ordinal)
            return devs[i].id;
    }
    return first;
}

static rochp_status no_place(const char *gfx, const char *what, size_t k, size_t n, uint64_t id)
{
    return rochp__set_errorf(ROCHP_ERROR_NO_TARGET,
                            "rochp_checkpoint_load: no present device with gfx target %s for "
                            "saved %s %zu of %zu (id %llu)",
                            gfx, what, k + 1, n, (unsigned long long)id);
}

void persist_plan_free(persist_plan *plan)
{
    free(plan->buffers);
    free(plan->queues);
    memset(plan, 0, sizeof *plan);
}

rochp_status persist_plan_make(rochp_context *ctx, const persist_image *img, persist_plan *out)
{
    memset(out, 0, sizeof *out);
    rochp_device_info *devs;
    size_t n = 0;
    rochp_status st = device_snapshot(ctx, &devs, &n);
    if (st != ROCHP_OK)
        return st;
    out->buffers = calloc(img->n_buffers + 1, sizeof *out->buffers);
    out->queues = calloc(img->n_queues + 1, sizeof *out->queues);
    if (!out->buffers || !out->queues)
        st = rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_load: out of memory");
    for (size_t k = 0; k < img->n_buffers && st == ROCHP_OK; k++) {
        const persist_buffer *b = &img->buffers[k];
        out->buffers[k] = place(devs, n, b->gfx, b->ordinal);
        if (b->ordinal && !out->buffers[k])
            st = no_place(b->gfx, "buffer", k, img->n_buffers, b->id);
    }
    for (size_t k = 0; k < img->n_queues && st == ROCHP_OK; k++) {
        const persist_queue *q = &img->queues[k];
        out->queues[k] = place(devs, n, q->gfx, q->ordinal);
        if (!out->queues[k])
            st = no_place(q->gfx, "queue", k, img->n_queues, q->id);
    }
    free(devs);
    if (st != ROCHP_OK)
        persist_plan_free(out);
    return st;
}

/* --- making ------------------------------------------------------------------------------------- */
/* The last error, prefixed with the object it was about; status mapped
 * when the cause is the file's content. */
static rochp_status blame(rochp_status st, const char *what, size_t k, size_t n, uint64_t id)
{
    char cause[ROCHP_ERROR_MESSAGE_MAX];
    snprintf(cause, sizeof cause, "%s", rochp_last_error());
    /* The library refusing saved options means the file asked for them. */
    if (st == ROCHP_ERROR_INVALID_ARGUMENT)
        st = ROCHP_ERROR_MALFORMED;
    return rochp__set_errorf(st, "rochp_checkpoint_load: %s %zu of %zu (id %llu): %s", what, k + 1,
                            n, (unsigned long long)id, cause);
}

static rochp_status make_modules(rochp_context *ctx, const persist_image *img, rochp_restored *r)
{
    for (size_t k = 0; k < img->n_modules; k++) {
        const persist_module *pm = &img->modules[k];
        rochp_module *m;
        rochp_status st = rochp_module_load(ctx, pm->image, (size_t)pm->size, &m);
        if (st != ROCHP_OK)
            return blame(st, "module", k, img->n_modules, pm->id);
        r->modules[r->n_modules++] = (persist_ref){pm->id, m};
    }
    return ROCHP_OK;
}

/* A buffer's saved bytes into its shadow s: copied from the parsed bytes
 * (checked by the parser). */
static void fill_shadow(const persist_buffer *pb, shadow *s)
{
    memcpy(s->host, pb->bytes, (size_t)pb->size);
}

/* The buffer's memory: the allocator's for a registered buffer (*mine),
 * else the device's pool. */
static rochp_status new_buffer(rochp_context *ctx, const persist_buffer *pb, rochp_device_id dev,
                               rochp_buffer **b, void **mine)
{
    size_t size = (size_t)pb->size;
    if (!(pb->flags & PERSIST_BUFFER_REGISTERED))
        return rochp_buffer_alloc(ctx, dev, size, b);
    uint64_t agent;
    rochp_status st = managed_registered_alloc(ctx, pb->id, dev, size, mine, &agent);
    if (st == ROCHP_OK)
        st = rochp_buffer_register(ctx, dev, *mine, size,
                                   pb->flags & PERSIST_BUFFER_COPY_ALWAYS
                                       ? ROCHP_REGISTER_COPY_ALWAYS
                                       : 0,
                                   b);
    return st;
}

/* From a sealed memfd (rochp_resume): the bytes go from the memfd into the
 * buffer through the stage, a half at a time (read and hashed while the
 * engine copies the other half), and the shadow is the memfd's region
 * itself (external): nobody can change it, so the loaded state is a
 * checkpoint without a host copy of its own -- the new process does not
 * fault in a shadow's worth of fresh memory before its first step (on a
 * virtual machine 0.06 to 0.6 s per GiB).  The checksum is known at the
 * end: a mismatch fails the load (the buffer is freed with it). */
static rochp_status fill_from_memfd(rochp_context *ctx, const persist_source *src,
                                    const persist_buffer *pb, rochp_buffer *b, shadow_stage *stage)
{
    uint64_t at = (uint64_t)(pb->bytes - src->base);
    size_t size = (size_t)pb->size;
    XXH3_state_t *h = XXH3_createState();
    if (!h || XXH3_64bits_reset_withSeed(h, pb->seed) != XXH_OK) {
        XXH3_freeState(h);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    rochp_status st = ROCHP_OK;
    if (b->device == ROCHP_HOST) {
        st = shadow_pread(src->fd, b->address, size, at);
        if (st == ROCHP_OK)
            (void)XXH3_64bits_update(h, b->address, size);
    } else {
        managed_copy c[2] = {0};
        for (size_t done = 0, i = 0; st == ROCHP_OK && done < size; done += SHADOW_STAGE, i++) {
            size_t n = size - done < SHADOW_STAGE ? size - done : SHADOW_STAGE;
            uint8_t *half = stage->half[i & 1];
            st = managed_engine_copy_finish(ctx, &c[i & 1]);
            if (st == ROCHP_OK)
                st = shadow_pread(src->fd, half, n, at + done);
            if (st == ROCHP_OK) {
                (void)XXH3_64bits_update(h, half, n);
                st = managed_engine_copy_start(ctx, (uint8_t *)b->address + done, b->agent,
                                               b->device, half, stage->cpu, ROCHP_HOST, n,
                                               &c[i & 1]);
            }
        }
        for (int k = 0; k < 2; k++) {
            rochp_status f = managed_engine_copy_finish(ctx, &c[k]);
            if (st == ROCHP_OK)
                st = f;
        }
    }
    if (st == ROCHP_OK && XXH3_64bits_digest(h) != pb->sum)
        st = rochp__set_errorf(ROCHP_ERROR_MALFORMED, "checksum mismatch (the file is corrupt)");
    XXH3_freeState(h);
    return st;
}

/* The buffer with its saved bytes, and a shadow of them: the loaded state
 * is a checkpoint.  From parsed bytes the copy into a GPU's buffer is
 * started, not waited for (*copy): the next buffer is prepared while the
 * engine runs.  From a sealed memfd, fill_from_memfd. */
static rochp_status make_buffer(rochp_context *ctx, const persist_source *src,
                                const persist_buffer *pb, rochp_device_id dev, rochp_buffer **out,
                                managed_copy *copy, shadow_stage *stage)
{
    shadow s = {0};
    rochp_buffer *b = NULL;
    void *mine = NULL; /* a registered buffer's memory, from the allocator */
    rochp_status st;
    if (src->fd >= 0) {
        st = shadow_external(ctx, dev, src->fd, (uint64_t)(pb->bytes - src->base),
                             (size_t)pb->size, &s);
        if (st == ROCHP_OK)
            st = new_buffer(ctx, pb, dev, &b, &mine);
        if (st == ROCHP_OK)
            st = fill_from_memfd(ctx, src, pb, b, stage);
    } else {
        /* The shadow as a checkpoint makes it (near the GPU, populated in
         * one call rather than a fault per page), then the buffer filled
         * from it by the copy engine: no staging memory. */
        st = shadow_alloc_near(ctx, dev, (size_t)pb->size, &s);
        if (st == ROCHP_OK) {
            fill_shadow(pb, &s);
            st = new_buffer(ctx, pb, dev, &b, &mine);
        }
        if (st == ROCHP_OK && dev == ROCHP_HOST)
            memcpy(b->address, s.host, s.size);
        else if (st == ROCHP_OK && (st = shadow_lock(ctx, &s)) == ROCHP_OK)
            st = managed_engine_copy_start(ctx, b->address, b->agent, dev, s.agent,
                                           managed_cpu_agent(ctx), ROCHP_HOST, s.size, copy);
    }
    if (st != ROCHP_OK) {
        if (b)
            rochp_buffer_free(b);
        managed_registered_free(ctx, dev, mine);
        shadow_free(ctx, &s);
        return st;
    }
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    b->shadow = s;
    b->dirty = false;
    b->written_by_call = false;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    *out = b;
    return ROCHP_OK;
}

static rochp_status make_buffers(rochp_context *ctx, const persist_image *img,
                                 const persist_plan *plan, const persist_source *src,
                                 rochp_restored *r)
{
    managed_copy *copies = calloc(img->n_buffers + 1, sizeof *copies);
    if (!copies)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_load: out of memory");
    shadow_stage stage = {0};
    rochp_status st = src->fd >= 0 ? shadow_stage_alloc(ctx, &stage) : ROCHP_OK;
    for (size_t k = 0; k < img->n_buffers && st == ROCHP_OK; k++) {
        rochp_buffer *b = NULL;
        st = make_buffer(ctx, src, &img->buffers[k], plan->buffers[k], &b, &copies[k], &stage);
        if (st != ROCHP_OK)
            st = blame(st, "buffer", k, img->n_buffers, img->buffers[k].id);
        else
            r->buffers[r->n_buffers++] = (persist_ref){img->buffers[k].id, b};
    }
    /* Every started copy finished, the first failure kept: the buffers are
     * freed only once no engine writes them. */
    char first[ROCHP_ERROR_MESSAGE_MAX];
    snprintf(first, sizeof first, "%s", st == ROCHP_OK ? "" : rochp_last_error());
    for (size_t k = 0; k < r->n_buffers; k++) {
        rochp_status cst = managed_engine_copy_finish(ctx, &copies[k]);
        if (cst != ROCHP_OK && st == ROCHP_OK) {
            st = blame(cst, "buffer", k, img->n_buffers, img->buffers[k].id);
            snprintf(first, sizeof first, "%s", rochp_last_error());
        }
    }
    free(copies);
    /* A copy abandoned on a lost device may still read the stage: kept. */
    if (st != ROCHP_ERROR_DEVICE_LOST)
        shadow_stage_free(ctx, &stage);
    return st == ROCHP_OK ? st : rochp__set_errorf(st, "%s", first);
}

static rochp_status make_queues(rochp_context *ctx, const persist_image *img,
                                const persist_plan *plan, rochp_restored *r)
{
    for (size_t k = 0; k < img->n_queues; k++) {
        const persist_queue *pq = &img->queues[k];
        rochp_queue_options o;
        managed_queue_options_defaults(&o);
        o.mode = (rochp_queue_mode)pq->mode;
        o.packets = pq->packets;
        o.kernarg_bytes = pq->kernarg_bytes;
        o.journal_length = pq->journal_length;
        rochp_queue *q;
        /* Checks the options; the ids go on from where the saved queue was. */
        rochp_status st = managed_queue_create(ctx, plan->queues[k], &o, pq->next_id, &q);
        if (st == ROCHP_OK)
            r->queues[r->n_queues++] = (persist_ref){pq->id, q};
        if (st != ROCHP_OK)
            return blame(st, "queue", k, img->n_queues, pq->id);
    }
    return ROCHP_OK;
}

/* Frees what the map holds, newest kind first; the map itself stays. */
static void unmake(rochp_restored *r)
{
    for (size_t i = r->n_queues; i-- > 0;)
        rochp_queue_destroy(r->queues[i].object);
    for (size_t i = r->n_buffers; i-- > 0;) {
        rochp_buffer *b = r->buffers[i].object;
        /* A registered buffer's memory is the allocator's to take back. */
        rochp_context *ctx = b->ctx;
        bool registered = b->registered;
        rochp_device_id device = b->device;
        void *address = b->address;
        if (rochp_buffer_free(b) == ROCHP_OK && registered)
            managed_registered_free(ctx, device, address);
    }
    for (size_t i = r->n_modules; i-- > 0;)
        rochp_module_free(r->modules[i].object);
    r->n_queues = r->n_buffers = r->n_modules = 0;
}

static rochp_restored *restored_new(const persist_image *img)
{
    rochp_restored *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->modules = calloc(img->n_modules + 1, sizeof *r->modules);
    r->buffers = calloc(img->n_buffers + 1, sizeof *r->buffers);
    r->queues = calloc(img->n_queues + 1, sizeof *r->queues);
    r->user = malloc((size_t)img->user_size + 1);
    if (!r->modules || !r->buffers || !r->queues || !r->user) {
        rochp_restored_free(r);
        return NULL;
    }
    if (img->user_size)
        memcpy(r->user, img->user, (size_t)img->user_size);
    r->user_size = (size_t)img->user_size;
    return r;
}

rochp_status persist_instantiate(rochp_context *ctx, const persist_image *img,
                                 const persist_plan *plan, const persist_source *src,
                                 rochp_restored **out)
{
    *out = NULL;
    rochp_restored *r = restored_new(img);
    if (!r)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_checkpoint_load: out of memory");
    rochp_status st = make_modules(ctx, img, r);
    if (st == ROCHP_OK)
        st = make_buffers(ctx, img, plan, src, r);
    if (st == ROCHP_OK)
        st = make_queues(ctx, img, plan, r);
    if (st != ROCHP_OK) {
        char cause[ROCHP_ERROR_MESSAGE_MAX];
        snprintf(cause, sizeof cause, "%s", rochp_last_error());
        unmake(r);
        persist_restored_release(r);
        return rochp__set_errorf(st, "%s", cause);
    }
    /* Registered, so that a second rochp_restored_free is harmless. */
    if ((st = handle_add(r, HANDLE_RESTORED)) != ROCHP_OK) {
        unmake(r);
        persist_restored_release(r);
        return st;
    }
    /* The loaded state is a checkpoint (its shadows are in place). */
    pthread_mutex_lock(&ctx->lock);
    ctx->resilience->checkpoints++;
    pthread_mutex_unlock(&ctx->lock);
    *out = r;
    return ROCHP_OK;
}
