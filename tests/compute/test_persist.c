/* Checkpoints in files: a save loaded into a second context gives the same
 * bytes in every buffer, the queue's ids going on, the application blob;
 * the file is laid out as documented (every checksum right); another
 * format version and a machine without the gfx target are refused by name;
 * rochp_checkpoint_save_path replaces a file whole or leaves it as it was,
 * with no temporary behind, even when the process is killed part way.  (Corrupt, truncated and forged files, and
 * loads that fail part way: test_persist_fail.c.) */
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pipeline_kernels.h"
#include "persist_util.h"
#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

#define N 2048u

/* The names in dir, sorted, joined by spaces. */
static void list_dir(const char *dir, char *out, size_t size)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, alphasort);
    REQUIRE(n >= 0);
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' || (strcmp(names[i]->d_name, ".") != 0 &&
                                           strcmp(names[i]->d_name, "..") != 0)) {
            size_t used = strlen(out);
            snprintf(out + used, size - used, "%s%s", used ? " " : "", names[i]->d_name);
        }
        free(names[i]);
    }
    free(names);
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    REQUIRE(f);
    REQUIRE(fseek(f, 0, SEEK_END) == 0);
    long n = ftell(f);
    REQUIRE(n >= 0 && fseek(f, 0, SEEK_SET) == 0);
    unsigned char *bytes = malloc((size_t)n + 1);
    REQUIRE(bytes && fread(bytes, 1, (size_t)n, f) == (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return bytes;
}

static void check_same_file(const char *path, const unsigned char *want, size_t want_size)
{
    size_t size;
    unsigned char *got = read_file(path, &size);
    CHECK_EQ_U64(size, want_size);
    CHECK(size == want_size && memcmp(got, want, size) == 0);
    free(got);
}

/* rochp_checkpoint_save_path: saves; every failure leaves the file there as
 * it was and nothing else in its directory. */
static void test_save_path(rochp_context *ctx, const unsigned char *file, size_t size,
                           const char *blob, size_t blob_size)
{
    char dir[256], path[300], sub[300], names[512];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "persist-path") == 0);
    snprintf(path, sizeof path, "%s/state.ckpt", dir);
    CHECK(rochp_checkpoint_save_path(ctx, NULL, NULL, 0) == ROCHP_ERROR_INVALID_ARGUMENT);
    REQUIRE(rochp_checkpoint_save_path(ctx, path, blob, blob_size) == ROCHP_OK);
    check_same_file(path, file, size); /* what rochp_checkpoint_save writes */
    list_dir(dir, names, sizeof names);
    CHECK_EQ_STR(names, "state.ckpt");
    struct stat sb;
    REQUIRE(stat(path, &sb) == 0);
    CHECK_EQ_U64(sb.st_mode & 0777, 0600);
    /* Replacing keeps the mode of the file replaced. */
    REQUIRE(chmod(path, 0644) == 0);
    REQUIRE(rochp_checkpoint_save_path(ctx, path, blob, blob_size) == ROCHP_OK);
    REQUIRE(stat(path, &sb) == 0);
    CHECK_EQ_U64(sb.st_mode & 0777, 0644);

    /* A write that fails part way (the file size limit: EFBIG). */
    struct rlimit old_fsize, small = {4096, 4096};
    REQUIRE(getrlimit(RLIMIT_FSIZE, &old_fsize) == 0);
    small.rlim_max = old_fsize.rlim_max;
    void (*old_xfsz)(int) = signal(SIGXFSZ, SIG_IGN);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
    rochp_status st = rochp_checkpoint_save_path(ctx, path, "other", 6);
    REQUIRE(setrlimit(RLIMIT_FSIZE, &old_fsize) == 0);
    signal(SIGXFSZ, old_xfsz);
    CHECK(st == ROCHP_ERROR_TOO_LARGE);
    CHECK_CONTAINS(rochp_last_error(), "state.ckpt (its unnamed temporary)");
    CHECK_CONTAINS(rochp_last_error(), "File too large");
    check_same_file(path, file, size);
    list_dir(dir, names, sizeof names);
    CHECK_EQ_STR(names, "state.ckpt");

    /* A rename that fails after the write (a directory where the file goes). */
    snprintf(sub, sizeof sub, "%s/sub", dir);
    REQUIRE(mkdir(sub, 0755) == 0);
    st = rochp_checkpoint_save_path(ctx, sub, blob, blob_size);
    CHECK(st == ROCHP_ERROR_IO);
    CHECK_CONTAINS(rochp_last_error(), "cannot rename the new checkpoint over");
    list_dir(dir, names, sizeof names);
    CHECK_EQ_STR(names, "state.ckpt sub");
    list_dir(sub, names, sizeof names);
    CHECK_EQ_STR(names, "");

    /* Directories no one may write in, root included; a missing one. */
    CHECK(rochp_checkpoint_save_path(ctx, "/proc/rochp-test.ckpt", blob, blob_size) != ROCHP_OK);
    CHECK_CONTAINS(rochp_last_error(), "cannot create /proc/rochp-test.ckpt.tmp.");
    snprintf(sub, sizeof sub, "%s/missing/state.ckpt", dir);
    CHECK(rochp_checkpoint_save_path(ctx, sub, blob, blob_size) == ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(rochp_last_error(), "cannot open the directory");
    list_dir(dir, names, sizeof names);
    CHECK_EQ_STR(names, "state.ckpt sub");
    check_same_file(path, file, size);

    /* A process killed while it writes (SIGXFSZ at the file size limit, as
     * an unplug's SIGBUS would) leaves the file as it was and nothing else. */
    /* The link's target, not /proc/self/exe itself: under valgrind that is
     * valgrind's own tool, while the target is this program. */
    char self[512];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    REQUIRE(len > 0);
    self[len] = '\0';
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        char *argv[] = {self, "--die-saving", path, NULL};
        execv(argv[0], argv);
        _exit(127);
    }
    int status;
    REQUIRE(waitpid(child, &status, 0) == child);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGXFSZ);
    if (!WIFSIGNALED(status))
        fprintf(stderr, "the saving child exited with %d\n", WEXITSTATUS(status));
    check_same_file(path, file, size);
    list_dir(dir, names, sizeof names);
    CHECK_EQ_STR(names, "state.ckpt sub");
    test_remove_tmpdir(dir);
}

