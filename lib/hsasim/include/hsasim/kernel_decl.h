/* Declaring host kernels for hsasim code objects.
 *
 * A kernel is a C function over a kernarg struct.  HSASIM_KERNEL defines it,
 * its descriptor "<name>.kd" (an hsasim_kernel_object, include/hsasim/kernel.h)
 * and a table of its arguments.  rochp_add_host_code_object (CMake) builds
 * the sources into a shared object, reads the tables (tools/hostco) and adds
 * the AMDGPU metadata note that clang would emit for the same signature
 * (code object v5: NT_AMDGPU_METADATA, amdhsa.version [1, 2]).
 *
 *     #include <hsasim/kernel_decl.h>
 *
 *     typedef struct scale_args {
 *         float *out;                    // written
 *         const float *in;               // only read
 *         uint32_t n;
 *         struct { float a, b; } coef;   // a struct passed by value
 *         hsasim_implicit_args implicit; // the v5 hidden arguments (optional)
 *     } scale_args;
 *
 *     HSASIM_KERNEL(scale, scale_args, args, d,
 *                   HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
 *                   HSASIM_ARG_GLOBAL(in, HSASIM_READ_ONLY),
 *                   HSASIM_ARG_VALUE(n),
 *                   HSASIM_ARG_VALUE(coef),
 *                   HSASIM_ARG_HIDDEN_V5(implicit))
 *     {
 *         hsasim_for_each_item(d, x, y, z)
 *             if (x < args->n)
 *                 args->out[x] = args->in[x] * args->coef.a + args->coef.b;
 *     }
 *
 * Rules:
 * - Declare every member of the struct, in any order; offsets and sizes come
 *   from offsetof/sizeof, so the metadata always matches the struct (the
 *   generator refuses a struct with bytes no declaration covers, except a
 *   member small enough to sit in padding that would be there anyway).  The
 *   kernarg segment size is the end of the last declared argument rounded up
 *   to 4 (as clang computes it: tail padding is not part of it) and its
 *   alignment is max(4, _Alignof(struct)).
 * - A kernel without arguments takes a one-member struct and HSASIM_NO_ARGS.
 * - HSASIM_KERNEL_SEGMENTS(name, T, group_bytes, private_bytes, a, d, ...)
 *   also sets the group (LDS) and private segment sizes: the processor
 *   gives each work-group d->group_segment / d->private_segment of that size.
 * - At most 32 argument entries per kernel.
 *
 * Argument entries:
 *   HSASIM_ARG_GLOBAL(m, access)  pointer to global memory ("global_buffer",
 *       address space global).  access: HSASIM_READ_ONLY (emitted as
 *       .actual_access read_only and .is_const, what clang emits for
 *       `const T *__restrict__` that is only read), HSASIM_WRITE_ONLY
 *       (.actual_access write_only) or HSASIM_READ_WRITE (nothing: the
 *       runtime assumes read-write, as for a plain `T *`).
 *   HSASIM_ARG_CONSTANT(m)  pointer to constant memory (global_buffer in
 *       address space constant, .is_const; an OpenCL `__constant T *`).
 *   HSASIM_ARG_VALUE(m)  anything passed by value ("by_value": scalars,
 *       structs, arrays).
 *   HSASIM_ARG_HIDDEN(m, kind)  one hidden argument, kind one of the
 *       HSASIM_VK_HIDDEN_* values (m may be a nested designator such as
 *       implicit.hostcall_buffer).
 *   HSASIM_ARG_HIDDEN_V5(m)  m is an hsasim_implicit_args: emits the hidden
 *       arguments an optimised HIP kernel has under code object v5
 *       (block_count, group_size, remainder, global_offset xyz, grid_dims).
 *   HSASIM_NO_ARGS  the kernel takes no argument.
 *
 * Nothing here runs on the dispatch path: the tables are read at build time
 * by the note generator and then only sit in a data section. */
#ifndef HSASIM_KERNEL_DECL_H
#define HSASIM_KERNEL_DECL_H

#include <stddef.h>
#include <stdint.h>

#include "kernel.h"

