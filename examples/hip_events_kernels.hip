// examples/hip_events' kernel and its launch, for hipcc (C++; the program
// is C, hip_events.c).  Built by rochp_add_hip_fat_binary: for the host with
// the fat binary of hip_events_kernels.c's wrapped host code objects in
// place of the device code, so the launch runs the host stand-in on hsasim;
// and for the GPU only to check that both lay the arguments out alike.  On
// a real GPU, build it with hipcc as usual and the same launch runs this
// body.
#include <hip/hip_runtime.h>

#include "hip_events_kernels.h"

extern "C" __global__ void accumulate(uint64_t *acc, uint64_t add, uint32_t n)
{
    uint32_t i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        acc[i] = acc[i] * HIP_EVENTS_MUL + add + i;
}

extern "C" hipError_t hip_events_launch(uint64_t *acc, uint64_t add, uint32_t n,
                                        hipStream_t stream)
{
    hipLaunchKernelGGL(accumulate, dim3((n + 63) / 64), dim3(64), 0, stream, acc, add, n);
    return hipGetLastError();
}
