/* Reading code objects: the ELF facts a loader checks, the dynamic symbols,
 * and the AMDGPU metadata note (NT_AMDGPU_METADATA, code object v3..v6: a
 * msgpack map, LLVM AMDGPUUsage "Code Object V3..V5 Metadata").  One reader
 * for librochp's modules and hsasim's loader, for host code objects
 * (rochp_add_host_code_object) and real AMDGPU ones alike.
 *
 * Everything here is a pure function of an in-memory image: no runtime
 * state, no locks, every offset bounds-checked.  Arbitrary bytes give an
 * error message, never a crash or an unbounded allocation (msgpack-c
 * allocates a container's declared element count up front, so the note is
 * checked structurally before it is unpacked).  The fuzz target
 * tests/hsasim/code_objects/fuzz_code_object.c holds this to account. */
#ifndef ROCHP_CODEOBJ_CODEOBJ_H
#define ROCHP_CODEOBJ_CODEOBJ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CODEOBJ_ERROR_MAX 256
/* Larger notes are refused: real ones are a few KiB per kernel. */
#define CODEOBJ_MAX_NOTE_BYTES (64u << 20)
#define CODEOBJ_NT_AMDGPU_METADATA 32

/* Argument value kinds (".value_kind").  Numbered as hsasim's
 * hsasim_value_kind (include/hsasim/kernel_decl.h), which the note generator
 * writes from; tests/hsasim/code_objects checks that the two agree. */
typedef enum codeobj_value_kind {
    CODEOBJ_VK_UNKNOWN = 0, /* a kind this version does not know */
    CODEOBJ_VK_BY_VALUE,
    CODEOBJ_VK_GLOBAL_BUFFER,
    CODEOBJ_VK_DYNAMIC_SHARED_POINTER,
    CODEOBJ_VK_SAMPLER,
    CODEOBJ_VK_IMAGE,
    CODEOBJ_VK_PIPE,
    CODEOBJ_VK_QUEUE,
    CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_X,
    CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_Y,
    CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_Z,
    CODEOBJ_VK_HIDDEN_NONE,
    CODEOBJ_VK_HIDDEN_PRINTF_BUFFER,
    CODEOBJ_VK_HIDDEN_HOSTCALL_BUFFER,
    CODEOBJ_VK_HIDDEN_DEFAULT_QUEUE,
    CODEOBJ_VK_HIDDEN_COMPLETION_ACTION,
    CODEOBJ_VK_HIDDEN_MULTIGRID_SYNC_ARG,
    CODEOBJ_VK_HIDDEN_HEAP_V1,
    CODEOBJ_VK_HIDDEN_BLOCK_COUNT_X,
    CODEOBJ_VK_HIDDEN_BLOCK_COUNT_Y,
    CODEOBJ_VK_HIDDEN_BLOCK_COUNT_Z,
    CODEOBJ_VK_HIDDEN_GROUP_SIZE_X,
    CODEOBJ_VK_HIDDEN_GROUP_SIZE_Y,
    CODEOBJ_VK_HIDDEN_GROUP_SIZE_Z,
    CODEOBJ_VK_HIDDEN_REMAINDER_X,
    CODEOBJ_VK_HIDDEN_REMAINDER_Y,
    CODEOBJ_VK_HIDDEN_REMAINDER_Z,
    CODEOBJ_VK_HIDDEN_GRID_DIMS,
    CODEOBJ_VK_HIDDEN_PRIVATE_BASE,
    CODEOBJ_VK_HIDDEN_SHARED_BASE,
    CODEOBJ_VK_HIDDEN_QUEUE_PTR,
    CODEOBJ_VK_HIDDEN_DYNAMIC_LDS_SIZE,
    CODEOBJ_VK_COUNT_,
} codeobj_value_kind;

/* ".address_space" */
typedef enum codeobj_address_space {
    CODEOBJ_AS_NONE = 0, /* not given */
    CODEOBJ_AS_PRIVATE,
    CODEOBJ_AS_GLOBAL,
    CODEOBJ_AS_CONSTANT,
    CODEOBJ_AS_LOCAL,
    CODEOBJ_AS_GENERIC,
    CODEOBJ_AS_REGION,
} codeobj_address_space;

/* ".access" / ".actual_access"; the values are rochp_access's too. */
typedef enum codeobj_access {
    CODEOBJ_ACCESS_NONE = 0, /* not given */
    CODEOBJ_ACCESS_READ_ONLY = 1,
    CODEOBJ_ACCESS_WRITE_ONLY = 2,
    CODEOBJ_ACCESS_READ_WRITE = 3,
} codeobj_access;