/* Argument value kinds of the AMDGPU metadata (".value_kind"). */
typedef enum hsasim_value_kind {
    HSASIM_VK_UNKNOWN = 0, /* a kind this version does not know (parser only) */
    HSASIM_VK_BY_VALUE,
    HSASIM_VK_GLOBAL_BUFFER,
    HSASIM_VK_DYNAMIC_SHARED_POINTER,
    HSASIM_VK_SAMPLER,
    HSASIM_VK_IMAGE,
    HSASIM_VK_PIPE,
    HSASIM_VK_QUEUE,
    HSASIM_VK_HIDDEN_GLOBAL_OFFSET_X,
    HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Y,
    HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Z,
    HSASIM_VK_HIDDEN_NONE,
    HSASIM_VK_HIDDEN_PRINTF_BUFFER,
    HSASIM_VK_HIDDEN_HOSTCALL_BUFFER,
    HSASIM_VK_HIDDEN_DEFAULT_QUEUE,
    HSASIM_VK_HIDDEN_COMPLETION_ACTION,
    HSASIM_VK_HIDDEN_MULTIGRID_SYNC_ARG,
    HSASIM_VK_HIDDEN_HEAP_V1,
    HSASIM_VK_HIDDEN_BLOCK_COUNT_X,
    HSASIM_VK_HIDDEN_BLOCK_COUNT_Y,
    HSASIM_VK_HIDDEN_BLOCK_COUNT_Z,
    HSASIM_VK_HIDDEN_GROUP_SIZE_X,
    HSASIM_VK_HIDDEN_GROUP_SIZE_Y,
    HSASIM_VK_HIDDEN_GROUP_SIZE_Z,
    HSASIM_VK_HIDDEN_REMAINDER_X,
    HSASIM_VK_HIDDEN_REMAINDER_Y,
    HSASIM_VK_HIDDEN_REMAINDER_Z,
    HSASIM_VK_HIDDEN_GRID_DIMS,
    HSASIM_VK_HIDDEN_PRIVATE_BASE,
    HSASIM_VK_HIDDEN_SHARED_BASE,
    HSASIM_VK_HIDDEN_QUEUE_PTR,
    HSASIM_VK_HIDDEN_DYNAMIC_LDS_SIZE,
    HSASIM_VK_COUNT_,
    /* Declaration-only pseudo kinds (never in a note). */
    HSASIM_VK_DECL_NONE_ = 0x100,     /* HSASIM_NO_ARGS */
    HSASIM_VK_DECL_HIDDEN_V5_,        /* a whole hsasim_implicit_args block */
} hsasim_value_kind;

/* The metadata spelling of a value kind (AMDGPU code object v3+), or NULL.
 * The note generator writes these; the reader (lib/codeobj) keeps the same
 * table, which tests/hsasim/code_objects holds to this one. */
static inline const char *hsasim_value_kind_name(unsigned kind)
{
    static const char *const names[HSASIM_VK_COUNT_] = {
        [HSASIM_VK_BY_VALUE] = "by_value",
        [HSASIM_VK_GLOBAL_BUFFER] = "global_buffer",
        [HSASIM_VK_DYNAMIC_SHARED_POINTER] = "dynamic_shared_pointer",
        [HSASIM_VK_SAMPLER] = "sampler",
        [HSASIM_VK_IMAGE] = "image",
        [HSASIM_VK_PIPE] = "pipe",
        [HSASIM_VK_QUEUE] = "queue",
        [HSASIM_VK_HIDDEN_GLOBAL_OFFSET_X] = "hidden_global_offset_x",
        [HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Y] = "hidden_global_offset_y",
        [HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Z] = "hidden_global_offset_z",
        [HSASIM_VK_HIDDEN_NONE] = "hidden_none",
        [HSASIM_VK_HIDDEN_PRINTF_BUFFER] = "hidden_printf_buffer",
        [HSASIM_VK_HIDDEN_HOSTCALL_BUFFER] = "hidden_hostcall_buffer",
        [HSASIM_VK_HIDDEN_DEFAULT_QUEUE] = "hidden_default_queue",
        [HSASIM_VK_HIDDEN_COMPLETION_ACTION] = "hidden_completion_action",
        [HSASIM_VK_HIDDEN_MULTIGRID_SYNC_ARG] = "hidden_multigrid_sync_arg",
        [HSASIM_VK_HIDDEN_HEAP_V1] = "hidden_heap_v1",
        [HSASIM_VK_HIDDEN_BLOCK_COUNT_X] = "hidden_block_count_x",
        [HSASIM_VK_HIDDEN_BLOCK_COUNT_Y] = "hidden_block_count_y",
        [HSASIM_VK_HIDDEN_BLOCK_COUNT_Z] = "hidden_block_count_z",
        [HSASIM_VK_HIDDEN_GROUP_SIZE_X] = "hidden_group_size_x",
        [HSASIM_VK_HIDDEN_GROUP_SIZE_Y] = "hidden_group_size_y",
        [HSASIM_VK_HIDDEN_GROUP_SIZE_Z] = "hidden_group_size_z",
        [HSASIM_VK_HIDDEN_REMAINDER_X] = "hidden_remainder_x",
        [HSASIM_VK_HIDDEN_REMAINDER_Y] = "hidden_remainder_y",
        [HSASIM_VK_HIDDEN_REMAINDER_Z] = "hidden_remainder_z",
        [HSASIM_VK_HIDDEN_GRID_DIMS] = "hidden_grid_dims",
        [HSASIM_VK_HIDDEN_PRIVATE_BASE] = "hidden_private_base",
        [HSASIM_VK_HIDDEN_SHARED_BASE] = "hidden_shared_base",
        [HSASIM_VK_HIDDEN_QUEUE_PTR] = "hidden_queue_ptr",
        [HSASIM_VK_HIDDEN_DYNAMIC_LDS_SIZE] = "hidden_dynamic_lds_size",
    };
    return kind < HSASIM_VK_COUNT_ ? names[kind] : NULL;
}

