/* An unmodified HSA program, as transparent mode meets it (scripts/demo.sh
 * part 3, tests/tool): it knows
 * nothing of rochp.  On every GPU, step after step, it dispatches the fill
 * kernel into VRAM (waiting for ring space the way ROCclr does), copies the
 * result to host memory with an async copy, and checks it.  Its queue
 * error callback aborts, like HIP's (ROCclr rocdevice.cpp callbackQueue),
 * and every wait is unbounded, like HIP's: without the tool a lost GPU
 * aborts or hangs it.  Each dispatch's completion is also told through an
 * async signal handler, which the program waits for without a bound after
 * the step, as HIP's commands are completed (ROCclr in direct dispatch:
 * rocvirtual.cpp, HsaAmdSignalHandler) and waited for (Event::
 * awaitCompletion): on a lost GPU only the tool runs those handlers.
 *
 *   hsa_stream CODE_OBJECT STEPS [PAUSE_US [LIVES]]
 * prints "step N" before each step (after PAUSE_US of host work, default
 * 0, so that an unplug can land in the middle) -- STEPS 0: until a line
 * comes on stdin, then 5 more -- and, at the end, one JSON
 * line -- LIVES times (default 1), each a whole life of the runtime from
 * hsa_init to hsa_shut_down (the tool is loaded and unloaded each time):
 *   {"steps":N,"gpus":[{"ok":..,"failed":..,"wrong":..,"handled":..}, ...]}
 * where failed counts steps whose wait ended unsatisfied or whose copy was
 * refused, wrong steps that completed with wrong bytes, and handled the
 * dispatches whose completion handler ran (all of them, or it hangs). */
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "check.h"        /* tests/support: REQUIRE and CHECK */
#include "host_kernels.h" /* tests/support: loading a code object, pool memory, an AQL dispatch */
#include "stream_kernels.h"

enum { ITEMS = 256, MAX_GPUS = 8 };

typedef struct gpu {
    host_gpu h;
    hsa_queue_t *queue;
    hsa_signal_t done, copied;
    uint64_t fill;
    fill_args *args;
    uint32_t *vram, *host;
    unsigned ok, failed, wrong;
    unsigned dispatched;
    _Atomic unsigned handled; /* by on_done, on the runtime's (or the tool's) thread */
} gpu;

static void program_callback(hsa_status_t status, hsa_queue_t *queue, void *data)
{
    (void)queue;
    (void)data;
    const char *text = "?";
    hsa_status_string(status, &text);
    fprintf(stderr, "hsa_stream: queue error 0x%x (%s): aborting, as HIP does\n",
            (unsigned)status, text);
    abort();
}

static hsa_status_t add_gpu(hsa_agent_t a, void *data)
{
    hsa_agent_t *list = data;
    hsa_device_type_t t;
    if (hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t) == HSA_STATUS_SUCCESS &&
        t == HSA_DEVICE_TYPE_GPU) {
        size_t n = 0;
        while (n < MAX_GPUS && list[n].handle)
            n++;
        if (n < MAX_GPUS)
            list[n] = a;
    }
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t vram_pool(hsa_amd_memory_pool_t pool, void *data)
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

static void open_gpu(gpu *g, hsa_agent_t agent, const char *co)
{
    host_gpu_open(&g->h, agent, co);
    g->fill = host_gpu_kernel(&g->h, "fill");
    REQUIRE(hsa_queue_create(agent, 64, HSA_QUEUE_TYPE_MULTI, program_callback, NULL,
                             UINT32_MAX, UINT32_MAX, &g->queue) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &g->done) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_create(1, 0, NULL, &g->copied) == HSA_STATUS_SUCCESS);
    hsa_amd_memory_pool_t pool = {0};
    REQUIRE(hsa_amd_agent_iterate_memory_pools(agent, vram_pool, &pool) ==
            HSA_STATUS_INFO_BREAK);
    REQUIRE(hsa_amd_memory_pool_allocate(pool, ITEMS * sizeof(uint32_t), 0, (void **)&g->vram) ==
            HSA_STATUS_SUCCESS);
    g->host = host_gpu_memory(&g->h, ITEMS * sizeof(uint32_t));
    g->args = host_gpu_kernarg(&g->h, sizeof *g->args);
}

static bool on_done(hsa_signal_value_t value, void *arg)
{
    (void)value;
    gpu *g = arg;
    atomic_fetch_add(&g->handled, 1);
    return false;
}

