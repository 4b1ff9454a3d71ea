/* The watcher thread: sleeps in poll() on its wake descriptor (and, once
 * uevents are wired in, the uevent socket) with the poll period as timeout.
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

enum { FULL_RESCAN_EVERY = 8 };

rochp_status watcher_rescan(rochp_context *ctx, rochp_event_reason reason)
{
    pthread_mutex_lock(&ctx->rescan_lock);
    topo_snapshot *snap = NULL;
    rochp_error err = {0};
    rochp_status st = topo_snapshot_read_parts(ctx->root, TOPO_READ_DEVICES, &snap, &err);
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->lock);
        st = registry_apply(ctx, snap, reason, false);
        pthread_mutex_unlock(&ctx->lock);
        topo_snapshot_free(snap);
    } else {
        rochp_set_error(st, &err);
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

static void *watcher_main(void *arg)
{
    rochp_context *ctx = arg;
    uint64_t last_generation = ctx->generation;
    unsigned polls = 0;
    while (!closing(ctx)) {
        struct pollfd fds[1] = {{ctx->wake_fd, POLLIN, 0}};
        int n = poll(fds, 1, (int)ctx->poll_ms);
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
        } else if (n == 0) {
            uint64_t gen;
            rescan = ++polls % FULL_RESCAN_EVERY == 0 ||
                     (topo_read_generation(ctx->root, &gen, NULL) == ROCHP_OK &&
                      gen != last_generation);
        }
        if (rescan && watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY) == ROCHP_OK) {
            pthread_mutex_lock(&ctx->lock);
            last_generation = ctx->generation;
            pthread_mutex_unlock(&ctx->lock);
        }
    }
    return NULL;
}

rochp_status watcher_start(rochp_context *ctx)
{
    if (pthread_create(&ctx->watcher_thread, NULL, watcher_main, ctx) != 0)
        return rochp_set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "cannot start the watcher thread");
    ctx->watcher_started = true;
    return ROCHP_OK;
}