/* ".address_space" */
typedef enum hsasim_address_space {
    HSASIM_AS_NONE = 0, /* not given */
    HSASIM_AS_PRIVATE,
    HSASIM_AS_GLOBAL,
    HSASIM_AS_CONSTANT,
    HSASIM_AS_LOCAL,
    HSASIM_AS_GENERIC,
    HSASIM_AS_REGION,
} hsasim_address_space;

/* ".access" / ".actual_access" */
typedef enum hsasim_access {
    HSASIM_ACCESS_NONE = 0, /* not given */
    HSASIM_READ_ONLY,
    HSASIM_WRITE_ONLY,
    HSASIM_READ_WRITE,
} hsasim_access;

/* The v5 implicit (hidden) kernel arguments, 256 bytes after the explicit
 * ones at an 8-byte aligned offset (LLVM AMDGPUUsage, "Code Object V5
 * Metadata"; offsets are those of the hidden_* value kinds). */
typedef struct hsasim_implicit_args {
    uint32_t block_count[3];      /*   0 hidden_block_count_{x,y,z} */
    uint16_t group_size[3];       /*  12 hidden_group_size_{x,y,z} */
    uint16_t remainder[3];        /*  18 hidden_remainder_{x,y,z} */
    uint64_t tool_correlation_id; /*  24 reserved for tools */
    uint64_t reserved0;           /*  32 */
    uint64_t global_offset[3];    /*  40 hidden_global_offset_{x,y,z} */
    uint16_t grid_dims;           /*  64 hidden_grid_dims */
    uint16_t reserved1[3];        /*  66 */
    uint64_t printf_buffer;       /*  72 hidden_printf_buffer */
    uint64_t hostcall_buffer;     /*  80 hidden_hostcall_buffer */
    uint64_t multigrid_sync_arg;  /*  88 hidden_multigrid_sync_arg */
    uint64_t heap_v1;             /*  96 hidden_heap_v1 */
    uint64_t default_queue;       /* 104 hidden_default_queue */
    uint64_t completion_action;   /* 112 hidden_completion_action */
    uint32_t dynamic_lds_size;    /* 120 hidden_dynamic_lds_size */
    uint8_t reserved2[68];        /* 124 */
    uint32_t private_base;        /* 192 hidden_private_base */
    uint32_t shared_base;         /* 196 hidden_shared_base */
    uint64_t queue_ptr;           /* 200 hidden_queue_ptr */
    uint8_t reserved3[48];        /* 208 */
} hsasim_implicit_args;
_Static_assert(sizeof(hsasim_implicit_args) == 256, "v5 implicit arguments are 256 bytes");
_Static_assert(offsetof(hsasim_implicit_args, global_offset) == 40, "v5 layout");
_Static_assert(offsetof(hsasim_implicit_args, grid_dims) == 64, "v5 layout");
_Static_assert(offsetof(hsasim_implicit_args, queue_ptr) == 200, "v5 layout");

/* --- the tables the note generator reads (tools/hostco) ------------------- */

#define HSASIM_DECL_ABI 1u
/* Each kernel puts a pointer to its hsasim_kernel_decl in this section. */
#define HSASIM_DECL_SECTION hsasim_kernel_decls
/* Exported by every host code object (tools/hostco/hostco_registry.c):
 * stores the first declaration pointer in *first and returns the count. */
