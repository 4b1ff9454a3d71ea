/* Events leave the registry through one ordered queue and reach subscribers
 * on one thread, the callback thread, with no lock held (libuv's rule:
 * callbacks at a safe point, never re-entrant surprises). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"

rochp_status delivery_queue(rochp_context *ctx, rochp_event *event)
{
    ROCHP_ASSERT_HELD(&ctx->lock);
    event_node *n = malloc(sizeof *n);
    if (!n)
        return ROCHP_ERROR_OUT_OF_MEMORY;
    event->sequence = ++ctx->queued_seq;
    event->t_ns = rochp__now_ns();
    n->event = *event;
    n->next = NULL;
    if (ctx->tail)
        ctx->tail->next = n;
    else
        ctx->head = n;
    ctx->tail = n;
    pthread_cond_broadcast(&ctx->cond);
    return ROCHP_OK;
}

bool delivery_on_callback_thread(const rochp_context *ctx)
{
    return ctx->callback_started && pthread_equal(pthread_self(), ctx->callback_thread);
}

static void *callback_main(void *arg)
{
    rochp_context *ctx = arg;
    pthread_mutex_lock(&ctx->lock);
    for (;;) {
        while (!ctx->head && !ctx->closing)
            pthread_cond_wait(&ctx->cond, &ctx->lock);
        if (ctx->closing)
            break; /* destroy: nothing is delivered after it began */
        event_node *n = ctx->head;
        ctx->head = n->next;
        if (!ctx->head)
            ctx->tail = NULL;
        /* Subscribers are looked up one at a time: a callback may add or
         * remove subscriptions, including its own. */
        rochp_subscription last = 0;
        for (;;) {
            subscription *next = NULL;
            for (size_t i = 0; i < ctx->n_subs; i++)
                if (ctx->subs[i].id > last && (ctx->subs[i].mask & n->event.type) &&
                    (!next || ctx->subs[i].id < next->id))
                    next = &ctx->subs[i];
            if (!next || ctx->closing)
                break;
            subscription s = *next;
            last = s.id;
            ctx->delivering = s.id;
            pthread_mutex_unlock(&ctx->lock);
            s.fn(ctx, &n->event, s.user);
            pthread_mutex_lock(&ctx->lock);
            ctx->delivering = 0;
            pthread_cond_broadcast(&ctx->cond);
        }
        ctx->delivered_seq = n->event.sequence;
        pthread_cond_broadcast(&ctx->cond);
        free(n);
    }
    pthread_mutex_unlock(&ctx->lock);
    return NULL;
}

rochp_status delivery_start(rochp_context *ctx)
{
    if (pthread_create(&ctx->callback_thread, NULL, callback_main, ctx) != 0)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "cannot start the callback thread");
    ctx->callback_started = true;
    return ROCHP_OK;
}

void delivery_free(rochp_context *ctx)
{
    while (ctx->head) {
        event_node *n = ctx->head;
        ctx->head = n->next;
        free(n);
    }
    ctx->tail = NULL;
    free(ctx->subs);
    ctx->subs = NULL;
    ctx->n_subs = ctx->cap_subs = 0;
}

rochp_status rochp_subscribe(rochp_context *ctx, uint32_t mask, rochp_event_fn fn, void *user,
                             rochp_subscription *out)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_subscribe");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (!fn || !out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_subscribe: fn and out must not be NULL");
    if (mask == 0 || (mask & ~(uint32_t)ROCHP_EVENT_ALL))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_subscribe: mask 0x%x is not a set of ROCHP_EVENT_* bits",
                                mask);
    rochp_status st = ROCHP_OK;
    pthread_mutex_lock(&ctx->lock);
    if (ctx->n_subs == ctx->cap_subs) {
        size_t cap = ctx->cap_subs ? ctx->cap_subs * 2 : 8;
        subscription *grown = realloc(ctx->subs, cap * sizeof *grown);
        if (!grown)
            st = rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_subscribe: out of memory");
        else {
            ctx->subs = grown;
            ctx->cap_subs = cap;
        }
    }
    if (st == ROCHP_OK) {
        subscription *s = &ctx->subs[ctx->n_subs++];
        s->id = ++ctx->next_sub;
        s->mask = mask;
        s->fn = fn;
        s->user = user;
        *out = s->id;
    }
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

rochp_status rochp_unsubscribe(rochp_context *ctx, rochp_subscription subscription_id)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_unsubscribe");
    if (hst_ != ROCHP_OK)
        return hst_;
    pthread_mutex_lock(&ctx->lock);
    size_t i = 0;
    while (i < ctx->n_subs && ctx->subs[i].id != subscription_id)
        i++;
    if (i == ctx->n_subs) {
        pthread_mutex_unlock(&ctx->lock);
        return rochp__set_errorf(ROCHP_ERROR_NOT_FOUND,
                                "rochp_unsubscribe: no subscription %llu in this context",
                                (unsigned long long)subscription_id);
    }
    memmove(&ctx->subs[i], &ctx->subs[i + 1], (ctx->n_subs - i - 1) * sizeof *ctx->subs);
    ctx->n_subs--;
    /* A call of it in progress elsewhere finishes before this returns. */
    if (!delivery_on_callback_thread(ctx))
        while (ctx->delivering == subscription_id)
            pthread_cond_wait(&ctx->cond, &ctx->lock);
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}

rochp_status rochp_on_device_lost(rochp_context *ctx, rochp_event_fn fn, void *user,
                                  rochp_subscription *out)
{
    return rochp_subscribe(ctx, ROCHP_EVENT_LOST, fn, user, out);
}

rochp_status rochp_on_device_arrived(rochp_context *ctx, rochp_event_fn fn, void *user,
                                     rochp_subscription *out)
{
    return rochp_subscribe(ctx, ROCHP_EVENT_ARRIVED | ROCHP_EVENT_RETURNED, fn, user, out);
}

rochp_status rochp_flush(rochp_context *ctx)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_flush");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (delivery_on_callback_thread(ctx))
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "rochp_flush from a callback of this context would wait for "
                                "itself (the callback thread delivers the events it waits for)");
    pthread_mutex_lock(&ctx->lock);
    uint64_t target = ctx->queued_seq;
    while (ctx->delivered_seq < target && !ctx->closing)
        pthread_cond_wait(&ctx->cond, &ctx->lock);
    pthread_mutex_unlock(&ctx->lock);
    return ROCHP_OK;
}
