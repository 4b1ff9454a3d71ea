/* HIP memory in rochp's checkpoints: registration of hipMalloc'd and
 * hipHostMalloc'd ranges (rochp_buffer_register with the device HIP says
 * holds them), and the allocator rochp_hip_init gives the context, so that
 * what a recovery or a load makes again is HIP's memory at an address HIP
 * knows (hipMemcpy, kernels, hipFree all work on it) rather than pool
 * memory HIP never heard of. */
#include <stddef.h>

#include <hip/hip_runtime_api.h>

#include <rochp/rochp_hip.h>

#include "hip_internal.h"

static void *hip_alloc(rochp_context *ctx, rochp_device_id device, size_t size, void *user)
{
    (void)user;
    void *p = NULL;
    if (device == ROCHP_HOST)
        return hipHostMalloc(&p, size, hipHostMallocDefault) == hipSuccess ? p : NULL;
    int ordinal, was;
    if (rochp_hip_ordinal(ctx, device, &ordinal) != ROCHP_OK || hipGetDevice(&was) != hipSuccess)
        return NULL;
    /* hipMalloc allocates on the thread's current device. */
    if (hipSetDevice(ordinal) != hipSuccess)
        return NULL;
    if (hipMalloc(&p, size) != hipSuccess)
        p = NULL;
    (void)hipSetDevice(was);
    return p;
}

static void hip_release(rochp_context *ctx, rochp_device_id device, void *address, void *user)
{
    (void)user;
    if (device == ROCHP_HOST) {
        (void)hipHostFree(address);
        return;
    }
    /* A lost device's memory went with it; hipFree would first wait for
     * that device's streams, whose work transparent mode failed. */
    int ordinal;
    if (rochp_hip_ordinal(ctx, device, &ordinal) == ROCHP_OK && rochp_hip_device_usable(ordinal))
        (void)hipFree(address);
}

rochp_status hip_set_allocator(rochp_context *ctx)
{
    rochp_allocator a = {.size = sizeof a, .alloc = hip_alloc, .free = hip_release};
    return rochp_set_allocator(ctx, &a);
}

rochp_status rochp_hip_register(rochp_context *ctx, void *address, size_t size, uint32_t flags,
                                rochp_buffer **out)
{
    if (!out || !address || size == 0)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT,
                        "rochp_hip_register: address and out must be set and size > 0");
    *out = NULL;
    hipPointerAttribute_t attr;
    void *base = NULL;
    size_t extent = 0;
    if (hipPointerGetAttributes(&attr, address) != hipSuccess ||
        hipMemGetAddressRange(&base, &extent, address) != hipSuccess)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT,
                        "rochp_hip_register: %p is not memory HIP allocated (hipMalloc, "
                        "hipHostMalloc)",
                        address);
    size_t offset = (size_t)((char *)address - (char *)base);
    if (size > extent || offset > extent - size)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT,
                        "rochp_hip_register: %zu bytes at %p run past HIP's allocation (%zu "
                        "bytes at %p)",
                        size, address, extent, base);
    rochp_device_id device = ROCHP_HOST;
    if (attr.memoryType == hipMemoryTypeDevice) {
        rochp_status st = rochp_hip_device(ctx, attr.device, &device);
        if (st != ROCHP_OK)
            return st;
    } else if (attr.memoryType != hipMemoryTypeHost) {
        return hip_fail(ROCHP_ERROR_NOT_SUPPORTED,
                        "rochp_hip_register: %p is HIP memory of type %d (device and pinned "
                        "host memory only)",
                        address, (int)attr.memoryType);
    }
    return rochp_buffer_register(ctx, device, address, size, flags, out);
}
