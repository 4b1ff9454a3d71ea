/* Modules on hsasim: metadata through the public API (a host code object
 * with a known layout, and the real clang-15 AMDGPU objects), per-device
 * loading on demand with one executable per agent, an object for another
 * ISA refused by name, malformed input, loading again after a
 * re-enumeration, and a lost device.
 * argv: vec.co vec-gfx942.co [clang code objects... | --no-clang] */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "sim_context.h"
#include "tmpdir.h"

static void check_arg(rochp_kernel *k, uint32_t i, const char *kind, uint32_t offset, uint32_t size,
                      rochp_access access, bool hidden)
{
    rochp_kernel_arg a;
    REQUIRE(rochp_kernel_get_arg(k, i, &a) == ROCHP_OK);
    CHECK_EQ_STR(a.value_kind, kind);
    CHECK_EQ_U64(a.offset, offset);
    CHECK_EQ_U64(a.size, size);
    CHECK_EQ_U64(a.access, access);
    CHECK(a.hidden == hidden);
}

/* The clang objects: kernels.cl's "fill" and "combine" as test_metadata_clang
 * reads them, here through rochp_module_*. */
static void check_clang(rochp_context *ctx, const char *path)
{
    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, path, &m) == ROCHP_OK);
    CHECK_EQ_U64(rochp_module_kernel_count(m), 3);
    rochp_kernel *k;
    rochp_kernel_info info;
    REQUIRE(rochp_module_kernel(m, "fill", &k) == ROCHP_OK);
    REQUIRE(rochp_kernel_get_info(k, &info) == ROCHP_OK);
    CHECK_EQ_STR(info.symbol, "fill.kd");
    CHECK_EQ_U64(info.kernarg_size, 12);
    CHECK_EQ_U64(info.n_args, 2);
    check_arg(k, 0, "global_buffer", 0, 8, ROCHP_ACCESS_READ_WRITE, false);
    check_arg(k, 1, "by_value", 8, 4, ROCHP_ACCESS_NONE, false);
    REQUIRE(rochp_module_kernel(m, "combine.kd", &k) == ROCHP_OK);
    REQUIRE(rochp_kernel_get_info(k, &info) == ROCHP_OK);
    CHECK_EQ_STR(info.name, "combine");
    /* in is const: read-only without the compiler having to prove it. */
    check_arg(k, 1, "global_buffer", 8, 8, ROCHP_ACCESS_READ_ONLY, false);
    check_arg(k, 2, "global_buffer", 16, 8, ROCHP_ACCESS_READ_ONLY, false); /* __constant */
    check_arg(k, 5, "dynamic_shared_pointer", 48, 4, ROCHP_ACCESS_NONE, false);
    /* geometry reads the implicit arguments: they follow out, hidden. */
    REQUIRE(rochp_module_kernel(m, "geometry", &k) == ROCHP_OK);
    REQUIRE(rochp_kernel_get_info(k, &info) == ROCHP_OK);
    CHECK(info.n_args > 2);
    rochp_kernel_arg a;
    REQUIRE(rochp_kernel_get_arg(k, 1, &a) == ROCHP_OK);
    CHECK(a.hidden && strncmp(a.value_kind, "hidden_", 7) == 0 && a.offset == 8);
    CHECK(rochp_module_free(m) == ROCHP_OK);
}

/* Threads racing for the first load on a device must all get the one
 * executable's object. */
typedef struct racer {
    rochp_kernel *kernel;
    rochp_device_id device;
    uint64_t object;
    rochp_status status;
} racer;

static void *race_first_load(void *arg)
{
    racer *r = arg;
    r->status = rochp_kernel_object(r->kernel, r->device, &r->object);
    return NULL;
}

