/* A blit kernel hsasim has no host implementation of (a later ROCclr's
 * name): the program is refused, naming it (test_blit_bind.c). */
__kernel void __amd_rocclr_batchMemOp(__global ulong *ops, uint count)
{
    if (count)
        ops[0] = count;
}
