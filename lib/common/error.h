/* Error detail that travels with a rochp_status inside the library: the
 * status says what kind of failure, the message names the file and line. */
#ifndef ROCHP_COMMON_ERROR_H
#define ROCHP_COMMON_ERROR_H

#include "rochp/rochp.h"

#define ROCHP_ERROR_MESSAGE_MAX 512

typedef struct rochp__error {
    rochp_status status;
    char message[ROCHP_ERROR_MESSAGE_MAX];
} rochp__error;

/* Records status and a printf-style message in err (which may be NULL) and
 * returns status, so that callers can write `return rochp__fail(err, ...)`. */
rochp_status rochp__fail(rochp__error *err, rochp_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The status that errno from a failed system call maps to. */
rochp_status rochp__status_from_errno(int errnum);

#endif
