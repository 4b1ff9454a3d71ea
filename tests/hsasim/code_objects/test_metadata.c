/* The metadata of a host code object built by rochp_add_host_code_object:
 *   - the note sits in a SHT_NOTE section .note.AMDGPU, owner "AMDGPU", type
 *     NT_AMDGPU_METADATA, and its descriptor is the msgpack the generator wrote;
 *   - the whole msgpack document, keys in their written order, is exactly the
 *     structure clang's code object v5 metadata streamer emits for these
 *     signatures (golden text below, derived from the kernarg structs by hand:
 *     offsets, sizes, kinds, address spaces, access per argument);
 *   - the parser's records (lib/codeobj) carry the same values, and its value
 *     kind names are kernel_decl.h's;
 *   - the descriptors "<name>.kd" agree with the metadata, and calling the
 *     descriptor's function with a hand-made dispatch runs the kernel;
 *   - when clang could build scale.cl for gfx90a, every explicit argument of
 *     the real AMDGPU code object matches the host one.
 * usage: hsasim_co_metadata BASIC.co BASIC.msgpack AMDGPU.co|- */
#include <dlfcn.h>
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "check.h"
#include "codeobj/codeobj.h"
#include "test_kernels.h"

#if defined(__x86_64__)
#define HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define HOST_MACHINE EM_AARCH64
#endif

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

/* --- msgpack as text, keys in file order ---------------------------------------- */

typedef struct text {
    char *s;
    size_t len, cap;
} text;

static void put(text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->s = realloc(t->s, t->cap);
        REQUIRE(t->s);
    }
    memcpy(t->s + t->len, s, n);
    t->len += n;
    t->s[t->len] = 0;
}

static void puts_(text *t, const char *s)
{
    put(t, s, strlen(s));
}

static void dump(text *t, const msgpack_object *o)
{
    char num[32];
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        snprintf(num, sizeof num, "%llu", (unsigned long long)o->via.u64);
        puts_(t, num);
        break;
    case MSGPACK_OBJECT_BOOLEAN: puts_(t, o->via.boolean ? "true" : "false"); break;
    case MSGPACK_OBJECT_STR: put(t, o->via.str.ptr, o->via.str.size); break;
    case MSGPACK_OBJECT_ARRAY:
        puts_(t, "[");
        for (uint32_t i = 0; i < o->via.array.size; i++) {
            if (i)
                puts_(t, ", ");
            dump(t, &o->via.array.ptr[i]);
        }
        puts_(t, "]");
        break;
    case MSGPACK_OBJECT_MAP:
        puts_(t, "{");
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            if (i)
                puts_(t, ", ");
            dump(t, &o->via.map.ptr[i].key);
            puts_(t, ": ");
            dump(t, &o->via.map.ptr[i].val);
        }
        puts_(t, "}");
        break;
    default: puts_(t, "<unexpected type>");
    }
}

/* The kernel map keys clang writes (LLVM's msgpack document keeps maps
 * sorted), with the values for host kernels: no registers, HIP's default
 * maximum work-group size, wave64. */
#define KERNEL_TAIL(group, align, size, name, priv)                                              \
    ".group_segment_fixed_size: " #group ", .kernarg_segment_align: " #align                     \
    ", .kernarg_segment_size: " #size ", .max_flat_workgroup_size: 1024, .name: " #name          \
    ", .private_segment_fixed_size: " #priv ", .sgpr_count: 0, .sgpr_spill_count: 0, "           \
    ".symbol: " #name ".kd, .uses_dynamic_stack: false, .vgpr_count: 0, .vgpr_spill_count: 0, " \
    ".wavefront_size: 64}"

#define HIDDEN(off, size, kind) "{.offset: " #off ", .size: " #size ", .value_kind: " #kind "}"

