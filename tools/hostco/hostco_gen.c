/* rochp-hostco-gen: writes the AMDGPU metadata note of a host code object.
 *
 *   rochp-hostco-gen [--target TARGET_ID] [--code-object-version 4|5] INPUT.so OUTPUT.note
 *
 * INPUT.so is the shared object built from the kernels' sources (with
 * hostco_registry.c).  It is dlopen'ed, its HSASIM_KERNEL declarations are
 * read, and OUTPUT.note receives one ELF note (owner "AMDGPU", type
 * NT_AMDGPU_METADATA = 32) whose descriptor is the msgpack map clang would
 * emit for the same kernels under code object v5 (amdhsa.version [1, 2]), or
 * v4 ([1, 1]: what HIP 5.2's clang emits, for host kernels standing in for
 * HIP kernels; the v5-only hidden arguments are refused then);
 * rochp_add_host_code_object then adds it to a copy of INPUT.so with objcopy.
 *
 * Map keys are written in sorted order, as LLVM's msgpack document does.
 * Exit status: 0 done, 1 failure (the message names the kernel and argument),
 * 2 usage. */
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <msgpack.h>

#include <hsasim/kernel_decl.h>

#define NT_AMDGPU_METADATA 32
#define MAX_ARGS 256

static const char *input_path = "";
/* amdhsa.version [1, md_minor]: 2 is code object v5, 1 v4. */
static unsigned md_minor = 2;

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rochp-hostco-gen: %s: ", input_path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void usage(FILE *out)
{
    fputs("usage: rochp-hostco-gen [--target TARGET_ID] [--code-object-version 4|5]\n"
          "                        [--msgpack FILE] INPUT.so OUTPUT.note\n"
          "Writes the NT_AMDGPU_METADATA note (code object v5, or v4) describing the\n"
          "HSASIM_KERNEL declarations of INPUT.so.  TARGET_ID, e.g.\n"
          "amdgcn-amd-amdhsa--gfx942, becomes amdhsa.target; without it the code\n"
          "object runs on every simulated GPU.  --msgpack also writes the bare\n"
          "descriptor (the msgpack map) to FILE.\n",
          out);
}

static const char *value_kind_name(uint32_t vk)
{
    return hsasim_value_kind_name(vk);
}

static bool is_hidden(uint32_t vk)
{
    return vk >= HSASIM_VK_HIDDEN_GLOBAL_OFFSET_X && vk < HSASIM_VK_COUNT_;
}

/* The hidden kinds code object v5 introduced (LLVM AMDGPUUsage, "Code Object
 * V5 Metadata"); v4 has the global offsets, none, printf, hostcall, default
 * queue, completion action and multigrid sync only. */
static bool v5_only(uint32_t vk)
{
    return vk >= HSASIM_VK_HIDDEN_HEAP_V1 && vk < HSASIM_VK_COUNT_;
}

/* One argument as it goes into the note. */
typedef struct out_arg {
    uint32_t value_kind, address_space, access;
    uint32_t offset, size;
    const char *name; /* NULL for hidden arguments (clang names none) */
} out_arg;

typedef struct out_kernel {
    const hsasim_kernel_decl *decl;
    const char *name;
    char symbol[512];
    uint32_t n_args;
    out_arg args[MAX_ARGS];
} out_kernel;

/* The hidden arguments of an optimised HIP kernel under code object v5
 * (LLVM MetadataStreamerMsgPackV5::emitHiddenKernelArgs with the attributor
 * having found no use of hostcall, heap, queues or multigrid). */
