/* lib/hip's shared pieces (README.md in this folder). */
#ifndef ROCHP_HIP_INTERNAL_H
#define ROCHP_HIP_INTERNAL_H

#include <stdbool.h>

#include <rochp/rochp.h>

/* librochp's (ROCHP_0.3): the thread's rochp_last_error() message. */
rochp_status rochp__set_last_error(rochp_status status, const char *message);

/* A failure with its message, for rochp_last_error(). */
rochp_status hip_fail(rochp_status status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Whether the runtime loaded this library as its tool (OnLoad ran here),
 * and the path of that runtime. */
bool hip_tool_loaded(void);
/* A rochp_event_fn: a lost device's agent marked lost in the tool. */
void hip_tell_tool(rochp_context *ctx, const rochp_event *event, void *user);
const char *hip_tool_runtime_path(void);
/* memory.c -- the context's allocator: hipMalloc on the device's ordinal,
 * hipHostMalloc for the host. */
rochp_status hip_set_allocator(rochp_context *ctx);
/* Returns once the program's loss callbacks have heard of every loss the
 * tool knows, or after a bounded time: transparent mode's last step before
 * it ends the process (tool_set_before_exit). */
void hip_wait_told(void);

#endif
