/* Wrapped host code objects: a host code object that HIP takes for an AMDGPU
 * one (docs/simulator.md, "Host code objects for HIP").
 *
 * HIP 5.2 (hipamd, ROCclr, COMGR) only runs code objects that are AMDGPU ELF
 * files: ROCclr types a shared object as an executable only when e_machine is
 * EM_AMDGPU (elf/elf.hpp, Elf::isHsaCo; else devprogram.cpp
 * Program::setBinary makes it a "library" that cannot be built), COMGR reads
 * the ISA from e_flags (comgr-metadata.cpp, getElfIsaNameFromElfHeader) and
 * the kernels from the NT_AMDGPU_METADATA note.  A wrapper is such a file
 * around a host code object (rochp_add_host_code_object):
 *
 *   ELF64, little-endian, ET_DYN, EM_AMDGPU, EI_OSABI ELFOSABI_AMDGPU_HSA,
 *   EI_ABIVERSION from the note's amdhsa.version ([1, 1] is code object v4:
 *   ELFABIVERSION_AMDGPU_HSA_V4), e_flags the processor and xnack/sramecc
 *   settings of amdhsa.target; no program headers; sections
 *     .note        the host object's NT_AMDGPU_METADATA note, byte for byte,
 *                  then the marker: a note of owner HSASIM_NOTE_OWNER and type
 *                  HSASIM_NT_HOST_OBJECT whose descriptor is an
 *                  hsasim_host_object_note
 *     .dynsym, .dynstr, .symtab, .strtab
 *                  each kernel as a real code object names it: "<name>"
 *                  (STT_FUNC) and "<name>.kd" (STT_OBJECT, 64 bytes), and the
 *                  host object's exported variables (STT_OBJECT), all GLOBAL
 *                  PROTECTED in section .hsasim.host_object, value 0 (they
 *                  name, they do not locate)
 *     .hsasim.host_object (HSASIM_HOST_OBJECT_SECTION)
 *                  the host code object, unchanged, at the marker's offset
 *     .shstrtab
 *   and the section header table last, so that the file's size is where
 *   ROCclr's Elf::getElfSize puts it.
 *
 * hsasim's loader takes an EM_AMDGPU file with a valid marker for the host
 * object it carries (whose own note must equal the wrapper's: HIP reads the
 * one, the loader the other) and refuses every other EM_AMDGPU file.
 * rochp-hostco-wrap (tools/hostco) writes wrappers. */
#ifndef HSASIM_CODE_OBJECT_WRAPPER_H
#define HSASIM_CODE_OBJECT_WRAPPER_H

#include <stdint.h>

/* The marker note's owner (n_name, with its NUL: 7 bytes) and type. */
#define HSASIM_NOTE_OWNER "HSASIM"
#define HSASIM_NT_HOST_OBJECT 1u
/* hsasim_host_object_note.version: this layout. */
#define HSASIM_WRAPPER_VERSION 1u
#define HSASIM_HOST_OBJECT_SECTION ".hsasim.host_object"

/* The marker's descriptor (24 bytes, little-endian like the file). */
typedef struct hsasim_host_object_note {
    uint32_t version;  /* HSASIM_WRAPPER_VERSION */
    uint16_t machine;  /* e_machine of the host object, e.g. EM_X86_64 (62) */
    uint16_t reserved; /* 0 */
    uint64_t offset;   /* the host object's bytes in the wrapper: [offset, offset + size) */
    uint64_t size;
} hsasim_host_object_note;

#endif