static const struct {
    uint32_t vk, offset, size;
} v5_block[] = {
    {HSASIM_VK_HIDDEN_BLOCK_COUNT_X, 0, 4},   {HSASIM_VK_HIDDEN_BLOCK_COUNT_Y, 4, 4},
    {HSASIM_VK_HIDDEN_BLOCK_COUNT_Z, 8, 4},   {HSASIM_VK_HIDDEN_GROUP_SIZE_X, 12, 2},
    {HSASIM_VK_HIDDEN_GROUP_SIZE_Y, 14, 2},   {HSASIM_VK_HIDDEN_GROUP_SIZE_Z, 16, 2},
    {HSASIM_VK_HIDDEN_REMAINDER_X, 18, 2},    {HSASIM_VK_HIDDEN_REMAINDER_Y, 20, 2},
    {HSASIM_VK_HIDDEN_REMAINDER_Z, 22, 2},    {HSASIM_VK_HIDDEN_GLOBAL_OFFSET_X, 40, 8},
    {HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Y, 48, 8}, {HSASIM_VK_HIDDEN_GLOBAL_OFFSET_Z, 56, 8},
    {HSASIM_VK_HIDDEN_GRID_DIMS, 64, 2},
};

static void add_arg(out_kernel *k, out_arg a)
{
    if (k->n_args == MAX_ARGS)
        fail("kernel %s: more than %d arguments", k->name, MAX_ARGS);
    k->args[k->n_args++] = a;
}

static int by_offset(const void *pa, const void *pb)
{
    const out_arg *a = pa, *b = pb;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

static int by_name(const void *pa, const void *pb)
{
    const out_kernel *a = pa, *b = pb;
    return strcmp(a->name, b->name);
}

static int decl_by_offset(const void *pa, const void *pb)
{
    const hsasim_arg_decl *a = *(const hsasim_arg_decl *const *)pa;
    const hsasim_arg_decl *b = *(const hsasim_arg_decl *const *)pb;
    return a->offset < b->offset ? -1 : a->offset > b->offset;
}

/* Every member of the kernarg struct must be declared: the application
 * copies kernarg_segment_size bytes, and an undeclared member would be left
 * out of the metadata (or read from beyond the segment).  C cannot list a
 * struct's members, but it never pads by as much as the next member's
 * alignment, so bytes [a, b) not covered where b's offset is aligned to at
 * least b - a, or a tail of struct alignment or more, hold a member.  (A
 * member that fits in padding that would be there anyway goes unnoticed.) */
static void check_coverage(const hsasim_kernel_decl *decl, const char *name)
{
    const hsasim_arg_decl *sorted[MAX_ARGS];
    uint32_t n = 0;
    for (uint32_t i = 0; i < decl->n_args; i++) {
        if (decl->args[i].value_kind == HSASIM_VK_DECL_NONE_)
            return; /* HSASIM_NO_ARGS: the struct is a placeholder */
        if (n == MAX_ARGS)
            fail("kernel %s: more than %d arguments", name, MAX_ARGS);
        sorted[n++] = &decl->args[i];
    }
    qsort(sorted, n, sizeof *sorted, decl_by_offset);
    uint64_t end = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t off = sorted[i]->offset, lowbit = off ? (off & -off) : 64;
        if (off > end && off - end >= (lowbit < 16 ? lowbit : 16))
            fail("kernel %s: bytes [%llu, %llu) of the kernarg struct are not declared (before "
                 "%s): declare every member", name, (unsigned long long)end,
                 (unsigned long long)off, sorted[i]->name ? sorted[i]->name : "?");
        if (off + sorted[i]->size > end)
            end = off + sorted[i]->size;
    }
    uint64_t align = decl->struct_align ? decl->struct_align : 1;
    if (end > decl->struct_size || decl->struct_size - end >= align)
        fail("kernel %s: the declared arguments end at byte %llu of the %u-byte kernarg struct: "
             "declare every member", name, (unsigned long long)end, decl->struct_size);
}