static const char expected[] =
    "{amdhsa.kernels: ["
    /* reduce_args: result@0, table@8 (__constant), flag@16 (bool), scale@24
     * (double), hostcall@32 (hidden), count@40 (2 bytes): the segment ends at
     * 42, rounded up to 44; alignment 8 (double, pointers) */
    "{.args: ["
    "{.address_space: global, .name: result, .offset: 0, .size: 8, .value_kind: global_buffer}, "
    "{.address_space: constant, .is_const: true, .name: table, .offset: 8, .size: 8, "
    ".value_kind: global_buffer}, "
    "{.name: flag, .offset: 16, .size: 1, .value_kind: by_value}, "
    "{.name: scale, .offset: 24, .size: 8, .value_kind: by_value}, "
    HIDDEN(32, 8, hidden_hostcall_buffer) ", "
    "{.name: count, .offset: 40, .size: 2, .value_kind: by_value}], "
    KERNEL_TAIL(4096, 8, 44, reduce, 64) ", "
    /* scale_args: out@0 (written only), in@8 (const, read only), n@16,
     * coef@20 (12-byte struct), tail@32; the v5 hidden arguments from 40
     * (alignTo(36, 8)), 256 bytes: segment 296 */
    "{.args: ["
    "{.actual_access: write_only, .address_space: global, .name: out, .offset: 0, .size: 8, "
    ".value_kind: global_buffer}, "
    "{.actual_access: read_only, .address_space: global, .is_const: true, .name: in, "
    ".offset: 8, .size: 8, .value_kind: global_buffer}, "
    "{.name: n, .offset: 16, .size: 4, .value_kind: by_value}, "
    "{.name: coef, .offset: 20, .size: 12, .value_kind: by_value}, "
    "{.name: tail, .offset: 32, .size: 4, .value_kind: by_value}, "
    HIDDEN(40, 4, hidden_block_count_x) ", " HIDDEN(44, 4, hidden_block_count_y) ", "
    HIDDEN(48, 4, hidden_block_count_z) ", " HIDDEN(52, 2, hidden_group_size_x) ", "
    HIDDEN(54, 2, hidden_group_size_y) ", " HIDDEN(56, 2, hidden_group_size_z) ", "
    HIDDEN(58, 2, hidden_remainder_x) ", " HIDDEN(60, 2, hidden_remainder_y) ", "
    HIDDEN(62, 2, hidden_remainder_z) ", " HIDDEN(80, 8, hidden_global_offset_x) ", "
    HIDDEN(88, 8, hidden_global_offset_y) ", " HIDDEN(96, 8, hidden_global_offset_z) ", "
    HIDDEN(104, 2, hidden_grid_dims) "], "
    KERNEL_TAIL(0, 8, 296, scale, 0) ", "
    /* tick: no arguments */
    "{.args: [], " KERNEL_TAIL(0, 4, 0, tick, 0) "], "
    "amdhsa.version: [1, 2]}";

static void check_document(const uint8_t *desc, size_t size)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    REQUIRE(msgpack_unpack_next(&u, (const char *)desc, size, &off) == MSGPACK_UNPACK_SUCCESS);
    CHECK_EQ_U64(off, size);
    text t = {0};
    dump(&t, &u.data);
    CHECK_EQ_STR(t.s, expected);
    free(t.s);
    msgpack_unpacked_destroy(&u);
}

/* --- the ELF side ----------------------------------------------------------------- */

