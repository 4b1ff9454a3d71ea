/* rochp-monitor: prints GPU hot-plug events as they happen.  It watches the
 * KFD topology (and kernel uevents) only and never opens KFD or HSA: on
 * current kernels a process holding KFD gets SIGBUS on an unplug and holds
 * the unplug up until it exits, so a watcher must not be such a process. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/event_json.h"
#include "rochp/rochp.h"

static void usage(FILE *out)
{
    fputs("usage: rochp-monitor [--sysfs-root DIR] [--json] [--count N] [--timeout SEC]\n"
          "                     [--poll-ms MS]\n"
          "\n"
          "Prints one line per GPU event (lost, arrived, returned) as it happens,\n"
          "from the KFD topology under DIR (default $ROCHP_SYSFS_ROOT, else\n"
          "/sys/devices/virtual/kfd/kfd).  Never opens /dev/kfd or the HSA runtime,\n"
          "so it is safe to leave running while GPUs are unplugged.\n"
          "\n"
          "  --json         one JSON object per line:\n"
          "                 {\"event\",\"pci\",\"unique_id\",\"node\",\"generation\",\"reason\",\"t_ns\"}\n"
          "  --count N      exit 0 after N events (exit 1 if --timeout comes first)\n"
          "  --timeout SEC  stop after SEC seconds (exit 0 without --count)\n"
          "  --poll-ms MS   topology poll period (default 1000)\n"
          "\n"
          "Exit status: 0 ok, 1 failure or timeout before --count events, 2 usage error.\n",
          out);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned long printed;
static int json;

static void on_event(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)user;
    if (json) {
        rochp__event_json_open(stdout, e);
        fputs("}\n", stdout);
    } else {
        printf("%-8s %s  node %-3" PRIu32 " unique_id %-20" PRIu64 " generation %-5" PRIu64
               " device %" PRIu64 " (%s)\n",
               rochp__event_type_name(e->type), e->info.pci, e->info.kfd_node, e->info.unique_id,
               e->generation, e->device, rochp__event_reason_name(e->reason));
    }
    fflush(stdout);
    pthread_mutex_lock(&lock);
    printed++;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static int parse_ulong(const char *s, unsigned long max, unsigned long *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v > max)
        return -1;
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"sysfs-root", required_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
        {"count", required_argument, NULL, 'c'},      {"timeout", required_argument, NULL, 't'},
        {"poll-ms", required_argument, NULL, 'p'},    {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_NO_HSA; /* never KFD, never HSA */
    unsigned long count = 0, timeout = 0, poll_ms = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'r': o.sysfs_root = optarg; break;
        case 'j': json = 1; break;
        case 'c':
            if (parse_ulong(optarg, 1000000000ul, &count) != 0 || count == 0) {
                fprintf(stderr, "rochp-monitor: --count wants a positive number, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 't':
            if (parse_ulong(optarg, 31536000ul, &timeout) != 0 || timeout == 0) {
                fprintf(stderr, "rochp-monitor: --timeout wants seconds (1 or more), not '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'p':
            if (parse_ulong(optarg, 3600000ul, &poll_ms) != 0 || poll_ms == 0) {
                fprintf(stderr, "rochp-monitor: --poll-ms wants milliseconds, not '%s'\n", optarg);
                return 2;
            }
            o.poll_interval_ms = (uint32_t)poll_ms;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "rochp-monitor: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    rochp_context *ctx;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK) {
        fprintf(stderr, "rochp-monitor: %s\n", rochp_last_error());
        return 1;
    }
    rochp_subscription sub;
    if (rochp_subscribe(ctx, ROCHP_EVENT_ALL, on_event, NULL, &sub) != ROCHP_OK) {
        fprintf(stderr, "rochp-monitor: %s\n", rochp_last_error());
        rochp_context_destroy(ctx);
        return 1;
    }
    if (!json) {
        size_t n = 0;
        rochp_device_list(ctx, NULL, 0, &n);
        printf("watching %zu GPU device(s)%s\n", n, timeout ? "" : "; Ctrl-C to stop");
        fflush(stdout);
    }
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += (time_t)timeout;
    int status = 0;
    pthread_mutex_lock(&lock);
    while (!count || printed < count) {
        int rc = timeout ? pthread_cond_timedwait(&cond, &lock, &deadline)
                         : pthread_cond_wait(&cond, &lock);
        if (rc == ETIMEDOUT) {
            if (count) {
                fprintf(stderr, "rochp-monitor: %lu of %lu event(s) before the %lu s timeout\n",
                        printed, count, timeout);
                status = 1;
            }
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    rochp_context_destroy(ctx);
    return status;
}
