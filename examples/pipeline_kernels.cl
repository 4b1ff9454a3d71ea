/* vector_pipeline's kernels for a real GPU, with the argument layout of
 * pipeline_kernels.c (hsasim):
 *   clang -target amdgcn-amd-amdhsa -mcpu=gfx90a -nogpulib -x cl -cl-std=CL1.2 \
 *         -O2 pipeline_kernels.cl -o pipeline.co */
__kernel void chain_step(__global uint *data, uint n, uint step)
{
    uint x = get_global_id(0);
    if (x < n)
        data[x] = data[x] * 3u + step + x;
}

__kernel void join_add(__global uint *out, __global const uint *a, __global const uint *b, uint n)
{
    uint x = get_global_id(0);
    if (x < n)
        out[x] = a[x] + b[x];
}
