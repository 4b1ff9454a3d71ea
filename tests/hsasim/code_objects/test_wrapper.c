/* Wrapped host code objects (include/hsasim/code_object_wrapper.h), without
 * HIP: the ELF header rochp-hostco-wrap writes for each target and code
 * object version (what COMGR derives the ISA from), the sections and
 * symbols HIP reads, and hsasim's loader taking the host object out of a
 * marked EM_AMDGPU file -- and refusing a wrapper whose marker or metadata
 * is wrong, or an EM_AMDGPU file without a marker.
 *
 * Built twice, as test_loader.c: against a stub runtime (one gfx942 agent)
 * and against hsasim on a rochp-sim mi300x tree (--sim PATH).
 *
 * usage: test_wrapper --v4 GFX942.co --v5 GFX942_XNACK_OFF_V5.co
 *                     --gfx90a GFX90A_SRAMECC_ON.co [--sim ROCHP_SIM] */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hsa/hsa.h>

#include "check.h"
#include "codeobj/codeobj.h"
#include "hsasim/code_object_wrapper.h"
#include "hsasim/kernel.h"
#include "tmpdir.h"

hsa_status_t hsa_init(void);
hsa_status_t hsa_shut_down(void);

#define OK(call) CHECK_EQ_U64((call), HSA_STATUS_SUCCESS)
#define ST(call, status) CHECK_EQ_U64((call), (status))

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

static hsa_agent_t gpu;

static blob read_blob(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    blob b = {malloc((size_t)n), (size_t)n};
    REQUIRE(b.data && fread(b.data, 1, b.size, f) == b.size);
    fclose(f);
    return b;
}

static blob copy_of(const blob *b)
{
    blob c = {malloc(b->size), b->size};
    REQUIRE(c.data);
    memcpy(c.data, b->data, b->size);
    return c;
}

static hsa_status_t find_gpu(hsa_agent_t agent, void *data)
{
    (void)data;
    hsa_device_type_t type;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) != HSA_STATUS_SUCCESS)
        return HSA_STATUS_ERROR;
    if (type == HSA_DEVICE_TYPE_GPU && !gpu.handle)
        gpu = agent;
    return HSA_STATUS_SUCCESS;
}

/* Loads b for the GPU into a new executable (destroyed unless *keep). */
static hsa_status_t load(const blob *b, hsa_executable_t *keep)
{
    hsa_executable_t ex;
    OK(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL,
                                 &ex));
    hsa_code_object_reader_t r = {0};
    OK(hsa_code_object_reader_create_from_memory(b->data, b->size, &r));
    hsa_status_t st = hsa_executable_load_agent_code_object(ex, gpu, r, NULL, NULL);
    OK(hsa_code_object_reader_destroy(r));
    if (keep)
        *keep = ex;
    else
        OK(hsa_executable_destroy(ex));
    return st;
}

/* Where the marker's descriptor is in the image (4-byte aligned only: it is
 * copied in and out). */
static size_t marker_at(const blob *b)
{
    char err[CODEOBJ_ERROR_MAX];
    const void *desc = NULL;
    size_t size = 0;
    REQUIRE(codeobj_find_note(b->data, b->size, HSASIM_NOTE_OWNER, HSASIM_NT_HOST_OBJECT, &desc,
                              &size, err, sizeof err) == 1);
    REQUIRE(size == sizeof(hsasim_host_object_note));
    return (size_t)((const uint8_t *)desc - b->data);
}

static hsasim_host_object_note marker_of(const blob *b)
{
    hsasim_host_object_note m;
    memcpy(&m, b->data + marker_at(b), sizeof m);
    return m;
}

static void set_marker(blob *b, size_t at, hsasim_host_object_note m)
{
    memcpy(b->data + at, &m, sizeof m);
}

static const Elf64_Shdr *section(const blob *b, const char *name)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b->data;
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(b->data + eh->e_shoff);
    const char *names = (const char *)b->data + sh[eh->e_shstrndx].sh_offset;
    for (unsigned i = 0; i < eh->e_shnum; i++)
        if (strcmp(names + sh[i].sh_name, name) == 0)
            return &sh[i];
    return NULL;
}

