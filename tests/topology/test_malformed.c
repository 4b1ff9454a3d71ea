/* topo_snapshot_read on hand-made trees that are broken in the ways a
 * filesystem can be: each must fail with a specific status and a message
 * naming the offending file, promptly, without crashing or hanging. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "topology/file_read.h"
#include "topology/snapshot.h"

/* A hang (a FIFO that blocks, a loop followed forever) must fail the test
 * with the case's name rather than wait for the CTest timeout. */
#define CASE_SECONDS 20

static char base[1024]; /* scratch directory; short so that paths below it fit PATH_MAX */
static const char *current_case = "";

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "test_malformed: no return within the time limit in case: ";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    ignored = write(2, current_case, strlen(current_case));
    ignored = write(2, "\n", 1);
    (void)ignored;
    _exit(1);
}

static void die(const char *what, const char *path)
{
    fprintf(stderr, "test setup: %s %s: %s\n", what, path, strerror(errno));
    exit(1);
}

/* mkdir -p root/rel */
static void mk(const char *root, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            die("mkdir", path);
        *p = '/';
    }
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        die("mkdir", path);
}

static void parent_of(const char *root, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - rel), rel);
    mk(root, dir);
}

static void put_bytes(const char *root, const char *rel, const void *buf, size_t len)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    parent_of(root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        die("create", path);
    if (len && write(fd, buf, len) != (ssize_t)len)
        die("write", path);
    close(fd);
}

static void put(const char *root, const char *rel, const char *text)
{
    put_bytes(root, rel, text, strlen(text));
}

static void rm_entry(const char *root, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    if (remove(path) != 0)
        die("remove", path);
}

static int rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb, (void)type, (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "cleanup: remove %s: %s\n", path, strerror(errno));
    return 0;
}

/* rm -r root/rel; FTW_PHYS: never follow the planted symlinks out of base. */
static void rm_tree(const char *root, const char *rel)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void cleanup(void)
{
    if (*base)
        nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void link_to(const char *root, const char *rel, const char *target)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    parent_of(root, rel);
    if (symlink(target, path) != 0)
        die("symlink", path);
}

static const char cpu_props[] = "cpu_cores_count 96\n"
                                "simd_count 0\n"
                                "mem_banks_count 0\n"
                                "io_links_count 1\n"
                                "vendor_id 0\n"
                                "device_id 0\n"
                                "location_id 0\n"
                                "domain 0\n";

static const char gpu_props[] = "cpu_cores_count 0\n"
                                "simd_count 304\n"
                                "mem_banks_count 1\n"
                                "io_links_count 1\n"
                                "gfx_target_version 90402\n"
                                "vendor_id 4098\n"
                                "device_id 29857\n"
                                "location_id 2561\n"
                                "domain 1\n"
                                "drm_render_minor 129\n"
                                "hive_id 15188982192727901047\n"
                                "local_mem_size 0\n"
                                "unique_id 16404946649897475633\n";

static const char link_props[] = "type 2\nnode_from 1\nnode_to 0\nweight 20\n";

/* A fresh directory under base holding a small valid tree: a CPU node 0 and a
 * GPU node 1 with every optional file.  Cases then break one thing. */
static char *new_tree(const char *name, bool with_generation)
{
    char *root = malloc(PATH_MAX);
    if (!root)
        die("malloc", name);
    snprintf(root, PATH_MAX, "%s/%s", base, name);
    if (mkdir(root, 0755) != 0)
        die("mkdir", root);
    if (with_generation)
        put(root, "topology/generation_id", "7\n");
    put(root, "topology/system_properties", "platform_oem 0\nplatform_id 0\nplatform_rev 0\n");
    put(root, "topology/nodes/0/properties", cpu_props);
    put(root, "topology/nodes/0/gpu_id", "0\n");
    put(root, "topology/nodes/0/name", "\n");
    put(root, "topology/nodes/0/io_links/0/properties", link_props);
    put(root, "topology/nodes/1/properties", gpu_props);
    put(root, "topology/nodes/1/gpu_id", "41657\n");
    put(root, "topology/nodes/1/name", "ip discovery\n");
    put(root, "topology/nodes/1/mem_banks/0/properties",
        "heap_type 1\nsize_in_bytes 51539607552\nflags 0\nwidth 8192\nmem_clk_max 1300\n");
    put(root, "topology/nodes/1/mem_banks/0/used_memory", "14102528\n");
    put(root, "topology/nodes/1/mem_banks/1/properties", "heap_type 0\nsize_in_bytes 4096\n");
    put(root, "topology/nodes/1/io_links/0/properties", link_props);
    mk(root, "topology/nodes/1/caches/0");
    mk(root, "topology/nodes/1/caches/1");
    return root;
}

