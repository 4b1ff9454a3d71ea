/* Malformed code objects and metadata give a clear error, never a crash:
 * broken ELF headers, section and program header tables, notes that overrun
 * their section, msgpack that lies about its sizes, and metadata that breaks
 * the AMDGPU schema (each error names the kernel, argument and key).
 * usage: hsasim_co_malformed BASIC.co */
#include <elf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "check.h"
#include "codeobj/codeobj.h"

static char err[CODEOBJ_ERROR_MAX];

/* The parse fails and the message contains want. */
#define EXPECT_ELF_ERROR(img, size, want)                                                      \
    do {                                                                                       \
        codeobj_metadata *md_ = NULL;                                                          \
        err[0] = 0;                                                                            \
        CHECK(codeobj_parse_metadata((img), (size), &md_, err, sizeof err) != 0);              \
        CHECK(md_ == NULL);                                                                    \
        CHECK_CONTAINS(err, want);                                                             \
    } while (0)

#define EXPECT_MSGPACK_ERROR(buf, size, want)                                                  \
    do {                                                                                       \
        codeobj_metadata *md_ = NULL;                                                          \
        err[0] = 0;                                                                            \
        CHECK(codeobj_parse_metadata_msgpack((buf), (size), &md_, err, sizeof err) != 0);      \
        CHECK(md_ == NULL);                                                                    \
        CHECK_CONTAINS(err, want);                                                             \
    } while (0)

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    REQUIRE(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static uint8_t *dup_image(const uint8_t *img, size_t size)
{
    uint8_t *p = malloc(size);
    REQUIRE(p);
    memcpy(p, img, size);
    return p;
}

static Elf64_Ehdr *ehdr(uint8_t *img)
{
    return (Elf64_Ehdr *)img;
}

/* The index of the first section of a type. */
static Elf64_Shdr *section_of_type(uint8_t *img, uint32_t type, const char *name)
{
    Elf64_Ehdr *eh = ehdr(img);
    Elf64_Shdr *sh = (Elf64_Shdr *)(img + eh->e_shoff);
    const char *names = (const char *)img + sh[eh->e_shstrndx].sh_offset;
    for (unsigned i = 0; i < eh->e_shnum; i++)
        if (sh[i].sh_type == type && (!name || strcmp(names + sh[i].sh_name, name) == 0))
            return &sh[i];
    return NULL;
}

/* --- ELF images built here ------------------------------------------------------------ */

/* ELF64 with one SHT_NOTE section (owner, type, desc), or, with use_phdr, no
 * section headers and a PT_NOTE segment. */
static uint8_t *make_elf(const char *owner, uint32_t type, const void *desc, size_t desc_size,
                         bool use_phdr, size_t *out_size)
{
    size_t namesz = strlen(owner) + 1;
    size_t note = sizeof(Elf64_Nhdr) + ((namesz + 3) & ~(size_t)3) + ((desc_size + 3) & ~(size_t)3);
    static const char shstr[] = "\0.note\0.shstrtab";
    size_t off_note = sizeof(Elf64_Ehdr) + (use_phdr ? sizeof(Elf64_Phdr) : 0);
    size_t off_str = off_note + note;
    size_t off_sh = (off_str + sizeof shstr + 7) & ~(size_t)7;
    size_t size = use_phdr ? off_str : off_sh + 3 * sizeof(Elf64_Shdr);
    uint8_t *img = calloc(1, size);
    REQUIRE(img);
    Elf64_Ehdr *eh = ehdr(img);
    memcpy(eh->e_ident, ELFMAG, SELFMAG);
    eh->e_ident[EI_CLASS] = ELFCLASS64;
    eh->e_ident[EI_DATA] = ELFDATA2LSB;
    eh->e_ident[EI_VERSION] = EV_CURRENT;
    eh->e_type = ET_DYN;
    eh->e_machine = EM_X86_64;
    eh->e_version = EV_CURRENT;
    eh->e_ehsize = sizeof *eh;
    Elf64_Nhdr nh = {(uint32_t)namesz, (uint32_t)desc_size, type};
    memcpy(img + off_note, &nh, sizeof nh);
    memcpy(img + off_note + sizeof nh, owner, namesz);
    memcpy(img + off_note + sizeof nh + ((namesz + 3) & ~(size_t)3), desc, desc_size);
    if (use_phdr) {
        eh->e_phoff = sizeof *eh;
        eh->e_phentsize = sizeof(Elf64_Phdr);
        eh->e_phnum = 1;
        Elf64_Phdr ph = {.p_type = PT_NOTE, .p_offset = off_note, .p_filesz = note, .p_align = 4};
        memcpy(img + eh->e_phoff, &ph, sizeof ph);
    } else {
        memcpy(img + off_str, shstr, sizeof shstr);
        eh->e_shoff = off_sh;
        eh->e_shentsize = sizeof(Elf64_Shdr);
        eh->e_shnum = 3;
        eh->e_shstrndx = 2;
        Elf64_Shdr sh[3] = {{0},
                            {.sh_name = 1, .sh_type = SHT_NOTE, .sh_offset = off_note,
                             .sh_size = note, .sh_addralign = 4},
                            {.sh_name = 7, .sh_type = SHT_STRTAB, .sh_offset = off_str,
                             .sh_size = sizeof shstr, .sh_addralign = 1}};
        memcpy(img + off_sh, sh, sizeof sh);
    }
    *out_size = size;
    return img;
}

/* --- metadata documents built here ----------------------------------------------------- */

enum {
    DOC_OK,
    DOC_NO_VERSION,
    DOC_NO_KERNELS,
    DOC_NO_SYMBOL,
    DOC_NEGATIVE_SIZE,
    DOC_HUGE_SIZE,
    DOC_BAD_ALIGN,
    DOC_BAD_WAVEFRONT,
    DOC_ARG_OUTSIDE,
    DOC_ARG_NO_OFFSET,
    DOC_BAD_ADDRESS_SPACE,
    DOC_NUL_IN_NAME,
    DOC_FUTURE_KIND,
    DOC_BOOL_AS_STRING,
    DOC_KERNEL_NOT_MAP,
    DOC_ROOT_ARRAY,
};

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}
#define S(pk, lit) pack_str(pk, lit, sizeof(lit) - 1)