#define HSASIM_DECL_REGISTRY_SYMBOL "hsasim_hostco_kernel_decls"

typedef struct hsasim_arg_decl {
    uint16_t value_kind;    /* hsasim_value_kind */
    uint8_t address_space;  /* hsasim_address_space */
    uint8_t access;         /* hsasim_access (global buffers) */
    uint32_t offset, size;
    const char *name; /* the member designator */
} hsasim_arg_decl;

typedef struct hsasim_kernel_decl {
    uint32_t abi; /* HSASIM_DECL_ABI */
    uint32_t n_args;
    const hsasim_kernel_object *kd;
    const hsasim_arg_decl *args;
    uint32_t struct_size, struct_align; /* of the kernarg struct: a check that every member is declared */
} hsasim_kernel_decl;

/* --- argument entries: (KIND, member, extra) tuples ------------------------ */

/* The KIND tokens are pasted, never expanded: prefixed so that no user macro
 * named like them can get in the way. */
#define HSASIM_ARG_GLOBAL(m, access) (HSASIMK_GLOBAL, m, access)
#define HSASIM_ARG_CONSTANT(m) (HSASIMK_CONSTANT, m, 0)
#define HSASIM_ARG_VALUE(m) (HSASIMK_VALUE, m, 0)
#define HSASIM_ARG_HIDDEN(m, kind) (HSASIMK_HIDDEN, m, kind)
#define HSASIM_ARG_HIDDEN_V5(m) (HSASIMK_HIDDEN_V5, m, 0)
#define HSASIM_NO_ARGS (HSASIMK_NONE, , 0)

/* --- preprocessor plumbing ------------------------------------------------- */

