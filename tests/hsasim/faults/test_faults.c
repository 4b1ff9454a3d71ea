/* Each ROCHP_SIM_KERNEL mode, with an unplug in the middle of a long
 * dispatch stream on two GPUs (DESIGN.md section 1):
 *   sigbus  SIGBUS with SI_USER, the queue's error callback once with
 *           HSA_STATUS_ERROR, the in-flight dispatch never completes, the
 *           other GPU keeps working, and the tree changes only after the
 *           process has let go (exit), as `rochp-sim unplug --wait` shows;
 *   silent  nothing reported, nothing completes on the lost GPU, the tree
 *           changes at once;
 *   reset   error callback, a HW exception event, VRAM contents lost; with
 *           no handler that accepts the event, the process aborts.
 * In every mode, async copies touching the lost GPU never complete, whichever
 * GPU's copy engine runs them, and the other GPU's engine keeps working.
 * Each scenario runs in a child process so that its runtime, signals and
 * exit are its own; the parent watches the tree.  The kernel is "slow" of
 * the host code object fault_kernels.co, loaded for both GPUs. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "fault_kernels.h"
#include "ops.h"
#include "tmpdir.h"
#include "topology/snapshot.h"

#ifndef HSA_AMD_GPU_HW_EXCEPTION_EVENT
#define HSA_AMD_GPU_HW_EXCEPTION_EVENT 1
#endif

static char tree[256];

/* --- a kernel that takes a while and counts its work-groups ------------------- */
typedef struct slow_kernel {
    uint64_t object; /* the GPU's kernel object */
    void *kernarg;   /* slow_args, in the kernarg pool */
} slow_kernel;
static uint64_t *groups_run; /* shared by both GPUs' dispatches */

/* --- what the scenario saw ---------------------------------------------------------- */
static volatile sig_atomic_t sigbus_count, sigbus_code;
static _Atomic int callback_count, callback_status, event_count, event_type;
static _Atomic int accept_events = 1;

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    (void)sig;
    (void)uc;
    sigbus_count++;
    sigbus_code = si->si_code;
}

static void on_queue_error(hsa_status_t status, hsa_queue_t *q, void *data)
{
    (void)q;
    (void)data;
    atomic_store(&callback_status, (int)status);
    atomic_fetch_add(&callback_count, 1);
}

static hsa_status_t on_event(const hsa_amd_event_t *e, void *data)
{
    (void)data;
    atomic_store(&event_type, (int)e->event_type);
    atomic_fetch_add(&event_count, 1);
    return atomic_load(&accept_events) ? HSA_STATUS_SUCCESS : HSA_STATUS_ERROR;
}

