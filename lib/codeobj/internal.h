/* What the reader's files share; not for users of codeobj.h. */
#ifndef ROCHP_CODEOBJ_INTERNAL_H
#define ROCHP_CODEOBJ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* Formats the message into err (when given) and returns -1. */
int codeobj_fail(char *err, size_t err_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Checks that data is one msgpack object (then only zero bytes) in which no
 * string or container claims more than the bytes that remain: what msgpack-c
 * would allocate is then bounded by the input size.  0 or -1 with err filled. */
int codeobj_msgpack_precheck(const uint8_t *p, size_t n, char *err, size_t err_size);

#endif
