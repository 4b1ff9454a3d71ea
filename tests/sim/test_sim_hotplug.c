/* rochp-sim changes seen through the topology reader and diff: each unplug
 * is exactly that device (or that board's partitions) removed, re-plugging is
 * `returned` with the same unique_id, a new board is `added`, and the tree
 * stays what KFD would write (numbering, links, counts, generation). */
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "tmpdir.h"
#include "ops.h"
#include "topology/diff.h"
#include "tree_check.h"

static topo_snapshot *read_tree(const char *dir)
{
    rochp__error err = {0};
    topo_snapshot *s = NULL;
    if (topo_snapshot_read(dir, &s, &err) != ROCHP_OK) {
        fprintf(stderr, "read %s: %s\n", dir, err.message);
        exit(1);
    }
    if (tree_check(s, dir))
        check_failures++;
    return s;
}

static topo_diff diff_of(const topo_snapshot *a, const topo_snapshot *b, const uint64_t *known,
                         size_t n_known)
{
    topo_diff d;
    rochp__error err = {0};
    REQUIRE(topo_diff_compute(a, b, known, n_known, &d, &err) == ROCHP_OK);
    return d;
}

static void make_dir(char *dir, size_t size, const char *tag)
{
    REQUIRE(test_make_tmpdir(dir, size, tag) == 0);
}

static void remove_dir(const char *dir)
{
    test_remove_tmpdir(dir);
}

/* 8 single-partition boards: unplug each in turn (then all are gone), then
 * plug each back. */
static void test_eight_gpus_one_by_one(void)
{
    char dir[256];
    make_dir(dir, sizeof dir, "eight");
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 8, 1, NULL, &err) == ROCHP_OK);
    topo_snapshot *orig = read_tree(dir);
    CHECK_EQ_U64(orig->n_nodes, 10);
    CHECK_EQ_U64(orig->n_groups, 8);
    CHECK_EQ_U64(orig->generation, 9);

    topo_snapshot *prev = orig;
    for (uint32_t i = 2; i < orig->n_nodes; i++) {
        const topo_node *gone = &orig->nodes[i];
        REQUIRE(vtree_unplug(dir, gone->pci, 0, NULL, &err) == ROCHP_OK);
        topo_snapshot *now = read_tree(dir);
        topo_diff d = diff_of(prev, now, NULL, 0);
        CHECK_EQ_U64(d.count, 1);
        if (d.count == 1) {
            CHECK(d.changes[0].kind == TOPO_CHANGE_REMOVED);
            CHECK_EQ_STR(d.changes[0].pci, gone->pci);
            CHECK_EQ_U64(d.changes[0].unique_id, gone->unique_id);
            /* Earlier boards went first, so it is always node 2 that leaves. */
            CHECK_EQ_U64(d.changes[0].node, 2);
        }
        CHECK_EQ_U64(now->generation, prev->generation + 1);
        CHECK_EQ_U64(now->n_nodes, prev->n_nodes - 1);
        topo_diff_free(&d);
        if (prev != orig)
            topo_snapshot_free(prev);
        prev = now;
    }
    CHECK_EQ_U64(prev->n_nodes, 2); /* only the CPUs remain */

    for (uint32_t i = 2; i < orig->n_nodes; i++) {
        const topo_node *back = &orig->nodes[i];
        REQUIRE(vtree_plug_back(dir, back->pci, NULL, &err) == ROCHP_OK);
        topo_snapshot *now = read_tree(dir);
        uint64_t known = back->unique_id;
        topo_diff d = diff_of(prev, now, &known, 1);
        CHECK_EQ_U64(d.count, 1);
        if (d.count == 1) {
            CHECK(d.changes[0].kind == TOPO_CHANGE_RETURNED);
            CHECK_EQ_STR(d.changes[0].pci, back->pci);
            CHECK_EQ_U64(d.changes[0].unique_id, back->unique_id);
            CHECK_EQ_U64(d.changes[0].node, now->n_nodes - 1); /* appended, as KFD does */
        }
        topo_diff_free(&d);
        topo_snapshot_free(prev);
        prev = now;
    }
    /* Everything is back: same devices (order aside), same gpu_ids and VRAM. */
    topo_diff d = diff_of(orig, prev, NULL, 0);
    CHECK_EQ_U64(d.count, 0);
    topo_diff_free(&d);
    for (uint32_t i = 2; i < orig->n_nodes; i++) {
        const topo_node *a = &orig->nodes[i];
        for (uint32_t j = 2; j < prev->n_nodes; j++) {
            const topo_node *b = &prev->nodes[j];
            if (b->unique_id != a->unique_id)
                continue;
            CHECK_EQ_U64(b->gpu_id, a->gpu_id);
            CHECK_EQ_U64(b->vram_bytes, a->vram_bytes);
            CHECK_EQ_U64(b->drm_render_minor, a->drm_render_minor);
            /* Links to the CPU and every XGMI peer were restored. */
            CHECK_EQ_U64(b->n_io_links, a->n_io_links);
        }
    }
    CHECK_EQ_U64(prev->nodes[0].n_io_links, orig->nodes[0].n_io_links);
    topo_snapshot_free(prev);
    topo_snapshot_free(orig);
    remove_dir(dir);
}

