/* ROCHP_CONTEXT_ATTACH_HSA: a context on the runtime the program initialised
 * (HIP's, or a tool's inside OnLoad) adds no reference of its own -- the
 * program's one hsa_shut_down still ends the runtime -- yet its devices
 * have their agents.  It refuses a runtime nobody initialised, the NO_HSA
 * flag beside it, and re-enumeration, each with a message naming why. */
#include <string.h>

#include <hsa/hsa.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

static rochp_status attach(uint32_t flags, rochp_context **ctx)
{
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = flags;
    return rochp_context_create(&o, ctx);
}

static bool runtime_up(void)
{
    uint16_t major;
    return hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) == HSA_STATUS_SUCCESS;
}

int main(void)
{
    char dir[512];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "attach") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    rochp_context *ctx = NULL;

    /* Nobody initialised the runtime yet. */
    CHECK(attach(ROCHP_CONTEXT_ATTACH_HSA, &ctx) == ROCHP_ERROR_NOT_FOUND && !ctx);
    CHECK(strstr(rochp_last_error(), "not initialised") &&
          strstr(rochp_last_error(), "hsa_init"));
    CHECK(attach(ROCHP_CONTEXT_ATTACH_HSA | ROCHP_CONTEXT_NO_HSA, &ctx) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(strstr(rochp_last_error(), "exclude each other"));

    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    REQUIRE(attach(ROCHP_CONTEXT_ATTACH_HSA, &ctx) == ROCHP_OK);
    rochp_device_info infos[4];
    size_t n = 0;
    CHECK(rochp_device_list(ctx, infos, 4, &n) == ROCHP_OK);
    CHECK_EQ_U64(n, 2);
    for (size_t i = 0; i < n && i < 4; i++)
        CHECK(infos[i].hsa_agent != 0);
    CHECK(rochp_reenumerate(ctx) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK(strstr(rochp_last_error(), "ROCHP_CONTEXT_ATTACH_HSA"));
    CHECK(rochp_context_destroy(ctx) == ROCHP_OK);
    /* The context took no reference and gave none back. */
    CHECK(runtime_up());

    /* The program's one shut_down ends the runtime with a context alive
     * (the context must not outlive it in real use; here it only proves
     * that the context holds no reference). */
    REQUIRE(attach(ROCHP_CONTEXT_ATTACH_HSA, &ctx) == ROCHP_OK);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK(!runtime_up());
    CHECK(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_failures ? 1 : 0;
}
