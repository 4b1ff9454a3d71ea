/* benchmarks/hsasim_idle: what the simulated runtime costs when nothing
 * happens.  With a runtime up (device watcher), 4 queues on 2 GPUs (their
 * packet processors) and an async signal handler armed on a signal that
 * never changes, the process sleeps for 2 s; the CPU time it used in that
 * time is what the simulator's threads burnt idling.  Prints JSON.
 * Runs on its own virtual tree unless ROCHP_SYSFS_ROOT names one. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "bench_tree.h"
#include "ops.h"

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static hsa_status_t collect_gpu(hsa_agent_t a, void *data)
{
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    hsa_agent_t *gpus = data;
    if (t == HSA_DEVICE_TYPE_GPU && !gpus[1].handle)
        gpus[gpus[0].handle ? 1 : 0] = a;
    return HSA_STATUS_SUCCESS;
}

static bool never(hsa_signal_value_t value, void *arg)
{
    (void)value;
    (void)arg;
    return true;
}

int main(void)
{
    char dir[256] = "";
    const char *root = getenv("ROCHP_SYSFS_ROOT");
    if (!root || !*root) {
        if (bench_make_tree("idle", "mi300x", 2, dir, sizeof dir) != 0)
            return 1;
        setenv("ROCHP_SYSFS_ROOT", dir, 1);
    }
    if (hsa_init() != HSA_STATUS_SUCCESS) {
        fprintf(stderr, "hsasim_idle: hsa_init failed\n");
        return 1;
    }
    hsa_agent_t gpus[2] = {{0}, {0}};
    hsa_iterate_agents(collect_gpu, gpus);
    hsa_queue_t *queues[4];
    int n_queues = 0;
    for (int i = 0; i < 4 && gpus[i % 2].handle; i++)
        if (hsa_queue_create(gpus[i % 2], 1024, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX,
                             UINT32_MAX, &queues[n_queues]) == HSA_STATUS_SUCCESS)
            n_queues++;
    hsa_signal_t sig;
    hsa_signal_create(1, 0, NULL, &sig);
    hsa_amd_signal_async_handler(sig, HSA_SIGNAL_CONDITION_EQ, 0, never, NULL);

    usleep(200 * 1000); /* let every thread reach its idle wait */
    double c0 = cpu_ms(), w0 = wall_ms();
    usleep(2000 * 1000);
    double cpu = cpu_ms() - c0, wall = wall_ms() - w0;

    printf("{\"benchmark\":\"hsasim_idle\",\"queues\":%d,\"async_handlers\":1,\"wall_ms\":%.1f,"
           "\"cpu_ms\":%.3f,\"cpu_percent_of_one_core\":%.4f}\n",
           n_queues, wall, cpu, 100.0 * cpu / wall);
    hsa_signal_store_screlease(sig, 0); /* let the handler go */
    for (int i = 0; i < n_queues; i++)
        hsa_queue_destroy(queues[i]);
    hsa_signal_destroy(sig);
    hsa_shut_down();
    return dir[0] ? bench_remove_tree(dir) : 0;
}
