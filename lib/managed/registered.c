/* Registered buffers: the application's own memory (hipMalloc'd, or the
 * runtime's pools used directly) under rochp's checkpoints.  rochp copies
 * it, rolls it back and moves it, but never allocates or frees it with the
 * runtime: what replaces it comes from the context's allocator, which the
 * application owns (rochp_hip_init sets HIP's), so that the new memory is
 * as much the application's as the old -- HIP knows a hipMalloc'd
 * address, not one rochp took from the runtime's pools behind its back.
 *
 * The allocator is copied under ctx->managed->buffer_lock and called
 * outside it (it may take the application's own locks). */
#include <stddef.h>
#include <stdlib.h>

#include "managed/managed.h"

#define REGISTER_FLAGS ROCHP_REGISTER_COPY_ALWAYS

/* With buffer_lock held: a buffer of the context sharing a byte with the range. */
static rochp_buffer *overlapping(rochp_context *ctx, const void *address, size_t size)
{
    ROCHP_ASSERT_HELD(&ctx->managed->buffer_lock);
    uintptr_t a = (uintptr_t)address;
    for (size_t i = 0; i < ctx->managed->n_buffers; i++) {
        rochp_buffer *b = ctx->managed->buffers[i];
        uintptr_t s = (uintptr_t)b->address;
        if (b->address && a < s + b->size && s < a + size)
            return b;
    }
    return NULL;
}

static rochp_status register_locked(rochp_context *ctx, rochp_device_id device, void *address,
                                    size_t size, uint32_t flags, rochp_buffer **out)
{
    ROCHP_ASSERT_GATE(ctx);
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_buffer_register: this context has no HSA runtime");
    uint64_t agent = 0;
    rochp_status st = managed_device_agent(ctx, device, &agent);
    if (st != ROCHP_OK)
        return st;
    rochp_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_buffer_register: out of memory");
    b->ctx = ctx;
    b->address = address;
    b->size = size;
    b->device = device;
    b->agent = agent;
    b->registered = true;
    b->copy_always = flags & ROCHP_REGISTER_COPY_ALWAYS;
    /* Checked and entered under one hold, so that two registrations of the
     * same range cannot both pass. */
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    rochp_buffer *other = overlapping(ctx, address, size);
    uint64_t other_id = other ? other->id : 0;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    if (other) {
        free(b);
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_buffer_register: %zu bytes at %p overlap buffer %llu "
                                "of the context",
                                size, address, (unsigned long long)other_id);
    }
    b->id = managed_new_id(ctx);
    if ((st = managed_buffer_insert(ctx, b, "rochp_buffer_register")) != ROCHP_OK) {
        free(b);
        return st;
    }
    *out = b;
    return ROCHP_OK;
}

rochp_status rochp_buffer_register(rochp_context *ctx, rochp_device_id device, void *address,
                                   size_t size, uint32_t flags, rochp_buffer **out)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, "rochp_buffer_register");
    if (st != ROCHP_OK)
        return st;
    if (!out || !address || size == 0)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_buffer_register: address and out must be set and size > 0");
    *out = NULL;
    if (flags & ~REGISTER_FLAGS)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_buffer_register: unknown flags 0x%x",
                                (unsigned)(flags & ~REGISTER_FLAGS));
    if ((uintptr_t)address + size < (uintptr_t)address)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_buffer_register: %zu bytes at %p wrap around", size,
                                address);
    runtime_gate_enter(ctx);
    /* The checkpoint lock: a checkpoint's buffer list must not grow under it. */
    pthread_mutex_lock(&ctx->managed->checkpoint_lock);
    st = register_locked(ctx, device, address, size, flags, out);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

rochp_status rochp_buffer_mark_written(rochp_buffer *b)
{
    rochp_status st = handle_check(b, HANDLE_BUFFER, "rochp_buffer_mark_written");
    if (st != ROCHP_OK)
        return st;
    pthread_mutex_lock(&b->ctx->managed->buffer_lock);
    b->dirty = true;
    /* A checkpoint that is copying must not stand for a point before it. */
    b->ctx->managed->buffer_writes++;
    pthread_mutex_unlock(&b->ctx->managed->buffer_lock);
    return ROCHP_OK;
}

rochp_status rochp_set_allocator(rochp_context *ctx, const rochp_allocator *allocator)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, "rochp_set_allocator");
    if (st != ROCHP_OK)
        return st;
    rochp_allocator a = {0};
    if (allocator) {
        if (allocator->size < offsetof(rochp_allocator, user) + sizeof(void *))
            return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_set_allocator: size %zu is smaller than this "
                                    "library's rochp_allocator (%zu bytes): set it to "
                                    "sizeof(rochp_allocator)",
                                    allocator->size, sizeof(rochp_allocator));
        if (!allocator->alloc)
            return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_set_allocator: alloc must be set (NULL allocator: "
                                    "none)");
        a.size = sizeof a;
        a.alloc = allocator->alloc;
        a.free = allocator->free;
        a.user = allocator->user;
    }
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    ctx->managed->allocator = a;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return ROCHP_OK;
}

static rochp_allocator current(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    rochp_allocator a = ctx->managed->allocator;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return a;
}

rochp_status managed_registered_alloc(rochp_context *ctx, uint64_t id, rochp_device_id device,
                                      size_t size, void **out, uint64_t *agent)
{
    *out = NULL;
    rochp_allocator a = current(ctx);
    if (!a.alloc)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "buffer %llu is the application's memory (rochp_buffer_register) "
                                "and the context has no allocator to make it again on device "
                                "%llu (rochp_set_allocator)",
                                (unsigned long long)id, (unsigned long long)device);
    rochp_status st = managed_device_agent(ctx, device, agent);
    if (st != ROCHP_OK)
        return st;
    void *p = a.alloc(ctx, device, size, a.user);
    if (!p) {
        /* The application's allocator fails on a device that died before
         * the topology said so (its runtime refuses the memory). */
        uint64_t again;
        if (managed_device_lost_now(ctx, device) ||
            managed_device_agent(ctx, device, &again) != ROCHP_OK)
            return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                    "the allocator gave no memory for buffer %llu on device "
                                    "%llu, which has been lost",
                                    (unsigned long long)id, (unsigned long long)device);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "the allocator gave no memory for buffer %llu (%zu bytes) on "
                                "device %llu",
                                (unsigned long long)id, size, (unsigned long long)device);
    }
    *out = p;
    return ROCHP_OK;
}

void managed_registered_free(rochp_context *ctx, rochp_device_id device, void *address)
{
    rochp_allocator a = current(ctx);
    if (a.free && address)
        a.free(ctx, device, address, a.user);
}
