/* rochp for HIP programs (librochp_hip.so, built where HIP is installed).
 *
 * HIP owns its queues and enumerates GPUs once, at its first call; rochp
 * cannot re-make HIP's work on another GPU.  What a HIP program gets:
 * transparent mode for HIP's own queues (a lost GPU neither aborts nor
 * hangs the program: docs/transparent-mode.md), a context that reports
 * losses and arrivals, and the map between HIP device numbers (ordinals)
 * and rochp device ids, fixed for the process as HIP's numbering is.
 *
 * After a loss, HIP calls on the lost ordinal return hipSuccess and do
 * nothing useful (HIP does not check its waits): check
 * rochp_hip_device_usable() after a synchronisation, or take the loss from
 * an event, and stop using that ordinal.  Never call HIP from an event
 * callback: it runs on rochp's thread while the program's own thread may be
 * inside HIP (HIP's locks then deadlock); note the loss and act on it in
 * the program's thread.  docs/hip.md has the whole story. */
#ifndef ROCHP_HIP_H
#define ROCHP_HIP_H

#include <rochp/rochp.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Call before the program's first HIP call.  Puts librochp_hip.so first in
 * HSA_TOOLS_LIB (the runtime reads it at its first hsa_init only), calls
 * hipInit(0), and returns a context on HIP's HSA runtime
 * (ROCHP_CONTEXT_ATTACH_HSA and ROCHP_CONTEXT_SIGBUS_HANDLER added to
 * options->flags -- transparent mode handles the process's SIGBUS anyway,
 * and so the kernel's SIGBUS hot-unplug reaches the context as a loss;
 * options NULL: the defaults).  The context is the caller's to destroy;
 * transparent mode stays for the process's life.  When transparent mode
 * ends the process for a loss (the kernel's SIGBUS, or
 * ROCHP_TOOL_ON_LOSS=exit), it waits first, at most 1 s, until every
 * rochp_hip_subscribe callback for losses has returned from each loss it
 * knows.
 * Errors: ROCHP_ERROR_BUSY when the HSA runtime was initialised before
 * (HIP or another component came first: the tool could not get in; run
 * the program with HSA_TOOLS_LIB=librochp_hip.so instead, or call this
 * earlier); ROCHP_ERROR_IO when hipInit fails (its error named). */
ROCHP_API rochp_status rochp_hip_init(const rochp_options *options, rochp_context **out);

/* The rochp device of HIP device ordinal (ROCHP_ERROR_NOT_FOUND: no such
 * ordinal), and the HIP ordinal of a device of ctx (ROCHP_ERROR_NOT_FOUND:
 * HIP does not number it -- hidden by HIP_VISIBLE_DEVICES, or it arrived
 * after HIP enumerated). */
ROCHP_API rochp_status rochp_hip_device(rochp_context *ctx, int ordinal, rochp_device_id *out);
ROCHP_API rochp_status rochp_hip_ordinal(rochp_context *ctx, rochp_device_id device, int *out);

/* 1 while HIP device ordinal has not been lost, 0 once it has (or when
 * there is no such ordinal, or rochp_hip_init has not run).  Lock-free,
 * callable from anywhere, including a signal handler. */
ROCHP_API int rochp_hip_device_usable(int ordinal);

/* Events with the device's HIP ordinal (-1 when HIP does not number it),
 * on the context's callback thread (rochp_subscribe's rules, and never a
 * HIP call from there). */
typedef void (*rochp_hip_event_fn)(rochp_context *ctx, const rochp_event *event, int hip_ordinal,
                                   void *user);
ROCHP_API rochp_status rochp_hip_subscribe(rochp_context *ctx, uint32_t mask,
                                           rochp_hip_event_fn fn, void *user,
                                           rochp_subscription *out);

/* --- HIP memory in checkpoints ----------------------------------------------------------
 * rochp_buffer_register for memory HIP allocated: hipMalloc'd (on the
 * device that holds it) or hipHostMalloc'd (ROCHP_HOST); the range must lie
 * in one allocation (ROCHP_ERROR_INVALID_ARGUMENT otherwise, or for memory
 * HIP does not know).  rochp.h's rules hold: mark a buffer
 * (rochp_buffer_mark_written) before launching work that may write it, or
 * register it with ROCHP_REGISTER_COPY_ALWAYS; rochp_checkpoint copies what
 * was marked, after the program synchronised HIP's work (hipDeviceSynchronize
 * on each device in use: rochp sees no HIP stream).
 *
 * After a loss, rochp_recover (from the program's thread, never from an
 * event callback: it calls HIP) moves the lost device's buffers onto a
 * target -- by default the least loaded GPU of the same gfx target;
 * rochp_set_recovery_target with rochp_hip_device picks an ordinal -- into
 * memory hipMalloc'd there (the context's allocator, set by
 * rochp_hip_init), at the addresses rochp_buffer_address gives from then
 * on, and rolls back the marked buffers elsewhere.  HIP's launches are not
 * replayed: the program goes back to its last checkpoint's step and does
 * the work again.  The lost device's old memory is left alone (never
 * hipFree it).  rochp_checkpoint_save / rochp_checkpoint_load carry these
 * buffers as any other; a load hipMallocs them on the GPUs present. */
ROCHP_API rochp_status rochp_hip_register(rochp_context *ctx, void *address, size_t size,
                                          uint32_t flags, rochp_buffer **out);

#ifdef __cplusplus
}
#endif
#endif
