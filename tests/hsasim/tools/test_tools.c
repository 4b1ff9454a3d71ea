/* hsasim loads the HSA tools of HSA_TOOLS_LIB as ROCR 5.2.3 does
 * (lib/hsasim/tools.c; runtime.cpp, Runtime::LoadTools and UnloadTools):
 *
 *  - at the 0 -> 1 hsa_init, once, after the agents exist (OnLoad finds the
 *    GPUs through the table), in the order of the list, each OnLoad given
 *    the table (5.2.3: root 1.48.0, every sub-table major 1, minor its size,
 *    step 0; 6.1.2: root 3.56.0, sub-tables major 2, AmdExtTable step 1; the
 *    finalizer's 0.0.0 as ROCR loads none), runtime_version the root's major,
 *    and the
 *    tools whose OnLoad returned false so far -- not a library that did not
 *    open, which is only reported on stderr (as Debian's build prints it);
 *  - a table entry a tool replaces sees every call of the program (the
 *    deprecated names too) and none of hsasim's own: signals hsasim creates,
 *    packet completions its processor signals;
 *  - at the last hsa_shut_down, OnUnload in reverse order with the runtime
 *    still up, then the table back to hsasim's own functions;
 *  - quotes and backslashes in the list, as ROCR's parse_tool_names reads them;
 *  - hsa_init and hsa_shut_down from OnLoad or OnUnload fail (ROCR would
 *    deadlock), and a concurrent hsa_init waits until the tools have loaded.
 *
 * The tools (tool_lib.c) report to this program through tool_event_add and
 * tool_count, which it exports to them. */
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "ops.h"
#include "tmpdir.h"
#include "tool_events.h"

/* --- what the tools report --------------------------------------------------- */
#define MAX_EVENTS 32
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;
static tool_event events[MAX_EVENTS];
static int n_events;
static _Atomic unsigned long counts[COUNT_N];

void tool_event_add(const tool_event *e)
{
    pthread_mutex_lock(&events_lock);
    if (n_events < MAX_EVENTS)
        events[n_events++] = *e;
    pthread_mutex_unlock(&events_lock);
}

void tool_count(enum tool_counter which)
{
    atomic_fetch_add(&counts[which], 1);
}

static void reset_reports(void)
{
    pthread_mutex_lock(&events_lock);
    n_events = 0;
    pthread_mutex_unlock(&events_lock);
    for (int i = 0; i < COUNT_N; i++)
        atomic_store(&counts[i], 0);
}

/* "tool:what tool:what ..." */
static const char *sequence(void)
{
    static char out[1024];
    size_t at = 0;
    out[0] = '\0';
    pthread_mutex_lock(&events_lock);
    for (int i = 0; i < n_events; i++)
        at += (size_t)snprintf(out + at, sizeof out - at, "%s%s:%s", i ? " " : "",
                               events[i].tool, events[i].what);
    pthread_mutex_unlock(&events_lock);
    return out;
}

static const tool_event *event_of(const char *tool, const char *what)
{
    const tool_event *found = NULL;
    pthread_mutex_lock(&events_lock);
    for (int i = 0; i < n_events && !found; i++)
        if (!strcmp(events[i].tool, tool) && !strcmp(events[i].what, what))
            found = &events[i];
    pthread_mutex_unlock(&events_lock);
    return found;
}

static unsigned long count(enum tool_counter which)
{
    return atomic_load(&counts[which]);
}

/* --- stderr of a call ---------------------------------------------------------- */
static char scratch[256]; /* the test's directory (the tree in tree/) */

typedef struct captured {
    int saved;
    char path[300];
} captured;