/* The child of the test above: a checkpoint of 1 MiB saved over path with a
 * file size limit of 4 KiB, which kills it part way through the write. */
static int die_saving(const char *path)
{
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH; /* the parent's tree (ROCHP_SYSFS_ROOT) */
    rochp_context *ctx;
    rochp_device_info dev[2];
    size_t n = 0;
    rochp_buffer *b;
    static uint32_t words[1u << 18];
    if (rochp_context_create(&o, &ctx) != ROCHP_OK ||
        rochp_device_list(ctx, dev, 2, &n) != ROCHP_OK || n != 2 ||
        rochp_buffer_alloc(ctx, dev[0].id, sizeof words, &b) != ROCHP_OK ||
        rochp_buffer_write(b, 0, words, sizeof words) != ROCHP_OK ||
        rochp_checkpoint(ctx, 30 * SECOND, NULL) != ROCHP_OK)
        return 2;
    struct rlimit small = {4096, 4096}, no_core = {0, 0};
    if (setrlimit(RLIMIT_CORE, &no_core) != 0 || setrlimit(RLIMIT_FSIZE, &small) != 0)
        return 3;
    signal(SIGXFSZ, SIG_DFL);
    rochp_checkpoint_save_path(ctx, path, NULL, 0);
    return 4; /* not killed */
}

