/* Loading host code objects through the HSA API, as ROCR behaves:
 * readers, executables, symbols and their info, kernel objects that run,
 * variables, external variable definitions, freezing, ISA targets, and the
 * errors (invalid handles, CPU agents, program loads, GPU ISA code objects,
 * malformed or inconsistent objects, frozen executables), plus concurrent
 * use for TSan.
 *
 * Built twice: against a stub runtime (HSASIM_TEST_STUB_RUNTIME, testing
 * the loader alone) and against hsasim's libhsa-runtime64 with
 * ROCHP_SYSFS_ROOT on a tree made by `rochp-sim create DIR --model mi300x
 * --gpus 1` (--sim PATH).
 *
 * usage: test_loader --co BASIC.co --raw RAW.so --gfx942 A.co --xnack B.co
 *                    --gfx90a C.co --amdgpu GPU.co|- [--sim ROCHP_SIM] */
#include <elf.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "test_kernels.h"
#include "tmpdir.h"

/* ASan pads exported variables with a redzone that their ELF size includes. */
#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifdef ASAN
#define CHECK_VAR_SIZE(got, want) CHECK((got) >= (want))
#else
#define CHECK_VAR_SIZE(got, want) CHECK_EQ_U64(got, want)
#endif

hsa_status_t hsa_init(void);
hsa_status_t hsa_shut_down(void);

#define OK(call) CHECK_EQ_U64((call), HSA_STATUS_SUCCESS)
#define ST(call, status) CHECK_EQ_U64((call), (status))

typedef struct blob {
    uint8_t *data;
    size_t size;
} blob;

static struct {
    const char *co, *raw, *gfx942, *xnack, *gfx90a, *amdgpu, *sim;
} opt;

static blob basic, raw, gfx942, xnack, gfx90a;
static hsa_agent_t gpu, cpu;

static blob read_blob(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    blob b = {malloc((size_t)n), (size_t)n};
    REQUIRE(b.data && fread(b.data, 1, b.size, f) == b.size);
    fclose(f);
    return b;
}

static hsa_status_t find_agents(hsa_agent_t agent, void *data)
{
    (void)data;
    hsa_device_type_t type;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) != HSA_STATUS_SUCCESS)
        return HSA_STATUS_ERROR;
    if (type == HSA_DEVICE_TYPE_GPU && !gpu.handle)
        gpu = agent;
    if (type == HSA_DEVICE_TYPE_CPU && !cpu.handle)
        cpu = agent;
    return HSA_STATUS_SUCCESS;
}

static hsa_code_object_reader_t reader_of(const blob *b)
{
    hsa_code_object_reader_t r = {0};
    OK(hsa_code_object_reader_create_from_memory(b->data, b->size, &r));
    return r;
}

/* Loads b for agent into a new executable; the status of the load. */
static hsa_status_t load_new(const blob *b, hsa_agent_t agent, hsa_executable_t *ex)
{
    OK(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL,
                                 ex));
    hsa_code_object_reader_t r = reader_of(b);
    hsa_status_t st = hsa_executable_load_agent_code_object(*ex, agent, r, NULL, NULL);
    OK(hsa_code_object_reader_destroy(r));
    return st;
}

static hsa_executable_symbol_t symbol(hsa_executable_t ex, const char *name)
{
    hsa_executable_symbol_t s = {0};
    OK(hsa_executable_get_symbol_by_name(ex, name, &gpu, &s));
    return s;
}

static uint32_t info_u32(hsa_executable_symbol_t s, int attribute)
{
    uint32_t v = 0xdeadbeef;
    OK(hsa_executable_symbol_get_info(s, (hsa_executable_symbol_info_t)attribute, &v));
    return v;
}

static uint64_t info_u64(hsa_executable_symbol_t s, int attribute)
{
    uint64_t v = 0;
    OK(hsa_executable_symbol_get_info(s, (hsa_executable_symbol_info_t)attribute, &v));
    return v;
}

/* Runs scale.kd of ex over n items through its kernel object. */
static void run_scale(hsa_executable_t ex, int n)
{
    const hsasim_kernel_object *kd =
        (const hsasim_kernel_object *)(uintptr_t)info_u64(symbol(ex, "scale.kd"),
                                                           HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT);
    REQUIRE(kd && kd->magic == HSASIM_KERNEL_MAGIC);
    float *in = malloc(sizeof(float) * (size_t)n), *out = malloc(sizeof(float) * (size_t)n);
    REQUIRE(in && out);
    for (int i = 0; i < n; i++) {
        in[i] = (float)i;
        out[i] = 0;
    }
    scale_args args = {.out = out, .in = in, .n = (uint32_t)n, .coef = {3.0f, 0.5f, 1}, .tail = 1};
    uint32_t wg = 16, groups = ((uint32_t)n + wg - 1) / wg;
    hsasim_dispatch d = {.dimensions = 1,
                         .grid_size = {(uint32_t)n, 1, 1},
                         .workgroup_size = {wg, 1, 1},
                         .group_count = {groups, 1, 1}};
    for (uint32_t g = 0; g < groups; g++) {
        d.group_id[0] = g;
        kd->fn(&args, &d);
    }
    for (int i = 0; i < n; i++)
        CHECK(out[i] == (float)i * 3.0f + 0.5f + 2.0f);
    free(in);
    free(out);
}

