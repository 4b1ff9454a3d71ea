/* Records rochp events as a subscriber, for tests that assert sequences. */
#ifndef ROCHP_TESTS_EVENT_RECORDER_H
#define ROCHP_TESTS_EVENT_RECORDER_H

#include <pthread.h>
#include <stddef.h>

#include "rochp/rochp.h"

typedef struct event_recorder {
    pthread_mutex_t lock;
    rochp_event events[4096];
    size_t n;
} event_recorder;

#define EVENT_RECORDER_INIT {.lock = PTHREAD_MUTEX_INITIALIZER}

/* A rochp_event_fn: user is the recorder. */
static inline void event_record(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    event_recorder *r = user;
    pthread_mutex_lock(&r->lock);
    if (r->n < sizeof r->events / sizeof *r->events)
        r->events[r->n++] = *e;
    pthread_mutex_unlock(&r->lock);
}

static inline size_t event_count(event_recorder *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = r->n;
    pthread_mutex_unlock(&r->lock);
    return n;
}

static inline size_t event_count_type(event_recorder *r, rochp_event_type type)
{
    pthread_mutex_lock(&r->lock);
    size_t n = 0;
    for (size_t i = 0; i < r->n; i++)
        n += r->events[i].type == type;
    pthread_mutex_unlock(&r->lock);
    return n;
}

#endif