static void collect_kernel(const hsasim_kernel_decl *decl, size_t index, out_kernel *k)
{
    if (!decl)
        fail("kernel declaration %zu is a null pointer", index);
    if (decl->abi != HSASIM_DECL_ABI)
        fail("kernel declaration %zu has ABI %u, this generator reads %u (rebuild with the "
             "current hsasim/kernel_decl.h)", index, decl->abi, HSASIM_DECL_ABI);
    const hsasim_kernel_object *kd = decl->kd;
    if (!kd || kd->magic != HSASIM_KERNEL_MAGIC || !kd->fn || !kd->name || !kd->name[0])
        fail("kernel declaration %zu has no valid hsasim_kernel_object", index);
    k->decl = decl;
    k->name = kd->name;
    if ((size_t)snprintf(k->symbol, sizeof k->symbol, "%s.kd", kd->name) >= sizeof k->symbol)
        fail("kernel name too long: %s", kd->name);
    if (kd->kernarg_align < 4 || (kd->kernarg_align & (kd->kernarg_align - 1)))
        fail("kernel %s: kernarg alignment %u is not a power of two >= 4", k->name,
             kd->kernarg_align);
    if (!decl->args && decl->n_args)
        fail("kernel %s: no argument table", k->name);
    check_coverage(decl, k->name);
    k->n_args = 0;
    for (uint32_t i = 0; i < decl->n_args; i++) {
        const hsasim_arg_decl *a = &decl->args[i];
        const char *what = a->name ? a->name : "?";
        if (a->value_kind == HSASIM_VK_DECL_NONE_)
            continue;
        if (a->size == 0)
            fail("kernel %s: argument %s has size 0", k->name, what);
        if (md_minor < 2 &&
            (a->value_kind == HSASIM_VK_DECL_HIDDEN_V5_ || v5_only(a->value_kind)))
            fail("kernel %s: argument %s is a code object v5 hidden argument, and this note is "
                 "for code object v4", k->name, what);
        if (a->value_kind == HSASIM_VK_DECL_HIDDEN_V5_) {
            if (a->size != sizeof(hsasim_implicit_args))
                fail("kernel %s: HSASIM_ARG_HIDDEN_V5(%s): the member is %u bytes, not an "
                     "hsasim_implicit_args (%zu)", k->name, what, a->size,
                     sizeof(hsasim_implicit_args));
            if (a->offset % 8)
                fail("kernel %s: HSASIM_ARG_HIDDEN_V5(%s) at offset %u: the v5 implicit "
                     "arguments are 8-byte aligned", k->name, what, a->offset);
            for (size_t j = 0; j < sizeof v5_block / sizeof v5_block[0]; j++)
                add_arg(k, (out_arg){v5_block[j].vk, HSASIM_AS_NONE, HSASIM_ACCESS_NONE,
                                     a->offset + v5_block[j].offset, v5_block[j].size, NULL});
            continue;
        }
        if (!value_kind_name(a->value_kind))
            fail("kernel %s: argument %s has unknown value kind %u", k->name, what,
                 a->value_kind);
        if (a->value_kind == HSASIM_VK_GLOBAL_BUFFER && a->size != sizeof(void *))
            fail("kernel %s: HSASIM_ARG_GLOBAL(%s): the member is %u bytes, not a pointer",
                 k->name, what, a->size);
        if (a->access > HSASIM_READ_WRITE || a->address_space > HSASIM_AS_REGION)
            fail("kernel %s: argument %s: bad access or address space", k->name, what);
        add_arg(k, (out_arg){a->value_kind, a->address_space, a->access, a->offset, a->size,
                             is_hidden(a->value_kind) ? NULL : a->name});
    }
    qsort(k->args, k->n_args, sizeof k->args[0], by_offset);
    for (uint32_t i = 0; i < k->n_args; i++) {
        const out_arg *a = &k->args[i];
        uint64_t end = (uint64_t)a->offset + a->size;
        const char *what = a->name ? a->name : value_kind_name(a->value_kind);
        if (end > kd->kernarg_size)
            fail("kernel %s: argument %s [%u, %llu) lies outside the kernarg segment of %u "
                 "bytes", k->name, what, a->offset, (unsigned long long)end, kd->kernarg_size);
        if (i + 1 < k->n_args && end > k->args[i + 1].offset) {
            const out_arg *b = &k->args[i + 1];
            fail("kernel %s: arguments %s and %s overlap", k->name, what,
                 b->name ? b->name : value_kind_name(b->value_kind));
        }
    }
}

