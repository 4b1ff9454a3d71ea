// The kernels of kernels_basic.c with the same signatures, in OpenCL C: clang
// builds them into a real AMDGPU code object whose metadata the host code
// object's must match (test_metadata.c).
typedef struct coef_pair {
    float a, b;
    int bias;
} coef_pair;

__kernel void scale(__global float *restrict out, __global const float *restrict in, uint n,
                    coef_pair coef, int tail)
{
    uint x = __builtin_amdgcn_workitem_id_x(); // no device libraries needed
    if (x < n)
        out[x] = in[x] * coef.a + coef.b + (float)(coef.bias + tail);
}

__kernel void reduce(__global uint *result, __constant uint *table, uchar flag, double scale)
{
    *result += table[0] * (uint)scale + flag;
}
