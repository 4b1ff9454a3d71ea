/* Kernels for the metadata tests: every kind of explicit argument a rochp
 * module must understand (global pointers written and read-only, a constant
 * address space pointer, a scalar, a struct by value, a local pointer), and
 * the hidden arguments clang appends. */
typedef struct params {
    float scale;
    int bias;
    double weight;
} params;

__kernel void combine(__global float *out, __global const float *in, __constant int *table,
                      uint n, params p, __local float *scratch)
{
    /* clang's AMDGPU builtins: no device library needed (-nogpulib). */
    uint l = __builtin_amdgcn_workitem_id_x();
    uint i = __builtin_amdgcn_workgroup_id_x() * 64 + l;
    scratch[l] = in[i];
    __builtin_amdgcn_s_barrier();
    if (i < n)
        out[i] = scratch[l] * p.scale + (float)(table[i % 4] + p.bias) * (float)p.weight;
}

__kernel void fill(__global int *out, int value)
{
    out[__builtin_amdgcn_workgroup_id_x() * 64 + __builtin_amdgcn_workitem_id_x()] = value;
}

/* Reads the implicit (hidden) arguments, so clang lists them in the
 * metadata: v4 and v5 lay them out differently. */
__kernel void geometry(__global uint *out)
{
    __constant uint *implicit = (__constant uint *)__builtin_amdgcn_implicitarg_ptr();
    out[__builtin_amdgcn_workitem_id_x()] = implicit[__builtin_amdgcn_workitem_id_x()];
}