/* --- msgpack writing ---------------------------------------------------------- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_kv_uint(msgpack_packer *pk, const char *key, uint64_t v)
{
    pack_str(pk, key);
    msgpack_pack_uint64(pk, v);
}

static void pack_kv_str(msgpack_packer *pk, const char *key, const char *v)
{
    pack_str(pk, key);
    pack_str(pk, v);
}

static const char *access_name(uint32_t a)
{
    return a == HSASIM_READ_ONLY ? "read_only" : a == HSASIM_WRITE_ONLY ? "write_only"
                                                                          : "read_write";
}

static const char *address_space_name(uint32_t as)
{
    switch (as) {
    case HSASIM_AS_PRIVATE: return "private";
    case HSASIM_AS_GLOBAL: return "global";
    case HSASIM_AS_CONSTANT: return "constant";
    case HSASIM_AS_LOCAL: return "local";
    case HSASIM_AS_GENERIC: return "generic";
    case HSASIM_AS_REGION: return "region";
    }
    return NULL;
}

/* Keys in sorted order: .actual_access .address_space .is_const .name
 * .offset .size .value_kind.  clang writes .actual_access for global pointers
 * whose accesses it proved (read_only for a const noalias pointer only read,
 * write_only) and nothing for read-write; .is_const with a const pointee
 * (always for __constant pointers, which get no .actual_access). */
static void pack_arg(msgpack_packer *pk, const out_arg *a)
{
    bool buffer = a->value_kind == HSASIM_VK_GLOBAL_BUFFER;
    bool actual = buffer && a->address_space == HSASIM_AS_GLOBAL &&
                  (a->access == HSASIM_READ_ONLY || a->access == HSASIM_WRITE_ONLY);
    const char *as = (buffer || a->value_kind == HSASIM_VK_DYNAMIC_SHARED_POINTER)
                         ? address_space_name(a->address_space)
                         : NULL;
    bool is_const = buffer && a->access == HSASIM_READ_ONLY;
    size_t n = 3 + actual + (as != NULL) + is_const + (a->name != NULL);
    msgpack_pack_map(pk, n);
    if (actual)
        pack_kv_str(pk, ".actual_access", access_name(a->access));
    if (as)
        pack_kv_str(pk, ".address_space", as);
    if (is_const) {
        pack_str(pk, ".is_const");
        msgpack_pack_true(pk);
    }
    if (a->name)
        pack_kv_str(pk, ".name", a->name);
    pack_kv_uint(pk, ".offset", a->offset);
    pack_kv_uint(pk, ".size", a->size);
    pack_kv_str(pk, ".value_kind", value_kind_name(a->value_kind));
}

static void pack_kernel(msgpack_packer *pk, const out_kernel *k)
{
    const hsasim_kernel_object *kd = k->decl->kd;
    msgpack_pack_map(pk, 14);
    pack_str(pk, ".args");
    msgpack_pack_array(pk, k->n_args);
    for (uint32_t i = 0; i < k->n_args; i++)
        pack_arg(pk, &k->args[i]);
    pack_kv_uint(pk, ".group_segment_fixed_size", kd->group_segment_size);
    pack_kv_uint(pk, ".kernarg_segment_align", kd->kernarg_align);
    pack_kv_uint(pk, ".kernarg_segment_size", kd->kernarg_size);
    /* HIP's default; the simulated agents report 1024 as their maximum. */
    pack_kv_uint(pk, ".max_flat_workgroup_size", 1024);
    pack_kv_str(pk, ".name", k->name);
    pack_kv_uint(pk, ".private_segment_fixed_size", kd->private_segment_size);
    /* A C function holds no GPU registers. */
    pack_kv_uint(pk, ".sgpr_count", 0);
    pack_kv_uint(pk, ".sgpr_spill_count", 0);
    pack_kv_str(pk, ".symbol", k->symbol);
    pack_str(pk, ".uses_dynamic_stack");
    msgpack_pack_false(pk);
    pack_kv_uint(pk, ".vgpr_count", 0);
    pack_kv_uint(pk, ".vgpr_spill_count", 0);
    pack_kv_uint(pk, ".wavefront_size", 64);
}

static bool valid_target(const char *t)
{
    static const char prefix[] = "amdgcn-amd-amdhsa--gfx";
    if (strncmp(t, prefix, sizeof prefix - 1) != 0 || !t[sizeof prefix - 1])
        return false;
    for (const char *p = t + sizeof prefix - 1; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == ':' || *p == '+' ||
              *p == '-'))
            return false;
    return true;
}

