// dispatch_overhead's hipLaunchKernelGGL, which only hipcc compiles: a
// helper library the C benchmark links when hipcc is there.
//
// Built by rochp_add_hip_fat_binary twice: for the GPU by the layout check
// only (clang's metadata for `empty`, which kernels_empty.c must match), and
// for the host with the fat binary of kernels_empty.c's wrapped host code
// object, so that the launch below runs kernels_empty.c's `empty` on hsasim:
// the kernel the other entries dispatch.
#include <hip/hip_runtime.h>

#include <cstdint>

// The arguments of kernels_empty.c's empty_args, one by one: 16 bytes.
extern "C" __global__ void empty(unsigned long long a, unsigned b, unsigned c)
{
    (void)a;
    (void)b;
    (void)c;
}

// One launch, as a HIP program writes it.  No error check here: the only
// one hipLaunchKernelGGL has is hipGetLastError, a call of its own that the
// other entries have no counterpart of; the benchmark calls it after each
// batch.
extern "C" __attribute__((visibility("default"))) void
dispatch_overhead_ggl_launch(hipStream_t stream, uint64_t a, uint32_t b, uint32_t c)
{
    hipLaunchKernelGGL(empty, dim3(1), dim3(1), 0, stream, static_cast<unsigned long long>(a),
                       b, c);
}
