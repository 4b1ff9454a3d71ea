/* libFuzzer target: the checkpoint file parser (lib/resilience/persist_format.c)
 * on arbitrary bytes, once with its checksums and once without (so that
 * mutations reach the structure behind them).  What parses must write back
 * to the same bytes -- the checksums apart when they were not checked, and
 * then the rewrite must pass them; what does not is ROCHP_ERROR_MALFORMED
 * with a message that starts with the section it is about. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "resilience/persist_format.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct membuf {
    uint8_t *data;
    size_t size, cap;
} membuf;

static rochp_status to_memory(void *arg, const void *data, size_t size, rochp__error *err)
{
    membuf *m = arg;
    if (m->size + size > m->cap) {
        size_t cap = (m->size + size) * 2;
        uint8_t *grown = realloc(m->data, cap);
        if (!grown)
            return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
        m->data = grown;
        m->cap = cap;
    }
    memcpy(m->data + m->size, data, size);
    m->size += size;
    return ROCHP_OK;
}

static int names_section(const char *message)
{
    static const char *const sections[] = {"header: ",  "user blob: ", "module ",
                                           "buffer ",   "queue table: "};
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        if (strncmp(message, sections[i], strlen(sections[i])) == 0)
            return 1;
    return 0;
}

/* The image written again; the bytes it makes. */
static membuf rewrite(persist_image *img)
{
    membuf out = {0};
    rochp__error err = {0};
    if (persist_write(img, to_memory, &out, &err) != ROCHP_OK)
        abort();
    if (out.size != persist_image_size(img) || out.size != img->header.total_size)
        abort();
    return out;
}

static void one_pass(const uint8_t *data, size_t size, unsigned flags)
{
    persist_image img;
    rochp__error err = {0};
    rochp_status st = persist_parse(data, size, flags, &img, &err);
    if (st != ROCHP_OK) {
        if ((st != ROCHP_ERROR_MALFORMED && st != ROCHP_ERROR_OUT_OF_MEMORY) ||
            !names_section(err.message))
            abort();
        return;
    }
    persist_header h;
    if (persist_parse_header(data, size, flags, &h, &err) != ROCHP_OK || h.total_size != size)
        abort();
    membuf out = rewrite(&img);
    if (out.size != size)
        abort();
    if (flags & PERSIST_CHECK_SUMS) {
        if (memcmp(out.data, data, size) != 0)
            abort();
    } else {
        /* Checksums made right: the rewrite passes them and is a fixed point. */
        persist_image again;
        if (persist_parse(out.data, out.size, PERSIST_CHECK_SUMS, &again, &err) != ROCHP_OK ||
            again.n_modules != img.n_modules || again.n_buffers != img.n_buffers ||
            again.n_queues != img.n_queues)
            abort();
        membuf twice = rewrite(&again);
        if (twice.size != out.size || memcmp(twice.data, out.data, out.size) != 0)
            abort();
        free(twice.data);
        persist_image_free(&again);
    }
    free(out.data);
    persist_image_free(&img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    one_pass(data, size, PERSIST_CHECK_SUMS);
    one_pass(data, size, 0);
    return 0;
}
