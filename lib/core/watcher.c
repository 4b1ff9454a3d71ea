/* The watcher thread: sleeps in poll() on its wake descriptor and the kernel
 * uevent socket, with the poll period as timeout.  A uevent for a GPU's PCI
 * device or DRM node (from the kernel only) is a hint to rescan at once.
 * On each timeout it re-reads generation_id (a few microseconds) and rescans
 * only when it moved; every few periods it rescans regardless, because the
 * kernel bumps generation_id before rebuilding nodes/ on removal, so a read
 * that raced the rebuild can carry the new generation with the old nodes. */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "context.h"
#include "watch/uevent.h"

enum { FULL_RESCAN_EVERY = 8 };

rochp_status watcher_rescan(rochp_context *ctx, rochp_event_reason reason)
{
    pthread_mutex_lock(&ctx->rescan_lock);
    topo_snapshot *snap = NULL;
    rochp__error err = {0};
    rochp_status st = topo_snapshot_read_parts(ctx->root, TOPO_READ_DEVICES, &snap, &err);
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->lock);
        st = registry_apply(ctx, snap, reason, false);
        pthread_mutex_unlock(&ctx->lock);
        topo_snapshot_free(snap);
    } else {
        rochp__set_error(st, &err);
    }
    pthread_mutex_unlock(&ctx->rescan_lock);
    return st;
}

static bool closing(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    bool c = ctx->closing;
    pthread_mutex_unlock(&ctx->lock);
    return c;
}

/* A SIGBUS (SI_USER) since the last look: a GPU is being unplugged and the
 * kernel may not change the topology until we let go.  Looked at before
 * held losses are released as well as after a wake: a watcher that runs
 * late (a loaded machine) must not let a loss's hold run out while the
 * SIGBUS that claims it is already counted. */
static void check_sigbus(rochp_context *ctx)
{
    uint64_t sigbus = sigbus_count();
    if (sigbus == ctx->sigbus_seen)
        return;
    ctx->sigbus_seen = sigbus;
    pthread_mutex_lock(&ctx->lock);
    ctx->last_sigbus_ns = rochp__now_ns();
    pthread_mutex_unlock(&ctx->lock);
    hsa_devices_probe(ctx, ROCHP_REASON_SIGBUS);
}

static void note_relevant(const uevent_msg *msg, void *arg)
{
    if (uevent_is_gpu_relevant(msg))
        *(bool *)arg = true;
}

static void *watcher_main(void *arg)
{
    rochp_context *ctx = arg;
    /* An API rescan may already be running on another thread. */
    pthread_mutex_lock(&ctx->lock);
    uint64_t last_generation = ctx->generation;
    pthread_mutex_unlock(&ctx->lock);
    unsigned polls = 0;
    while (!closing(ctx)) {
        struct pollfd fds[2] = {{ctx->wake_fd, POLLIN, 0},
                                {ctx->uevents ? uevent_fd(ctx->uevents) : -1, POLLIN, 0}};
        /* A held loss (registry.c) is due before the period may be. */
        check_sigbus(ctx);
        pthread_mutex_lock(&ctx->lock);
        uint64_t now = rochp__now_ns(), due = registry_release_held(ctx, now);
        pthread_mutex_unlock(&ctx->lock);
        int timeout = (int)ctx->poll_ms;
        if (due != UINT64_MAX && (due - now) / 1000000 + 1 < (uint64_t)timeout)
            timeout = (int)((due - now) / 1000000 + 1);
        int n = poll(fds, ctx->uevents ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR)
            break;
        if (closing(ctx))
            break;
        bool rescan = false;
        if (n > 0 && (fds[0].revents & POLLIN)) {
            uint64_t count;
            if (read(ctx->wake_fd, &count, sizeof count) < 0) {
                /* EAGAIN: another reader drained it; nothing lost */
            }
            rescan = true;
        }
        if (n > 0 && ctx->uevents && (fds[1].revents & POLLIN)) {
            bool relevant = false;
            uevent_drain(ctx->uevents, note_relevant, &relevant, NULL);
            /* An overrun may have dropped the one that mattered. */
            rescan |= relevant || uevent_get_stats(ctx->uevents).lost_events;
        } else if (n == 0) {
            uint64_t gen;
            rescan = ++polls % FULL_RESCAN_EVERY == 0 ||
                     (topo_read_generation(ctx->root, &gen, NULL) == ROCHP_OK &&
                      gen != last_generation);
        }
        check_sigbus(ctx);
        pthread_mutex_lock(&ctx->lock);
        registry_release_held(ctx, rochp__now_ns());
        pthread_mutex_unlock(&ctx->lock);
        if (rescan) {
            pthread_mutex_lock(&ctx->lock);
            uint64_t before = ctx->arrivals;
            pthread_mutex_unlock(&ctx->lock);
            if (watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY) == ROCHP_OK) {
                pthread_mutex_lock(&ctx->lock);
                last_generation = ctx->generation;
                bool arrived = ctx->arrivals != before;
                pthread_mutex_unlock(&ctx->lock);
                if (arrived && (ctx->flags & ROCHP_CONTEXT_AUTO_REENUMERATE))
                    ctx->reenumerate_pending = true;
            }
        }
        /* The policy runs here, never on the callback thread, and only when
         * no call is using the runtime; else on a later pass. */
        if (ctx->reenumerate_pending) {
            bool gate_busy;
            hsa_devices_reenumerate(ctx, false, &gate_busy);
            ctx->reenumerate_pending = gate_busy;
        }
    }
    return NULL;
}

rochp_status watcher_start(rochp_context *ctx)
{
    if (!(ctx->flags & ROCHP_CONTEXT_NO_UEVENTS)) {
        /* No netlink here (a container, a seccomp policy): polling alone. */
        if (uevent_open(&ctx->uevents, NULL) != ROCHP_OK)
            ctx->uevents = NULL;
    }
    if (pthread_create(&ctx->watcher_thread, NULL, watcher_main, ctx) != 0)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "cannot start the watcher thread");
    ctx->watcher_started = true;
    return ROCHP_OK;
}