static msgpack_sbuffer build_doc(int variant)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (variant == DOC_ROOT_ARRAY) {
        msgpack_pack_array(&pk, 0);
        return sb;
    }
    msgpack_pack_map(&pk, 2 - (variant == DOC_NO_VERSION) - (variant == DOC_NO_KERNELS));
    if (variant != DOC_NO_KERNELS) {
        S(&pk, "amdhsa.kernels");
        msgpack_pack_array(&pk, 1);
        if (variant == DOC_KERNEL_NOT_MAP) {
            msgpack_pack_uint32(&pk, 7);
        } else {
            msgpack_pack_map(&pk, 8 - (variant == DOC_NO_SYMBOL));
            S(&pk, ".args");
            msgpack_pack_array(&pk, 1);
            msgpack_pack_map(&pk, 5 - (variant == DOC_ARG_NO_OFFSET));
            S(&pk, ".name");
            if (variant == DOC_NUL_IN_NAME)
                pack_str(&pk, "a\0b", 3);
            else
                S(&pk, "ptr");
            if (variant != DOC_ARG_NO_OFFSET) {
                S(&pk, ".offset");
                msgpack_pack_uint32(&pk, variant == DOC_ARG_OUTSIDE ? 12 : 0);
            }
            S(&pk, ".size");
            msgpack_pack_uint32(&pk, 8);
            S(&pk, ".value_kind");
            if (variant == DOC_FUTURE_KIND)
                S(&pk, "hidden_from_the_future");
            else
                S(&pk, "global_buffer");
            if (variant == DOC_BAD_ADDRESS_SPACE) {
                S(&pk, ".address_space");
                S(&pk, "weird");
            } else if (variant == DOC_BOOL_AS_STRING) {
                S(&pk, ".is_const");
                S(&pk, "yes");
            } else {
                S(&pk, ".address_space");
                S(&pk, "global");
            }
            S(&pk, ".name");
            S(&pk, "k");
            if (variant != DOC_NO_SYMBOL) {
                S(&pk, ".symbol");
                S(&pk, "k.kd");
            }
            S(&pk, ".kernarg_segment_size");
            if (variant == DOC_NEGATIVE_SIZE)
                msgpack_pack_int32(&pk, -16);
            else if (variant == DOC_HUGE_SIZE)
                msgpack_pack_uint64(&pk, 1ull << 33);
            else
                msgpack_pack_uint32(&pk, 16);
            S(&pk, ".kernarg_segment_align");
            msgpack_pack_uint32(&pk, variant == DOC_BAD_ALIGN ? 12 : 8);
            S(&pk, ".group_segment_fixed_size");
            msgpack_pack_uint32(&pk, 0);
            S(&pk, ".private_segment_fixed_size");
            msgpack_pack_uint32(&pk, 0);
            S(&pk, ".wavefront_size");
            msgpack_pack_uint32(&pk, variant == DOC_BAD_WAVEFRONT ? 16 : 64);
        }
    }
    if (variant != DOC_NO_VERSION) {
        S(&pk, "amdhsa.version");
        msgpack_pack_array(&pk, 2);
        msgpack_pack_uint32(&pk, 1);
        msgpack_pack_uint32(&pk, 2);
    }
    return sb;
}