/* Unplugging one GPU at a time from a full tree and putting it straight back. */
static void test_each_gpu_in_turn(void)
{
    char dir[256];
    make_dir(dir, sizeof dir, "turn");
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi300x"), 8, 1, NULL, &err) == ROCHP_OK);
    topo_snapshot *orig = read_tree(dir);
    for (uint32_t i = 2; i < orig->n_nodes; i++) {
        topo_snapshot *before = read_tree(dir);
        const topo_node *gone = topo_snapshot_node(before, i);
        REQUIRE(gone);
        char pci[24];
        snprintf(pci, sizeof pci, "%s", gone->pci);
        uint64_t uid = gone->unique_id;
        REQUIRE(vtree_unplug(dir, pci, 0, NULL, &err) == ROCHP_OK);
        topo_snapshot *after = read_tree(dir);
        topo_diff d = diff_of(before, after, NULL, 0);
        CHECK_EQ_U64(d.count, 1);
        if (d.count == 1) {
            CHECK(d.changes[0].kind == TOPO_CHANGE_REMOVED);
            CHECK_EQ_STR(d.changes[0].pci, pci);
            CHECK_EQ_U64(d.changes[0].node, i);
        }
        topo_diff_free(&d);
        REQUIRE(vtree_plug_back(dir, pci, NULL, &err) == ROCHP_OK);
        topo_snapshot *back = read_tree(dir);
        d = diff_of(after, back, &uid, 1);
        CHECK_EQ_U64(d.count, 1);
        if (d.count == 1) {
            CHECK(d.changes[0].kind == TOPO_CHANGE_RETURNED);
            CHECK_EQ_U64(d.changes[0].unique_id, uid);
        }
        topo_diff_free(&d);
        topo_snapshot_free(before);
        topo_snapshot_free(after);
        topo_snapshot_free(back);
    }
    topo_snapshot_free(orig);
    remove_dir(dir);
}

/* An MI300X board in CPX mode is 8 KFD nodes; one unplug removes all of them,
 * whichever partition's address is given. */
static void test_partitioned_board(void)
{
    char dir[256];
    make_dir(dir, sizeof dir, "cpx");
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi300x"), 4, 8, NULL, &err) == ROCHP_OK);
    topo_snapshot *before = read_tree(dir);
    CHECK_EQ_U64(before->n_nodes, 2 + 32);
    CHECK_EQ_U64(before->n_groups, 4);
    CHECK_EQ_U64(before->generation, 33); /* as in the 32-partition capture */
    REQUIRE(vtree_unplug(dir, "0000:47:00.3", 0, NULL, &err) == ROCHP_OK);
    topo_snapshot *after = read_tree(dir);
    CHECK_EQ_U64(after->generation, 33 + 8);
    CHECK_EQ_U64(after->n_groups, 3);
    topo_diff d = diff_of(before, after, NULL, 0);
    CHECK_EQ_U64(d.count, 8);
    uint64_t uid = d.count ? d.changes[0].unique_id : 0;
    for (uint32_t k = 0; k < d.count; k++) {
        char want[24];
        snprintf(want, sizeof want, "0000:47:00.%u", k);
        CHECK(d.changes[k].kind == TOPO_CHANGE_REMOVED);
        CHECK_EQ_STR(d.changes[k].pci, want);
        CHECK_EQ_U64(d.changes[k].unique_id, uid);
        CHECK_EQ_U64(d.changes[k].node, 18 + k); /* board 3 of 4: nodes 18..25 */
    }
    topo_diff_free(&d);

    REQUIRE(vtree_plug_back(dir, "0000:47:00.0", NULL, &err) == ROCHP_OK);
    topo_snapshot *back = read_tree(dir);
    d = diff_of(after, back, &uid, 1);
    CHECK_EQ_U64(d.count, 8);
    for (uint32_t k = 0; k < d.count; k++) {
        CHECK(d.changes[k].kind == TOPO_CHANGE_RETURNED);
        CHECK_EQ_U64(d.changes[k].unique_id, uid);
        CHECK_EQ_U64(d.changes[k].node, 26 + k);
    }
    topo_diff_free(&d);
    CHECK_EQ_U64(back->n_groups, 4);
    topo_snapshot_free(before);
    topo_snapshot_free(after);
    topo_snapshot_free(back);
    remove_dir(dir);
}

