/* The checkpoint file format, version 2: encoding and a parser/validator
 * that are functions of the bytes alone (no context, no runtime), so that
 * the loader can refuse a file before it makes anything and a fuzzer can
 * drive the parser directly.
 *
 * All integers are little-endian.  A file is a header and five kinds of
 * section in a fixed order:
 *
 *   header       magic "ROCHPCK1", u32 version (2), u32 flags (0),
 *                u64 total size (the whole file), u64 user bytes,
 *                u64 modules, u64 buffers, u64 queues,
 *                u64 XXH3-64 of the 56 bytes before it
 *   user blob    head {"USER", u32 0, u64 size}           bulk: the bytes
 *   module * n   head {"MODL", u32 0, u64 size, u64 id}   bulk: code object
 *   buffer * n   head {"BUFF", u32 flags, u64 size, u64 id, u64 ordinal,
 *                      char gfx[32]}                      bulk: the bytes
 *                flags: bit 0 the application's memory (rochp_buffer_register:
 *                made again by the loading context's allocator), bit 1
 *                ROCHP_REGISTER_COPY_ALWAYS with it; no other
 *   queue table  head {"QUEU", u32 0, u64 size}           bulk: n records
 *                {u64 id, u32 mode, packets, kernarg_bytes, journal_length,
 *                 u64 ordinal, char gfx[32], u64 next id}
 *
 * Every section ends with u64 XXH3-64 of its bulk seeded with the XXH3-64
 * of its head, so that the head (ids, sizes, placement) and the bytes are
 * covered by one checksum that a writer can compute without holding them
 * side by side.  Ordinal 0 is the host; k >= 1 the k-th GPU of the gfx
 * target (a NUL-terminated name, zero-padded; empty for the host). */
#ifndef ROCHP_COMPUTE_PERSIST_FORMAT_H
#define ROCHP_COMPUTE_PERSIST_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

#define PERSIST_MAGIC "ROCHPCK1"
#define PERSIST_VERSION 2u
#define PERSIST_GFX_LEN 32
/* Bigger ordinals than a machine has devices are not ours. */
#define PERSIST_MAX_ORDINAL 256u
/* A queue's completion signal counts down from 2^62 (ROCHP_COMPLETION_BASE):
 * ids at or past it cannot be continued. */
#define PERSIST_MAX_NEXT_ID (1ull << 62)

enum {
    PERSIST_HEADER_BYTES = 64,
    PERSIST_SUM_BYTES = 8,
    PERSIST_USER_HEAD = 16,
    PERSIST_MODULE_HEAD = 24,
    PERSIST_BUFFER_HEAD = 64,
    PERSIST_QUEUES_HEAD = 16,
    PERSIST_QUEUE_RECORD = 72,
};

/* Queue modes as written (rochp_queue_mode's values). */
enum { PERSIST_QUEUE_PLAIN = 0, PERSIST_QUEUE_JOURNALED = 1 };

typedef struct persist_header {
    uint64_t total_size, user_size, modules, buffers, queues;
} persist_header;

typedef struct persist_module {
    uint64_t id;
    const uint8_t *image;
    uint64_t size;
} persist_module;

/* A buffer head's flags. */
enum {
    PERSIST_BUFFER_REGISTERED = 1u << 0,
    PERSIST_BUFFER_COPY_ALWAYS = 1u << 1, /* ROCHP_REGISTER_COPY_ALWAYS */
};

typedef struct persist_buffer {
    uint32_t flags; /* PERSIST_BUFFER_* */
    uint64_t id, ordinal;
    char gfx[PERSIST_GFX_LEN];
    const uint8_t *bytes;
    uint64_t size;
    /* The section's checksum: XXH3-64 of the bytes seeded with seed (the
     * head's hash), for a loader that checks it on its own copy. */
    uint64_t seed, sum;
} persist_buffer;

typedef struct persist_queue {
    uint64_t id;
    uint32_t mode, packets, kernarg_bytes, journal_length;
    uint64_t ordinal;
    char gfx[PERSIST_GFX_LEN];
    uint64_t next_id;
} persist_queue;

/* A checkpoint as sections: the parser's output (pointers into the bytes it
 * was given) and the writer's input (pointers into the caller's memory). */
typedef struct persist_image {
    persist_header header; /* parsed; the writer fills it in */
    const uint8_t *user;
    uint64_t user_size;
    persist_module *modules;
    persist_buffer *buffers;
    persist_queue *queues;
    size_t n_modules, n_buffers, n_queues;
} persist_image;

enum {
    /* Verify the checksums (always, but for a fuzzer exploring the
     * structure behind them). */
    PERSIST_CHECK_SUMS = 1u << 0,
    /* ... except the buffers' bulk: the loader checks each on the copy it
     * reads into its shadow (persist_buffer_sum_ok), so that the bytes are
     * read once, and checked in memory nobody else can change. */
    PERSIST_DEFER_BUFFER_SUMS = 1u << 1,
};

/* Whether bytes (b->size of them) are the ones b's checksum covers. */
bool persist_buffer_sum_ok(const persist_buffer *b, const void *bytes);

/* The header alone, from the first PERSIST_HEADER_BYTES of data: magic,
 * version, checksum and whether the counts can fit in total_size.  The
 * loader learns from it how many bytes to read.  ROCHP_ERROR_MALFORMED with
 * the message "header: ..." when not. */
rochp_status persist_parse_header(const uint8_t *data, size_t size, unsigned flags,
                                  persist_header *out, rochp__error *err);

/* The whole checkpoint: size must be the header's total size.  Every size is
 * bounded by the bytes given before anything is allocated (the arrays take
 * less than the sections they describe); ids must be unique and non-zero,
 * placements and queue options well-formed.  Failures are
 * ROCHP_ERROR_MALFORMED (or ROCHP_ERROR_OUT_OF_MEMORY) with a message that
 * starts with the section: "header", "user blob", "module K of N",
 * "buffer K of N (id I)", "queue table".  On success *out holds arrays to
 * free with persist_image_free; on failure nothing. */
rochp_status persist_parse(const uint8_t *data, size_t size, unsigned flags, persist_image *out,
                           rochp__error *err);
void persist_image_free(persist_image *img);

/* Receives the file's bytes in order; a failure says why in err. */
typedef rochp_status (*persist_sink)(void *arg, const void *data, size_t size, rochp__error *err);

/* The file size the image makes. */
uint64_t persist_image_size(const persist_image *img);
/* Writes img (its header filled in here) as a version-2 file: header,
 * sections, checksums; the sink's first failure is returned. */
rochp_status persist_write(persist_image *img, persist_sink sink, void *arg, rochp__error *err);

#endif
