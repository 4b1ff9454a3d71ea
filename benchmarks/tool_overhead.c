/* benchmarks/tool_overhead: what transparent mode (HSA_TOOLS_LIB=
 * librochp_tool.so) costs a program that loses no GPU, per call the tool
 * wraps, and how fast a process leaves after the kernel's SIGBUS.
 *
 * Instructions: the program runs itself under valgrind's callgrind once
 * without the tool and once with it, counting only inside one noinline
 * function per operation (--toggle-collect), each doing N calls after an
 * untimed warm-up: the instructions per call on the calling thread, the
 * runtime's (hsasim's) included, and, with the tool, those of the tool's
 * own code -- the overhead, since the runtime's share varies between runs
 * with its threads' timing.  The operations are the calls the tool
 * keeps wrapped from OnLoad on -- queue create+destroy, waits (on a signal
 * already satisfied: the cheapest wait), async copy, async signal handler
 * (the registration; the handler runs on the runtime's thread) -- and the
 * program's own AQL dispatch, which it must not touch at all.
 *
 * SIGBUS to exit: a child with the tool loops dispatches on two GPUs; the
 * board of one is unplugged under the sigbus kernel behaviour; the time
 * from the unplug call (which sends the SIGBUS) to the child's exit, the
 * median of 5.
 *
 * Usage: tool_overhead [--calls N]   (default 2000)
 * Prints one JSON object. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "bench_tree.h"

#define NOINLINE __attribute__((noinline, used))

enum { OPS = 6 };
static const char *const op_name[OPS] = {"queue_create_destroy", "signal_wait_scacquire",
                                         "signal_wait_relaxed", "amd_memory_async_copy",
                                         "dispatch", "amd_signal_async_handler"};

static hsa_agent_t gpu, cpu;
static hsa_amd_memory_pool_t fine;
static hsa_queue_t *queue;
static hsa_signal_t sig, bell;
static void *src, *dst;

static hsa_status_t pick(hsa_agent_t a, void *data)
{
    (void)data;
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    if (t == HSA_DEVICE_TYPE_GPU && !gpu.handle)
        gpu = a;
    if (t == HSA_DEVICE_TYPE_CPU && !cpu.handle)
        cpu = a;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t pick_vram(hsa_amd_memory_pool_t pool, void *data)
{
    hsa_amd_segment_t seg;
    bool alloc = false;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED, &alloc);
    if (seg == HSA_AMD_SEGMENT_GLOBAL && alloc) {
        *(hsa_amd_memory_pool_t *)data = pool;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t pick_fine(hsa_amd_memory_pool_t pool, void *data)
{
    (void)data;
    uint32_t flags = 0;
    bool alloc = false;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED, &alloc);
    if (alloc && (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED) && !fine.handle)
        fine = pool;
    return HSA_STATUS_SUCCESS;
}

static int setup(void)
{
    if (hsa_init() != HSA_STATUS_SUCCESS)
        return 1;
    hsa_iterate_agents(pick, NULL);
    hsa_amd_agent_iterate_memory_pools(cpu, pick_fine, NULL);
    hsa_amd_memory_pool_t vram = {0};
    hsa_amd_agent_iterate_memory_pools(gpu, pick_vram, &vram);
    hsa_agent_t both[2] = {cpu, gpu};
    if (!gpu.handle || !fine.handle ||
        hsa_queue_create(gpu, 1024, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX, UINT32_MAX,
                         &queue) != HSA_STATUS_SUCCESS ||
        hsa_signal_create(0, 0, NULL, &sig) != HSA_STATUS_SUCCESS ||
        hsa_signal_create(0, 0, NULL, &bell) != HSA_STATUS_SUCCESS ||
        hsa_amd_memory_pool_allocate(fine, 4096, 0, &src) != HSA_STATUS_SUCCESS ||
        !vram.handle || hsa_amd_memory_pool_allocate(vram, 4096, 0, &dst) != HSA_STATUS_SUCCESS ||
        hsa_amd_agents_allow_access(2, both, NULL, src) != HSA_STATUS_SUCCESS)
        return 1;
    return 0;
}

/* A program's queue error callback, as every real one (HIP's) has one: the
 * runtime's work then is the same with and without the tool's own. */
static void on_queue_error(hsa_status_t status, hsa_queue_t *q, void *data)
{
    (void)status;
    (void)q;
    (void)data;
}

static NOINLINE void op_queue(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        hsa_queue_t *q;
        if (hsa_queue_create(gpu, 64, HSA_QUEUE_TYPE_MULTI, on_queue_error, NULL, UINT32_MAX,
                             UINT32_MAX, &q) == HSA_STATUS_SUCCESS)
            hsa_queue_destroy(q);
    }
}

/* HIP's wait: LT 1, unbounded, blocked (ROCclr WaitForSignal). */
static NOINLINE void op_wait_scacquire(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        hsa_signal_wait_scacquire(sig, HSA_SIGNAL_CONDITION_LT, 1, UINT64_MAX,
                                  HSA_WAIT_STATE_BLOCKED);
}

