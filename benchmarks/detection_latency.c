/* benchmarks/detection_latency: time from a GPU leaving the topology to the
 * application's lost callback, and what the watcher costs when nothing
 * happens.  Prints one JSON object.
 *   uevent:    the tree changes, then a real kernel uevent comes (writing
 *              "change" to a PCI device's uevent file, as a removal emits one
 *              for the GPU's PCI device); the poll period is 1 s, so the
 *              wake-up is the uevent's.  Needs root and a PCI device.
 *   poll_only: no uevents (ROCHP_CONTEXT_NO_UEVENTS), 100 ms poll period.
 *   idle:      a default context (1 s poll, uevents on) left alone for 5 s.
 * Latency is measured from the moment the tree change is complete to the
 * callback's entry, on virtual trees (tmpfs) made here. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench_tree.h"
#include "ops.h"
#include "rochp/rochp.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static uint64_t lost_at, returned_count;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void on_event(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)user;
    uint64_t t = now_ns();
    pthread_mutex_lock(&lock);
    if (e->type == ROCHP_EVENT_LOST)
        lost_at = t;
    else
        returned_count++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static bool pci_uevent_file(char *out, size_t size)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) != NULL && !found)
        if (e->d_name[0] != '.') {
            snprintf(out, size, "/sys/bus/pci/devices/%s/uevent", e->d_name);
            found = access(out, W_OK) == 0;
        }
    if (d)
        closedir(d);
    return found;
}

/* n unplug/plug cycles; fills lat with unplug -> callback in ns. */
static int measure(const char *tree, uint32_t flags, uint32_t poll_ms, const char *uevent_file,
                   int n, uint64_t *lat)
{
    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_NO_HSA | flags;
    o.sysfs_root = tree;
    o.poll_interval_ms = poll_ms;
    rochp_context *ctx;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK) {
        fprintf(stderr, "detection_latency: %s\n", rochp_last_error());
        return -1;
    }
    rochp_subscription sub;
    rochp_subscribe(ctx, ROCHP_EVENT_ALL, on_event, NULL, &sub);
    rochp__error err = {0};
    int done = 0;
    for (int i = 0; i < n; i++) {
        pthread_mutex_lock(&lock);
        lost_at = 0;
        uint64_t returned_before = returned_count;
        pthread_mutex_unlock(&lock);
        if (vtree_unplug(tree, "0000:43:00.0", 0, NULL, &err) != ROCHP_OK)
            break;
        uint64_t t0 = now_ns();
        if (uevent_file) {
            int fd = open(uevent_file, O_WRONLY | O_CLOEXEC);
            if (fd < 0 || write(fd, "change", 6) != 6) {
                if (fd >= 0)
                    close(fd);
                break;
            }
            close(fd);
        }
        pthread_mutex_lock(&lock);
        while (lost_at == 0)
            pthread_cond_wait(&cond, &lock);
        lat[done++] = lost_at - t0;
        pthread_mutex_unlock(&lock);
        if (vtree_plug_back(tree, "0000:43:00.0", NULL, &err) != ROCHP_OK)
            break;
        rochp_rescan(ctx); /* take the return now: the next cycle starts clean */
        pthread_mutex_lock(&lock);
        while (returned_count == returned_before)
            pthread_cond_wait(&cond, &lock);
        pthread_mutex_unlock(&lock);
    }
    rochp_context_destroy(ctx);
    qsort(lat, (size_t)done, sizeof *lat, cmp_u64);
    return done;
}

static void print_stats(const uint64_t *lat, int n)
{
    if (n <= 0) {
        printf("null");
        return;
    }
    printf("{\"samples\":%d,\"median_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}", n,
           (double)lat[n / 2] / 1e6, (double)lat[(n * 99 + 99) / 100 - 1] / 1e6,
           (double)lat[n - 1] / 1e6);
}

static double cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

int main(void)
{
    char tree[256];
    if (bench_make_tree("detect", "mi210", 2, tree, sizeof tree) != 0)
        return 1;
    static uint64_t lat[1000];
    char uevent_file[512];
    printf("{\"benchmark\":\"detection_latency\",\"uevent\":");
    if (geteuid() == 0 && pci_uevent_file(uevent_file, sizeof uevent_file))
        print_stats(lat, measure(tree, 0, 1000, uevent_file, 200, lat));
    else
        printf("null,\"uevent_skipped\":\"needs root and a PCI device\"");
    printf(",\"poll_only\":{\"poll_interval_ms\":100,\"latency\":");
    print_stats(lat, measure(tree, ROCHP_CONTEXT_NO_UEVENTS, 100, NULL, 50, lat));

    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_NO_HSA;
    o.sysfs_root = tree;
    rochp_context *ctx;
    double cpu = -1, seconds = 5;
    if (rochp_context_create(&o, &ctx) == ROCHP_OK) {
        usleep(100 * 1000);
        double c0 = cpu_ms();
        usleep((useconds_t)(seconds * 1e6));
        cpu = cpu_ms() - c0;
        rochp_context_destroy(ctx);
    }
    printf("},\"idle\":{\"poll_interval_ms\":%d,\"seconds\":%.0f,\"cpu_ms\":%.3f,"
           "\"cpu_percent_of_one_core\":%.4f}}\n",
           ROCHP_DEFAULT_POLL_MS, seconds, cpu, cpu / (seconds * 1000) * 100);
    return bench_remove_tree(tree);
}
