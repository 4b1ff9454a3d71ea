/* HIP device enumeration and properties on hsasim, against what the virtual
 * tree implies: a tree of an MI210 and an MI300X, on which Debian's HIP
 * 5.2.3 finds the MI210 only (ROCclr 5.2.3 does not know gfx942, as on real
 * hardware), and a tree of an MI100 and an MI210, two devices.
 *
 *   test_hip_devices            both trees, each in a child process (HIP
 *                               initialises once per process)
 *   test_hip_devices TREE       one tree (ROCHP_SYSFS_ROOT) */
#include <sys/wait.h>
#include <unistd.h>

#include "hip_test.h"
#include "topology/props.h"

static void check_device(const topo_node *n, int device)
{
    hipDeviceProp_t p;
    memset(&p, 0, sizeof p);
    if (!HIP_OK(hipGetDeviceProperties(&p, device)))
        return;
    /* The trees' boards by ISA (HIP 5.7.1 also lists the MI300X). */
    const char *model = strcmp(n->gfx_target, "gfx908") == 0   ? "mi100"
                        : strcmp(n->gfx_target, "gfx942") == 0 ? "mi300x"
                                                               : "mi210";
    const vtree_model *m = vtree_model_find(model);
    REQUIRE(m);
    CHECK_EQ_STR(p.name, m->product);
    char arch[64];
    /* ROCR's ISA name for the node: SRAMECC on, XNACK off on these boards. */
    snprintf(arch, sizeof arch, "%s:sramecc+:xnack-", n->gfx_target);
    CHECK_EQ_STR(p.gcnArchName, arch);
    CHECK_EQ_U64(p.totalGlobalMem, n->vram_bytes);
    uint64_t simd_per_cu = topo_props_get_or(&n->props, "simd_per_cu", 0);
    CHECK_EQ_U64(p.multiProcessorCount, n->simd_count / simd_per_cu);
    CHECK_EQ_U64(p.pciDomainID, n->domain);
    CHECK_EQ_U64(p.pciBusID, n->location_id >> 8);
    CHECK_EQ_U64(p.pciDeviceID, (n->location_id >> 3) & 0x1f);
    CHECK_EQ_U64(p.clockRate, topo_props_get_or(&n->props, "max_engine_clk_fcompute", 0) * 1000);
    CHECK_EQ_U64(p.warpSize, topo_props_get_or(&n->props, "wave_front_size", 0));
    CHECK_EQ_U64(p.maxThreadsPerBlock, 1024);
    /* gcnArch: major * 100 + minor * 10 + stepping (gfx90a: 910). */
    uint64_t v = topo_props_get_or(&n->props, "gfx_target_version", 0);
    CHECK_EQ_U64(p.gcnArch, v / 10000 * 100 + v / 100 % 100 * 10 + v % 100);
    CHECK_EQ_U64(p.memoryBusWidth, m->mem_width);

    /* The bus id string and back. */
    char bus[32] = "", want[32];
    HIP_OK(hipDeviceGetPCIBusId(bus, sizeof bus, device));
    snprintf(want, sizeof want, "%04x:%02x:%02x.%x", n->domain, n->location_id >> 8,
             (n->location_id >> 3) & 0x1f, n->location_id & 7);
    CHECK_EQ_STR(bus, want);
    int back = -1;
    HIP_OK(hipDeviceGetByPCIBusId(&back, want));
    CHECK_EQ_U64(back, device);

    /* hipMemGetInfo: the whole VRAM, nothing of it used yet by this test. */
    HIP_OK(hipSetDevice(device));
    int current = -1;
    HIP_OK(hipGetDevice(&current));
    CHECK_EQ_U64(current, device);
    size_t free_bytes = 0, total = 0;
    HIP_OK(hipMemGetInfo(&free_bytes, &total));
    CHECK_EQ_U64(total, n->vram_bytes);
    CHECK(free_bytes <= total && free_bytes > total / 2);
    /* An allocation shows in the free memory ROCclr accounts. */
    void *d = NULL;
    size_t size = 64u << 20;
    if (HIP_OK(hipMalloc(&d, size))) {
        size_t free_after = 0;
        HIP_OK(hipMemGetInfo(&free_after, &total));
        CHECK(free_after + size <= free_bytes);
        HIP_OK(hipFree(d));
    }
}

static int run_tree(const char *dir)
{
    hip_test_require_hsasim();
    topo_snapshot *snap = hip_test_snapshot(dir);
    int expected = 0;
    while (hip_test_device_node(snap, expected))
        expected++;
    int count = -1;
    REQUIRE(HIP_OK(hipGetDeviceCount(&count)));
    CHECK_EQ_U64(count, expected);
    for (int i = 0; i < count && i < expected; i++)
        check_device(hip_test_device_node(snap, i), i);

    /* Out of range. */
    hipDeviceProp_t p;
    HIP_IS(hipGetDeviceProperties(&p, count), hipErrorInvalidDevice);
    HIP_IS(hipSetDevice(count), hipErrorInvalidDevice);
    int back = 0;
    /* hipamd 5.2.3 (hip_device_runtime.cpp, hipDeviceGetByPCIBusId): no
     * such device is hipErrorInvalidValue. */
    HIP_IS(hipDeviceGetByPCIBusId(&back, "0000:ff:1f.7"), hipErrorInvalidValue);
    topo_snapshot_free(snap);
    return check_result();
}

static int run_child(const char *self, const char *first, const char *second, int want_devices)
{
    char dir[256];
    hip_test_tree(dir, sizeof dir, "hip-devices", first, second);
    topo_snapshot *snap = hip_test_snapshot(dir);
    int supported = 0;
    while (hip_test_device_node(snap, supported))
        supported++;
    topo_snapshot_free(snap);
    CHECK_EQ_U64(supported, want_devices);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        execl(self, self, dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    test_remove_tmpdir(dir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "tree %s + %s: child status 0x%x\n", first, second, status);
        return 1;
    }
    printf("tree %s + %s: %d HIP device(s), ok\n", first, second, want_devices);
    return 0;
}

int main(int argc, char **argv)
{
    hip_test_skip_unsupported();
    if (argc == 2)
        return run_tree(argv[1]);
    int failed = run_child("/proc/self/exe", "mi210", "mi300x", HIP_TEST_MI210_MI300X_DEVICES);
    failed |= run_child("/proc/self/exe", "mi100", "mi210", 2);
    return failed || check_result();
}
