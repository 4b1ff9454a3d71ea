/* HIP's module API on hsasim, from C (<hip/hip_runtime_api.h>, no hipcc):
 * a wrapped host code object (rochp_add_hip_host_code_object) loaded with
 * hipModuleLoad (a path) and hipModuleLoadData (memory) on each of 2 GPUs,
 * its kernels found with hipModuleGetFunction and launched with
 * hipModuleLaunchKernel, arguments given as kernelParams and as one buffer
 * (extra, HIP_LAUNCH_PARAM_BUFFER_POINTER); every result checked exactly;
 * a name that is no kernel is hipErrorNotFound; hipModuleUnload.  Memory is
 * hipHostMalloc'ed (what a kernel writes is seen without a copy), and
 * hipMalloc'ed, filled and read back with hipMemcpy (ROCclr's copies).
 *
 * With --expect-no-device it checks instead that this HIP takes none of the
 * tree's GPUs (HIP 5.2 and gfx942).
 *
 * usage: test_module [--expect-no-device] CODE_OBJECT  (on a tree: run_on_tree.sh) */
#define __HIP_PLATFORM_AMD__ 1
#include <hip/hip_runtime_api.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define HIP_OK(call)                                                                          \
    do {                                                                                      \
        hipError_t e_ = (call);                                                               \
        if (e_ != hipSuccess) {                                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, hipGetErrorName(e_)); \
            exit(1);                                                                          \
        }                                                                                     \
    } while (0)

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

static void *host_buffer(size_t size)
{
    void *p = NULL;
    HIP_OK(hipHostMalloc(&p, size, hipHostMallocDefault));
    return p;
}

static void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void *p = malloc((size_t)n);
    if (!p || fread(p, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(1);
    }
    fclose(f);
    *size = (size_t)n;
    return p;
}

/* axpy(float *y, const float *x, float a, int n), arguments as kernelParams:
 * 1000 items in 4 groups of 256. */
static void run_axpy(int dev, hipModule_t m)
{
    hipFunction_t f;
    HIP_OK(hipModuleGetFunction(&f, m, "axpy"));
    enum { N = 1000 };
    float *x = host_buffer(N * sizeof *x), *y = host_buffer(N * sizeof *y);
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        y[i] = (float)(100 * dev + i);
    }
    float a = 2.0f;
    int n = N;
    void *params[] = {&y, &x, &a, &n};
    HIP_OK(hipModuleLaunchKernel(f, 4, 1, 1, 256, 1, 1, 0, NULL, params, NULL));
    HIP_OK(hipDeviceSynchronize());
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += y[i] != (float)(2 * i + 100 * dev + i);
    CHECK(bad == 0, "device %d: axpy: %d of %d wrong (y[999] = %.1f)", dev, bad, N, y[N - 1]);
    HIP_OK(hipHostFree(x));
    HIP_OK(hipHostFree(y));
}

/* axpy again on device memory: x and y copied in, y copied back. */
static void run_axpy_device(int dev, hipModule_t m)
{
    hipFunction_t f;
    HIP_OK(hipModuleGetFunction(&f, m, "axpy"));
    enum { N = 4096 };
    float *hx = malloc(N * sizeof *hx), *hy = malloc(N * sizeof *hy);
    if (!hx || !hy)
        exit(1);
    for (int i = 0; i < N; i++) {
        hx[i] = (float)(N - i);
        hy[i] = (float)(7 * dev + i);
    }
    float *x = NULL, *y = NULL;
    HIP_OK(hipMalloc((void **)&x, N * sizeof *x));
    HIP_OK(hipMalloc((void **)&y, N * sizeof *y));
    HIP_OK(hipMemcpy(x, hx, N * sizeof *x, hipMemcpyHostToDevice));
    HIP_OK(hipMemcpy(y, hy, N * sizeof *y, hipMemcpyHostToDevice));
    float a = -1.0f;
    int n = N;
    void *params[] = {&y, &x, &a, &n};
    HIP_OK(hipModuleLaunchKernel(f, N / 128, 1, 1, 128, 1, 1, 0, NULL, params, NULL));
    memset(hy, 0, N * sizeof *hy);
    HIP_OK(hipMemcpy(hy, y, N * sizeof *hy, hipMemcpyDeviceToHost));
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += hy[i] != (float)(-(N - i) + 7 * dev + i);
    CHECK(bad == 0, "device %d: axpy on device memory: %d of %d wrong", dev, bad, N);
    HIP_OK(hipFree(x));
    HIP_OK(hipFree(y));
    free(hx);
    free(hy);
}

/* iota (_Z4iotaPjjj: unsigned *out, unsigned base, unsigned n), arguments as
 * one buffer laid out as the kernarg segment: 300 items in 5 groups of 64,
 * the 20 beyond untouched. */
