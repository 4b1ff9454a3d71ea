/* HIP ordinals and rochp devices.  The tool numbered the GPU agents as HIP
 * does when the runtime loaded it (lib/tool/start.c, number_for_hip), and
 * knows which are lost; a device of the program's context is the agent
 * with the same PCI address (the context's and the tool's device ids are
 * their own). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hip_internal.h"
#include "rochp/rochp_hip.h"
#include "tool.h"

rochp_status hip_fail(rochp_status status, const char *fmt, ...)
{
    char message[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap);
    va_end(ap);
    return rochp__set_last_error(status, message);
}

bool hip_tool_loaded(void)
{
    return tool.ctx != NULL && tool.hip_loaded;
}

const char *hip_tool_runtime_path(void)
{
    return tool.runtime_path[0] ? tool.runtime_path : NULL;
}

static const tool_agent *agent_of_ordinal(int ordinal)
{
    if (ordinal < 0)
        return NULL;
    for (size_t i = 0; i < tool.n_agents; i++)
        if (tool.agents[i].hip_ordinal == ordinal)
            return &tool.agents[i];
    return NULL;
}

int rochp_hip_device_usable(int ordinal)
{
    const tool_agent *a = agent_of_ordinal(ordinal);
    return a && !atomic_load(&a->lost);
}

void hip_tell_tool(rochp_context *ctx, const rochp_event *event, void *user)
{
    (void)ctx;
    (void)user;
    if (event->type != ROCHP_EVENT_LOST)
        return;
    for (size_t i = 0; i < tool.n_agents; i++)
        if (strcmp(tool.agents[i].pci, event->info.pci) == 0)
            tool_agent_mark_lost(&tool.agents[i]);
}

static int ordinal_of_pci(const char *pci)
{
    for (size_t i = 0; i < tool.n_agents; i++)
        if (strcmp(tool.agents[i].pci, pci) == 0)
            return tool.agents[i].hip_ordinal;
    return -1;
}

rochp_status rochp_hip_device(rochp_context *ctx, int ordinal, rochp_device_id *out)
{
    if (!out)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_hip_device: out is NULL");
    const tool_agent *a = agent_of_ordinal(ordinal);
    if (!a)
        return hip_fail(ROCHP_ERROR_NOT_FOUND, "rochp_hip_device: HIP has no device %d%s",
                        ordinal, hip_tool_loaded() ? "" : " (rochp_hip_init has not run)");
    rochp_device_info infos[128];
    size_t n = 0;
    rochp_status st = rochp_device_list(ctx, infos, 128, &n);
    if (st != ROCHP_OK)
        return st; /* its message is set */
    for (size_t i = 0; i < n && i < 128; i++)
        if (strcmp(infos[i].pci, a->pci) == 0) {
            *out = infos[i].id;
            return ROCHP_OK;
        }
    return hip_fail(ROCHP_ERROR_NOT_FOUND,
                    "rochp_hip_device: HIP device %d (%s) is not a device of this context", ordinal,
                    a->pci);
}

rochp_status rochp_hip_ordinal(rochp_context *ctx, rochp_device_id device, int *out)
{
    if (!out)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_hip_ordinal: out is NULL");
    rochp_device_info info;
    rochp_status st = rochp_device_get(ctx, device, &info);
    if (st != ROCHP_OK)
        return st;
    int ordinal = ordinal_of_pci(info.pci);
    if (ordinal < 0)
        return hip_fail(ROCHP_ERROR_NOT_FOUND,
                        "rochp_hip_ordinal: HIP does not number device %llu (%s): hidden by "
                        "HIP_VISIBLE_DEVICES, or it came after HIP enumerated",
                        (unsigned long long)device, info.pci);
    *out = ordinal;
    return ROCHP_OK;
}

/* Subscriptions: rochp's, with a record that carries the program's callback
 * (kept for the process's life: a subscription may end while its callback
 * runs, and records are a few bytes).  A record also keeps which GPU
 * agents' losses its callback has returned from, for hip_wait_told. */