/* --- readers ------------------------------------------------------------------------- */

static void test_readers(void)
{
    hsa_code_object_reader_t r;
    ST(hsa_code_object_reader_create_from_memory(NULL, 10, &r), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_code_object_reader_create_from_memory(basic.data, 0, &r), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_code_object_reader_create_from_memory(basic.data, basic.size, NULL),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_code_object_reader_create_from_file(-1, &r), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_code_object_reader_create_from_file(1000000, &r), HSA_STATUS_ERROR_INVALID_FILE);
    ST(hsa_code_object_reader_destroy((hsa_code_object_reader_t){0x1234}),
       HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER);
    ST(hsa_code_object_reader_destroy((hsa_code_object_reader_t){0}),
       HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER);

    /* An empty file is no code object (ROCR checks the size at creation). */
    char dir[4096], path[4200];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "hsasim-reader") == 0);
    snprintf(path, sizeof path, "%s/empty.co", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    REQUIRE(fd >= 0);
    ST(hsa_code_object_reader_create_from_file(fd, &r), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    close(fd);

    /* From the file: loads, and (as ROCR) leaves the file offset at its end. */
    fd = open(opt.co, O_RDONLY);
    REQUIRE(fd >= 0);
    OK(hsa_code_object_reader_create_from_file(fd, &r));
    CHECK_EQ_U64(lseek(fd, 0, SEEK_CUR), basic.size);
    close(fd); /* the reader does not need the descriptor any more */
    hsa_executable_t ex;
    OK(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL, &ex));
    OK(hsa_executable_load_agent_code_object(ex, gpu, r, NULL, NULL));
    run_scale(ex, 33);
    OK(hsa_code_object_reader_destroy(r));
    ST(hsa_code_object_reader_destroy(r), HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER);
    /* Loading from a destroyed reader. */
    ST(hsa_executable_load_agent_code_object(ex, gpu, r, NULL, NULL),
       HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER);
    OK(hsa_executable_destroy(ex));
    test_remove_tmpdir(dir);
}

/* --- executables and symbols --------------------------------------------------------------- */

typedef struct names {
    char list[16][64];
    int n;
    hsa_agent_t agent;
} names;

static hsa_status_t collect_agent_symbol(hsa_executable_t ex, hsa_agent_t agent,
                                         hsa_executable_symbol_t s, void *data)
{
    (void)ex;
    names *nm = data;
    CHECK_EQ_U64(agent.handle, nm->agent.handle);
    uint32_t len = info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_NAME_LENGTH);
    REQUIRE(len < 64 && nm->n < 16);
    memset(nm->list[nm->n], 0, 64);
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_NAME, nm->list[nm->n]));
    nm->n++;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t collect_symbol(hsa_executable_t ex, hsa_executable_symbol_t s, void *data)
{
    return collect_agent_symbol(ex, ((names *)data)->agent, s, data);
}

static hsa_status_t stop_at_second(hsa_executable_t ex, hsa_executable_symbol_t s, void *data)
{
    (void)ex;
    (void)s;
    return ++*(int *)data == 2 ? HSA_STATUS_INFO_BREAK : HSA_STATUS_SUCCESS;
}

static hsa_status_t destroy_during(hsa_executable_t ex, hsa_executable_symbol_t s, void *data)
{
    (void)s;
    ++*(int *)data;
    OK(hsa_executable_destroy(ex));
    return HSA_STATUS_SUCCESS;
}

