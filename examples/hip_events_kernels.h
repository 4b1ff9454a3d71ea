/* examples/hip_events' kernel, shared by the C program, the HIP source and
 * the hsasim host stand-in: what one step computes, and the launch the C
 * program calls (the HIP source makes it, hipcc being C++). */
#ifndef ROCHP_EXAMPLES_HIP_EVENTS_KERNELS_H
#define ROCHP_EXAMPLES_HIP_EVENTS_KERNELS_H

#include <stdint.h>

/* accumulate: acc[i] = acc[i] * HIP_EVENTS_MUL + add + i for i < n, modulo
 * 2^64.  Every step depends on all the steps before it, so a step lost,
 * repeated or run on stale data changes every later value. */
#define HIP_EVENTS_MUL 6364136223846793005ull

#ifndef HIP_EVENTS_HOST_KERNEL
#include <hip/hip_runtime_api.h>
#ifdef __cplusplus
extern "C" {
#endif
/* Launches accumulate over n items on stream (hipLaunchKernelGGL); the
 * launch's error, from hipGetLastError. */
hipError_t hip_events_launch(uint64_t *acc, uint64_t add, uint32_t n, hipStream_t stream);
#ifdef __cplusplus
}
#endif
#endif

#endif
