/* Checkpoint files that must be refused, and loads that fail part way.
 * Every one leaves the loading context holding what it held before
 * (buffers, bytes, modules, queues):
 *   - every byte of a small file flipped (XOR 0x01 and 0xff): each load is
 *     ROCHP_ERROR_MALFORMED naming the section the byte is in;
 *   - the file cut at every length: refused as truncated (memfd and pipe);
 *   - size fields set huge (checksums made right): refused before any
 *     allocation, under an address-space limit of what the process has plus
 *     256 MiB where the build allows one (not under ASan, TSan, valgrind);
 *   - well-formed files the library refuses late (queue options, a code
 *     object), after it made the module and buffers: all undone;
 *   - the only GPU unplugged while the file arrives: ROCHP_ERROR_NO_TARGET;
 *   - a GPU unplugged between placement and making (the loader's internal
 *     steps driven one by one): ROCHP_ERROR_DEVICE_LOST, all undone;
 *   - the same flips in a checkpoint rochp_resume takes back from rochp-run
 *     (a sealed memfd, whose buffers are read straight into their shadows
 *     and checked there): refused naming the section, as a file load;
 *     unflipped it resumes, bytes equal, with and without the seals. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "common/run_channel.h"

#include "resilience/persist_load.h"
#include "persist_util.h"
#include "sim_context.h"

#define WORDS 64u

/* A small state: the chain module, a buffer on each GPU and one on the
 * host, a journaled queue on the second GPU; checkpointed. */
static void make_state(rochp_context *ctx)
{
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);
    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &m) == ROCHP_OK);
    rochp_device_id where[3] = {devs[0].id, devs[1].id, ROCHP_HOST};
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t v[WORDS];
        for (uint32_t x = 0; x < WORDS; x++)
            v[x] = x * 2654435761u + i;
        rochp_buffer *b;
        REQUIRE(rochp_buffer_alloc(ctx, where[i], sizeof v, &b) == ROCHP_OK);
        REQUIRE(rochp_buffer_write(b, 0, v, sizeof v) == ROCHP_OK);
    }
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 64;
    rochp_queue *q;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &q) == ROCHP_OK);
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
}

static rochp_status load_fd(rochp_context *ctx, int fd)
{
    rochp_restored *r = (rochp_restored *)&r; /* must come back NULL */
    rochp_status st = rochp_checkpoint_load(ctx, fd, &r);
    CHECK(st == ROCHP_OK || r == NULL);
    if (st == ROCHP_OK)
        rochp_restored_free(r);
    return st;
}

static rochp_status load_memory(rochp_context *ctx, const unsigned char *bytes, size_t size)
{
    int fd = memfd_with(bytes, size);
    rochp_status st = load_fd(ctx, fd);
    close(fd);
    return st;
}

/* Through a pipe (no size to check against: the bytes as they come). */
static rochp_status load_pipe(rochp_context *ctx, const unsigned char *bytes, size_t size)
{
    int p[2];
    REQUIRE(pipe(p) == 0);
    REQUIRE(fcntl(p[1], F_SETPIPE_SZ, 1 << 20) >= (int)size);
    REQUIRE(write(p[1], bytes, size) == (ssize_t)size);
    close(p[1]);
    rochp_status st = load_fd(ctx, p[0]);
    close(p[0]);
    return st;
}

/* --- flips and cuts ----------------------------------------------------------------------------- */
static void test_flips(rochp_context *ctx, const unsigned char *file, size_t size)
{
    census before = take_census(ctx);
    file_section sec[MAX_SECTIONS];
    size_t n_sec = walk_file(file, size, sec), s = 0;
    int fd = memfd_with(file, size);
    const unsigned char masks[2] = {0x01, 0xff};
    size_t loads = 0, refused = 0, named = 0, by_sum = 0;
    for (size_t pos = 0; pos < size; pos++) {
        while (pos >= sec[s].end)
            s++;
        REQUIRE(s < n_sec);
        for (int m = 0; m < 2; m++) {
            unsigned char b = file[pos] ^ masks[m];
            REQUIRE(pwrite(fd, &b, 1, (off_t)pos) == 1 && lseek(fd, 0, SEEK_SET) == 0);
            rochp_status st = load_fd(ctx, fd);
            loads++;
            refused += st == ROCHP_ERROR_MALFORMED;
            const char *why = rochp_last_error();
            by_sum += strstr(why, "checksum mismatch") != NULL;
            if (strstr(why, sec[s].name))
                named++;
            else if (loads - named < 5)
                fprintf(stderr, "byte %zu (%s) ^ 0x%02x: %s\n", pos, sec[s].name, masks[m], why);
        }
        REQUIRE(pwrite(fd, &file[pos], 1, (off_t)pos) == 1);
    }
    close(fd);
    CHECK_EQ_U64(loads, 2 * size);
    CHECK_EQ_U64(refused, loads);
    CHECK_EQ_U64(named, loads);
    printf("flips: %zu loads over %zu bytes in %zu sections, %zu refused (%zu by a checksum), "
           "%zu naming their section\n",
           loads, size, n_sec, refused, by_sum, named);
    CHECK_CENSUS(ctx, before);
}

