/* ROCclr's blit kernels as hsasim host kernels (HIP 5.2.3 and 5.7.1).
 *
 * HIP's runtime (ROCclr) does fills and some copies with kernels it compiles
 * at run time with COMGR from its own OpenCL source (ROCclr rocm-5.2.3 and
 * clr rocm-5.7.1, rocclr/device/blitcl.cpp BlitLinearSourceCode and
 * HipExtraSourceCode; the names are rocblit.hpp's BlitName), whose bodies are
 * ROCm-Device-Libs opencl/src/misc/amdblit.cl (__amd_fillBufferAligned ...
 * __amd_streamOpsWait).  hsasim runs host code only, so blit_bind.c loads
 * this host code object in place of that program after checking, kernel by
 * kernel, that the real object's kernarg layout is the one declared here.
 *
 * The file is built twice, once per layout of the hidden arguments, because
 * the two HIP versions' COMGR emit different code object versions:
 * - code object v4 (HIP 5.2.3, clang-15): after the explicit arguments, the
 *   hidden global offsets x, y, z and four hidden_none words (56 bytes,
 *   LLVM AMDGPUUsage "Code Object V3 Metadata", OpenCL's hidden arguments);
 * - code object v5 (HIP 5.7.1, built with SIM_BLIT_V5): the 256-byte implicit
 *   argument block (hsasim_implicit_args; AMDGPUUsage "Code Object V5
 *   Metadata"), of which COMGR's blit kernels list block_count, group_size,
 *   remainder, global_offset and grid_dims, read there from a 5.7.1 program.
 * ROCclr writes each hidden argument at the offset the real object's
 * metadata gives it (clr rocm-5.7.1 rocclr/device/rocm/rocvirtual.cpp,
 * VirtualGPU::submitKernelInternal, the switch over
 * KernelParameterDescriptor::Hidden*), so the host kernel must declare the
 * same layout; blit_bind.c takes the image whose metadata version is the real
 * object's and refuses any other difference.  get_global_id(n) is the
 * work-item id plus the hidden global offset, as on the GPU (ROCclr splits a
 * large grid into dispatches with non-zero offsets).
 *
 * The streamOps, initHeap and gwsInit kernels use no implicit argument.
 *
 * This file is compiled into host code objects (rochp_add_host_code_object),
 * not into the runtime. */
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <hsasim/kernel_decl.h>

#ifdef SIM_BLIT_V5
#define BLIT_HIDDEN_MEMBERS hsasim_implicit_args implicit;
#define BLIT_HIDDEN_ARGS HSASIM_ARG_HIDDEN_V5(implicit)
#define BLIT_GLOBAL_OFFSET(a, dim) ((a)->implicit.global_offset[dim])
#else
#define BLIT_HIDDEN_MEMBERS                                                                  \
    uint64_t global_offset_x, global_offset_y, global_offset_z;                              \
    uint64_t none0, none1, none2, none3;
#define BLIT_HIDDEN_ARGS                                                                     \
    HSASIM_ARG_HIDDEN(global_offset_x, HSASIM_VK_HIDDEN_GLOBAL_OFFSET_X),                    \
        HSASIM_ARG_HIDDEN(global_offset_y, HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Y),                \
        HSASIM_ARG_HIDDEN(global_offset_z, HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Z),                \
        HSASIM_ARG_HIDDEN(none0, HSASIM_VK_HIDDEN_NONE),                                     \
        HSASIM_ARG_HIDDEN(none1, HSASIM_VK_HIDDEN_NONE),                                     \
        HSASIM_ARG_HIDDEN(none2, HSASIM_VK_HIDDEN_NONE),                                     \
        HSASIM_ARG_HIDDEN(none3, HSASIM_VK_HIDDEN_NONE)
#define BLIT_GLOBAL_OFFSET(a, dim)                                                           \
    ((dim) == 0 ? (a)->global_offset_x : (dim) == 1 ? (a)->global_offset_y : (a)->global_offset_z)
#endif

/* --- fills -------------------------------------------------------------------- */

typedef struct fill_args {
    uint8_t *buf_uchar;
    uint16_t *buf_ushort;
    uint32_t *buf_uint;
    uint64_t *buf_ulong;
    const uint8_t *pattern;
    uint32_t pattern_size; /* in elements of the buffer's type */
    uint64_t offset;       /* in elements */
    uint64_t size;         /* work-items */
    BLIT_HIDDEN_MEMBERS
} fill_args;

