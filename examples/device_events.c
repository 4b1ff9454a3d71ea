/* device_events: an application that learns about GPUs leaving and arriving.
 *
 *   device_events [--count N] [--timeout SEC]
 *
 * It creates a rochp context (the HSA runtime of $ROCHP_HSA_RUNTIME over the
 * KFD topology of $ROCHP_SYSFS_ROOT), lists the devices, registers a
 * loss and an arrival callback and prints every event until N have come or
 * SEC seconds have passed.  Uses the public API only. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rochp/rochp.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned seen;

static const char *reason(rochp_event_reason r)
{
    static const char *const names[] = {"?", "topology", "queue error", "system event",
                                        "SIGBUS", "watchdog"};
    return r >= 1 && r <= 5 ? names[r] : "?";
}

static void print_device(const char *what, const rochp_device_info *d)
{
    printf("%-9s device %-3" PRIu64 " %s  %-7s partition %u/%u  %6.1f GiB  KFD node %-3d agent 0x%" PRIx64
           "\n",
           what, d->id, d->pci, d->gfx_target[0] ? d->gfx_target : "?", d->partition + 1,
           d->partition_count, (double)d->vram_bytes / (1ull << 30),
           d->kfd_node == UINT32_MAX ? -1 : (int)d->kfd_node, d->hsa_agent);
}

/* Runs on rochp's callback thread: never in a signal handler, no rochp lock
 * held, so it may query the context. */
static void on_lost(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)user;
    size_t n = 0;
    rochp_device_list(ctx, NULL, 0, &n);
    printf("[%" PRIu64 "] LOST     device %" PRIu64 "   %s  (%s), generation %" PRIu64 "\n",
           e->sequence, e->device, e->info.pci, reason(e->reason), e->generation);
    fflush(stdout);
    pthread_mutex_lock(&lock);
    seen++;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

static void on_arrived(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)user;
    printf("[%" PRIu64 "] ", e->sequence);
    /* A new GPU has no agent until the runtime is initialised again. */
    print_device(e->type == ROCHP_EVENT_RETURNED ? "RETURNED" : "ARRIVED", &e->info);
    fflush(stdout);
    pthread_mutex_lock(&lock);
    seen++;
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
}

int main(int argc, char **argv)
{
    unsigned count = 0, timeout = 60;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            count = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
            timeout = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: device_events [--count N] [--timeout SEC]\n");
            return 2;
        }
    }
    rochp_options options;
    rochp_options_init(&options);
    options.poll_interval_ms = 100;
    rochp_context *ctx;
    if (rochp_context_create(&options, &ctx) != ROCHP_OK) {
        fprintf(stderr, "device_events: %s\n", rochp_last_error());
        return 1;
    }
    rochp_device_info devices[64];
    size_t n = 0;
    rochp_device_list(ctx, devices, 64, &n);
    printf("rochp %s: %zu GPU device(s)\n", rochp_version_string(), n);
    for (size_t i = 0; i < n && i < 64; i++)
        print_device("  present", &devices[i]);
    fflush(stdout);

    rochp_subscription lost, arrived;
    if (rochp_on_device_lost(ctx, on_lost, NULL, &lost) != ROCHP_OK ||
        rochp_on_device_arrived(ctx, on_arrived, NULL, &arrived) != ROCHP_OK) {
        fprintf(stderr, "device_events: %s\n", rochp_last_error());
        rochp_context_destroy(ctx);
        return 1;
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout;
    int status = 0;
    pthread_mutex_lock(&lock);
    while (!count || seen < count)
        if (pthread_cond_timedwait(&cond, &lock, &deadline) == ETIMEDOUT) {
            status = count ? 1 : 0;
            break;
        }
    pthread_mutex_unlock(&lock);
    rochp_context_destroy(ctx);
    printf("%u event(s)\n", seen);
    return status;
}
