/* The checkpoint file format (layout: persist_format.h).  The parser reads
 * only the bytes it is given and allocates only after the counts are known
 * to fit in them; each refusal names its section. */
#include "resilience/persist_format.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define TAG_USER "USER"
#define TAG_MODULE "MODL"
#define TAG_BUFFER "BUFF"
#define TAG_QUEUES "QUEU"
#define NAME_MAX_LEN 96

/* --- little-endian fields --------------------------------------------------------------------- */
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    put32(p, (uint32_t)v);
    put32(p + 4, (uint32_t)(v >> 32));
}

/* A section's checksum: its bulk seeded with its head's hash, so that the
 * writer can hash a head on the stack and bytes elsewhere. */
static uint64_t section_sum(const uint8_t *head, size_t head_size, const void *bulk,
                            uint64_t bulk_size)
{
    return XXH3_64bits_withSeed(bulk, (size_t)bulk_size, XXH3_64bits(head, head_size));
}

bool persist_buffer_sum_ok(const persist_buffer *b, const void *bytes)
{
    return XXH3_64bits_withSeed(bytes, (size_t)b->size, b->seed) == b->sum;
}

/* --- header ----------------------------------------------------------------------------------- */
/* Takes unit * count bytes out of *left; false if they are not there. */
static bool take(uint64_t *left, uint64_t count, uint64_t unit)
{
    if (count > *left / unit)
        return false;
    *left -= count * unit;
    return true;
}

/* The counts fit in total_size at each section's smallest (a module or a
 * buffer has at least one byte), so that arrays sized by them are bounded
 * by the file. */
static rochp_status header_fits(const persist_header *h, rochp__error *err)
{
    uint64_t left = h->total_size;
    bool fits = take(&left, 1, PERSIST_HEADER_BYTES) &&
                take(&left, 1, PERSIST_USER_HEAD + PERSIST_SUM_BYTES) &&
                take(&left, h->user_size, 1) &&
                take(&left, 1, PERSIST_QUEUES_HEAD + PERSIST_SUM_BYTES) &&
                take(&left, h->queues, PERSIST_QUEUE_RECORD) &&
                take(&left, h->modules, PERSIST_MODULE_HEAD + 1 + PERSIST_SUM_BYTES) &&
                take(&left, h->buffers, PERSIST_BUFFER_HEAD + 1 + PERSIST_SUM_BYTES);
    if (fits)
        return ROCHP_OK;
    return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                      "header: %" PRIu64 " user bytes, %" PRIu64 " modules, %" PRIu64
                      " buffers and %" PRIu64 " queues cannot fit in %" PRIu64 " bytes",
                      h->user_size, h->modules, h->buffers, h->queues, h->total_size);
}

rochp_status persist_parse_header(const uint8_t *data, size_t size, unsigned flags,
                                  persist_header *out, rochp__error *err)
{
    memset(out, 0, sizeof *out);
    if (size < PERSIST_HEADER_BYTES)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                          "header: the file ends inside the header (%zu of %d bytes; truncated)",
                          size, PERSIST_HEADER_BYTES);
    if (memcmp(data, PERSIST_MAGIC, 8) != 0)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                          "header: not a rochp checkpoint (bad magic)");
    uint32_t version = get32(data + 8);
    if (version != PERSIST_VERSION)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                          "header: checkpoint file version %" PRIu32 "; this library reads %u",
                          version, PERSIST_VERSION);
    if ((flags & PERSIST_CHECK_SUMS) && XXH3_64bits(data, 56) != get64(data + 56))
        return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                          "header: checksum mismatch (the file is corrupt)");
    uint32_t file_flags = get32(data + 12);
    if (file_flags != 0)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                          "header: flags 0x%" PRIx32 ", none of which this library knows",
                          file_flags);
    persist_header h = {.total_size = get64(data + 16),
                        .user_size = get64(data + 24),
                        .modules = get64(data + 32),
                        .buffers = get64(data + 40),
                        .queues = get64(data + 48)};
    rochp_status st = header_fits(&h, err);
    if (st == ROCHP_OK)
        *out = h;
    return st;
}

/* --- sections --------------------------------------------------------------------------------- */
typedef struct cursor {
    const uint8_t *data;
    uint64_t size, at;
    unsigned flags;
    rochp__error *err;
} cursor;