static void test_executable(void)
{
    hsa_executable_t ex, bogus = {0x5151};
    ST(hsa_executable_create_alt((hsa_profile_t)7, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL, &ex),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_create_alt(HSA_PROFILE_FULL, (hsa_default_float_rounding_mode_t)9, NULL, &ex),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR, NULL, NULL),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    OK(hsa_executable_create_alt(HSA_PROFILE_BASE, HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR, "", &ex));

    hsa_profile_t profile;
    hsa_executable_state_t state;
    hsa_default_float_rounding_mode_t rounding;
    OK(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_PROFILE, &profile));
    CHECK_EQ_U64(profile, HSA_PROFILE_BASE);
    OK(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_STATE, &state));
    CHECK_EQ_U64(state, HSA_EXECUTABLE_STATE_UNFROZEN);
    OK(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_DEFAULT_FLOAT_ROUNDING_MODE, &rounding));
    CHECK_EQ_U64(rounding, HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR);
    ST(hsa_executable_get_info(ex, (hsa_executable_info_t)99, &state), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_STATE, NULL), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_get_info(bogus, HSA_EXECUTABLE_INFO_STATE, &state),
       HSA_STATUS_ERROR_INVALID_EXECUTABLE);

    /* Handles and arguments, in ROCR's order. */
    hsa_code_object_reader_t r = reader_of(&basic);
    ST(hsa_executable_load_agent_code_object(bogus, gpu, r, NULL, NULL), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
    ST(hsa_executable_load_agent_code_object(ex, gpu, (hsa_code_object_reader_t){0x77}, NULL, NULL),
       HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER);
    ST(hsa_executable_load_agent_code_object(ex, gpu, r, "-no-such-option", NULL), HSA_STATUS_ERROR);
    ST(hsa_executable_load_agent_code_object(ex, (hsa_agent_t){0x9999}, r, NULL, NULL),
       HSA_STATUS_ERROR_INVALID_AGENT);
    /* A CPU agent has no ISA: ROCR's ISA check fails. */
    ST(hsa_executable_load_agent_code_object(ex, cpu, r, NULL, NULL),
       HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS);
    /* v3+ code objects have no program segments (ROCR: agent 0 has no profile). */
    ST(hsa_executable_load_program_code_object(ex, r, NULL, NULL), HSA_STATUS_ERROR_OUT_OF_RESOURCES);

    hsa_loaded_code_object_t lco = {0};
    OK(hsa_executable_load_agent_code_object(ex, gpu, r, "-dump-code -dump-dir /nonexistent", &lco));
    CHECK(lco.handle != 0);
    /* The same symbols again for the same agent. */
    ST(hsa_executable_load_agent_code_object(ex, gpu, r, NULL, NULL),
       HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED);
    OK(hsa_code_object_reader_destroy(r));

    /* Symbols, in name order, all agent symbols. */
    names nm = {.agent = gpu};
    OK(hsa_executable_iterate_agent_symbols(ex, gpu, collect_agent_symbol, &nm));
    static const char *const want[] = {"hsasim_test_banner", "hsasim_test_counter", "reduce.kd",
                                       "scale.kd", "tick.kd"};
    CHECK_EQ_U64(nm.n, 5);
    for (int i = 0; i < 5 && i < nm.n; i++)
        CHECK_EQ_STR(nm.list[i], want[i]);
    names all = {.agent = gpu};
    OK(hsa_executable_iterate_symbols(ex, collect_symbol, &all));
    CHECK_EQ_U64(all.n, 5);
    names none = {.agent = cpu};
    OK(hsa_executable_iterate_agent_symbols(ex, cpu, collect_agent_symbol, &none));
    CHECK_EQ_U64(none.n, 0);
    names program = {0};
    OK(hsa_executable_iterate_program_symbols(ex, collect_symbol, &program));
    CHECK_EQ_U64(program.n, 0);
    int count = 0;
    ST(hsa_executable_iterate_symbols(ex, stop_at_second, &count), HSA_STATUS_INFO_BREAK);
    CHECK_EQ_U64(count, 2);
    ST(hsa_executable_iterate_agent_symbols(ex, (hsa_agent_t){0x42}, collect_agent_symbol, &nm),
       HSA_STATUS_ERROR_INVALID_AGENT);
    ST(hsa_executable_iterate_symbols(ex, NULL, NULL), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_iterate_symbols(bogus, collect_symbol, &all), HSA_STATUS_ERROR_INVALID_EXECUTABLE);

    /* Lookups. */
    hsa_executable_symbol_t s;
    OK(hsa_executable_get_symbol_by_name(ex, "scale.kd", &gpu, &s));
    ST(hsa_executable_get_symbol_by_name(ex, "scale", &gpu, &s), HSA_STATUS_ERROR_INVALID_SYMBOL_NAME);
    ST(hsa_executable_get_symbol_by_name(ex, "scale.kd", NULL, &s), HSA_STATUS_ERROR_INVALID_SYMBOL_NAME);
    ST(hsa_executable_get_symbol_by_name(ex, "scale.kd", &cpu, &s), HSA_STATUS_ERROR_INVALID_SYMBOL_NAME);
    ST(hsa_executable_get_symbol_by_name(ex, "", &gpu, &s), HSA_STATUS_ERROR_INVALID_SYMBOL_NAME);
    ST(hsa_executable_get_symbol_by_name(ex, NULL, &gpu, &s), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_get_symbol_by_name(bogus, "scale.kd", &gpu, &s), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
    hsa_executable_symbol_t old;
    OK(hsa_executable_get_symbol(ex, NULL, "scale.kd", gpu, 0, &old));
    CHECK_EQ_U64(old.handle, symbol(ex, "scale.kd").handle);
    OK(hsa_executable_get_symbol(ex, "", "scale.kd", gpu, 0, &old));
    ST(hsa_executable_get_symbol(ex, "module", "scale.kd", gpu, 0, &old),
       HSA_STATUS_ERROR_INVALID_SYMBOL_NAME);
    ST(hsa_executable_get_symbol(ex, NULL, "", gpu, 0, &old), HSA_STATUS_ERROR_INVALID_SYMBOL_NAME);

    /* Kernel symbol info, as ROCR answers for a v3+ "<name>.kd". */
    s = symbol(ex, "scale.kd");
    hsa_symbol_kind_t kind;
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_TYPE, &kind));
    CHECK_EQ_U64(kind, HSA_SYMBOL_KIND_KERNEL);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_NAME_LENGTH), 8);
    char name[16];
    memset(name, 'X', sizeof name);
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_NAME, name));
    CHECK(memcmp(name, "scale.kd", 8) == 0 && name[8] == 'X'); /* no NUL written, as ROCR */
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_MODULE_NAME_LENGTH), 0);
    hsa_symbol_linkage_t linkage;
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_LINKAGE, &linkage));
    CHECK_EQ_U64(linkage, HSA_SYMBOL_LINKAGE_PROGRAM);
    bool flag = false;
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_IS_DEFINITION, &flag));
    CHECK(flag);
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_DYNAMIC_CALLSTACK, &flag));
    CHECK(!flag);
    hsa_agent_t agent;
    OK(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_AGENT, &agent));
    CHECK_EQ_U64(agent.handle, gpu.handle);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE), 296);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_ALIGNMENT), 16);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE), 0);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE), 0);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_CALL_CONVENTION), 0);
    CHECK_EQ_U64(info_u32(s, 19), 64);  /* HSA_CODE_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE */
    CHECK(info_u32(s, 100) >= sizeof(hsasim_kernel_object)); /* kernel object size */
    CHECK_EQ_U64(info_u32(s, 101), 64);                      /* kernel object alignment */
    uint64_t kobj = info_u64(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT);
    CHECK(kobj != 0 && kobj % 64 == 0);
    CHECK_EQ_U64(info_u64(s, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS), kobj);
    uint32_t u;
    ST(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE, &u),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_INDIRECT_FUNCTION_OBJECT, &kobj),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_TYPE, NULL),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_symbol_get_info((hsa_executable_symbol_t){0x31337}, HSA_EXECUTABLE_SYMBOL_INFO_TYPE, &kind),
       HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL);

    s = symbol(ex, "reduce.kd");
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE), 44);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE), 4096);
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE), 64);
    s = symbol(ex, "tick.kd");
    CHECK_EQ_U64(info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE), 0);

    /* The kernel object is the right function: run it. */
    run_scale(ex, 100);

    /* Variables: the counter the kernel tick increments. */
    hsa_executable_symbol_t v = symbol(ex, "hsasim_test_counter");
    OK(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_TYPE, &kind));
    CHECK_EQ_U64(kind, HSA_SYMBOL_KIND_VARIABLE);
    CHECK_VAR_SIZE(info_u32(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE), sizeof(unsigned long));
    CHECK(info_u32(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALIGNMENT) >= 1);
    OK(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_IS_CONST, &flag));
    CHECK(flag); /* a writable variable: ROCR's IsConst tests SHF_WRITE that way round */
    hsa_variable_segment_t seg;
    hsa_variable_allocation_t alloc;
    OK(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SEGMENT, &seg));
    CHECK_EQ_U64(seg, HSA_VARIABLE_SEGMENT_GLOBAL);
    OK(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALLOCATION, &alloc));
    CHECK_EQ_U64(alloc, HSA_VARIABLE_ALLOCATION_PROGRAM);
    ST(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE, &u),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    unsigned long *counter = (unsigned long *)(uintptr_t)info_u64(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS);
    REQUIRE(counter);
    const hsasim_kernel_object *tick =
        (const hsasim_kernel_object *)(uintptr_t)info_u64(symbol(ex, "tick.kd"),
                                                           HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT);
    unsigned long before = *counter;
    hsasim_dispatch d = {.dimensions = 1, .grid_size = {4, 1, 1}, .workgroup_size = {1, 1, 1},
                         .group_count = {4, 1, 1}};
    for (uint32_t g = 0; g < 4; g++) {
        d.group_id[0] = g;
        tick->fn(NULL, &d);
    }
    CHECK_EQ_U64(*counter - before, 4);
    hsa_executable_symbol_t banner = symbol(ex, "hsasim_test_banner");
    CHECK_VAR_SIZE(info_u32(banner, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE), 16);
    OK(hsa_executable_symbol_get_info(banner, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_IS_CONST, &flag));
    CHECK(!flag); /* read-only data: not SHF_WRITE */
    CHECK_EQ_STR((const char *)(uintptr_t)info_u64(banner, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS),
                 "host kernels");

    /* Externally defined variables. */
    static int program_var, agent_var;
    OK(hsa_executable_global_variable_define(ex, "program_var", &program_var));
    ST(hsa_executable_global_variable_define(ex, "program_var", &program_var),
       HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED);
    ST(hsa_executable_global_variable_define(ex, NULL, &program_var), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    OK(hsa_executable_readonly_variable_define(ex, gpu, "agent_var", &agent_var));
    OK(hsa_executable_get_symbol_by_name(ex, "program_var", NULL, &v));
    CHECK_EQ_U64(info_u64(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS), (uintptr_t)&program_var);
    OK(hsa_executable_get_symbol(ex, NULL, "program_var", gpu, 0, &old)); /* a program symbol wins */
    CHECK_EQ_U64(old.handle, v.handle);
    v = symbol(ex, "agent_var");
    OK(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SEGMENT, &seg));
    CHECK_EQ_U64(seg, HSA_VARIABLE_SEGMENT_READONLY);
    OK(hsa_executable_symbol_get_info(v, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALLOCATION, &alloc));
    CHECK_EQ_U64(alloc, HSA_VARIABLE_ALLOCATION_AGENT);
    program = (names){0};
    OK(hsa_executable_iterate_program_symbols(ex, collect_symbol, &program));
    CHECK_EQ_U64(program.n, 1);
    all = (names){.agent = gpu};
    OK(hsa_executable_iterate_symbols(ex, collect_symbol, &all));
    CHECK_EQ_U64(all.n, 7);
    CHECK_EQ_STR(all.list[0], "program_var"); /* program symbols come first */

    /* Validation and freezing. */
    uint32_t result = 7;
    OK(hsa_executable_validate(ex, &result));
    CHECK_EQ_U64(result, 0);
    result = 7;
    OK(hsa_executable_validate_alt(ex, NULL, &result));
    CHECK_EQ_U64(result, 0);
    ST(hsa_executable_validate(ex, NULL), HSA_STATUS_ERROR_INVALID_ARGUMENT);
    ST(hsa_executable_validate(bogus, &result), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
    OK(hsa_executable_freeze(ex, NULL));
    OK(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_STATE, &state));
    CHECK_EQ_U64(state, HSA_EXECUTABLE_STATE_FROZEN);
    ST(hsa_executable_freeze(ex, NULL), HSA_STATUS_ERROR_FROZEN_EXECUTABLE);
    ST(hsa_executable_freeze(bogus, NULL), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
    r = reader_of(&gfx942);
    ST(hsa_executable_load_agent_code_object(ex, gpu, r, NULL, NULL), HSA_STATUS_ERROR_FROZEN_EXECUTABLE);
    OK(hsa_code_object_reader_destroy(r));
    ST(hsa_executable_global_variable_define(ex, "late", &program_var), HSA_STATUS_ERROR_FROZEN_EXECUTABLE);
    run_scale(ex, 10); /* still runs */

    /* Destroyed: every handle is refused, nothing crashes. */
    s = symbol(ex, "scale.kd");
    OK(hsa_executable_destroy(ex));
    ST(hsa_executable_destroy(ex), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
    ST(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_TYPE, &kind),
       HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL);
    ST(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_STATE, &state), HSA_STATUS_ERROR_INVALID_EXECUTABLE);

    /* The deprecated create, frozen from the start. */
    ST(hsa_executable_create(HSA_PROFILE_FULL, (hsa_executable_state_t)5, NULL, &ex),
       HSA_STATUS_ERROR_INVALID_ARGUMENT);
    OK(hsa_executable_create(HSA_PROFILE_FULL, HSA_EXECUTABLE_STATE_FROZEN, NULL, &ex));
    OK(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_STATE, &state));
    CHECK_EQ_U64(state, HSA_EXECUTABLE_STATE_FROZEN);
    OK(hsa_executable_get_info(ex, HSA_EXECUTABLE_INFO_DEFAULT_FLOAT_ROUNDING_MODE, &rounding));
    CHECK_EQ_U64(rounding, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT);
    OK(hsa_executable_destroy(ex));

    /* A callback that destroys the executable ends the iteration cleanly. */
    REQUIRE(load_new(&basic, gpu, &ex) == HSA_STATUS_SUCCESS);
    count = 0;
    OK(hsa_executable_iterate_symbols(ex, destroy_during, &count));
    CHECK_EQ_U64(count, 1);
    ST(hsa_executable_destroy(ex), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
}

