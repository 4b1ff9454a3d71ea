/* An application dispatching on GPU 0 (its own HSA queue, on hsasim) with a
 * rochp context watching: GPU 0 is unplugged in the middle of the stream,
 * under each ROCHP_SIM_KERNEL mode.  Exactly one lost event for GPU 0, none
 * for GPU 1, with the reason that came first:
 *   sigbus -> sigbus (the handler turns the SI_USER SIGBUS into a check;
 *             the process is not terminated),
 *   silent -> topology, reset -> system_event (and no ROCR abort).
 * Each mode runs in a child process: its runtime and signals are its own. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "core_kernels.h"
#include "host_kernels.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static rochp_event events[16];
static int n_events;

static void record(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)user;
    pthread_mutex_lock(&lock);
    if (n_events < 16)
        events[n_events++] = *e;
    pthread_mutex_unlock(&lock);
}

static void on_queue_error(hsa_status_t status, hsa_queue_t *q, void *data)
{
    (void)status;
    (void)q;
    (void)data; /* the application's own callback: rochp learns by other means */
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int scenario(const char *tree, const char *mode, rochp_event_reason want)
{
    setenv("ROCHP_SYSFS_ROOT", tree, 1);
    setenv("ROCHP_SIM_KERNEL", mode, 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = ROCHP_CONTEXT_SIGBUS_HANDLER;
    o.poll_interval_ms = 20;
    rochp_context *ctx;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK) {
        fprintf(stderr, "[%s] %s\n", mode, rochp_last_error());
        return 10;
    }
    rochp_device_info devs[4];
    size_t n = 0;
    rochp_device_list(ctx, devs, 4, &n);
    rochp_subscription sub;
    rochp_subscribe(ctx, ROCHP_EVENT_ALL, record, NULL, &sub);
    /* The application's own runtime reference and queue on GPU 0. */
    if (hsa_init() != HSA_STATUS_SUCCESS)
        return 11;
    hsa_queue_t *q;
    if (hsa_queue_create((hsa_agent_t){devs[0].hsa_agent}, 1024, HSA_QUEUE_TYPE_MULTI,
                         on_queue_error, NULL, UINT32_MAX, UINT32_MAX, &q) != HSA_STATUS_SUCCESS)
        return 12;
    /* Its kernel, loaded for GPU 0, counts its work-groups in memory GPU 0
     * and the host both reach; each group takes 100 us, so the long dispatch
     * (100 s) is still running when the GPU goes. */
    host_gpu gpu;
    host_gpu_open(&gpu, (hsa_agent_t){devs[0].hsa_agent}, CORE_KERNELS_CO);
    uint64_t busy = host_gpu_kernel(&gpu, "busy");
    uint64_t *groups = host_gpu_memory(&gpu, sizeof *groups);
    busy_args *args = host_gpu_kernarg(&gpu, sizeof *args);
    *args = (busy_args){groups, 100};
    hsa_signal_t none = {0};
    for (int i = 0; i < 200; i++)
        host_dispatch(q, busy, args, 4, 1, none);
    host_dispatch(q, busy, args, 1000000, 1, none); /* the long one in flight */
    uint64_t deadline = now_ns() + 60000000000ull;
    while (__atomic_load_n(groups, __ATOMIC_RELAXED) < 200 * 4 + 20) {
        if (now_ns() > deadline) {
            fprintf(stderr, "[%s] %llu work-groups ran in 60 s\n", mode,
                    (unsigned long long)__atomic_load_n(groups, __ATOMIC_RELAXED));
            return 14;
        }
        sched_yield();
    }
    rochp__error err = {0};
    if (vtree_unplug(tree, devs[0].pci, 0, NULL, &err) != ROCHP_OK)
        return 13;
    for (int i = 0; i < 3000; i++) {
        pthread_mutex_lock(&lock);
        int got = n_events;
        pthread_mutex_unlock(&lock);
        if (got)
            break;
        usleep(10000);
    }
    /* Whatever else happens later (the topology under silent/reset) folds in. */
    usleep(200 * 1000);
    rochp_rescan(ctx);
    rochp_flush(ctx);
    int failed = 0;
    pthread_mutex_lock(&lock);
    if (n_events != 1 || events[0].type != ROCHP_EVENT_LOST || events[0].device != devs[0].id ||
        events[0].reason != want) {
        fprintf(stderr, "[%s] %d event(s); first: type %d device %llu reason %d (want lost of %llu, reason %d)\n",
                mode, n_events, n_events ? events[0].type : 0,
                n_events ? (unsigned long long)events[0].device : 0ull,
                n_events ? events[0].reason : 0, (unsigned long long)devs[0].id, want);
        failed = 1;
    }
    pthread_mutex_unlock(&lock);
    rochp_device_info other;
    rochp_device_get(ctx, devs[1].id, &other);
    if (other.state != ROCHP_DEVICE_PRESENT)
        failed |= 2;
    /* Under sigbus the process now lets go (exit) and the kernel finishes. */
    return failed;
}

int main(void)
{
    static const struct {
        const char *mode;
        rochp_event_reason reason;
    } cases[] = {{"sigbus", ROCHP_REASON_SIGBUS},
                 {"silent", ROCHP_REASON_TOPOLOGY},
                 {"reset", ROCHP_REASON_SYSTEM_EVENT}};
    for (int c = 0; c < 3; c++) {
        char tree[256];
        REQUIRE(test_make_tmpdir(tree, sizeof tree, "dispatch-unplug") == 0);
        rochp__error err = {0};
        REQUIRE(vtree_create_model(tree, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
        fflush(NULL);
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0)
            _exit(scenario(tree, cases[c].mode, cases[c].reason));
        int status;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "[%s] scenario failed: status 0x%x\n", cases[c].mode, status);
            check_failures++;
        }
        test_remove_tmpdir(tree);
    }
    return check_result();
}
