/* Writes seed inputs for fuzz_checkpoint into the directory given: small
 * checkpoint files made by the library's own writer (persist_write), from
 * the empty one to several of each section with every placement kind. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "resilience/persist_format.h"

static rochp_status to_file(void *arg, const void *data, size_t size, rochp__error *err)
{
    return fwrite(data, 1, size, arg) == size ? ROCHP_OK
                                              : rochp__fail(err, ROCHP_ERROR_IO, "short write");
}

static int write_seed(const char *dir, const char *name, persist_image *img)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    rochp__error err = {0};
    if (!f || persist_write(img, to_file, f, &err) != ROCHP_OK || fclose(f) != 0) {
        fprintf(stderr, "make_checkpoint_seeds: %s: %s\n", path,
                err.message[0] ? err.message : strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_checkpoint_seeds DIR\n");
        return 2;
    }
    const char *dir = argv[1];
    char parent[4096];
    snprintf(parent, sizeof parent, "%s", dir);
    for (char *p = parent + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            mkdir(parent, 0755);
            *p = '/';
        }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        return 1;
    }
    static const uint8_t code[48] = "\x7f" "ELF fake code object for the parser";
    static const uint8_t bytes[4][24] = {"host words", "gpu words", "second gpu", "other gfx"};
    persist_module modules[3] = {{1, code, sizeof code}, {2, code, 7}, {3, code + 8, 40}};
    persist_buffer buffers[4] = {
        {.id = 4, .ordinal = 0, .gfx = "", .bytes = bytes[0], .size = 16},
        {.id = 5, .ordinal = 1, .gfx = "gfx90a", .bytes = bytes[1], .size = 24},
        {.id = 6, .ordinal = 2, .gfx = "gfx90a:sramecc+:xnack-", .bytes = bytes[2], .size = 1},
        {.id = 7, .ordinal = 1, .gfx = "gfx1100", .bytes = bytes[3], .size = 8},
    };
    persist_queue queues[3] = {
        {.id = 8, .mode = PERSIST_QUEUE_JOURNALED, .packets = 128, .kernarg_bytes = 256,
         .journal_length = 2048, .ordinal = 1, .gfx = "gfx90a", .next_id = 7},
        {.id = 9, .mode = PERSIST_QUEUE_PLAIN, .packets = 1024, .kernarg_bytes = 64,
         .ordinal = 2, .gfx = "gfx90a", .next_id = 0},
        {.id = 10, .mode = PERSIST_QUEUE_JOURNALED, .packets = 64, .kernarg_bytes = 16,
         .journal_length = 64, .ordinal = 1, .gfx = "gfx1100", .next_id = 123456789},
    };
    persist_image empty = {0};
    persist_image user = {.user = (const uint8_t *)"step 7", .user_size = 7};
    persist_image one = {.user = (const uint8_t *)"p", .user_size = 1, .modules = modules,
                         .n_modules = 1, .buffers = buffers, .n_buffers = 2, .queues = queues,
                         .n_queues = 1};
    persist_image many = {.user = bytes[0], .user_size = 24, .modules = modules, .n_modules = 3,
                          .buffers = buffers, .n_buffers = 4, .queues = queues, .n_queues = 3};
    return write_seed(dir, "empty", &empty) | write_seed(dir, "user-only", &user) |
           write_seed(dir, "one-of-each", &one) | write_seed(dir, "several", &many);
}