static NOINLINE void op_wait_relaxed(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        hsa_signal_wait_relaxed(sig, HSA_SIGNAL_CONDITION_LT, 1, UINT64_MAX,
                                HSA_WAIT_STATE_BLOCKED);
}

/* The copy call alone (its completion is waited for outside): 4 KiB host
 * to VRAM, as HIP's hipMemcpy stages it, on the GPU's copy engine. */
static NOINLINE void op_copy_one(void)
{
    hsa_amd_memory_async_copy(dst, gpu, src, cpu, 4096, 0, NULL, sig);
}

static void op_copy_outer(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        hsa_signal_store_relaxed(sig, 1);
        op_copy_one();
        hsa_signal_wait_scacquire(sig, HSA_SIGNAL_CONDITION_LT, 1, UINT64_MAX,
                                  HSA_WAIT_STATE_BLOCKED);
    }
}

/* The program's side of a dispatch, a barrier-AND packet: the write index,
 * the packet, and a release store of the index to a signal, as to the
 * doorbell, through the same table slot.  The doorbell itself is rung once
 * per batch, outside: in hsasim its cost depends on whether the simulated
 * packet processor happens to sleep (a futex wake), which valgrind's
 * thread scheduling decides -- noise of +-25% that would hide the
 * comparison. */
static NOINLINE void op_dispatch_one(void)
{
    uint64_t index = hsa_queue_add_write_index_relaxed(queue, 1);
    hsa_barrier_and_packet_t *p =
        (hsa_barrier_and_packet_t *)queue->base_address + (index & (queue->size - 1));
    memset((char *)p + 4, 0, sizeof *p - 4);
    __atomic_store_n((uint32_t *)p, HSA_PACKET_TYPE_BARRIER_AND << HSA_PACKET_HEADER_TYPE,
                     __ATOMIC_RELEASE);
    hsa_signal_store_screlease(bell, (hsa_signal_value_t)index);
}

static void op_dispatch_outer(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        while (hsa_queue_load_write_index_relaxed(queue) -
                   hsa_queue_load_read_index_scacquire(queue) >= queue->size / 2)
            sched_yield();
        op_dispatch_one();
        if (i % 64 == 63 || i + 1 == n)
            hsa_signal_store_screlease(queue->doorbell_signal,
                                       (hsa_signal_value_t)hsa_queue_load_write_index_relaxed(
                                           queue) - 1);
    }
}

/* HIP's use (ROCclr in direct dispatch, one per marker): a handler for
 * LT 1 on a signal at 1, registered (the measured call), then the signal
 * completed outside and the handler's run on the runtime's thread awaited. */
static _Atomic int handled;

static bool on_signal(hsa_signal_value_t value, void *arg)
{
    (void)value;
    (void)arg;
    atomic_store(&handled, 1);
    return false;
}

static NOINLINE void op_handler_one(void)
{
    hsa_amd_signal_async_handler(sig, HSA_SIGNAL_CONDITION_LT, 1, on_signal, NULL);
}

static void op_handler_outer(uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        hsa_signal_store_relaxed(sig, 1);
        atomic_store(&handled, 0);
        op_handler_one();
        hsa_signal_store_screlease(sig, 0);
        while (!atomic_load(&handled))
            sched_yield();
    }
}

static void run_op(int op, uint32_t n)
{
    switch (op) {
    case 0: op_queue(n); break;
    case 1: op_wait_scacquire(n); break;
    case 2: op_wait_relaxed(n); break;
    case 3: op_copy_outer(n); break;
    case 4: op_dispatch_outer(n); break;
    case 5: op_handler_outer(n); break;
    }
}

/* Instructions per call inside the op's function (copy and dispatch: the
 * inner one-call functions), from callgrind, the runtime's included; with
 * the tool, *own gets the instructions executed in librochp_tool.so's own
 * code (its functions' self cost): what the tool adds, exactly, where the
 * runtime's share varies from run to run with its threads' timing (a
 * futex wake or not).  -1 when valgrind is missing. */
static double callgrind_ir(const char *self, int op, uint32_t n, const char *tool, double *own)
{
    static const char *const collect[OPS] = {"op_queue",        "op_wait_scacquire",
                                             "op_wait_relaxed", "op_copy_one",
                                             "op_dispatch_one", "op_handler_one"};
    char file[256], cmd[2048];
    snprintf(file, sizeof file, "/tmp/rochp-tool-callgrind.%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "%s%s%s valgrind --tool=callgrind --callgrind-out-file=%s --toggle-collect=%s "
             "'%s' --op %d %u >/dev/null 2>&1",
             tool ? "HSA_TOOLS_LIB='" : "env -u HSA_TOOLS_LIB", tool ? tool : "",
             tool ? "'" : "", file, collect[op], self, op, n);
    if (system(cmd) != 0)
        return -1;
    FILE *f = fopen(file, "r");
    if (!f)
        return -1;
    char line[1024];
    double ir = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "summary:", 8) == 0)
            ir = strtod(line + 8, NULL);
    fclose(f);
    if (own) {
        *own = 0;
        snprintf(cmd, sizeof cmd, "callgrind_annotate --threshold=100 %s 2>/dev/null", file);
        FILE *a = popen(cmd, "r");
        while (a && fgets(line, sizeof line, a))
            if (strstr(line, "librochp_tool.so")) {
                double v = 0;
                for (const char *c = line; *c && *c != '('; c++)
                    if (*c >= '0' && *c <= '9')
                        v = v * 10 + (*c - '0');
                *own += v;
            }
        if (a)
            pclose(a);
        *own /= n;
    }
    unlink(file);
    return ir < 0 ? -1 : ir / n;
}

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