static void test_truncation(rochp_context *ctx, const unsigned char *file, size_t size)
{
    census before = take_census(ctx);
    int fd = memfd_with(file, size);
    size_t refused = 0;
    for (size_t len = size; len-- > 0;) {
        REQUIRE(ftruncate(fd, (off_t)len) == 0 && lseek(fd, 0, SEEK_SET) == 0);
        if (load_fd(ctx, fd) == ROCHP_ERROR_MALFORMED && strstr(rochp_last_error(), "truncated"))
            refused++;
        else
            fprintf(stderr, "cut at %zu: %s\n", len, rochp_last_error());
    }
    close(fd);
    CHECK_EQ_U64(refused, size);
    size_t cuts[] = {0, 1, 63, 64, 65, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        CHECK(load_pipe(ctx, file, cuts[i]) == ROCHP_ERROR_MALFORMED);
        CHECK_CONTAINS(rochp_last_error(), "truncated");
    }
    printf("truncation: %zu cuts of a memfd and 7 of a pipe refused\n", refused);
    CHECK_CENSUS(ctx, before);
}

/* --- huge sizes --------------------------------------------------------------------------------- */
static bool address_limit_usable(void)
{
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false; /* their shadow memory needs the address space */
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    return false;
#endif
#endif
    const char *preload = getenv("LD_PRELOAD");
    return !(preload && strstr(preload, "vgpreload")); /* valgrind */
}

static uint64_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    REQUIRE(f);
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %llu kB", &kb) == 1)
            break;
    fclose(f);
    REQUIRE(kb > 0);
    return kb * 1024;
}

typedef struct forgery {
    const char *what;
    size_t at;     /* the u64 field to set */
    uint64_t value;
    bool header;   /* re-sign the header after */
    const char *says;
} forgery;

static void test_huge_sizes(rochp_context *ctx, const unsigned char *file, size_t size)
{
    census before = take_census(ctx);
    file_section sec[MAX_SECTIONS];
    size_t n_sec = walk_file(file, size, sec);
    const uint64_t g256 = 256ull << 30;
    const forgery forged[] = {
        {"total size", 16, g256, true, "its header says 274877906944 (truncated)"},
        {"user bytes", 24, 1ull << 62, true, "cannot fit in"},
        {"modules", 32, 1ull << 33, true, "cannot fit in"},
        {"buffers", 40, 1ull << 40, true, "cannot fit in"},
        {"queues", 48, UINT64_MAX, true, "cannot fit in"},
        {"user blob", sec[1].start + 8, 1ull << 63, false, "user blob: 9223372036854775808 bytes"},
        {"module", sec[2].start + 8, UINT64_MAX, false, "module 1 of 1: 18446744073709551615 bytes"},
        {"buffer", sec[3].start + 8, g256, false, "buffer 1 of 3 (id "},
        {"queue table", sec[n_sec - 1].start + 8, 1ull << 40, false, "queue table: 1099511627776"},
    };
    unsigned char *bad = malloc(size);
    REQUIRE(bad);
    struct rlimit old, low;
    bool limited = address_limit_usable();
    REQUIRE(getrlimit(RLIMIT_AS, &old) == 0);
    low = old;
    low.rlim_cur = vm_size() + (256ull << 20);
    if (limited)
        REQUIRE(setrlimit(RLIMIT_AS, &low) == 0);
    for (size_t i = 0; i < sizeof forged / sizeof *forged; i++) {
        memcpy(bad, file, size);
        put_le64(bad + forged[i].at, forged[i].value);
        if (forged[i].header)
            resign_header(bad);
        for (int via_pipe = 0; via_pipe < 2; via_pipe++) {
            rochp_status st = via_pipe ? load_pipe(ctx, bad, size) : load_memory(ctx, bad, size);
            if (st != ROCHP_ERROR_MALFORMED || !strstr(rochp_last_error(), forged[i].says))
                fprintf(stderr, "%s forged huge (%s): %s\n", forged[i].what,
                        via_pipe ? "pipe" : "memfd", rochp_last_error());
            CHECK(st == ROCHP_ERROR_MALFORMED);
            CHECK_CONTAINS(rochp_last_error(), forged[i].says);
        }
    }
    if (limited)
        REQUIRE(setrlimit(RLIMIT_AS, &old) == 0);
    printf("huge sizes: 9 forged fields refused by memfd and pipe%s\n",
           limited ? ", within 256 MiB of address space" : "");
    free(bad);
    CHECK_CENSUS(ctx, before);
}

