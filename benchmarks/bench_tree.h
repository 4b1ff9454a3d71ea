/* The benchmarks' scratch virtual KFD trees: made in a new directory (on
 * tmpfs when there is one, so the file system is not what is measured) and
 * removed at the end, or at exit when a benchmark fails part way. */
#ifndef ROCHP_BENCHMARKS_BENCH_TREE_H
#define ROCHP_BENCHMARKS_BENCH_TREE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "ops.h"

/* Trees made and not removed yet, removed at exit too: a benchmark that
 * fails part way returns from main without its own cleanup.  Only by the
 * process that made them (a forked child's exit must not). */
#define BENCH_MAX_TREES 8
static char bench_trees[BENCH_MAX_TREES][256];
static pid_t bench_trees_owner;

/* 0, or 1 when it could not be removed. */
static inline int bench_rm_rf(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) == 0)
        return 0;
    fprintf(stderr, "could not remove %s\n", dir);
    return 1;
}

static void bench_remove_left_trees(void)
{
    if (getpid() != bench_trees_owner)
        return;
    for (int i = 0; i < BENCH_MAX_TREES; i++)
        if (bench_trees[i][0]) {
            (void)bench_rm_rf(bench_trees[i]);
            bench_trees[i][0] = '\0';
        }
}

static inline void bench_track_tree(const char *dir)
{
    if (!bench_trees_owner) {
        bench_trees_owner = getpid();
        atexit(bench_remove_left_trees);
    }
    for (int i = 0; i < BENCH_MAX_TREES; i++)
        if (!bench_trees[i][0]) {
            snprintf(bench_trees[i], sizeof bench_trees[i], "%s", dir);
            return;
        }
}

/* A tree of gpus GPUs of model in dir ("<tmp>/rochp-bench-<tag>-XXXXXX");
 * 0, or 1 with the reason on stderr. */
static inline int bench_make_tree(const char *tag, const char *model, uint32_t gpus, char *dir,
                                  size_t size)
{
    snprintf(dir, size, "%s/rochp-bench-%s-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
    rochp__error err = {0};
    if (!mkdtemp(dir)) {
        perror(dir);
        return 1;
    }
    bench_track_tree(dir);
    if (vtree_create_model(dir, vtree_model_find(model), gpus, 1, NULL, &err) != ROCHP_OK) {
        fprintf(stderr, "%s: cannot make a tree: %s\n", tag, err.message);
        return 1;
    }
    return 0;
}

/* 0, or 1 when it could not be removed. */
static inline int bench_remove_tree(const char *dir)
{
    for (int i = 0; i < BENCH_MAX_TREES; i++)
        if (strcmp(bench_trees[i], dir) == 0)
            bench_trees[i][0] = '\0';
    return bench_rm_rf(dir);
}

#endif