static rochp_status timed_read(const char *name, const char *root, topo_snapshot **snap,
                               rochp__error *err)
{
    current_case = name;
    alarm(CASE_SECONDS);
    rochp_status st = topo_snapshot_read(root, snap, err);
    alarm(0);
    return st;
}

/* The read must fail with want; the message must hold root/topology/rel and,
 * when line > 0, "root/topology/rel:line:". */
static void expect_error(const char *name, const char *root, rochp_status want, const char *rel,
                         unsigned line)
{
    char where[PATH_MAX + 32];
    int n = snprintf(where, sizeof where, "%s/topology%s%s", root, *rel ? "/" : "", rel);
    if (line)
        snprintf(where + n, sizeof where - (size_t)n, ":%u:", line);
    topo_snapshot *snap = (topo_snapshot *)1;
    rochp__error err = {0};
    rochp_status st = timed_read(name, root, &snap, &err);
    if (st != want || err.status != want || !strstr(err.message, where) || snap != NULL) {
        fprintf(stderr,
                "case %s: expected status %d (%s) naming '%s'\n"
                "         got status %d, err.status %d, snapshot %s, message '%s'\n",
                name, want, rochp_status_string(want), where, st, err.status,
                snap ? "set" : "NULL", err.message);
        check_failures++;
    }
    if (st == ROCHP_OK)
        topo_snapshot_free(snap);
}

/* For trees that do not change while read: any failure but BUSY (which
 * claims generation_id kept moving), naming root/topology/rel. */
static void expect_stable_error(const char *name, const char *root, const char *rel)
{
    char where[PATH_MAX + 32];
    snprintf(where, sizeof where, "%s/topology/%s", root, rel);
    topo_snapshot *snap = NULL;
    rochp__error err = {0};
    rochp_status st = timed_read(name, root, &snap, &err);
    if (st == ROCHP_OK || st == ROCHP_ERROR_BUSY || err.status != st ||
        !strstr(err.message, where)) {
        fprintf(stderr,
                "case %s: expected a failure other than BUSY naming '%s' (the tree is static)\n"
                "         got status %d (%s), err.status %d, message '%s'\n",
                name, where, st, rochp_status_string(st), err.status, err.message);
        check_failures++;
    }
    if (st == ROCHP_OK)
        topo_snapshot_free(snap);
}

static topo_snapshot *expect_ok(const char *name, const char *root)
{
    topo_snapshot *snap = NULL;
    rochp__error err = {0};
    rochp_status st = timed_read(name, root, &snap, &err);
    if (st != ROCHP_OK || !snap) {
        fprintf(stderr, "case %s: expected success, got %d: %s\n", name, st, err.message);
        check_failures++;
        return NULL;
    }
    return snap;
}

/* --- broken properties files ------------------------------------------------ */

static void test_properties_content(void)
{
    char *root = new_tree("empty_properties", true);
    put(root, "topology/nodes/1/properties", "");
    expect_error("empty properties", root, ROCHP_ERROR_MALFORMED, "nodes/1/properties", 1);
    free(root);

    /* Fixed-seed bytes: the same "random" file on every run.  The first byte is
     * not a key character, so the parser must stop on line 1. */
    unsigned char junk[4096];
    uint32_t x = 12345;
    for (size_t i = 0; i < sizeof junk; i++) {
        x = x * 1103515245u + 12345u;
        junk[i] = (unsigned char)(x >> 16);
    }
    junk[0] = 0xff;
    root = new_tree("garbage_properties", true);
    put_bytes(root, "topology/nodes/1/properties", junk, sizeof junk);
    expect_error("garbage properties", root, ROCHP_ERROR_MALFORMED, "nodes/1/properties", 1);
    free(root);

    root = new_tree("huge_number", true);
    put(root, "topology/nodes/1/properties",
        "cpu_cores_count 0\nsimd_count 4\nunique_id 99999999999999999999999\n");
    expect_error("huge number", root, ROCHP_ERROR_TOO_LARGE, "nodes/1/properties", 3);
    free(root);

    /* location_id must be a PCI bus/device/function: 16 bits. */
    root = new_tree("location_17_bits", true);
    put(root, "topology/nodes/1/properties",
        "cpu_cores_count 0\nsimd_count 4\nlocation_id 70000\ndomain 0\n");
    expect_error("location_id 70000", root, ROCHP_ERROR_MALFORMED, "nodes/1/properties", 0);
    free(root);
}

