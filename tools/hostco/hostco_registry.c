/* Linked into every host code object by rochp_add_host_code_object: lets the
 * note generator find the kernel declarations (HSASIM_KERNEL puts a pointer
 * to each in the section HSASIM_DECL_SECTION; the linker brackets the
 * section with __start_/__stop_ symbols, hidden here so that every object
 * sees its own). */
#include <stddef.h>

#include <hsasim/kernel_decl.h>

extern const hsasim_kernel_decl *const __start_hsasim_kernel_decls[]
    __attribute__((weak, visibility("hidden")));
extern const hsasim_kernel_decl *const __stop_hsasim_kernel_decls[]
    __attribute__((weak, visibility("hidden")));

__attribute__((visibility("default"))) size_t
hsasim_hostco_kernel_decls(const hsasim_kernel_decl *const **first);

size_t hsasim_hostco_kernel_decls(const hsasim_kernel_decl *const **first)
{
    *first = __start_hsasim_kernel_decls;
    if (!__start_hsasim_kernel_decls || !__stop_hsasim_kernel_decls)
        return 0;
    return (size_t)(__stop_hsasim_kernel_decls - __start_hsasim_kernel_decls);
}
