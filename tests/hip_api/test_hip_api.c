/* rochp_hip.h on Debian's HIP 5.2.3 over hsasim, as a HIP program uses it:
 * rochp_hip_init before any HIP call; HIP's ordinals and rochp's devices
 * map both ways (HIP_VISIBLE_DEVICES honoured); a GPU unplugged under the
 * silent kernel behaviour reaches the program as one lost event carrying
 * its ordinal, and rochp_hip_device_usable says so; the other ordinal
 * stays usable and HIP still works there.  And what HIP does on the lost
 * ordinal with transparent mode in place, with a stream and memory made
 * before the loss: copies, fills, events, a stream callback, the stream's
 * and the memory's release all return hipSuccess (the callback runs), no
 * call hangs (the test's timeout), and a new allocation fails.  Skipped
 * (77) when HIP is not installed, and in TSan builds.
 *   test_hip_api [--visible]   (--visible: run with HIP_VISIBLE_DEVICES=1) */
#include <hip/hip_runtime_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "rochp/rochp_hip.h"
#include "tmpdir.h"

/* The tree is made and changed by the rochp-sim program, as an operator
 * would: this program links only what a HIP program links (librochp_hip,
 * librochp, libamdhip64). */
static int sim(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s' %s >/dev/null", ROCHP_SIM, args);
    return system(cmd);
}

static _Atomic int callback_ran;

static void on_stream_callback(hipStream_t stream, hipError_t status, void *user)
{
    (void)stream;
    (void)user;
    atomic_store(&callback_ran, status == hipSuccess ? 1 : 2);
}

/* HIP on the lost GPU 0 (ordinal 0), with stream s and memory d made there
 * before the loss: nothing hangs (the test's timeout), work returns
 * hipSuccess doing nothing, and the stream callback runs -- HIP completes
 * its commands in async signal handlers the tool runs for a lost GPU
 * (lib/tool/handlers.c; without them hipStreamDestroy spins for ever). */