static hsa_status_t collect_gpu(hsa_agent_t a, void *data)
{
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    hsa_agent_t *gpus = data;
    if (t == HSA_DEVICE_TYPE_GPU)
        gpus[gpus[0].handle ? 1 : 0] = a;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t collect_cpu(hsa_agent_t a, void *data)
{
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    if (t == HSA_DEVICE_TYPE_CPU) {
        *(hsa_agent_t *)data = a;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

/* data: in, whether the kernarg pool is wanted (a handle of 1) or the other
 * fine-grained one (0); out, the pool. */
static hsa_status_t find_host_pool(hsa_amd_memory_pool_t pool, void *data)
{
    uint32_t flags;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    bool want_kernarg = ((hsa_amd_memory_pool_t *)data)->handle;
    if ((flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED) &&
        !!(flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT) == want_kernarg) {
        *(hsa_amd_memory_pool_t *)data = pool;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

/* size bytes of system memory (kernarg: from the kernarg pool) opened to
 * the CPU and both GPUs. */
static void *shared_memory(hsa_agent_t cpu, const hsa_agent_t gpus[2], size_t size, bool kernarg)
{
    hsa_amd_memory_pool_t pool = {kernarg};
    REQUIRE(hsa_amd_agent_iterate_memory_pools(cpu, find_host_pool, &pool) ==
            HSA_STATUS_INFO_BREAK);
    void *p;
    REQUIRE(hsa_amd_memory_pool_allocate(pool, size, 0, &p) == HSA_STATUS_SUCCESS);
    hsa_agent_t all[3] = {cpu, gpus[0], gpus[1]};
    REQUIRE(hsa_amd_agents_allow_access(3, all, NULL, p) == HSA_STATUS_SUCCESS);
    memset(p, 0, size);
    return p;
}

/* The code object, loaded for both GPUs; "slow" on each. */
static void load_slow(hsa_agent_t cpu, const hsa_agent_t gpus[2], slow_kernel k[2])
{
    int fd = open(FAULT_KERNELS_CO, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    hsa_code_object_reader_t reader;
    REQUIRE(hsa_code_object_reader_create_from_file(fd, &reader) == HSA_STATUS_SUCCESS);
    hsa_executable_t ex;
    REQUIRE(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                      NULL, &ex) == HSA_STATUS_SUCCESS);
    groups_run = shared_memory(cpu, gpus, sizeof *groups_run, false);
    for (int i = 0; i < 2; i++)
        REQUIRE(hsa_executable_load_agent_code_object(ex, gpus[i], reader, NULL, NULL) ==
                HSA_STATUS_SUCCESS);
    REQUIRE(hsa_executable_freeze(ex, NULL) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < 2; i++) {
        hsa_executable_symbol_t s;
        REQUIRE(hsa_executable_get_symbol_by_name(ex, "slow.kd", &gpus[i], &s) ==
                HSA_STATUS_SUCCESS);
        REQUIRE(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT,
                                               &k[i].object) == HSA_STATUS_SUCCESS);
        slow_args a = {groups_run, 200};
        k[i].kernarg = shared_memory(cpu, gpus, sizeof a, true);
        memcpy(k[i].kernarg, &a, sizeof a);
    }
    close(fd);
}

static hsa_status_t find_vram(hsa_amd_memory_pool_t pool, void *data)
{
    uint32_t flags;
    hsa_amd_segment_t seg;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    if (seg == HSA_AMD_SEGMENT_GLOBAL && (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED)) {
        *(hsa_amd_memory_pool_t *)data = pool;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

/* Enqueues one dispatch of `groups` work-groups; returns its completion signal. */
static hsa_signal_t dispatch(hsa_queue_t *q, const slow_kernel *k, uint32_t groups)
{
    hsa_signal_t done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    uint64_t index = hsa_queue_add_write_index_relaxed(q, 1);
    hsa_kernel_dispatch_packet_t *p =
        (hsa_kernel_dispatch_packet_t *)q->base_address + (index & (q->size - 1));
    memset((char *)p + 4, 0, sizeof *p - 4);
    p->setup = 1 << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS;
    p->workgroup_size_x = p->workgroup_size_y = p->workgroup_size_z = 1;
    p->grid_size_x = groups;
    p->grid_size_y = p->grid_size_z = 1;
    p->kernel_object = k->object;
    p->kernarg_address = k->kernarg;
    p->completion_signal = done;
    uint16_t header = HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE |
                      HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_ACQUIRE_FENCE_SCOPE |
                      HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_RELEASE_FENCE_SCOPE;
    __atomic_store_n((uint32_t *)p, header | (uint32_t)p->setup << 16, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
    return done;
}

static bool completes(hsa_signal_t s, uint64_t timeout_ns)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, timeout_ns,
                                     HSA_WAIT_STATE_BLOCKED) == 0;
}

static uint64_t generation(void)
{
    uint64_t g = 0;
    topo_read_generation(tree, &g, NULL);
    return g;
}

/* The scenario run in a child: 0 when everything matched, else a bit per
 * failed expectation (printed). */
static int scenario(const char *mode, bool handle_events)
{
    setenv("ROCHP_SYSFS_ROOT", tree, 1);
    setenv("ROCHP_SIM_KERNEL", mode, 1);
    struct sigaction sa = {0};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigaction(SIGBUS, &sa, NULL);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    atomic_store(&accept_events, handle_events);
    REQUIRE(hsa_amd_register_system_event_handler(on_event, NULL) == HSA_STATUS_SUCCESS);
    hsa_agent_t gpus[2] = {{0}, {0}};
    hsa_iterate_agents(collect_gpu, gpus);
    REQUIRE(gpus[0].handle && gpus[1].handle);
    hsa_agent_t cpu = {0};
    hsa_iterate_agents(collect_cpu, &cpu);
    REQUIRE(cpu.handle);
    slow_kernel slow[2];
    load_slow(cpu, gpus, slow);
    hsa_queue_t *qa, *qb;
    REQUIRE(hsa_queue_create(gpus[0], 256, HSA_QUEUE_TYPE_MULTI, on_queue_error, NULL, UINT32_MAX,
                             UINT32_MAX, &qa) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_queue_create(gpus[1], 256, HSA_QUEUE_TYPE_MULTI, on_queue_error, NULL, UINT32_MAX,
                             UINT32_MAX, &qb) == HSA_STATUS_SUCCESS);
    hsa_amd_memory_pool_t vram = {0};
    hsa_amd_agent_iterate_memory_pools(gpus[0], find_vram, &vram);
    uint32_t *buf;
    REQUIRE(hsa_amd_memory_pool_allocate(vram, 4096, 0, (void **)&buf) == HSA_STATUS_SUCCESS);
    memset(buf, 0x11, 4096);
    hsa_amd_memory_pool_t vram1 = {0};
    hsa_amd_agent_iterate_memory_pools(gpus[1], find_vram, &vram1);
    uint32_t *buf1;
    REQUIRE(hsa_amd_memory_pool_allocate(vram1, 4096, 0, (void **)&buf1) == HSA_STATUS_SUCCESS);
    memset(buf1, 0x22, 4096);

    /* The stream: 200 dispatches already done on each GPU, then a long one
     * in flight on GPU 0 when it goes. */
    for (int i = 0; i < 200; i++) {
        hsa_signal_t a = dispatch(qa, &slow[0], 1), b = dispatch(qb, &slow[1], 1);
        REQUIRE(completes(a, UINT64_MAX) && completes(b, UINT64_MAX));
        hsa_signal_destroy(a);
        hsa_signal_destroy(b);
    }
    hsa_signal_t in_flight = dispatch(qa, &slow[0], 100000); /* ~20 s of work: never finishes before the unplug */
    while (__atomic_load_n(groups_run, __ATOMIC_RELAXED) < 400 + 10)
        sched_yield();
    rochp__error err = {0};
    REQUIRE(vtree_unplug(tree, "0000:63:00.0", 0, NULL, &err) == ROCHP_OK);

    int failed = 0;
    /* Whatever the mode, the in-flight dispatch never completes... */
    if (completes(in_flight, 2000000000ull)) {
        fprintf(stderr, "[%s] the in-flight dispatch completed\n", mode);
        failed |= 1;
    }
    /* ...and the other GPU keeps working. */
    hsa_signal_t b = dispatch(qb, &slow[1], 5);
    if (!completes(b, 30000000000ull)) {
        fprintf(stderr, "[%s] the surviving GPU stopped working\n", mode);
        failed |= 2;
    }
    bool want_callback = strcmp(mode, "silent") != 0;
    for (int i = 0; i < 3000 && want_callback && atomic_load(&callback_count) == 0; i++)
        usleep(10000); /* condition wait with a generous deadline */
    if (atomic_load(&callback_count) != (want_callback ? 1 : 0) ||
        (want_callback && atomic_load(&callback_status) != HSA_STATUS_ERROR)) {
        fprintf(stderr, "[%s] queue error callback: %d call(s), status 0x%x\n", mode,
                atomic_load(&callback_count), atomic_load(&callback_status));
        failed |= 4;
    }
    if (strcmp(mode, "sigbus") == 0) {
        for (int i = 0; i < 3000 && sigbus_count == 0; i++)
            usleep(10000);
        if (sigbus_count != 1 || sigbus_code != SI_USER) {
            fprintf(stderr, "[sigbus] SIGBUS %d time(s), si_code %d\n", (int)sigbus_count,
                    (int)sigbus_code);
            failed |= 8;
        }
    } else if (sigbus_count != 0) {
        fprintf(stderr, "[%s] unexpected SIGBUS\n", mode);
        failed |= 8;
    }
    bool want_event = strcmp(mode, "reset") == 0;
    if (atomic_load(&event_count) != (want_event ? 1 : 0) ||
        (want_event && atomic_load(&event_type) != HSA_AMD_GPU_HW_EXCEPTION_EVENT)) {
        fprintf(stderr, "[%s] system events: %d, type %d\n", mode, atomic_load(&event_count),
                atomic_load(&event_type));
        failed |= 16;
    }
    bool lost = buf[0] != 0x11111111u;
    if (lost != want_event) {
        fprintf(stderr, "[%s] VRAM contents %s\n", mode, lost ? "lost" : "kept");
        failed |= 32;
    }
    /* Copies touching the lost GPU never complete, whichever engine runs
     * them: host -> GPU 0 on GPU 0's, GPU 1 -> GPU 0 on GPU 1's (the
     * source's), and GPU 1's engine goes on with the copies behind. */
    void *probe = NULL; /* the loss is seen: a gone device gives no memory */
    for (int i = 0; i < 3000 && hsa_amd_memory_pool_allocate(vram, 4096, 0, &probe) ==
                                    HSA_STATUS_SUCCESS; i++) {
        hsa_amd_memory_pool_free(probe);
        usleep(10000);
    }
    static uint32_t host[1024];
    memset(host, 0x33, sizeof host);
    hsa_signal_t to_lost, from_survivor, on_survivor;
    REQUIRE(hsa_signal_create(1, 0, NULL, &to_lost) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &from_survivor) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &on_survivor) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_amd_memory_async_copy(buf, gpus[0], host, cpu, 4096, 0, NULL, to_lost) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(hsa_amd_memory_async_copy(buf, gpus[0], buf1, gpus[1], 4096, 0, NULL,
                                      from_survivor) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_amd_memory_async_copy(buf1, gpus[1], host, cpu, 4096, 0, NULL, on_survivor) ==
            HSA_STATUS_SUCCESS);
    if (!completes(on_survivor, 30000000000ull) || buf1[0] != 0x33333333u) {
        fprintf(stderr, "[%s] the surviving GPU's copy engine stopped working\n", mode);
        failed |= 64;
    }
    /* GPU 1's engine has passed the peer copy (in order); GPU 0's gets none. */
    if (hsa_signal_load_scacquire(from_survivor) != 1 || completes(to_lost, 100000000ull)) {
        fprintf(stderr, "[%s] a copy touching the lost GPU completed\n", mode);
        failed |= 64;
    }
    /* The process exits without shutting down: letting go is the exit. */
    return failed;
}

static int run_child(const char *mode, bool handle_events, int *status)
{
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0)
        _exit(scenario(mode, handle_events));
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static void recreate_tree(void)
{
    test_remove_tmpdir(tree);
    REQUIRE(test_make_tmpdir(tree, sizeof tree, "faults") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(tree, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
}

/* Runs a shell command and returns its standard output (malloc'd). */
static char *capture(const char *cmd)
{
    FILE *f = popen(cmd, "r");
    REQUIRE(f);
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    CHECK(pclose(f) == 0);
    return strdup(buf);
}

/* `rochp-sim unplug --wait` (the real command) returns only after the
 * holder has let go, and by then the tree has changed; `list` names the
 * holder before. */
static void test_unplug_wait(void)
{
    const char *bin = getenv("ROCHP_BIN_DIR");
    REQUIRE(bin);
    recreate_tree();
    int ready[2], leaving[2];
    REQUIRE(pipe(ready) == 0);
    REQUIRE(pipe2(leaving, O_NONBLOCK) == 0);
    fflush(NULL);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        setenv("ROCHP_SYSFS_ROOT", tree, 1);
        struct sigaction sa = {0};
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO;
        sigaction(SIGBUS, &sa, NULL);
        if (hsa_init() != HSA_STATUS_SUCCESS)
            _exit(3);
        if (write(ready[1], "r", 1) != 1)
            _exit(4);
        while (!sigbus_count)
            usleep(1000);
        usleep(300 * 1000); /* lingers: the unplug must wait for the exit */
        /* About to let go (the lock goes with the exit): say so first. */
        if (write(leaving[1], "x", 1) != 1)
            _exit(6);
        _exit(sigbus_code == SI_USER ? 0 : 5);
    }
    char c;
    REQUIRE(read(ready[0], &c, 1) == 1);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/rochp-sim/rochp-sim' list '%s'", bin, tree);
    char *listing = capture(cmd);
    char want[64];
    snprintf(want, sizeof want, "pid %ld ", (long)child);
    CHECK_CONTAINS(listing, want);
    CHECK_CONTAINS(listing, "GPUs: 0000:63:00.0 0000:43:00.0");
    free(listing);

    uint64_t before = generation();
    snprintf(cmd, sizeof cmd, "ROCHP_SIM_KERNEL=sigbus '%s/rochp-sim/rochp-sim' unplug '%s' 0000:63:00.0 --wait",
             bin, tree);
    free(capture(cmd));
    /* Returned: so the holder had already started to exit (its lock goes
     * while it exits, a moment before it can be reaped)... */
    char mark;
    CHECK(read(leaving[0], &mark, 1) == 1);
    int status;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* ...and the removal is done, without waiting any further. */
    CHECK_EQ_U64(generation(), before + 1);
    close(ready[0]);
    close(ready[1]);
    close(leaving[0]);
    close(leaving[1]);
}

int main(void)
{
    REQUIRE(test_make_tmpdir(tree, sizeof tree, "faults") == 0);
    static const char *modes[] = {"sigbus", "silent", "reset"};
    for (int m = 0; m < 3; m++) {
        recreate_tree();
        uint64_t before = generation();
        int status;
        run_child(modes[m], true, &status);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "[%s] scenario failed (status 0x%x)\n", modes[m], status);
            check_failures++;
        }
        /* The GPU has left the tree by now in every mode (under sigbus,
         * because the process has exited); wait for the detached completer. */
        for (int i = 0; i < 3000 && generation() == before; i++)
            usleep(10000);
        CHECK_EQ_U64(generation(), before + 1);
    }

    test_unplug_wait();

    /* reset with nobody accepting the event: ROCR aborts the process. */
    recreate_tree();
    int status;
    run_child("reset", false, &status);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    test_remove_tmpdir(tree);
    return check_result();
}
