/* Which objects the application may still name: every context, buffer,
 * module, kernel, queue and restored map rochp hands out is registered here
 * until it is freed (or dies with its context), so that a call given a
 * freed or foreign pointer says so instead of reading freed memory.  The
 * registry only compares pointers; it never dereferences one.  A pointer
 * that malloc has since handed to a new object of the same kind cannot be
 * told from it: the common cases (a double free, use after
 * rochp_context_destroy) are caught, not every one.
 *
 * Lock: one process-wide mutex, a leaf (nothing is called while it is
 * held).  Not on any dispatch path. */
#ifndef ROCHP_COMMON_HANDLES_H
#define ROCHP_COMMON_HANDLES_H

#include <stdbool.h>

#include "rochp/rochp.h"

typedef enum handle_kind {
    HANDLE_CONTEXT = 1,
    HANDLE_BUFFER,
    HANDLE_MODULE,
    HANDLE_KERNEL,
    HANDLE_QUEUE,
    HANDLE_RESTORED,
} handle_kind;

/* ROCHP_ERROR_OUT_OF_MEMORY (message set) when the registry cannot grow. */
rochp_status handle_add(const void *p, handle_kind kind);
void handle_remove(const void *p);
bool handle_live(const void *p, handle_kind kind);
/* ROCHP_OK, or ROCHP_ERROR_INVALID_ARGUMENT with a message naming the call
 * and the kind ("rochp_buffer_free: 0x... is not a live buffer (freed, or
 * its context destroyed)"). */
rochp_status handle_check(const void *p, handle_kind kind, const char *call);

#endif
