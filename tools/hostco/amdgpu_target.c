/* Target id -> EI_ABIVERSION and e_flags (amdgpu_target.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "amdgpu_target.h"

/* EF_AMDGPU_* (LLVM BinaryFormat/ELF.h; ROCR 5.2.3 hsa/amd_hsa_elf.h). */
#define EF_XNACK_V3 0x100u
#define EF_SRAMECC_V3 0x200u
#define EF_XNACK_ANY_V4 0x100u
#define EF_XNACK_OFF_V4 0x200u
#define EF_XNACK_ON_V4 0x300u
#define EF_SRAMECC_ANY_V4 0x400u
#define EF_SRAMECC_OFF_V4 0x800u
#define EF_SRAMECC_ON_V4 0xc00u

/* The processors rochp-sim models and their neighbours: EF_AMDGPU_MACH and
 * whether the processor has the xnack / sramecc target features (LLVM
 * AMDGPUUsage, "AMDGPU Processors"). */
static const struct {
    const char *name;
    uint32_t mach;
    bool xnack, sramecc;
} processors[] = {
    {"gfx900", 0x02c, true, false},  {"gfx906", 0x02f, true, true},
    {"gfx908", 0x030, true, true},   {"gfx90a", 0x03f, true, true},
    {"gfx940", 0x040, true, true},   {"gfx941", 0x04b, true, true},
    {"gfx942", 0x04c, true, true},   {"gfx1030", 0x036, false, false},
    {"gfx1100", 0x041, false, false},
};

static int fail(char *err, size_t err_size, const char *what, const char *target)
{
    snprintf(err, err_size, "%s: %s", target, what);
    return -1;
}

int amdgpu_elf_ident_for(const char *target, uint32_t md_minor, amdgpu_elf_ident *out, char *err,
                         size_t err_size)
{
    static const char prefix[] = "amdgcn-amd-amdhsa--";
    if (strncmp(target, prefix, sizeof prefix - 1) != 0)
        return fail(err, err_size, "not an amdgcn-amd-amdhsa target id", target);
    if (md_minor > 2)
        return fail(err, err_size, "code object versions 3 to 5 only (amdhsa.version [1, 0..2])",
                    target);
    const char *proc = target + sizeof prefix - 1;
    size_t len = strcspn(proc, ":");
    size_t i = 0, n = sizeof processors / sizeof *processors;
    while (i < n &&
           !(strlen(processors[i].name) == len && memcmp(processors[i].name, proc, len) == 0))
        i++;
    if (i == n)
        return fail(err, err_size, "a processor rochp-hostco-wrap does not know", target);
    /* 0 left out, '+' on, '-' off. */
    char xnack = 0, sramecc = 0;
    for (const char *f = proc + len; *f == ':';) {
        f++;
        size_t m = strcspn(f, ":");
        char *which = m == 6 && memcmp(f, "xnack", 5) == 0     ? &xnack
                      : m == 8 && memcmp(f, "sramecc", 7) == 0 ? &sramecc
                                                                : NULL;
        if (!which || (f[m - 1] != '+' && f[m - 1] != '-') || *which)
            return fail(err, err_size, "features are xnack+/- and sramecc+/-, each once", target);
        *which = f[m - 1];
        f += m;
    }
    if ((xnack && !processors[i].xnack) || (sramecc && !processors[i].sramecc))
        return fail(err, err_size, "a feature the processor does not have", target);
    uint32_t flags = processors[i].mach;
    if (md_minor == 0) { /* v3: one bit each, set when on */
        flags |= (xnack == '+' ? EF_XNACK_V3 : 0) | (sramecc == '+' ? EF_SRAMECC_V3 : 0);
    } else {
        if (processors[i].xnack)
            flags |= xnack == '+'   ? EF_XNACK_ON_V4
                     : xnack == '-' ? EF_XNACK_OFF_V4
                                    : EF_XNACK_ANY_V4;
        if (processors[i].sramecc)
            flags |= sramecc == '+'   ? EF_SRAMECC_ON_V4
                     : sramecc == '-' ? EF_SRAMECC_OFF_V4
                                      : EF_SRAMECC_ANY_V4;
    }
    /* ELFABIVERSION_AMDGPU_HSA_V3 = 1, V4 = 2, V5 = 3. */
    out->abi_version = (uint8_t)(md_minor + 1);
    out->e_flags = flags;
    return 0;
}
