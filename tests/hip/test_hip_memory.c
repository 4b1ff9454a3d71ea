/* HIP memory and copies on hsasim, every byte checked: hipMalloc/hipFree,
 * hipMemset (ROCclr's fill blit kernels), hipMemcpy host to device, device to
 * host, device to device (the copy blit kernels or the copy engines), host to
 * host, with pageable, pinned (hipHostMalloc) and registered
 * (hipHostRegister) host memory, aligned and not, small and staged; 2D
 * copies and fills (hipMemcpy2D, hipMemset2D).  On the MI210 of a tree of an
 * MI210 and an MI300X (HIP 5.2.3 runs on the MI210 only). */
#include "hip_test.h"

#define BIG ((size_t)(4u << 20) + 13) /* more than ROCclr's staging buffer chunk, odd */

static void *host_alloc(size_t n)
{
    void *p = malloc(n);
    REQUIRE(p);
    return p;
}

/* One copy of n bytes from src at src_off to a fresh destination at dst_off,
 * read back and checked. */
static void test_copies(void)
{
    uint8_t *h = host_alloc(BIG), *back = host_alloc(BIG);
    hip_test_fill(h, BIG, 1);
    uint8_t *d = NULL, *d2 = NULL;
    REQUIRE(HIP_OK(hipMalloc((void **)&d, BIG)) && d);
    REQUIRE(HIP_OK(hipMalloc((void **)&d2, BIG)) && d2);

    /* Host to device and back, pageable memory, sizes 1, odd, staged. */
    static const size_t sizes[] = {1, 7, 1001, 65536 + 3, BIG};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        size_t n = sizes[i];
        memset(back, 0, n);
        HIP_OK(hipMemcpy(d, h, n, hipMemcpyHostToDevice));
        HIP_OK(hipMemcpy(back, d, n, hipMemcpyDeviceToHost));
        CHECK_PATTERN(back, n, 1, 0);
    }
    /* Unaligned on both sides. */
    memset(back, 0, BIG);
    HIP_OK(hipMemcpy(d + 3, h + 5, 100003, hipMemcpyHostToDevice));
    HIP_OK(hipMemcpy(back + 1, d + 3, 100003, hipMemcpyDeviceToHost));
    CHECK_PATTERN(back + 1, 100003, 1, 5);
    CHECK_EQ_U64(back[0], 0);
    CHECK_EQ_U64(back[100004], 0);

    /* Device to device: whole, and unaligned (copyBuffer's byte tail). */
    HIP_OK(hipMemcpy(d, h, BIG, hipMemcpyHostToDevice));
    HIP_OK(hipMemset(d2, 0, BIG));
    HIP_OK(hipMemcpy(d2, d, BIG, hipMemcpyDeviceToDevice));
    memset(back, 0, BIG);
    HIP_OK(hipMemcpy(back, d2, BIG, hipMemcpyDeviceToHost));
    CHECK_PATTERN(back, BIG, 1, 0);
    HIP_OK(hipMemset(d2, 0, BIG));
    HIP_OK(hipMemcpy(d2 + 1, d + 6, 999, hipMemcpyDeviceToDevice));
    memset(back, 0xee, 1001);
    HIP_OK(hipMemcpy(back, d2, 1001, hipMemcpyDeviceToHost));
    CHECK_EQ_U64(back[0], 0);
    CHECK_PATTERN(back + 1, 999, 1, 6);
    CHECK_EQ_U64(back[1000], 0);

    /* Host to host, and hipMemcpyDefault (unified addressing) both ways. */
    memset(back, 0, BIG);
    HIP_OK(hipMemcpy(back, h, BIG, hipMemcpyHostToHost));
    CHECK_PATTERN(back, BIG, 1, 0);
    hip_test_fill(h, 4096, 2);
    HIP_OK(hipMemcpy(d, h, 4096, hipMemcpyDefault));
    memset(back, 0, 4096);
    HIP_OK(hipMemcpy(back, d, 4096, hipMemcpyDefault));
    CHECK_PATTERN(back, 4096, 2, 0);

    HIP_OK(hipFree(d));
    HIP_OK(hipFree(d2));
    HIP_OK(hipFree(NULL));
    free(h);
    free(back);
}