static void check_note_section(const uint8_t *img, size_t size, const uint8_t *msgpack,
                               size_t msgpack_size)
{
    Elf64_Ehdr eh;
    REQUIRE(size >= sizeof eh);
    memcpy(&eh, img, sizeof eh);
    REQUIRE(eh.e_shoff && eh.e_shoff + (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) <= size);
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(img + eh.e_shoff);
    const char *names = (const char *)img + sh[eh.e_shstrndx].sh_offset;
    int found = 0;
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        if (strcmp(names + sh[i].sh_name, ".note.AMDGPU") != 0)
            continue;
        found++;
        CHECK_EQ_U64(sh[i].sh_type, SHT_NOTE);
        CHECK_EQ_U64(sh[i].sh_addralign, 4);
        CHECK_EQ_U64(sh[i].sh_offset % 4, 0);
        const uint8_t *p = img + sh[i].sh_offset;
        Elf64_Nhdr nh;
        memcpy(&nh, p, sizeof nh);
        CHECK_EQ_U64(nh.n_namesz, 7);
        CHECK_EQ_U64(nh.n_type, CODEOBJ_NT_AMDGPU_METADATA);
        CHECK(memcmp(p + sizeof nh, "AMDGPU", 7) == 0);
        CHECK_EQ_U64(nh.n_descsz, msgpack_size);
        CHECK(memcmp(p + sizeof nh + 8, msgpack, msgpack_size) == 0);
        CHECK_EQ_U64(sh[i].sh_size, sizeof nh + 8 + ((msgpack_size + 3) & ~(size_t)3));
    }
    CHECK_EQ_U64(found, 1);

    codeobj_elf elf;
    char err[CODEOBJ_ERROR_MAX];
    REQUIRE(codeobj_read_elf(img, size, &elf, err, sizeof err) == 0);
    CHECK_EQ_U64(elf.e_type, ET_DYN);
    CHECK_EQ_U64(elf.e_machine, HOST_MACHINE);
    const void *desc = NULL;
    size_t desc_size = 0;
    CHECK(codeobj_find_metadata_note(img, size, &desc, &desc_size, err, sizeof err) == 1);
    CHECK_EQ_U64(desc_size, msgpack_size);
    CHECK(desc && memcmp(desc, msgpack, msgpack_size) == 0);

    /* Exported objects: the three descriptors and the two variables. */
    codeobj_symbol *syms;
    size_t n;
    REQUIRE(codeobj_dynamic_symbols(img, size, &syms, &n, err, sizeof err) == 0);
    const char *want[] = {"scale.kd", "tick.kd", "reduce.kd", "hsasim_test_counter",
                          "hsasim_test_banner"};
    for (size_t w = 0; w < sizeof want / sizeof *want; w++) {
        const codeobj_symbol *hit = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(syms[i].name, want[w]) == 0)
                hit = &syms[i];
        CHECK(hit != NULL);
        if (!hit)
            continue;
        CHECK(hit->defined);
        CHECK_EQ_U64(hit->type, STT_OBJECT);
        CHECK_EQ_U64(hit->bind, STB_GLOBAL);
        if (strstr(want[w], ".kd"))
            CHECK(hit->size >= sizeof(hsasim_kernel_object));
    }
    free(syms);
}

/* --- the parser's records ---------------------------------------------------------- */

typedef struct want_arg {
    const char *name;
    uint32_t offset, size;
    codeobj_value_kind kind;
    codeobj_address_space as;
    codeobj_access actual;
    bool is_const;
    codeobj_access effective;
} want_arg;

static void check_args(const codeobj_kernel *k, const want_arg *want, uint32_t n)
{
    CHECK_EQ_U64(k->n_args, n);
    for (uint32_t i = 0; i < n && i < k->n_args; i++) {
        const codeobj_arg *a = &k->args[i];
        const want_arg *w = &want[i];
        if (w->name)
            CHECK_EQ_STR(a->name, w->name);
        else
            CHECK(a->name == NULL);
        CHECK_EQ_U64(a->offset, w->offset);
        CHECK_EQ_U64(a->size, w->size);
        CHECK_EQ_U64(a->value_kind, w->kind);
        CHECK_EQ_STR(a->value_kind_name, codeobj_value_kind_name(w->kind));
        CHECK_EQ_U64(a->address_space, w->as);
        CHECK_EQ_U64(a->actual_access, w->actual);
        CHECK_EQ_U64(a->access, CODEOBJ_ACCESS_NONE);
        CHECK_EQ_U64(a->is_const, w->is_const);
        CHECK_EQ_U64(codeobj_arg_effective_access(a), w->effective);
    }
}