typedef struct section {
    const char *name;
    uint32_t flags_allowed; /* in: the head's flags this kind may have */
    uint32_t flags;         /* out */
    const uint8_t *head;
    const uint8_t *bulk;
    uint64_t bulk_size;
    bool deferrable; /* in: a buffer's, checked later under PERSIST_DEFER_BUFFER_SUMS */
} section;

/* The next section, expected to be tag with a head of head_size bytes:
 * framing, bounds, then the checksum. */
static rochp_status next_section(cursor *c, const char *tag, size_t head_size, section *s)
{
    uint64_t left = c->size - c->at;
    if (left < head_size + PERSIST_SUM_BYTES)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: runs past the end of the file (truncated)", s->name);
    const uint8_t *head = c->data + c->at;
    if (memcmp(head, tag, 4) != 0)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: section tag \"%.4s\" where \"%s\" belongs", s->name,
                          (const char *)head, tag);
    if (get32(head + 4) & ~s->flags_allowed)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: flags 0x%" PRIx32 ", of which 0x%" PRIx32 " unknown", s->name,
                          get32(head + 4), get32(head + 4) & ~s->flags_allowed);
    s->flags = get32(head + 4);
    uint64_t bulk = get64(head + 8);
    if (bulk > left - head_size - PERSIST_SUM_BYTES)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: %" PRIu64 " bytes, beyond the end of the file (%" PRIu64
                          " bytes)",
                          s->name, bulk, c->size);
    s->head = head;
    s->bulk = head + head_size;
    s->bulk_size = bulk;
    const uint8_t *sum = s->bulk + bulk;
    bool deferred = s->deferrable && (c->flags & PERSIST_DEFER_BUFFER_SUMS);
    if ((c->flags & PERSIST_CHECK_SUMS) && !deferred &&
        section_sum(head, head_size, s->bulk, bulk) != get64(sum))
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: checksum mismatch (the file is corrupt)", s->name);
    c->at += head_size + bulk + PERSIST_SUM_BYTES;
    return ROCHP_OK;
}

/* A gfx target as saved: a name of [a-z0-9:+-_] ended by a NUL and padded
 * with NULs (one spelling per name, so that a file has one encoding). */
static bool gfx_ok(const uint8_t *p)
{
    size_t n = 0;
    while (n < PERSIST_GFX_LEN && p[n]) {
        uint8_t ch = p[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == ':' || ch == '+' ||
              ch == '-' || ch == '_'))
            return false;
        n++;
    }
    if (n == PERSIST_GFX_LEN)
        return false;
    for (; n < PERSIST_GFX_LEN; n++)
        if (p[n])
            return false;
    return true;
}

/* Where an object goes: the host (ordinal 0, no gfx) or a GPU. */
static rochp_status placement_ok(cursor *c, const char *name, uint64_t ordinal, const uint8_t *gfx,
                                 bool gpu_only)
{
    if (!gfx_ok(gfx))
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: the gfx target is not a NUL-terminated name", name);
    if (ordinal > PERSIST_MAX_ORDINAL || (ordinal == 0 && (gfx[0] || gpu_only)))
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: device ordinal %" PRIu64 " (gfx \"%s\") is no place for it", name,
                          ordinal, (const char *)gfx);
    return ROCHP_OK;
}

static rochp_status parse_user(cursor *c, persist_image *img)
{
    section s = {.name = "user blob"};
    rochp_status st = next_section(c, TAG_USER, PERSIST_USER_HEAD, &s);
    if (st != ROCHP_OK)
        return st;
    if (s.bulk_size != img->header.user_size)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "user blob: %" PRIu64 " bytes, the header says %" PRIu64, s.bulk_size,
                          img->header.user_size);
    img->user = s.bulk;
    img->user_size = s.bulk_size;
    return ROCHP_OK;
}

static rochp_status parse_module(cursor *c, persist_image *img, size_t k)
{
    char name[NAME_MAX_LEN];
    snprintf(name, sizeof name, "module %zu of %" PRIu64, k + 1, img->header.modules);
    section s = {.name = name};
    rochp_status st = next_section(c, TAG_MODULE, PERSIST_MODULE_HEAD, &s);
    if (st != ROCHP_OK)
        return st;
    persist_module *m = &img->modules[k];
    m->id = get64(s.head + 16);
    m->image = s.bulk;
    m->size = s.bulk_size;
    if (m->size == 0)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED, "%s: an empty code object", name);
    return ROCHP_OK;
}