/* What HIP's loaders read first: the ELF header, the sections, the symbols. */
static void test_format(const blob *b, uint8_t abi_version, uint32_t e_flags)
{
    codeobj_elf elf;
    char err[CODEOBJ_ERROR_MAX];
    REQUIRE(codeobj_read_elf(b->data, b->size, &elf, err, sizeof err) == 0);
    CHECK_EQ_U64(elf.e_machine, 224);   /* EM_AMDGPU: ROCclr's Elf::isHsaCo */
    CHECK_EQ_U64(elf.e_type, ET_DYN);   /* with it: Program::setBinary's TYPE_EXECUTABLE */
    CHECK_EQ_U64(elf.ei_osabi, 64);     /* ELFOSABI_AMDGPU_HSA: COMGR's "amdhsa" */
    CHECK_EQ_U64(elf.ei_abiversion, abi_version);
    CHECK_EQ_U64(elf.e_flags, e_flags); /* COMGR's processor and features */
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b->data;
    /* The section headers end the file: ROCclr's Elf::getElfSize is its size. */
    CHECK_EQ_U64(eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr), b->size);
    /* ROCclr's amd::Elf refuses a file without .strtab (Elf::InitElf). */
    CHECK(section(b, ".strtab") && section(b, ".symtab") && section(b, ".note"));
    const hsasim_host_object_note m = marker_of(b);
    CHECK_EQ_U64(m.version, HSASIM_WRAPPER_VERSION);
    CHECK_EQ_U64(m.machine, EM_X86_64);
    const Elf64_Shdr *host = section(b, HSASIM_HOST_OBJECT_SECTION);
    REQUIRE(host);
    CHECK_EQ_U64(host->sh_offset, m.offset);
    CHECK_EQ_U64(host->sh_size, m.size);
    /* The kernel as COMGR lists it for hipModuleGetFunction (.dynsym,
     * STT_FUNC) and its descriptor symbol (STT_OBJECT). */
    codeobj_symbol *syms = NULL;
    size_t n = 0;
    REQUIRE(codeobj_dynamic_symbols(b->data, b->size, &syms, &n, err, sizeof err) == 0);
    int func = 0, kd = 0;
    for (size_t i = 0; i < n; i++) {
        func += strcmp(syms[i].name, "fill") == 0 && syms[i].type == STT_FUNC && syms[i].defined;
        kd += strcmp(syms[i].name, "fill.kd") == 0 && syms[i].type == STT_OBJECT &&
              syms[i].size == 64 && syms[i].defined;
    }
    CHECK(func == 1 && kd == 1);
    free(syms);
    /* The same metadata outside and inside (HIP reads the one, hsasim the other). */
    codeobj_metadata *outer = NULL, *inner = NULL;
    REQUIRE(codeobj_parse_metadata(b->data, b->size, &outer, err, sizeof err) == 0);
    REQUIRE(codeobj_parse_metadata(b->data + m.offset, (size_t)m.size, &inner, err,
                                   sizeof err) == 0);
    CHECK(outer->n_kernels == 1 && inner->n_kernels == 1 &&
          strcmp(outer->kernels[0].symbol, "fill.kd") == 0);
    CHECK_EQ_U64(outer->version_minor, abi_version - 1u);
    codeobj_metadata_free(outer);
    codeobj_metadata_free(inner);
}

/* Loaded, the kernel object is the host object's descriptor: its function
 * runs here, as the packet processor would run it. */
static void test_loads(const blob *b)
{
    hsa_executable_t ex;
    REQUIRE(load(b, &ex) == HSA_STATUS_SUCCESS);
    OK(hsa_executable_freeze(ex, NULL));
    hsa_executable_symbol_t s;
    OK(hsa_executable_get_symbol_by_name(ex, "fill.kd", &gpu, &s));
    uint64_t object = 0;
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT, &object));
    const hsasim_kernel_object *kd = (const hsasim_kernel_object *)(uintptr_t)object;
    REQUIRE(kd && kd->magic == HSASIM_KERNEL_MAGIC && kd->fn);
    CHECK(strcmp(kd->name, "fill") == 0);
    uint32_t out[8] = {0};
    struct {
        uint32_t *out;
        uint32_t value;
    } args = {out, 0x600d};
    hsasim_dispatch d = {.dimensions = 1, .grid_size = {8, 1, 1}, .workgroup_size = {8, 1, 1},
                         .group_count = {1, 1, 1}};
    kd->fn(&args, &d);
    for (int i = 0; i < 8; i++)
        CHECK_EQ_U64(out[i], 0x600d);
    OK(hsa_executable_destroy(ex));
}

