/* The benchmarks' scratch virtual KFD trees: made in a new directory (on
 * tmpfs when there is one, so the file system is not what is measured) and
 * removed at the end. */
#ifndef ROCHP_BENCHMARKS_BENCH_TREE_H
#define ROCHP_BENCHMARKS_BENCH_TREE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ops.h"

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
    if (vtree_create_model(dir, vtree_model_find(model), gpus, 1, NULL, &err) != ROCHP_OK) {
        fprintf(stderr, "%s: cannot make a tree: %s\n", tag, err.message);
        return 1;
    }
    return 0;
}

/* 0, or 1 when it could not be removed. */
static inline int bench_remove_tree(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) == 0)
        return 0;
    fprintf(stderr, "could not remove %s\n", dir);
    return 1;
}

#endif
