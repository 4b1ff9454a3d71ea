/* ROCclr's blit program bound by name (lib/hsasim/blit_bind.c), the
 * refusals: real AMDGPU code objects (clang, OpenCL) whose kernels carry
 * ROCclr's blit names but another layout, or a name hsasim has no host
 * kernel for, or another ISA than the agent's, are refused, and the message
 * names the kernel and the argument.  (The accepted case is HIP's own
 * program: tests/hip.)  On an MI210 tree.
 *
 *   test_blit_bind OTHER_VERSION.co UNKNOWN.co OTHER_ISA.co */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "hsa_agents.h"
#include "ops.h"
#include "tmpdir.h"

/* Loads the file on the agent; *said: what the runtime wrote on stderr. */
static hsa_status_t load(const char *path, hsa_agent_t agent, char *said, size_t size)
{
    int fd = open(path, O_RDONLY);
    REQUIRE(fd >= 0);
    hsa_code_object_reader_t reader;
    REQUIRE(hsa_code_object_reader_create_from_file(fd, &reader) == HSA_STATUS_SUCCESS);
    hsa_executable_t exe;
    REQUIRE(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                      NULL, &exe) == HSA_STATUS_SUCCESS);
    char tmpl[] = "/tmp/rochp-blit-bind-XXXXXX";
    int err = mkstemp(tmpl);
    REQUIRE(err >= 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    REQUIRE(saved >= 0 && dup2(err, 2) == 2);
    hsa_status_t st = hsa_executable_load_agent_code_object(exe, agent, reader, NULL, NULL);
    fflush(stderr);
    REQUIRE(dup2(saved, 2) == 2);
    close(saved);
    ssize_t n = pread(err, said, size - 1, 0);
    said[n > 0 ? n : 0] = 0;
    close(err);
    fprintf(stderr, "%s: status 0x%x, said: %s", path, (unsigned)st, said);
    hsa_executable_destroy(exe);
    hsa_code_object_reader_destroy(reader);
    close(fd);
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 4 || strcmp(argv[1], "-") == 0) {
        printf("skipped: clang cannot build AMDGPU code objects here\n");
        return TEST_SKIP;
    }
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "blit-bind") == 0);
    rochp__error e = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 1, 1, NULL, &e) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    agents all = {0};
    REQUIRE(hsa_iterate_agents(agents_collect, &all) == HSA_STATUS_SUCCESS && all.n_gpu == 1);
    char said[2048];

    /* Another layout: the kernel, the argument, and both sides named. */
    CHECK(load(argv[1], all.gpu[0], said, sizeof said) == HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    CHECK_CONTAINS(said, "ROCclr blit kernel __amd_rocclr_copyBuffer");
    CHECK_CONTAINS(said, "argument 4 (size)");
    CHECK_CONTAINS(said, "offset 32 size 4 by_value");
    CHECK_CONTAINS(said, "offset 32 size 8 by_value");
    CHECK_CONTAINS(said, "HIP 5.2.3");

    /* A blit kernel hsasim does not have. */
    CHECK(load(argv[2], all.gpu[0], said, sizeof said) == HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    CHECK_CONTAINS(said, "ROCclr blit kernel __amd_rocclr_batchMemOp");
    CHECK_CONTAINS(said, "no host kernel of that name");

    /* Built for gfx908, loaded on a gfx90a: ROCR's ISA check first. */
    CHECK(load(argv[3], all.gpu[0], said, sizeof said) == HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS);

    /* A CPU agent: as for any code object. */
    CHECK(load(argv[1], all.cpu[0], said, sizeof said) == HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS);

    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    test_remove_tmpdir(dir);
    return check_result();
}
