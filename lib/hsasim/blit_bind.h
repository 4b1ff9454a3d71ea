/* ROCclr's blit program on hsasim (blit_bind.c, blit_image.c,
 * blit_kernels.c): the one AMDGPU code object the loader accepts, by running
 * hsasim's host implementation of its kernels in its place. */
#ifndef HSASIM_BLIT_BIND_H
#define HSASIM_BLIT_BIND_H

#include <stddef.h>
#include <stdint.h>

#include <hsa/hsa.h>

/* The HIP versions whose blit kernels blit_kernels.c implements: 5.2.3's
 * COMGR emits code object v4, 5.7.1's v5. */
#define SIM_BLIT_HIP_VERSIONS "5.2.3 (code object v4) and 5.7.1 (v5)"

/* For an AMDGPU code object (image, size) being loaded on an agent of ISA
 * agent_isa ("" when the agent has none: the host load then reports why):
 * - HSA_STATUS_INFO_BREAK: not ROCclr's blit program (no kernel named
 *   __amd_rocclr_*); the caller refuses it as any AMDGPU object.
 * - HSA_STATUS_SUCCESS: *host, *host_size are the host code object to load
 *   instead; every kernel of the program has a host kernel of the same name
 *   and the same kernarg layout (size, alignment, and per argument offset,
 *   size, value kind and, for buffers, address space), the hidden arguments
 *   those of the object's code object version (its amdhsa.version).  With agent_isa ""
 *   nothing is checked: the host load refuses the agent as it would.
 * - an error, after a line on stderr naming the kernel and the argument that
 *   differ (another HIP version), a kernel hsasim does not implement, or the
 *   ISA the agent does not support. */
hsa_status_t sim_blit_bind(const uint8_t *image, size_t size, const char *agent_isa,
                           const char *uri, const uint8_t **host, size_t *host_size);

/* The embedded host code object for code object version 4 or 5
 * (blit_image.c); NULL for any other version. */
const uint8_t *sim_blit_image(unsigned version, size_t *size);

#endif
