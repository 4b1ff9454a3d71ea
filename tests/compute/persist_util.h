/* Shared by the checkpoint-file tests: file bytes in memfds, a walk of the
 * documented format (sections, their extents and checksums, computed here
 * with XXH3 independently of the library's writer), and a census of what a
 * context holds. */
#ifndef ROCHP_TESTS_PERSIST_UTIL_H
#define ROCHP_TESTS_PERSIST_UTIL_H

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "check.h"
#include "managed/managed.h"

#define SECOND 1000000000ull

static inline int memfd_with(const void *data, size_t size)
{
    int fd = memfd_create("rochp-test", 0);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, data, size) == (ssize_t)size);
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    return fd;
}

/* A checkpoint saved to memory; *size its length. */
static inline unsigned char *save_bytes(rochp_context *ctx, const void *user, size_t user_size,
                                        size_t *size)
{
    int fd = memfd_create("rochp-test", 0);
    REQUIRE(fd >= 0);
    rochp_status st = rochp_checkpoint_save(ctx, fd, user, user_size);
    if (st != ROCHP_OK)
        fprintf(stderr, "save: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    off_t end = lseek(fd, 0, SEEK_END);
    REQUIRE(end > 0);
    unsigned char *bytes = malloc((size_t)end);
    REQUIRE(bytes && pread(fd, bytes, (size_t)end, 0) == end);
    close(fd);
    *size = (size_t)end;
    return bytes;
}

static inline uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static inline void put_le64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* The header's checksum made right again after a field was changed. */
static inline void resign_header(unsigned char *file)
{
    put_le64(file + 56, XXH3_64bits(file, 56));
}

/* One section as the format lays it out. */
typedef struct file_section {
    char name[64];         /* as the loader's messages name it */
    size_t start, end;     /* [start, end) in the file, its checksum included */
    size_t head_size;
    uint64_t bulk_size;
} file_section;

enum { MAX_SECTIONS = 16 };

static inline void resign_section(unsigned char *file, const file_section *s)
{
    const unsigned char *head = file + s->start;
    uint64_t sum = XXH3_64bits_withSeed(head + s->head_size, (size_t)s->bulk_size,
                                        XXH3_64bits(head, s->head_size));
    put_le64(file + s->end - 8, sum);
}

/* Walks a version-2 file by its documentation: the header (section 0),
 * the user blob, the modules, the buffers and the queue table, checking
 * every checksum on the way; returns how many sections (header included). */
static inline size_t walk_file(const unsigned char *file, size_t size, file_section *out)
{
    REQUIRE(size >= 64 && memcmp(file, "ROCHPCK1", 8) == 0);
    CHECK_EQ_U64(file[8] | file[9] << 8 | file[10] << 16 | (uint32_t)file[11] << 24, 2);
    CHECK_EQ_U64(le64(file + 16), size);
    CHECK_EQ_U64(le64(file + 56), XXH3_64bits(file, 56));
    uint64_t modules = le64(file + 32), buffers = le64(file + 40);
    size_t n = 0, at = 64;
    out[n++] = (file_section){"header", 0, 64, 0, 0};
    for (uint64_t k = 0; k < 2 + modules + buffers; k++) {
        REQUIRE(n < MAX_SECTIONS && at + 16 <= size);
        file_section *s = &out[n++];
        s->start = at;
        s->bulk_size = le64(file + at + 8);
        if (k == 0) {
            snprintf(s->name, sizeof s->name, "user blob");
            s->head_size = 16;
            CHECK(memcmp(file + at, "USER", 4) == 0);
            CHECK_EQ_U64(s->bulk_size, le64(file + 24));
        } else if (k <= modules) {
            snprintf(s->name, sizeof s->name, "module %llu of %llu", (unsigned long long)k,
                     (unsigned long long)modules);
            s->head_size = 24;
            CHECK(memcmp(file + at, "MODL", 4) == 0);
        } else if (k <= modules + buffers) {
            snprintf(s->name, sizeof s->name, "buffer %llu of %llu",
                     (unsigned long long)(k - modules), (unsigned long long)buffers);
            s->head_size = 64;
            CHECK(memcmp(file + at, "BUFF", 4) == 0);
        } else {
            snprintf(s->name, sizeof s->name, "queue table");
            s->head_size = 16;
            CHECK(memcmp(file + at, "QUEU", 4) == 0);
            CHECK_EQ_U64(s->bulk_size, le64(file + 48) * 72);
        }
        s->end = at + s->head_size + s->bulk_size + 8;
        REQUIRE(s->end <= size);
        const unsigned char *head = file + at;
        CHECK_EQ_U64(le64(file + s->end - 8),
                     XXH3_64bits_withSeed(head + s->head_size, (size_t)s->bulk_size,
                                          XXH3_64bits(head, s->head_size)));
        at = s->end;
    }
    CHECK_EQ_U64(at, size);
    return n;
}

/* What a context holds: buffers and bytes through the public API (a
 * checkpoint's statistics), modules and queues from its lists (the API has
 * no enumeration of them). */
typedef struct census {
    uint64_t buffers, bytes, modules, queues;
} census;

static inline census take_census(rochp_context *ctx)
{
    census c = {0};
    rochp_checkpoint_stats cs;
    rochp_status st = rochp_checkpoint(ctx, 30 * SECOND, &cs);
    if (st != ROCHP_OK)
        fprintf(stderr, "census: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    c.buffers = cs.buffers;
    c.bytes = cs.bytes;
    const void *image;
    size_t size;
    uint64_t id;
    pthread_mutex_lock(&ctx->managed->module_lock);
    for (rochp_module *m = managed_module_next(ctx, NULL, &image, &size, &id); m;
         m = managed_module_next(ctx, m, &image, &size, &id))
        c.modules++;
    pthread_mutex_unlock(&ctx->managed->module_lock);
    pthread_mutex_lock(&ctx->lock);
    for (rochp_queue *q = ctx->managed->queues; q; q = q->next)
        c.queues++;
    pthread_mutex_unlock(&ctx->lock);
    return c;
}

#define CHECK_CENSUS(ctx, want)                                                        \
    do {                                                                               \
        census got_ = take_census(ctx), want_ = (want);                                \
        CHECK_EQ_U64(got_.buffers, want_.buffers);                                     \
        CHECK_EQ_U64(got_.bytes, want_.bytes);                                         \
        CHECK_EQ_U64(got_.modules, want_.modules);                                     \
        CHECK_EQ_U64(got_.queues, want_.queues);                                       \
    } while (0)

#endif
