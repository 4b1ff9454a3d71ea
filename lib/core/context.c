/* rochp contexts: creation (topology, HSA runtime, threads), destruction,
 * and the device queries. */
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "context.h"
#include "watch/uevent.h"

_Thread_local unsigned runtime_gate_depth;

void rochp_options_init(rochp_options *options)
{
    if (!options)
        return;
    memset(options, 0, sizeof *options);
    options->struct_size = sizeof *options;
    options->poll_interval_ms = ROCHP_DEFAULT_POLL_MS;
}

static void teardown(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->lock);
    ctx->closing = true;
    pthread_cond_broadcast(&ctx->cond);
    pthread_mutex_unlock(&ctx->lock);
    if (ctx->wake_fd >= 0) {
        uint64_t one = 1;
        if (write(ctx->wake_fd, &one, sizeof one) < 0) {
            /* an eventfd at its maximum is awake already */
        }
    }
    hsa_devices_unregister(ctx); /* no system event reaches it from here on */
    sigbus_detach(ctx);          /* nor a SIGBUS wake-up */
    if (ctx->watcher_started)
        pthread_join(ctx->watcher_thread, NULL);
    if (ctx->callback_started)
        pthread_join(ctx->callback_thread, NULL);
    /* The layers' objects while the runtime that holds them is up, the
     * highest layer's first (queues before the modules their packets run). */
    for (size_t i = ctx->n_layers; i-- > 0;)
        if (ctx->layers[i]->teardown)
            ctx->layers[i]->teardown(ctx);
    if (ctx->hsa_up && !ctx->hsa_attached)
        ctx->hsa.shut_down();
    for (size_t i = ctx->n_layers; i-- > 0;)
        if (ctx->layers[i]->detach)
            ctx->layers[i]->detach(ctx);
    rochp__hsa_unload(&ctx->hsa);
    if (ctx->wake_fd >= 0)
        close(ctx->wake_fd);
    uevent_close(ctx->uevents);
    delivery_free(ctx);
    registry_free(ctx);
    pthread_mutex_destroy(&ctx->rescan_lock);
    pthread_rwlock_destroy(&ctx->runtime_gate);
    pthread_cond_destroy(&ctx->cond);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

