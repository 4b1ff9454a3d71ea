/* ROCclr's blit program, bound by name to hsasim's host kernels.
 *
 * HIP (ROCclr, device/rocm/rocdevice.cpp Device::createBlitProgram and
 * device/device.cpp BlitProgram::create) compiles its blit kernels with COMGR
 * into a real AMDGPU code object for the device's ISA when a device first gets
 * a queue, and loads it with hsa_executable_load_agent_code_object; without
 * it every hipMemset and many hipMemcpy fail ("Couldn't create blit
 * kernels!").  hsasim runs host code only, so when the loader is handed that
 * program it loads blit_kernels.c's host code object instead, provided that
 * each kernel of the real object has a host kernel of the same name whose
 * kernarg layout is identical: ROCclr writes the kernargs after the real
 * object's metadata (COMGR), the host kernel reads them after its own
 * declaration, so any difference (another HIP version, another compiler)
 * would silently misbehave.  It is refused instead, naming the kernel and the
 * argument.  Both notes are read by lib/codeobj.
 *
 * The hidden arguments are laid out by the code object version, which the
 * real object's metadata names (amdhsa.version [1, 1] is v4, [1, 2] v5; LLVM
 * AMDGPUUsage, "Code Object Metadata"): HIP 5.2.3's COMGR (clang-15) writes v4
 * (hidden_global_offset_x at the end of the explicit arguments), HIP 5.7.1's
 * v5 (hidden_block_count_x there, the global offsets 40 bytes further).  The
 * host kernels are built once per version (blit_kernels.c), and the object's
 * version picks the one it is compared with. */
#include <stdio.h>
#include <string.h>

#include "blit_bind.h"
#include "codeobj/codeobj.h"
#include "loader.h"

#define BLIT_PREFIX "__amd_rocclr_"

static bool is_blit_program(const codeobj_metadata *md)
{
    for (uint32_t i = 0; i < md->n_kernels; i++)
        if (md->kernels[i].name && strncmp(md->kernels[i].name, BLIT_PREFIX, strlen(BLIT_PREFIX)) == 0)
            return true;
    return false;
}

static const codeobj_kernel *kernel_named(const codeobj_metadata *md, const char *name)
{
    for (uint32_t i = 0; i < md->n_kernels; i++)
        if (md->kernels[i].name && strcmp(md->kernels[i].name, name) == 0)
            return &md->kernels[i];
    return NULL;
}

static const char *kind_name(const codeobj_arg *a)
{
    return a->value_kind_name ? a->value_kind_name : "?";
}

static void refuse(const char *uri, const char *kernel, const char *what)
{
    fprintf(stderr,
            "hsasim: %s: ROCclr blit kernel %s: %s; hsasim's host blit kernels are those of HIP "
            "%s (ROCclr device/blitcl.cpp, ROCm-Device-Libs amdblit.cl): refused\n",
            uri, kernel, what, SIM_BLIT_HIP_VERSIONS);
}

/* Whether argument i agrees; else *why says how it differs. */
static bool same_arg(const codeobj_arg *r, const codeobj_arg *h, uint32_t i, char *why,
                     size_t size)
{
    bool buffer = r->value_kind == CODEOBJ_VK_GLOBAL_BUFFER;
    if (r->offset == h->offset && r->size == h->size && r->value_kind == h->value_kind &&
        r->value_kind != CODEOBJ_VK_UNKNOWN && (!buffer || r->address_space == h->address_space))
        return true;
    const char *ras = buffer ? codeobj_address_space_name(r->address_space) : NULL;
    const char *has = h->value_kind == CODEOBJ_VK_GLOBAL_BUFFER
                          ? codeobj_address_space_name(h->address_space)
                          : NULL;
    snprintf(why, size,
             "argument %u (%s): the code object has offset %u size %u %s%s%s, the host "
             "kernel offset %u size %u %s%s%s",
             i, r->name ? r->name : h->name ? h->name : "hidden", r->offset, r->size,
             kind_name(r), ras ? " " : "", ras ? ras : "", h->offset, h->size, kind_name(h),
             has ? " " : "", has ? has : "");
    return false;
}

/* A hidden_none argument of the host kernel over bytes no argument of the
 * real kernel touches: padding the note generator wants declared (a ulong4
 * is aligned at 32), which neither side reads or writes. */