/* Another format version is refused by its number, before anything else. */
static void test_versions(rochp_context *ctx, const unsigned char *file, size_t size)
{
    unsigned char *bad = malloc(size);
    REQUIRE(bad);
    const uint32_t versions[] = {1, 3, 0x102};
    const char *says[] = {"checkpoint file version 1; this library reads 2",
                          "checkpoint file version 3; this library reads 2",
                          "checkpoint file version 258; this library reads 2"};
    for (int i = 0; i < 3; i++) {
        memcpy(bad, file, size);
        for (int b = 0; b < 4; b++)
            bad[8 + b] = (unsigned char)(versions[i] >> (8 * b));
        resign_header(bad);
        int fd = memfd_with(bad, size);
        rochp_restored *r = (rochp_restored *)bad;
        CHECK(rochp_checkpoint_load(ctx, fd, &r) == ROCHP_ERROR_MALFORMED);
        CHECK_CONTAINS(rochp_last_error(), says[i]);
        CHECK(r == NULL);
        close(fd);
    }
    free(bad);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--die-saving") == 0)
        return die_saving(argv[2]);
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "persist", "mi210", 2, "silent");
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);
    int fd = memfd_create("rochp-test", 0);
    REQUIRE(fd >= 0);
    CHECK(rochp_checkpoint_save(ctx, fd, NULL, 0) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "no checkpoint");
    CHECK(rochp_checkpoint_save(ctx, -1, NULL, 0) == ROCHP_ERROR_INVALID_ARGUMENT);

    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, CHAIN_CO, &m) == ROCHP_OK);
    rochp_buffer *b0, *b1, *h;
    uint32_t v0[N], v1[N], vh[N];
    for (uint32_t x = 0; x < N; x++) {
        v0[x] = x * 3u;
        v1[x] = x * 5u + 1;
        vh[x] = ~x;
    }
    REQUIRE(rochp_buffer_alloc(ctx, devs[0].id, sizeof v0, &b0) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, devs[1].id, sizeof v1, &b1) == ROCHP_OK);
    REQUIRE(rochp_buffer_alloc(ctx, ROCHP_HOST, sizeof vh, &h) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(b0, 0, v0, sizeof v0) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(b1, 0, v1, sizeof v1) == ROCHP_OK);
    REQUIRE(rochp_buffer_write(h, 0, vh, sizeof vh) == ROCHP_OK);
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 128;
    rochp_queue *q;
    REQUIRE(rochp_queue_create(ctx, devs[1].id, &o, &q) == ROCHP_OK);
    rochp_kernel *chain;
    REQUIRE(rochp_module_kernel(m, "chain_step", &chain) == ROCHP_OK);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(chain, q, &k) == ROCHP_OK);
    rochp_launch launch;
    REQUIRE(rochp_launch_init(&launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1}) ==
            ROCHP_OK);
    rochp_completion c;
    for (uint32_t s = 0; s < 7; s++) {
        chain_args a = {rochp_buffer_address(b1), N, s};
        REQUIRE(rochp_dispatch(q, k, &launch, &a, sizeof a, &c) == ROCHP_OK);
    }
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, NULL) == ROCHP_OK);
    for (uint32_t s = 0; s < 7; s++)
        for (uint32_t x = 0; x < N; x++)
            v1[x] = v1[x] * 3u + s + x;
    const char blob[] = "step 7";
    REQUIRE(rochp_checkpoint_save(ctx, fd, blob, sizeof blob) == ROCHP_OK);
    off_t size = lseek(fd, 0, SEEK_END);
    REQUIRE(size > 0);
    unsigned char *file = malloc((size_t)size);
    REQUIRE(file && pread(fd, file, (size_t)size, 0) == size);
    close(fd);
    uint64_t id0 = rochp_buffer_id(b0), id1 = rochp_buffer_id(b1), idh = rochp_buffer_id(h);
    uint64_t idq = rochp_queue_id(q), idm = rochp_module_id(m);
    CHECK(id0 && id1 && idh && idq && idm && id0 != id1);
    /* As documented: header, blob, the module, three buffers, the queue table. */
    file_section sections[MAX_SECTIONS];
    CHECK_EQ_U64(walk_file(file, (size_t)size, sections), 7);
    CHECK_EQ_U64(sections[1].bulk_size, sizeof blob);
    CHECK_EQ_STR(sections[2].name, "module 1 of 1");
    CHECK_EQ_U64(sections[3].bulk_size + sections[4].bulk_size + sections[5].bulk_size,
                 3 * N * 4);
    CHECK_EQ_U64(le64(file + 48), 1); /* queues */

    /* A second context loads it. */
    rochp_options opts;
    rochp_options_init(&opts);
    opts.hsa_runtime = HSASIM_PATH;
    rochp_context *ctx2;
    REQUIRE(rochp_context_create(&opts, &ctx2) == ROCHP_OK);
    fd = memfd_with(file, (size_t)size);
    rochp_restored *r = NULL;
    rochp_status st = rochp_checkpoint_load(ctx2, fd, &r);
    if (st != ROCHP_OK)
        fprintf(stderr, "load: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    CHECK_EQ_U64(lseek(fd, 0, SEEK_CUR), size); /* read to the checkpoint's end */
    close(fd);
    size_t user_size = 0;
    CHECK(memcmp(rochp_restored_user(r, &user_size), blob, sizeof blob) == 0);
    CHECK_EQ_U64(user_size, sizeof blob);
    rochp_buffer *r0 = rochp_restored_buffer(r, id0), *r1 = rochp_restored_buffer(r, id1),
                 *rh = rochp_restored_buffer(r, idh);
    rochp_queue *rq = rochp_restored_queue(r, idq);
    rochp_module *rm = rochp_restored_module(r, idm);
    REQUIRE(r0 && r1 && rh && rq && rm);
    CHECK(rochp_restored_buffer(r, 999999) == NULL);
    /* The same GPUs (by ordinal; ids are the new context's own). */
    rochp_device_info devs2[2];
    REQUIRE(rochp_device_list(ctx2, devs2, 2, &n) == ROCHP_OK && n == 2);
    CHECK_EQ_STR(devs2[0].pci, devs[0].pci);
    CHECK(rochp_buffer_device(r0) == devs2[0].id && rochp_buffer_device(r1) == devs2[1].id);
    CHECK(rochp_buffer_device(rh) == ROCHP_HOST);
    CHECK(rochp_queue_device(rq) == devs2[1].id);
    uint32_t got[N];
    REQUIRE(rochp_buffer_read(r0, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, v0, sizeof got) == 0);
    REQUIRE(rochp_buffer_read(r1, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, v1, sizeof got) == 0);
    REQUIRE(rochp_buffer_read(rh, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, vh, sizeof got) == 0);
    /* The queue's ids go on: the next packet is the 8th. */
    rochp_kernel *rchain;
    REQUIRE(rochp_module_kernel(rm, "chain_step", &rchain) == ROCHP_OK);
    REQUIRE(rochp_kernel_bind(rchain, rq, &k) == ROCHP_OK);
    chain_args a = {rochp_buffer_address(r1), N, 7};
    REQUIRE(rochp_dispatch(rq, k, &launch, &a, sizeof a, &c) == ROCHP_OK);
    CHECK_EQ_U64(c.id, 7);
    CHECK(rochp_completion_wait(&c, 30 * SECOND) == ROCHP_OK);
    for (uint32_t x = 0; x < N; x++)
        v1[x] = v1[x] * 3u + 7 + x;
    REQUIRE(rochp_buffer_read(r1, 0, got, sizeof got) == ROCHP_OK);
    CHECK(memcmp(got, v1, sizeof got) == 0);
    /* The loaded state counts as a checkpoint: only what changed is copied. */
    rochp_checkpoint_stats cs;
    REQUIRE(rochp_checkpoint(ctx2, 30 * SECOND, &cs) == ROCHP_OK);
    CHECK_EQ_U64(cs.buffers_copied, 1);
    rochp_restored_free(r);

    /* The same state saved twice is the same file. */
    size_t again_size;
    unsigned char *again = save_bytes(ctx, blob, sizeof blob, &again_size);
    CHECK(again_size == (size_t)size && memcmp(again, file, again_size) == 0);
    free(again);
    test_versions(ctx2, file, (size_t)size);
    test_save_path(ctx, file, (size_t)size, blob, sizeof blob);
    REQUIRE(rochp_context_destroy(ctx2) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);

    /* No GPU of the saved gfx target (an RX 7900 XTX machine). */
    ctx = test_sim_context(dir, sizeof dir, "persist-other", "rx7900xtx", 1, "silent");
    fd = memfd_with(file, (size_t)size);
    census none = take_census(ctx);
    CHECK(rochp_checkpoint_load(ctx, fd, &r) == ROCHP_ERROR_NO_TARGET);
    CHECK_CONTAINS(rochp_last_error(), "no present device with gfx target gfx90a for saved "
                                       "buffer ");
    CHECK_CENSUS(ctx, none);
    close(fd);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    free(file);
    return check_result();
}
