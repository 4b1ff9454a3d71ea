/* hip_events: a HIP program that hears of lost GPUs through rochp and goes
 * on with the others (docs/hip.md, "The example: hip_events").
 *
 *   hip_events [--steps N] [--pause-us US] [--items N] [--poll-ms MS]
 *
 * It calls rochp_hip_init before any HIP call, subscribes to every event
 * with rochp_hip_subscribe and prints each one as it comes.  Then, step
 * after step, on every GPU at once, it launches accumulate
 * (hipLaunchKernelGGL, hip_events_kernels.hip) on a stream of that GPU over
 * the GPU's buffer, copies the buffer back (hipMemcpyAsync), synchronises,
 * and checks every element against the same computation on the host.  A
 * GPU learnt lost -- from the event (which the callback only notes: a HIP
 * call there could deadlock with this thread's) or from
 * rochp_hip_device_usable after a synchronisation -- is dropped: no HIP
 * call on that ordinal again, and the others go on.
 *
 * hip_events_plain is the same source built without rochp (HIP_EVENTS_PLAIN):
 * an unmodified HIP program, for transparent mode
 * (HSA_TOOLS_LIB=librochp_tool.so).  It cannot hear of a loss, so it drops
 * a GPU whose results come back wrong or whose calls fail.
 *
 *   --steps N     N steps (default 100); 0: until a line comes on stdin, then 5 more
 *   --pause-us US host work before each step (default 0), so that an unplug
 *                 can land anywhere in the run
 *   --items N     elements per GPU (default 1024)
 *   --poll-ms MS  the topology poll period of rochp's context (default rochp's)
 *
 * Output, one line each, flushed as written (a test reads them):
 *   devices N
 *   device ORD PCI
 *   event TYPE ordinal ORD pci PCI reason REASON   (from the callback; ORD -1: HIP has no such device)
 *   step S                                         (before step S, from 0)
 *   drop ORD step S WHY                            (WHY: lost, wrong or error)
 *   gpu ORD finished steps N checksum 0x...        (64-bit FNV-1a of the final words, in order)
 *   gpu ORD dropped steps N                        (N: steps done exactly before the drop)
 *   finished ORD[,ORD...]   or   finished none
 * Exit: 0 when a GPU finished and every result of a GPU in use was exact;
 * 1 a wrong result or a failed call on a GPU that is not lost; 2 usage;
 * 3 no GPU finished.  Under the kernel's SIGBUS hot-unplug transparent mode
 * ends the process with 75 (docs/transparent-mode.md), after the "event
 * lost" line (rochp_hip_init: the loss reaches the program's callbacks
 * first). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hip/hip_runtime_api.h>
#ifndef HIP_EVENTS_PLAIN
#include <rochp/rochp_hip.h>
#endif

#include "hip_events_kernels.h"

enum { MAX_GPUS = 16, EXTRA_STEPS = 5 };

typedef enum { GPU_ACTIVE, GPU_DROPPED } gpu_state;

typedef struct gpu {
    gpu_state state;
    hipStream_t stream;
    uint64_t *acc;      /* device memory */
    uint64_t *out;      /* pinned host memory: what the copy brought back */
    uint64_t *model;    /* the host's computation */
    unsigned steps_ok;  /* steps checked exact */
} gpu;

static unsigned items = 1024;

#ifndef HIP_EVENTS_PLAIN
/* Set by the event callback, read by the main thread. */
static _Atomic int told_lost[MAX_GPUS];
#endif

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout); /* a test reads the lines as they come */
}

#ifndef HIP_EVENTS_PLAIN
static const char *type_name(uint32_t type)
{
    switch (type) {
    case ROCHP_EVENT_LOST: return "lost";
    case ROCHP_EVENT_ARRIVED: return "arrived";
    case ROCHP_EVENT_RETURNED: return "returned";
    case ROCHP_EVENT_REENUMERATED: return "reenumerated";
    case ROCHP_EVENT_MIGRATED: return "migrated";
    case ROCHP_EVENT_RECOVERED: return "recovered";
    }
    return "unknown";
}

static const char *reason_name(rochp_event_reason reason)
{
    static const char *const names[] = {"none", "topology", "queue_error", "system_event",
                                        "sigbus", "watchdog"};
    return (unsigned)reason < sizeof names / sizeof *names ? names[reason] : "unknown";
}

/* rochp's callback thread: print and note, never a HIP call (the main
 * thread may be inside HIP, holding its locks). */
static void on_event(rochp_context *ctx, const rochp_event *e, int ordinal, void *user)
{
    (void)ctx;
    (void)user;
    say("event %s ordinal %d pci %s reason %s\n", type_name(e->type), ordinal, e->info.pci,
        reason_name(e->reason));
    if (e->type == ROCHP_EVENT_LOST && ordinal >= 0 && ordinal < MAX_GPUS)
        atomic_store(&told_lost[ordinal], 1);
}
#endif

