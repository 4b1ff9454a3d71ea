/* The code object metadata reader on real AMDGPU code objects, built at
 * build time by Debian's clang (15 in Debian 12, 19 in Debian 13) for gfx90a
 * and gfx1100 as code object v4 and v5 (kernels.cl): every argument's offset,
 * size, value kind, address space and constness is asserted, explicit and
 * hidden.  The expected values are the OpenCL/AMDGPU ABI (LLVM AMDGPUUsage:
 * kernarg layout by size and alignment; the v4 and v5 hidden-argument
 * blocks), written out here, per clang: the two emit different hidden
 * arguments for the same kernel (see the geometry tables).  The clang's major
 * version is the test's first argument (CMake reads it off clang --version). */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codeobj/codeobj.h"

typedef struct want_arg {
    uint32_t offset, size;
    const char *kind;
    const char *space; /* NULL: no address space */
    bool is_const;
} want_arg;

static const want_arg combine_args[] = {
    {0, 8, "global_buffer", "global", false},  /* __global float *out */
    {8, 8, "global_buffer", "global", true},   /* __global const float *in */
    {16, 8, "global_buffer", "constant", true}, /* __constant int *table */
    {24, 4, "by_value", NULL, false},          /* uint n */
    {32, 16, "by_value", NULL, false},         /* params p: 4 + 4 + 8, aligned to 8 */
    {48, 4, "dynamic_shared_pointer", "local", false}, /* __local float *: 32-bit */
};
static const want_arg fill_args[] = {
    {0, 8, "global_buffer", "global", false},
    {8, 4, "by_value", NULL, false},
};
/* clang-15 (LLVM 15 AMDGPUHSAMetadataStreamer.cpp, MetadataStreamerV3::
 * emitHiddenKernelArgs): v4's hidden block follows the explicit arguments,
 * 8-byte slots; the pointer-valued ones (and the reserved slots) are in the
 * global space; default queue and completion action only for a kernel that
 * enqueues ("calls-enqueue-kernel"), hidden_none otherwise. */
static const want_arg geometry_v4_clang15[] = {
    {0, 8, "global_buffer", "global", false},
    {8, 8, "hidden_global_offset_x", NULL, false},
    {16, 8, "hidden_global_offset_y", NULL, false},
    {24, 8, "hidden_global_offset_z", NULL, false},
    {32, 8, "hidden_hostcall_buffer", "global", false},
    {40, 8, "hidden_none", "global", false},
    {48, 8, "hidden_none", "global", false},
    {56, 8, "hidden_multigrid_sync_arg", "global", false},
};
/* clang-15, v5: the implicit block starts at 8: counts, group sizes,
 * remainders, then offsets at +40, grid dims at +64, hostcall +80, multigrid
 * +88, heap +96, queue pointer +200 (pointers: global space); 256 bytes in
 * all. */
static const want_arg geometry_v5_clang15[] = {
    {0, 8, "global_buffer", "global", false},
    {8, 4, "hidden_block_count_x", NULL, false},
    {12, 4, "hidden_block_count_y", NULL, false},
    {16, 4, "hidden_block_count_z", NULL, false},
    {20, 2, "hidden_group_size_x", NULL, false},
    {22, 2, "hidden_group_size_y", NULL, false},
    {24, 2, "hidden_group_size_z", NULL, false},
    {26, 2, "hidden_remainder_x", NULL, false},
    {28, 2, "hidden_remainder_y", NULL, false},
    {30, 2, "hidden_remainder_z", NULL, false},
    {48, 8, "hidden_global_offset_x", NULL, false},
    {56, 8, "hidden_global_offset_y", NULL, false},
    {64, 8, "hidden_global_offset_z", NULL, false},
    {72, 2, "hidden_grid_dims", NULL, false},
    {88, 8, "hidden_hostcall_buffer", "global", false},
    {96, 8, "hidden_multigrid_sync_arg", "global", false},
    {104, 8, "hidden_heap_v1", "global", false},
    {208, 8, "hidden_queue_ptr", "global", false},
};
/* clang-19 (LLVM 19 AMDGPUHSAMetadataStreamer.cpp, emitHiddenKernelArgs of
 * MetadataStreamerMsgPackV4 and V5; AMDGPUUsage "Code Object V5 Metadata"):
 * - default queue and completion action are emitted unless the attributor
 *   proved them unused (the "amdgpu-no-default-queue" and
 *   "amdgpu-no-completion-action" attributes); geometry reads the implicit
 *   block at a run-time index, so nothing is proved and both are there: v4
 *   at +32 and +40 of its block, v5 at +104 and +112;
 * - emitKernelArg writes .address_space only for global_buffer and
 *   dynamic_shared_pointer ("Limiting address space to emit only for a
 *   certain ValueKind"), so the hidden pointers have none.
 * The v5 block is otherwise clang-15's: printf (+72) is skipped without
 * llvm.printf.fmts, dynamic LDS size (+120) when none is used, private and
 * shared base (+192) on targets with aperture registers (gfx90a, gfx1100). */
