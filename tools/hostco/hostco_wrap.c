/* rochp-hostco-wrap: wraps a host code object for HIP.
 *
 *   rochp-hostco-wrap HOST.co OUTPUT.co
 *
 * HOST.co is a host code object (rochp_add_host_code_object) whose metadata
 * names its target (amdhsa.target, TARGET_ID).  OUTPUT.co is the EM_AMDGPU
 * wrapper of include/hsasim/code_object_wrapper.h around it: what HIP loads
 * as a code object for that target and hsasim runs as the host object.
 * rochp_add_hip_host_code_object runs it.
 *
 * Exit status: 0 done, 1 failure (the message says what), 2 usage. */
#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hsasim/code_object_wrapper.h>

#include "amdgpu_target.h"
#include "codeobj/codeobj.h"

#ifndef EM_AMDGPU
#define EM_AMDGPU 224
#endif
#define ELFOSABI_AMDGPU_HSA 64
/* A real code object's kernel descriptor is 64 bytes (AMDGPUUsage). */
#define KERNEL_DESCRIPTOR_SIZE 64

static const char *input_path = "";

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rochp-hostco-wrap: %s: ", input_path);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* A growing byte buffer: the output file. */
typedef struct buf {
    uint8_t *p;
    size_t n, cap;
} buf;

static void put(buf *b, const void *data, size_t n)
{
    if (b->cap - b->n < n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap - b->n < n)
            cap *= 2;
        if (!(b->p = realloc(b->p, cap)))
            fail("out of memory");
        b->cap = cap;
    }
    if (data)
        memcpy(b->p + b->n, data, n);
    else
        memset(b->p + b->n, 0, n);
    b->n += n;
}

static void align_to(buf *b, size_t a)
{
    size_t pad = (a - b->n % a) % a;
    put(b, NULL, pad);
}

static size_t put_str(buf *strtab, const char *s)
{
    size_t at = strtab->n;
    put(strtab, s, strlen(s) + 1);
    return at;
}

static void put_note(buf *b, const char *owner, uint32_t type, const void *desc, size_t size)
{
    Elf64_Nhdr nh = {(Elf64_Word)(strlen(owner) + 1), (Elf64_Word)size, type};
    put(b, &nh, sizeof nh);
    put(b, owner, nh.n_namesz);
    align_to(b, 4);
    put(b, desc, size);
    align_to(b, 4);
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail("cannot open: %s", strerror(errno));
    buf b = {0};
    uint8_t chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        put(&b, chunk, n);
    if (ferror(f))
        fail("cannot read: %s", strerror(errno));
    fclose(f);
    *size = b.n;
    return b.p;
}

static void write_file(const char *path, const buf *b)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp)
        fail("output path too long");
    FILE *f = fopen(tmp, "wb");
    if (!f)
        fail("cannot create %s: %s", tmp, strerror(errno));
    bool ok = fwrite(b->p, 1, b->n, f) == b->n;
    if (fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        fail("cannot write %s: %s", path, strerror(e));
    }
}

/* The symbols both tables get (after the null symbol). */
typedef struct wsym {
    const char *name;
    uint8_t type;
    uint64_t size;
} wsym;