typedef struct codeobj_arg {
    const char *name;            /* ".name", NULL when absent */
    const char *type_name;       /* ".type_name", NULL when absent */
    const char *value_kind_name; /* ".value_kind" as written */
    codeobj_value_kind value_kind; /* CODEOBJ_VK_UNKNOWN for a kind this version does not know */
    codeobj_address_space address_space; /* CODEOBJ_AS_NONE when absent */
    codeobj_access access;        /* ".access", CODEOBJ_ACCESS_NONE when absent */
    codeobj_access actual_access; /* ".actual_access", CODEOBJ_ACCESS_NONE when absent */
    bool is_const, is_restrict, is_volatile, is_pipe;
    uint32_t offset, size;
    uint32_t pointee_align; /* 0 when absent */
} codeobj_arg;

typedef struct codeobj_kernel {
    const char *name;   /* ".name" */
    const char *symbol; /* ".symbol", "<name>.kd" */
    uint32_t kernarg_segment_size, kernarg_segment_align;
    uint32_t group_segment_fixed_size, private_segment_fixed_size;
    uint32_t wavefront_size;          /* 64 when absent */
    uint32_t sgpr_count, vgpr_count;  /* 0 when absent */
    uint32_t max_flat_workgroup_size; /* 0 when absent */
    bool uses_dynamic_stack;
    uint32_t n_args;
    codeobj_arg *args; /* in the order of the note (clang: by offset) */
} codeobj_kernel;

typedef struct codeobj_metadata {
    uint32_t version_major, version_minor; /* amdhsa.version: [1, 2] is code object v5 */
    const char *target; /* amdhsa.target, NULL when absent */
    uint32_t n_kernels;
    codeobj_kernel *kernels;
    void *storage_; /* owns everything above */
} codeobj_metadata;

/* The ELF header fields the loader decides on. */
typedef struct codeobj_elf {
    uint8_t ei_class, ei_data, ei_osabi, ei_abiversion;
    uint16_t e_type, e_machine;
    uint32_t e_flags;
} codeobj_elf;

/* A symbol of .dynsym; name points into the image. */
typedef struct codeobj_symbol {
    const char *name;
    uint8_t type, bind, visibility; /* STT_*, STB_*, STV_* */
    bool defined;                   /* st_shndx != SHN_UNDEF */
    uint64_t value, size;
    uint64_t section_flags, section_align; /* of its section; 0 when not known */
} codeobj_symbol;

/* --- the ELF image (elf.c) ---------------------------------------------------- */

/* Reads and checks the ELF header (64-bit little-endian only, as every AMDGPU
 * and x86-64/aarch64 host code object is).  0 or -1 with err filled. */
int codeobj_read_elf(const void *image, size_t size, codeobj_elf *out, char *err, size_t err_size);

/* Finds the NT_AMDGPU_METADATA note (owner "AMDGPU") in the SHT_NOTE
 * sections, or in the PT_NOTE segments when the image has no section
 * headers.  1 found (*desc, *desc_size point into image), 0 none, -1 the
 * image is malformed (err filled). */
int codeobj_find_metadata_note(const void *image, size_t size, const void **desc,
                               size_t *desc_size, char *err, size_t err_size);

/* The same for any note: owner (its name, e.g. "AMDGPU") and type. */
int codeobj_find_note(const void *image, size_t size, const char *owner, uint32_t type,
                      const void **desc, size_t *desc_size, char *err, size_t err_size);

/* The .dynsym symbols of the image (*out is malloc'ed, free() it; names
 * point into the image).  An image without section headers or without
 * .dynsym gives 0 symbols.  0 or -1 with err filled. */
int codeobj_dynamic_symbols(const void *image, size_t size, codeobj_symbol **out, size_t *count,
                            char *err, size_t err_size);

/* --- the metadata note (metadata.c) ------------------------------------------- */

/* Decodes a metadata note descriptor (the msgpack map).  0 with *out set (free
 * with codeobj_metadata_free), or -1 with err naming what is wrong, e.g.
 * "amdhsa.kernels[1] (scale): .args[2]: .offset is missing". */
int codeobj_parse_metadata_msgpack(const void *data, size_t size, codeobj_metadata **out,
                                   char *err, size_t err_size);

/* Both of the above on an ELF image.  A missing note is an error. */
int codeobj_parse_metadata(const void *image, size_t size, codeobj_metadata **out, char *err,
                           size_t err_size);

void codeobj_metadata_free(codeobj_metadata *md);

const codeobj_kernel *codeobj_find_kernel(const codeobj_metadata *md, const char *symbol);

/* The specification's spellings. */
const char *codeobj_value_kind_name(codeobj_value_kind kind); /* NULL for unknown */
const char *codeobj_access_name(codeobj_access access);       /* NULL for NONE */
const char *codeobj_address_space_name(codeobj_address_space as);

/* How the kernel may access what a global_buffer argument points to: the
 * actual access when the compiler proved it, else the declared access, else
 * read-only for a const pointee, else read-write (what the spec tells a
 * runtime to assume). */
codeobj_access codeobj_arg_effective_access(const codeobj_arg *arg);

#endif