static rochp_status parse_buffer(cursor *c, persist_image *img, size_t k)
{
    char name[NAME_MAX_LEN];
    uint64_t id = c->size - c->at >= 24 ? get64(c->data + c->at + 16) : 0;
    snprintf(name, sizeof name, "buffer %zu of %" PRIu64 " (id %" PRIu64 ")", k + 1,
             img->header.buffers, id);
    section s = {.name = name,
                 .flags_allowed = PERSIST_BUFFER_REGISTERED | PERSIST_BUFFER_COPY_ALWAYS,
                 .deferrable = true};
    rochp_status st = next_section(c, TAG_BUFFER, PERSIST_BUFFER_HEAD, &s);
    if (st != ROCHP_OK)
        return st;
    persist_buffer *b = &img->buffers[k];
    b->id = id;
    b->flags = s.flags;
    b->ordinal = get64(s.head + 24);
    memcpy(b->gfx, s.head + 32, PERSIST_GFX_LEN);
    b->bytes = s.bulk;
    b->size = s.bulk_size;
    b->seed = XXH3_64bits(s.head, PERSIST_BUFFER_HEAD);
    b->sum = get64(s.bulk + s.bulk_size);
    if (b->size == 0)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED, "%s: no bytes", name);
    if ((b->flags & PERSIST_BUFFER_COPY_ALWAYS) && !(b->flags & PERSIST_BUFFER_REGISTERED))
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "%s: copy-always without being the application's memory", name);
    return placement_ok(c, name, b->ordinal, s.head + 32, false);
}

static bool pow2(uint64_t x)
{
    return x && !(x & (x - 1));
}

/* The options' shape; rochp_queue_create checks their limits. */
static rochp_status queue_ok(cursor *c, const char *name, const persist_queue *q,
                             const uint8_t *gfx)
{
    const char *why = NULL;
    if (q->mode != PERSIST_QUEUE_PLAIN && q->mode != PERSIST_QUEUE_JOURNALED)
        why = "an unknown mode";
    else if (!pow2(q->packets) || !pow2(q->kernarg_bytes))
        why = "packets and kernarg bytes must be powers of two";
    else if (q->mode == PERSIST_QUEUE_PLAIN ? q->journal_length != 0
                                            : !pow2(q->journal_length) ||
                                                  q->journal_length < q->packets)
        why = "a journal length that does not fit the mode";
    else if (q->next_id >= PERSIST_MAX_NEXT_ID)
        why = "a next packet id past 2^62";
    if (why)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED, "%s: %s", name, why);
    return placement_ok(c, name, q->ordinal, gfx, true);
}

static rochp_status parse_queues(cursor *c, persist_image *img)
{
    section s = {.name = "queue table"};
    rochp_status st = next_section(c, TAG_QUEUES, PERSIST_QUEUES_HEAD, &s);
    if (st != ROCHP_OK)
        return st;
    if (s.bulk_size != img->header.queues * PERSIST_QUEUE_RECORD)
        return rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                          "queue table: %" PRIu64 " bytes for %" PRIu64 " queues", s.bulk_size,
                          img->header.queues);
    for (size_t k = 0; k < img->n_queues; k++) {
        const uint8_t *p = s.bulk + k * PERSIST_QUEUE_RECORD;
        persist_queue *q = &img->queues[k];
        q->id = get64(p);
        q->mode = get32(p + 8);
        q->packets = get32(p + 12);
        q->kernarg_bytes = get32(p + 16);
        q->journal_length = get32(p + 20);
        q->ordinal = get64(p + 24);
        memcpy(q->gfx, p + 32, PERSIST_GFX_LEN);
        q->next_id = get64(p + 64);
        char name[NAME_MAX_LEN];
        snprintf(name, sizeof name, "queue table: queue %zu of %zu (id %" PRIu64 ")", k + 1,
                 img->n_queues, q->id);
        st = queue_ok(c, name, q, p + 32);
        if (st != ROCHP_OK)
            return st;
    }
    return ROCHP_OK;
}

/* --- ids ---------------------------------------------------------------------------------------- */
typedef struct id_ref {
    uint64_t id;
    const char *kind;
    size_t index;
} id_ref;

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const id_ref *)a)->id, y = ((const id_ref *)b)->id;
    return x < y ? -1 : x > y;
}

/* Ids come from one counter per context: non-zero and unique across kinds
 * (the restored map looks them up). */