static void test_properties_size(void)
{
    char *root = new_tree("100mb_properties", true);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/topology/nodes/1/properties", root);
    int fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    if (fd < 0 || ftruncate(fd, 100 * 1024 * 1024) != 0)
        die("truncate", path);
    close(fd);
    expect_error("100 MB properties", root, ROCHP_ERROR_TOO_LARGE, "nodes/1/properties", 0);
    free(root);

    /* TOPO_FILE_MAX is "the largest file the topology reader accepts": a
     * valid file of exactly that size must read, one byte more must not. */
    static char big[TOPO_FILE_MAX + 1];
    const char head[] = "cpu_cores_count 0\nsimd_count 4\nlocation_id 768";
    memset(big, ' ', sizeof big);
    memcpy(big, head, sizeof head - 1);
    big[TOPO_FILE_MAX - 1] = '\n';
    root = new_tree("exactly_max_properties", true);
    put_bytes(root, "topology/nodes/1/properties", big, TOPO_FILE_MAX);
    topo_snapshot *snap = expect_ok("properties of exactly TOPO_FILE_MAX bytes", root);
    if (snap) {
        const topo_node *n = topo_snapshot_node(snap, 1);
        CHECK(n && n->kind == TOPO_KIND_GPU);
        CHECK_EQ_STR(n ? n->pci : NULL, "0000:03:00.0");
        topo_snapshot_free(snap);
    }
    big[TOPO_FILE_MAX - 1] = ' ';
    big[TOPO_FILE_MAX] = '\n';
    put_bytes(root, "topology/nodes/1/properties", big, TOPO_FILE_MAX + 1);
    expect_error("properties of TOPO_FILE_MAX + 1 bytes", root, ROCHP_ERROR_TOO_LARGE,
                 "nodes/1/properties", 0);
    free(root);
}

static void test_properties_not_a_file(void)
{
    char *root = new_tree("properties_dir", true);
    rm_entry(root, "topology/nodes/1/properties");
    mk(root, "topology/nodes/1/properties");
    expect_error("properties is a directory", root, ROCHP_ERROR_MALFORMED,
                 "nodes/1/properties", 0);
    free(root);

    /* Nobody ever writes to this FIFO: a blocking open or read would hang. */
    root = new_tree("properties_fifo", true);
    rm_entry(root, "topology/nodes/1/properties");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/topology/nodes/1/properties", root);
    if (mkfifo(path, 0644) != 0)
        die("mkfifo", path);
    expect_error("properties is a FIFO", root, ROCHP_ERROR_MALFORMED, "nodes/1/properties", 0);
    free(root);

    /* A device that streams forever must be refused after one buffer. */
    if (access("/dev/zero", R_OK) == 0) {
        root = new_tree("properties_dev_zero", true);
        rm_entry(root, "topology/nodes/1/properties");
        link_to(root, "topology/nodes/1/properties", "/dev/zero");
        expect_error("properties is /dev/zero", root, ROCHP_ERROR_MALFORMED,
                     "nodes/1/properties", 0);
        free(root);
    }
}

/* --- symlinks ------------------------------------------------------------------ */