static void write_file(const char *path, const void *data, size_t size)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp)
        fail("output path too long");
    FILE *f = fopen(tmp, "wb");
    if (!f)
        fail("cannot create %s: %s", tmp, strerror(errno));
    bool ok = fwrite(data, 1, size, f) == size;
    if (fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        fail("cannot write %s: %s", path, strerror(e));
    }
}

static void write_note(const char *path, const msgpack_sbuffer *desc)
{
    static const char owner[] = "AMDGPU";
    uint32_t hdr[3] = {sizeof owner, (uint32_t)desc->size, NT_AMDGPU_METADATA};
    size_t name_size = (sizeof owner + 3) & ~(size_t)3, desc_size = (desc->size + 3) & ~(size_t)3;
    size_t total = sizeof hdr + name_size + desc_size;
    uint8_t *note = calloc(1, total);
    if (!note)
        fail("out of memory");
    memcpy(note, hdr, sizeof hdr);
    memcpy(note + sizeof hdr, owner, sizeof owner);
    memcpy(note + sizeof hdr + name_size, desc->data, desc->size);
    write_file(path, note, total);
    free(note);
}

int main(int argc, char **argv)
{
    const char *target = NULL, *msgpack_out = NULL;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--target") == 0 && i + 1 < argc) {
            target = argv[++i];
        } else if (strcmp(argv[i], "--code-object-version") == 0 && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(v, "4") != 0 && strcmp(v, "5") != 0)
                fail("--code-object-version %s: 4 or 5", v);
            md_minor = v[0] == '4' ? 1 : 2;
        } else if (strcmp(argv[i], "--msgpack") == 0 && i + 1 < argc) {
            msgpack_out = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (argc - i != 2) {
        usage(stderr);
        return 2;
    }
    input_path = argv[i];
    const char *output = argv[i + 1];
    if (target && !valid_target(target))
        fail("--target %s is not an AMDGPU target id such as amdgcn-amd-amdhsa--gfx942", target);

    /* A path without a slash would be searched for in the library path. */
    char path[4096];
    if ((size_t)snprintf(path, sizeof path, "%s%s", strchr(input_path, '/') ? "" : "./",
                         input_path) >= sizeof path)
        fail("path too long");
    void *so = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!so)
        fail("dlopen: %s", dlerror());
    size_t (*registry)(const hsasim_kernel_decl *const **) = NULL;
    void *sym = dlsym(so, HSASIM_DECL_REGISTRY_SYMBOL);
    memcpy(&registry, &sym, sizeof registry);
    if (!registry)
        fail("no %s: not built by rochp_add_host_code_object", HSASIM_DECL_REGISTRY_SYMBOL);
    const hsasim_kernel_decl *const *decls = NULL;
    size_t n = registry(&decls);
    if (n > 100000)
        fail("%zu kernel declarations: the declaration section is corrupt", n);

    out_kernel *kernels = calloc(n ? n : 1, sizeof *kernels);
    if (!kernels)
        fail("out of memory");
    for (size_t k = 0; k < n; k++)
        collect_kernel(decls[k], k, &kernels[k]);
    qsort(kernels, n, sizeof *kernels, by_name);
    for (size_t k = 1; k < n; k++)
        if (strcmp(kernels[k - 1].name, kernels[k].name) == 0)
            fail("two kernels are named %s", kernels[k].name);

    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init(&sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, target ? 3 : 2);
    pack_str(&pk, "amdhsa.kernels");
    msgpack_pack_array(&pk, n);
    for (size_t k = 0; k < n; k++)
        pack_kernel(&pk, &kernels[k]);
    if (target)
        pack_kv_str(&pk, "amdhsa.target", target);
    pack_str(&pk, "amdhsa.version");
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint32(&pk, 1);
    msgpack_pack_uint32(&pk, md_minor);

    write_note(output, &sbuf);
    if (msgpack_out)
        write_file(msgpack_out, sbuf.data, sbuf.size);
    msgpack_sbuffer_destroy(&sbuf);
    free(kernels);
    /* The input stays loaded until exit: its strings were used above. */
    return 0;
}