/* The child of the SIGBUS measurement: loops barriers until it is ended. */
static int loop_forever(void)
{
    if (setup() != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        hsa_signal_store_relaxed(sig, 1);
        op_dispatch_outer(64);
        hsa_signal_wait_scacquire(sig, HSA_SIGNAL_CONDITION_LT, 1, 1000000,
                                  HSA_WAIT_STATE_BLOCKED);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double sigbus_exit_ms(const char *self, const char *tool)
{
    double t[5];
    int done = 0;
    for (int r = 0; r < 5; r++) {
        char dir[256];
        if (bench_make_tree("tool", "mi210", 2, dir, sizeof dir) != 0)
            return -1;
        int out[2];
        if (pipe(out) != 0)
            return -1;
        pid_t pid = fork();
        if (pid == 0) {
            dup2(out[1], STDOUT_FILENO);
            setenv("ROCHP_SYSFS_ROOT", dir, 1);
            setenv("ROCHP_SIM_KERNEL", "sigbus", 1);
            setenv("HSA_TOOLS_LIB", tool, 1);
            execl(self, self, "--loop", (char *)NULL);
            _exit(127);
        }
        close(out[1]);
        char buf[16] = {0};
        ssize_t got = read(out[0], buf, sizeof buf - 1);
        close(out[0]);
        setenv("ROCHP_SIM_KERNEL", "sigbus", 1);
        rochp__error err = {0};
        double t0 = now_ms();
        rochp_status st = got > 0 ? vtree_unplug(dir, "0000:63:00.0", 0, NULL, &err) : ROCHP_ERROR_IO;
        int status = 0;
        waitpid(pid, &status, 0);
        double t1 = now_ms();
        if (st == ROCHP_OK && WIFEXITED(status) && WEXITSTATUS(status) == 75)
            t[done++] = t1 - t0;
        else
            fprintf(stderr, "tool_overhead: SIGBUS run %d: unplug %d, child status 0x%x\n", r,
                    (int)st, status);
        bench_remove_tree(dir);
    }
    if (!done)
        return -1;
    qsort(t, (size_t)done, sizeof *t, cmp_double);
    return t[done / 2];
}

int main(int argc, char **argv)
{
    uint32_t n = 2000;
    if (argc == 4 && strcmp(argv[1], "--op") == 0) {
        int op = atoi(argv[2]);
        n = (uint32_t)atoi(argv[3]);
        if (setup() != 0)
            return 1;
        run_op(op, n / 10 + 1); /* warm-up: first-call costs are not the call's */
        run_op(op, n);
        return 0;
    }
    if (argc == 2 && strcmp(argv[1], "--loop") == 0)
        return loop_forever();
    if (argc == 3 && strcmp(argv[1], "--calls") == 0)
        n = (uint32_t)atoi(argv[2]);
    else if (argc != 1) {
        fprintf(stderr, "usage: tool_overhead [--calls N]\n");
        return 2;
    }
    char dir[256];
    if (bench_make_tree("tool", "mi210", 1, dir, sizeof dir) != 0)
        return 1;
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    printf("{\"benchmark\":\"tool_overhead\",\"runtime\":\"hsasim\",\"calls\":%u", n);
    double worst = 0;
    bool have = true;
    for (int op = 0; op < OPS; op++) {
        double own = 0;
        double plain = callgrind_ir(argv[0], op, n, NULL, NULL);
        double tooled = callgrind_ir(argv[0], op, n, TOOL_PATH, &own);
        if (plain <= 0 || tooled <= 0) {
            have = false;
            printf(",\"%s\":{\"instructions\":null,\"with_tool\":null}", op_name[op]);
            continue;
        }
        double pct = (tooled - plain) / plain * 100.0;
        if (pct > worst)
            worst = pct;
        printf(",\"%s\":{\"instructions\":%.1f,\"with_tool\":%.1f,\"tool_own\":%.1f,"
               "\"overhead_pct\":%.2f,\"tool_own_pct\":%.2f}",
               op_name[op], plain, tooled, own, pct, own / plain * 100.0);
    }
    bench_remove_tree(dir);
    if (have)
        printf(",\"worst_overhead_pct\":%.2f", worst);
    else
        printf(",\"note\":\"valgrind (callgrind) not found or failed: no instruction counts\"");
    double ms = sigbus_exit_ms(argv[0], TOOL_PATH);
    if (ms >= 0)
        printf(",\"sigbus_to_exit_ms\":%.2f}\n", ms);
    else
        printf(",\"sigbus_to_exit_ms\":null}\n");
    return 0;
}
