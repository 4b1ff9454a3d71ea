/* The ELF side of code objects: header, note walk, .dynsym.  Every read of
 * the image goes through range checks on 64-bit offsets; headers are copied
 * out with memcpy so that an unaligned image is fine. */
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codeobj/codeobj.h"
#include "codeobj/internal.h"

int codeobj_fail(char *err, size_t err_size, const char *fmt, ...)
{
    if (err && err_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_size, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* [off, off + len) lies within [0, size). */
static bool in_range(size_t size, uint64_t off, uint64_t len)
{
    return off <= size && len <= size - off;
}

/* --- ELF ----------------------------------------------------------------------- */

typedef struct elf_view {
    const uint8_t *p;
    size_t size;
    Elf64_Ehdr eh;
    uint64_t shnum; /* 0 when there is no section header table */
    uint64_t phnum;
} elf_view;

int codeobj_read_elf(const void *image, size_t size, codeobj_elf *out, char *err, size_t err_size)
{
    const uint8_t *p = image;
    if (!p || size < EI_NIDENT)
        return codeobj_fail(err, err_size, "not an ELF file (%zu bytes)", p ? size : 0);
    if (memcmp(p, ELFMAG, SELFMAG) != 0)
        return codeobj_fail(err, err_size, "not an ELF file (bad magic)");
    if (p[EI_CLASS] != ELFCLASS64)
        return codeobj_fail(err, err_size, "ELF class %u: code objects are 64-bit ELF",
                            p[EI_CLASS]);
    if (p[EI_DATA] != ELFDATA2LSB)
        return codeobj_fail(err, err_size, "ELF data encoding %u: code objects are little-endian",
                            p[EI_DATA]);
    if (size < sizeof(Elf64_Ehdr))
        return codeobj_fail(err, err_size, "truncated ELF header (%zu bytes)", size);
    Elf64_Ehdr eh;
    memcpy(&eh, p, sizeof eh);
    *out = (codeobj_elf){
        .ei_class = p[EI_CLASS],
        .ei_data = p[EI_DATA],
        .ei_osabi = p[EI_OSABI],
        .ei_abiversion = p[EI_ABIVERSION],
        .e_type = eh.e_type,
        .e_machine = eh.e_machine,
        .e_flags = eh.e_flags,
    };
    return 0;
}

static void get_shdr(const elf_view *v, uint64_t i, Elf64_Shdr *sh)
{
    memcpy(sh, v->p + v->eh.e_shoff + i * sizeof *sh, sizeof *sh);
}

static void get_phdr(const elf_view *v, uint64_t i, Elf64_Phdr *ph)
{
    memcpy(ph, v->p + v->eh.e_phoff + i * sizeof *ph, sizeof *ph);
}

/* Header, section header table and program header table, checked. */
static int open_view(elf_view *v, const void *image, size_t size, char *err, size_t err_size)
{
    codeobj_elf info;
    if (codeobj_read_elf(image, size, &info, err, err_size) != 0)
        return -1;
    v->p = image;
    v->size = size;
    memcpy(&v->eh, image, sizeof v->eh);
    v->shnum = 0;
    v->phnum = 0;
    if (v->eh.e_shoff) {
        if (v->eh.e_shentsize != sizeof(Elf64_Shdr))
            return codeobj_fail(err, err_size, "section header size %u, expected %zu",
                                v->eh.e_shentsize, sizeof(Elf64_Shdr));
        if (!in_range(size, v->eh.e_shoff, sizeof(Elf64_Shdr)))
            return codeobj_fail(err, err_size, "section header table at %llu is outside the file",
                                (unsigned long long)v->eh.e_shoff);
        uint64_t n = v->eh.e_shnum;
        if (n == 0) { /* more than SHN_LORESERVE sections: the count is in section 0 */
            Elf64_Shdr sh0;
            memcpy(&sh0, v->p + v->eh.e_shoff, sizeof sh0);
            n = sh0.sh_size;
        }
        if (n > (size - v->eh.e_shoff) / sizeof(Elf64_Shdr))
            return codeobj_fail(err, err_size, "%llu section headers at %llu overrun the file",
                                (unsigned long long)n, (unsigned long long)v->eh.e_shoff);
        v->shnum = n;
    }
    if (v->eh.e_phoff && v->eh.e_phnum) {
        if (v->eh.e_phentsize != sizeof(Elf64_Phdr))
            return codeobj_fail(err, err_size, "program header size %u, expected %zu",
                                v->eh.e_phentsize, sizeof(Elf64_Phdr));
        uint64_t n = v->eh.e_phnum;
        if (n == PN_XNUM) {
            if (!v->shnum)
                return codeobj_fail(err, err_size, "PN_XNUM program headers without section 0");
            Elf64_Shdr sh0;
            get_shdr(v, 0, &sh0);
            n = sh0.sh_info;
        }
        if (v->eh.e_phoff > size || n > (size - v->eh.e_phoff) / sizeof(Elf64_Phdr))
            return codeobj_fail(err, err_size, "%llu program headers at %llu overrun the file",
                                (unsigned long long)n, (unsigned long long)v->eh.e_phoff);
        v->phnum = n;
    }
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* The note looked for: its owner (n_name, NUL included) and type. */
typedef struct note_key {
    const char *owner;
    size_t owner_size;
    uint32_t type;
} note_key;

/* Walks the notes in [off, off + len); 1 found, 0 not, -1 malformed. */
static int walk_notes(const elf_view *v, uint64_t off, uint64_t len, uint64_t align,
                      const char *where, const note_key *key, const void **desc,
                      size_t *desc_size, char *err, size_t err_size)
{
    const uint8_t *base = v->p + off;
    uint64_t pos = 0;
    while (len - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, base + pos, sizeof nh);
        uint64_t name_off = pos + sizeof nh;
        uint64_t desc_off = name_off + align_up(nh.n_namesz, align);
        if (desc_off > len || nh.n_descsz > len - desc_off)
            return codeobj_fail(
                err, err_size, "%s: note at +%llu (name %u bytes, descriptor %u bytes) overruns it",
                where, (unsigned long long)pos, nh.n_namesz, nh.n_descsz);
        if (nh.n_type == key->type && nh.n_namesz == key->owner_size &&
            memcmp(base + name_off, key->owner, key->owner_size) == 0) {
            *desc = base + desc_off;
            *desc_size = nh.n_descsz;
            return 1;
        }
        pos = desc_off + align_up(nh.n_descsz, align);
        if (pos > len)
            break;
    }
    return 0;
}

int codeobj_find_metadata_note(const void *image, size_t size, const void **desc,
                              size_t *desc_size, char *err, size_t err_size)
{
    return codeobj_find_note(image, size, "AMDGPU", CODEOBJ_NT_AMDGPU_METADATA, desc, desc_size,
                             err, err_size);
}

int codeobj_find_note(const void *image, size_t size, const char *owner, uint32_t type,
                      const void **desc, size_t *desc_size, char *err, size_t err_size)
{
    const note_key key = {owner, strlen(owner) + 1, type};
    elf_view v;
    if (open_view(&v, image, size, err, err_size) != 0)
        return -1;
    char where[64];
    for (uint64_t i = 0; i < v.shnum; i++) {
        Elf64_Shdr sh;
        get_shdr(&v, i, &sh);
        if (sh.sh_type != SHT_NOTE)
            continue;
        snprintf(where, sizeof where, "note section %llu", (unsigned long long)i);
        if (!in_range(size, sh.sh_offset, sh.sh_size))
            return codeobj_fail(err, err_size, "%s: [%llu, +%llu) is outside the file", where,
                                (unsigned long long)sh.sh_offset, (unsigned long long)sh.sh_size);
        int r = walk_notes(&v, sh.sh_offset, sh.sh_size, sh.sh_addralign == 8 ? 8 : 4, where,
                           &key, desc, desc_size, err, err_size);
        if (r != 0)
            return r;
    }
    if (v.shnum)
        return 0;
    for (uint64_t i = 0; i < v.phnum; i++) {
        Elf64_Phdr ph;
        get_phdr(&v, i, &ph);
        if (ph.p_type != PT_NOTE)
            continue;
        snprintf(where, sizeof where, "PT_NOTE segment %llu", (unsigned long long)i);
        if (!in_range(size, ph.p_offset, ph.p_filesz))
            return codeobj_fail(err, err_size, "%s: [%llu, +%llu) is outside the file", where,
                                (unsigned long long)ph.p_offset, (unsigned long long)ph.p_filesz);
        int r = walk_notes(&v, ph.p_offset, ph.p_filesz, ph.p_align == 8 ? 8 : 4, where, &key,
                           desc, desc_size, err, err_size);
        if (r != 0)
            return r;
    }
    return 0;
}

int codeobj_dynamic_symbols(const void *image, size_t size, codeobj_symbol **out, size_t *count,
                           char *err, size_t err_size)
{
    *out = NULL;
    *count = 0;
    elf_view v;
    if (open_view(&v, image, size, err, err_size) != 0)
        return -1;
    for (uint64_t i = 0; i < v.shnum; i++) {
        Elf64_Shdr sh, str;
        get_shdr(&v, i, &sh);
        if (sh.sh_type != SHT_DYNSYM)
            continue;
        if (sh.sh_entsize != 0 && sh.sh_entsize != sizeof(Elf64_Sym))
            return codeobj_fail(err, err_size, ".dynsym entry size %llu, expected %zu",
                                (unsigned long long)sh.sh_entsize, sizeof(Elf64_Sym));
        if (!in_range(size, sh.sh_offset, sh.sh_size))
            return codeobj_fail(err, err_size, ".dynsym is outside the file");
        if (sh.sh_link == 0 || sh.sh_link >= v.shnum)
            return codeobj_fail(err, err_size, ".dynsym links to section %u, which does not exist",
                                sh.sh_link);
        get_shdr(&v, sh.sh_link, &str);
        if (str.sh_type != SHT_STRTAB || !in_range(size, str.sh_offset, str.sh_size))
            return codeobj_fail(err, err_size,
                                ".dynsym's string table is not a string table in the file");
        const char *strtab = (const char *)v.p + str.sh_offset;
        uint64_t n = sh.sh_size / sizeof(Elf64_Sym);
        codeobj_symbol *syms = calloc(n ? n : 1, sizeof *syms);
        if (!syms)
            return codeobj_fail(err, err_size, "out of memory for %llu symbols",
                                (unsigned long long)n);
        size_t kept = 0;
        for (uint64_t k = 1; k < n; k++) { /* entry 0 is the null symbol */
            Elf64_Sym s;
            memcpy(&s, v.p + sh.sh_offset + k * sizeof s, sizeof s);
            if (s.st_name >= str.sh_size ||
                !memchr(strtab + s.st_name, 0, str.sh_size - s.st_name)) {
                free(syms);
                return codeobj_fail(err, err_size, ".dynsym[%llu]: name outside the string table",
                                    (unsigned long long)k);
            }
            codeobj_symbol *o = &syms[kept++];
            o->name = strtab + s.st_name;
            o->type = ELF64_ST_TYPE(s.st_info);
            o->bind = ELF64_ST_BIND(s.st_info);
            o->visibility = ELF64_ST_VISIBILITY(s.st_other);
            o->defined = s.st_shndx != SHN_UNDEF;
            o->value = s.st_value;
            o->size = s.st_size;
            if (s.st_shndx != SHN_UNDEF && s.st_shndx < SHN_LORESERVE && s.st_shndx < v.shnum) {
                Elf64_Shdr in;
                get_shdr(&v, s.st_shndx, &in);
                o->section_flags = in.sh_flags;
                o->section_align = in.sh_addralign;
            }
        }
        *out = syms;
        *count = kept;
        return 0;
    }
    return 0;
}