/* --- copies, targets, refusals ---------------------------------------------------------------- */

static void test_copies(void)
{
    /* Each load is its own copy: separate kernel objects and variables. */
    hsa_executable_t a, b;
    REQUIRE(load_new(&basic, gpu, &a) == HSA_STATUS_SUCCESS);
    REQUIRE(load_new(&basic, gpu, &b) == HSA_STATUS_SUCCESS);
    uint64_t ka = info_u64(symbol(a, "scale.kd"), HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT);
    uint64_t kb = info_u64(symbol(b, "scale.kd"), HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT);
    CHECK(ka != kb);
    uint64_t va = info_u64(symbol(a, "hsasim_test_counter"), HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS);
    uint64_t vb = info_u64(symbol(b, "hsasim_test_counter"), HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS);
    CHECK(va != vb);
    OK(hsa_executable_destroy(a));
    run_scale(b, 50); /* unaffected by the other copy going away */
    /* Load again after an unload: the memfd name may be reused. */
    REQUIRE(load_new(&basic, gpu, &a) == HSA_STATUS_SUCCESS);
    run_scale(a, 20);
    OK(hsa_executable_destroy(a));
    OK(hsa_executable_destroy(b));
}

static void test_targets(void)
{
    hsa_executable_t ex;
    /* amdhsa.target gfx942 on the mi300x (gfx942:sramecc?:xnack-) */
    OK(load_new(&gfx942, gpu, &ex));
    OK(hsa_executable_destroy(ex));
    /* xnack+ asked, the agent has xnack- */
    ST(load_new(&xnack, gpu, &ex), HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS);
    OK(hsa_executable_destroy(ex));
    ST(load_new(&gfx90a, gpu, &ex), HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS);
    OK(hsa_executable_destroy(ex));
}

