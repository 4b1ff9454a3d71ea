/* A bump allocator: a snapshot is built into one arena and freed at once,
 * so that an immutable snapshot never needs per-field ownership rules. */
#ifndef ROCHP_COMMON_ARENA_H
#define ROCHP_COMMON_ARENA_H

#include <stddef.h>

typedef struct rochp__arena_chunk rochp__arena_chunk;

typedef struct rochp__arena {
    rochp__arena_chunk *head;
    size_t used_in_head;
    size_t head_size;
} rochp__arena;

/* Zeroed memory aligned for any type, or NULL when out of memory. */
void *rochp__arena_alloc(rochp__arena *arena, size_t size);
/* The same without zeroing, for arrays the caller fills completely. */
void *rochp__arena_alloc_raw(rochp__arena *arena, size_t size);
/* A copy of the first len bytes of s with a terminating NUL. */
char *rochp__arena_strndup(rochp__arena *arena, const char *s, size_t len);
void rochp__arena_free(rochp__arena *arena);

#endif
