/* AMDGPU target ids and the ELF header fields a code object for them has
 * (LLVM AMDGPUUsage, "ELF Header"; the values of ROCR's hsa/amd_hsa_elf.h,
 * and of LLVM's BinaryFormat/ELF.h for processors newer than ROCm 5.2). */
#ifndef ROCHP_HOSTCO_AMDGPU_TARGET_H
#define ROCHP_HOSTCO_AMDGPU_TARGET_H

#include <stddef.h>
#include <stdint.h>

typedef struct amdgpu_elf_ident {
    uint8_t abi_version; /* EI_ABIVERSION (ELFABIVERSION_AMDGPU_HSA_V3..V5) */
    uint32_t e_flags;    /* EF_AMDGPU_MACH_* | xnack/sramecc feature bits */
} amdgpu_elf_ident;

/* The EI_ABIVERSION and e_flags of a code object of metadata version
 * [1, md_minor] (0..2: code object v3..v5) for target, an id such as
 * amdgcn-amd-amdhsa--gfx90a or amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-.
 * A feature the id leaves out is "any" where the processor has it (v4+),
 * as clang writes it.  0, or -1 with err saying what is not supported. */
int amdgpu_elf_ident_for(const char *target, uint32_t md_minor, amdgpu_elf_ident *out, char *err,
                         size_t err_size);

#endif