static void add_sym(wsym **syms, size_t *n, const char *name, uint8_t type, uint64_t size)
{
    if (!(*syms = realloc(*syms, (*n + 1) * sizeof **syms)))
        fail("out of memory");
    (*syms)[(*n)++] = (wsym){name, type, size};
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Kernels from the metadata, as clang names them; variables as hsasim's
 * loader takes them (exported STT_OBJECT, no "__" names, no descriptors). */
static wsym *collect_symbols(const uint8_t *img, size_t size, const codeobj_metadata *md,
                             size_t *count)
{
    char err[CODEOBJ_ERROR_MAX];
    wsym *syms = NULL;
    size_t n = 0;
    for (uint32_t i = 0; i < md->n_kernels; i++) {
        add_sym(&syms, &n, md->kernels[i].name, STT_FUNC, 0);
        add_sym(&syms, &n, md->kernels[i].symbol, STT_OBJECT, KERNEL_DESCRIPTOR_SIZE);
    }
    codeobj_symbol *ds = NULL;
    size_t nds = 0;
    if (codeobj_dynamic_symbols(img, size, &ds, &nds, err, sizeof err) != 0)
        fail("%s", err);
    for (size_t i = 0; i < nds; i++)
        if (ds[i].defined && ds[i].type == STT_OBJECT &&
            (ds[i].bind == STB_GLOBAL || ds[i].bind == STB_WEAK) &&
            (ds[i].visibility == STV_DEFAULT || ds[i].visibility == STV_PROTECTED) &&
            ds[i].name[0] && strncmp(ds[i].name, "__", 2) != 0 && !ends_with(ds[i].name, ".kd"))
            add_sym(&syms, &n, ds[i].name, STT_OBJECT, ds[i].size);
    free(ds); /* the names point into img */
    *count = n;
    return syms;
}

enum { S_NULL, S_NOTE, S_DYNSYM, S_DYNSTR, S_SYMTAB, S_STRTAB, S_HOST, S_SHSTRTAB, S_COUNT };

int main(int argc, char **argv)
{
    if (argc != 3 || argv[1][0] == '-') {
        fputs("usage: rochp-hostco-wrap HOST.co OUTPUT.co\n"
              "Writes OUTPUT.co, the EM_AMDGPU wrapper HIP loads, around the host code\n"
              "object HOST.co (whose metadata must name its target).\n",
              argc == 2 && strcmp(argv[1], "--help") == 0 ? stdout : stderr);
        return argc == 2 && strcmp(argv[1], "--help") == 0 ? 0 : 2;
    }
    input_path = argv[1];
    char err[CODEOBJ_ERROR_MAX];
    size_t size = 0;
    uint8_t *img = read_file(input_path, &size);
    codeobj_elf elf;
    if (codeobj_read_elf(img, size, &elf, err, sizeof err) != 0)
        fail("%s", err);
    if (elf.e_machine == EM_AMDGPU || elf.e_type != ET_DYN)
        fail("not a host code object (ELF machine %u, type %u)", elf.e_machine, elf.e_type);
    const void *note = NULL;
    size_t note_size = 0;
    if (codeobj_find_metadata_note(img, size, &note, &note_size, err, sizeof err) != 1)
        fail("no AMDGPU metadata note%s%s", err[0] ? ": " : "", err);
    codeobj_metadata *md = NULL;
    if (codeobj_parse_metadata_msgpack(note, note_size, &md, err, sizeof err) != 0)
        fail("%s", err);
    if (!md->target)
        fail("the metadata names no target (amdhsa.target): build it with a TARGET_ID");
    if (md->version_major != 1)
        fail("amdhsa.version [%u, %u] is no code object v3+", md->version_major,
             md->version_minor);
    amdgpu_elf_ident id;
    if (amdgpu_elf_ident_for(md->target, md->version_minor, &id, err, sizeof err) != 0)
        fail("%s", err);
    size_t nsyms = 0;
    wsym *syms = collect_symbols(img, size, md, &nsyms);

    /* String tables: .dynstr and .strtab hold the same names. */
    buf str = {0}, shstr = {0};
    put(&str, "", 1);
    size_t *name_at = calloc(nsyms ? nsyms : 1, sizeof *name_at);
    if (!name_at)
        fail("out of memory");
    for (size_t i = 0; i < nsyms; i++)
        name_at[i] = put_str(&str, syms[i].name);
    static const char *const sec_names[S_COUNT] = {
        "", ".note", ".dynsym", ".dynstr", ".symtab", ".strtab", HSASIM_HOST_OBJECT_SECTION,
        ".shstrtab"};
    size_t sec_name_at[S_COUNT];
    for (int s = 0; s < S_COUNT; s++)
        sec_name_at[s] = put_str(&shstr, sec_names[s]);

    Elf64_Shdr sh[S_COUNT];
    memset(sh, 0, sizeof sh);
    buf out = {0};
    put(&out, NULL, sizeof(Elf64_Ehdr));

    /* .note: the metadata, then the marker (its offset is known below). */
    sh[S_NOTE] = (Elf64_Shdr){.sh_type = SHT_NOTE, .sh_flags = SHF_ALLOC, .sh_addralign = 4};
    align_to(&out, 4);
    sh[S_NOTE].sh_offset = out.n;
    put_note(&out, "AMDGPU", CODEOBJ_NT_AMDGPU_METADATA, note, note_size);
    hsasim_host_object_note marker = {HSASIM_WRAPPER_VERSION, elf.e_machine, 0, 0, size};
    size_t marker_at = out.n + sizeof(Elf64_Nhdr) + 8; /* "HSASIM\0" padded to 8 */
    put_note(&out, HSASIM_NOTE_OWNER, HSASIM_NT_HOST_OBJECT, &marker, sizeof marker);
    sh[S_NOTE].sh_size = out.n - sh[S_NOTE].sh_offset;

    for (int t = 0; t < 2; t++) { /* .dynsym + .dynstr, .symtab + .strtab */
        int symsec = t ? S_SYMTAB : S_DYNSYM, strsec = t ? S_STRTAB : S_DYNSTR;
        align_to(&out, 8);
        sh[symsec] = (Elf64_Shdr){.sh_type = t ? SHT_SYMTAB : SHT_DYNSYM,
                                  .sh_flags = t ? 0 : SHF_ALLOC,
                                  .sh_offset = out.n,
                                  .sh_size = (nsyms + 1) * sizeof(Elf64_Sym),
                                  .sh_link = strsec,
                                  .sh_info = 1, /* every symbol after the null one is global */
                                  .sh_addralign = 8,
                                  .sh_entsize = sizeof(Elf64_Sym)};
        put(&out, NULL, sizeof(Elf64_Sym));
        for (size_t i = 0; i < nsyms; i++) {
            Elf64_Sym es = {.st_name = (Elf64_Word)name_at[i],
                            .st_info = ELF64_ST_INFO(STB_GLOBAL, syms[i].type),
                            .st_other = STV_PROTECTED,
                            .st_shndx = S_HOST,
                            .st_size = syms[i].size};
            put(&out, &es, sizeof es);
        }
        sh[strsec] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_flags = t ? 0 : SHF_ALLOC,
                                  .sh_offset = out.n, .sh_size = str.n, .sh_addralign = 1};
        put(&out, str.p, str.n);
    }

    align_to(&out, 16);
    sh[S_HOST] = (Elf64_Shdr){.sh_type = SHT_PROGBITS, .sh_offset = out.n, .sh_size = size,
                              .sh_addralign = 16};
    marker.offset = out.n;
    memcpy(out.p + marker_at, &marker, sizeof marker);
    put(&out, img, size);

    sh[S_SHSTRTAB] = (Elf64_Shdr){.sh_type = SHT_STRTAB, .sh_offset = out.n, .sh_size = shstr.n,
                                  .sh_addralign = 1};
    put(&out, shstr.p, shstr.n);
    for (int s = 0; s < S_COUNT; s++)
        sh[s].sh_name = (Elf64_Word)sec_name_at[s];
    align_to(&out, 8);
    size_t shoff = out.n;
    put(&out, sh, sizeof sh);

    Elf64_Ehdr eh = {
        .e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT,
                    ELFOSABI_AMDGPU_HSA, id.abi_version},
        .e_type = ET_DYN,
        .e_machine = EM_AMDGPU,
        .e_version = EV_CURRENT,
        .e_flags = id.e_flags,
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_shoff = shoff,
        .e_shentsize = sizeof(Elf64_Shdr),
        .e_shnum = S_COUNT,
        .e_shstrndx = S_SHSTRTAB,
    };
    memcpy(out.p, &eh, sizeof eh);
    write_file(argv[2], &out);
    free(out.p);
    free(str.p);
    free(shstr.p);
    free(name_at);
    free(syms);
    codeobj_metadata_free(md);
    free(img);
    return 0;
}