static void test_refusals(void)
{
    hsa_executable_t ex;
    /* GPU ISA: a minimal ELF header of an AMDGPU code object... */
    Elf64_Ehdr eh = {0};
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    eh.e_ident[EI_OSABI] = 64; /* ELFOSABI_AMDGPU_HSA */
    eh.e_type = ET_DYN;
    eh.e_machine = 224; /* EM_AMDGPU */
    blob fake = {(uint8_t *)&eh, sizeof eh};
    ST(load_new(&fake, gpu, &ex), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    OK(hsa_executable_destroy(ex));
    /* ...and a real one from clang. */
    if (strcmp(opt.amdgpu, "-") != 0) {
        blob real = read_blob(opt.amdgpu);
        ST(load_new(&real, gpu, &ex), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
        OK(hsa_executable_destroy(ex));
        free(real.data);
    }
    /* A shared object without the metadata note (the kernels before objcopy). */
    ST(load_new(&raw, gpu, &ex), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    OK(hsa_executable_destroy(ex));
    /* Garbage, and a truncated code object. */
    uint8_t junk[256];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 37 + 11);
    blob b = {junk, sizeof junk};
    ST(load_new(&b, gpu, &ex), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    OK(hsa_executable_destroy(ex));
    b = (blob){basic.data, basic.size / 2};
    ST(load_new(&b, gpu, &ex), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    OK(hsa_executable_destroy(ex));
    /* Metadata that disagrees with the descriptor: scale's kernarg segment
     * size 296 (msgpack uint16 0xcd 0x01 0x28) changed to 300. */
    uint8_t *copy = malloc(basic.size);
    REQUIRE(copy);
    memcpy(copy, basic.data, basic.size);
    static const uint8_t key[] = "\xb5.kernarg_segment_size\xcd\x01\x28";
    uint8_t *hit = memmem(copy, basic.size, key, sizeof key - 1);
    REQUIRE(hit);
    hit[sizeof key - 2] = 0x2c;
    b = (blob){copy, basic.size};
    ST(load_new(&b, gpu, &ex), HSA_STATUS_ERROR_INVALID_CODE_OBJECT);
    OK(hsa_executable_destroy(ex));
    free(copy);
}

/* --- through a queue (the simulated runtime only) -------------------------------------------------- */

#ifndef HSASIM_TEST_STUB_RUNTIME
static hsa_status_t find_host_pool(hsa_amd_memory_pool_t pool, void *data)
{
    uint32_t flags = 0, *want = data;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    bool kernarg = flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT;
    if ((flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED) &&
        kernarg == (want[0] == HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT)) {
        memcpy(&want[1], &pool, sizeof pool);
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

/* Host memory the GPU may touch (kernarg: from the kernarg pool): system
 * memory from a pool is mapped to no GPU until allowed, as in ROCR. */
static void *gpu_visible(size_t size, bool kernarg)
{
    uint32_t want[3] = {kernarg ? HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT : 0, 0, 0};
    hsa_amd_memory_pool_t pool;
    REQUIRE(hsa_amd_agent_iterate_memory_pools(cpu, find_host_pool, want) ==
            HSA_STATUS_INFO_BREAK);
    memcpy(&pool, &want[1], sizeof pool);
    void *p = NULL;
    OK(hsa_amd_memory_pool_allocate(pool, size, 0, &p));
    hsa_agent_t both[2] = {cpu, gpu};
    OK(hsa_amd_agents_allow_access(2, both, NULL, p));
    return p;
}

/* Dispatches a kernel of the executable by its symbol, as an application does:
 * kernel object, segment sizes and kernarg size from the symbol. */
static void dispatch_symbol(hsa_queue_t *q, hsa_executable_symbol_t s, const void *args,
                            size_t args_size, uint32_t grid, uint16_t wg)
{
    uint32_t kernarg_size = info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE);
    uint32_t kernarg_align = info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_ALIGNMENT);
    CHECK(args_size >= kernarg_size);
    void *kernarg = gpu_visible(args_size, true);
    CHECK((uintptr_t)kernarg % kernarg_align == 0);
    memcpy(kernarg, args, args_size);
    hsa_signal_t done;
    OK(hsa_signal_create(1, 0, NULL, &done));
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    p.setup = 1 << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS;
    p.workgroup_size_x = wg;
    p.workgroup_size_y = p.workgroup_size_z = 1;
    p.grid_size_x = grid;
    p.grid_size_y = p.grid_size_z = 1;
    p.group_segment_size = info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE);
    p.private_segment_size = info_u32(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE);
    p.kernel_object = info_u64(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT);
    p.kernarg_address = kernarg;
    p.completion_signal = done;
    uint64_t idx = hsa_queue_add_write_index_scacq_screl(q, 1);
    uint8_t *slot = (uint8_t *)q->base_address + (idx & (q->size - 1)) * 64;
    memcpy(slot + 4, (const uint8_t *)&p + 4, 60);
    uint32_t header = (HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE) |
                      ((uint32_t)p.setup << 16);
    __atomic_store_n((uint32_t *)slot, header, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)idx);
    CHECK_EQ_U64(hsa_signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, 10000000000ull,
                                           HSA_WAIT_STATE_BLOCKED), 0);
    OK(hsa_signal_destroy(done));
    OK(hsa_amd_memory_pool_free(kernarg));
}

static void test_queue(void)
{
    hsa_executable_t ex;
    REQUIRE(load_new(&basic, gpu, &ex) == HSA_STATUS_SUCCESS);
    OK(hsa_executable_freeze(ex, NULL));
    hsa_queue_t *q = NULL;
    OK(hsa_queue_create(gpu, 64, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX, UINT32_MAX, &q));
    REQUIRE(q);

    enum { N = 1000 };
    float *in = gpu_visible(N * sizeof *in, false), *out = gpu_visible(N * sizeof *out, false);
    for (int i = 0; i < N; i++)
        in[i] = (float)i;
    scale_args sa = {.out = out, .in = in, .n = N - 10, .coef = {0.5f, 2.0f, -1}, .tail = 3};
    dispatch_symbol(q, symbol(ex, "scale.kd"), &sa, sizeof sa, N, 64);
    for (int i = 0; i < N; i++)
        CHECK(out[i] == (i < N - 10 ? (float)i * 0.5f + 4.0f : 0.0f));

    /* reduce uses its 4096-byte group segment: sum of table[x % 4] * scale
     * over 256 items in 4 groups, plus flag and count per group. */
    uint32_t *result = gpu_visible(sizeof *result, false);
    uint32_t *table = gpu_visible(4 * sizeof *table, false);
    for (uint32_t i = 0; i < 4; i++)
        table[i] = i + 1;
    reduce_args ra = {.result = result, .table = table, .flag = true, .scale = 2.0, .count = 5};
    dispatch_symbol(q, symbol(ex, "reduce.kd"), &ra, sizeof ra, 256, 64);
    CHECK_EQ_U64(*result, 256 / 4 * (1 + 2 + 3 + 4) * 2 + 4 * (1 + 5));

    OK(hsa_queue_destroy(q));
    OK(hsa_executable_destroy(ex));
    OK(hsa_amd_memory_pool_free(in));
    OK(hsa_amd_memory_pool_free(out));
    OK(hsa_amd_memory_pool_free(result));
    OK(hsa_amd_memory_pool_free(table));
}
#endif

/* --- concurrency (for TSan) ---------------------------------------------------------------------- */

static void *worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < 8; i++) {
        hsa_executable_t ex;
        if (load_new(&basic, gpu, &ex) != HSA_STATUS_SUCCESS) {
            CHECK(0);
            continue;
        }
        names nm = {.agent = gpu};
        OK(hsa_executable_iterate_agent_symbols(ex, gpu, collect_agent_symbol, &nm));
        CHECK_EQ_U64(nm.n, 5);
        run_scale(ex, 40);
        OK(hsa_executable_freeze(ex, NULL));
        OK(hsa_executable_destroy(ex));
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        REQUIRE(pthread_create(&t[i], NULL, worker, NULL) == 0);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
}