/* Space in the ring as ROCclr waits for it: spin on the read index. */
static void dispatch(gpu *g, uint32_t base)
{
    uint64_t index = hsa_queue_load_write_index_relaxed(g->queue);
    while (index - hsa_queue_load_read_index_scacquire(g->queue) >= g->queue->size)
        sched_yield();
    g->args->out = g->vram;
    g->args->base = base;
    hsa_signal_store_relaxed(g->done, 1);
    REQUIRE(hsa_amd_signal_async_handler(g->done, HSA_SIGNAL_CONDITION_LT, 1, on_done, g) ==
            HSA_STATUS_SUCCESS);
    g->dispatched++;
    host_dispatch(g->queue, g->fill, g->args, ITEMS, 64, g->done);
}

/* The completion handler of every dispatch so far, waited for as ROCclr
 * waits for a command's status: spinning, with no bound. */
static void await_handlers(gpu *g)
{
    while (atomic_load(&g->handled) < g->dispatched)
        sched_yield();
}

static void step_body(gpu *g, uint32_t base);

static void step(gpu *g, uint32_t base)
{
    step_body(g, base);
    await_handlers(g);
}

static void step_body(gpu *g, uint32_t base)
{
    dispatch(g, base);
    if (hsa_signal_wait_scacquire(g->done, HSA_SIGNAL_CONDITION_LT, 1, UINT64_MAX,
                                  HSA_WAIT_STATE_BLOCKED) >= 1) {
        g->failed++;
        return;
    }
    memset(g->host, 0xff, ITEMS * sizeof(uint32_t));
    hsa_signal_store_relaxed(g->copied, 1);
    if (hsa_amd_memory_async_copy(g->host, g->h.cpu, g->vram, g->h.gpu, ITEMS * sizeof(uint32_t),
                                  0, NULL, g->copied) != HSA_STATUS_SUCCESS ||
        hsa_signal_wait_scacquire(g->copied, HSA_SIGNAL_CONDITION_LT, 1, UINT64_MAX,
                                  HSA_WAIT_STATE_BLOCKED) >= 1) {
        g->failed++;
        return;
    }
    for (uint32_t x = 0; x < ITEMS; x++)
        if (g->host[x] != base + x) {
            g->wrong++;
            return;
        }
    g->ok++;
}

/* Whether a line has come on stdin (the driver's "stop"). */
static bool stop_asked(void)
{
    struct pollfd p = {.fd = STDIN_FILENO, .events = POLLIN};
    return poll(&p, 1, 0) == 1;
}

/* One life of the runtime: init, the steps, everything destroyed, shut down. */
static void run(const char *co, unsigned steps, unsigned pause_us)
{
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    hsa_agent_t agents[MAX_GPUS] = {{0}};
    REQUIRE(hsa_iterate_agents(add_gpu, agents) == HSA_STATUS_SUCCESS);
    size_t n = 0;
    while (n < MAX_GPUS && agents[n].handle)
        n++;
    REQUIRE(n >= 1);
    gpu *gpus = calloc(n, sizeof *gpus);
    REQUIRE(gpus);
    for (size_t i = 0; i < n; i++)
        open_gpu(&gpus[i], agents[i], co);
    unsigned s = 0;
    for (unsigned last = steps ? steps : UINT32_MAX; s < last; s++) {
        if (!steps && last == UINT32_MAX && stop_asked())
            last = s + 5; /* a few more steps after the driver's stop */
        if (pause_us)
            usleep(pause_us);
        printf("step %u\n", s);
        fflush(stdout);
        for (size_t i = 0; i < n; i++)
            step(&gpus[i], s * 1000u + (uint32_t)i * 100000u);
    }
    printf("{\"steps\":%u,\"gpus\":[", s);
    for (size_t i = 0; i < n; i++)
        printf("%s{\"ok\":%u,\"failed\":%u,\"wrong\":%u,\"handled\":%u}", i ? "," : "",
               gpus[i].ok, gpus[i].failed, gpus[i].wrong, atomic_load(&gpus[i].handled));
    printf("]}\n");
    fflush(stdout);
    for (size_t i = 0; i < n; i++) {
        CHECK(hsa_queue_destroy(gpus[i].queue) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(gpus[i].done) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(gpus[i].copied) == HSA_STATUS_SUCCESS);
        hsa_amd_memory_pool_free(gpus[i].vram); /* a lost GPU's memory is gone already */
        host_gpu_free(gpus[i].host);
        host_gpu_free(gpus[i].args);
        host_gpu_close(&gpus[i].h);
    }
    free(gpus);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);
}

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 5) {
        fprintf(stderr, "usage: hsa_stream CODE_OBJECT STEPS [PAUSE_US [LIVES]]\n");
        return 2;
    }
    unsigned steps = (unsigned)atoi(argv[2]);
    unsigned pause_us = argc >= 4 ? (unsigned)atoi(argv[3]) : 0;
    int lives = argc == 5 ? atoi(argv[4]) : 1;
    for (int i = 0; i < lives; i++)
        run(argv[1], steps, pause_us);
    return check_failures ? 1 : 0;
}
