// The HIP kernels of the hip tests, and the program hip_launch_* runs.
//
// Built twice: for the GPU by rochp_add_hip_fat_binary's layout check only
// (clang's metadata for these signatures, which kernels.c must match), and
// for the host with the fat binary of kernels.c's wrapped host code objects,
// so that the launches below run kernels.c on hsasim.  The device bodies
// state what kernels.c computes; they never run here.
//
// hip_launch_*: on every device of a 2-GPU tree, hipLaunchKernelGGL and <<<>>>
// launches on the null stream and on a created stream, both GPUs busy at
// once, on pinned host memory; then on device memory filled and read back
// with hipMemset, hipMemcpy and hipMemcpyAsync (ROCclr's blit kernels and
// copies, on hsasim).  Every result checked exactly.  With
// --expect-no-device it checks instead that this HIP does not take the
// tree's GPUs (HIP 5.2 and gfx942).
#include <hip/hip_runtime.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

struct Coef {
    long long a;
    int b;
};

extern "C" __global__ void axpy(float *y, const float *x, float a, int n)
{
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        y[i] = a * x[i] + y[i];
}

// C++ linkage: the host kernel is named by the mangled symbol, _Z4iotaPjjj.
__global__ void iota(unsigned *out, unsigned base, unsigned n)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        out[i] = base + i;
}

extern "C" __global__ void affine2d(long long *out, Coef c, unsigned width)
{
    unsigned x = blockIdx.x * blockDim.x + threadIdx.x;
    unsigned y = blockIdx.y * blockDim.y + threadIdx.y;
    out[y * width + x] = c.a * x + c.b * (long long)y;
}

static int failures;

#define CHECK_HIP(call)                                                                       \
    do {                                                                                      \
        hipError_t e_ = (call);                                                               \
        if (e_ != hipSuccess) {                                                               \
            std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                 \
                         hipGetErrorName(e_));                                                \
            std::exit(1);                                                                     \
        }                                                                                     \
    } while (0)

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond);                   \
            std::fprintf(stderr, __VA_ARGS__);                                                \
            std::fputc('\n', stderr);                                                         \
            failures++;                                                                       \
        }                                                                                     \
    } while (0)

template <typename T> static T *host_buffer(size_t n)
{
    void *p = nullptr;
    // Pinned host memory every GPU may touch: no copy engine or blit kernel
    // is needed to see what a kernel wrote.
    CHECK_HIP(hipHostMalloc(&p, n * sizeof(T), hipHostMallocDefault));
    return static_cast<T *>(p);
}

