/* HIP streams and events on hsasim: streams with priorities
 * (hsa_amd_queue_set_priority), hipMemcpyAsync and hipMemsetAsync ordered on
 * a stream, events timing real work (hsa_amd_profiling_*: the elapsed time
 * must be positive and within the wall time around it), stream memory
 * operations (ROCclr's streamOps blit kernels), hipStreamQuery, and the
 * synchronisations (stream, event, device).  On the MI210 of a tree of an
 * MI210 and an MI300X. */
#include <unistd.h>

#include "hip_test.h"

#define N ((size_t)(8u << 20))

static void test_priorities(void)
{
    int least = 0, greatest = 0;
    HIP_OK(hipDeviceGetStreamPriorityRange(&least, &greatest));
    /* hipamd 5.2.3 (hip_internal.hpp hip::Stream::Priority): 1 (low), 0
     * (normal), -1 (high); ROCclr gives the queue that priority
     * (hsa_amd_queue_set_priority), and fails the stream if it cannot. */
    CHECK_EQ_U64((int64_t)least, 1);
    CHECK_EQ_U64((int64_t)greatest, -1);
    hipStream_t hi = NULL, lo = NULL;
    HIP_OK(hipStreamCreateWithPriority(&hi, hipStreamDefault, greatest));
    HIP_OK(hipStreamCreateWithPriority(&lo, hipStreamNonBlocking, least));
    int p = 7;
    HIP_OK(hipStreamGetPriority(hi, &p));
    CHECK_EQ_U64((int64_t)p, greatest);
    HIP_OK(hipStreamGetPriority(lo, &p));
    CHECK_EQ_U64((int64_t)p, least);
    unsigned flags = 99;
    HIP_OK(hipStreamGetFlags(lo, &flags));
    CHECK_EQ_U64(flags, hipStreamNonBlocking);

    /* Work on both: each stream's copies in order, bytes exact. */
    uint8_t *h = NULL, *d1 = NULL, *d2 = NULL;
    REQUIRE(HIP_OK(hipHostMalloc((void **)&h, N, hipHostMallocDefault)));
    REQUIRE(HIP_OK(hipMalloc((void **)&d1, N)) && HIP_OK(hipMalloc((void **)&d2, N)));
    hip_test_fill(h, N, 6);
    HIP_OK(hipMemcpyAsync(d1, h, N, hipMemcpyHostToDevice, hi));
    HIP_OK(hipMemsetAsync(d2, 0x3c, N, lo));
    HIP_OK(hipMemcpyAsync(d2 + 100, d1 + 200, 4096, hipMemcpyDeviceToDevice, hi));
    HIP_OK(hipStreamSynchronize(hi));
    HIP_OK(hipStreamSynchronize(lo));
    /* d2's copy ran after d2's memset only if ordered: make it so now. */
    HIP_OK(hipMemcpyAsync(d2 + 100, d1 + 200, 4096, hipMemcpyDeviceToDevice, lo));
    memset(h, 0, N);
    HIP_OK(hipMemcpyAsync(h, d2, 8192, hipMemcpyDeviceToHost, lo));
    HIP_OK(hipStreamSynchronize(lo));
    CHECK_BYTES(h, 100, 0x3c);
    CHECK_PATTERN(h + 100, 4096, 6, 200);
    CHECK_BYTES(h + 4196, 8192 - 4196, 0x3c);
    HIP_OK(hipStreamQuery(lo));
    HIP_OK(hipStreamDestroy(hi));
    HIP_OK(hipStreamDestroy(lo));
    HIP_OK(hipFree(d1));
    HIP_OK(hipFree(d2));
    HIP_OK(hipHostFree(h));
}