#define V(name, off, size)                                                                     \
    {#name, off, size, CODEOBJ_VK_BY_VALUE, CODEOBJ_AS_NONE, 0, false, CODEOBJ_ACCESS_READ_WRITE}
#define H(off, size, kind)                                                                     \
    {NULL, off, size, CODEOBJ_VK_HIDDEN_##kind, CODEOBJ_AS_NONE, 0, false, CODEOBJ_ACCESS_READ_WRITE}

/* The note generator spells value kinds with kernel_decl.h's table and the
 * reader has its own (lib/codeobj uses nothing of hsasim): the same
 * numbering, the same words. */
static void check_kind_names(void)
{
    CHECK_EQ_U64(CODEOBJ_VK_COUNT_, HSASIM_VK_COUNT_);
    for (unsigned k = 0; k < HSASIM_VK_COUNT_; k++) {
        const char *decl = hsasim_value_kind_name(k);
        const char *reader = codeobj_value_kind_name((codeobj_value_kind)k);
        if (decl || reader)
            CHECK_EQ_STR(reader ? reader : "(none)", decl ? decl : "(none)");
    }
}

static void check_records(const codeobj_metadata *md)
{
    CHECK_EQ_U64(md->version_major, 1);
    CHECK_EQ_U64(md->version_minor, 2);
    CHECK(md->target == NULL);
    REQUIRE(md->n_kernels == 3);

    const codeobj_kernel *scale = codeobj_find_kernel(md, "scale.kd");
    REQUIRE(scale);
    CHECK_EQ_STR(scale->name, "scale");
    CHECK_EQ_U64(scale->kernarg_segment_size, sizeof(scale_args));
    CHECK_EQ_U64(scale->kernarg_segment_size, 296);
    CHECK_EQ_U64(scale->kernarg_segment_align, 8);
    CHECK_EQ_U64(scale->group_segment_fixed_size, 0);
    CHECK_EQ_U64(scale->private_segment_fixed_size, 0);
    CHECK_EQ_U64(scale->wavefront_size, 64);
    CHECK_EQ_U64(scale->max_flat_workgroup_size, 1024);
    CHECK(!scale->uses_dynamic_stack);
    const uint32_t imp = (uint32_t)offsetof(scale_args, implicit);
    const want_arg scale_want[] = {
        {"out", 0, 8, CODEOBJ_VK_GLOBAL_BUFFER, CODEOBJ_AS_GLOBAL, CODEOBJ_ACCESS_WRITE_ONLY, false,
         CODEOBJ_ACCESS_WRITE_ONLY},
        {"in", 8, 8, CODEOBJ_VK_GLOBAL_BUFFER, CODEOBJ_AS_GLOBAL, CODEOBJ_ACCESS_READ_ONLY, true,
         CODEOBJ_ACCESS_READ_ONLY},
        V(n, 16, 4),
        V(coef, 20, 12),
        V(tail, 32, 4),
        H(imp + 0, 4, BLOCK_COUNT_X),
        H(imp + 4, 4, BLOCK_COUNT_Y),
        H(imp + 8, 4, BLOCK_COUNT_Z),
        H(imp + 12, 2, GROUP_SIZE_X),
        H(imp + 14, 2, GROUP_SIZE_Y),
        H(imp + 16, 2, GROUP_SIZE_Z),
        H(imp + 18, 2, REMAINDER_X),
        H(imp + 20, 2, REMAINDER_Y),
        H(imp + 22, 2, REMAINDER_Z),
        H(imp + 40, 8, GLOBAL_OFFSET_X),
        H(imp + 48, 8, GLOBAL_OFFSET_Y),
        H(imp + 56, 8, GLOBAL_OFFSET_Z),
        H(imp + 64, 2, GRID_DIMS),
    };
    CHECK_EQ_U64(imp, 40);
    check_args(scale, scale_want, sizeof scale_want / sizeof *scale_want);

    const codeobj_kernel *reduce = codeobj_find_kernel(md, "reduce.kd");
    REQUIRE(reduce);
    CHECK_EQ_U64(reduce->kernarg_segment_size, 44); /* not sizeof (48): no tail padding */
    CHECK_EQ_U64(reduce->kernarg_segment_align, 8);
    CHECK_EQ_U64(reduce->group_segment_fixed_size, 4096);
    CHECK_EQ_U64(reduce->private_segment_fixed_size, 64);
    const want_arg reduce_want[] = {
        {"result", 0, 8, CODEOBJ_VK_GLOBAL_BUFFER, CODEOBJ_AS_GLOBAL, 0, false,
         CODEOBJ_ACCESS_READ_WRITE},
        {"table", 8, 8, CODEOBJ_VK_GLOBAL_BUFFER, CODEOBJ_AS_CONSTANT, 0, true,
         CODEOBJ_ACCESS_READ_ONLY},
        V(flag, 16, 1),
        V(scale, 24, 8),
        H(32, 8, HOSTCALL_BUFFER),
        V(count, 40, 2),
    };
    check_args(reduce, reduce_want, sizeof reduce_want / sizeof *reduce_want);

    const codeobj_kernel *tick = codeobj_find_kernel(md, "tick.kd");
    REQUIRE(tick);
    CHECK_EQ_U64(tick->kernarg_segment_size, 0);
    CHECK_EQ_U64(tick->kernarg_segment_align, 4);
    CHECK_EQ_U64(tick->n_args, 0);
}

/* --- descriptors and a direct call ----------------------------------------------------- */

static void check_descriptors(const char *path, const codeobj_metadata *md)
{
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    REQUIRE(so);
    for (uint32_t i = 0; i < md->n_kernels; i++) {
        const codeobj_kernel *k = &md->kernels[i];
        const hsasim_kernel_object *kd = dlsym(so, k->symbol);
        REQUIRE(kd);
        CHECK_EQ_U64(kd->magic, HSASIM_KERNEL_MAGIC);
        CHECK(kd->fn != NULL);
        CHECK_EQ_STR(kd->name, k->name);
        CHECK_EQ_U64(kd->kernarg_size, k->kernarg_segment_size);
        CHECK_EQ_U64(kd->kernarg_align, k->kernarg_segment_align);
        CHECK_EQ_U64(kd->group_segment_size, k->group_segment_fixed_size);
        CHECK_EQ_U64(kd->private_segment_size, k->private_segment_fixed_size);
        CHECK_EQ_U64((uintptr_t)kd % 64, 0); /* aligned like an AMDGPU descriptor */
    }
    /* The C function behind scale.kd, on two work-groups of 64 (the second partial). */
    const hsasim_kernel_object *kd = dlsym(so, "scale.kd");
    REQUIRE(kd);
    float in[100], out[100];
    for (int i = 0; i < 100; i++) {
        in[i] = (float)i;
        out[i] = -1.0f;
    }
    scale_args args = {.out = out, .in = in, .n = 90, .coef = {2.0f, 1.0f, 3}, .tail = 4};
    hsasim_dispatch d = {.dimensions = 1,
                         .grid_size = {100, 1, 1},
                         .workgroup_size = {64, 1, 1},
                         .group_count = {2, 1, 1}};
    for (uint32_t g = 0; g < 2; g++) {
        d.group_id[0] = g;
        kd->fn(&args, &d);
    }
    for (int i = 0; i < 100; i++)
        CHECK(out[i] == (i < 90 ? (float)i * 2.0f + 1.0f + 7.0f : -1.0f));
    dlclose(so);
}

/* --- against clang ---------------------------------------------------------------------- */

/* Where the first n arguments end, rounded up to 4 as clang rounds. */
static uint32_t args_end(const codeobj_kernel *k, uint32_t n)
{
    uint32_t end = 0;
    for (uint32_t i = 0; i < n && i < k->n_args; i++) {
        const codeobj_arg *a = &k->args[i];
        if (a->value_kind < CODEOBJ_VK_HIDDEN_GLOBAL_OFFSET_X && a->offset + a->size > end)
            end = a->offset + a->size;
    }
    return (end + 3) & ~3u;
}

static void compare_with_clang(const char *path, const codeobj_metadata *host)
{
    size_t size;
    uint8_t *img = read_file(path, &size);
    codeobj_elf elf;
    char err[CODEOBJ_ERROR_MAX];
    REQUIRE(codeobj_read_elf(img, size, &elf, err, sizeof err) == 0);
    CHECK_EQ_U64(elf.e_machine, 224); /* EM_AMDGPU */
    codeobj_metadata *gpu = NULL;
    if (codeobj_parse_metadata(img, size, &gpu, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", path, err);
        CHECK(0);
        free(img);
        return;
    }
    CHECK_EQ_U64(gpu->version_major, 1);
    CHECK_EQ_STR(gpu->target, "amdgcn-amd-amdhsa--gfx90a");
    CHECK_EQ_U64(gpu->n_kernels, 2);
    for (uint32_t i = 0; i < gpu->n_kernels; i++) {
        const codeobj_kernel *g = &gpu->kernels[i];
        const codeobj_kernel *h = codeobj_find_kernel(host, g->symbol);
        CHECK(h != NULL);
        if (!h)
            continue;
        CHECK_EQ_STR(h->name, g->name);
        CHECK_EQ_U64(h->kernarg_segment_align, g->kernarg_segment_align);
        CHECK_EQ_U64(h->wavefront_size, g->wavefront_size);
        /* clang left the hidden arguments out (none used): its segment ends
         * where the explicit arguments do (the host reduce has more). */
        uint32_t n = g->n_args;
        CHECK_EQ_U64(args_end(h, n), g->kernarg_segment_size);
        CHECK(n <= h->n_args);
        for (uint32_t j = 0; j < n && j < h->n_args; j++) {
            const codeobj_arg *ga = &g->args[j], *ha = &h->args[j];
            fprintf(stderr, "  %s arg %u: offset %u/%u size %u/%u kind %s/%s\n", g->name, j,
                    ha->offset, ga->offset, ha->size, ga->size, ha->value_kind_name,
                    ga->value_kind_name);
            CHECK_EQ_U64(ha->offset, ga->offset);
            CHECK_EQ_U64(ha->size, ga->size);
            CHECK_EQ_U64(ha->value_kind, ga->value_kind);
            CHECK_EQ_U64(ha->address_space, ga->address_space);
            CHECK_EQ_U64(ha->is_const, ga->is_const);
            /* clang 14 writes a proven read-only as .access, newer clang as
             * .actual_access; it proves no write-only for OpenCL. */
            if (ga->access != CODEOBJ_ACCESS_NONE || ga->actual_access != CODEOBJ_ACCESS_NONE)
                CHECK_EQ_U64(codeobj_arg_effective_access(ha), codeobj_arg_effective_access(ga));
        }
    }
    codeobj_metadata_free(gpu);
    free(img);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s BASIC.co BASIC.msgpack AMDGPU.co|-\n", argv[0]);
        return 2;
    }
    size_t size, msgpack_size;
    uint8_t *img = read_file(argv[1], &size);
    uint8_t *msgpack = read_file(argv[2], &msgpack_size);

    check_note_section(img, size, msgpack, msgpack_size);
    check_document(msgpack, msgpack_size);

    codeobj_metadata *md = NULL;
    char err[CODEOBJ_ERROR_MAX];
    if (codeobj_parse_metadata(img, size, &md, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], err);
        return 1;
    }
    check_kind_names();
    check_records(md);
    check_descriptors(argv[1], md);
    if (strcmp(argv[3], "-") != 0)
        compare_with_clang(argv[3], md);
    else
        fprintf(stderr, "no AMDGPU code object from clang: comparison skipped\n");

    codeobj_metadata_free(md);
    free(img);
    free(msgpack);
    return check_result();
}