typedef struct fill2d_args {
    uint8_t *buf_uchar;
    uint16_t *buf_ushort;
    uint32_t *buf_uint;
    uint64_t *buf_ulong;
    const uint8_t *pattern;
    uint32_t pattern_size;
    uint64_t origin, width, height, pitch; /* in elements */
    BLIT_HIDDEN_MEMBERS
} fill2d_args;

/* amdblit.cl: the first non-null of ulong, uint, ushort, uchar is the buffer;
 * pattern_size elements of that type go to element offset + index. */
static void fill_elements(uint8_t *c, uint16_t *s, uint32_t *i, uint64_t *l,
                          const uint8_t *pattern, uint32_t n, uint64_t at)
{
    if (l)
        memcpy(l + at, pattern, (size_t)n * 8);
    else if (i)
        memcpy(i + at, pattern, (size_t)n * 4);
    else if (s)
        memcpy(s + at, pattern, (size_t)n * 2);
    else if (c)
        memcpy(c + at, pattern, n);
}

HSASIM_KERNEL(__amd_rocclr_fillBufferAligned, fill_args, a, d,
              HSASIM_ARG_GLOBAL(buf_uchar, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(buf_ushort, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(buf_uint, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(buf_ulong, HSASIM_READ_WRITE), HSASIM_ARG_CONSTANT(pattern),
              HSASIM_ARG_VALUE(pattern_size), HSASIM_ARG_VALUE(offset), HSASIM_ARG_VALUE(size),
              BLIT_HIDDEN_ARGS)
{
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y;
        (void)z;
        uint64_t id = BLIT_GLOBAL_OFFSET(a, 0) + x;
        if (id < a->size)
            fill_elements(a->buf_uchar, a->buf_ushort, a->buf_uint, a->buf_ulong, a->pattern,
                          a->pattern_size, a->offset + id * a->pattern_size);
    }
}

HSASIM_KERNEL(__amd_rocclr_fillBufferAligned2D, fill2d_args, a, d,
              HSASIM_ARG_GLOBAL(buf_uchar, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(buf_ushort, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(buf_uint, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(buf_ulong, HSASIM_READ_WRITE), HSASIM_ARG_CONSTANT(pattern),
              HSASIM_ARG_VALUE(pattern_size), HSASIM_ARG_VALUE(origin), HSASIM_ARG_VALUE(width),
              HSASIM_ARG_VALUE(height), HSASIM_ARG_VALUE(pitch), BLIT_HIDDEN_ARGS)
{
    hsasim_for_each_item(d, x, y, z)
    {
        (void)z;
        uint64_t tx = BLIT_GLOBAL_OFFSET(a, 0) + x, ty = BLIT_GLOBAL_OFFSET(a, 1) + y;
        if (tx < a->width && ty < a->height)
            fill_elements(a->buf_uchar, a->buf_ushort, a->buf_uint, a->buf_ulong, a->pattern,
                          a->pattern_size, a->origin + ty * a->pitch + tx);
    }
}

/* --- linear copies -------------------------------------------------------------- */

typedef struct copy_args {
    uint8_t *src;
    uint8_t *dst;
    uint64_t src_origin, dst_origin, size;
    uint32_t remain; /* copyBuffer: 8 = bytewise, else dwords and `remain` bytes last */
    BLIT_HIDDEN_MEMBERS
} copy_args;

typedef struct copy_aligned_args {
    uint32_t *src;
    uint32_t *dst;
    uint64_t src_origin, dst_origin, size; /* in units of `alignment` bytes */
    uint32_t alignment;                    /* 16: uint4 elements, else uint */
    BLIT_HIDDEN_MEMBERS
} copy_aligned_args;

HSASIM_KERNEL(__amd_rocclr_copyBuffer, copy_args, a, d,
              HSASIM_ARG_GLOBAL(src, HSASIM_READ_WRITE), HSASIM_ARG_GLOBAL(dst, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(src_origin), HSASIM_ARG_VALUE(dst_origin), HSASIM_ARG_VALUE(size),
              HSASIM_ARG_VALUE(remain), BLIT_HIDDEN_ARGS)
{
    const uint8_t *src = a->src + a->src_origin;
    uint8_t *dst = a->dst + a->dst_origin;
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y;
        (void)z;
        uint64_t id = BLIT_GLOBAL_OFFSET(a, 0) + x;
        if (id >= a->size)
            continue;
        if (a->remain == 8)
            dst[id] = src[id];
        else if (id < a->size - 1)
            memcpy(dst + id * 4, src + id * 4, 4);
        else
            memcpy(dst + id * 4, src + id * 4, a->remain);
    }
}

HSASIM_KERNEL(__amd_rocclr_copyBufferAligned, copy_aligned_args, a, d,
              HSASIM_ARG_GLOBAL(src, HSASIM_READ_WRITE), HSASIM_ARG_GLOBAL(dst, HSASIM_READ_WRITE),
              HSASIM_ARG_VALUE(src_origin), HSASIM_ARG_VALUE(dst_origin), HSASIM_ARG_VALUE(size),
              HSASIM_ARG_VALUE(alignment), BLIT_HIDDEN_ARGS)
{
    size_t unit = a->alignment == 16 ? 16 : 4;
    uint8_t *src = (uint8_t *)a->src, *dst = (uint8_t *)a->dst;
    hsasim_for_each_item(d, x, y, z)
    {
        (void)y;
        (void)z;
        uint64_t id = BLIT_GLOBAL_OFFSET(a, 0) + x;
        if (id < a->size)
            memcpy(dst + (id + a->dst_origin) * unit, src + (id + a->src_origin) * unit, unit);
    }
}

/* --- rectangle copies ------------------------------------------------------------- */

/* ulong4 arguments: a rect is {row pitch, slice pitch, origin, -} and size
 * {x, y, z, element size} (amdblit.cl __amd_copyBufferRect{,Aligned}).
 * clang aligns a ulong4 at 32, so the real layout has 16 bytes of padding
 * before src_rect; the note generator wants every byte declared, so the
 * padding is declared hidden_none, which blit_bind.c accepts where the real
 * layout has no argument. */
typedef struct rect_args {
    uint8_t *src;
    uint8_t *dst;
    uint64_t padding[2];
    _Alignas(32) uint64_t src_rect[4];
    uint64_t dst_rect[4];
    uint64_t size[4];
    BLIT_HIDDEN_MEMBERS
} rect_args;

static void copy_rect(const rect_args *a, const hsasim_dispatch *d, size_t unit)
{
    hsasim_for_each_item(d, x, y, z)
    {
        uint64_t gx = BLIT_GLOBAL_OFFSET(a, 0) + x, gy = BLIT_GLOBAL_OFFSET(a, 1) + y,
                 gz = BLIT_GLOBAL_OFFSET(a, 2) + z;
        if (gx >= a->size[0] || gy >= a->size[1] || gz >= a->size[2])
            continue;
        uint64_t s = a->src_rect[2] + gx + gy * a->src_rect[0] + gz * a->src_rect[1];
        uint64_t t = a->dst_rect[2] + gx + gy * a->dst_rect[0] + gz * a->dst_rect[1];
        memcpy(a->dst + t * unit, a->src + s * unit, unit);
    }
}

HSASIM_KERNEL(__amd_rocclr_copyBufferRect, rect_args, a, d,
              HSASIM_ARG_GLOBAL(src, HSASIM_READ_WRITE), HSASIM_ARG_GLOBAL(dst, HSASIM_READ_WRITE),
              HSASIM_ARG_HIDDEN(padding, HSASIM_VK_HIDDEN_NONE), HSASIM_ARG_VALUE(src_rect), HSASIM_ARG_VALUE(dst_rect), HSASIM_ARG_VALUE(size),
              BLIT_HIDDEN_ARGS)
{
    copy_rect(a, d, 1);
}

HSASIM_KERNEL(__amd_rocclr_copyBufferRectAligned, rect_args, a, d,
              HSASIM_ARG_GLOBAL(src, HSASIM_READ_WRITE), HSASIM_ARG_GLOBAL(dst, HSASIM_READ_WRITE),
              HSASIM_ARG_HIDDEN(padding, HSASIM_VK_HIDDEN_NONE), HSASIM_ARG_VALUE(src_rect), HSASIM_ARG_VALUE(dst_rect), HSASIM_ARG_VALUE(size),
              BLIT_HIDDEN_ARGS)
{
    copy_rect(a, d, a->size[3] == 16 ? 16 : 4);
}

/* --- stream memory operations (hipStreamWriteValue / hipStreamWaitValue) ---------- */

typedef struct stream_write_args {
    uint32_t *ptr_uint;
    uint64_t *ptr_ulong;
    uint64_t value;
    uint64_t size_bytes; /* declared by ROCclr, unused by amdblit.cl */
} stream_write_args;

typedef struct stream_wait_args {
    uint32_t *ptr_uint;
    uint64_t *ptr_ulong;
    uint64_t value, compare, mask;
} stream_wait_args;

/* One work-item: a relaxed atomic store of 32 bits when ptr_uint is set,
 * else 64 bits (amdblit.cl __amd_streamOpsWrite). */
HSASIM_KERNEL(__amd_rocclr_streamOpsWrite, stream_write_args, a, d,
              HSASIM_ARG_GLOBAL(ptr_uint, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(ptr_ulong, HSASIM_READ_WRITE), HSASIM_ARG_VALUE(value),
              HSASIM_ARG_VALUE(size_bytes))
{
    if (a->ptr_uint)
        __atomic_store_n(a->ptr_uint, (uint32_t)a->value, __ATOMIC_RELAXED);
    else
        __atomic_store_n(a->ptr_ulong, a->value, __ATOMIC_RELAXED);
}

static int wait_done(uint64_t v, uint64_t value, uint64_t compare, uint64_t mask)
{
    switch (compare) {
    case 0: return (v & mask) >= value; /* GEQ (unsigned after the promotions of amdblit.cl) */
    case 1: return (v & mask) == value; /* EQ */
    case 2: return ((v & mask) & value) != 0; /* AND */
    case 3: return ((v | value) & mask) != mask; /* NOR */
    default: return 1; /* amdblit.cl's switch has no other case: no wait */
    }
}

/* Spins on the word as the wave does (s_sleep between loads): the queue
 * stays busy until the condition holds (amdblit.cl __amd_streamOpsWait). */
HSASIM_KERNEL(__amd_rocclr_streamOpsWait, stream_wait_args, a, d,
              HSASIM_ARG_GLOBAL(ptr_uint, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(ptr_ulong, HSASIM_READ_WRITE), HSASIM_ARG_VALUE(value),
              HSASIM_ARG_VALUE(compare), HSASIM_ARG_VALUE(mask))
{
    uint64_t value = a->value, mask = a->mask;
    if (a->ptr_uint) {
        value = (uint32_t)value;
        mask = (uint32_t)mask;
    }
    for (;;) {
        uint64_t v = a->ptr_uint ? __atomic_load_n(a->ptr_uint, __ATOMIC_ACQUIRE)
                                 : __atomic_load_n(a->ptr_ulong, __ATOMIC_ACQUIRE);
        if (wait_done(v, value, a->compare, mask))
            return;
        nanosleep(&(struct timespec){0, 1000}, NULL);
    }
}

/* --- HIP 5.7.1's heap and GWS set-up (clr rocm-5.7.1 blitcl.cpp HipExtraSourceCode) --- */

typedef struct init_heap_args {
    uint64_t heap_to_initialize, initial_blocks;
    uint32_t heap_size, number_of_initial_blocks;
} init_heap_args;

typedef struct gws_init_args {
    uint32_t value;
} gws_init_args;

/* ROCclr runs it once per device, when a kernel's metadata asks for
 * hidden_heap_v1 (rocvirtual.cpp, HiddenHeap -> Device::HiddenHeapAlloc), to
 * lay out the heap of device-side malloc (ROCm-Device-Libs ockl dm.cl,
 * __ockl_dm_init_v1).  The heap's only users are __ockl_dm_alloc/free in GPU
 * code; a host kernel has none and hsasim's kernel declarations have no
 * hidden_heap_v1, so there is no layout anyone could read: the heap is left as
 * ROCclr allocated it. */
HSASIM_KERNEL(__amd_rocclr_initHeap, init_heap_args, a, d, HSASIM_ARG_VALUE(heap_to_initialize),
              HSASIM_ARG_VALUE(initial_blocks), HSASIM_ARG_VALUE(heap_size),
              HSASIM_ARG_VALUE(number_of_initial_blocks))
{
}

/* ROCclr runs it before a cooperative launch that uses the global wave sync
 * unit (__ockl_gws_init: ds_gws_init of the hardware barrier).  hsasim's
 * packet processor has no GWS: a host kernel's grid-wide barrier is not
 * built on it, so there is no counter to set. */
HSASIM_KERNEL(__amd_rocclr_gwsInit, gws_init_args, a, d, HSASIM_ARG_VALUE(value))
{
}