static void test_memset(void)
{
    uint8_t *d = NULL, *back = host_alloc(BIG);
    REQUIRE(HIP_OK(hipMalloc((void **)&d, BIG)));
    HIP_OK(hipMemset(d, 0xa5, BIG));
    HIP_OK(hipMemcpy(back, d, BIG, hipMemcpyDeviceToHost));
    CHECK_BYTES(back, BIG, 0xa5);
    /* An unaligned range: its neighbours keep their value. */
    HIP_OK(hipMemset(d + 3, 0x5a, 1001));
    HIP_OK(hipMemcpy(back, d, 2048, hipMemcpyDeviceToHost));
    CHECK_BYTES(back, 3, 0xa5);
    CHECK_BYTES(back + 3, 1001, 0x5a);
    CHECK_BYTES(back + 1004, 2048 - 1004, 0xa5);
    /* 32-bit and 16-bit patterns (fillBufferAligned's uint and ushort paths). */
    HIP_OK(hipMemsetD32((hipDeviceptr_t)d, (int)0xdeadbeef, 1000));
    HIP_OK(hipMemsetD16((hipDeviceptr_t)(d + 4000), 0x1234, 10));
    HIP_OK(hipMemcpy(back, d, 4024, hipMemcpyDeviceToHost));
    for (int i = 0; i < 1000; i++) {
        uint32_t v;
        memcpy(&v, back + 4 * i, 4);
        if (v != 0xdeadbeefu) {
            fprintf(stderr, "hipMemsetD32: word %d = 0x%08x\n", i, v);
            check_failures++;
            break;
        }
    }
    for (int i = 0; i < 10; i++) {
        uint16_t v;
        memcpy(&v, back + 4000 + 2 * i, 2);
        CHECK_EQ_U64(v, 0x1234);
    }
    CHECK_BYTES(back + 4020, 4, 0xa5);
    HIP_OK(hipFree(d));
    free(back);
}

/* hipHostMalloc'ed and hipHostRegister'ed memory: copies both ways, exact. */
static void test_pinned(void)
{
    uint8_t *pinned = NULL, *d = NULL;
    REQUIRE(HIP_OK(hipHostMalloc((void **)&pinned, BIG, hipHostMallocDefault)) && pinned);
    REQUIRE(HIP_OK(hipMalloc((void **)&d, BIG)));
    hip_test_fill(pinned, BIG, 3);
    HIP_OK(hipMemcpy(d, pinned, BIG, hipMemcpyHostToDevice));
    memset(pinned, 0, BIG);
    HIP_OK(hipMemcpy(pinned, d, BIG, hipMemcpyDeviceToHost));
    CHECK_PATTERN(pinned, BIG, 3, 0);
    hipPointerAttribute_t attr;
    memset(&attr, 0, sizeof attr);
    if (HIP_OK(hipPointerGetAttributes(&attr, d))) {
        CHECK(attr.memoryType == hipMemoryTypeDevice);
        CHECK(attr.devicePointer == d);
    }
    HIP_OK(hipHostFree(pinned));

    /* Registered: ROCclr locks it (hsa_amd_memory_lock_to_pool) and unlocks
     * it at hipHostUnregister. */
    size_t n = 3u << 20;
    uint8_t *reg = host_alloc(n);
    hip_test_fill(reg, n, 4);
    if (HIP_OK(hipHostRegister(reg, n, hipHostRegisterDefault))) {
        void *dev_view = NULL;
        HIP_OK(hipHostGetDevicePointer(&dev_view, reg, 0));
        /* The GPU's address of the pages (ROCR's agent_ptr), not reg. */
        CHECK(dev_view != NULL && dev_view != reg);
        HIP_OK(hipMemcpy(d, reg, n, hipMemcpyHostToDevice));
        memset(reg, 0, n);
        HIP_OK(hipMemcpy(reg, d, n, hipMemcpyDeviceToHost));
        CHECK_PATTERN(reg, n, 4, 0);
        HIP_OK(hipHostUnregister(reg));
    }
    /* Unregistered memory is plain pageable memory again. */
    memset(reg, 0, n);
    HIP_OK(hipMemcpy(reg, d, n, hipMemcpyDeviceToHost));
    CHECK_PATTERN(reg, n, 4, 0);
    HIP_IS(hipHostUnregister(reg), hipErrorHostMemoryNotRegistered);
    free(reg);
    HIP_OK(hipFree(d));
}

/* Pitched 2D copies and fills: the rectangle moves, the pitch padding and
 * everything around stays. */