/* --- setup ----------------------------------------------------------------------------------- */

static void parse_args(int argc, char **argv)
{
    opt.amdgpu = "-";
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *k = argv[i], *v = argv[i + 1];
        if (!strcmp(k, "--co")) opt.co = v;
        else if (!strcmp(k, "--raw")) opt.raw = v;
        else if (!strcmp(k, "--gfx942")) opt.gfx942 = v;
        else if (!strcmp(k, "--xnack")) opt.xnack = v;
        else if (!strcmp(k, "--gfx90a")) opt.gfx90a = v;
        else if (!strcmp(k, "--amdgpu")) opt.amdgpu = v;
        else if (!strcmp(k, "--sim")) opt.sim = v;
        else {
            fprintf(stderr, "unknown argument %s\n", k);
            exit(2);
        }
    }
    if (!opt.co || !opt.raw || !opt.gfx942 || !opt.xnack || !opt.gfx90a) {
        fprintf(stderr, "usage: %s --co F --raw F --gfx942 F --xnack F --gfx90a F --amdgpu F|- "
                        "[--sim ROCHP_SIM]\n", argv[0]);
        exit(2);
    }
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    basic = read_blob(opt.co);
    raw = read_blob(opt.raw);
    gfx942 = read_blob(opt.gfx942);
    xnack = read_blob(opt.xnack);
    gfx90a = read_blob(opt.gfx90a);

    char tree[4096] = "";
    if (opt.sim) {
        /* A virtual mi300x for hsasim. */
        char dir[4096], cmd[8400];
        REQUIRE(test_make_tmpdir(dir, sizeof dir, "hsasim-co") == 0);
        snprintf(tree, sizeof tree, "%s", dir);
        snprintf(cmd, sizeof cmd, "'%s' create '%s/sys' --model mi300x --gpus 1 >/dev/null",
                 opt.sim, dir);
        REQUIRE(system(cmd) == 0);
        snprintf(cmd, sizeof cmd, "%s/sys", dir);
        setenv("ROCHP_SYSFS_ROOT", cmd, 1);
    }

    /* Nothing works before hsa_init. */
    hsa_executable_t ex;
    hsa_code_object_reader_t r;
    ST(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL, &ex),
       HSA_STATUS_ERROR_NOT_INITIALIZED);
    ST(hsa_code_object_reader_create_from_memory(basic.data, basic.size, &r),
       HSA_STATUS_ERROR_NOT_INITIALIZED);

    hsa_status_t st = hsa_init();
    if (st != HSA_STATUS_SUCCESS) {
        fprintf(stderr, "hsa_init: %d\n", (int)st);
        return 1;
    }
    OK(hsa_iterate_agents(find_agents, NULL));
    REQUIRE(gpu.handle && cpu.handle);

    test_readers();
    test_executable();
    test_copies();
    test_targets();
    test_refusals();
    test_threads();
#ifndef HSASIM_TEST_STUB_RUNTIME
    test_queue();
#endif

#if defined(HSASIM_TEST_STUB_RUNTIME) || defined(HSASIM_TEST_SHUTDOWN_RELEASES)
    /* Closing the runtime destroys what is left, as in ROCR (hsa_shut_down
     * calls sim_executables_release_all). */
    REQUIRE(load_new(&basic, gpu, &ex) == HSA_STATUS_SUCCESS);
    hsa_executable_symbol_t s = symbol(ex, "scale.kd");
    OK(hsa_shut_down());
    OK(hsa_init());
    hsa_symbol_kind_t kind;
    ST(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_TYPE, &kind),
       HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL);
    ST(hsa_executable_destroy(ex), HSA_STATUS_ERROR_INVALID_EXECUTABLE);
#endif
    OK(hsa_shut_down());
    ST(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT, NULL, &ex),
       HSA_STATUS_ERROR_NOT_INITIALIZED);

    if (tree[0])
        test_remove_tmpdir(tree);
    free(basic.data);
    free(raw.data);
    free(gfx942.data);
    free(xnack.data);
    free(gfx90a.data);
    return check_result();
}