static void capture_start(captured *c)
{
    snprintf(c->path, sizeof c->path, "%s/stderr.txt", scratch);
    fflush(stderr);
    c->saved = dup(2);
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    REQUIRE(c->saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
}

static void capture_end(captured *c, char *out, size_t size)
{
    fflush(stderr);
    REQUIRE(dup2(c->saved, 2) == 2);
    close(c->saved);
    FILE *f = fopen(c->path, "r");
    REQUIRE(f);
    size_t n = fread(out, 1, size - 1, f);
    out[n] = '\0';
    fclose(f);
    unlink(c->path);
}

/* --- helpers -------------------------------------------------------------------- */
static hsa_status_t first_gpu(hsa_agent_t agent, void *data)
{
    hsa_device_type_t type;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) == HSA_STATUS_SUCCESS &&
        type == HSA_DEVICE_TYPE_GPU) {
        *(hsa_agent_t *)data = agent;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

/* A barrier-AND packet with no dependency: the queue's processor signals
 * completion (hsasim's hsa_signal_subtract_scacq_screl, inside). */
static void barrier(hsa_queue_t *q, hsa_signal_t completion)
{
    hsa_barrier_and_packet_t p;
    memset(&p, 0, sizeof p);
    p.completion_signal = completion;
    uint64_t index = hsa_queue_add_write_index_scacq_screl(q, 1);
    uint8_t *slot = (uint8_t *)q->base_address + (index & (q->size - 1)) * 64;
    memcpy(slot + 2, (uint8_t *)&p + 2, sizeof p - 2);
    uint16_t header = (uint16_t)((HSA_PACKET_TYPE_BARRIER_AND << HSA_PACKET_HEADER_TYPE) |
                                 (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE) |
                                 (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE));
    __atomic_store_n((uint16_t *)slot, header, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
}

/* The versions ROCR's hsa_api_trace.h gives its tables.  ROCm 5.2.3: the
 * root 1 (five members, 48 bytes), the others 1, steps 0.  ROCm 6.1.2: the
 * root 3 with ToolsApiTable *tools_ (56 bytes), the others 2, AmdExtTable's
 * step 1. */
#ifdef HSASIM_HAS_TOOLS_TABLE
enum { ROOT_MAJOR = 3, ROOT_SIZE = 56, TABLE_MAJOR = 2, AMD_EXT_STEP = 1 };
#else
enum { ROOT_MAJOR = 1, ROOT_SIZE = 48, TABLE_MAJOR = 1, AMD_EXT_STEP = 0 };
#endif

static void check_on_load(const tool_event *e, uint64_t failed_count, const char *failed0)
{
    REQUIRE(e);
    CHECK_EQ_U64(e->runtime_version, ROOT_MAJOR); /* ROCR passes the root's major */
    CHECK_EQ_U64(e->gpus, 2); /* the agents exist */
    CHECK_EQ_U64(e->failed_count, failed_count);
    CHECK(e->failed_null == (failed_count == 0)); /* ROCR passes &failed[0] */
    if (failed0)
        CHECK_EQ_STR(e->failed[0], failed0);
    CHECK_EQ_U64(e->root.major_id, ROOT_MAJOR);
    CHECK_EQ_U64(e->root.minor_id, ROOT_SIZE);
    CHECK_EQ_U64(sizeof(HsaApiTable), ROOT_SIZE);
    CHECK_EQ_U64(e->root.step_id, 0);
    /* minor: the size, as the real header has it (api_table_check.cpp) */
    CHECK_EQ_U64(e->core.major_id, TABLE_MAJOR);
    CHECK_EQ_U64(e->core.minor_id, sizeof(CoreApiTable));
    CHECK_EQ_U64(e->core.step_id, 0);
    CHECK_EQ_U64(e->amd_ext.major_id, TABLE_MAJOR);
    CHECK_EQ_U64(e->amd_ext.minor_id, sizeof(AmdExtTable));
    CHECK_EQ_U64(e->amd_ext.step_id, AMD_EXT_STEP);
    CHECK_EQ_U64(e->image.major_id, TABLE_MAJOR);
    CHECK_EQ_U64(e->image.minor_id, sizeof(ImageExtTable));
    CHECK_EQ_U64(e->image.step_id, 0);
    /* ROCR 5.2.3 loads no finalizer: its table stays 0.0.0 (hsa_ext_interface.cpp) */
    CHECK_EQ_U64(e->finalizer.major_id, 0);
    CHECK_EQ_U64(e->finalizer.minor_id, 0);
    CHECK_EQ_U64(e->finalizer.step_id, 0);
}

/* --- the tests ------------------------------------------------------------------- */
/* A missing library, a refusing tool, the counting tool, a plain one (quoted). */
static void test_load_count_unload(void)
{
    char missing[300], why[700], list[2048], expect[2048], err[4096];
    snprintf(missing, sizeof missing, "%s/no-such-tool.so", scratch);
    REQUIRE(dlopen(missing, RTLD_LAZY) == NULL);
    snprintf(why, sizeof why, "%s", dlerror());
    snprintf(list, sizeof list, "%s %s %s \"%s\"", missing, TOOL_REFUSE, TOOL_COUNT, TOOL_PLAIN);
    setenv("HSA_TOOLS_LIB", list, 1);
    setenv("HSA_TOOLS_REPORT_LOAD_FAILURE", "1", 1);
    reset_reports();
    captured c;
    capture_start(&c);
    hsa_status_t st = hsa_init();
    capture_end(&c, err, sizeof err);
    REQUIRE(st == HSA_STATUS_SUCCESS);
    snprintf(expect, sizeof expect, "LoadLib(%s) failed: %s\nTool lib \"%s\" failed to load.\n",
             missing, why, missing);
    CHECK_EQ_STR(err, expect);
    CHECK_EQ_STR(sequence(), "refuse:OnLoad count:OnLoad plain:OnLoad");
    /* The missing library is not a failed tool in ROCR 5.2.3: the refusing one is. */
    check_on_load(event_of("refuse", "OnLoad"), 0, NULL);
    check_on_load(event_of("count", "OnLoad"), 1, TOOL_REFUSE);
    check_on_load(event_of("plain", "OnLoad"), 1, TOOL_REFUSE);
    CHECK(dlopen(TOOL_REFUSE, RTLD_LAZY | RTLD_NOLOAD) == NULL); /* closed at once */

    hsa_agent_t gpu = {0};
    REQUIRE(hsa_iterate_agents(first_gpu, &gpu) == HSA_STATUS_INFO_BREAK);
    /* hsa_signal_create makes its signal with hsa_amd_signal_create inside
     * hsasim: the tool sees the first only. */
    hsa_signal_t s[5];
    for (int i = 0; i < 3; i++)
        REQUIRE(hsa_signal_create(1, 0, NULL, &s[i]) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(count(COUNT_SIGNAL_CREATE), 3);
    CHECK_EQ_U64(count(COUNT_AMD_SIGNAL_CREATE), 0);
    for (int i = 3; i < 5; i++)
        REQUIRE(hsa_amd_signal_create(1, 0, NULL, 0, &s[i]) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(count(COUNT_AMD_SIGNAL_CREATE), 2);
    CHECK_EQ_U64(count(COUNT_SIGNAL_CREATE), 3);
    /* The queue's processor completes a packet inside hsasim: not seen. */
    hsa_queue_t *q = NULL;
    REQUIRE(hsa_queue_create(gpu, 64, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX, UINT32_MAX,
                             &q) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(count(COUNT_QUEUE_CREATE), 1);
    barrier(q, s[0]);
    CHECK(hsa_signal_wait_scacquire(s[0], HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                    HSA_WAIT_STATE_BLOCKED) == 0);
    CHECK_EQ_U64(count(COUNT_SIGNAL_SUBTRACT), 0);
    /* The program's own, under the new name and the deprecated one. */
    hsa_signal_subtract_scacq_screl(s[1], 1);
    hsa_signal_subtract_acq_rel(s[2], 1);
    CHECK_EQ_U64(count(COUNT_SIGNAL_SUBTRACT), 2);
    CHECK(hsa_signal_load_relaxed(s[1]) == 0 && hsa_signal_load_relaxed(s[2]) == 0);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < 5; i++)
        CHECK(hsa_signal_destroy(s[i]) == HSA_STATUS_SUCCESS);

    /* Only the 0 -> 1 init loads tools, only the last shut_down unloads. */
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(sequence(), "refuse:OnLoad count:OnLoad plain:OnLoad");
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(sequence(),
                 "refuse:OnLoad count:OnLoad plain:OnLoad plain:OnUnload count:OnUnload");
    const tool_event *u = event_of("count", "OnUnload");
    CHECK(u && u->gpus == 2); /* the runtime still up */
    CHECK(dlopen(TOOL_PLAIN, RTLD_LAZY | RTLD_NOLOAD) == NULL); /* closed */
}

/* Without tools, after them: the table is hsasim's own again.  The counting
 * tool is still mapped (the program holds it), so a table left pointing at
 * its wrappers would count. */
static void test_table_restored(void)
{
    unsetenv("HSA_TOOLS_LIB");
    reset_reports();
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    hsa_signal_t s;
    REQUIRE(hsa_signal_create(1, 0, NULL, &s) == HSA_STATUS_SUCCESS);
    hsa_signal_subtract_scacq_screl(s, 1);
    CHECK(hsa_signal_destroy(s) == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(count(COUNT_SIGNAL_CREATE), 0);
    CHECK_EQ_U64(count(COUNT_SIGNAL_SUBTRACT), 0);
    CHECK_EQ_STR(sequence(), "");
}

/* Names as ROCR's parse_tool_names reads them: "..." and "\ " keep a space;
 * without HSA_TOOLS_REPORT_LOAD_FAILURE=1 only LoadLib's line. */
static void test_names(void)
{
    char dir[300], refuse[400], plain[400], missing[300], why[700], list[2048], expect[2048],
        err[4096];
    snprintf(dir, sizeof dir, "%s/a b", scratch);
    REQUIRE(mkdir(dir, 0700) == 0);
    snprintf(refuse, sizeof refuse, "%s/refuse.so", dir);
    snprintf(plain, sizeof plain, "%s/plain.so", dir);
    REQUIRE(symlink(TOOL_REFUSE, refuse) == 0 && symlink(TOOL_PLAIN, plain) == 0);
    snprintf(missing, sizeof missing, "%s/missing.so", scratch);
    REQUIRE(dlopen(missing, RTLD_LAZY) == NULL);
    snprintf(why, sizeof why, "%s", dlerror());
    snprintf(list, sizeof list, "\"%s\" %s/a\\ b/plain.so %s", refuse, scratch, missing);
    setenv("HSA_TOOLS_LIB", list, 1);
    unsetenv("HSA_TOOLS_REPORT_LOAD_FAILURE");
    reset_reports();
    captured c;
    capture_start(&c);
    hsa_status_t st = hsa_init();
    capture_end(&c, err, sizeof err);
    REQUIRE(st == HSA_STATUS_SUCCESS);
    snprintf(expect, sizeof expect, "LoadLib(%s) failed: %s\n", missing, why);
    CHECK_EQ_STR(err, expect);
    CHECK_EQ_STR(sequence(), "refuse:OnLoad plain:OnLoad");
    check_on_load(event_of("plain", "OnLoad"), 1, refuse);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(sequence(), "refuse:OnLoad plain:OnLoad plain:OnUnload");
    unlink(refuse);
    unlink(plain);
    rmdir(dir);
}

/* hsa_init and hsa_shut_down from OnLoad and OnUnload: an error, no
 * deadlock, the count untouched. */
static void test_reinit(void)
{
    char err[4096];
    setenv("HSA_TOOLS_LIB", TOOL_REINIT, 1);
    reset_reports();
    captured c;
    capture_start(&c);
    hsa_status_t st = hsa_init();
    capture_end(&c, err, sizeof err);
    REQUIRE(st == HSA_STATUS_SUCCESS);
    const tool_event *e = event_of("reinit", "OnLoad");
    REQUIRE(e);
    CHECK(e->init_status == HSA_STATUS_ERROR);
    CHECK(e->shut_down_status == HSA_STATUS_ERROR);
    CHECK_CONTAINS(err, "hsasim: hsa_init called from a tool's OnLoad or OnUnload");
    CHECK_CONTAINS(err, "hsasim: hsa_shut_down called from a tool's OnLoad or OnUnload");
    capture_start(&c);
    st = hsa_shut_down(); /* the one init: the last */
    capture_end(&c, err, sizeof err);
    CHECK(st == HSA_STATUS_SUCCESS);
    e = event_of("reinit", "OnUnload");
    REQUIRE(e);
    CHECK(e->init_status == HSA_STATUS_ERROR);
    CHECK(e->shut_down_status == HSA_STATUS_ERROR);
    uint16_t major;
    CHECK(hsa_system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) ==
          HSA_STATUS_ERROR_NOT_INITIALIZED);
}

static void *init_thread(void *arg)
{
    *(hsa_status_t *)arg = hsa_init();
    return NULL;
}

/* A second hsa_init while the first one's tools load returns after them. */
static void test_concurrent_init(void)
{
    setenv("HSA_TOOLS_LIB", TOOL_SLOW, 1);
    reset_reports();
    hsa_status_t first = HSA_STATUS_ERROR;
    pthread_t t;
    REQUIRE(pthread_create(&t, NULL, init_thread, &first) == 0);
    for (int i = 0; i < 10000 && !event_of("slow", "OnLoad"); i++)
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    REQUIRE(event_of("slow", "OnLoad"));
    CHECK(hsa_init() == HSA_STATUS_SUCCESS);
    CHECK(event_of("slow", "OnLoadEnd") != NULL);
    pthread_join(t, NULL);
    CHECK(first == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
    CHECK_EQ_STR(sequence(), "slow:OnLoad slow:OnLoadEnd slow:OnUnload");
}

int main(void)
{
    alarm(120); /* a deadlock fails the test rather than hanging it */
    REQUIRE(test_make_tmpdir(scratch, sizeof scratch, "tools") == 0);
    char tree[300];
    snprintf(tree, sizeof tree, "%s/tree", scratch);
    REQUIRE(mkdir(tree, 0700) == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(tree, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", tree, 1);
    /* Kept mapped for test_table_restored. */
    void *keep_count = dlopen(TOOL_COUNT, RTLD_LAZY);
    REQUIRE(keep_count);
    test_load_count_unload();
    test_table_restored();
    dlclose(keep_count);
    test_names();
    test_reinit();
    test_concurrent_init();
    test_remove_tmpdir(scratch);
    return check_result();
}
