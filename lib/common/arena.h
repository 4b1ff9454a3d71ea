/* A bump allocator: a snapshot is built into one arena and freed at once,
 * so that an immutable snapshot never needs per-field ownership rules. */
#ifndef ROCHP_COMMON_ARENA_H
#define ROCHP_COMMON_ARENA_H

#include <stddef.h>

typedef struct rochp_arena_chunk rochp_arena_chunk;

typedef struct rochp_arena {
    rochp_arena_chunk *head;
    size_t used_in_head;
    size_t head_size;
} rochp_arena;

/* Zeroed memory aligned for any type, or NULL when out of memory. */
void *rochp_arena_alloc(rochp_arena *arena, size_t size);
/* The same without zeroing, for arrays the caller fills completely. */
void *rochp_arena_alloc_raw(rochp_arena *arena, size_t size);
/* A copy of the first len bytes of s with a terminating NUL. */
char *rochp_arena_strndup(rochp_arena *arena, const char *s, size_t len);
void rochp_arena_free(rochp_arena *arena);

#endif
