/* The per-thread message behind the last failing status (rochp_last_error):
 * every failing call sets it, naming the cause. */
#ifndef ROCHP_COMMON_LAST_ERROR_H
#define ROCHP_COMMON_LAST_ERROR_H

#include "common/error.h"
#include "rochp/rochp.h"

/* Sets this thread's message and returns status, so that a failure can be
 * reported in one expression. */
rochp_status rochp__set_error(rochp_status status, const rochp__error *err);
rochp_status rochp__set_errorf(rochp_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
