/* The start of most hsasim-backed tests: a virtual tree of GPUs of one model
 * in a new scratch directory, and a context on hsasim over it.  The test
 * must define HSASIM_PATH and link rochp_simtree. */
#ifndef ROCHP_TESTS_SIM_CONTEXT_H
#define ROCHP_TESTS_SIM_CONTEXT_H

#include <stdlib.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

/* kernel: the ROCHP_SIM_KERNEL behaviour ("silent", "sigbus", "reset"). */
static inline rochp_context *test_sim_context(char *dir, size_t dir_size, const char *tag,
                                              const char *model, uint32_t gpus,
                                              const char *kernel)
{
    REQUIRE(test_make_tmpdir(dir, dir_size, tag) == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find(model), gpus, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_SIM_KERNEL", kernel, 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    rochp_context *ctx = NULL;
    REQUIRE(rochp_context_create(&o, &ctx) == ROCHP_OK);
    return ctx;
}

#endif
