/* Fuzz target for lib/codeobj: every input is read as an ELF
 * image (header, metadata note, dynamic symbols), as a bare msgpack metadata
 * map, and as the descriptor of an NT_AMDGPU_METADATA note in a minimal ELF
 * (so that mutations of the msgpack seed also go through the note walk).
 * Whatever parses is walked completely so that ASan sees any pointer into
 * freed or foreign memory. */
#include <elf.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include "codeobj/codeobj.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static void touch(const char *s)
{
    if (s)
        sink += strlen(s);
}

static void walk(const codeobj_metadata *md)
{
    touch(md->target);
    for (uint32_t i = 0; i < md->n_kernels; i++) {
        const codeobj_kernel *k = &md->kernels[i];
        touch(k->name);
        touch(k->symbol);
        sink += k->kernarg_segment_size + k->n_args;
        for (uint32_t j = 0; j < k->n_args; j++) {
            const codeobj_arg *a = &k->args[j];
            touch(a->name);
            touch(a->type_name);
            touch(a->value_kind_name);
            touch(codeobj_value_kind_name(a->value_kind));
            touch(codeobj_address_space_name(a->address_space));
            touch(codeobj_access_name(codeobj_arg_effective_access(a)));
            sink += (uint64_t)a->offset + a->size;
        }
        if (codeobj_find_kernel(md, k->symbol) == NULL)
            abort(); /* a kernel must be found by its own symbol */
    }
}

/* ELF64 header, then the note (owner "AMDGPU", type 32, desc), then a
 * section header table: null, .note. */
static uint8_t *wrap_in_elf(const uint8_t *desc, size_t desc_size, size_t *out_size)
{
    size_t note = sizeof(Elf64_Nhdr) + 8 + ((desc_size + 3) & ~(size_t)3);
    size_t off_note = sizeof(Elf64_Ehdr), off_sh = (off_note + note + 7) & ~(size_t)7;
    size_t size = off_sh + 2 * sizeof(Elf64_Shdr);
    uint8_t *img = calloc(1, size);
    if (!img)
        return NULL;
    Elf64_Ehdr eh = {.e_type = ET_DYN, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
                     .e_ehsize = sizeof eh, .e_shoff = off_sh, .e_shentsize = sizeof(Elf64_Shdr),
                     .e_shnum = 2};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    memcpy(img, &eh, sizeof eh);
    Elf64_Nhdr nh = {7, (uint32_t)desc_size, CODEOBJ_NT_AMDGPU_METADATA};
    memcpy(img + off_note, &nh, sizeof nh);
    memcpy(img + off_note + sizeof nh, "AMDGPU", 7);
    memcpy(img + off_note + sizeof nh + 8, desc, desc_size);
    Elf64_Shdr sh = {.sh_type = SHT_NOTE, .sh_offset = off_note, .sh_size = note,
                     .sh_addralign = 4};
    memcpy(img + off_sh + sizeof sh, &sh, sizeof sh);
    *out_size = size;
    return img;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[CODEOBJ_ERROR_MAX] = "";
    codeobj_elf elf;
    codeobj_metadata *md = NULL;
    if (codeobj_read_elf(data, size, &elf, err, sizeof err) == 0) {
        err[0] = 0;
        if (codeobj_parse_metadata(data, size, &md, err, sizeof err) == 0) {
            walk(md);
            codeobj_metadata_free(md);
        } else if (!err[0]) {
            abort(); /* an error always says what */
        }
        codeobj_symbol *syms = NULL;
        size_t n = 0;
        if (codeobj_dynamic_symbols(data, size, &syms, &n, err, sizeof err) == 0)
            for (size_t i = 0; i < n; i++)
                touch(syms[i].name);
        free(syms);
    }
    err[0] = 0;
    if (codeobj_parse_metadata_msgpack(data, size, &md, err, sizeof err) == 0) {
        walk(md);
        codeobj_metadata_free(md);
    } else if (!err[0]) {
        abort();
    }
    size_t wrapped_size;
    uint8_t *wrapped = size < (1u << 20) ? wrap_in_elf(data, size, &wrapped_size) : NULL;
    if (wrapped) {
        err[0] = 0;
        if (codeobj_parse_metadata(wrapped, wrapped_size, &md, err, sizeof err) == 0) {
            walk(md);
            codeobj_metadata_free(md);
        } else if (!err[0]) {
            abort();
        }
        free(wrapped);
    }
    return 0;
}
