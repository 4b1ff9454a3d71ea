/* Reading code objects: the ELF facts hsasim's loader checks, the dynamic
 * symbols, and the AMDGPU metadata note (NT_AMDGPU_METADATA, code object
 * v3..v6: a msgpack map, LLVM AMDGPUUsage "Code Object V3..V5 Metadata").
 * The same reader serves host code objects (rochp_add_host_code_object) and
 * real AMDGPU ones.
 *
 * Everything here is a pure function of an in-memory image: no runtime
 * state, no locks, every offset bounds-checked.  Arbitrary bytes give an
 * error message, never a crash or an unbounded allocation (msgpack-c
 * allocates a container's declared element count up front, so the note is
 * checked structurally before it is unpacked).  The fuzz target
 * tests/hsasim/code_objects/fuzz_code_object.c holds this to account. */
#ifndef HSASIM_CODE_OBJECT_H
#define HSASIM_CODE_OBJECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsasim/kernel_decl.h" /* hsasim_value_kind, hsasim_access, ... */

#define SIM_CO_ERROR_MAX 256
/* Larger notes are refused: real ones are a few KiB per kernel. */
#define SIM_CO_MAX_NOTE_BYTES (64u << 20)
#define SIM_CO_NT_AMDGPU_METADATA 32

typedef struct sim_co_arg {
    const char *name;            /* ".name", NULL when absent */
    const char *type_name;       /* ".type_name", NULL when absent */
    const char *value_kind_name; /* ".value_kind" as written */
    hsasim_value_kind value_kind; /* HSASIM_VK_UNKNOWN for a kind this version does not know */
    hsasim_address_space address_space; /* HSASIM_AS_NONE when absent */
    hsasim_access access;        /* ".access", HSASIM_ACCESS_NONE when absent */
    hsasim_access actual_access; /* ".actual_access", HSASIM_ACCESS_NONE when absent */
    bool is_const, is_restrict, is_volatile, is_pipe;
    uint32_t offset, size;
    uint32_t pointee_align; /* 0 when absent */
} sim_co_arg;

typedef struct sim_co_kernel {
    const char *name;   /* ".name" */
    const char *symbol; /* ".symbol", "<name>.kd" */
    uint32_t kernarg_segment_size, kernarg_segment_align;
    uint32_t group_segment_fixed_size, private_segment_fixed_size;
    uint32_t wavefront_size;          /* 64 when absent */
    uint32_t sgpr_count, vgpr_count;  /* 0 when absent */
    uint32_t max_flat_workgroup_size; /* 0 when absent */
    bool uses_dynamic_stack;
    uint32_t n_args;
    sim_co_arg *args; /* in the order of the note (clang: by offset) */
} sim_co_kernel;

typedef struct sim_co_metadata {
    uint32_t version_major, version_minor; /* amdhsa.version: [1, 2] is code object v5 */
    const char *target; /* amdhsa.target, NULL when absent */
    uint32_t n_kernels;
    sim_co_kernel *kernels;
    void *storage_; /* owns everything above */
} sim_co_metadata;

/* The ELF header fields the loader decides on. */
typedef struct sim_co_elf {
    uint8_t ei_class, ei_data, ei_osabi, ei_abiversion;
    uint16_t e_type, e_machine;
    uint32_t e_flags;
} sim_co_elf;

/* A symbol of .dynsym; name points into the image. */
typedef struct sim_co_symbol {
    const char *name;
    uint8_t type, bind, visibility; /* STT_*, STB_*, STV_* */
    bool defined;                   /* st_shndx != SHN_UNDEF */
    uint64_t value, size;
    uint64_t section_flags, section_align; /* of its section; 0 when not known */
} sim_co_symbol;

/* Reads and checks the ELF header (64-bit little-endian only, as every AMDGPU
 * and x86-64/aarch64 host code object is).  0 or -1 with err filled. */
int sim_co_read_elf(const void *image, size_t size, sim_co_elf *out, char *err, size_t err_size);

/* Finds the NT_AMDGPU_METADATA note (owner "AMDGPU") in the SHT_NOTE
 * sections, or in the PT_NOTE segments when the image has no section
 * headers.  1 found (*desc, *desc_size point into image), 0 none, -1 the
 * image is malformed (err filled). */
int sim_co_find_metadata_note(const void *image, size_t size, const void **desc,
                              size_t *desc_size, char *err, size_t err_size);

/* Decodes a metadata note descriptor (the msgpack map).  0 with *out set (free
 * with sim_co_metadata_free), or -1 with err naming what is wrong, e.g.
 * "amdhsa.kernels[1] (scale): .args[2]: .offset is missing". */
int sim_co_parse_metadata_msgpack(const void *data, size_t size, sim_co_metadata **out,
                                  char *err, size_t err_size);

/* Both of the above on an ELF image.  A missing note is an error. */
int sim_co_parse_metadata(const void *image, size_t size, sim_co_metadata **out, char *err,
                          size_t err_size);

void sim_co_metadata_free(sim_co_metadata *md);

/* The .dynsym symbols of the image (*out is malloc'ed, free() it; names
 * point into the image).  An image without section headers or without
 * .dynsym gives 0 symbols.  0 or -1 with err filled. */
int sim_co_dynamic_symbols(const void *image, size_t size, sim_co_symbol **out, size_t *count,
                           char *err, size_t err_size);

/* Lookups. */
const sim_co_kernel *sim_co_find_kernel(const sim_co_metadata *md, const char *symbol);
const char *sim_co_value_kind_name(hsasim_value_kind kind); /* NULL for unknown */
const char *sim_co_access_name(hsasim_access access);       /* NULL for NONE */
const char *sim_co_address_space_name(hsasim_address_space as);

/* How the kernel may access what a global_buffer argument points to: the
 * actual access when the compiler proved it, else the declared access, else
 * read-only for a const pointee, else read-write (what the spec tells a
 * runtime to assume). */
hsasim_access sim_co_arg_effective_access(const sim_co_arg *arg);

/* --- executable.c -------------------------------------------------------- */
/* Destroys every executable (ROCR loses them all when the runtime closes).
 * For hsa_shut_down when the count reaches 0; takes the loader's lock, so it
 * may be called with sim_rt.lock held but not from a symbol callback. */
void sim_executables_release_all(void);

#endif
