#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rochp__arena_chunk {
    rochp__arena_chunk *next;
    size_t size;
    alignas(max_align_t) unsigned char data[];
};

/* Big enough that a desktop topology fits in one chunk. */
enum { ARENA_MIN_CHUNK = 64 * 1024 };

void *rochp__arena_alloc_raw(rochp__arena *arena, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + align - 1) & ~(align - 1);
    if (!arena->head || arena->head_size - arena->used_in_head < size) {
        size_t chunk = arena->head_size ? arena->head_size * 2 : ARENA_MIN_CHUNK;
        if (chunk < size)
            chunk = size;
        rochp__arena_chunk *c = malloc(sizeof *c + chunk);
        if (!c)
            return NULL;
        c->next = arena->head;
        c->size = chunk;
        arena->head = c;
        arena->head_size = chunk;
        arena->used_in_head = 0;
    }
    void *p = arena->head->data + arena->used_in_head;
    arena->used_in_head += size;
    return p;
}

void *rochp__arena_alloc(rochp__arena *arena, size_t size)
{
    void *p = rochp__arena_alloc_raw(arena, size);
    if (p)
        memset(p, 0, size);
    return p;
}

char *rochp__arena_strndup(rochp__arena *arena, const char *s, size_t len)
{
    char *p = rochp__arena_alloc_raw(arena, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

void rochp__arena_free(rochp__arena *arena)
{
    rochp__arena_chunk *c = arena->head;
    while (c) {
        rochp__arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena->head = NULL;
    arena->used_in_head = 0;
    arena->head_size = 0;
}