/* --- refused late ------------------------------------------------------------------------------- */
/* Well-formed files (checksums made right) with what only making the
 * objects finds wrong, or with no place for them. */
static void test_refused_late(rochp_context *ctx, const unsigned char *file, size_t size)
{
    census before = take_census(ctx);
    file_section sec[MAX_SECTIONS];
    size_t n_sec = walk_file(file, size, sec);
    const file_section *queues = &sec[n_sec - 1], *module = &sec[2], *buf2 = &sec[4];
    unsigned char *bad = malloc(size);
    REQUIRE(bad);

    /* 8 KiB kernarg slots: a power of two, beyond what rochp_queue_create
     * takes -- found after the module and the three buffers were made. */
    memcpy(bad, file, size);
    unsigned char *kernarg_bytes = bad + queues->start + 16 + 16;
    CHECK_EQ_U64(le64(kernarg_bytes) & 0xffffffffu, 256);
    memcpy(kernarg_bytes, "\x00\x20\x00\x00", 4);
    resign_section(bad, queues);
    CHECK(load_memory(ctx, bad, size) == ROCHP_ERROR_MALFORMED);
    CHECK_CONTAINS(rochp_last_error(), "queue 1 of 1 (id ");
    CHECK_CONTAINS(rochp_last_error(), "kernarg_bytes 8192");
    CHECK_CENSUS(ctx, before);

    /* A code object that is not one. */
    memcpy(bad, file, size);
    memset(bad + module->start + 24, 0, 64);
    resign_section(bad, module);
    CHECK(load_memory(ctx, bad, size) == ROCHP_ERROR_MALFORMED);
    CHECK_CONTAINS(rochp_last_error(), "module 1 of 1 (id ");
    CHECK_CENSUS(ctx, before);

    /* Two buffers with one id. */
    memcpy(bad, file, size);
    memcpy(bad + buf2->start + 16, bad + sec[3].start + 16, 8);
    resign_section(bad, buf2);
    CHECK(load_memory(ctx, bad, size) == ROCHP_ERROR_MALFORMED);
    CHECK_CONTAINS(rochp_last_error(), "is also buffer");

    /* A GPU of a gfx target this machine lacks, for the second buffer. */
    memcpy(bad, file, size);
    uint64_t ordinal = le64(bad + buf2->start + 24);
    if (ordinal == 0) /* the host's: take the first buffer */
        buf2 = &sec[3];
    memset(bad + buf2->start + 32, 0, 32);
    memcpy(bad + buf2->start + 32, "gfx1100", 7);
    resign_section(bad, buf2);
    CHECK(load_memory(ctx, bad, size) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "gfx target gfx1100 for saved buffer");
    free(bad);
    CHECK_CENSUS(ctx, before);
}

/* --- rochp_resume ------------------------------------------------------------------------------ */
#define ALL_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)

/* One rochp_resume, rochp-run played by this test on the other end of the
 * channel (sup): its answer queued before the call, the program's
 * messages read after it. */
static rochp_status resume_once(rochp_context *ctx, int sup, const unsigned char *bytes,
                                size_t size, int seals, rochp_restored **out)
{
    int mfd = memfd_create("rochp-test-resume", MFD_ALLOW_SEALING);
    REQUIRE(mfd >= 0 && write(mfd, bytes, size) == (ssize_t)size);
    REQUIRE(seals == 0 || fcntl(mfd, F_ADD_SEALS, seals) == 0);
    run_msg reply = {.magic = RUN_CHANNEL_MAGIC, .kind = RUN_MSG_RESUME_REPLY, .step = 42};
    REQUIRE(rochp__run_send(sup, &reply, mfd) == 0);
    close(mfd);
    *out = (rochp_restored *)out; /* must come back NULL on failure */
    rochp_status st = rochp_resume(ctx, out);
    CHECK(st == ROCHP_OK || *out == NULL);
    run_msg m;
    int fd;
    pid_t pid;
    REQUIRE(rochp__run_recv(sup, &m, &fd, &pid) == 0);
    CHECK_EQ_U64(m.kind, RUN_MSG_RESUME);
    if (st == ROCHP_OK) {
        REQUIRE(rochp__run_recv(sup, &m, &fd, &pid) == 0);
        CHECK_EQ_U64(m.kind, RUN_MSG_RESUMED);
        CHECK_EQ_U64(m.step, 42);
    }
    return st;
}