static void test_symlinks(void)
{
    char *root = new_tree("node_dir_loop", true);
    rm_tree(root, "topology/nodes/1");
    link_to(root, "topology/nodes/1", "1/x"); /* resolves through itself: ELOOP */
    expect_error("nodes/1 -> 1/x", root, ROCHP_ERROR_MALFORMED, "nodes/1", 0);
    free(root);

    root = new_tree("properties_self_link", true);
    rm_entry(root, "topology/nodes/1/properties");
    link_to(root, "topology/nodes/1/properties", "properties");
    /* ELOOP: a loop is a malformed tree, like a file where a directory belongs. */
    expect_error("properties -> properties", root, ROCHP_ERROR_MALFORMED, "nodes/1/properties", 0);
    free(root);

    /* io_links/0 is the topology directory itself: a reader that walked the
     * tree recursively would never end.  rochp reads only 0/properties, which
     * is not there, and keeps the link without properties. */
    root = new_tree("io_link_up_link", true);
    rm_tree(root, "topology/nodes/1/io_links/0");
    link_to(root, "topology/nodes/1/io_links/0", "../../..");
    topo_snapshot *snap = expect_ok("io_links/0 -> ../../..", root);
    if (snap) {
        const topo_node *n = topo_snapshot_node(snap, 1);
        REQUIRE(n);
        CHECK_EQ_U64(n->n_io_links, 1);
        if (n->n_io_links == 1)
            CHECK_EQ_U64(n->io_links[0].count, 0);
        CHECK_EQ_U64(n->n_mem_banks, 2);
        topo_snapshot_free(snap);
    }
    free(root);
}

/* --- the tree's shape -------------------------------------------------------- */

static void test_shape(void)
{
    char *root = malloc(PATH_MAX);
    REQUIRE(root);
    snprintf(root, PATH_MAX, "%s/no_topology", base);
    REQUIRE(mkdir(root, 0755) == 0);
    expect_error("no topology directory", root, ROCHP_ERROR_NOT_FOUND, "", 0);
    free(root);

    root = malloc(PATH_MAX);
    REQUIRE(root);
    snprintf(root, PATH_MAX, "%s/no_nodes", base);
    REQUIRE(mkdir(root, 0755) == 0);
    put(root, "topology/generation_id", "7\n");
    put(root, "topology/system_properties", "platform_oem 0\n");
    expect_error("no topology/nodes", root, ROCHP_ERROR_MALFORMED, "nodes", 0);
    free(root);

    root = new_tree("nodes_foo", true);
    mk(root, "topology/nodes/foo");
    expect_error("nodes/foo", root, ROCHP_ERROR_MALFORMED, "nodes/foo", 0);
    free(root);

    root = new_tree("nodes_01", true);
    mk(root, "topology/nodes/01");
    expect_error("nodes/01", root, ROCHP_ERROR_MALFORMED, "nodes/01", 0);
    free(root);
}

/* Entries that are listed but cannot be opened, in a tree that never
 * changes: retrying cannot help, and BUSY ("generation_id kept moving")
 * would be a false report. */
static void test_static_unreadable_entries(void)
{
    char *root = new_tree("dangling_node", true);
    link_to(root, "topology/nodes/2", "no-such-directory");
    expect_stable_error("nodes/2 dangling symlink", root, "nodes/2");
    free(root);

    root = new_tree("io_link_is_file", true);
    rm_tree(root, "topology/nodes/1/io_links/0");
    put(root, "topology/nodes/1/io_links/0", "type 2\n");
    expect_stable_error("io_links/0 is a regular file", root, "nodes/1/io_links/0");
    free(root);
}

/* --- one-number files -------------------------------------------------------- */

static void test_number_files(void)
{
    char *root = new_tree("empty_generation", true);
    put(root, "topology/generation_id", "");
    expect_error("empty generation_id", root, ROCHP_ERROR_MALFORMED, "generation_id", 1);
    free(root);

    root = new_tree("garbage_generation", true);
    put_bytes(root, "topology/generation_id", "\x01\x7f" "12z\n", 6);
    expect_error("garbage generation_id", root, ROCHP_ERROR_MALFORMED, "generation_id", 1);
    free(root);

    root = new_tree("negative_generation", true);
    put(root, "topology/generation_id", "-3\n");
    expect_error("negative generation_id", root, ROCHP_ERROR_MALFORMED, "generation_id", 1);
    free(root);

    root = new_tree("huge_generation", true);
    put(root, "topology/generation_id", "18446744073709551616\n");
    expect_error("generation_id 2^64", root, ROCHP_ERROR_TOO_LARGE, "generation_id", 1);
    free(root);

    root = new_tree("empty_gpu_id", true);
    put(root, "topology/nodes/1/gpu_id", "");
    expect_error("empty gpu_id", root, ROCHP_ERROR_MALFORMED, "nodes/1/gpu_id", 1);
    free(root);

    root = new_tree("garbage_used_memory", true);
    put(root, "topology/nodes/1/mem_banks/0/used_memory", "lots\n");
    expect_error("garbage used_memory", root, ROCHP_ERROR_MALFORMED,
                 "nodes/1/mem_banks/0/used_memory", 1);
    free(root);

    root = new_tree("name_two_lines", true);
    put(root, "topology/nodes/1/name", "ip\ndiscovery\n");
    expect_error("name of two lines", root, ROCHP_ERROR_MALFORMED, "nodes/1/name", 1);
    free(root);
}

