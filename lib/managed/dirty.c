/* Dirty marks: which buffers may have been written since the last
 * checkpoint, as the work that wrote them says (a journaled dispatch's
 * writable pointer arguments; anything, for a plain queue). */
#include <string.h>

#include "managed/managed.h"

/* With ctx->managed->buffer_lock held: the buffers a journaled dispatch's writable
 * pointer arguments point into are dirty. */
void dirty_mark_dispatch(rochp_context *ctx, const rochp_journal_entry *e, const uint8_t *args)
{
    ROCHP_ASSERT_HELD(&ctx->managed->buffer_lock);
    rochp_kernel_info info;
    if (!e->kernel || rochp_kernel_get_info(e->kernel, &info) != ROCHP_OK)
        return;
    for (uint32_t a = 0; a < info.n_args; a++) {
        rochp_kernel_arg arg;
        if (rochp_kernel_get_arg(e->kernel, a, &arg) != ROCHP_OK ||
            strcmp(arg.value_kind, "global_buffer") != 0 || arg.access == ROCHP_ACCESS_READ_ONLY ||
            arg.size != sizeof(uint64_t) || arg.offset + sizeof(uint64_t) > e->args_size)
            continue;
        uint64_t address;
        memcpy(&address, args + arg.offset, sizeof address);
        rochp_buffer *b = managed_buffer_at(ctx, (const void *)(uintptr_t)address);
        if (b)
            b->dirty = true;
    }
}

void dirty_note_retired(rochp_context *ctx, rochp_queue *q)
{
    uint64_t end = queue_next_index(q);
    if (end == q->checkpoint_index)
        return;
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    if (!q->ring.journal || !q->ring.kernargs) {
        /* No record of what it wrote: anything may have been. */
        for (size_t i = 0; i < ctx->managed->n_buffers; i++)
            ctx->managed->buffers[i]->dirty = true;
    } else {
        for (uint64_t w = q->ring.journal_start; w < end; w++) {
            uint64_t slot = w & q->ring.slot_mask;
            const rochp_journal_entry *e = &q->ring.journal[slot];
            if (e->kind == ROCHP_JOURNAL_DISPATCH)
                dirty_mark_dispatch(ctx, e, q->ring.kernargs + (slot << q->ring.kernarg_shift));
        }
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
}