static rochp_status ids_ok(const persist_image *img, rochp__error *err)
{
    size_t n = img->n_modules + img->n_buffers + img->n_queues, k = 0;
    id_ref *refs = calloc(n + 1, sizeof *refs);
    if (!refs)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "header: out of memory for %zu ids", n);
    for (size_t i = 0; i < img->n_modules; i++)
        refs[k++] = (id_ref){img->modules[i].id, "module", i};
    for (size_t i = 0; i < img->n_buffers; i++)
        refs[k++] = (id_ref){img->buffers[i].id, "buffer", i};
    for (size_t i = 0; i < img->n_queues; i++)
        refs[k++] = (id_ref){img->queues[i].id, "queue table: queue", i};
    qsort(refs, n, sizeof *refs, by_id);
    rochp_status st = ROCHP_OK;
    for (size_t i = 0; i < n && st == ROCHP_OK; i++) {
        if (refs[i].id == 0)
            st = rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s %zu: id 0", refs[i].kind,
                            refs[i].index + 1);
        else if (i > 0 && refs[i].id == refs[i - 1].id)
            st = rochp__fail(err, ROCHP_ERROR_MALFORMED,
                            "%s %zu: id %" PRIu64 " is also %s %zu's", refs[i].kind,
                            refs[i].index + 1, refs[i].id, refs[i - 1].kind,
                            refs[i - 1].index + 1);
    }
    free(refs);
    return st;
}

/* --- parse -------------------------------------------------------------------------------------- */
void persist_image_free(persist_image *img)
{
    if (!img)
        return;
    free(img->modules);
    free(img->buffers);
    free(img->queues);
    memset(img, 0, sizeof *img);
}

static rochp_status parse_sections(cursor *c, persist_image *img)
{
    rochp_status st = parse_user(c, img);
    for (size_t k = 0; k < img->n_modules && st == ROCHP_OK; k++)
        st = parse_module(c, img, k);
    for (size_t k = 0; k < img->n_buffers && st == ROCHP_OK; k++)
        st = parse_buffer(c, img, k);
    if (st == ROCHP_OK)
        st = parse_queues(c, img);
    if (st == ROCHP_OK && c->at != c->size)
        st = rochp__fail(c->err, ROCHP_ERROR_MALFORMED,
                        "queue table: %" PRIu64 " bytes after it, inside the file's size",
                        c->size - c->at);
    return st == ROCHP_OK ? ids_ok(img, c->err) : st;
}

rochp_status persist_parse(const uint8_t *data, size_t size, unsigned flags, persist_image *out,
                           rochp__error *err)
{
    memset(out, 0, sizeof *out);
    persist_image img = {0};
    rochp_status st = persist_parse_header(data, size, flags, &img.header, err);
    if (st != ROCHP_OK)
        return st;
    if (size != img.header.total_size)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                          "header: the file has %zu bytes, its header says %" PRIu64 "%s", size,
                          img.header.total_size, size < img.header.total_size ? " (truncated)" : "");
    /* header_fits bounded the counts by the size: these are smaller than the
     * sections they describe. */
    img.n_modules = (size_t)img.header.modules;
    img.n_buffers = (size_t)img.header.buffers;
    img.n_queues = (size_t)img.header.queues;
    img.modules = calloc(img.n_modules + 1, sizeof *img.modules);
    img.buffers = calloc(img.n_buffers + 1, sizeof *img.buffers);
    img.queues = calloc(img.n_queues + 1, sizeof *img.queues);
    if (!img.modules || !img.buffers || !img.queues) {
        persist_image_free(&img);
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "header: out of memory for the index");
    }
    cursor c = {.data = data, .size = size, .at = PERSIST_HEADER_BYTES, .flags = flags, .err = err};
    st = parse_sections(&c, &img);
    if (st != ROCHP_OK) {
        persist_image_free(&img);
        return st;
    }
    *out = img;
    return ROCHP_OK;
}

/* --- write -------------------------------------------------------------------------------------- */
uint64_t persist_image_size(const persist_image *img)
{
    uint64_t size = PERSIST_HEADER_BYTES + PERSIST_USER_HEAD + img->user_size +
                    PERSIST_QUEUES_HEAD + img->n_queues * (uint64_t)PERSIST_QUEUE_RECORD +
                    2 * PERSIST_SUM_BYTES;
    for (size_t i = 0; i < img->n_modules; i++)
        size += PERSIST_MODULE_HEAD + img->modules[i].size + PERSIST_SUM_BYTES;
    for (size_t i = 0; i < img->n_buffers; i++)
        size += PERSIST_BUFFER_HEAD + img->buffers[i].size + PERSIST_SUM_BYTES;
    return size;
}

