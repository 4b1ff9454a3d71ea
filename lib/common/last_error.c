/* The per-thread message behind the last failing status, so that a status
 * code can travel alone and the cause is still one call away. */
#include <stdarg.h>
#include <stdio.h>

#include "common/last_error.h"

static _Thread_local char last_error[ROCHP_ERROR_MESSAGE_MAX];

const char *rochp_last_error(void)
{
    return last_error;
}

rochp_status rochp__set_error(rochp_status status, const rochp__error *err)
{
    snprintf(last_error, sizeof last_error, "%s",
             err && err->message[0] ? err->message : rochp_status_string(status));
    return status;
}

rochp_status rochp__set_errorf(rochp_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}

/* Exported (ROCHP_0.3) for the libraries built on librochp (librochp_hip):
 * their failures' messages must be the ones rochp_last_error() gives, and
 * the thread-local message lives here. */
__attribute__((visibility("default"))) rochp_status rochp__set_last_error(rochp_status status,
                                                                         const char *message);
rochp_status rochp__set_last_error(rochp_status status, const char *message)
{
    snprintf(last_error, sizeof last_error, "%s", message ? message : rochp_status_string(status));
    return status;
}