static void test_refusals(const blob *v4, const blob *gfx90a)
{
    /* Another ISA than the agent's, found once unwrapped (amdhsa.target). */
    ST(load(gfx90a, NULL), HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS);

    blob b = copy_of(v4);
    size_t at = marker_at(&b);
    const hsasim_host_object_note keep = marker_of(&b);
    hsasim_host_object_note m = keep;
    m.version = 2;
    set_marker(&b, at, m);
    ST(load(&b, NULL), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    m = keep;
    m.machine = EM_AARCH64;
    set_marker(&b, at, m);
    ST(load(&b, NULL), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    m = keep;
    m.size = b.size; /* runs past the end */
    set_marker(&b, at, m);
    ST(load(&b, NULL), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    m = keep;
    m.offset = 0; /* the wrapper itself: EM_AMDGPU again, not a host object */
    m.size = b.size;
    set_marker(&b, at, m);
    ST(load(&b, NULL), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    set_marker(&b, at, keep);
    OK(load(&b, NULL));

    /* The wrapper's note no longer the host object's: fill's kernarg
     * segment size 12 (msgpack positive fixint 0x0c) made 16. */
    static const uint8_t key[] = "\xb5.kernarg_segment_size\x0c";
    uint8_t *hit = memmem(b.data, (size_t)keep.offset, key, sizeof key - 1);
    REQUIRE(hit);
    hit[sizeof key - 2] = 0x10;
    ST(load(&b, NULL), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    hit[sizeof key - 2] = 0x0c;
    OK(load(&b, NULL));

    /* Without the marker (its note type changed) it is GPU ISA to hsasim. */
    Elf64_Nhdr nh;
    size_t nh_at = at - 8 - sizeof nh; /* the header, then "HSASIM\0" padded to 8 */
    memcpy(&nh, b.data + nh_at, sizeof nh);
    REQUIRE(nh.n_type == HSASIM_NT_HOST_OBJECT && nh.n_namesz == 7);
    nh.n_type = 2;
    memcpy(b.data + nh_at, &nh, sizeof nh);
    ST(load(&b, NULL), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    free(b.data);
}

int main(int argc, char **argv)
{
    const char *v4_path = NULL, *v5_path = NULL, *gfx90a_path = NULL, *sim = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--v4")) v4_path = argv[i + 1];
        else if (!strcmp(argv[i], "--v5")) v5_path = argv[i + 1];
        else if (!strcmp(argv[i], "--gfx90a")) gfx90a_path = argv[i + 1];
        else if (!strcmp(argv[i], "--sim")) sim = argv[i + 1];
    }
    if (!v4_path || !v5_path || !gfx90a_path) {
        fprintf(stderr, "usage: %s --v4 F --v5 F --gfx90a F [--sim ROCHP_SIM]\n", argv[0]);
        return 2;
    }
    blob v4 = read_blob(v4_path), v5 = read_blob(v5_path), gfx90a = read_blob(gfx90a_path);

    /* EF_AMDGPU_MACH_AMDGCN_GFX942 0x4c, GFX90A 0x3f; v4 features: xnack
     * any 0x100 / off 0x200, sramecc any 0x400 / on 0xc00;
     * ELFABIVERSION_AMDGPU_HSA_V4 2, V5 3.  (clang writes 0x53f for
     * --offload-arch=gfx90a: the same encoding.) */
    test_format(&v4, 2, 0x4c | 0x100 | 0x400);
    test_format(&v5, 3, 0x4c | 0x200 | 0x400);
    test_format(&gfx90a, 2, 0x3f | 0x100 | 0xc00);

    char tree[4096] = "";
    if (sim) {
        char cmd[8400];
        REQUIRE(test_make_tmpdir(tree, sizeof tree, "hsasim-wrap") == 0);
        snprintf(cmd, sizeof cmd, "'%s' create '%s/sys' --model mi300x --gpus 1 >/dev/null", sim,
                 tree);
        REQUIRE(system(cmd) == 0);
        snprintf(cmd, sizeof cmd, "%s/sys", tree);
        setenv("ROCHP_SYSFS_ROOT", cmd, 1);
    }
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    OK(hsa_iterate_agents(find_gpu, NULL));
    REQUIRE(gpu.handle);
    test_loads(&v4);
    test_loads(&v5); /* xnack- on the agent's xnack- */
    test_refusals(&v4, &gfx90a);
    OK(hsa_shut_down());
    if (tree[0])
        test_remove_tmpdir(tree);
    free(v4.data);
    free(v5.data);
    free(gfx90a.data);
    return check_result();
}
