/* benchmarks/topology_scan: how long a rescan of the KFD tree takes: the
 * watcher's rescan (nodes and mem banks: what detection needs) and a full
 * read (links and caches too, as rochp-info does).
 * Trees: the 65-node MI300X CPX capture (where it is stored, and a copy on
 * tmpfs: sysfs is in memory too), and virtual 8- and 64-GPU MI300X machines
 * made with the simulator on tmpfs.  ROCHP_SYSFS_ROOT adds that tree too.
 * Prints one JSON object: median and p99 of N rescans per tree, and the cost
 * of the cheap generation_id check the watcher makes between rescans. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ops.h"
#include "topology/snapshot.h"

#ifndef ROCHP_FIXTURE_DIR_DEFAULT
#define ROCHP_FIXTURE_DIR_DEFAULT ""
#endif

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int first = 1;

/* Median and p99 of rescans reads of the given parts. */
static int time_reads(const char *root, uint32_t parts, int rescans, double *t, double *median,
                      double *p99)
{
    topo_snapshot *snap;
    rochp__error err = {0};
    for (int i = 0; i < 5; i++) { /* warm the dentry and page caches */
        if (topo_snapshot_read_parts(root, parts, &snap, &err) == ROCHP_OK)
            topo_snapshot_free(snap);
    }
    for (int i = 0; i < rescans; i++) {
        double start = now_ms();
        rochp_status st = topo_snapshot_read_parts(root, parts, &snap, &err);
        t[i] = now_ms() - start;
        if (st != ROCHP_OK) {
            fprintf(stderr, "topology_scan: %s: %s\n", root, err.message);
            return -1;
        }
        topo_snapshot_free(snap);
    }
    qsort(t, (size_t)rescans, sizeof *t, cmp_double);
    *median = t[rescans / 2];
    *p99 = t[(rescans * 99 + 99) / 100 - 1];
    return 0;
}

static void bench_tree(const char *label, const char *root, int rescans)
{
    double *t = malloc((size_t)rescans * sizeof *t);
    topo_snapshot *snap = NULL;
    rochp__error err = {0};
    if (!t || topo_snapshot_read(root, &snap, &err) != ROCHP_OK) {
        fprintf(stderr, "topology_scan: %s: %s\n", label, err.message);
        free(t);
        return;
    }
    uint32_t nodes = snap->n_nodes, links = 0;
    for (uint32_t i = 0; i < nodes; i++)
        links += snap->nodes[i].n_io_links + snap->nodes[i].n_p2p_links;
    topo_snapshot_free(snap);
    double rescan_median, rescan_p99, full_median, full_p99;
    if (time_reads(root, TOPO_READ_DEVICES, rescans, t, &rescan_median, &rescan_p99) != 0 ||
        time_reads(root, TOPO_READ_ALL, rescans, t, &full_median, &full_p99) != 0) {
        free(t);
        return;
    }
    /* The cheap check: generation_id alone. */
    uint64_t gen;
    double g0 = now_ms();
    int gens = 0;
    for (; gens < 1000; gens++)
        topo_read_generation(root, &gen, NULL);
    double gen_us = (now_ms() - g0) * 1e3 / gens;
    printf("%s{\"tree\":\"%s\",\"nodes\":%u,\"links\":%u,\"rescans\":%d,"
           "\"rescan_median_ms\":%.3f,\"rescan_p99_ms\":%.3f,"
           "\"full_read_median_ms\":%.3f,\"full_read_p99_ms\":%.3f,"
           "\"generation_check_us\":%.2f}",
           first ? "" : ",", label, nodes, links, rescans, rescan_median, rescan_p99, full_median,
           full_p99, gen_us);
    first = 0;
    free(t);
}

static const char *scratch_base(void)
{
    return access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
}

int main(void)
{
    char scratch[256];
    snprintf(scratch, sizeof scratch, "%s/rochp-bench-scan-XXXXXX", scratch_base());
    if (!mkdtemp(scratch)) {
        perror("topology_scan: mkdtemp");
        return 1;
    }
    printf("{\"benchmark\":\"topology_scan\",\"trees\":[");

    const char *fixtures = getenv("ROCHP_FIXTURE_DIR");
    if (!fixtures || !*fixtures)
        fixtures = ROCHP_FIXTURE_DIR_DEFAULT;
    char capture[4096], copy[4400];
    snprintf(capture, sizeof capture, "%s/k8s-mi300x-cpx", fixtures);
    if (access(capture, R_OK) == 0) {
        bench_tree("mi300x-cpx-capture", capture, 200);
        snprintf(copy, sizeof copy, "%s/capture", scratch);
        if (vtree_create_from(copy, capture, NULL, NULL) == ROCHP_OK)
            bench_tree("mi300x-cpx-capture-tmpfs", copy, 200);
    } else {
        fprintf(stderr, "topology_scan: %s absent: capture not measured\n", capture);
    }

    const vtree_model *m = vtree_model_find("mi300x");
    const int sizes[] = {8, 64};
    for (int i = 0; i < 2; i++) {
        char dir[4400], label[64];
        snprintf(dir, sizeof dir, "%s/virtual-%d", scratch, sizes[i]);
        snprintf(label, sizeof label, "virtual-%dgpu-mi300x", sizes[i]);
        rochp__error err = {0};
        if (vtree_create_model(dir, m, (uint32_t)sizes[i], 1, NULL, &err) != ROCHP_OK) {
            fprintf(stderr, "topology_scan: %s\n", err.message);
            continue;
        }
        bench_tree(label, dir, sizes[i] > 8 ? 100 : 200);
    }
    const char *env_root = getenv("ROCHP_SYSFS_ROOT");
    if (env_root && *env_root)
        bench_tree("ROCHP_SYSFS_ROOT", env_root, 100);
    printf("]}\n");
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", scratch);
    return system(cmd) == 0 ? 0 : 1;
}
