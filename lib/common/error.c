#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

rochp_status rochp__fail(rochp__error *err, rochp_status status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

rochp_status rochp__status_from_errno(int errnum)
{
    switch (errnum) {
    case ENOENT:
        return ROCHP_ERROR_NOT_FOUND;
    case ENOTDIR: /* a file where a directory belongs */
    case ELOOP:
        return ROCHP_ERROR_MALFORMED;
    case ENOMEM:
        return ROCHP_ERROR_OUT_OF_MEMORY;
    case EFBIG:
    case EMFILE:
    case ENFILE:
    case ENAMETOOLONG:
        return ROCHP_ERROR_TOO_LARGE;
    default:
        return ROCHP_ERROR_IO;
    }
}