static void test_resume(rochp_context *ctx, const unsigned char *file, size_t size)
{
    int sv[2];
    REQUIRE(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    char fd_text[16];
    snprintf(fd_text, sizeof fd_text, "%d", sv[0]);
    REQUIRE(setenv(RUN_CHANNEL_ENV, fd_text, 1) == 0);
    census before = take_census(ctx);
    file_section sec[MAX_SECTIONS];
    size_t n_sec = walk_file(file, size, sec), s = 0;
    unsigned char *bad = malloc(size);
    REQUIRE(bad);
    memcpy(bad, file, size);
    /* Every byte of the buffer sections (read into shadows), every 31st
     * elsewhere (read through the mapping). */
    size_t loads = 0, named = 0;
    for (size_t pos = 0; pos < size; pos++) {
        while (pos >= sec[s].end)
            s++;
        REQUIRE(s < n_sec);
        if (strncmp(sec[s].name, "buffer", 6) != 0 && pos % 31 != 0)
            continue;
        bad[pos] ^= 0xff;
        rochp_restored *r;
        rochp_status st = resume_once(ctx, sv[1], bad, size, ALL_SEALS, &r);
        bad[pos] = file[pos];
        loads++;
        const char *why = rochp_last_error();
        if (st == ROCHP_ERROR_MALFORMED && strstr(why, sec[s].name))
            named++;
        else if (loads - named < 5)
            fprintf(stderr, "resume: byte %zu (%s) ^ 0xff: %d %s\n", pos, sec[s].name, st, why);
    }
    CHECK_EQ_U64(named, loads);
    CHECK_CENSUS(ctx, before);
    printf("resume: %zu flipped checkpoints refused naming their section\n", loads);

    /* Whole, sealed (the fast path) and not (read as a file): the bytes. */
    for (int sealed = 1; sealed >= 0; sealed--) {
        rochp_restored *r;
        REQUIRE(resume_once(ctx, sv[1], file, size, sealed ? ALL_SEALS : 0, &r) == ROCHP_OK);
        size_t buffers = 0;
        for (size_t k = 0; k < n_sec; k++) {
            if (strncmp(sec[k].name, "buffer", 6) != 0)
                continue;
            rochp_buffer *b = rochp_restored_buffer(r, le64(file + sec[k].start + 16));
            REQUIRE(b);
            unsigned char got[WORDS * 4];
            REQUIRE(sec[k].bulk_size == sizeof got);
            REQUIRE(rochp_buffer_read(b, 0, got, sizeof got) == ROCHP_OK);
            CHECK(memcmp(got, file + sec[k].start + 64, sizeof got) == 0);
            /* The loaded state is a checkpoint: written over, a restore
             * gives the bytes back (sealed: from the kept memfd itself,
             * through staging memory). */
            unsigned char junk[WORDS * 4];
            memset(junk, 0x5a, sizeof junk);
            REQUIRE(rochp_buffer_write(b, 0, junk, sizeof junk) == ROCHP_OK);
            REQUIRE(rochp_checkpoint_restore(ctx, NULL) == ROCHP_OK);
            REQUIRE(rochp_buffer_read(b, 0, got, sizeof got) == ROCHP_OK);
            CHECK(memcmp(got, file + sec[k].start + 64, sizeof got) == 0);
            buffers++;
        }
        CHECK_EQ_U64(buffers, 3);
        rochp_restored_free(r);
    }
    census now = take_census(ctx);
    CHECK_EQ_U64(now.buffers, before.buffers + 6);
    free(bad);
    REQUIRE(unsetenv(RUN_CHANNEL_ENV) == 0);
    close(sv[0]);
    close(sv[1]);
}

/* --- GPUs lost during a load -------------------------------------------------------------------- */
typedef struct feeder {
    int fd;
    const unsigned char *file;
    size_t size;
    const char *dir, *pci;
    rochp_context *ctx;
} feeder;

/* All but the last byte, then the GPU goes (and the context sees it), then
 * the last byte: the loader is still reading when the GPU leaves. */
static void *feed(void *arg)
{
    feeder *f = arg;
    for (size_t at = 0; at + 1 < f->size;) {
        ssize_t n = write(f->fd, f->file + at, f->size - 1 - at);
        REQUIRE(n > 0);
        at += (size_t)n;
    }
    rochp__error err = {0};
    REQUIRE(vtree_unplug(f->dir, f->pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(f->ctx) == ROCHP_OK);
    REQUIRE(write(f->fd, f->file + f->size - 1, 1) == 1);
    close(f->fd);
    return NULL;
}

static void test_unplug_while_reading(const unsigned char *file, size_t size)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "persist-read", "mi210", 1, "silent");
    rochp_device_info dev;
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, &dev, 1, &n) == ROCHP_OK && n == 1);
    census before = take_census(ctx);
    int p[2];
    REQUIRE(pipe(p) == 0);
    feeder f = {p[1], file, size, dir, dev.pci, ctx};
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, feed, &f) == 0);
    CHECK(load_fd(ctx, p[0]) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "no present device with gfx target gfx90a");
    REQUIRE(pthread_join(t, NULL) == 0);
    close(p[0]);
    CHECK_CENSUS(ctx, before);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Placement decided, then the second GPU goes before the objects are
 * made: what was made on the first is undone. */
