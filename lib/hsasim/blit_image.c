/* The host code objects of blit_kernels.c (one per code object version),
 * built by rochp_add_host_code_object and embedded in the runtime at build
 * time (CMake passes their paths as SIM_BLIT_CODE_OBJECT_V4/_V5), so that the
 * runtime needs no file beside it. */
#include "blit_bind.h"

#if !defined(SIM_BLIT_CODE_OBJECT_V4) || !defined(SIM_BLIT_CODE_OBJECT_V5)
#error "SIM_BLIT_CODE_OBJECT_V4, SIM_BLIT_CODE_OBJECT_V5: the paths of the blit host code objects"
#endif

#define SIM_BLIT_EMBED(name, path)                                                            \
    __asm__(".pushsection .rodata.hsasim_blit,\"a\"\n"                                        \
            ".balign 64\n"                                                                    \
            ".globl " #name "_start\n"                                                        \
            ".hidden " #name "_start\n" #name "_start:\n"                                     \
            ".incbin \"" path "\"\n"                                                          \
            ".globl " #name "_end\n"                                                          \
            ".hidden " #name "_end\n" #name "_end:\n"                                         \
            ".popsection\n");                                                                 \
    extern const uint8_t name##_start[], name##_end[];

SIM_BLIT_EMBED(hsasim_blit_v4, SIM_BLIT_CODE_OBJECT_V4)
SIM_BLIT_EMBED(hsasim_blit_v5, SIM_BLIT_CODE_OBJECT_V5)

const uint8_t *sim_blit_image(unsigned version, size_t *size)
{
    if (version == 5) {
        *size = (size_t)(hsasim_blit_v5_end - hsasim_blit_v5_start);
        return hsasim_blit_v5_start;
    }
    if (version == 4) {
        *size = (size_t)(hsasim_blit_v4_end - hsasim_blit_v4_start);
        return hsasim_blit_v4_start;
    }
    *size = 0;
    return NULL;
}