static bool host_filler(const codeobj_arg *h, const codeobj_kernel *r)
{
    if (h->value_kind != CODEOBJ_VK_HIDDEN_NONE)
        return false;
    for (uint32_t i = 0; i < r->n_args; i++)
        if (r->args[i].offset < h->offset + h->size && h->offset < r->args[i].offset + r->args[i].size)
            return false;
    return true;
}

/* Whether the real kernel r and the host kernel h take the same kernargs. */
static bool same_layout(const codeobj_kernel *r, const codeobj_kernel *h, char *why, size_t size)
{
    uint32_t i = 0, j = 0;
    for (;;) {
        while (j < h->n_args && host_filler(&h->args[j], r))
            j++;
        if (i == r->n_args || j == h->n_args)
            break;
        if (!same_arg(&r->args[i], &h->args[j], i, why, size))
            return false;
        i++;
        j++;
    }
    if (i != r->n_args || j != h->n_args) {
        snprintf(why, size, "the code object has %u arguments, the host kernel %u", r->n_args,
                 h->n_args);
        return false;
    }
    if (r->kernarg_segment_size != h->kernarg_segment_size ||
        r->kernarg_segment_align != h->kernarg_segment_align) {
        snprintf(why, size,
                 "the code object's kernarg segment is %u bytes aligned %u, the host kernel's "
                 "%u aligned %u",
                 r->kernarg_segment_size, r->kernarg_segment_align, h->kernarg_segment_size,
                 h->kernarg_segment_align);
        return false;
    }
    return true;
}

hsa_status_t sim_blit_bind(const uint8_t *image, size_t size, const char *agent_isa,
                           const char *uri, const uint8_t **host, size_t *host_size)
{
    char err[CODEOBJ_ERROR_MAX];
    codeobj_metadata *real = NULL, *ours = NULL;
    if (codeobj_parse_metadata(image, size, &real, err, sizeof err) != 0)
        return HSA_STATUS_INFO_BREAK; /* no readable note: refused as any AMDGPU object */
    hsa_status_t st = HSA_STATUS_INFO_BREAK;
    if (!is_blit_program(real))
        goto out;
    /* amdhsa.version [1, 1]: v4; [1, 2]: v5 (and [1, 0] v3, which no HIP
     * version hsasim runs emits). */
    unsigned version = real->version_major == 1 ? real->version_minor + 3 : 0;
    size_t ours_size;
    const uint8_t *ours_image = sim_blit_image(version, &ours_size);
    if (!ours_image) {
        char what[96];
        snprintf(what, sizeof what, "the code object's metadata is version [%u, %u], not v4 or v5",
                 real->version_major, real->version_minor);
        refuse(uri, real->n_kernels ? real->kernels[0].name : "?", what);
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }
    if (!agent_isa[0]) {
        /* No GPU ISA (a CPU, no agent): the host load fails as it would. */
        *host = ours_image;
        *host_size = ours_size;
        st = HSA_STATUS_SUCCESS;
        goto out;
    }
    st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    /* ROCR's loader checks the object's ISA against the agent's
     * (IsaSupportedByAgent); the host object names none, so it is done here. */
    if (!real->target || !sim_target_compatible(real->target, agent_isa)) {
        sim_loader_log("%s: code object's ISA (%s) is not supported by the agent (%s)", uri,
                       real->target ? real->target : "none", agent_isa);
        st = HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS;
        goto out;
    }
    if (codeobj_parse_metadata(ours_image, ours_size, &ours, err, sizeof err) != 0) {
        fprintf(stderr, "hsasim: the embedded blit code object: %s\n", err);
        st = HSA_STATUS_ERROR;
        goto out;
    }
    for (uint32_t i = 0; i < real->n_kernels; i++) {
        const codeobj_kernel *r = &real->kernels[i];
        const codeobj_kernel *h = kernel_named(ours, r->name);
        char why[400];
        if (!h) {
            refuse(uri, r->name, "hsasim has no host kernel of that name");
            goto out;
        }
        if (!same_layout(r, h, why, sizeof why)) {
            refuse(uri, r->name, why);
            goto out;
        }
    }
    sim_loader_log("%s: ROCclr's blit program (%u kernels, code object v%u): bound to hsasim's "
                   "host kernels", uri, real->n_kernels, version);
    *host = ours_image;
    *host_size = ours_size;
    st = HSA_STATUS_SUCCESS;
out:
    codeobj_metadata_free(real);
    codeobj_metadata_free(ours);
    return st;
}