static void test_unplug_while_making(const unsigned char *file, size_t size)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "persist-make", "mi210", 2, "silent");
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);
    census before = take_census(ctx);
    persist_image img;
    rochp__error err = {0};
    REQUIRE(persist_parse(file, size, PERSIST_CHECK_SUMS, &img, &err) == ROCHP_OK);
    persist_plan plan;
    REQUIRE(persist_plan_make(ctx, &img, &plan) == ROCHP_OK);
    size_t on_second = 0, before_it = 0;
    for (size_t k = 0; k < img.n_buffers; k++) {
        if (plan.buffers[k] == devs[1].id)
            on_second++;
        else if (!on_second)
            before_it++;
    }
    REQUIRE(on_second == 1);
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    rochp_restored *r = (rochp_restored *)&r;
    persist_source src = {NULL, -1};
    CHECK(persist_instantiate(ctx, &img, &plan, &src, &r) == ROCHP_ERROR_DEVICE_LOST);
    CHECK(r == NULL);
    CHECK_CONTAINS(rochp_last_error(), "has been lost");
    printf("unplugged while making: the module and %zu buffer(s) made before it undone\n",
           before_it);
    persist_plan_free(&plan);
    persist_image_free(&img);
    CHECK_CENSUS(ctx, before);

    /* Loaded afresh, everything goes on the GPU that is left. */
    int fd = memfd_with(file, size);
    REQUIRE(rochp_checkpoint_load(ctx, fd, &r) == ROCHP_OK);
    close(fd);
    census now = take_census(ctx);
    CHECK_EQ_U64(now.buffers, before.buffers + 3);
    CHECK_EQ_U64(now.bytes, before.bytes + 3 * WORDS * 4);
    CHECK_EQ_U64(now.modules, before.modules + 1);
    CHECK_EQ_U64(now.queues, before.queues + 1);
    rochp_restored_free(r);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

int main(void)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "persist-fail", "mi210", 2, "silent");
    make_state(ctx);
    const char blob[] = "progress";
    size_t size;
    unsigned char *file = save_bytes(ctx, blob, sizeof blob, &size);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);

    /* The loading context holds a loaded copy already: refused loads must
     * leave it exactly so. */
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    REQUIRE(rochp_context_create(&o, &ctx) == ROCHP_OK);
    REQUIRE(load_memory(ctx, file, size) == ROCHP_OK);
    census loaded = take_census(ctx);
    CHECK_EQ_U64(loaded.buffers, 3);
    CHECK_EQ_U64(loaded.modules, 1);
    CHECK_EQ_U64(loaded.queues, 1);

    test_truncation(ctx, file, size);
    test_flips(ctx, file, size);
    test_huge_sizes(ctx, file, size);
    test_refused_late(ctx, file, size);
    CHECK_CENSUS(ctx, loaded);
    test_resume(ctx, file, size);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);

    test_unplug_while_reading(file, size);
    test_unplug_while_making(file, size);
    free(file);
    return check_result();
}
