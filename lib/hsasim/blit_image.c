/* The host code object of blit_kernels.c, built by rochp_add_host_code_object
 * and embedded in the runtime at build time (CMake passes its path as
 * SIM_BLIT_CODE_OBJECT), so that the runtime needs no file beside it. */
#include "blit_bind.h"

#ifndef SIM_BLIT_CODE_OBJECT
#error "SIM_BLIT_CODE_OBJECT: the path of the blit host code object"
#endif

__asm__(".pushsection .rodata.hsasim_blit,\"a\"\n"
        ".balign 64\n"
        ".globl hsasim_blit_image_start\n"
        ".hidden hsasim_blit_image_start\n"
        "hsasim_blit_image_start:\n"
        ".incbin \"" SIM_BLIT_CODE_OBJECT "\"\n"
        ".globl hsasim_blit_image_end\n"
        ".hidden hsasim_blit_image_end\n"
        "hsasim_blit_image_end:\n"
        ".popsection\n");

extern const uint8_t hsasim_blit_image_start[], hsasim_blit_image_end[];

const uint8_t *sim_blit_image(size_t *size)
{
    *size = (size_t)(hsasim_blit_image_end - hsasim_blit_image_start);
    return hsasim_blit_image_start;
}