static void head_start(uint8_t *head, const char *tag, uint64_t bulk_size)
{
    memcpy(head, tag, 4);
    put32(head + 4, 0);
    put64(head + 8, bulk_size);
}

static rochp_status write_section(const uint8_t *head, size_t head_size, const void *bulk,
                                  uint64_t bulk_size, persist_sink sink, void *arg,
                                  rochp__error *err)
{
    uint8_t sum[PERSIST_SUM_BYTES];
    put64(sum, section_sum(head, head_size, bulk, bulk_size));
    rochp_status st = sink(arg, head, head_size, err);
    if (st == ROCHP_OK && bulk_size)
        st = sink(arg, bulk, (size_t)bulk_size, err);
    return st == ROCHP_OK ? sink(arg, sum, sizeof sum, err) : st;
}

static void put_gfx(uint8_t *p, const char *gfx)
{
    memset(p, 0, PERSIST_GFX_LEN);
    size_t n = strnlen(gfx, PERSIST_GFX_LEN - 1);
    memcpy(p, gfx, n);
}

static rochp_status write_header(persist_image *img, persist_sink sink, void *arg,
                                 rochp__error *err)
{
    img->header = (persist_header){.total_size = persist_image_size(img),
                                   .user_size = img->user_size,
                                   .modules = img->n_modules,
                                   .buffers = img->n_buffers,
                                   .queues = img->n_queues};
    uint8_t h[PERSIST_HEADER_BYTES];
    memcpy(h, PERSIST_MAGIC, 8);
    put32(h + 8, PERSIST_VERSION);
    put32(h + 12, 0);
    put64(h + 16, img->header.total_size);
    put64(h + 24, img->header.user_size);
    put64(h + 32, img->header.modules);
    put64(h + 40, img->header.buffers);
    put64(h + 48, img->header.queues);
    put64(h + 56, XXH3_64bits(h, 56));
    return sink(arg, h, sizeof h, err);
}

static rochp_status write_queues(const persist_image *img, persist_sink sink, void *arg,
                                 rochp__error *err)
{
    uint8_t head[PERSIST_QUEUES_HEAD];
    head_start(head, TAG_QUEUES, img->n_queues * (uint64_t)PERSIST_QUEUE_RECORD);
    uint8_t *records = calloc(img->n_queues + 1, PERSIST_QUEUE_RECORD);
    if (!records)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "queue table: out of memory");
    for (size_t k = 0; k < img->n_queues; k++) {
        const persist_queue *q = &img->queues[k];
        uint8_t *p = records + k * PERSIST_QUEUE_RECORD;
        put64(p, q->id);
        put32(p + 8, q->mode);
        put32(p + 12, q->packets);
        put32(p + 16, q->kernarg_bytes);
        put32(p + 20, q->journal_length);
        put64(p + 24, q->ordinal);
        put_gfx(p + 32, q->gfx);
        put64(p + 64, q->next_id);
    }
    rochp_status st = write_section(head, sizeof head, records,
                                    img->n_queues * (uint64_t)PERSIST_QUEUE_RECORD, sink, arg,
                                    err);
    free(records);
    return st;
}

rochp_status persist_write(persist_image *img, persist_sink sink, void *arg, rochp__error *err)
{
    rochp_status st = write_header(img, sink, arg, err);
    uint8_t head[PERSIST_BUFFER_HEAD]; /* the largest head */
    if (st == ROCHP_OK) {
        head_start(head, TAG_USER, img->user_size);
        st = write_section(head, PERSIST_USER_HEAD, img->user, img->user_size, sink, arg, err);
    }
    for (size_t k = 0; k < img->n_modules && st == ROCHP_OK; k++) {
        const persist_module *m = &img->modules[k];
        head_start(head, TAG_MODULE, m->size);
        put64(head + 16, m->id);
        st = write_section(head, PERSIST_MODULE_HEAD, m->image, m->size, sink, arg, err);
    }
    for (size_t k = 0; k < img->n_buffers && st == ROCHP_OK; k++) {
        const persist_buffer *b = &img->buffers[k];
        head_start(head, TAG_BUFFER, b->size);
        put32(head + 4, b->flags);
        put64(head + 16, b->id);
        put64(head + 24, b->ordinal);
        put_gfx(head + 32, b->gfx);
        st = write_section(head, PERSIST_BUFFER_HEAD, b->bytes, b->size, sink, arg, err);
    }
    return st == ROCHP_OK ? write_queues(img, sink, arg, err) : st;
}