rochp_status core_context_create(const rochp_options *options, const core_layer *const *layers,
                                 size_t n_layers, rochp_context **out)
{
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_context_create: out is NULL");
    *out = NULL;
    rochp_options opts;
    rochp_options_init(&opts);
    if (options) {
        if (options->struct_size < offsetof(rochp_options, poll_interval_ms) + sizeof(uint32_t) ||
            options->struct_size > sizeof opts)
            return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                    "rochp_context_create: options->struct_size %u is not a "
                                    "size this library knows (use rochp_options_init)",
                                    options->struct_size);
        memcpy(&opts, options, options->struct_size);
    }
    if (opts.flags & ~(uint32_t)(ROCHP_CONTEXT_NO_HSA | ROCHP_CONTEXT_NO_UEVENTS |
                                 ROCHP_CONTEXT_AUTO_REENUMERATE | ROCHP_CONTEXT_SIGBUS_HANDLER |
                                 ROCHP_CONTEXT_AUTO_RECOVER | ROCHP_CONTEXT_ATTACH_HSA))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_context_create: unknown flags 0x%x", opts.flags);
    if ((opts.flags & ROCHP_CONTEXT_NO_HSA) && (opts.flags & ROCHP_CONTEXT_ATTACH_HSA))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_context_create: ROCHP_CONTEXT_NO_HSA and "
                                "ROCHP_CONTEXT_ATTACH_HSA exclude each other");

    rochp_context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_context_create: out of memory");
    pthread_mutex_init(&ctx->lock, NULL);
    pthread_cond_init(&ctx->cond, NULL);
    pthread_mutex_init(&ctx->rescan_lock, NULL);
    /* Writers first: a stream of calls must not starve a re-enumeration
     * (read locks are therefore never nested). */
    pthread_rwlockattr_t gate_attr;
    pthread_rwlockattr_init(&gate_attr);
    pthread_rwlockattr_setkind_np(&gate_attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&ctx->runtime_gate, &gate_attr);
    pthread_rwlockattr_destroy(&gate_attr);
    ctx->wake_fd = -1;
    ctx->sigbus_slot = -1;
    ctx->flags = opts.flags;
    ctx->poll_ms = opts.poll_interval_ms ? opts.poll_interval_ms : ROCHP_DEFAULT_POLL_MS;
    const char *root = opts.sysfs_root ? opts.sysfs_root : topo_sysfs_root();
    if (strlen(root) >= sizeof ctx->root) {
        teardown(ctx);
        return rochp__set_errorf(ROCHP_ERROR_TOO_LARGE, "sysfs root path too long");
    }
    memcpy(ctx->root, root, strlen(root) + 1);
    /* Attached one by one, so that a failure's teardown detaches exactly
     * the ones attached. */
    ctx->layers = layers;
    for (size_t i = 0; i < n_layers; i++) {
        rochp_status ast = layers[i]->attach ? layers[i]->attach(ctx) : ROCHP_OK;
        if (ast != ROCHP_OK) {
            teardown(ctx);
            return ast;
        }
        ctx->n_layers = i + 1;
    }

    rochp__error err = {0};
    topo_snapshot *snap = NULL;
    rochp_status st = topo_snapshot_read_parts(ctx->root, TOPO_READ_DEVICES, &snap, &err);
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->lock);
        st = registry_apply(ctx, snap, ROCHP_REASON_TOPOLOGY, true);
        pthread_mutex_unlock(&ctx->lock);
        topo_snapshot_free(snap);
    }
    if (st == ROCHP_OK && !(ctx->flags & ROCHP_CONTEXT_NO_HSA)) {
        st = rochp__hsa_load(opts.hsa_runtime, &ctx->hsa, &err);
        if (st == ROCHP_OK && (ctx->flags & ROCHP_CONTEXT_ATTACH_HSA)) {
            if ((st = rochp__hsa_check_up(&ctx->hsa, &err)) == ROCHP_OK)
                ctx->hsa_up = ctx->hsa_attached = true;
        } else if (st == ROCHP_OK && (st = rochp__hsa_init(&ctx->hsa, &err)) == ROCHP_OK) {
            ctx->hsa_up = true;
        }
    }
    if (st != ROCHP_OK) {
        rochp__set_error(st, &err);
        teardown(ctx);
        return st;
    }
    if ((st = handle_add(ctx, HANDLE_CONTEXT)) != ROCHP_OK ||
        (ctx->hsa_up && ((st = hsa_devices_match(ctx)) != ROCHP_OK ||
                         (st = hsa_devices_register(ctx)) != ROCHP_OK))) {
        handle_remove(ctx);
        teardown(ctx); /* the message is set */
        return st;
    }
    ctx->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ctx->wake_fd < 0)
        st = rochp__set_errorf(ROCHP_ERROR_IO, "rochp_context_create: eventfd failed");
    if (st == ROCHP_OK && (ctx->flags & ROCHP_CONTEXT_SIGBUS_HANDLER))
        st = sigbus_attach(ctx);
    if (st == ROCHP_OK)
        st = delivery_start(ctx);
    if (st == ROCHP_OK)
        st = watcher_start(ctx);
    if (st != ROCHP_OK) {
        handle_remove(ctx);
        teardown(ctx);
        return st;
    }
    *out = ctx;
    return ROCHP_OK;
}

rochp_status rochp_context_destroy(rochp_context *ctx)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_context_destroy");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (delivery_on_callback_thread(ctx))
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "rochp_context_destroy from one of the context's own callbacks "
                                "would wait for itself; destroy it from another thread");
    handle_remove(ctx);
    teardown(ctx);
    return ROCHP_OK;
}

rochp_status rochp_rescan(rochp_context *ctx)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_rescan");
    if (hst_ != ROCHP_OK)
        return hst_;
    return watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
}

rochp_status rochp_reenumerate(rochp_context *ctx)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_reenumerate");
    if (hst_ != ROCHP_OK)
        return hst_;
    return hsa_devices_reenumerate(ctx, true, NULL);
}

rochp_status rochp_device_report_fault(rochp_context *ctx, rochp_device_id device,
                                       rochp_event_reason reason)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_device_report_fault");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (reason != ROCHP_REASON_QUEUE_ERROR && reason != ROCHP_REASON_WATCHDOG)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_device_report_fault: reason %d is not one an application "
                                "reports (queue error or watchdog)",
                                (int)reason);
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    if (d)
        registry_mark_lost(ctx, d, reason);
    pthread_mutex_unlock(&ctx->lock);
    return d ? ROCHP_OK
             : rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "no device %llu in this context",
                                (unsigned long long)device);
}

rochp_status rochp_device_list(rochp_context *ctx, rochp_device_info *out, size_t capacity,
                               size_t *count)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_device_list");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (!count || (capacity && !out))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_device_list: count must be set, and out when capacity > 0");
    pthread_mutex_lock(&ctx->lock);
    *count = ctx->n_devices;
    for (size_t i = 0; i < ctx->n_devices && i < capacity; i++)
        out[i] = ctx->devices[i].info;
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

rochp_status rochp_device_get(rochp_context *ctx, rochp_device_id id, rochp_device_info *out)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_device_get");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_device_get: out is NULL");
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, id);
    if (d)
        *out = d->info;
    pthread_mutex_unlock(&ctx->lock);
    return d ? ROCHP_OK
             : rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "no device %llu in this context",
                                (unsigned long long)id);
}