static void run_iota(int dev, hipModule_t m)
{
    hipFunction_t f;
    HIP_OK(hipModuleGetFunction(&f, m, "_Z4iotaPjjj"));
    uint32_t *out = host_buffer(320 * sizeof *out);
    for (int i = 0; i < 320; i++)
        out[i] = 0xdeadbeefu;
    struct {
        uint32_t *out;
        uint32_t base, n;
    } args = {out, 5000u * (uint32_t)(dev + 1), 300};
    size_t size = sizeof args;
    void *extra[] = {HIP_LAUNCH_PARAM_BUFFER_POINTER, &args, HIP_LAUNCH_PARAM_BUFFER_SIZE, &size,
                     HIP_LAUNCH_PARAM_END};
    HIP_OK(hipModuleLaunchKernel(f, 5, 1, 1, 64, 1, 1, 0, NULL, NULL, extra));
    HIP_OK(hipDeviceSynchronize());
    int bad = 0;
    for (uint32_t i = 0; i < 320; i++)
        bad += out[i] != (i < 300 ? args.base + i : 0xdeadbeefu);
    CHECK(bad == 0, "device %d: iota: %d of 320 wrong (out[0] = %" PRIu32 ")", dev, bad, out[0]);
    HIP_OK(hipHostFree(out));
}

/* affine2d(long long *out, Coef c, unsigned width): a struct by value and a
 * 2-D grid of 40 x 12 items in groups of 8 x 4, on a created stream. */
static void run_affine2d(int dev, hipModule_t m)
{
    hipFunction_t f;
    HIP_OK(hipModuleGetFunction(&f, m, "affine2d"));
    enum { W = 40, H = 12 };
    int64_t *out = host_buffer(W * H * sizeof *out);
    memset(out, 0xff, W * H * sizeof *out);
    struct {
        int64_t a;
        int32_t b;
    } c = {-77 * (int64_t)(dev + 1), 1 << 20};
    uint32_t width = W;
    void *params[] = {&out, &c, &width};
    hipStream_t s;
    HIP_OK(hipStreamCreate(&s));
    HIP_OK(hipModuleLaunchKernel(f, W / 8, H / 4, 1, 8, 4, 1, 0, s, params, NULL));
    HIP_OK(hipStreamSynchronize(s));
    HIP_OK(hipStreamDestroy(s));
    int bad = 0;
    for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++)
            bad += out[y * W + x] != c.a * x + c.b * y;
    CHECK(bad == 0, "device %d: affine2d: %d of %d wrong", dev, bad, W * H);
    HIP_OK(hipHostFree(out));
}

int main(int argc, char **argv)
{
    int expect_no_device = argc == 3 && strcmp(argv[1], "--expect-no-device") == 0;
    if (argc != 2 + expect_no_device) {
        fprintf(stderr, "usage: test_module [--expect-no-device] CODE_OBJECT\n");
        return 2;
    }
    int count = 0;
    hipError_t e = hipGetDeviceCount(&count);
    if (expect_no_device) {
        int version = 0;
        HIP_OK(hipRuntimeGetVersion(&version));
        CHECK(e == hipErrorNoDevice, "HIP %d: hipGetDeviceCount: %s, %d devices", version,
              hipGetErrorName(e), count);
        if (!failures)
            printf("HIP %d takes none of the GPUs (hipErrorNoDevice), as expected\n", version);
        return failures ? 1 : 0;
    }
    HIP_OK(e);
    if (count != 2) {
        fprintf(stderr, "expected 2 devices, HIP sees %d\n", count);
        return 1;
    }
    const char *path = argv[1 + expect_no_device];
    size_t size = 0;
    void *image = read_file(path, &size);
    for (int dev = 0; dev < count; dev++) {
        HIP_OK(hipSetDevice(dev));
        hipModule_t from_file, from_memory;
        HIP_OK(hipModuleLoad(&from_file, path));
        HIP_OK(hipModuleLoadData(&from_memory, image));
        hipFunction_t f;
        e = hipModuleGetFunction(&f, from_file, "no_such_kernel");
        CHECK(e == hipErrorNotFound, "hipModuleGetFunction(no_such_kernel): %s",
              hipGetErrorName(e));
        run_axpy(dev, from_file);
        run_axpy_device(dev, from_file);
        run_iota(dev, from_memory);
        run_affine2d(dev, from_memory);
        HIP_OK(hipModuleUnload(from_file));
        HIP_OK(hipModuleUnload(from_memory));
    }
    free(image);
    if (!failures)
        printf("hipModuleLoad/LoadData, GetFunction, LaunchKernel (kernelParams and extra), "
               "Unload on %d GPUs, host and device memory: every result exact\n", count);
    return failures ? 1 : 0;
}