static void test_documents(void)
{
    static const struct {
        int variant;
        const char *want;
    } cases[] = {
        {DOC_NO_VERSION, "amdhsa.version is missing"},
        {DOC_NO_KERNELS, "amdhsa.kernels is missing"},
        {DOC_NO_SYMBOL, "amdhsa.kernels[0] (k): .symbol is missing"},
        {DOC_NEGATIVE_SIZE, "amdhsa.kernels[0] (k): .kernarg_segment_size is not an unsigned 32-bit integer"},
        {DOC_HUGE_SIZE, ".kernarg_segment_size is not an unsigned 32-bit integer"},
        {DOC_BAD_ALIGN, ".kernarg_segment_align 12 is not a power of two"},
        {DOC_BAD_WAVEFRONT, ".wavefront_size 16 is neither 32 nor 64"},
        {DOC_ARG_OUTSIDE, "amdhsa.kernels[0] (k): .args[0]: [12, 20) lies outside the kernarg segment of 16 bytes"},
        {DOC_ARG_NO_OFFSET, ".args[0]: .offset is missing"},
        {DOC_BAD_ADDRESS_SPACE, ".address_space \"weird\" is not one the specification defines"},
        {DOC_NUL_IN_NAME, ".args[0]: .name contains a NUL byte"},
        {DOC_BOOL_AS_STRING, ".args[0]: .is_const is not a boolean"},
        {DOC_KERNEL_NOT_MAP, "amdhsa.kernels[0]: not a map"},
        {DOC_ROOT_ARRAY, "metadata: not a msgpack map"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        msgpack_sbuffer sb = build_doc(cases[i].variant);
        EXPECT_MSGPACK_ERROR(sb.data, sb.size, cases[i].want);
        /* The same inside an ELF note. */
        size_t size;
        uint8_t *img = make_elf("AMDGPU", CODEOBJ_NT_AMDGPU_METADATA, sb.data, sb.size, false, &size);
        EXPECT_ELF_ERROR(img, size, cases[i].want);
        free(img);
        msgpack_sbuffer_destroy(&sb);
    }

    /* The well-formed document, by section and by segment; a value kind from
     * a newer specification is kept, not refused. */
    for (int variant = DOC_OK; variant <= DOC_FUTURE_KIND; variant += DOC_FUTURE_KIND) {
        msgpack_sbuffer sb = build_doc(variant);
        for (int phdr = 0; phdr < 2; phdr++) {
            size_t size;
            uint8_t *img = make_elf("AMDGPU", CODEOBJ_NT_AMDGPU_METADATA, sb.data, sb.size, phdr, &size);
            codeobj_metadata *md = NULL;
            err[0] = 0;
            CHECK(codeobj_parse_metadata(img, size, &md, err, sizeof err) == 0);
            if (md) {
                CHECK_EQ_U64(md->n_kernels, 1);
                CHECK_EQ_STR(md->kernels[0].symbol, "k.kd");
                CHECK_EQ_U64(md->kernels[0].n_args, 1);
                CHECK_EQ_U64(md->kernels[0].args[0].value_kind,
                             variant == DOC_OK ? CODEOBJ_VK_GLOBAL_BUFFER : CODEOBJ_VK_UNKNOWN);
                CHECK_EQ_STR(md->kernels[0].args[0].value_kind_name,
                             variant == DOC_OK ? "global_buffer" : "hidden_from_the_future");
            } else {
                fprintf(stderr, "unexpected error: %s\n", err);
            }
            codeobj_metadata_free(md);
            free(img);
        }
        msgpack_sbuffer_destroy(&sb);
    }

    /* Another owner or type is not the metadata. */
    msgpack_sbuffer sb = build_doc(DOC_OK);
    size_t size;
    uint8_t *img = make_elf("AMD", CODEOBJ_NT_AMDGPU_METADATA, sb.data, sb.size, false, &size);
    EXPECT_ELF_ERROR(img, size, "no NT_AMDGPU_METADATA note");
    free(img);
    img = make_elf("AMDGPU", 10, sb.data, sb.size, false, &size);
    EXPECT_ELF_ERROR(img, size, "no NT_AMDGPU_METADATA note");
    free(img);
    /* Trailing garbage after the map; trailing zero padding is fine. */
    uint8_t *buf = malloc(sb.size + 4);
    REQUIRE(buf);
    memcpy(buf, sb.data, sb.size);
    memset(buf + sb.size, 0, 4);
    codeobj_metadata *md = NULL;
    CHECK(codeobj_parse_metadata_msgpack(buf, sb.size + 4, &md, err, sizeof err) == 0);
    codeobj_metadata_free(md);
    buf[sb.size + 2] = 0x2a;
    EXPECT_MSGPACK_ERROR(buf, sb.size + 4, "bytes after the msgpack map");
    /* Every truncation fails cleanly. */
    for (size_t n = 0; n < sb.size; n++) {
        md = NULL;
        CHECK(codeobj_parse_metadata_msgpack(buf, n, &md, err, sizeof err) != 0);
        CHECK(md == NULL);
    }
    free(buf);
    msgpack_sbuffer_destroy(&sb);
}

static void test_msgpack_lies(void)
{
    /* A 5-byte array claiming 4 billion elements: msgpack-c would allocate
     * 96 GiB for it before reading one. */
    static const uint8_t huge_array[] = {0xdd, 0xff, 0xff, 0xff, 0xff};
    EXPECT_MSGPACK_ERROR(huge_array, sizeof huge_array, "declares more elements than bytes remain");
    static const uint8_t huge_map[] = {0x81, 0xa1, 'k', 0xdf, 0x10, 0x00, 0x00, 0x00, 0xc0};
    EXPECT_MSGPACK_ERROR(huge_map, sizeof huge_map, "declares more elements than bytes remain");
    static const uint8_t huge_str[] = {0xdb, 0x7f, 0xff, 0xff, 0xff, 'x'};
    EXPECT_MSGPACK_ERROR(huge_str, sizeof huge_str, "truncated");
    static const uint8_t reserved[] = {0xc1};
    EXPECT_MSGPACK_ERROR(reserved, sizeof reserved, "invalid msgpack byte 0xc1");
    EXPECT_MSGPACK_ERROR(reserved, 0, "empty");
    /* Deeper nesting than msgpack-c's stack: an error, not a crash. */
    uint8_t deep[200];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0xc0;
    EXPECT_MSGPACK_ERROR(deep, sizeof deep, "metadata");
}

static void test_elf_headers(const uint8_t *basic, size_t basic_size)
{
    EXPECT_ELF_ERROR(NULL, 0, "not an ELF file");
    uint8_t junk[64];
    memset(junk, 'x', sizeof junk);
    EXPECT_ELF_ERROR(junk, sizeof junk, "not an ELF file (bad magic)");
    EXPECT_ELF_ERROR(basic, 10, "not an ELF file (10 bytes)");
    EXPECT_ELF_ERROR(basic, 40, "truncated ELF header");

    uint8_t *img = dup_image(basic, basic_size);
    img[EI_CLASS] = ELFCLASS32;
    EXPECT_ELF_ERROR(img, basic_size, "code objects are 64-bit ELF");
    memcpy(img, basic, basic_size);
    img[EI_DATA] = ELFDATA2MSB;
    EXPECT_ELF_ERROR(img, basic_size, "little-endian");

    /* The section header table is the last thing in the file. */
    EXPECT_ELF_ERROR(basic, basic_size / 2, "outside the file");
    EXPECT_ELF_ERROR(basic, basic_size - 1, "overrun the file");

    memcpy(img, basic, basic_size);
    ehdr(img)->e_shentsize = 40;
    EXPECT_ELF_ERROR(img, basic_size, "section header size 40");

    memcpy(img, basic, basic_size);
    ehdr(img)->e_shnum = 0xffff;
    EXPECT_ELF_ERROR(img, basic_size, "section headers at");

    memcpy(img, basic, basic_size);
    ehdr(img)->e_phentsize = 12;
    EXPECT_ELF_ERROR(img, basic_size, "program header size 12");

    /* The note section reaching past the end of the file. */
    memcpy(img, basic, basic_size);
    Elf64_Shdr *note = section_of_type(img, SHT_NOTE, ".note.AMDGPU");
    REQUIRE(note);
    note->sh_size = basic_size;
    EXPECT_ELF_ERROR(img, basic_size, "is outside the file");

    /* A note whose descriptor overruns its section. */
    memcpy(img, basic, basic_size);
    note = section_of_type(img, SHT_NOTE, ".note.AMDGPU");
    Elf64_Nhdr nh;
    memcpy(&nh, img + note->sh_offset, sizeof nh);
    nh.n_descsz += 64;
    memcpy(img + note->sh_offset, &nh, sizeof nh);
    EXPECT_ELF_ERROR(img, basic_size, "overruns it");
    nh.n_descsz = 0xfffffff0u;
    memcpy(img + note->sh_offset, &nh, sizeof nh);
    EXPECT_ELF_ERROR(img, basic_size, "overruns it");

    /* The metadata note turned into another type: no metadata. */
    memcpy(img, basic, basic_size);
    note = section_of_type(img, SHT_NOTE, ".note.AMDGPU");
    memcpy(&nh, img + note->sh_offset, sizeof nh);
    nh.n_type = 33;
    memcpy(img + note->sh_offset, &nh, sizeof nh);
    EXPECT_ELF_ERROR(img, basic_size, "no NT_AMDGPU_METADATA note");

    /* The descriptor's first byte broken. */
    memcpy(img, basic, basic_size);
    note = section_of_type(img, SHT_NOTE, ".note.AMDGPU");
    img[note->sh_offset + sizeof nh + 8] = 0xc1;
    EXPECT_ELF_ERROR(img, basic_size, "invalid msgpack byte 0xc1");

    /* .dynsym pointing at a string table that does not exist, or names
     * outside it. */
    codeobj_symbol *syms = NULL;
    size_t n = 0;
    memcpy(img, basic, basic_size);
    Elf64_Shdr *dynsym = section_of_type(img, SHT_DYNSYM, NULL);
    REQUIRE(dynsym);
    dynsym->sh_link = 999;
    CHECK(codeobj_dynamic_symbols(img, basic_size, &syms, &n, err, sizeof err) != 0);
    CHECK_CONTAINS(err, ".dynsym links to section 999");
    CHECK(syms == NULL);
    memcpy(img, basic, basic_size);
    dynsym = section_of_type(img, SHT_DYNSYM, NULL);
    Elf64_Sym s;
    memcpy(&s, img + dynsym->sh_offset + sizeof s, sizeof s);
    s.st_name = 0x7fffffff;
    memcpy(img + dynsym->sh_offset + sizeof s, &s, sizeof s);
    CHECK(codeobj_dynamic_symbols(img, basic_size, &syms, &n, err, sizeof err) != 0);
    CHECK_CONTAINS(err, "name outside the string table");
    memcpy(img, basic, basic_size);
    dynsym = section_of_type(img, SHT_DYNSYM, NULL);
    dynsym->sh_size = (uint64_t)basic_size * 2;
    CHECK(codeobj_dynamic_symbols(img, basic_size, &syms, &n, err, sizeof err) != 0);
    CHECK_CONTAINS(err, ".dynsym is outside the file");

    /* And the untouched image is fine. */
    CHECK(codeobj_dynamic_symbols(basic, basic_size, &syms, &n, err, sizeof err) == 0);
    CHECK(n > 0);
    free(syms);
    free(img);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s BASIC.co\n", argv[0]);
        return 2;
    }
    size_t size;
    uint8_t *basic = read_file(argv[1], &size);
    codeobj_metadata *md = NULL;
    REQUIRE(codeobj_parse_metadata(basic, size, &md, err, sizeof err) == 0);
    codeobj_metadata_free(md);

    test_elf_headers(basic, size);
    test_documents();
    test_msgpack_lies();
    free(basic);
    return check_result();
}