static const want_arg geometry_v4_clang19[] = {
    {0, 8, "global_buffer", "global", false},
    {8, 8, "hidden_global_offset_x", NULL, false},
    {16, 8, "hidden_global_offset_y", NULL, false},
    {24, 8, "hidden_global_offset_z", NULL, false},
    {32, 8, "hidden_hostcall_buffer", NULL, false},
    {40, 8, "hidden_default_queue", NULL, false},
    {48, 8, "hidden_completion_action", NULL, false},
    {56, 8, "hidden_multigrid_sync_arg", NULL, false},
};
static const want_arg geometry_v5_clang19[] = {
    {0, 8, "global_buffer", "global", false},
    {8, 4, "hidden_block_count_x", NULL, false},
    {12, 4, "hidden_block_count_y", NULL, false},
    {16, 4, "hidden_block_count_z", NULL, false},
    {20, 2, "hidden_group_size_x", NULL, false},
    {22, 2, "hidden_group_size_y", NULL, false},
    {24, 2, "hidden_group_size_z", NULL, false},
    {26, 2, "hidden_remainder_x", NULL, false},
    {28, 2, "hidden_remainder_y", NULL, false},
    {30, 2, "hidden_remainder_z", NULL, false},
    {48, 8, "hidden_global_offset_x", NULL, false},
    {56, 8, "hidden_global_offset_y", NULL, false},
    {64, 8, "hidden_global_offset_z", NULL, false},
    {72, 2, "hidden_grid_dims", NULL, false},
    {88, 8, "hidden_hostcall_buffer", NULL, false},
    {96, 8, "hidden_multigrid_sync_arg", NULL, false},
    {104, 8, "hidden_heap_v1", NULL, false},
    {112, 8, "hidden_default_queue", NULL, false},
    {120, 8, "hidden_completion_action", NULL, false},
    {208, 8, "hidden_queue_ptr", NULL, false},
};

/* The geometry kernel's expected hidden arguments, by clang major version. */
static const struct {
    int clang;
    const want_arg *v4, *v5;
    size_t n_v4, n_v5;
} geometry_by_clang[] = {
    {15, geometry_v4_clang15, geometry_v5_clang15,
     sizeof geometry_v4_clang15 / sizeof *geometry_v4_clang15,
     sizeof geometry_v5_clang15 / sizeof *geometry_v5_clang15},
    {19, geometry_v4_clang19, geometry_v5_clang19,
     sizeof geometry_v4_clang19 / sizeof *geometry_v4_clang19,
     sizeof geometry_v5_clang19 / sizeof *geometry_v5_clang19},
};

static const char *space_name(codeobj_address_space as)
{
    switch (as) {
    case CODEOBJ_AS_GLOBAL: return "global";
    case CODEOBJ_AS_CONSTANT: return "constant";
    case CODEOBJ_AS_LOCAL: return "local";
    default: return NULL;
    }
}

