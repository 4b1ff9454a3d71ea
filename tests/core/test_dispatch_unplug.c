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
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>
#include <hsasim/kernel.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

static _Atomic uint64_t groups;
static void busy(const void *kernarg, const hsasim_dispatch *d)
{
    (void)kernarg;
    (void)d;
    struct timespec ts = {0, 100 * 1000};
    nanosleep(&ts, NULL);
    atomic_fetch_add(&groups, 1);
}
static const hsasim_kernel_object busy_ko = {
    .magic = HSASIM_KERNEL_MAGIC, .fn = busy, .name = "busy"};

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

static void dispatch(hsa_queue_t *q, uint32_t grid)
{
    uint64_t index = hsa_queue_add_write_index_relaxed(q, 1);
    hsa_kernel_dispatch_packet_t *p =
        (hsa_kernel_dispatch_packet_t *)q->base_address + (index & (q->size - 1));
    memset((char *)p + 4, 0, sizeof *p - 4);
    p->workgroup_size_x = p->workgroup_size_y = p->workgroup_size_z = 1;
    p->grid_size_x = grid;
    p->grid_size_y = p->grid_size_z = 1;
    p->kernel_object = (uint64_t)(uintptr_t)&busy_ko;
    uint16_t header = HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE;
    __atomic_store_n((uint32_t *)p, header | 1u << 16, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
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
    for (int i = 0; i < 200; i++)
        dispatch(q, 4);
    dispatch(q, 1000000); /* the long one in flight */
    while (atomic_load(&groups) < 200 * 4 + 20)
        sched_yield();
    rochp_error err = {0};
    if (sim_unplug(tree, devs[0].pci, 0, NULL, &err) != ROCHP_OK)
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
        rochp_error err = {0};
        REQUIRE(sim_create_model(tree, sim_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
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
