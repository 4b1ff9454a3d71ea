/* Named as ROCclr's blit kernels, with layouts HIP 5.2.3's are not: hsasim
 * must refuse them by name (test_blit_bind.c).  The size argument here is a
 * uint where ROCclr 5.2.3's __amd_rocclr_copyBuffer takes a ulong. */
__kernel void __amd_rocclr_copyBuffer(__global uchar *srcI, __global uchar *dstI, ulong srcOrigin,
                                      ulong dstOrigin, uint size, uint remain)
{
    if (size > remain)
        dstI[dstOrigin] = srcI[srcOrigin];
}
