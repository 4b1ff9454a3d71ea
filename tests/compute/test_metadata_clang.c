/* The code object metadata reader on real AMDGPU code objects, built at
 * build time by Debian's clang-15 for gfx90a and gfx1100 as code object v4
 * and v5 (kernels.cl): every argument's offset, size, value kind, address
 * space and constness is asserted, explicit and hidden.  The expected values
 * are the OpenCL/AMDGPU ABI (LLVM AMDGPUUsage: kernarg layout by size and
 * alignment; the v4 and v5 hidden-argument blocks), written out here. */
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
/* v4's hidden block follows the explicit arguments, 8-byte slots; the
 * pointer-valued ones (and the reserved slots) are in the global space. */
static const want_arg geometry_v4_args[] = {
    {0, 8, "global_buffer", "global", false},
    {8, 8, "hidden_global_offset_x", NULL, false},
    {16, 8, "hidden_global_offset_y", NULL, false},
    {24, 8, "hidden_global_offset_z", NULL, false},
    {32, 8, "hidden_hostcall_buffer", "global", false},
    {40, 8, "hidden_none", "global", false},
    {48, 8, "hidden_none", "global", false},
    {56, 8, "hidden_multigrid_sync_arg", "global", false},
};
/* v5's implicit block starts at 8: counts, group sizes, remainders, then
 * offsets at +40, grid dims at +64, hostcall +80, multigrid +88, heap +96,
 * queue pointer +200 (pointers: global space); 256 bytes in all. */
static const want_arg geometry_v5_args[] = {
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
    REQUIRE(argc == 5); /* gfx90a v4, gfx90a v5, gfx1100 v4, gfx1100 v5 */
    static const struct {
        const char *target;
        uint32_t version, wave;
    } cases[] = {{"gfx90a", 4, 64}, {"gfx90a", 5, 64}, {"gfx1100", 4, 32}, {"gfx1100", 5, 32}};
    for (int c = 0; c < 4; c++) {
        size_t size;
        void *image = slurp(argv[1 + c], &size);
        codeobj_elf elf;
        char err[256];
        REQUIRE(codeobj_read_elf(image, size, &elf, err, sizeof err) == 0);
        CHECK_EQ_U64(elf.e_machine, 224); /* EM_AMDGPU */
        codeobj_metadata *md = NULL;
        if (codeobj_parse_metadata(image, size, &md, err, sizeof err) != 0) {
            fprintf(stderr, "%s: %s\n", argv[1 + c], err);
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
        check_kernel(argv[1 + c], md, "combine", 52, cases[c].wave, combine_args,
                     sizeof combine_args / sizeof *combine_args);
        check_kernel(argv[1 + c], md, "fill", 12, cases[c].wave, fill_args,
                     sizeof fill_args / sizeof *fill_args);
        if (cases[c].version == 4)
            check_kernel(argv[1 + c], md, "geometry", 64, cases[c].wave, geometry_v4_args,
                         sizeof geometry_v4_args / sizeof *geometry_v4_args);
        else
            check_kernel(argv[1 + c], md, "geometry", 264, cases[c].wave, geometry_v5_args,
                         sizeof geometry_v5_args / sizeof *geometry_v5_args);
        codeobj_metadata_free(md);
        free(image);
    }
    return check_result();
}