static void check_kernel(const char *file, const codeobj_metadata *md, const char *name,
                         uint32_t kernarg_size, uint32_t wave, const want_arg *want, size_t n)
{
    const codeobj_kernel *k = NULL;
    for (uint32_t i = 0; i < md->n_kernels; i++)
        if (strcmp(md->kernels[i].name, name) == 0)
            k = &md->kernels[i];
    if (!k) {
        fprintf(stderr, "%s: no kernel %s\n", file, name);
        check_failures++;
        return;
    }
    char symbol[64];
    snprintf(symbol, sizeof symbol, "%s.kd", name);
    CHECK_EQ_STR(k->symbol, symbol);
    CHECK_EQ_U64(k->kernarg_segment_size, kernarg_size);
    CHECK_EQ_U64(k->kernarg_segment_align, 8);
    CHECK_EQ_U64(k->wavefront_size, wave);
    CHECK_EQ_U64(k->n_args, n);
    for (size_t i = 0; i < n && i < k->n_args; i++) {
        const codeobj_arg *a = &k->args[i];
        if (a->offset != want[i].offset || a->size != want[i].size ||
            strcmp(a->value_kind_name, want[i].kind) != 0 || a->is_const != want[i].is_const ||
            (want[i].space ? !space_name(a->address_space) ||
                                 strcmp(space_name(a->address_space), want[i].space) != 0
                           : a->address_space != CODEOBJ_AS_NONE)) {
            fprintf(stderr, "%s: %s arg %zu: got offset %u size %u %s %s%s, want %u %u %s %s%s\n",
                    file, name, i, a->offset, a->size, a->value_kind_name,
                    space_name(a->address_space) ? space_name(a->address_space) : "-",
                    a->is_const ? " const" : "", want[i].offset, want[i].size, want[i].kind,
                    want[i].space ? want[i].space : "-", want[i].is_const ? " const" : "");
            check_failures++;
        }
    }
}

static void *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *buf = malloc((size_t)n);
    REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--no-clang") == 0) {
        fprintf(stderr, "clang-15 (Debian 12) or clang-19 (Debian 13) is not installed: no real code objects to read\n");
        return TEST_SKIP;
    }
    /* clang's major version, then gfx90a v4, gfx90a v5, gfx1100 v4, gfx1100 v5 */
    REQUIRE(argc == 6);
    int clang = atoi(argv[1]);
    int g = -1;
    for (int i = 0; i < (int)(sizeof geometry_by_clang / sizeof *geometry_by_clang); i++)
        if (geometry_by_clang[i].clang == clang)
            g = i;
    if (g < 0) {
        fprintf(stderr, "no expected hidden arguments for clang %s: add its table (checked "
                        "against that LLVM's AMDGPUHSAMetadataStreamer.cpp)\n", argv[1]);
        return 1;
    }
    static const struct {
        const char *target;
        uint32_t version, wave;
    } cases[] = {{"gfx90a", 4, 64}, {"gfx90a", 5, 64}, {"gfx1100", 4, 32}, {"gfx1100", 5, 32}};
    for (int c = 0; c < 4; c++) {
        size_t size;
        void *image = slurp(argv[2 + c], &size);
        codeobj_elf elf;
        char err[256];
        REQUIRE(codeobj_read_elf(image, size, &elf, err, sizeof err) == 0);
        CHECK_EQ_U64(elf.e_machine, 224); /* EM_AMDGPU */
        codeobj_metadata *md = NULL;
        if (codeobj_parse_metadata(image, size, &md, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", argv[2 + c], err);
            check_failures++;
            free(image);
            continue;
        }
        CHECK_EQ_U64(md->version_major, 1);
        CHECK_EQ_U64(md->version_minor, cases[c].version == 5 ? 2 : 1);
        char target[64];
        snprintf(target, sizeof target, "amdgcn-amd-amdhsa--%s", cases[c].target);
        CHECK(md->target && strncmp(md->target, target, strlen(target)) == 0);
        CHECK_EQ_U64(md->n_kernels, 3);
        check_kernel(argv[2 + c], md, "combine", 52, cases[c].wave, combine_args,
                     sizeof combine_args / sizeof *combine_args);
        check_kernel(argv[2 + c], md, "fill", 12, cases[c].wave, fill_args,
                     sizeof fill_args / sizeof *fill_args);
        if (cases[c].version == 4)
            check_kernel(argv[2 + c], md, "geometry", 64, cases[c].wave, geometry_by_clang[g].v4,
                         geometry_by_clang[g].n_v4);
        else
            check_kernel(argv[2 + c], md, "geometry", 264, cases[c].wave, geometry_by_clang[g].v5,
                         geometry_by_clang[g].n_v5);
        codeobj_metadata_free(md);
        free(image);
    }
    return check_result();
}