/* Events around work: the GPU's timestamps, in the runtime's domain. */
static void test_events(void)
{
    hipStream_t s = NULL;
    HIP_OK(hipStreamCreate(&s));
    hipEvent_t start = NULL, stop = NULL, untimed = NULL;
    HIP_OK(hipEventCreate(&start));
    HIP_OK(hipEventCreate(&stop));
    HIP_OK(hipEventCreateWithFlags(&untimed, hipEventDisableTiming));
    uint8_t *d1 = NULL, *d2 = NULL, *h = NULL;
    size_t n = 64u << 20;
    REQUIRE(HIP_OK(hipMalloc((void **)&d1, n)) && HIP_OK(hipMalloc((void **)&d2, n)));
    REQUIRE(HIP_OK(hipHostMalloc((void **)&h, n, hipHostMallocDefault)));
    hip_test_fill(h, n, 7);
    HIP_OK(hipMemcpy(d1, h, n, hipMemcpyHostToDevice));

    double t0 = hip_test_now_ms();
    HIP_OK(hipEventRecord(start, s));
    for (int i = 0; i < 4; i++) {
        HIP_OK(hipMemcpyAsync(d2, d1, n, hipMemcpyDeviceToDevice, s));
        HIP_OK(hipMemsetAsync(d1, i, n / 2, s));
        HIP_OK(hipMemcpyAsync(d1, d2, n, hipMemcpyDeviceToDevice, s));
    }
    HIP_OK(hipMemcpyAsync(h, d1, n, hipMemcpyDeviceToHost, s));
    HIP_OK(hipEventRecord(stop, s));
    HIP_OK(hipEventRecord(untimed, s));
    HIP_OK(hipEventSynchronize(stop));
    double wall = hip_test_now_ms() - t0;
    HIP_OK(hipEventQuery(stop));
    float ms = -1;
    HIP_OK(hipEventElapsedTime(&ms, start, stop));
    printf("elapsed %.3f ms (GPU events), %.3f ms (wall)\n", ms, wall);
    CHECK(ms > 0 && ms <= wall);
    float reverse = 0;
    HIP_OK(hipEventElapsedTime(&reverse, stop, start));
    CHECK(reverse < 0 && reverse >= -ms - 0.01f);
    HIP_IS(hipEventElapsedTime(&ms, start, untimed), hipErrorInvalidHandle);
    HIP_OK(hipEventSynchronize(untimed));
    HIP_OK(hipStreamSynchronize(s));
    CHECK_PATTERN(h, n, 7, 0);

    /* A single copy timed alone. */
    HIP_OK(hipEventRecord(start, s));
    HIP_OK(hipMemcpyAsync(d2, d1, n, hipMemcpyDeviceToDevice, s));
    HIP_OK(hipEventRecord(stop, s));
    HIP_OK(hipDeviceSynchronize());
    HIP_OK(hipEventElapsedTime(&ms, start, stop));
    CHECK(ms > 0);

    HIP_OK(hipEventDestroy(start));
    HIP_OK(hipEventDestroy(stop));
    HIP_OK(hipEventDestroy(untimed));
    HIP_OK(hipStreamDestroy(s));
    HIP_OK(hipFree(d1));
    HIP_OK(hipFree(d2));
    HIP_OK(hipHostFree(h));
}

/* hipStreamWaitValue32 holds the stream until the host writes the flag;
 * hipStreamWriteValue32 then writes (ROCclr's streamOpsWait/Write). */
static void test_stream_ops(void)
{
    int supported = 0;
    HIP_OK(hipDeviceGetAttribute(&supported, hipDeviceAttributeCanUseStreamWaitValue, 0));
    hipStream_t s = NULL;
    HIP_OK(hipStreamCreate(&s));
    uint32_t *flag = NULL, *out = NULL;
    REQUIRE(HIP_OK(hipHostMalloc((void **)&flag, 64, hipHostMallocDefault)));
    REQUIRE(HIP_OK(hipHostMalloc((void **)&out, 64, hipHostMallocDefault)));
    __atomic_store_n(flag, 0, __ATOMIC_RELEASE);
    out[0] = 0;
    out[2] = 0;
    HIP_OK(hipStreamWaitValue32(s, flag, 5, hipStreamWaitValueGte, 0xffffffffu));
    HIP_OK(hipStreamWriteValue32(s, out, 42, 0));
    HIP_OK(hipStreamWriteValue64(s, out + 2, 0x0123456789abcdefull, 0));
    usleep(50 * 1000);
    HIP_IS(hipStreamQuery(s), hipErrorNotReady);
    CHECK_EQ_U64(__atomic_load_n(out, __ATOMIC_ACQUIRE), 0);
    __atomic_store_n(flag, 4, __ATOMIC_RELEASE); /* not yet >= 5 */
    usleep(20 * 1000);
    HIP_IS(hipStreamQuery(s), hipErrorNotReady);
    __atomic_store_n(flag, 9, __ATOMIC_RELEASE);
    HIP_OK(hipStreamSynchronize(s));
    CHECK_EQ_U64(__atomic_load_n(out, __ATOMIC_ACQUIRE), 42);
    uint64_t v64;
    memcpy(&v64, out + 2, 8);
    CHECK_EQ_U64(v64, 0x0123456789abcdefull);
    /* Eq with a mask. */
    HIP_OK(hipStreamWaitValue32(s, flag, 0x100, hipStreamWaitValueEq, 0xf00));
    HIP_OK(hipStreamWriteValue32(s, out, 43, 0));
    __atomic_store_n(flag, 0x1ff, __ATOMIC_RELEASE);
    HIP_OK(hipStreamSynchronize(s));
    CHECK_EQ_U64(__atomic_load_n(out, __ATOMIC_ACQUIRE), 43);
    HIP_OK(hipStreamDestroy(s));
    HIP_OK(hipHostFree(flag));
    HIP_OK(hipHostFree(out));
}

int main(void)
{
    hip_test_skip_unsupported();
    char dir[256];
    hip_test_tree(dir, sizeof dir, "hip-streams", "mi210", "mi300x");
    hip_test_require_hsasim();
    int count = 0;
    REQUIRE(HIP_OK(hipGetDeviceCount(&count)) && count == HIP_TEST_MI210_MI300X_DEVICES);
    REQUIRE(HIP_OK(hipSetDevice(0)));
    test_priorities();
    test_events();
    test_stream_ops();
    HIP_OK(hipDeviceSynchronize());
    test_remove_tmpdir(dir);
    return check_result();
}