static void use_lost_gpu(hipStream_t s, void *d)
{
    CHECK(hipSetDevice(0) == hipSuccess);
    static uint8_t host[4096];
    CHECK(hipMemsetAsync(d, 2, sizeof host, s) == hipSuccess);
    CHECK(hipMemcpyAsync(host, d, sizeof host, hipMemcpyDeviceToHost, s) == hipSuccess);
    CHECK(hipMemcpy(host, d, sizeof host, hipMemcpyDeviceToHost) == hipSuccess);
    hipEvent_t ev;
    CHECK(hipEventCreate(&ev) == hipSuccess);
    CHECK(hipEventRecord(ev, s) == hipSuccess);
    CHECK(hipEventSynchronize(ev) == hipSuccess);
    CHECK(hipStreamAddCallback(s, on_stream_callback, NULL, 0) == hipSuccess);
    CHECK(hipStreamSynchronize(s) == hipSuccess);
    CHECK(hipDeviceSynchronize() == hipSuccess);
    /* The callback runs on the tool's thread, within a few of its 10 ms
     * rounds: waited for with a deadline. */
    for (int i = 0; i < 3000 && !atomic_load(&callback_ran); i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    CHECK_EQ_U64(atomic_load(&callback_ran), 1);
    CHECK(hipEventQuery(ev) == hipSuccess);
    CHECK(hipEventDestroy(ev) == hipSuccess);
    CHECK(hipStreamDestroy(s) == hipSuccess);
    CHECK(hipFree(d) == hipSuccess);
    void *more = NULL;
    CHECK(hipMalloc(&more, 4096) != hipSuccess); /* the GPU's memory is gone */
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static int lost_ordinal = -2, lost_events;
static char lost_pci[24];

static void on_event(rochp_context *ctx, const rochp_event *e, int ordinal, void *user)
{
    (void)ctx;
    (void)user;
    if (e->type != ROCHP_EVENT_LOST)
        return;
    pthread_mutex_lock(&lock);
    lost_ordinal = ordinal;
    lost_events++;
    memcpy(lost_pci, e->info.pci, sizeof lost_pci);
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
    const char *sanitize = getenv("ROCHP_SANITIZE");
    if (sanitize && strcmp(sanitize, "thread") == 0) {
        printf("skipped: libamdhip64 is not instrumented, so TSan cannot see HIP's own "
               "synchronisation\n");
        return TEST_SKIP;
    }
    bool visible = argc > 1 && strcmp(argv[1], "--visible") == 0;
    char dir[512];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "hip-api") == 0);
    char args[700];
    snprintf(args, sizeof args, "create '%s' --model mi210 --gpus 2", dir);
    REQUIRE(sim(args) == 0);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    setenv("ROCHP_TOOL_POLL_MS", "20", 1);
    if (visible)
        setenv("HIP_VISIBLE_DEVICES", "1", 1);
    /* GPU 0 of the tree (node 2) is 0000:63:00.0, GPU 1 0000:43:00.0. */
    const char *pci[2] = {"0000:63:00.0", "0000:43:00.0"};

    CHECK_EQ_U64(rochp_hip_device_usable(0), 0); /* nothing before init */
    rochp_options o;
    rochp_options_init(&o);
    o.poll_interval_ms = 20;
    rochp_context *ctx = NULL;
    rochp_status st = rochp_hip_init(&o, &ctx);
    if (st != ROCHP_OK)
        fprintf(stderr, "rochp_hip_init: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    int n = 0;
    REQUIRE(hipGetDeviceCount(&n) == hipSuccess);
    CHECK_EQ_U64(n, visible ? 1 : 2);
    for (int ord = 0; ord < n; ord++) {
        rochp_device_id dev = 0;
        CHECK(rochp_hip_device(ctx, ord, &dev) == ROCHP_OK);
        rochp_device_info info;
        CHECK(rochp_device_get(ctx, dev, &info) == ROCHP_OK);
        CHECK_EQ_STR(info.pci, pci[visible ? 1 : ord]);
        int back = -1;
        CHECK(rochp_hip_ordinal(ctx, dev, &back) == ROCHP_OK);
        CHECK_EQ_U64(back, ord);
        /* HIP's own view of the same device (bus and device agree). */
        char bus[32];
        CHECK(hipDeviceGetPCIBusId(bus, sizeof bus, ord) == hipSuccess);
        CHECK(strncmp(bus, info.pci, 10) == 0);
        CHECK_EQ_U64(rochp_hip_device_usable(ord), 1);
    }
    rochp_device_id none;
    CHECK(rochp_hip_device(ctx, n, &none) == ROCHP_ERROR_NOT_FOUND);
    CHECK(strstr(rochp_last_error(), "HIP has no device"));
    if (visible) {
        /* GPU 0 is hidden from HIP: a device of the context, no ordinal. */
        rochp_device_info infos[4];
        size_t count = 0;
        CHECK(rochp_device_list(ctx, infos, 4, &count) == ROCHP_OK);
        for (size_t i = 0; i < count && i < 4; i++)
            if (strcmp(infos[i].pci, pci[0]) == 0) {
                int ord = 0;
                CHECK(rochp_hip_ordinal(ctx, infos[i].id, &ord) == ROCHP_ERROR_NOT_FOUND);
                CHECK(strstr(rochp_last_error(), "HIP_VISIBLE_DEVICES"));
            }
    }

    /* HIP memory registered: its device from HIP; what HIP did not
     * allocate, or a range past the allocation, refused by name. */
    void *dev_mem = NULL, *host_mem = NULL;
    REQUIRE(hipSetDevice(n - 1) == hipSuccess && hipMalloc(&dev_mem, 8192) == hipSuccess);
    REQUIRE(hipHostMalloc(&host_mem, 4096, hipHostMallocDefault) == hipSuccess);
    rochp_buffer *rb = NULL, *rh = NULL;
    rochp_device_id last_dev = 0;
    CHECK(rochp_hip_device(ctx, n - 1, &last_dev) == ROCHP_OK);
    CHECK(rochp_hip_register(ctx, (char *)dev_mem + 4096, 4096, 0, &rb) == ROCHP_OK);
    CHECK(rb && rochp_buffer_device(rb) == last_dev);
    CHECK(rochp_hip_register(ctx, host_mem, 4096, ROCHP_REGISTER_COPY_ALWAYS, &rh) == ROCHP_OK);
    CHECK(rh && rochp_buffer_device(rh) == ROCHP_HOST);
    rochp_buffer *bad = NULL;
    static char not_hip[64];
    CHECK(rochp_hip_register(ctx, not_hip, sizeof not_hip, 0, &bad) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(rochp_last_error(), "not memory HIP allocated"));
    CHECK(rochp_hip_register(ctx, dev_mem, 8193, 0, &bad) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(rochp_last_error(), "run past HIP's allocation"));
    CHECK(rochp_hip_register(ctx, dev_mem, 8192, 0, &bad) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(rochp_last_error(), "overlap buffer"));
    CHECK(bad == NULL);
    rochp_checkpoint_stats cs;
    CHECK(rochp_checkpoint(ctx, 30ull * 1000 * 1000 * 1000, &cs) == ROCHP_OK);
    CHECK_EQ_U64(cs.buffers_copied, 2);
    CHECK(rochp_buffer_free(rb) == ROCHP_OK && rochp_buffer_free(rh) == ROCHP_OK);
    CHECK(hipFree(dev_mem) == hipSuccess && hipHostFree(host_mem) == hipSuccess);

    /* Work on the GPU that goes, made before it goes. */
    hipStream_t s0 = NULL;
    void *d0 = NULL;
    if (!visible) {
        CHECK(hipSetDevice(0) == hipSuccess);
        CHECK(hipStreamCreate(&s0) == hipSuccess);
        CHECK(hipMalloc(&d0, 4096) == hipSuccess);
        CHECK(hipMemsetAsync(d0, 1, 4096, s0) == hipSuccess);
        CHECK(hipStreamSynchronize(s0) == hipSuccess);
        /* The null stream too: HIP makes a stream's HSA queue at its first
         * use, and on a lost GPU that queue cannot be made.  HIP 5.7.1 then
         * dereferences the queue it did not get (a SIGSEGV in hipMemcpy);
         * 5.2.3 had made the null stream's queue at start. */
        CHECK(hipMemset(d0, 1, 4096) == hipSuccess);
    }

    rochp_subscription sub;
    CHECK(rochp_hip_subscribe(ctx, ROCHP_EVENT_LOST, on_event, NULL, &sub) == ROCHP_OK);
    CHECK(rochp_hip_subscribe(ctx, ROCHP_EVENT_LOST, NULL, NULL, &sub) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    /* Unplug the board HIP calls 0 (or, with HIP_VISIBLE_DEVICES=1, the
     * hidden one: its event carries no ordinal). */
    snprintf(args, sizeof args, "unplug '%s' %s", dir, pci[0]);
    REQUIRE(sim(args) == 0);
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 30;
    pthread_mutex_lock(&lock);
    while (lost_events == 0 && pthread_cond_timedwait(&cond, &lock, &deadline) == 0) {
    }
    CHECK_EQ_U64(lost_events, 1);
    CHECK_EQ_STR(lost_pci, pci[0]);
    CHECK_EQ_U64((uint64_t)(int64_t)lost_ordinal, (uint64_t)(int64_t)(visible ? -1 : 0));
    pthread_mutex_unlock(&lock);
    if (!visible) {
        CHECK_EQ_U64(rochp_hip_device_usable(0), 0);
        CHECK_EQ_U64(rochp_hip_device_usable(1), 1);
        use_lost_gpu(s0, d0);
    } else {
        CHECK_EQ_U64(rochp_hip_device_usable(0), 1); /* HIP's 0 is the board that stays */
    }
    /* HIP still works on the GPU that stays. */
    int stays = visible ? 0 : 1;
    CHECK(hipSetDevice(stays) == hipSuccess);
    void *p = NULL;
    CHECK(hipMalloc(&p, 4096) == hipSuccess && p);
    CHECK(hipFree(p) == hipSuccess);
    CHECK(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_failures ? 1 : 0;
}