namespace {
constexpr int kN = 1000;    // axpy: 4 blocks of 256, the last partial
constexpr unsigned kIota = 300; // iota: 5 blocks of 64, 20 items past the end
constexpr unsigned kW = 40, kH = 12;

struct Buffers {
    float *x, *y;
    unsigned *seq;
    long long *grid;
};

Buffers make(int dev)
{
    Buffers b{host_buffer<float>(kN), host_buffer<float>(kN), host_buffer<unsigned>(320),
              host_buffer<long long>(kW * kH)};
    for (int i = 0; i < kN; i++) {
        b.x[i] = static_cast<float>(i);
        b.y[i] = static_cast<float>(1000 * dev + 2 * i);
    }
    for (unsigned i = 0; i < 320; i++)
        b.seq[i] = 0xdeadbeefu;
    std::memset(b.grid, 0xff, kW * kH * sizeof(long long));
    return b;
}

void launch(int dev, const Buffers &b, hipStream_t stream)
{
    hipLaunchKernelGGL(axpy, dim3(4), dim3(256), 0, stream, b.y, b.x, 3.0f, kN);
    CHECK_HIP(hipGetLastError());
    iota<<<5, 64, 0, stream>>>(b.seq, 7000u * (dev + 1), kIota);
    CHECK_HIP(hipGetLastError());
    Coef c{1000000007LL * (dev + 1), -3};
    affine2d<<<dim3(kW / 8, kH / 4), dim3(8, 4), 0, stream>>>(b.grid, c, kW);
    CHECK_HIP(hipGetLastError());
}

void verify(int dev, const Buffers &b, const char *how)
{
    int bad = 0;
    for (int i = 0; i < kN; i++)
        bad += b.y[i] != static_cast<float>(3 * i + 1000 * dev + 2 * i);
    CHECK(bad == 0, "device %d (%s): axpy: %d of %d wrong (y[999] = %.1f)", dev, how, bad, kN,
          b.y[kN - 1]);
    bad = 0;
    for (unsigned i = 0; i < 320; i++)
        bad += b.seq[i] != (i < kIota ? 7000u * (dev + 1) + i : 0xdeadbeefu);
    CHECK(bad == 0, "device %d (%s): iota: %d of 320 wrong", dev, how, bad);
    bad = 0;
    for (unsigned y = 0; y < kH; y++)
        for (unsigned x = 0; x < kW; x++)
            bad += b.grid[y * kW + x] != 1000000007LL * (dev + 1) * x - 3LL * y;
    CHECK(bad == 0, "device %d (%s): affine2d: %d of %u wrong", dev, how, bad, kW * kH);
}

// Device memory: x and y copied in (y zeroed by hipMemset first, then
// copied over but for its last 10 elements), the kernels run on it, and the
// results copied back; on stream s (hipMemcpyAsync) or the null stream.
void device_memory(int dev, hipStream_t s)
{
    Buffers host = make(dev);
    Buffers d{};
    CHECK_HIP(hipMalloc(&d.x, kN * sizeof(float)));
    CHECK_HIP(hipMalloc(&d.y, kN * sizeof(float)));
    CHECK_HIP(hipMalloc(&d.seq, 320 * sizeof(unsigned)));
    CHECK_HIP(hipMalloc(&d.grid, kW * kH * sizeof(long long)));
    CHECK_HIP(hipMemset(d.y, 0, kN * sizeof(float)));
    CHECK_HIP(hipMemset(d.seq, 0xab, 320 * sizeof(unsigned)));
    if (s) {
        CHECK_HIP(hipMemcpyAsync(d.x, host.x, kN * sizeof(float), hipMemcpyHostToDevice, s));
        CHECK_HIP(hipMemcpyAsync(d.y, host.y, (kN - 10) * sizeof(float), hipMemcpyHostToDevice, s));
    } else {
        CHECK_HIP(hipMemcpy(d.x, host.x, kN * sizeof(float), hipMemcpyHostToDevice));
        CHECK_HIP(hipMemcpy(d.y, host.y, (kN - 10) * sizeof(float), hipMemcpyHostToDevice));
    }
    launch(dev, d, s);
    std::vector<float> y(kN);
    std::vector<unsigned> seq(320);
    std::vector<long long> grid(kW * kH);
    CHECK_HIP(hipMemcpyAsync(y.data(), d.y, kN * sizeof(float), hipMemcpyDeviceToHost, s));
    CHECK_HIP(hipMemcpyAsync(seq.data(), d.seq, 320 * sizeof(unsigned), hipMemcpyDeviceToHost, s));
    CHECK_HIP(hipMemcpyAsync(grid.data(), d.grid, kW * kH * sizeof(long long),
                             hipMemcpyDeviceToHost, s));
    CHECK_HIP(hipStreamSynchronize(s));
    int bad = 0;
    for (int i = 0; i < kN; i++)
        bad += y[i] != static_cast<float>(3 * i + (i < kN - 10 ? 1000 * dev + 2 * i : 0));
    CHECK(bad == 0, "device %d (device memory%s): axpy: %d of %d wrong", dev,
          s ? ", stream" : "", bad, kN);
    bad = 0;
    for (unsigned i = 0; i < 320; i++)
        bad += seq[i] != (i < kIota ? 7000u * (dev + 1) + i : 0xababababu);
    CHECK(bad == 0, "device %d (device memory): iota: %d of 320 wrong", dev, bad);
    bad = 0;
    for (unsigned yy = 0; yy < kH; yy++)
        for (unsigned x = 0; x < kW; x++)
            bad += grid[yy * kW + x] != 1000000007LL * (dev + 1) * x - 3LL * yy;
    CHECK(bad == 0, "device %d (device memory): affine2d: %d of %u wrong", dev, bad, kW * kH);
    CHECK_HIP(hipFree(d.x));
    CHECK_HIP(hipFree(d.y));
    CHECK_HIP(hipFree(d.seq));
    CHECK_HIP(hipFree(d.grid));
    CHECK_HIP(hipHostFree(host.x));
    CHECK_HIP(hipHostFree(host.y));
    CHECK_HIP(hipHostFree(host.seq));
    CHECK_HIP(hipHostFree(host.grid));
}

void release(const Buffers &b)
{
    CHECK_HIP(hipHostFree(b.x));
    CHECK_HIP(hipHostFree(b.y));
    CHECK_HIP(hipHostFree(b.seq));
    CHECK_HIP(hipHostFree(b.grid));
}
} // namespace

int main(int argc, char **argv)
{
    bool expect_no_device = argc > 1 && std::strcmp(argv[1], "--expect-no-device") == 0;
    int count = 0;
    hipError_t e = hipGetDeviceCount(&count);
    if (expect_no_device) {
        int version = 0;
        CHECK_HIP(hipRuntimeGetVersion(&version));
        CHECK(e == hipErrorNoDevice, "HIP %d: hipGetDeviceCount: %s, %d devices", version,
              hipGetErrorName(e), count);
        if (!failures)
            std::printf("HIP %d takes none of the GPUs (hipErrorNoDevice), as expected\n",
                        version);
        return failures ? 1 : 0;
    }
    CHECK_HIP(e);
    if (count != 2) {
        std::fprintf(stderr, "expected 2 devices, HIP sees %d\n", count);
        return 1;
    }

    // The null stream, one device after the other.
    for (int dev = 0; dev < count; dev++) {
        CHECK_HIP(hipSetDevice(dev));
        Buffers b = make(dev);
        launch(dev, b, 0);
        CHECK_HIP(hipDeviceSynchronize());
        verify(dev, b, "null stream");
        release(b);
    }

    // A stream per device, both GPUs busy before either is waited for.
    Buffers b[2];
    hipStream_t s[2];
    for (int dev = 0; dev < 2; dev++) {
        CHECK_HIP(hipSetDevice(dev));
        CHECK_HIP(hipStreamCreate(&s[dev]));
        b[dev] = make(dev);
        launch(dev, b[dev], s[dev]);
    }
    for (int dev = 0; dev < 2; dev++) {
        CHECK_HIP(hipSetDevice(dev));
        CHECK_HIP(hipStreamSynchronize(s[dev]));
        verify(dev, b[dev], "streams, both GPUs at once");
        CHECK_HIP(hipStreamDestroy(s[dev]));
        release(b[dev]);
    }
    // Device memory, through ROCclr's copies and blit kernels.
    for (int dev = 0; dev < count; dev++) {
        CHECK_HIP(hipSetDevice(dev));
        device_memory(dev, 0);
        hipStream_t stream;
        CHECK_HIP(hipStreamCreate(&stream));
        device_memory(dev, stream);
        CHECK_HIP(hipStreamDestroy(stream));
    }
    if (!failures)
        std::printf("hipLaunchKernelGGL and <<<>>> on %d GPUs, host and device memory: every "
                    "result exact\n", count);
    return failures ? 1 : 0;
}
