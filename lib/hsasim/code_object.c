/* Code object reading for hsasim: ELF header, .dynsym, and the AMDGPU
 * metadata note (see code_object.h).  Every read of the image goes through
 * range checks on 64-bit offsets; headers are copied out with memcpy so that
 * an unaligned image is fine. */
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "code_object.h"
#include "common/arena.h"

static int fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t err_size, const char *fmt, ...)
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

int sim_co_read_elf(const void *image, size_t size, sim_co_elf *out, char *err, size_t err_size)
{
    const uint8_t *p = image;
    if (!p || size < EI_NIDENT)
        return fail(err, err_size, "not an ELF file (%zu bytes)", p ? size : 0);
    if (memcmp(p, ELFMAG, SELFMAG) != 0)
        return fail(err, err_size, "not an ELF file (bad magic)");
    if (p[EI_CLASS] != ELFCLASS64)
        return fail(err, err_size, "ELF class %u: code objects are 64-bit ELF", p[EI_CLASS]);
    if (p[EI_DATA] != ELFDATA2LSB)
        return fail(err, err_size, "ELF data encoding %u: code objects are little-endian",
                    p[EI_DATA]);
    if (size < sizeof(Elf64_Ehdr))
        return fail(err, err_size, "truncated ELF header (%zu bytes)", size);
    Elf64_Ehdr eh;
    memcpy(&eh, p, sizeof eh);
    *out = (sim_co_elf){
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
    sim_co_elf info;
    if (sim_co_read_elf(image, size, &info, err, err_size) != 0)
        return -1;
    v->p = image;
    v->size = size;
    memcpy(&v->eh, image, sizeof v->eh);
    v->shnum = 0;
    v->phnum = 0;
    if (v->eh.e_shoff) {
        if (v->eh.e_shentsize != sizeof(Elf64_Shdr))
            return fail(err, err_size, "section header size %u, expected %zu",
                        v->eh.e_shentsize, sizeof(Elf64_Shdr));
        if (!in_range(size, v->eh.e_shoff, sizeof(Elf64_Shdr)))
            return fail(err, err_size, "section header table at %llu is outside the file",
                        (unsigned long long)v->eh.e_shoff);
        uint64_t n = v->eh.e_shnum;
        if (n == 0) { /* more than SHN_LORESERVE sections: the count is in section 0 */
            Elf64_Shdr sh0;
            memcpy(&sh0, v->p + v->eh.e_shoff, sizeof sh0);
            n = sh0.sh_size;
        }
        if (n > (size - v->eh.e_shoff) / sizeof(Elf64_Shdr))
            return fail(err, err_size, "%llu section headers at %llu overrun the file",
                        (unsigned long long)n, (unsigned long long)v->eh.e_shoff);
        v->shnum = n;
    }
    if (v->eh.e_phoff && v->eh.e_phnum) {
        if (v->eh.e_phentsize != sizeof(Elf64_Phdr))
            return fail(err, err_size, "program header size %u, expected %zu",
                        v->eh.e_phentsize, sizeof(Elf64_Phdr));
        uint64_t n = v->eh.e_phnum;
        if (n == PN_XNUM) {
            if (!v->shnum)
                return fail(err, err_size, "PN_XNUM program headers without section 0");
            Elf64_Shdr sh0;
            get_shdr(v, 0, &sh0);
            n = sh0.sh_info;
        }
        if (v->eh.e_phoff > size || n > (size - v->eh.e_phoff) / sizeof(Elf64_Phdr))
            return fail(err, err_size, "%llu program headers at %llu overrun the file",
                        (unsigned long long)n, (unsigned long long)v->eh.e_phoff);
        v->phnum = n;
    }
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a)
{
    return (x + a - 1) & ~(a - 1);
}

/* Walks the notes in [off, off + len); 1 found, 0 not, -1 malformed. */
static int walk_notes(const elf_view *v, uint64_t off, uint64_t len, uint64_t align,
                      const char *where, const void **desc, size_t *desc_size, char *err,
                      size_t err_size)
{
    static const char owner[] = "AMDGPU";
    const uint8_t *base = v->p + off;
    uint64_t pos = 0;
    while (len - pos >= sizeof(Elf64_Nhdr)) {
        Elf64_Nhdr nh;
        memcpy(&nh, base + pos, sizeof nh);
        uint64_t name_off = pos + sizeof nh;
        uint64_t desc_off = name_off + align_up(nh.n_namesz, align);
        if (desc_off > len || nh.n_descsz > len - desc_off)
            return fail(err, err_size,
                        "%s: note at +%llu (name %u bytes, descriptor %u bytes) overruns it",
                        where, (unsigned long long)pos, nh.n_namesz, nh.n_descsz);
        if (nh.n_type == SIM_CO_NT_AMDGPU_METADATA && nh.n_namesz == sizeof owner &&
            memcmp(base + name_off, owner, sizeof owner) == 0) {
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

int sim_co_find_metadata_note(const void *image, size_t size, const void **desc,
                              size_t *desc_size, char *err, size_t err_size)
{
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
            return fail(err, err_size, "%s: [%llu, +%llu) is outside the file", where,
                        (unsigned long long)sh.sh_offset, (unsigned long long)sh.sh_size);
        int r = walk_notes(&v, sh.sh_offset, sh.sh_size, sh.sh_addralign == 8 ? 8 : 4, where,
                           desc, desc_size, err, err_size);
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
            return fail(err, err_size, "%s: [%llu, +%llu) is outside the file", where,
                        (unsigned long long)ph.p_offset, (unsigned long long)ph.p_filesz);
        int r = walk_notes(&v, ph.p_offset, ph.p_filesz, ph.p_align == 8 ? 8 : 4, where, desc,
                           desc_size, err, err_size);
        if (r != 0)
            return r;
    }
    return 0;
}

int sim_co_dynamic_symbols(const void *image, size_t size, sim_co_symbol **out, size_t *count,
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
            return fail(err, err_size, ".dynsym entry size %llu, expected %zu",
                        (unsigned long long)sh.sh_entsize, sizeof(Elf64_Sym));
        if (!in_range(size, sh.sh_offset, sh.sh_size))
            return fail(err, err_size, ".dynsym is outside the file");
        if (sh.sh_link == 0 || sh.sh_link >= v.shnum)
            return fail(err, err_size, ".dynsym links to section %u, which does not exist",
                        sh.sh_link);
        get_shdr(&v, sh.sh_link, &str);
        if (str.sh_type != SHT_STRTAB || !in_range(size, str.sh_offset, str.sh_size))
            return fail(err, err_size, ".dynsym's string table is not a string table in the file");
        const char *strtab = (const char *)v.p + str.sh_offset;
        uint64_t n = sh.sh_size / sizeof(Elf64_Sym);
        sim_co_symbol *syms = calloc(n ? n : 1, sizeof *syms);
        if (!syms)
            return fail(err, err_size, "out of memory for %llu symbols", (unsigned long long)n);
        size_t kept = 0;
        for (uint64_t k = 1; k < n; k++) { /* entry 0 is the null symbol */
            Elf64_Sym s;
            memcpy(&s, v.p + sh.sh_offset + k * sizeof s, sizeof s);
            if (s.st_name >= str.sh_size ||
                !memchr(strtab + s.st_name, 0, str.sh_size - s.st_name)) {
                free(syms);
                return fail(err, err_size, ".dynsym[%llu]: name outside the string table",
                            (unsigned long long)k);
            }
            sim_co_symbol *o = &syms[kept++];
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

/* --- msgpack ------------------------------------------------------------------- */

static int rd_be(const uint8_t *p, size_t n, size_t *pos, unsigned bytes, uint64_t *v)
{
    if (bytes > n - *pos)
        return -1;
    uint64_t x = 0;
    for (unsigned i = 0; i < bytes; i++)
        x = (x << 8) | p[*pos + i];
    *pos += bytes;
    *v = x;
    return 0;
}

/* Checks that data is one msgpack object (then only zero bytes) in which no
 * string or container claims more than the bytes that remain: what msgpack-c
 * would allocate is then bounded by the input size. */
static int msgpack_precheck(const uint8_t *p, size_t n, char *err, size_t err_size)
{
    size_t pos = 0;
    uint64_t pending = 1;
    while (pending) {
        if (pos >= n)
            return fail(err, err_size, "metadata: msgpack truncated at byte %zu", pos);
        uint8_t b = p[pos++];
        pending--;
        uint64_t skip = 0, add = 0, len = 0;
        int r = 0;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            /* fixint, nil, bool */
        } else if (b <= 0x8f) {
            add = 2u * (b & 0x0fu);
        } else if (b <= 0x9f) {
            add = b & 0x0fu;
        } else if (b <= 0xbf) {
            skip = b & 0x1fu;
        } else {
            switch (b) {
            case 0xc4: case 0xd9: r = rd_be(p, n, &pos, 1, &len); skip = len; break;
            case 0xc5: case 0xda: r = rd_be(p, n, &pos, 2, &len); skip = len; break;
            case 0xc6: case 0xdb: r = rd_be(p, n, &pos, 4, &len); skip = len; break;
            case 0xc7: r = rd_be(p, n, &pos, 1, &len); skip = len + 1; break;
            case 0xc8: r = rd_be(p, n, &pos, 2, &len); skip = len + 1; break;
            case 0xc9: r = rd_be(p, n, &pos, 4, &len); skip = len + 1; break;
            case 0xca: skip = 4; break;
            case 0xcb: skip = 8; break;
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: r = rd_be(p, n, &pos, 2, &len); add = len; break;
            case 0xdd: r = rd_be(p, n, &pos, 4, &len); add = len; break;
            case 0xde: r = rd_be(p, n, &pos, 2, &len); add = 2 * len; break;
            case 0xdf: r = rd_be(p, n, &pos, 4, &len); add = 2 * len; break;
            default: return fail(err, err_size, "metadata: invalid msgpack byte 0x%02x at %zu", b, pos - 1);
            }
        }
        if (r != 0 || skip > n - pos)
            return fail(err, err_size, "metadata: msgpack truncated at byte %zu", pos);
        pos += skip;
        pending += add;
        if (pending > n - pos)
            return fail(err, err_size,
                        "metadata: a msgpack container at byte %zu declares more elements than "
                        "bytes remain",
                        pos);
    }
    for (; pos < n; pos++)
        if (p[pos])
            return fail(err, err_size, "metadata: %zu bytes after the msgpack map", n - pos);
    return 0;
}

/* --- metadata schema --------------------------------------------------------------- */


static const char *const address_space_names[] = {
    [HSASIM_AS_PRIVATE] = "private", [HSASIM_AS_GLOBAL] = "global",
    [HSASIM_AS_CONSTANT] = "constant", [HSASIM_AS_LOCAL] = "local",
    [HSASIM_AS_GENERIC] = "generic", [HSASIM_AS_REGION] = "region",
};

static const char *const access_names[] = {
    [HSASIM_READ_ONLY] = "read_only",
    [HSASIM_WRITE_ONLY] = "write_only",
    [HSASIM_READ_WRITE] = "read_write",
};

const char *sim_co_value_kind_name(hsasim_value_kind kind)
{
    return hsasim_value_kind_name((unsigned)kind);
}

const char *sim_co_address_space_name(hsasim_address_space as)
{
    return (unsigned)as < sizeof address_space_names / sizeof *address_space_names
               ? address_space_names[as]
               : NULL;
}

const char *sim_co_access_name(hsasim_access access)
{
    return (unsigned)access < sizeof access_names / sizeof *access_names ? access_names[access]
                                                                         : NULL;
}

hsasim_access sim_co_arg_effective_access(const sim_co_arg *arg)
{
    if (arg->actual_access != HSASIM_ACCESS_NONE)
        return arg->actual_access;
    if (arg->access != HSASIM_ACCESS_NONE)
        return arg->access;
    return arg->is_const ? HSASIM_READ_ONLY : HSASIM_READ_WRITE;
}

/* Parsing state: the arena that ends up in the result and the error sink. */
typedef struct parse_ctx {
    rochp__arena *arena;
    char *err;
    size_t err_size;
    char where[160]; /* "amdhsa.kernels[1] (scale): .args[2]" */
} parse_ctx;

static bool str_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n && memcmp(o->via.str.ptr, s, n) == 0;
}

static const msgpack_object *map_get(const msgpack_object *map, const char *key)
{
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (str_is(&map->via.map.ptr[i].key, key))
            return &map->via.map.ptr[i].val;
    return NULL;
}

static int get_u32(parse_ctx *c, const msgpack_object *map, const char *key, bool required,
                   uint32_t dflt, uint32_t *out)
{
    const msgpack_object *o = map_get(map, key);
    if (!o) {
        if (required)
            return fail(c->err, c->err_size, "%s: %s is missing", c->where, key);
        *out = dflt;
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 > UINT32_MAX)
        return fail(c->err, c->err_size, "%s: %s is not an unsigned 32-bit integer", c->where,
                    key);
    *out = (uint32_t)o->via.u64;
    return 0;
}

static int get_bool(parse_ctx *c, const msgpack_object *map, const char *key, bool *out)
{
    const msgpack_object *o = map_get(map, key);
    *out = false;
    if (!o)
        return 0;
    if (o->type == MSGPACK_OBJECT_BOOLEAN)
        *out = o->via.boolean;
    else if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= 1)
        *out = o->via.u64 == 1;
    else
        return fail(c->err, c->err_size, "%s: %s is not a boolean", c->where, key);
    return 0;
}

/* A copy of a string value in the arena, NULL when absent and optional. */
static int get_str(parse_ctx *c, const msgpack_object *map, const char *key, bool required,
                   const char **out)
{
    const msgpack_object *o = map_get(map, key);
    *out = NULL;
    if (!o) {
        if (required)
            return fail(c->err, c->err_size, "%s: %s is missing", c->where, key);
        return 0;
    }
    if (o->type != MSGPACK_OBJECT_STR)
        return fail(c->err, c->err_size, "%s: %s is not a string", c->where, key);
    if (memchr(o->via.str.ptr, 0, o->via.str.size))
        return fail(c->err, c->err_size, "%s: %s contains a NUL byte", c->where, key);
    char *s = rochp__arena_strndup(c->arena, o->via.str.ptr, o->via.str.size);
    if (!s)
        return fail(c->err, c->err_size, "%s: out of memory", c->where);
    *out = s;
    return 0;
}

/* An enumerated string: index into names[0..n), 0 (the NONE value) when absent. */
static int get_enum(parse_ctx *c, const msgpack_object *map, const char *key,
                    const char *const *names, size_t n, unsigned *out)
{
    const char *s;
    *out = 0;
    if (get_str(c, map, key, false, &s) != 0)
        return -1;
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (names[i] && strcmp(names[i], s) == 0) {
            *out = (unsigned)i;
            return 0;
        }
    return fail(c->err, c->err_size, "%s: %s \"%s\" is not one the specification defines",
                c->where, key, s);
}

static int parse_arg(parse_ctx *c, const msgpack_object *o, const sim_co_kernel *k, sim_co_arg *a)
{
    if (o->type != MSGPACK_OBJECT_MAP)
        return fail(c->err, c->err_size, "%s: not a map", c->where);
    unsigned as, acc, act;
    if (get_str(c, o, ".name", false, &a->name) || get_str(c, o, ".type_name", false, &a->type_name) ||
        get_str(c, o, ".value_kind", true, &a->value_kind_name) ||
        get_u32(c, o, ".offset", true, 0, &a->offset) || get_u32(c, o, ".size", true, 0, &a->size) ||
        get_u32(c, o, ".pointee_align", false, 0, &a->pointee_align) ||
        get_enum(c, o, ".address_space", address_space_names,
                 sizeof address_space_names / sizeof *address_space_names, &as) ||
        get_enum(c, o, ".access", access_names, sizeof access_names / sizeof *access_names, &acc) ||
        get_enum(c, o, ".actual_access", access_names, sizeof access_names / sizeof *access_names,
                 &act) ||
        get_bool(c, o, ".is_const", &a->is_const) || get_bool(c, o, ".is_restrict", &a->is_restrict) ||
        get_bool(c, o, ".is_volatile", &a->is_volatile) || get_bool(c, o, ".is_pipe", &a->is_pipe))
        return -1;
    a->address_space = (hsasim_address_space)as;
    a->access = (hsasim_access)acc;
    a->actual_access = (hsasim_access)act;
    a->value_kind = HSASIM_VK_UNKNOWN; /* kinds newer than this reader are kept, not fatal */
    for (unsigned i = 0; i < HSASIM_VK_COUNT_; i++)
        if (hsasim_value_kind_name(i) && strcmp(hsasim_value_kind_name(i), a->value_kind_name) == 0)
            a->value_kind = (hsasim_value_kind)i;
    if ((uint64_t)a->offset + a->size > k->kernarg_segment_size)
        return fail(c->err, c->err_size,
                    "%s: [%u, %llu) lies outside the kernarg segment of %u bytes", c->where,
                    a->offset, (unsigned long long)a->offset + a->size, k->kernarg_segment_size);
    return 0;
}

static int parse_kernel(parse_ctx *c, const msgpack_object *o, uint32_t index, sim_co_kernel *k)
{
    snprintf(c->where, sizeof c->where, "amdhsa.kernels[%u]", index);
    if (o->type != MSGPACK_OBJECT_MAP)
        return fail(c->err, c->err_size, "%s: not a map", c->where);
    if (get_str(c, o, ".name", true, &k->name) != 0)
        return -1;
    snprintf(c->where, sizeof c->where, "amdhsa.kernels[%u] (%.100s)", index, k->name);
    if (get_str(c, o, ".symbol", true, &k->symbol) ||
        get_u32(c, o, ".kernarg_segment_size", true, 0, &k->kernarg_segment_size) ||
        get_u32(c, o, ".kernarg_segment_align", true, 0, &k->kernarg_segment_align) ||
        get_u32(c, o, ".group_segment_fixed_size", true, 0, &k->group_segment_fixed_size) ||
        get_u32(c, o, ".private_segment_fixed_size", true, 0, &k->private_segment_fixed_size) ||
        get_u32(c, o, ".wavefront_size", false, 64, &k->wavefront_size) ||
        get_u32(c, o, ".sgpr_count", false, 0, &k->sgpr_count) ||
        get_u32(c, o, ".vgpr_count", false, 0, &k->vgpr_count) ||
        get_u32(c, o, ".max_flat_workgroup_size", false, 0, &k->max_flat_workgroup_size) ||
        get_bool(c, o, ".uses_dynamic_stack", &k->uses_dynamic_stack))
        return -1;
    if (!k->name[0] || !k->symbol[0])
        return fail(c->err, c->err_size, "%s: empty .name or .symbol", c->where);
    if (k->kernarg_segment_align == 0 || (k->kernarg_segment_align & (k->kernarg_segment_align - 1)))
        return fail(c->err, c->err_size, "%s: .kernarg_segment_align %u is not a power of two",
                    c->where, k->kernarg_segment_align);
    if (k->wavefront_size != 32 && k->wavefront_size != 64)
        return fail(c->err, c->err_size, "%s: .wavefront_size %u is neither 32 nor 64", c->where,
                    k->wavefront_size);
    const msgpack_object *args = map_get(o, ".args");
    if (!args)
        return 0;
    if (args->type != MSGPACK_OBJECT_ARRAY)
        return fail(c->err, c->err_size, "%s: .args is not an array", c->where);
    k->n_args = args->via.array.size;
    k->args = rochp__arena_alloc(c->arena, (size_t)k->n_args * sizeof *k->args + 1);
    if (!k->args)
        return fail(c->err, c->err_size, "%s: out of memory", c->where);
    size_t prefix = strlen(c->where);
    for (uint32_t i = 0; i < k->n_args; i++) {
        snprintf(c->where + prefix, sizeof c->where - prefix, ": .args[%u]", i);
        if (parse_arg(c, &args->via.array.ptr[i], k, &k->args[i]) != 0)
            return -1;
    }
    return 0;
}

static int parse_root(parse_ctx *c, const msgpack_object *root, sim_co_metadata *md)
{
    snprintf(c->where, sizeof c->where, "metadata");
    if (root->type != MSGPACK_OBJECT_MAP)
        return fail(c->err, c->err_size, "metadata: not a msgpack map");
    const msgpack_object *ver = map_get(root, "amdhsa.version");
    if (!ver || ver->type != MSGPACK_OBJECT_ARRAY || ver->via.array.size < 2 ||
        ver->via.array.ptr[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        ver->via.array.ptr[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
        ver->via.array.ptr[0].via.u64 > UINT32_MAX || ver->via.array.ptr[1].via.u64 > UINT32_MAX)
        return fail(c->err, c->err_size,
                    "metadata: amdhsa.version is missing or not [major, minor]");
    md->version_major = (uint32_t)ver->via.array.ptr[0].via.u64;
    md->version_minor = (uint32_t)ver->via.array.ptr[1].via.u64;
    if (get_str(c, root, "amdhsa.target", false, &md->target) != 0)
        return -1;
    const msgpack_object *kernels = map_get(root, "amdhsa.kernels");
    if (!kernels || kernels->type != MSGPACK_OBJECT_ARRAY)
        return fail(c->err, c->err_size, "metadata: amdhsa.kernels is missing or not an array");
    md->n_kernels = kernels->via.array.size;
    md->kernels = rochp__arena_alloc(c->arena, (size_t)md->n_kernels * sizeof *md->kernels + 1);
    if (!md->kernels)
        return fail(c->err, c->err_size, "metadata: out of memory");
    for (uint32_t i = 0; i < md->n_kernels; i++)
        if (parse_kernel(c, &kernels->via.array.ptr[i], i, &md->kernels[i]) != 0)
            return -1;
    return 0;
}

int sim_co_parse_metadata_msgpack(const void *data, size_t size, sim_co_metadata **out,
                                  char *err, size_t err_size)
{
    *out = NULL;
    if (!data || size == 0)
        return fail(err, err_size, "metadata: empty note");
    if (size > SIM_CO_MAX_NOTE_BYTES)
        return fail(err, err_size, "metadata: note of %zu bytes is larger than %u", size,
                    SIM_CO_MAX_NOTE_BYTES);
    if (msgpack_precheck(data, size, err, err_size) != 0)
        return -1;

    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    msgpack_unpack_return r = msgpack_unpack_next(&u, data, size, &off);
    if (r != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        return fail(err, err_size, "metadata: msgpack-c cannot decode it (%d)", (int)r);
    }
    rochp__arena *arena = calloc(1, sizeof *arena);
    sim_co_metadata *md = arena ? rochp__arena_alloc(arena, sizeof *md) : NULL;
    if (!md) {
        free(arena);
        msgpack_unpacked_destroy(&u);
        return fail(err, err_size, "metadata: out of memory");
    }
    md->storage_ = arena;
    parse_ctx c = {.arena = arena, .err = err, .err_size = err_size};
    int rc = parse_root(&c, &u.data, md);
    msgpack_unpacked_destroy(&u);
    if (rc != 0) {
        sim_co_metadata_free(md);
        return -1;
    }
    *out = md;
    return 0;
}

int sim_co_parse_metadata(const void *image, size_t size, sim_co_metadata **out, char *err,
                          size_t err_size)
{
    *out = NULL;
    const void *desc = NULL;
    size_t desc_size = 0;
    int r = sim_co_find_metadata_note(image, size, &desc, &desc_size, err, err_size);
    if (r < 0)
        return -1;
    if (r == 0)
        return fail(err, err_size,
                    "no NT_AMDGPU_METADATA note (owner \"AMDGPU\"): not a code object v3 or later");
    return sim_co_parse_metadata_msgpack(desc, desc_size, out, err, err_size);
}

void sim_co_metadata_free(sim_co_metadata *md)
{
    if (!md)
        return;
    rochp__arena *arena = md->storage_;
    rochp__arena_free(arena); /* md itself lives in the arena */
    free(arena);
}

const sim_co_kernel *sim_co_find_kernel(const sim_co_metadata *md, const char *symbol)
{
    for (uint32_t i = 0; md && i < md->n_kernels; i++)
        if (strcmp(md->kernels[i].symbol, symbol) == 0)
            return &md->kernels[i];
    return NULL;
}
