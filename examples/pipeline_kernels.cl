/* vector_pipeline's kernels for a real GPU, with the argument layout of
 * pipeline_kernels.c (hsasim):
 *   clang -target amdgcn-amd-amdhsa -mcpu=gfx90a -nogpulib -x cl -cl-std=CL1.2 \
 *         -O2 pipeline_kernels.cl -o pipeline.co
 * Without the device libraries (-nogpulib) there is no get_global_id: the
 * work-group size comes from the dispatch packet, as the libraries read it,
 * since rochp leaves the hidden arguments unset. */
static uint global_id_x(void)
{
    __constant ushort *packet = (__constant ushort *)__builtin_amdgcn_dispatch_ptr();
    return __builtin_amdgcn_workgroup_id_x() * packet[2] + __builtin_amdgcn_workitem_id_x();
}

__kernel void chain_step(__global uint *data, uint n, uint step)
{
    uint x = global_id_x();
    if (x < n)
        data[x] = data[x] * 3u + step + x;
}

__kernel void join_add(__global uint *out, __global const uint *a, __global const uint *b, uint n)
{
    uint x = global_id_x();
    if (x < n)
        out[x] = a[x] + b[x];
}