static void test_2d(void)
{
    const size_t width = 1000, height = 37, hpitch = 1024 + 8;
    uint8_t *h = host_alloc(hpitch * height), *back = host_alloc(hpitch * height);
    hip_test_fill(h, hpitch * height, 5);
    uint8_t *d = NULL;
    size_t dpitch = 0;
    /* hipamd 5.2.3 ihipMallocPitch refuses without image support, which
     * needs the HSA image extension hsasim does not have: pitches by hand. */
    HIP_IS(hipMallocPitch((void **)&d, &dpitch, width, height), hipErrorInvalidValue);
    dpitch = 1024;
    REQUIRE(HIP_OK(hipMalloc((void **)&d, dpitch * height)));
    HIP_OK(hipMemset2D(d, dpitch, 0x11, dpitch, height));
    HIP_OK(hipMemcpy2D(d, dpitch, h, hpitch, width, height, hipMemcpyHostToDevice));
    /* Whole rows back, padding included: the padding is still 0x11. */
    uint8_t *rows = host_alloc(2048 * height); /* any pitch used here */
    HIP_OK(hipMemcpy(rows, d, dpitch * height, hipMemcpyDeviceToHost));
    for (size_t y = 0; y < height; y++) {
        CHECK_PATTERN(rows + y * dpitch, width, 5, y * hpitch);
        CHECK_BYTES(rows + y * dpitch + width, dpitch - width, 0x11);
    }
    memset(back, 0, hpitch * height);
    HIP_OK(hipMemcpy2D(back, hpitch, d, dpitch, width, height, hipMemcpyDeviceToHost));
    for (size_t y = 0; y < height; y++) {
        CHECK_PATTERN(back + y * hpitch, width, 5, y * hpitch);
        CHECK_BYTES(back + y * hpitch + width, hpitch - width, 0);
    }
    /* Device to device, a sub-rectangle at an offset. */
    uint8_t *d2 = NULL;
    size_t pitch2 = 1536;
    REQUIRE(HIP_OK(hipMalloc((void **)&d2, pitch2 * height)));
    HIP_OK(hipMemset2D(d2, pitch2, 0x22, pitch2, height));
    HIP_OK(hipMemcpy2D(d2 + pitch2 + 3, pitch2, d + 5, dpitch, 500, 20, hipMemcpyDeviceToDevice));
    HIP_OK(hipMemcpy(rows, d2, pitch2 * height, hipMemcpyDeviceToHost));
    for (size_t y = 0; y < height; y++) {
        const uint8_t *row = rows + y * pitch2;
        if (y >= 1 && y < 21) {
            CHECK_BYTES(row, 3, 0x22);
            CHECK_PATTERN(row + 3, 500, 5, (y - 1) * hpitch + 5);
            CHECK_BYTES(row + 503, pitch2 - 503, 0x22);
        } else {
            CHECK_BYTES(row, pitch2, 0x22);
        }
    }
    /* A 2D fill of a sub-rectangle (fillBufferAligned2D). */
    HIP_OK(hipMemset2D(d2 + 2 * pitch2 + 1, pitch2, 0x33, 10, 3));
    HIP_OK(hipMemcpy(rows, d2, pitch2 * 6, hipMemcpyDeviceToHost));
    for (size_t y = 2; y < 5; y++) {
        CHECK_BYTES(rows + y * pitch2 + 1, 10, 0x33);
        CHECK_EQ_U64(rows[y * pitch2 + 11], hip_test_byte((y - 1) * hpitch + 5 + 8, 5));
    }
    CHECK_BYTES(rows + 5 * pitch2, 3, 0x22);
    HIP_OK(hipFree(d));
    HIP_OK(hipFree(d2));
    free(h);
    free(back);
    free(rows);
}

int main(void)
{
    hip_test_skip_unsupported();
    char dir[256];
    hip_test_tree(dir, sizeof dir, "hip-memory", "mi210", "mi300x");
    hip_test_require_hsasim();
    int count = 0;
    REQUIRE(HIP_OK(hipGetDeviceCount(&count)) && count == HIP_TEST_MI210_MI300X_DEVICES);
    REQUIRE(HIP_OK(hipSetDevice(0)));
    test_copies();
    test_memset();
    test_pinned();
    test_2d();
    HIP_OK(hipDeviceSynchronize());
    test_remove_tmpdir(dir);
    return check_result();
}
