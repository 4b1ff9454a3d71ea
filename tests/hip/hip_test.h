/* What the HIP conformance tests share: checked HIP calls, the virtual trees
 * they run on, the check that HIP really runs on hsasim, byte patterns.
 *
 * Each test is a C program against Debian's HIP 5.2.3 runtime API
 * (libamdhip64, <hip/hip_runtime_api.h>), linked to hsasim's
 * libhsa-runtime64.so.1 so that libamdhip64 gets the simulated runtime. */
#ifndef ROCHP_TESTS_HIP_TEST_H
#define ROCHP_TESTS_HIP_TEST_H

#ifndef __HIP_PLATFORM_AMD__
#define __HIP_PLATFORM_AMD__
#endif
#include <hip/hip_runtime_api.h>
#include <hip/hip_version.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "ops.h"
#include "tmpdir.h"
#include "topology/snapshot.h"

#if defined(__SANITIZE_THREAD__)
#define HIP_TEST_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define HIP_TEST_TSAN 1
#endif
#endif

/* A HIP call that must succeed; false (and a failed check) otherwise. */
#define HIP_OK(call) hip_test_ok((call), #call, __FILE__, __LINE__)
/* A HIP call that must return exactly err. */
#define HIP_IS(call, err) hip_test_is((call), (err), #call, __FILE__, __LINE__)

static inline int hip_test_ok(hipError_t e, const char *what, const char *file, int line)
{
    if (e == hipSuccess)
        return 1;
    fprintf(stderr, "%s:%d: %s -> %d %s\n", file, line, what, (int)e, hipGetErrorName(e));
    check_failures++;
    return 0;
}

static inline int hip_test_is(hipError_t e, hipError_t want, const char *what, const char *file,
                              int line)
{
    if (e == want)
        return 1;
    fprintf(stderr, "%s:%d: %s -> %d %s, expected %d %s\n", file, line, what, (int)e,
            hipGetErrorName(e), (int)want, hipGetErrorName(want));
    check_failures++;
    return 0;
}

/* The byte at i of pattern seed. */
static inline uint8_t hip_test_byte(size_t i, unsigned seed)
{
    return (uint8_t)(i * 131u + (i >> 8) * 7u + seed * 29u + 1u);
}

static inline void hip_test_fill(void *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)p)[i] = hip_test_byte(i, seed);
}

/* Checks that p[0..n) is pattern seed starting at index from; reports the
 * first difference. */
#define CHECK_PATTERN(p, n, seed, from) hip_test_check_pattern((p), (n), (seed), (from), #p, __LINE__)
static inline void hip_test_check_pattern(const void *p, size_t n, unsigned seed, size_t from,
                                          const char *what, int line)
{
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)p)[i] != hip_test_byte(from + i, seed)) {
            fprintf(stderr, "line %d: %s[%zu] = 0x%02x, expected 0x%02x (%zu bytes checked)\n",
                    line, what, i, ((const uint8_t *)p)[i], hip_test_byte(from + i, seed), n);
            check_failures++;
            return;
        }
}

#define CHECK_BYTES(p, n, value) hip_test_check_bytes((p), (n), (value), #p, __LINE__)
static inline void hip_test_check_bytes(const void *p, size_t n, uint8_t value, const char *what,
                                        int line)
{
    for (size_t i = 0; i < n; i++)
        if (((const uint8_t *)p)[i] != value) {
            fprintf(stderr, "line %d: %s[%zu] = 0x%02x, expected 0x%02x (%zu bytes checked)\n",
                    line, what, i, ((const uint8_t *)p)[i], value, n);
            check_failures++;
            return;
        }
}

static inline double hip_test_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* Exits 77 (skipped) where the test cannot say anything. */
static inline void hip_test_skip_unsupported(void)
{
#ifdef HIP_TEST_TSAN
    printf("skipped: libamdhip64 is not instrumented, so TSan cannot see its synchronisation "
           "(its threads hand signals and buffers to hsasim's) and would report races that "
           "are not there\n");
    exit(TEST_SKIP);
#endif
}

/* The runtime libamdhip64 resolved hsa_init to must be hsasim (HSASIM_LIB,
 * the build's), never a real ROCR installed beside HIP. */
static inline void hip_test_require_hsasim(void)
{
    void *init = dlsym(RTLD_DEFAULT, "hsa_init");
    Dl_info info;
    REQUIRE(init && dladdr(init, &info) && info.dli_fname);
    char want[4096], got[4096];
    REQUIRE(realpath(HSASIM_LIB, want) && realpath(info.dli_fname, got));
    if (strcmp(want, got) != 0) {
        fprintf(stderr, "hsa_init comes from %s, not hsasim (%s)\n", got, want);
        exit(1);
    }
}

/* A new virtual tree in a scratch directory: one board of model first, then
 * one of model second (NULL: none); ROCHP_SYSFS_ROOT points at it before HIP
 * starts. */
static inline void hip_test_tree(char *dir, size_t size, const char *tag, const char *first,
                                 const char *second)
{
    rochp__error err = {0};
    REQUIRE(test_make_tmpdir(dir, size, tag) == 0);
    REQUIRE(vtree_create_model(dir, vtree_model_find(first), 1, 1, NULL, &err) == ROCHP_OK);
    if (second)
        REQUIRE(vtree_plug_model(dir, vtree_model_find(second), 1, NULL, NULL, &err) ==
                ROCHP_OK);
    REQUIRE(setenv("ROCHP_SYSFS_ROOT", dir, 1) == 0);
}

/* The tree's GPU nodes that HIP runs on, in KFD order (HIP's device
 * order): ROCclr 5.2.3's ISA table (device/device.cpp) has gfx908 and
 * gfx90a of the models rochp-sim makes, not gfx942 (MI300X), and
 * roc::Device::create drops an agent whose ISA it does not know; ROCclr
 * 5.7.1's (Debian 13) has gfx942 too. */
#define HIP_TEST_KNOWS_GFX942 (HIP_VERSION_MAJOR * 100 + HIP_VERSION_MINOR >= 507)
static inline int hip_test_supported(const topo_node *n)
{
    return strcmp(n->gfx_target, "gfx908") == 0 || strcmp(n->gfx_target, "gfx90a") == 0 ||
           (HIP_TEST_KNOWS_GFX942 && strcmp(n->gfx_target, "gfx942") == 0);
}

/* HIP's devices on a tree of an MI210 then an MI300X: the MI210 first. */
#define HIP_TEST_MI210_MI300X_DEVICES (HIP_TEST_KNOWS_GFX942 ? 2 : 1)

static inline topo_snapshot *hip_test_snapshot(const char *dir)
{
    topo_snapshot *snap = NULL;
    rochp__error err = {0};
    REQUIRE(topo_snapshot_read(dir, &snap, &err) == ROCHP_OK);
    return snap;
}

/* The n-th GPU node HIP runs on, or NULL. */
static inline const topo_node *hip_test_device_node(const topo_snapshot *snap, int device)
{
    for (uint32_t i = 0; i < snap->n_nodes; i++)
        if (snap->nodes[i].kind != TOPO_KIND_CPU && snap->nodes[i].gfx_target[0] &&
            hip_test_supported(&snap->nodes[i]) && device-- == 0)
            return &snap->nodes[i];
    return NULL;
}

#endif
