/* hsasim's loader: the host code object inside a wrapper
 * (include/hsasim/code_object_wrapper.h has the format).
 *
 * A wrapper is recognised by its marker note alone, never by guessing from
 * the rest of the file; anything wrong with a marked file is an error that
 * names what, so that a broken build step shows as such and not as "an
 * AMDGPU ISA code object". */
#include <elf.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codeobj/codeobj.h"
#include "hsasim/code_object_wrapper.h"
#include "loader.h"

_Static_assert(sizeof(hsasim_host_object_note) == 24, "the marker's descriptor is 24 bytes");

/* Always on stderr (not only with ROCHP_LOG): a marked file that does not
 * load is a broken build step, which the user should hear of. */
static int wrapper_error(const char *uri, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int wrapper_error(const char *uri, const char *fmt, ...)
{
    char msg[CODEOBJ_ERROR_MAX + 128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "hsasim: %s: hsasim wrapper: %s\n", uri, msg);
    return -1;
}

int sim_unwrap_host_object(const uint8_t *data, size_t size, const char *uri, uint16_t machine,
                           const uint8_t **inner, size_t *inner_size)
{
    char err[CODEOBJ_ERROR_MAX];
    const void *desc = NULL;
    size_t desc_size = 0;
    int r = codeobj_find_note(data, size, HSASIM_NOTE_OWNER, HSASIM_NT_HOST_OBJECT, &desc,
                              &desc_size, err, sizeof err);
    if (r < 0)
        return wrapper_error(uri, "%s", err);
    if (r == 0)
        return 0;
    hsasim_host_object_note m;
    if (desc_size != sizeof m)
        return wrapper_error(uri, "the marker has %zu bytes, not %zu", desc_size, sizeof m);
    memcpy(&m, desc, sizeof m);
    if (m.version != HSASIM_WRAPPER_VERSION || m.reserved != 0)
        return wrapper_error(uri, "version %u (reserved %u): this hsasim reads version %u",
                             m.version, m.reserved, HSASIM_WRAPPER_VERSION);
    if (m.machine != machine)
        return wrapper_error(uri, "the host code object is for ELF machine %u, this host is %u",
                             m.machine, machine);
    if (m.size == 0 || m.offset > size || m.size > size - m.offset)
        return wrapper_error(uri, "the host code object [%llu, +%llu) is not inside the %zu-byte "
                             "file", (unsigned long long)m.offset, (unsigned long long)m.size,
                             size);
    /* HIP fills kernarg segments after the wrapper's note (ROCclr reads it
     * through COMGR), the processor after the host object's: they must be
     * one note, or arguments would land where the kernel does not look. */
    const void *outer_md = NULL, *inner_md = NULL;
    size_t outer_size = 0, inner_md_size = 0;
    const uint8_t *obj = data + m.offset;
    if (codeobj_find_metadata_note(data, size, &outer_md, &outer_size, err, sizeof err) != 1 ||
        codeobj_find_metadata_note(obj, (size_t)m.size, &inner_md, &inner_md_size, err,
                                   sizeof err) != 1 ||
        outer_size != inner_md_size || memcmp(outer_md, inner_md, outer_size) != 0)
        return wrapper_error(uri, "its AMDGPU metadata note (read by HIP) and the host code "
                             "object's (read by hsasim) are not the same");
    *inner = obj;
    *inner_size = (size_t)m.size;
    return 1;
}
