/* The live-handle registry (handles.h): an open-addressing hash set of
 * pointers with their kinds, tombstones on removal, rebuilt when it fills. */
#include "common/handles.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/last_error.h"

typedef struct slot {
    uintptr_t key; /* 0: empty; TOMBSTONE: removed */
    handle_kind kind;
} slot;

#define TOMBSTONE ((uintptr_t)1)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static slot *table;
static size_t cap, used, live; /* used counts tombstones too */

static size_t hash(uintptr_t key)
{
    uint64_t x = (uint64_t)key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return (size_t)x;
}

/* With lock held: the slot of key, or NULL. */
static slot *find(uintptr_t key)
{
    if (!cap)
        return NULL;
    for (size_t i = hash(key) & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (table[i].key == key)
            return &table[i];
        if (table[i].key == 0)
            return NULL;
    }
}

/* With lock held: room for one more, tombstones dropped. */
static bool grow(void)
{
    size_t ncap = cap ? cap : 256;
    while ((live + 1) * 2 > ncap)
        ncap *= 2;
    slot *fresh = calloc(ncap, sizeof *fresh);
    if (!fresh)
        return false;
    for (size_t i = 0; i < cap; i++) {
        if (table[i].key <= TOMBSTONE)
            continue;
        size_t j = hash(table[i].key) & (ncap - 1);
        while (fresh[j].key)
            j = (j + 1) & (ncap - 1);
        fresh[j] = table[i];
    }
    free(table);
    table = fresh;
    cap = ncap;
    used = live;
    return true;
}

rochp_status handle_add(const void *p, handle_kind kind)
{
    uintptr_t key = (uintptr_t)p;
    pthread_mutex_lock(&lock);
    slot *s = find(key);
    if (s) {
        s->kind = kind; /* a freed object's address reused by malloc */
        pthread_mutex_unlock(&lock);
        return ROCHP_OK;
    }
    if ((used + 1) * 4 > cap * 3 && !grow()) {
        pthread_mutex_unlock(&lock);
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "out of memory for the handle registry");
    }
    size_t i = hash(key) & (cap - 1);
    while (table[i].key > TOMBSTONE)
        i = (i + 1) & (cap - 1);
    used += table[i].key == 0;
    table[i] = (slot){key, kind};
    live++;
    pthread_mutex_unlock(&lock);
    return ROCHP_OK;
}

void handle_remove(const void *p)
{
    pthread_mutex_lock(&lock);
    slot *s = find((uintptr_t)p);
    if (s) {
        s->key = TOMBSTONE;
        live--;
    }
    pthread_mutex_unlock(&lock);
}

bool handle_live(const void *p, handle_kind kind)
{
    if ((uintptr_t)p <= TOMBSTONE)
        return false;
    pthread_mutex_lock(&lock);
    slot *s = find((uintptr_t)p);
    bool ok = s && s->kind == kind;
    pthread_mutex_unlock(&lock);
    return ok;
}

static const char *kind_name(handle_kind kind)
{
    switch (kind) {
    case HANDLE_CONTEXT: return "context";
    case HANDLE_BUFFER: return "buffer";
    case HANDLE_MODULE: return "module";
    case HANDLE_KERNEL: return "kernel";
    case HANDLE_QUEUE: return "queue";
    case HANDLE_RESTORED: return "restored map";
    }
    return "object";
}

rochp_status handle_check(const void *p, handle_kind kind, const char *call)
{
    if (!p)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "%s: the %s is NULL", call,
                                kind_name(kind));
    if (handle_live(p, kind))
        return ROCHP_OK;
    return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                            "%s: %p is not a live %s (freed already, or its context was "
                            "destroyed)",
                            call, p, kind_name(kind));
}