/* A new board is `added` even when the caller knows unique_ids from before,
 * and a board in an occupied slot or an unknown slot is refused. */
static void test_new_board_and_refusals(void)
{
    char dir[256];
    make_dir(dir, sizeof dir, "new");
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("rx7900xtx"), 2, 1, NULL, &err) == ROCHP_OK);
    topo_snapshot *before = read_tree(dir);
    uint64_t known[2] = {before->nodes[1].unique_id, before->nodes[2].unique_id};
    REQUIRE(vtree_plug_model(dir, vtree_model_find("rx7900xtx"), 1, NULL, NULL, &err) == ROCHP_OK);
    topo_snapshot *after = read_tree(dir);
    topo_diff d = diff_of(before, after, known, 2);
    CHECK_EQ_U64(d.count, 1);
    if (d.count == 1) {
        CHECK(d.changes[0].kind == TOPO_CHANGE_ADDED);
        CHECK_EQ_STR(d.changes[0].pci, "0000:13:00.0"); /* third slot of the model */
        CHECK(d.changes[0].unique_id != known[0] && d.changes[0].unique_id != known[1]);
    }
    topo_diff_free(&d);
    /* The render minor is the lowest free one, gpu_ids stay distinct. */
    CHECK_EQ_U64(after->nodes[3].drm_render_minor, 130);
    CHECK(after->nodes[3].gpu_id != after->nodes[1].gpu_id);

    CHECK(vtree_plug_model(dir, vtree_model_find("rx7900xtx"), 1, "0000:03:00.0", NULL, &err) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "already at 0000:03:00.0");
    CHECK(vtree_unplug(dir, "0000:99:00.0", 0, NULL, &err) == ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(err.message, "no GPU at 0000:99:00.0");
    CHECK(vtree_plug_back(dir, "0000:03:00.0", NULL, &err) == ROCHP_ERROR_NOT_FOUND);
    CHECK(vtree_unplug(dir, "not-a-pci", 0, NULL, &err) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(vtree_create_model(dir, vtree_model_find("mi100"), 1, 1, NULL, &err) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.message, "already exists");

    /* A board swapped for another in the same slot: removed + added, not returned. */
    REQUIRE(vtree_unplug(dir, "0000:0b:00.0", 0, NULL, &err) == ROCHP_OK);
    topo_snapshot *gap = read_tree(dir);
    REQUIRE(vtree_plug_model(dir, vtree_model_find("rx7900xtx"), 1, "0000:0b:00.0", NULL, &err) ==
            ROCHP_OK);
    topo_snapshot *swapped = read_tree(dir);
    d = diff_of(after, swapped, known, 2);
    CHECK_EQ_U64(d.count, 2);
    if (d.count == 2) {
        CHECK(d.changes[0].kind == TOPO_CHANGE_REMOVED);
        CHECK(d.changes[1].kind == TOPO_CHANGE_ADDED);
        CHECK_EQ_STR(d.changes[1].pci, "0000:0b:00.0");
    }
    topo_diff_free(&d);
    topo_snapshot_free(gap);
    topo_snapshot_free(swapped);
    topo_snapshot_free(before);
    topo_snapshot_free(after);
    remove_dir(dir);
}

/* A captured tree can be driven too: unplug a board of the 32-partition
 * MI308X capture, with KFD's renumbering of later nodes. */
static void test_capture_unplug(void)
{
    const char *fixtures = getenv("ROCHP_FIXTURE_DIR");
    char src[4096];
    snprintf(src, sizeof src, "%s/k8s-mi308x-cpx", fixtures ? fixtures : "");
    if (!fixtures || access(src, R_OK) != 0) {
        fprintf(stderr, "fixtures absent: capture unplug not tested\n");
        return;
    }
    char dir[256];
    make_dir(dir, sizeof dir, "capture");
    rochp__error err = {0};
    char tree[300];
    snprintf(tree, sizeof tree, "%s/t", dir);
    REQUIRE(vtree_create_from(tree, src, NULL, &err) == ROCHP_OK);
    topo_snapshot *before = read_tree(tree);
    CHECK_EQ_U64(before->generation, 33);
    REQUIRE(vtree_unplug(tree, "0000:80:00.0", 0, NULL, &err) == ROCHP_OK);
    topo_snapshot *after = read_tree(tree);
    topo_diff d = diff_of(before, after, NULL, 0);
    CHECK_EQ_U64(d.count, 4);
    for (uint32_t k = 0; k < d.count; k++)
        CHECK_EQ_U64(d.changes[k].unique_id, 11803749423592941193ull);
    topo_diff_free(&d);
    CHECK_EQ_U64(after->generation, 37);
    CHECK_EQ_U64(after->n_nodes, 30);
    /* The node after the board (was 10, 0000:a4:00.0) is now node 6. */
    CHECK_EQ_STR(after->nodes[6].pci, "0000:a4:00.0");
    /* CPU node 0 lost its 4 links to the board: 17 -> 13. */
    CHECK_EQ_U64(after->nodes[0].n_io_links, 13);
    REQUIRE(vtree_plug_back(tree, "0000:80:00.2", NULL, &err) == ROCHP_OK);
    topo_snapshot *back = read_tree(tree);
    CHECK_EQ_U64(back->n_nodes, 34);
    CHECK_EQ_U64(back->nodes[0].n_io_links, 17);
    /* Cache entries of the capture travel with the board. */
    CHECK_EQ_U64(back->nodes[33].n_caches, 46);
    topo_snapshot_free(before);
    topo_snapshot_free(after);
    topo_snapshot_free(back);
    remove_dir(dir);
}

/* The watcher's rescan (TOPO_READ_DEVICES) sees the same devices as a full
 * read, without the link files. */
static void test_devices_only_read(void)
{
    char dir[256];
    make_dir(dir, sizeof dir, "parts");
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi300x"), 2, 4, NULL, &err) == ROCHP_OK);
    topo_snapshot *full = read_tree(dir), *devices = NULL;
    REQUIRE(topo_snapshot_read_parts(dir, TOPO_READ_DEVICES, &devices, &err) == ROCHP_OK);
    CHECK_EQ_U64(devices->parts, TOPO_READ_DEVICES);
    CHECK_EQ_U64(full->parts, TOPO_READ_ALL);
    CHECK_EQ_U64(devices->n_nodes, full->n_nodes);
    CHECK_EQ_U64(devices->n_groups, 2);
    topo_diff d = diff_of(full, devices, NULL, 0);
    CHECK_EQ_U64(d.count, 0);
    topo_diff_free(&d);
    for (uint32_t i = 0; i < devices->n_nodes; i++) {
        CHECK_EQ_U64(devices->nodes[i].n_io_links, 0);
        CHECK_EQ_U64(devices->nodes[i].n_caches, 0);
        CHECK_EQ_U64(devices->nodes[i].vram_bytes, full->nodes[i].vram_bytes);
        CHECK(full->nodes[i].n_io_links > 0);
    }
    topo_snapshot *bad = NULL;
    CHECK(topo_snapshot_read_parts(dir, 0x80, &bad, &err) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(bad == NULL);
    topo_snapshot_free(full);
    topo_snapshot_free(devices);
    remove_dir(dir);
}

int main(void)
{
    test_devices_only_read();
    test_eight_gpus_one_by_one();
    test_each_gpu_in_turn();
    test_partitioned_board();
    test_new_board_and_refusals();
    test_capture_unplug();
    return check_result();
}