/* Partial captures have no generation_id.  An error further in must still be
 * the one reported: the message and err.status must describe it, not the
 * missing generation_id that is looked for again after the tree. */
static void test_error_without_generation(void)
{
    char *root = new_tree("no_generation_empty_properties", false);
    put(root, "topology/nodes/1/properties", "");
    expect_error("no generation_id, empty properties", root, ROCHP_ERROR_MALFORMED,
                 "nodes/1/properties", 1);
    free(root);

    root = new_tree("no_generation_fifo", false);
    rm_entry(root, "topology/nodes/1/properties");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/topology/nodes/1/properties", root);
    if (mkfifo(path, 0644) != 0)
        die("mkfifo", path);
    expect_error("no generation_id, FIFO properties", root, ROCHP_ERROR_MALFORMED,
                 "nodes/1/properties", 0);
    free(root);
}

/* --- what must be tolerated -------------------------------------------------- */

static void test_valid_tree(void)
{
    char *root = new_tree("valid", true);
    topo_snapshot *snap = expect_ok("valid tree", root);
    REQUIRE(snap);
    CHECK(snap->has_generation);
    CHECK_EQ_U64(snap->generation, 7);
    CHECK_EQ_U64(snap->read_attempts, 1);
    CHECK(snap->has_system_properties);
    REQUIRE(snap->n_nodes == 2);
    const topo_node *cpu = &snap->nodes[0], *gpu = &snap->nodes[1];
    CHECK_EQ_U64(cpu->index, 0);
    CHECK(cpu->kind == TOPO_KIND_CPU);
    CHECK_EQ_U64(cpu->cpu_cores, 96);
    CHECK_EQ_STR(cpu->pci, "");
    CHECK_EQ_STR(cpu->name, "");
    CHECK(cpu->has & TOPO_HAS_NAME);
    CHECK(cpu->group == -1);
    CHECK_EQ_U64(cpu->n_io_links, 1);

    CHECK_EQ_U64(gpu->index, 1);
    CHECK(gpu->kind == TOPO_KIND_GPU);
    CHECK_EQ_U64(gpu->gpu_id, 41657);
    CHECK_EQ_STR(gpu->name, "ip discovery");
    CHECK_EQ_STR(gpu->pci, "0001:0a:00.1");
    CHECK_EQ_U64(gpu->domain, 1);
    CHECK_EQ_U64(gpu->location_id, 2561);
    CHECK_EQ_STR(gpu->gfx_target, "gfx942");
    CHECK_EQ_U64(gpu->unique_id, UINT64_C(16404946649897475633));
    CHECK_EQ_U64(gpu->hive_id, UINT64_C(15188982192727901047));
    CHECK_EQ_U64(gpu->drm_render_minor, 129);
    CHECK_EQ_U64(gpu->vram_bytes, UINT64_C(51539607552)); /* heap_type 0 bank not counted */
    CHECK_EQ_U64(gpu->n_mem_banks, 2);
    if (gpu->n_mem_banks == 2) {
        CHECK(gpu->mem_banks[0].has_used_memory);
        CHECK_EQ_U64(gpu->mem_banks[0].used_memory, 14102528);
        CHECK(!gpu->mem_banks[1].has_used_memory);
    }
    CHECK_EQ_U64(gpu->n_io_links, 1);
    CHECK_EQ_U64(gpu->n_p2p_links, 0);
    CHECK_EQ_U64(gpu->n_caches, 2);
    CHECK_EQ_U64(gpu->group, 0);
    REQUIRE(snap->n_groups == 1);
    CHECK_EQ_U64(snap->groups[0].unique_id, UINT64_C(16404946649897475633));
    CHECK_EQ_U64(snap->groups[0].n_nodes, 1);

    /* Reading an unchanged tree again gives the same snapshot. */
    for (int i = 0; i < 3; i++) {
        topo_snapshot *again = expect_ok("valid tree, read again", root);
        if (!again)
            continue;
        CHECK_EQ_U64(again->generation, snap->generation);
        CHECK_EQ_U64(again->read_attempts, 1);
        REQUIRE(again->n_nodes == snap->n_nodes);
        for (uint32_t k = 0; k < snap->n_nodes; k++) {
            const topo_node *a = &snap->nodes[k], *b = &again->nodes[k];
            CHECK_EQ_U64(a->index, b->index);
            CHECK_EQ_U64(a->kind, b->kind);
            CHECK_EQ_U64(a->gpu_id, b->gpu_id);
            CHECK_EQ_STR(a->name, b->name);
            CHECK_EQ_STR(a->pci, b->pci);
            CHECK_EQ_STR(a->gfx_target, b->gfx_target);
            CHECK_EQ_U64(a->unique_id, b->unique_id);
            CHECK_EQ_U64(a->vram_bytes, b->vram_bytes);
            CHECK_EQ_U64(a->props.count, b->props.count);
            CHECK_EQ_U64(a->n_mem_banks, b->n_mem_banks);
            CHECK_EQ_U64(a->n_io_links, b->n_io_links);
            CHECK_EQ_U64(a->n_caches, b->n_caches);
            CHECK_EQ_U64(a->group, b->group);
        }
        topo_snapshot_free(again);
    }
    topo_snapshot_free(snap);
    free(root);
}