typedef struct hip_subscriber {
    struct hip_subscriber *next;
    rochp_hip_event_fn fn;
    void *user;
    uint32_t mask;
    uint64_t told; /* bit i: tool.agents[i]'s loss delivered; under subscribers_lock */
} hip_subscriber;

static pthread_mutex_t subscribers_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t subscribers_told;
static pthread_once_t told_once = PTHREAD_ONCE_INIT;
static hip_subscriber *subscribers;

static void told_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&subscribers_told, &attr);
    pthread_condattr_destroy(&attr);
}

static int agent_index_of_pci(const char *pci)
{
    for (size_t i = 0; i < tool.n_agents && i < 64; i++)
        if (strcmp(tool.agents[i].pci, pci) == 0)
            return (int)i;
    return -1;
}

static void deliver(rochp_context *ctx, const rochp_event *event, void *user)
{
    hip_subscriber *s = user;
    s->fn(ctx, event, ordinal_of_pci(event->info.pci), s->user);
    int agent = event->type == ROCHP_EVENT_LOST ? agent_index_of_pci(event->info.pci) : -1;
    if (agent >= 0) {
        pthread_mutex_lock(&subscribers_lock);
        s->told |= 1ull << agent;
        pthread_cond_broadcast(&subscribers_told);
        pthread_mutex_unlock(&subscribers_lock);
    }
}

/* Whether every loss transparent mode knows has reached every callback
 * subscribed to losses. */
static bool all_told_locked(void)
{
    uint64_t lost = 0;
    for (size_t i = 0; i < tool.n_agents && i < 64; i++)
        if (atomic_load(&tool.agents[i].lost))
            lost |= 1ull << i;
    for (const hip_subscriber *s = subscribers; s; s = s->next)
        if ((s->mask & ROCHP_EVENT_LOST) && (s->told & lost) != lost)
            return false;
    return true;
}

/* Before transparent mode ends the process for a loss (the kernel's SIGBUS
 * hot-unplug, or ROCHP_TOOL_ON_LOSS=exit): the program's contexts find the
 * loss themselves (the SIGBUS wakes them all, rochp_hip_init gives them the
 * SIGBUS handler), a little after the tool's may, so the exit waits for
 * their callbacks -- at most HIP_EXIT_GRACE_MS, as the kernel is waiting
 * for the process to let go (a subscription ended since, or a context
 * destroyed, costs that much). */
void hip_wait_told(void)
{
    enum { HIP_EXIT_GRACE_MS = 1000 };
    pthread_once(&told_once, told_init);
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += HIP_EXIT_GRACE_MS / 1000;
    deadline.tv_nsec += (HIP_EXIT_GRACE_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&subscribers_lock);
    while (!all_told_locked() &&
           pthread_cond_timedwait(&subscribers_told, &subscribers_lock, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&subscribers_lock);
}

rochp_status rochp_hip_subscribe(rochp_context *ctx, uint32_t mask, rochp_hip_event_fn fn,
                                 void *user, rochp_subscription *out)
{
    if (!fn)
        return hip_fail(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_hip_subscribe: fn is NULL");
    hip_subscriber *s = calloc(1, sizeof *s);
    if (!s)
        return hip_fail(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_hip_subscribe: out of memory");
    s->fn = fn;
    s->user = user;
    s->mask = mask;
    pthread_once(&told_once, told_init);
    rochp_status st = rochp_subscribe(ctx, mask, deliver, s, out);
    if (st != ROCHP_OK) {
        free(s);
        return st;
    }
    pthread_mutex_lock(&subscribers_lock);
    s->next = subscribers;
    subscribers = s;
    pthread_mutex_unlock(&subscribers_lock);
    return ROCHP_OK;
}

__attribute__((destructor)) static void free_subscribers(void)
{
    pthread_mutex_lock(&subscribers_lock);
    while (subscribers) {
        hip_subscriber *s = subscribers;
        subscribers = s->next;
        free(s);
    }
    pthread_mutex_unlock(&subscribers_lock);
}
