/* The HSA function table: hsasim through ROCHP_HSA_RUNTIME initialises on a
 * virtual tree; Debian's real ROCR on a machine without a GPU fails with a
 * clear status and message, not an abort; a missing library or a library
 * that is not an HSA runtime is refused by name. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hsa/hsa_table.h"
#include "ops.h"
#include "tmpdir.h"

int main(void)
{
    /* The runtime is chosen here, not inherited from whoever runs the test. */
    unsetenv("ROCHP_HSA_RUNTIME");
    rochp__error err = {0};
    rochp__hsa hsa;

    CHECK(rochp__hsa_load("/nonexistent/libhsa-runtime64.so.1", &hsa, &err) ==
          ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(err.message, "cannot load the HSA runtime '/nonexistent/libhsa-runtime64.so.1'");
    CHECK(rochp__hsa_load("libc.so.6", &hsa, &err) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(err.message, "has no hsa_init");
    CHECK(hsa.handle == NULL);

    /* Debian's real ROCR first: runtimes stay loaded for the process's life
     * (RTLD_NODELETE), and a later load by soname returns the one loaded. */
    /* No /dev/kfd here, so hsa_init must fail cleanly and say why. */
    if (access("/dev/kfd", F_OK) != 0 &&
        rochp__hsa_load(ROCHP_HSA_DEFAULT_RUNTIME, &hsa, &err) == ROCHP_OK) {
        CHECK(strstr(hsa.path, "libhsa-runtime64") != NULL);
        CHECK(rochp__hsa_init(&hsa, &err) == ROCHP_ERROR_NOT_FOUND);
        CHECK_CONTAINS(err.message, "HSA_STATUS_ERROR_OUT_OF_RESOURCES");
        CHECK_CONTAINS(err.message, "/dev/kfd");
        rochp__hsa_unload(&hsa);
    } else {
        fprintf(stderr, "real ROCR not checked: %s\n",
                access("/dev/kfd", F_OK) == 0 ? "this machine has /dev/kfd" : err.message);
    }
    /* hsasim on a virtual tree, chosen through the environment. */
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "hsa-table") == 0);
    REQUIRE(vtree_create_model(dir, vtree_model_find("rx7900xtx"), 1, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_HSA_RUNTIME", HSASIM_PATH, 1);
    REQUIRE(rochp__hsa_load(NULL, &hsa, &err) == ROCHP_OK);
    CHECK_EQ_STR(hsa.path, HSASIM_PATH);
    CHECK(rochp__hsa_init(&hsa, &err) == ROCHP_OK);
    uint16_t major = 0;
    CHECK(hsa.system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(major, 1);
    CHECK(hsa.shut_down() == HSA_STATUS_SUCCESS);
    CHECK_CONTAINS(rochp__hsa_status_text(&hsa, HSA_STATUS_ERROR_INVALID_AGENT), "INVALID_AGENT");
    rochp__hsa_unload(&hsa);

    test_remove_tmpdir(dir);
    return check_result();
}