#define HSASIM_PP_CAT_(a, b) a##b
#define HSASIM_PP_CAT(a, b) HSASIM_PP_CAT_(a, b)
#define HSASIM_PP_ID_(...) __VA_ARGS__
#define HSASIM_PP_NARG_(...)                                                                  \
    HSASIM_PP_NARG_I_(__VA_ARGS__, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, \
                      17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define HSASIM_PP_NARG_I_(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, \
                          _17, _18, _19, _20, _21, _22, _23, _24, _25, _26, _27, _28, _29, _30, \
                          _31, _32, N, ...)                                                     \
    N
/* m(T, index, entry) for each entry. */
#define HSASIM_PP_EACH_(m, T, ...) HSASIM_PP_CAT(HSASIM_PP_E, HSASIM_PP_NARG_(__VA_ARGS__))(m, T, __VA_ARGS__)
#define HSASIM_PP_E1(m, T, x) m(T, 1, x)
#define HSASIM_PP_E2(m, T, x, ...) m(T, 2, x) HSASIM_PP_E1(m, T, __VA_ARGS__)
#define HSASIM_PP_E3(m, T, x, ...) m(T, 3, x) HSASIM_PP_E2(m, T, __VA_ARGS__)
#define HSASIM_PP_E4(m, T, x, ...) m(T, 4, x) HSASIM_PP_E3(m, T, __VA_ARGS__)
#define HSASIM_PP_E5(m, T, x, ...) m(T, 5, x) HSASIM_PP_E4(m, T, __VA_ARGS__)
#define HSASIM_PP_E6(m, T, x, ...) m(T, 6, x) HSASIM_PP_E5(m, T, __VA_ARGS__)
#define HSASIM_PP_E7(m, T, x, ...) m(T, 7, x) HSASIM_PP_E6(m, T, __VA_ARGS__)
#define HSASIM_PP_E8(m, T, x, ...) m(T, 8, x) HSASIM_PP_E7(m, T, __VA_ARGS__)
#define HSASIM_PP_E9(m, T, x, ...) m(T, 9, x) HSASIM_PP_E8(m, T, __VA_ARGS__)
#define HSASIM_PP_E10(m, T, x, ...) m(T, 10, x) HSASIM_PP_E9(m, T, __VA_ARGS__)
#define HSASIM_PP_E11(m, T, x, ...) m(T, 11, x) HSASIM_PP_E10(m, T, __VA_ARGS__)
#define HSASIM_PP_E12(m, T, x, ...) m(T, 12, x) HSASIM_PP_E11(m, T, __VA_ARGS__)
#define HSASIM_PP_E13(m, T, x, ...) m(T, 13, x) HSASIM_PP_E12(m, T, __VA_ARGS__)
#define HSASIM_PP_E14(m, T, x, ...) m(T, 14, x) HSASIM_PP_E13(m, T, __VA_ARGS__)
#define HSASIM_PP_E15(m, T, x, ...) m(T, 15, x) HSASIM_PP_E14(m, T, __VA_ARGS__)
#define HSASIM_PP_E16(m, T, x, ...) m(T, 16, x) HSASIM_PP_E15(m, T, __VA_ARGS__)
#define HSASIM_PP_E17(m, T, x, ...) m(T, 17, x) HSASIM_PP_E16(m, T, __VA_ARGS__)
#define HSASIM_PP_E18(m, T, x, ...) m(T, 18, x) HSASIM_PP_E17(m, T, __VA_ARGS__)
#define HSASIM_PP_E19(m, T, x, ...) m(T, 19, x) HSASIM_PP_E18(m, T, __VA_ARGS__)
#define HSASIM_PP_E20(m, T, x, ...) m(T, 20, x) HSASIM_PP_E19(m, T, __VA_ARGS__)
#define HSASIM_PP_E21(m, T, x, ...) m(T, 21, x) HSASIM_PP_E20(m, T, __VA_ARGS__)
#define HSASIM_PP_E22(m, T, x, ...) m(T, 22, x) HSASIM_PP_E21(m, T, __VA_ARGS__)
#define HSASIM_PP_E23(m, T, x, ...) m(T, 23, x) HSASIM_PP_E22(m, T, __VA_ARGS__)
#define HSASIM_PP_E24(m, T, x, ...) m(T, 24, x) HSASIM_PP_E23(m, T, __VA_ARGS__)
#define HSASIM_PP_E25(m, T, x, ...) m(T, 25, x) HSASIM_PP_E24(m, T, __VA_ARGS__)
#define HSASIM_PP_E26(m, T, x, ...) m(T, 26, x) HSASIM_PP_E25(m, T, __VA_ARGS__)
#define HSASIM_PP_E27(m, T, x, ...) m(T, 27, x) HSASIM_PP_E26(m, T, __VA_ARGS__)
#define HSASIM_PP_E28(m, T, x, ...) m(T, 28, x) HSASIM_PP_E27(m, T, __VA_ARGS__)
#define HSASIM_PP_E29(m, T, x, ...) m(T, 29, x) HSASIM_PP_E28(m, T, __VA_ARGS__)
#define HSASIM_PP_E30(m, T, x, ...) m(T, 30, x) HSASIM_PP_E29(m, T, __VA_ARGS__)
#define HSASIM_PP_E31(m, T, x, ...) m(T, 31, x) HSASIM_PP_E30(m, T, __VA_ARGS__)
#define HSASIM_PP_E32(m, T, x, ...) m(T, 32, x) HSASIM_PP_E31(m, T, __VA_ARGS__)

/* Unpacks an entry tuple and dispatches on its KIND token. */
#define HSASIM_ENTRY_(what, T, i, x) HSASIM_ENTRY_I_(what, T, i, HSASIM_PP_ID_ x)
#define HSASIM_ENTRY_I_(...) HSASIM_ENTRY_II_(__VA_ARGS__)
#define HSASIM_ENTRY_II_(what, T, i, K, m, extra) HSASIM_##what##_##K(T, i, m, extra)

/* End of an argument + 1, as a char array member of a union whose size is
 * then the maximum over all arguments (a constant expression). */
#define HSASIM_END_(T, i, x) HSASIM_ENTRY_(END, T, i, x)
#define HSASIM_END_M_(T, i, m) char hsasim_end##i[offsetof(T, m) + sizeof(((T *)0)->m) + 1];
#define HSASIM_END_HSASIMK_GLOBAL(T, i, m, extra) HSASIM_END_M_(T, i, m)
#define HSASIM_END_HSASIMK_CONSTANT(T, i, m, extra) HSASIM_END_M_(T, i, m)
#define HSASIM_END_HSASIMK_VALUE(T, i, m, extra) HSASIM_END_M_(T, i, m)
#define HSASIM_END_HSASIMK_HIDDEN(T, i, m, extra) HSASIM_END_M_(T, i, m)
#define HSASIM_END_HSASIMK_HIDDEN_V5(T, i, m, extra) HSASIM_END_M_(T, i, m)
#define HSASIM_END_HSASIMK_NONE(T, i, m, extra) char hsasim_end##i[1];

/* One hsasim_arg_decl initializer. */
#define HSASIM_DECL_(T, i, x) HSASIM_ENTRY_(DECL, T, i, x)
#define HSASIM_DECL_M_(T, m, kind, as, access)                                                 \
    {(uint16_t)(kind), (uint8_t)(as), (uint8_t)(access), (uint32_t)offsetof(T, m),               \
     (uint32_t)sizeof(((T *)0)->m), #m},
#define HSASIM_DECL_HSASIMK_GLOBAL(T, i, m, access)                                             \
    HSASIM_DECL_M_(T, m, HSASIM_VK_GLOBAL_BUFFER, HSASIM_AS_GLOBAL, access)
#define HSASIM_DECL_HSASIMK_CONSTANT(T, i, m, extra)                                            \
    HSASIM_DECL_M_(T, m, HSASIM_VK_GLOBAL_BUFFER, HSASIM_AS_CONSTANT, HSASIM_READ_ONLY)
#define HSASIM_DECL_HSASIMK_VALUE(T, i, m, extra)                                               \
    HSASIM_DECL_M_(T, m, HSASIM_VK_BY_VALUE, HSASIM_AS_NONE, 0)
#define HSASIM_DECL_HSASIMK_HIDDEN(T, i, m, kind) HSASIM_DECL_M_(T, m, kind, HSASIM_AS_NONE, 0)
#define HSASIM_DECL_HSASIMK_HIDDEN_V5(T, i, m, extra)                                           \
    HSASIM_DECL_M_(T, m, HSASIM_VK_DECL_HIDDEN_V5_, HSASIM_AS_NONE, 0)
#define HSASIM_DECL_HSASIMK_NONE(T, i, m, extra) {HSASIM_VK_DECL_NONE_, 0, 0, 0, 0, ""},

#define HSASIM_KERNARG_SIZE_(T, ...)                                                             \
    ((uint32_t)((sizeof(union { HSASIM_PP_EACH_(HSASIM_END_, T, __VA_ARGS__) }) - 1 + 3) & ~(size_t)3))
#define HSASIM_KERNARG_ALIGN_(T) ((uint32_t)(_Alignof(T) > 4 ? _Alignof(T) : 4))

/* --- kernels ------------------------------------------------------------------ */

#define HSASIM_KERNEL_SEGMENTS(name, T, group_bytes, private_bytes, a, d, ...)                   \
    static const hsasim_arg_decl hsasim_args_##name[] = {                                        \
        HSASIM_PP_EACH_(HSASIM_DECL_, T, __VA_ARGS__)};                                          \
    static void hsasim_body_##name(const T *a, const hsasim_dispatch *d);                         \
    static void hsasim_fn_##name(const void *kernarg, const hsasim_dispatch *dispatch)            \
    {                                                                                            \
        hsasim_body_##name((const T *)kernarg, dispatch);                                         \
    }                                                                                            \
    __attribute__((visibility("default"), used, aligned(64))) const hsasim_kernel_object          \
        hsasim_kd_##name __asm__(#name ".kd") = {                                                 \
            HSASIM_KERNEL_MAGIC,                                                                 \
            hsasim_fn_##name,                                                                    \
            #name,                                                                               \
            HSASIM_KERNARG_SIZE_(T, __VA_ARGS__),                                                \
            HSASIM_KERNARG_ALIGN_(T),                                                            \
            (group_bytes),                                                                       \
            (private_bytes)};                                                                    \
    static const hsasim_kernel_decl hsasim_decl_##name = {                                       \
        HSASIM_DECL_ABI, (uint32_t)(sizeof hsasim_args_##name / sizeof hsasim_args_##name[0]),   \
        &hsasim_kd_##name, hsasim_args_##name, (uint32_t)sizeof(T), (uint32_t)_Alignof(T)};      \
    __attribute__((used, section(HSASIM_DECL_SECTION_STR_)))                                    \
    static const hsasim_kernel_decl *const hsasim_declp_##name = &hsasim_decl_##name;            \
    static void hsasim_body_##name(const T *a __attribute__((unused)),                           \
                                   const hsasim_dispatch *d __attribute__((unused)))

#define HSASIM_KERNEL(name, T, a, d, ...) HSASIM_KERNEL_SEGMENTS(name, T, 0, 0, a, d, __VA_ARGS__)

#define HSASIM_PP_STR_(x) #x
#define HSASIM_PP_STR(x) HSASIM_PP_STR_(x)
#define HSASIM_DECL_SECTION_STR_ HSASIM_PP_STR(HSASIM_DECL_SECTION)

#endif
