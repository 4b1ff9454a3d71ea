/* The host stand-ins of kernels.hip's kernels, for hsasim: named by the
 * symbols clang gives the HIP kernels, their kernarg structs laid out as
 * clang lays out the __global__ functions' arguments (code object v4, no
 * hidden arguments: clang 15 gives none to a kernel that uses none).
 * rochp_add_hip_fat_binary compares both layouts at build time. */
#include <hsasim/kernel_decl.h>

/* extern "C" void axpy(float *y, const float *x, float a, int n) */
typedef struct axpy_args {
    float *y;
    const float *x;
    float a;
    int32_t n;
} axpy_args;

HSASIM_KERNEL(axpy, axpy_args, args, d,
              HSASIM_ARG_GLOBAL(y, HSASIM_READ_WRITE),
              HSASIM_ARG_GLOBAL(x, HSASIM_READ_ONLY),
              HSASIM_ARG_VALUE(a),
              HSASIM_ARG_VALUE(n))
{
    hsasim_for_each_item(d, i, j, k)
        if ((int64_t)i < args->n)
            args->y[i] = args->a * args->x[i] + args->y[i];
}

/* void iota(unsigned *out, unsigned base, unsigned n), C++ linkage */
typedef struct iota_args {
    uint32_t *out;
    uint32_t base;
    uint32_t n;
} iota_args;

HSASIM_KERNEL(_Z4iotaPjjj, iota_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_VALUE(base),
              HSASIM_ARG_VALUE(n))
{
    hsasim_for_each_item(d, i, j, k)
        if (i < args->n)
            args->out[i] = args->base + i;
}

/* struct Coef { long long a; int b; };
 * extern "C" void affine2d(long long *out, Coef c, unsigned width) */
typedef struct coef {
    int64_t a;
    int32_t b;
} coef;

typedef struct affine2d_args {
    int64_t *out;
    coef c; /* a struct by value: one 16-byte argument */
    uint32_t width;
} affine2d_args;

HSASIM_KERNEL(affine2d, affine2d_args, args, d,
              HSASIM_ARG_GLOBAL(out, HSASIM_WRITE_ONLY),
              HSASIM_ARG_VALUE(c),
              HSASIM_ARG_VALUE(width))
{
    hsasim_for_each_item(d, x, y, z)
        args->out[y * args->width + x] = args->c.a * (int64_t)x + args->c.b * (int64_t)y;
}
