/* Making a parsed checkpoint's objects in a context (persist_load.c), in two
 * steps so that everything that can be checked is checked before anything
 * is made: a plan (where each buffer and queue goes), then the objects,
 * undone whole if one of them cannot be made. */
#ifndef ROCHP_COMPUTE_PERSIST_LOAD_H
#define ROCHP_COMPUTE_PERSIST_LOAD_H

#include "resilience/resilience.h"
#include "resilience/persist_format.h"

typedef struct persist_ref {
    uint64_t id; /* as saved */
    void *object;
} persist_ref;

struct rochp_restored {
    void *user;
    size_t user_size;
    persist_ref *modules, *buffers, *queues;
    size_t n_modules, n_buffers, n_queues;
};

/* Where the buffers' bytes come from: the parsed bytes (fd -1), or fd at
 * the offset of their bulk from base, for an image parsed with
 * PERSIST_DEFER_BUFFER_SUMS (each checked as it is read). */
typedef struct persist_source {
    const uint8_t *base;
    int fd;
} persist_source;

typedef struct persist_plan {
    rochp_device_id *buffers, *queues; /* per object of the image */
} persist_plan;

/* Each buffer and queue on a present GPU of its gfx target (the same
 * ordinal among them when there is one) or the host: ROCHP_ERROR_NO_TARGET
 * naming the first that has none. */
rochp_status persist_plan_make(rochp_context *ctx, const persist_image *img, persist_plan *out);
void persist_plan_free(persist_plan *plan);

/* The image's modules, buffers (bytes and shadows) and queues (ids going
 * on) where the plan says, and the loaded state counted as a checkpoint.
 * On failure (a device lost meanwhile, no memory, options the library
 * refuses) what was made is freed again: the context is as before. */
/* persist.c -- ROCHP_OK when the context has a checkpoint to save, else
 * NOT_SUPPORTED for call (message set). */
rochp_status persist_have_checkpoint(rochp_context *ctx, const char *call);
/* Frees a map's memory (rochp_restored_free checks the handle
 * first). */
void persist_restored_release(rochp_restored *r);
rochp_status persist_instantiate(rochp_context *ctx, const persist_image *img,
                                 const persist_plan *plan, const persist_source *src,
                                 rochp_restored **out);

#endif
