/* rochp_hip_init: transparent mode for HIP's queues, then HIP, then the
 * program's context.  The runtime reads HSA_TOOLS_LIB once, at its first
 * hsa_init (ROCR 5.2.3 Runtime::Load -> LoadTools; hsasim likewise), and
 * HIP starts the runtime at its first call (hipamd hip_context.cpp
 * hip::init -> ROCclr Device::init -> hsa_init), so the variable is set
 * here, before hipInit. */
#include <dlfcn.h>
#include <hip/hip_runtime_api.h>
#include <hsa/hsa.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hip_internal.h"
#include "tool.h"
#include "rochp/rochp_hip.h"

/* HSA_TOOLS_LIB with this library first and transparent mode's plain tool
 * (librochp_tool.so) taken out: two copies of the tool would wrap each
 * other.  Names are space-separated, as the runtime parses them. */
static rochp_status tools_variable(const char *self, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s", self);
    const char *old = getenv("HSA_TOOLS_LIB");
    for (const char *p = old; p && *p;) {
        while (*p == ' ')
            p++;
        const char *end = p;
        while (*end && *end != ' ')
            end++;
        size_t len = (size_t)(end - p);
        bool plain_tool = len >= 16 && memcmp(end - 16, "librochp_tool.so", 16) == 0;
        bool me = len == strlen(self) && memcmp(p, self, len) == 0;
        if (len && !plain_tool && !me) {
            if (n + 1 + len >= size)
                return hip_fail(ROCHP_ERROR_TOO_LARGE,
                                        "rochp_hip_init: HSA_TOOLS_LIB is too long");
            out[n++] = ' ';
            memcpy(out + n, p, len);
            n += len;
            out[n] = 0;
        }
        p = end;
    }
    return n < size ? ROCHP_OK
                    : hip_fail(ROCHP_ERROR_TOO_LARGE, "rochp_hip_init: path too long");
}

/* Whether the process's HSA runtime is up already (someone called
 * hsa_init): then HSA_TOOLS_LIB is read already. */
static bool hsa_started(void)
{
    void *rt = dlopen("libhsa-runtime64.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (!rt)
        return false;
    hsa_status_t (*info)(hsa_system_info_t, void *) = NULL;
    void *sym = dlsym(rt, "hsa_system_get_info");
    memcpy(&info, &sym, sizeof info);
    uint16_t major = 0;
    bool up = info && info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) == HSA_STATUS_SUCCESS;
    dlclose(rt);
    return up;
}

rochp_status rochp_hip_init(const rochp_options *options, rochp_context **out)
{
    if (!out)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_hip_init: out is NULL");
    *out = NULL;
    if (!hip_tool_loaded()) {
        if (hsa_started())
            return hip_fail(
                ROCHP_ERROR_BUSY,
                "rochp_hip_init: the HSA runtime was started before (by HIP or another "
                "component), and it reads HSA_TOOLS_LIB only then: call rochp_hip_init before "
                "the first HIP call, or run the program with HSA_TOOLS_LIB=librochp_hip.so");
        Dl_info me;
        if (!dladdr((void *)rochp_hip_init, &me) || !me.dli_fname)
            return hip_fail(ROCHP_ERROR_NOT_FOUND,
                                    "rochp_hip_init: cannot tell this library's own path");
        char value[4096];
        rochp_status st = tools_variable(me.dli_fname, value, sizeof value);
        if (st != ROCHP_OK)
            return st;
        setenv("HSA_TOOLS_LIB", value, 1);
    }
    hipError_t e = hipInit(0);
    if (e != hipSuccess)
        return hip_fail(ROCHP_ERROR_IO, "rochp_hip_init: hipInit failed: %s (%d)",
                                hipGetErrorString(e), (int)e);
    if (!hip_tool_loaded())
        return hip_fail(
            ROCHP_ERROR_BUSY,
            "rochp_hip_init: HIP started without transparent mode (the runtime did not load "
            "this library from HSA_TOOLS_LIB='%s'; was the HSA runtime started before?)",
            getenv("HSA_TOOLS_LIB") ? getenv("HSA_TOOLS_LIB") : "");
    rochp_options opts;
    rochp_options_init(&opts);
    if (options) {
        if (options->struct_size < offsetof(rochp_options, poll_interval_ms) + sizeof(uint32_t) ||
            options->struct_size > sizeof opts)
            return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_hip_init: options->struct_size %u is not a size this "
                                    "library knows (use rochp_options_init)",
                                    options->struct_size);
        memcpy(&opts, options, options->struct_size);
        opts.struct_size = sizeof opts;
    }
    if (opts.flags & ROCHP_CONTEXT_NO_HSA)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_hip_init: ROCHP_CONTEXT_NO_HSA: the context is on HIP's "
                                "runtime");
    /* The SIGBUS handler is transparent mode's in this process anyway (the
     * tool's context has it); with it the program's context hears the
     * kernel's SIGBUS hot-unplug as a loss, before the tool ends the
     * process for it (hip_wait_told), instead of never (the topology
     * changes only once the process has let go). */
    opts.flags |= ROCHP_CONTEXT_ATTACH_HSA | ROCHP_CONTEXT_SIGBUS_HANDLER;
    if (!opts.hsa_runtime)
        opts.hsa_runtime = hip_tool_runtime_path();
    rochp_context *ctx = NULL;
    rochp_status st = rochp_context_create(&opts, &ctx);
    if (st != ROCHP_OK)
        return st;
    /* Subscribed first, so called first: when the program hears of a loss
     * from this context, transparent mode knows it too (the tool's own
     * context may find it a moment later), and rochp_hip_device_usable
     * says so. */
    rochp_subscription sub;
    if ((st = rochp_subscribe(ctx, ROCHP_EVENT_LOST, hip_tell_tool, NULL, &sub)) != ROCHP_OK ||
        (st = hip_set_allocator(ctx)) != ROCHP_OK) {
        rochp_context_destroy(ctx);
        return st;
    }
    tool_set_before_exit(hip_wait_told);
    *out = ctx;
    return ROCHP_OK;
}