static void test_tolerated(void)
{
    /* A node directory without properties: kind unknown, not an error. */
    char *root = new_tree("node_without_properties", true);
    mk(root, "topology/nodes/2");
    topo_snapshot *snap = expect_ok("node without properties", root);
    if (snap) {
        const topo_node *n = topo_snapshot_node(snap, 2);
        REQUIRE(n);
        CHECK(n->kind == TOPO_KIND_UNKNOWN);
        CHECK(!(n->has & TOPO_HAS_PROPERTIES));
        CHECK(n->group == -1);
        CHECK_EQ_STR(n->pci, "");
        CHECK_EQ_U64(snap->n_groups, 1);
        topo_snapshot_free(snap);
    }
    free(root);

    /* Only properties in node 1 (as in most partial captures); local_mem_size
     * stands in for VRAM when there are no mem banks. */
    root = new_tree("properties_only", false);
    rm_entry(root, "topology/nodes/1/gpu_id");
    rm_entry(root, "topology/nodes/1/name");
    rm_tree(root, "topology/nodes/1/mem_banks");
    put(root, "topology/nodes/1/properties",
        "cpu_cores_count 0\nsimd_count 4\nlocation_id 768\nlocal_mem_size 17163091968\n");
    snap = expect_ok("properties only", root);
    if (snap) {
        CHECK(!snap->has_generation);
        const topo_node *n = topo_snapshot_node(snap, 1);
        REQUIRE(n);
        CHECK(!(n->has & TOPO_HAS_GPU_ID));
        CHECK(!(n->has & TOPO_HAS_NAME));
        CHECK_EQ_STR(n->name, "");
        CHECK_EQ_U64(n->n_mem_banks, 0);
        CHECK(n->kind == TOPO_KIND_GPU);
        CHECK_EQ_STR(n->pci, "0000:03:00.0");
        CHECK_EQ_U64(n->vram_bytes, UINT64_C(17163091968));
        topo_snapshot_free(snap);
    }
    free(root);

    /* Mocks write name and gpu_id without a newline. */
    root = new_tree("name_without_newline", true);
    put(root, "topology/nodes/1/name", "arcturus");
    put(root, "topology/nodes/1/gpu_id", "42700");
    snap = expect_ok("name without newline", root);
    if (snap) {
        const topo_node *n = topo_snapshot_node(snap, 1);
        REQUIRE(n);
        CHECK(n->has & TOPO_HAS_NAME);
        CHECK_EQ_STR(n->name, "arcturus");
        CHECK_EQ_U64(n->gpu_id, 42700);
        topo_snapshot_free(snap);
    }
    free(root);
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(base, sizeof base, "%s/rochp-topo-malformed-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        *base = '\0';
        die("mkdtemp", "in $TMPDIR");
    }
    atexit(cleanup);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigaction(SIGALRM, &sa, NULL);

    test_properties_content();
    test_properties_size();
    test_properties_not_a_file();
    test_symlinks();
    test_shape();
    test_static_unreadable_entries();
    test_number_files();
    test_error_without_generation();
    test_valid_tree();
    test_tolerated();

    return check_result(); /* cleanup runs at exit */
}