int main(int argc, char **argv)
{
    REQUIRE(argc >= 4);
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "modules", "mi210", 2, "silent");
    rochp__error err = {0};
    rochp_device_info devs[2];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 2, &n) == ROCHP_OK && n == 2);

    rochp_module *m;
    REQUIRE(rochp_module_load_file(ctx, argv[1], &m) == ROCHP_OK);
    CHECK_EQ_U64(rochp_module_kernel_count(m), 1);
    rochp_kernel *k, *k_at;
    REQUIRE(rochp_module_kernel(m, "vscale", &k) == ROCHP_OK);
    REQUIRE(rochp_module_kernel_at(m, 0, &k_at) == ROCHP_OK);
    CHECK(k == k_at);
    rochp_kernel_info info;
    REQUIRE(rochp_kernel_get_info(k, &info) == ROCHP_OK);
    CHECK_EQ_STR(info.name, "vscale");
    CHECK_EQ_STR(info.symbol, "vscale.kd");
    CHECK_EQ_U64(info.kernarg_size, 24);
    CHECK_EQ_U64(info.kernarg_align, 8);
    CHECK_EQ_U64(info.n_args, 4);
    check_arg(k, 0, "global_buffer", 0, 8, ROCHP_ACCESS_WRITE_ONLY, false);
    check_arg(k, 1, "global_buffer", 8, 8, ROCHP_ACCESS_READ_ONLY, false);
    check_arg(k, 2, "by_value", 16, 4, ROCHP_ACCESS_NONE, false);
    check_arg(k, 3, "by_value", 20, 4, ROCHP_ACCESS_NONE, false);
    rochp_kernel_arg a;
    CHECK(rochp_kernel_get_arg(k, 4, &a) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "has 4 arguments");
    CHECK(rochp_module_kernel(m, "nope", &k_at) == ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(rochp_last_error(), "\"nope\"");
    CHECK(rochp_module_kernel_at(m, 1, &k_at) == ROCHP_ERROR_INVALID_ARGUMENT);

    /* Loaded on each device on demand; asking again gives the same object. */
    uint64_t obj0 = 0, obj0_again = 0, obj1 = 0;
    CHECK(rochp_kernel_object(k, devs[0].id, &obj0) == ROCHP_OK && obj0 != 0);
    CHECK(rochp_kernel_object(k, devs[0].id, &obj0_again) == ROCHP_OK && obj0_again == obj0);
    CHECK(rochp_kernel_object(k, devs[1].id, &obj1) == ROCHP_OK && obj1 != 0);
    CHECK(rochp_kernel_object(k, ROCHP_HOST, &obj1) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_kernel_object(k, 424242, &obj1) == ROCHP_ERROR_NOT_FOUND);

    /* Four threads race for the first load on device 1 of a fresh module. */
    rochp_module *fresh;
    REQUIRE(rochp_module_load_file(ctx, argv[1], &fresh) == ROCHP_OK);
    rochp_kernel *kf;
    REQUIRE(rochp_module_kernel(fresh, "vscale", &kf) == ROCHP_OK);
    racer racers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        racers[i] = (racer){.kernel = kf, .device = devs[1].id};
        REQUIRE(pthread_create(&threads[i], NULL, race_first_load, &racers[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CHECK(racers[i].status == ROCHP_OK && racers[i].object != 0);
        CHECK(racers[i].object == racers[0].object);
    }
    CHECK(rochp_module_free(fresh) == ROCHP_OK);

    /* Built for gfx942: an MI210 (gfx90a) refuses it, and the error says so. */
    rochp_module *other;
    REQUIRE(rochp_module_load_file(ctx, argv[2], &other) == ROCHP_OK);
    rochp_kernel *ko;
    REQUIRE(rochp_module_kernel(other, "vscale", &ko) == ROCHP_OK);
    CHECK(rochp_kernel_object(ko, devs[0].id, &obj1) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "gfx90a");
    CHECK_CONTAINS(rochp_last_error(), "gfx942");
    CHECK(rochp_module_free(other) == ROCHP_OK);

    /* Malformed input is named, never loaded. */
    static const char garbage[] = "\177ELF but not really an ELF file at all";
    CHECK(rochp_module_load(ctx, garbage, sizeof garbage, &other) == ROCHP_ERROR_MALFORMED);
    CHECK(strlen(rochp_last_error()) > 20);
    CHECK(rochp_module_load(ctx, garbage, 0, &other) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_module_load_file(ctx, "/nonexistent/x.co", &other) == ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(rochp_last_error(), "/nonexistent/x.co");
    CHECK(rochp_module_load_file(ctx, dir, &other) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "not a regular file");

    if (strcmp(argv[3], "--no-clang") != 0)
        for (int i = 3; i < argc; i++)
            check_clang(ctx, argv[i]);

    /* A new runtime: the module is still there and loads again. */
    REQUIRE(rochp_reenumerate(ctx) == ROCHP_OK);
    uint64_t obj_new = 0;
    CHECK(rochp_kernel_object(k, devs[0].id, &obj_new) == ROCHP_OK && obj_new != 0);

    /* A lost device: no load is attempted. */
    REQUIRE(vtree_unplug(dir, devs[0].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    CHECK(rochp_kernel_object(k, devs[0].id, &obj1) == ROCHP_ERROR_DEVICE_LOST);
    CHECK(rochp_kernel_object(k, devs[1].id, &obj1) == ROCHP_OK && obj1 != 0);

    CHECK(rochp_module_free(m) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