/* Whether ordinal's GPU is known lost. */
static bool known_lost(int ordinal)
{
#ifdef HIP_EVENTS_PLAIN
    (void)ordinal;
    return false; /* nobody tells an unmodified program */
#else
    return atomic_load(&told_lost[ordinal]) || !rochp_hip_device_usable(ordinal);
#endif
}

/* After a wrong result or a failed call: is the GPU lost?  The evidence can
 * come before the loss is told (a reset scrambles VRAM and stops the queues
 * before its error reaches rochp; the silent kernel behaviour is seen only
 * by polling the topology), so rochp gets a few seconds to tell it. */
static bool lost_after_failure(int ordinal)
{
#ifdef HIP_EVENTS_PLAIN
    (void)ordinal;
    return true; /* dropped as lost: wrong results are all it ever learns */
#else
    for (int i = 0; i < 1000; i++) { /* 10 s at most */
        if (known_lost(ordinal))
            return true;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    return false;
#endif
}

/* The step's addend: differs per GPU and per step. */
static uint64_t addend(int ordinal, unsigned step)
{
    return (uint64_t)(step + 1) * 0x9e3779b97f4a7c15ull + (uint64_t)ordinal;
}

static uint64_t checksum(const uint64_t *v, unsigned n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned i = 0; i < n; i++) {
        h ^= v[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void drop(gpu *g, int ordinal, unsigned step, const char *why)
{
    g->state = GPU_DROPPED;
    say("drop %d step %u %s\n", ordinal, step, why);
}

/* A HIP call on an active GPU that failed: the GPU is dropped if it is lost
 * (or, without rochp, whatever the cause); otherwise the program fails. */
static bool hip_ok(hipError_t e, gpu *g, int ordinal, unsigned step, const char *call)
{
    if (e == hipSuccess)
        return true;
    if (lost_after_failure(ordinal)) {
        drop(g, ordinal, step, known_lost(ordinal) ? "lost" : "error");
        return false;
    }
    fprintf(stderr, "hip_events: GPU %d, step %u: %s: %s, and the GPU is not lost\n", ordinal,
            step, call, hipGetErrorName(e));
    exit(1);
}

static void open_gpu(gpu *g, int ordinal)
{
    size_t bytes = items * sizeof(uint64_t);
    hipError_t e;
    if ((e = hipSetDevice(ordinal)) != hipSuccess || (e = hipStreamCreate(&g->stream)) ||
        (e = hipMalloc((void **)&g->acc, bytes)) ||
        (e = hipHostMalloc((void **)&g->out, bytes, hipHostMallocDefault))) {
        fprintf(stderr, "hip_events: GPU %d: %s\n", ordinal, hipGetErrorName(e));
        exit(1);
    }
    g->model = malloc(bytes);
    if (!g->model) {
        fprintf(stderr, "hip_events: out of memory\n");
        exit(1);
    }
    for (unsigned i = 0; i < items; i++)
        g->model[i] = i;
    if ((e = hipMemcpy(g->acc, g->model, bytes, hipMemcpyHostToDevice)) != hipSuccess) {
        fprintf(stderr, "hip_events: GPU %d: initial copy: %s\n", ordinal, hipGetErrorName(e));
        exit(1);
    }
}

/* Launch and copy back, without waiting: every GPU works at once. */
static void start_step(gpu *g, int ordinal, unsigned step)
{
    if (!hip_ok(hipSetDevice(ordinal), g, ordinal, step, "hipSetDevice"))
        return;
    /* What a copy that never ran leaves behind can never pass the check. */
    memset(g->out, 0xff, items * sizeof(uint64_t));
    if (!hip_ok(hip_events_launch(g->acc, addend(ordinal, step), items, g->stream), g, ordinal,
                step, "hipLaunchKernelGGL"))
        return;
    hip_ok(hipMemcpyAsync(g->out, g->acc, items * sizeof(uint64_t), hipMemcpyDeviceToHost,
                          g->stream),
           g, ordinal, step, "hipMemcpyAsync");
}

static void finish_step(gpu *g, int ordinal, unsigned step)
{
    if (!hip_ok(hipStreamSynchronize(g->stream), g, ordinal, step, "hipStreamSynchronize"))
        return;
    uint64_t add = addend(ordinal, step);
    unsigned wrong = 0;
    for (unsigned i = 0; i < items; i++) {
        g->model[i] = g->model[i] * HIP_EVENTS_MUL + add + i;
        wrong += g->out[i] != g->model[i];
    }
    if (!wrong) {
        g->steps_ok++;
        return;
    }
    /* After a loss HIP returns hipSuccess for work that never ran. */
    if (lost_after_failure(ordinal)) {
        drop(g, ordinal, step, known_lost(ordinal) ? "lost" : "wrong");
        return;
    }
    fprintf(stderr, "hip_events: GPU %d, step %u: %u of %u elements wrong, and the GPU is not "
                    "lost\n",
            ordinal, step, wrong, items);
    exit(1);
}

/* Whether a line has come on stdin (--steps 0: the driver's "stop"). */
static bool stop_asked(void)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

static unsigned number(const char *s, const char *what)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v > 100000000ul) {
        fprintf(stderr, "hip_events: %s '%s' is not a number\n", what, s);
        exit(2);
    }
    return (unsigned)v;
}

int main(int argc, char **argv)
{
    unsigned steps = 100, pause_us = 0, poll_ms = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--steps") == 0)
            steps = number(argv[++i], "--steps");
        else if (i + 1 < argc && strcmp(argv[i], "--pause-us") == 0)
            pause_us = number(argv[++i], "--pause-us");
        else if (i + 1 < argc && strcmp(argv[i], "--items") == 0)
            items = number(argv[++i], "--items");
        else if (i + 1 < argc && strcmp(argv[i], "--poll-ms") == 0)
            poll_ms = number(argv[++i], "--poll-ms");
        else {
            fprintf(stderr, "usage: hip_events [--steps N] [--pause-us US] [--items N] "
                            "[--poll-ms MS]\n");
            return 2;
        }
    }
    if (!items)
        items = 1;
#ifdef HIP_EVENTS_PLAIN
    (void)poll_ms; /* no rochp context to poll */
#endif

#ifndef HIP_EVENTS_PLAIN
    /* Before the first HIP call: transparent mode for HIP's queues. */
    rochp_options o;
    rochp_options_init(&o);
    if (poll_ms)
        o.poll_interval_ms = poll_ms;
    rochp_context *ctx = NULL;
    rochp_subscription sub;
    if (rochp_hip_init(&o, &ctx) != ROCHP_OK ||
        rochp_hip_subscribe(ctx, ROCHP_EVENT_ALL, on_event, NULL, &sub) != ROCHP_OK) {
        fprintf(stderr, "hip_events: %s\n", rochp_last_error());
        return 1;
    }
#endif

    int n = 0;
    hipError_t e = hipGetDeviceCount(&n);
    if (e != hipSuccess || n < 1) {
        fprintf(stderr, "hip_events: no HIP device (%s)\n", hipGetErrorName(e));
        return 1;
    }
    if (n > MAX_GPUS)
        n = MAX_GPUS;
    say("devices %d\n", n);
    static gpu gpus[MAX_GPUS];
    for (int d = 0; d < n; d++) {
        char pci[32] = "?";
#ifdef HIP_EVENTS_PLAIN
        /* HIP 5.2 prints function 0 always: enough for whole GPUs. */
        hipDeviceGetPCIBusId(pci, sizeof pci, d);
#else
        rochp_device_id dev;
        rochp_device_info info;
        if (rochp_hip_device(ctx, d, &dev) == ROCHP_OK &&
            rochp_device_get(ctx, dev, &info) == ROCHP_OK)
            snprintf(pci, sizeof pci, "%s", info.pci);
#endif
        say("device %d %s\n", d, pci);
        open_gpu(&gpus[d], d);
    }

    unsigned s = 0;
    for (unsigned last = steps ? steps : UINT32_MAX; s < last; s++) {
        if (!steps && last == UINT32_MAX && stop_asked())
            last = s + EXTRA_STEPS;
        if (pause_us)
            usleep(pause_us);
        say("step %u\n", s);
        bool any = false;
        for (int d = 0; d < n; d++) {
            if (gpus[d].state == GPU_ACTIVE && known_lost(d))
                drop(&gpus[d], d, s, "lost"); /* told before the step: no call on it */
            if (gpus[d].state == GPU_ACTIVE)
                start_step(&gpus[d], d, s);
            any |= gpus[d].state == GPU_ACTIVE;
        }
        for (int d = 0; d < n; d++)
            if (gpus[d].state == GPU_ACTIVE)
                finish_step(&gpus[d], d, s);
        if (!any)
            break;
    }

    char finished[MAX_GPUS * 4 + 8] = "";
    for (int d = 0; d < n; d++) {
        gpu *g = &gpus[d];
        if (g->state == GPU_ACTIVE) {
            say("gpu %d finished steps %u checksum 0x%016" PRIx64 "\n", d, g->steps_ok,
                checksum(g->model, items));
            snprintf(finished + strlen(finished), sizeof finished - strlen(finished), "%s%d",
                     finished[0] ? "," : "", d);
        } else {
            say("gpu %d dropped steps %u\n", d, g->steps_ok);
        }
        /* Released on a lost GPU too, as any program releases what it
         * made: under transparent mode these calls return there (HIP's
         * hipStreamDestroy waits for a marker only the tool can complete
         * once the GPU is gone: lib/tool/handlers.c). */
        hipSetDevice(d);
        hipStreamDestroy(g->stream);
        hipFree(g->acc);
        hipHostFree(g->out);
        free(g->model);
    }
    say("finished %s\n", finished[0] ? finished : "none");
#ifndef HIP_EVENTS_PLAIN
    rochp_context_destroy(ctx);
#endif
    return finished[0] ? 0 : 3;
}
