/* hsasim is as strict as a GPU without XNACK (lib/hsasim/queue_packets.c,
 * "What a dispatch may touch", and queue_processor.c, "VM faults"):
 *  - a kernel object runs only on the agent its (frozen) executable was
 *    loaded for; anywhere else the CP's fetch of the descriptor is a VM
 *    fault; mapped memory holding no kernel is an illegal instruction;
 *  - the kernarg segment and every global_buffer argument must be mapped
 *    for the queue's agent: own pools; other pools once allowed (system
 *    memory from hsa_memory_allocate from the start); locked host memory;
 *    the agent's code objects.  Never plain host memory, memory freed or
 *    unlocked, nor a lost GPU's memory;
 *  - a VM fault: HSA_AMD_GPU_MEMORY_FAULT_EVENT (the agent, the 4 KiB page,
 *    PAGE_NOT_PRESENT) and no queue callback (ROCR 5.2.3 sends a page fault
 *    to no queue), every queue of the process on that agent evicted
 *    for good (queues created later too, and its copy engine), other agents
 *    untouched; with no handler accepting the event, ROCR's message and
 *    abort().
 * A VM fault spoils its agent for the rest of the process, so each fault
 * runs in a child process of its own (forked before hsa_init), on a virtual
 * mi300x tree with two GPUs.  The kernels are those of fault_kernels.co. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "fault_kernels.h"
#include "ops.h"
#include "tmpdir.h"

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static char tree[256];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

#define MS(x) ((uint64_t)(x) * 1000000ull)
#define PAGE(a) ((uint64_t)(uintptr_t)(a) & ~(uint64_t)4095)
#define ILLEGAL ((hsa_status_t)HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION)

/* --- the runtime as a child sees it ------------------------------------------------ */

typedef struct env {
    hsa_agent_t cpu, gpu[2];
    hsa_amd_memory_pool_t fine, kernarg, vram[2];
    hsa_region_t system_region, kernarg_region; /* the CPU's, core API */
    hsa_executable_t ex;                        /* frozen, both GPUs */
    uint64_t touch[2], nop[2];
    uint64_t *word[2]; /* each GPU's copy of fault_kernels_word */
} env;

static env E;

/* System events: memory faults recorded; accepted unless told otherwise. */
static _Atomic int events, event_type;
static _Atomic uint64_t event_agent, event_address, event_mask;
static _Atomic int accept_events = 1;

static hsa_status_t on_event(const hsa_amd_event_t *e, void *data)
{
    (void)data;
    atomic_store(&event_type, (int)e->event_type);
    atomic_store(&event_agent, e->memory_fault.agent.handle);
    atomic_store(&event_address, e->memory_fault.virtual_address);
    atomic_store(&event_mask, e->memory_fault.fault_reason_mask);
    atomic_fetch_add(&events, 1);
    if (atomic_load(&accept_events))
        return HSA_STATUS_SUCCESS;
    printf("event declined\n");
    fflush(stdout);
    return HSA_STATUS_ERROR;
}

typedef struct err_rec {
    _Atomic int calls;
    _Atomic int status;
    hsa_queue_t *_Atomic source;
} err_rec;

static void on_queue_error(hsa_status_t status, hsa_queue_t *source, void *data)
{
    err_rec *r = data;
    atomic_store(&r->status, (int)status);
    atomic_store(&r->source, source);
    atomic_fetch_add(&r->calls, 1);
}

static hsa_status_t collect_agent(hsa_agent_t a, void *data)
{
    (void)data;
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    if (t == HSA_DEVICE_TYPE_CPU && !E.cpu.handle)
        E.cpu = a;
    else if (t == HSA_DEVICE_TYPE_GPU && !E.gpu[0].handle)
        E.gpu[0] = a;
    else if (t == HSA_DEVICE_TYPE_GPU && !E.gpu[1].handle)
        E.gpu[1] = a;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t collect_pool(hsa_amd_memory_pool_t pool, void *data)
{
    hsa_amd_memory_pool_t *out = data; /* [0] fine, [1] kernarg / coarse */
    uint32_t flags = 0;
    hsa_amd_segment_t seg;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    if (seg != HSA_AMD_SEGMENT_GLOBAL)
        return HSA_STATUS_SUCCESS;
    if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT)
        out[1] = pool;
    else if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED)
        out[0] = pool;
    else if (flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED && !out[1].handle)
        out[1] = pool;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t collect_region(hsa_region_t region, void *data)
{
    (void)data;
    uint32_t flags = 0;
    hsa_region_get_info(region, HSA_REGION_INFO_GLOBAL_FLAGS, &flags);
    if (flags & HSA_REGION_GLOBAL_FLAG_KERNARG)
        E.kernarg_region = region;
    else if (flags & HSA_REGION_GLOBAL_FLAG_FINE_GRAINED)
        E.system_region = region;
    return HSA_STATUS_SUCCESS;
}

static uint64_t kernel_object(hsa_executable_t ex, const char *symbol, hsa_agent_t agent)
{
    hsa_executable_symbol_t s;
    REQUIRE(hsa_executable_get_symbol_by_name(ex, symbol, &agent, &s) == HSA_STATUS_SUCCESS);
    uint64_t v = 0;
    REQUIRE(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT, &v) ==
            HSA_STATUS_SUCCESS);
    return v;
}

static void *variable(hsa_executable_t ex, const char *symbol, hsa_agent_t agent)
{
    hsa_executable_symbol_t s;
    REQUIRE(hsa_executable_get_symbol_by_name(ex, symbol, &agent, &s) == HSA_STATUS_SUCCESS);
    uint64_t v = 0;
    REQUIRE(hsa_executable_symbol_get_info(s, HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS, &v) ==
            HSA_STATUS_SUCCESS);
    return (void *)(uintptr_t)v;
}

/* The code object loaded for the GPUs listed (n of E.gpu); frozen or not. */
static hsa_executable_t load(int n_gpus, const int *gpus, bool freeze)
{
    int fd = open(FAULT_KERNELS_CO, O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    hsa_code_object_reader_t reader;
    REQUIRE(hsa_code_object_reader_create_from_file(fd, &reader) == HSA_STATUS_SUCCESS);
    hsa_executable_t ex;
    REQUIRE(hsa_executable_create_alt(HSA_PROFILE_FULL, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                      NULL, &ex) == HSA_STATUS_SUCCESS);
    for (int i = 0; i < n_gpus; i++)
        REQUIRE(hsa_executable_load_agent_code_object(ex, E.gpu[gpus[i]], reader, NULL, NULL) ==
                HSA_STATUS_SUCCESS);
    if (freeze)
        REQUIRE(hsa_executable_freeze(ex, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_code_object_reader_destroy(reader) == HSA_STATUS_SUCCESS);
    close(fd);
    return ex;
}

static void child_setup(bool handler)
{
    REQUIRE(setenv("ROCHP_SYSFS_ROOT", tree, 1) == 0);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_iterate_agents(collect_agent, NULL) == HSA_STATUS_SUCCESS);
    REQUIRE(E.cpu.handle && E.gpu[0].handle && E.gpu[1].handle);
    hsa_amd_memory_pool_t p[2] = {{0}, {0}};
    hsa_amd_agent_iterate_memory_pools(E.cpu, collect_pool, p);
    E.fine = p[0];
    E.kernarg = p[1];
    for (int g = 0; g < 2; g++) {
        hsa_amd_memory_pool_t v[2] = {{0}, {0}};
        hsa_amd_agent_iterate_memory_pools(E.gpu[g], collect_pool, v);
        E.vram[g] = v[1];
    }
    REQUIRE(E.fine.handle && E.kernarg.handle && E.vram[0].handle && E.vram[1].handle);
    hsa_agent_iterate_regions(E.cpu, collect_region, NULL);
    REQUIRE(E.system_region.handle && E.kernarg_region.handle);
    const int both[2] = {0, 1};
    E.ex = load(2, both, true);
    for (int g = 0; g < 2; g++) {
        E.touch[g] = kernel_object(E.ex, "touch.kd", E.gpu[g]);
        E.nop[g] = kernel_object(E.ex, "nop.kd", E.gpu[g]);
        E.word[g] = variable(E.ex, "fault_kernels_word", E.gpu[g]);
    }
    CHECK(E.touch[0] != E.touch[1]); /* one copy per agent */
    if (handler)
        REQUIRE(hsa_amd_register_system_event_handler(on_event, NULL) == HSA_STATUS_SUCCESS);
}

/* Pool memory (zeroed) opened to the agents listed (n may be 0: none). */
static void *pool_memory(hsa_amd_memory_pool_t pool, size_t size, uint32_t n,
                         const hsa_agent_t *agents)
{
    void *p = NULL;
    REQUIRE(hsa_amd_memory_pool_allocate(pool, size, 0, &p) == HSA_STATUS_SUCCESS);
    if (n)
        REQUIRE(hsa_amd_agents_allow_access(n, agents, NULL, p) == HSA_STATUS_SUCCESS);
    memset(p, 0, size);
    return p;
}

static void *for_all(hsa_amd_memory_pool_t pool, size_t size)
{
    hsa_agent_t all[3] = {E.cpu, E.gpu[0], E.gpu[1]};
    return pool_memory(pool, size, 3, all);
}

/* A kernarg segment holding args, in kernarg memory every agent reaches. */
static void *kernarg(const void *args, size_t size)
{
    void *k = for_all(E.kernarg, size);
    memcpy(k, args, size);
    return k;
}

static hsa_queue_t *make_queue(int gpu, err_rec *rec)
{
    hsa_queue_t *q = NULL;
    REQUIRE(hsa_queue_create(E.gpu[gpu], 64, HSA_QUEUE_TYPE_MULTI, on_queue_error, rec,
                             UINT32_MAX, UINT32_MAX, &q) == HSA_STATUS_SUCCESS);
    return q;
}

static hsa_signal_t make_signal(hsa_signal_value_t v)
{
    hsa_signal_t s;
    REQUIRE(hsa_signal_create(v, 0, NULL, &s) == HSA_STATUS_SUCCESS);
    return s;
}

static uint16_t header(hsa_packet_type_t type)
{
    return (uint16_t)((type << HSA_PACKET_HEADER_TYPE) | (1 << HSA_PACKET_HEADER_BARRIER) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE));
}

static uint64_t submit(hsa_queue_t *q, const void *packet)
{
    uint64_t idx = hsa_queue_add_write_index_scacq_screl(q, 1);
    uint8_t *slot = (uint8_t *)q->base_address + (idx & (q->size - 1)) * 64;
    memcpy(slot + 4, (const uint8_t *)packet + 4, 60);
    uint32_t hs;
    memcpy(&hs, packet, 4);
    __atomic_store_n((uint32_t *)slot, hs, __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)idx);
    return idx;
}

/* One work-group of kernel object ko with that kernarg segment. */
static uint64_t dispatch(hsa_queue_t *q, uint64_t ko, void *kernarg_address,
                         hsa_signal_t completion)
{
    hsa_kernel_dispatch_packet_t p;
    memset(&p, 0, sizeof p);
    p.header = header(HSA_PACKET_TYPE_KERNEL_DISPATCH);
    p.setup = 1 << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS;
    p.workgroup_size_x = p.workgroup_size_y = p.workgroup_size_z = 1;
    p.grid_size_x = p.grid_size_y = p.grid_size_z = 1;
    p.kernel_object = ko;
    p.kernarg_address = kernarg_address;
    p.completion_signal = completion;
    return submit(q, &p);
}

/* touch on gpu with out/in, kernarg in kernarg memory. */
static uint64_t touch(hsa_queue_t *q, int gpu, uint64_t *out, const uint64_t *in,
                      uint64_t value, hsa_signal_t completion)
{
    touch_args a = {out, in, value};
    return dispatch(q, E.touch[gpu], kernarg(&a, sizeof a), completion);
}

static bool completes(hsa_signal_t s)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_EQ, 0, MS(60000),
                                     HSA_WAIT_STATE_BLOCKED) == 0;
}

/* Something that must not happen does not within a while. */
static bool stays(hsa_signal_t s, hsa_signal_value_t v)
{
    return hsa_signal_wait_scacquire(s, HSA_SIGNAL_CONDITION_NE, v, MS(200),
                                     HSA_WAIT_STATE_BLOCKED) == v;
}

static bool wait_calls(err_rec *r, int n)
{
    uint64_t deadline = now_ns() + MS(60000);
    while (atomic_load(&r->calls) < n && now_ns() < deadline)
        sleep_ms(1);
    return atomic_load(&r->calls) >= n;
}

/* touch(out, in) on a fresh queue of gpu runs and writes value + *in. */
static void expect_runs(int gpu, uint64_t *out, const uint64_t *in, uint64_t value)
{
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(gpu, &rec);
    hsa_signal_t done = make_signal(1);
    uint64_t before = in ? *in : 0;
    touch(q, gpu, out, in, value, done);
    CHECK(completes(done));
    CHECK_EQ_U64(*out, value + before);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
}

/* Until n events were raised (generous deadline). */
static bool wait_events(int n)
{
    uint64_t deadline = now_ns() + MS(60000);
    while (atomic_load(&events) < n && now_ns() < deadline)
        sleep_ms(1);
    return atomic_load(&events) >= n;
}

/* What one VM fault of q (on gpu, the only one so far) at address shows:
 * one event with the agent, the page and PAGE_NOT_PRESENT; no callback of
 * the queue; the packet not launched, its completion signal untouched. */
static void expect_vm_fault(int gpu, hsa_queue_t *q, err_rec *rec, uint64_t address,
                            hsa_signal_t completion)
{
    CHECK(wait_events(1));
    CHECK_EQ_U64(atomic_load(&events), 1);
    CHECK_EQ_U64(atomic_load(&event_type), HSA_AMD_GPU_MEMORY_FAULT_EVENT);
    CHECK_EQ_U64(atomic_load(&event_agent), E.gpu[gpu].handle);
    CHECK_EQ_U64(atomic_load(&event_address), PAGE(address));
    CHECK_EQ_U64(atomic_load(&event_mask), HSA_AMD_MEMORY_FAULT_PAGE_NOT_PRESENT);
    CHECK(stays(completion, 1));
    CHECK_EQ_U64(atomic_load(&rec->calls), 0);
    (void)q;
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(q), 0);
}

/* The other GPU is not affected by gpu's fault. */
static void expect_other_gpu_works(int gpu)
{
    uint64_t *out = for_all(E.fine, 8);
    expect_runs(1 - gpu, out, NULL, 77);
}

/* One dispatch of touch on a fresh queue of gpu that must fault at
 * address (out/in/kernarg chosen by the caller). */
static void expect_touch_faults(int gpu, uint64_t *out, const uint64_t *in, void *kernarg_address,
                                uint64_t address)
{
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(gpu, &rec);
    hsa_signal_t done = make_signal(1);
    if (kernarg_address) {
        touch_args a = {out, in, 5};
        memcpy(kernarg_address, &a, sizeof a);
        dispatch(q, E.touch[gpu], kernarg_address, done);
    } else {
        touch(q, gpu, out, in, 5, done);
    }
    expect_vm_fault(gpu, q, &rec, address, done);
    expect_other_gpu_works(gpu);
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    CHECK(hsa_signal_destroy(done) == HSA_STATUS_SUCCESS);
}

/* --- scenarios (each in a child) ----------------------------------------------------- */

/* Rule 1 and the eviction: A's kernel object dispatched on B. */
static void foreign_kernel_object(void)
{
    const int A = 0, B = 1;
    err_rec ra = {0}, rb1 = {0}, rb2 = {0}, rb3 = {0};
    hsa_queue_t *qa = make_queue(A, &ra), *qb1 = make_queue(B, &rb1), *qb2 = make_queue(B, &rb2);
    uint64_t *out = for_all(E.fine, 4 * sizeof *out);
    /* qb2: a barrier waiting on gate, a dispatch behind it */
    hsa_signal_t gate = make_signal(1), bar_done = make_signal(1), c2 = make_signal(1);
    hsa_barrier_and_packet_t bar;
    memset(&bar, 0, sizeof bar);
    bar.header = header(HSA_PACKET_TYPE_BARRIER_AND);
    bar.dep_signal[0] = gate;
    bar.completion_signal = bar_done;
    submit(qb2, &bar);
    touch(qb2, B, &out[1], NULL, 2, c2);
    uint64_t deadline = now_ns() + MS(60000);
    while (hsa_queue_load_read_index_scacquire(qb2) < 1 && now_ns() < deadline)
        sleep_ms(1);
    CHECK_EQ_U64(hsa_queue_load_read_index_scacquire(qb2), 1); /* the barrier launched */
    /* the fault: A's touch on B */
    hsa_signal_t c1 = make_signal(1);
    touch_args a = {&out[0], NULL, 1};
    dispatch(qb1, E.touch[A], kernarg(&a, sizeof a), c1);
    expect_vm_fault(B, qb1, &rb1, E.touch[A], c1);
    CHECK_EQ_U64(out[0], 0);
    /* qb2 is evicted: its barrier is satisfied now, yet nothing completes
     * and nobody is told */
    hsa_signal_store_screlease(gate, 0);
    CHECK(stays(bar_done, 1));
    CHECK(stays(c2, 1));
    CHECK_EQ_U64(out[1], 0);
    CHECK_EQ_U64(atomic_load(&rb2.calls), 0);
    /* a queue created on B afterwards: created, never runs */
    hsa_queue_t *qb3 = make_queue(B, &rb3);
    hsa_signal_t c3 = make_signal(1);
    touch(qb3, B, &out[2], NULL, 3, c3);
    CHECK(stays(c3, 1));
    CHECK_EQ_U64(out[2], 0);
    CHECK_EQ_U64(atomic_load(&rb3.calls), 0);
    /* B's copy engine is evicted too; A's goes on */
    uint64_t *vram_a = pool_memory(E.vram[A], 4096, 0, NULL);
    uint64_t *vram_b = pool_memory(E.vram[B], 4096, 0, NULL);
    hsa_signal_t copy_a = make_signal(1), copy_b = make_signal(1);
    out[3] = 0x5a5a;
    CHECK(hsa_amd_memory_async_copy(vram_b, E.gpu[B], &out[3], E.cpu, 8, 0, NULL, copy_b) ==
          HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_async_copy(vram_a, E.gpu[A], &out[3], E.cpu, 8, 0, NULL, copy_a) ==
          HSA_STATUS_SUCCESS);
    CHECK(completes(copy_a));
    CHECK_EQ_U64(vram_a[0], 0x5a5a);
    CHECK(stays(copy_b, 1));
    CHECK_EQ_U64(vram_b[0], 0);
    /* A is untouched */
    hsa_signal_t ca = make_signal(1);
    touch(qa, A, &out[0], NULL, 9, ca);
    CHECK(completes(ca));
    CHECK_EQ_U64(out[0], 9);
    CHECK_EQ_U64(atomic_load(&ra.calls), 0);
    CHECK_EQ_U64(atomic_load(&events), 1); /* one fault, one event */
    CHECK_EQ_U64(atomic_load(&rb1.calls), 0); /* and no callback */
    hsa_queue_t *qs[4] = {qa, qb1, qb2, qb3};
    for (int i = 0; i < 4; i++)
        CHECK(hsa_queue_destroy(qs[i]) == HSA_STATUS_SUCCESS);
}

/* Everything a dispatch may touch, and mapped memory that holds no kernel:
 * no VM fault at all, each GPU usable throughout. */
static void what_runs(void)
{
    const int A = 0, B = 1;
    /* own device memory */
    uint64_t *vram_a = pool_memory(E.vram[A], 4096, 0, NULL);
    expect_runs(A, vram_a, NULL, 1);
    expect_runs(A, vram_a + 100, vram_a, 1); /* inside the allocation */
    /* another GPU's, once allowed (the owner stays) */
    hsa_agent_t to_b[1] = {E.gpu[B]};
    CHECK(hsa_amd_agents_allow_access(1, to_b, NULL, vram_a) == HSA_STATUS_SUCCESS);
    expect_runs(B, vram_a + 1, vram_a, 3);
    expect_runs(A, vram_a + 2, NULL, 4);
    /* system memory from a pool, allowed; from the core API's region,
     * mapped to every GPU from the start */
    uint64_t *fine = for_all(E.fine, 4096);
    expect_runs(A, fine, NULL, 5);
    expect_runs(B, fine + 1, fine, 6);
    uint64_t *region = NULL;
    REQUIRE(hsa_memory_allocate(E.system_region, 4096, (void **)&region) == HSA_STATUS_SUCCESS);
    memset(region, 0, 4096);
    expect_runs(B, region, NULL, 7);
    /* locked host memory: for every GPU, whichever the lock names
     * (libhsakmt maps a userptr to all GPUs) */
    uint64_t *host = aligned_alloc(4096, 8192);
    REQUIRE(host);
    memset(host, 0, 8192);
    void *agent_ptr = NULL;
    CHECK(hsa_amd_memory_lock(host, 4096, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    expect_runs(A, host, NULL, 8);
    expect_runs(B, host + 8, host, 9);
    /* ... and through its GPU address (agent_ptr, not host: ROCR's userptr
     * address), which the kernel's pointer arguments reach the pages by */
    {
        uint64_t *gpu_view = agent_ptr;
        CHECK(gpu_view != host);
        host[20] = 5;
        err_rec r = {0};
        hsa_queue_t *q2 = make_queue(A, &r);
        hsa_signal_t d2 = make_signal(1);
        touch(q2, A, gpu_view + 21, gpu_view + 20, 10, d2);
        CHECK(completes(d2));
        CHECK_EQ_U64(host[21], 15);
        CHECK_EQ_U64(atomic_load(&r.calls), 0);
        CHECK(hsa_queue_destroy(q2) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(d2) == HSA_STATUS_SUCCESS);
    }
    hsa_agent_t only_a[1] = {E.gpu[A]};
    CHECK(hsa_amd_memory_lock(host + 512, 4096, only_a, 1, &agent_ptr) == HSA_STATUS_SUCCESS);
    expect_runs(B, host + 512, NULL, 10);
    CHECK(hsa_amd_memory_unlock(host + 512) == HSA_STATUS_SUCCESS);
    uint64_t *host2 = aligned_alloc(4096, 4096);
    REQUIRE(host2);
    memset(host2, 0, 4096);
    CHECK(hsa_amd_memory_lock_to_pool(host2, 4096, only_a, 1, E.fine, 0, &agent_ptr) ==
          HSA_STATUS_SUCCESS);
    expect_runs(A, host2, NULL, 11);
    /* the agent's own code object memory */
    expect_runs(A, E.word[A], NULL, 12);
    expect_runs(B, E.word[B], NULL, 13);
    /* kernarg segments from the kernarg pool (allowed) and the kernarg region */
    touch_args ta = {fine + 2, NULL, 14};
    void *k_region = NULL;
    REQUIRE(hsa_memory_allocate(E.kernarg_region, sizeof ta, &k_region) == HSA_STATUS_SUCCESS);
    memcpy(k_region, &ta, sizeof ta);
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(B, &rec);
    hsa_signal_t done = make_signal(1);
    dispatch(q, E.touch[B], k_region, done);
    CHECK(completes(done));
    CHECK_EQ_U64(fine[2], 14);
    /* a kernel without arguments needs no kernarg segment */
    hsa_signal_store_relaxed(done, 1);
    dispatch(q, E.nop[B], NULL, done);
    CHECK(completes(done));
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);

    /* Mapped for the agent, but no kernel there: the waves run garbage,
     * an illegal instruction for that queue only, no VM fault. */
    const int one_gpu[1] = {A};
    hsa_executable_t unfrozen = load(1, one_gpu, false);
    uint64_t unfrozen_touch = kernel_object(unfrozen, "touch.kd", E.gpu[A]);
    struct {
        uint64_t ko;
        const char *what;
    } not_code[] = {
        {(uint64_t)(uintptr_t)vram_a, "device memory of the agent"},
        {(uint64_t)(uintptr_t)E.word[A], "a variable of the agent's code object"},
        {E.touch[A] + 8, "inside a descriptor of the agent's code object"},
        {unfrozen_touch, "a descriptor not copied in yet (executable not frozen)"},
    };
    for (size_t i = 0; i < sizeof not_code / sizeof *not_code; i++) {
        err_rec r = {0};
        hsa_queue_t *bad = make_queue(A, &r);
        hsa_signal_t c = make_signal(1);
        touch_args a = {fine + 3, NULL, 15};
        dispatch(bad, not_code[i].ko, kernarg(&a, sizeof a), c);
        CHECK(wait_calls(&r, 1));
        if ((uint32_t)atomic_load(&r.status) != (uint32_t)ILLEGAL)
            fprintf(stderr, "not code: %s\n", not_code[i].what);
        CHECK_EQ_U64((uint32_t)atomic_load(&r.status), (uint32_t)ILLEGAL);
        CHECK(stays(c, 1));
        CHECK_EQ_U64(fine[3], 0);
        CHECK(hsa_queue_destroy(bad) == HSA_STATUS_SUCCESS);
        CHECK(hsa_signal_destroy(c) == HSA_STATUS_SUCCESS);
        expect_runs(A, fine + 4, NULL, 16 + i); /* the device stays usable */
    }
    /* frozen, the same descriptor runs */
    CHECK(hsa_executable_freeze(unfrozen, NULL) == HSA_STATUS_SUCCESS);
    q = make_queue(A, &rec);
    hsa_signal_store_relaxed(done, 1);
    dispatch(q, unfrozen_touch, kernarg(&ta, sizeof ta), done);
    CHECK(completes(done));
    CHECK(hsa_queue_destroy(q) == HSA_STATUS_SUCCESS);
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    CHECK_EQ_U64(atomic_load(&events), 0);
    CHECK(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_unlock(host2) == HSA_STATUS_SUCCESS);
    free(host);
    free(host2);
}

/* --- the faults, one child each --------------------------------------------------- */

static void fault_static_descriptor(void)
{
    /* what used to pass for a kernel: a struct in the program's data */
    static uint64_t not_a_kernel[8] __attribute__((aligned(64))) = {0x4f4b4d4953415348ull};
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(0, &rec);
    hsa_signal_t done = make_signal(1);
    uint64_t *out = for_all(E.fine, 8);
    touch_args a = {out, NULL, 1};
    dispatch(q, (uint64_t)(uintptr_t)not_a_kernel, kernarg(&a, sizeof a), done);
    expect_vm_fault(0, q, &rec, (uint64_t)(uintptr_t)not_a_kernel, done);
    expect_other_gpu_works(0);
}

static void fault_unmapped_descriptor(void)
{
    void *hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(hole != MAP_FAILED);
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(1, &rec);
    hsa_signal_t done = make_signal(1);
    dispatch(q, (uint64_t)(uintptr_t)hole + 128, NULL, done);
    expect_vm_fault(1, q, &rec, (uint64_t)(uintptr_t)hole + 128, done);
    expect_other_gpu_works(1);
}

static void fault_peer_vram_not_allowed(void)
{
    uint64_t *vram_a = pool_memory(E.vram[0], 4096, 0, NULL);
    expect_touch_faults(1, vram_a + 3, NULL, NULL, (uint64_t)(uintptr_t)(vram_a + 3));
}

static void fault_system_pool_not_allowed(void)
{
    uint64_t *fine = pool_memory(E.fine, 8192, 0, NULL); /* DISALLOWED_BY_DEFAULT for GPUs */
    uint64_t *out = for_all(E.fine, 8);
    expect_touch_faults(0, out, fine + 600, NULL, (uint64_t)(uintptr_t)(fine + 600));
}

static void fault_system_pool_allowed_elsewhere(void)
{
    /* allowed for A only: A runs, B faults; then allow_access with the CPU
     * only takes it from A too */
    hsa_agent_t only_a[1] = {E.gpu[0]};
    uint64_t *fine = pool_memory(E.fine, 4096, 1, only_a);
    expect_runs(0, fine, NULL, 1);
    expect_touch_faults(1, fine, NULL, NULL, (uint64_t)(uintptr_t)fine);
    hsa_agent_t only_cpu[1] = {E.cpu};
    CHECK(hsa_amd_agents_allow_access(1, only_cpu, NULL, fine) == HSA_STATUS_SUCCESS);
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(0, &rec);
    hsa_signal_t done = make_signal(1);
    touch(q, 0, fine, NULL, 2, done);
    CHECK(wait_events(2));
    CHECK_EQ_U64(atomic_load(&rec.calls), 0);
    CHECK_EQ_U64(atomic_load(&events), 2); /* a second fault, on A this time */
    CHECK_EQ_U64(atomic_load(&event_agent), E.gpu[0].handle);
    CHECK_EQ_U64(atomic_load(&event_address), PAGE(fine));
}

static void fault_malloc(void)
{
    uint64_t *heap = malloc(64);
    REQUIRE(heap);
    expect_touch_faults(0, heap, NULL, NULL, (uint64_t)(uintptr_t)heap);
    free(heap);
}

static void fault_kernarg_pool_not_allowed(void)
{
    void *k = pool_memory(E.kernarg, 4096, 0, NULL);
    uint64_t *out = for_all(E.fine, 8);
    expect_touch_faults(1, out, NULL, (uint8_t *)k + 256, (uint64_t)(uintptr_t)k + 256);
}

static void fault_kernarg_malloc(void)
{
    void *k = aligned_alloc(64, 4096);
    REQUIRE(k);
    uint64_t *out = for_all(E.fine, 8);
    expect_touch_faults(0, out, NULL, k, (uint64_t)(uintptr_t)k);
    free(k);
}

static void fault_unlocked(void)
{
    uint64_t *host = aligned_alloc(4096, 4096);
    REQUIRE(host);
    memset(host, 0, 4096);
    void *agent_ptr;
    REQUIRE(hsa_amd_memory_lock(host, 4096, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    expect_runs(1, host + 5, NULL, 1);
    REQUIRE(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    expect_touch_faults(1, host + 5, NULL, NULL, (uint64_t)(uintptr_t)(host + 5));
    free(host);
}

/* A locked range's GPU address (agent_ptr) goes with the lock. */
static void fault_unlocked_gpu_address(void)
{
    uint64_t *host = aligned_alloc(4096, 4096);
    REQUIRE(host);
    memset(host, 0, 4096);
    void *agent_ptr;
    REQUIRE(hsa_amd_memory_lock(host, 4096, NULL, 0, &agent_ptr) == HSA_STATUS_SUCCESS);
    uint64_t *gpu_view = agent_ptr;
    expect_runs(1, host + 5, NULL, 1);
    REQUIRE(hsa_amd_memory_unlock(host) == HSA_STATUS_SUCCESS);
    /* Hold the address, so that no later allocation (the queue's, say)
     * lands there and makes it memory the GPU may touch after all. */
    void *held = mmap(gpu_view, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
                      -1, 0);
    REQUIRE(held == (void *)gpu_view);
    expect_touch_faults(1, gpu_view + 5, NULL, NULL, (uint64_t)(uintptr_t)(gpu_view + 5));
    munmap(held, 4096);
    free(host);
}

static void fault_freed(void)
{
    uint64_t *fine = for_all(E.fine, 4096);
    expect_runs(0, fine, NULL, 1);
    /* everything else first: a later mapping could take the freed pages */
    uint64_t *out = for_all(E.fine, 8);
    void *k = for_all(E.kernarg, 64);
    CHECK(hsa_amd_memory_pool_free(fine) == HSA_STATUS_SUCCESS);
    expect_touch_faults(0, out, fine, k, (uint64_t)(uintptr_t)fine);
}

static void fault_other_agents_code_object(void)
{
    /* A's copy of the variable is not mapped for B */
    expect_touch_faults(1, E.word[0], NULL, NULL, (uint64_t)(uintptr_t)E.word[0]);
}

/* B reaches A's memory, then A is unplugged: that memory is gone. */
static void fault_lost_gpu_memory(void)
{
    uint64_t *vram_a = pool_memory(E.vram[0], 4096, 0, NULL);
    hsa_agent_t to_b[1] = {E.gpu[1]};
    REQUIRE(hsa_amd_agents_allow_access(1, to_b, NULL, vram_a) == HSA_STATUS_SUCCESS);
    expect_runs(1, vram_a, NULL, 1);
    uint32_t domain = 0, bdf = 0;
    hsa_agent_get_info(E.gpu[0], (hsa_agent_info_t)HSA_AMD_AGENT_INFO_DOMAIN, &domain);
    hsa_agent_get_info(E.gpu[0], (hsa_agent_info_t)HSA_AMD_AGENT_INFO_BDFID, &bdf);
    char pci[32];
    snprintf(pci, sizeof pci, "%04x:%02x:%02x.%x", domain, bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7);
    REQUIRE(setenv("ROCHP_SIM_KERNEL", "silent", 1) == 0);
    rochp__error err = {0};
    REQUIRE(vtree_unplug(tree, pci, 0, NULL, &err) == ROCHP_OK);
    /* the loss is seen: a gone device gives no memory */
    void *probe = NULL;
    uint64_t deadline = now_ns() + MS(60000);
    while (hsa_amd_memory_pool_allocate(E.vram[0], 4096, 0, &probe) == HSA_STATUS_SUCCESS &&
           now_ns() < deadline) {
        hsa_amd_memory_pool_free(probe);
        sleep_ms(10);
    }
    uint64_t *out = for_all(E.fine, 8);
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(1, &rec);
    hsa_signal_t done = make_signal(1);
    touch(q, 1, out, vram_a, 2, done);
    expect_vm_fault(1, q, &rec, (uint64_t)(uintptr_t)vram_a, done);
}

/* A completion signal, or a barrier-value signal, that is not signal
 * memory: the CP's access faults (A and B, one each). */
static void fault_bogus_signals(void)
{
    static uint64_t not_a_signal[2][16] __attribute__((aligned(64)));
    err_rec ra = {0}, rb = {0};
    hsa_queue_t *qa = make_queue(0, &ra), *qb = make_queue(1, &rb);
    uint64_t *out = for_all(E.fine, 8);
    touch(qa, 0, out, NULL, 1, (hsa_signal_t){(uint64_t)(uintptr_t)not_a_signal[0]});
    CHECK(wait_events(1));
    CHECK_EQ_U64(atomic_load(&ra.calls), 0);
    CHECK_EQ_U64(atomic_load(&events), 1);
    CHECK_EQ_U64(atomic_load(&event_agent), E.gpu[0].handle);
    CHECK_EQ_U64(atomic_load(&event_address), PAGE(not_a_signal[0]));
    CHECK_EQ_U64(*out, 0);
    hsa_signal_t done = make_signal(1);
    hsa_amd_barrier_value_packet_t p;
    memset(&p, 0, sizeof p);
    p.header.header = header(HSA_PACKET_TYPE_VENDOR_SPECIFIC);
    p.header.AmdFormat = HSA_AMD_PACKET_TYPE_BARRIER_VALUE;
    p.signal.handle = (uint64_t)(uintptr_t)not_a_signal[1];
    p.mask = -1;
    p.cond = HSA_SIGNAL_CONDITION_EQ;
    p.completion_signal = done;
    submit(qb, &p);
    CHECK(wait_events(2));
    CHECK_EQ_U64(atomic_load(&rb.calls), 0);
    CHECK_EQ_U64(atomic_load(&events), 2);
    CHECK_EQ_U64(atomic_load(&event_agent), E.gpu[1].handle);
    CHECK_EQ_U64(atomic_load(&event_address), PAGE(not_a_signal[1]));
    CHECK(stays(done, 1));
}

/* Nobody accepts the event (or nobody listens): ROCR's message and abort().
 * The child first writes the line it expects on stdout. */
static void fault_unhandled(void)
{
    atomic_store(&accept_events, 0);
    uint64_t *heap = malloc(64);
    REQUIRE(heap);
    uint32_t node = 0;
    hsa_agent_get_info(E.gpu[1], HSA_AGENT_INFO_NODE, &node);
    printf("EXPECT Memory access fault by GPU node-%u (Agent handle: %p) on address %p. Reason: "
           "Page not present or supervisor privilege.\n",
           node, (void *)(uintptr_t)E.gpu[1].handle, (void *)(uintptr_t)PAGE(heap));
    fflush(stdout);
    err_rec rec = {0};
    hsa_queue_t *q = make_queue(1, &rec);
    hsa_signal_t done = make_signal(1);
    touch(q, 1, heap, NULL, 1, done);
    completes(done); /* never returns: the process aborts */
    fprintf(stderr, "no abort\n");
}

/* --- the parent ------------------------------------------------------------------------ */

typedef struct outcome {
    int status;
    char out[512], err[4096];
} outcome;

/* Reads fd to its end, keeping what fits. */
static void drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    char scratch[4096];
    for (;;) {
        char *to = n < cap - 1 ? buf + n : scratch;
        size_t room = n < cap - 1 ? cap - 1 - n : sizeof scratch;
        ssize_t r = read(fd, to, room);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (to == buf + n)
            n += (size_t)r;
    }
    buf[n] = '\0';
}

enum { NO_HANDLER = 1 };

/* Runs fn in a child with its own runtime (a system event handler
 * registered unless NO_HANDLER); the child's stdout and stderr are captured
 * (stderr is echoed). */
static outcome run(const char *name, void (*fn)(void), unsigned flags, const char *env_name,
                   const char *env_value)
{
    int out[2], err[2];
    REQUIRE(pipe(out) == 0 && pipe(err) == 0);
    fflush(NULL);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        check_failures = 0; /* the child's own */
        dup2(out[1], 1);
        dup2(err[1], 2);
        close(out[0]);
        close(err[0]);
        if (env_name)
            setenv(env_name, env_value, 1);
        child_setup(!(flags & NO_HANDLER));
        fn();
        fflush(NULL);
        _exit(check_failures ? 1 : 0);
    }
    close(out[1]);
    close(err[1]);
    outcome o;
    memset(&o, 0, sizeof o);
    drain(err[0], o.err, sizeof o.err); /* until the child is gone */
    drain(out[0], o.out, sizeof o.out);
    close(out[0]);
    close(err[0]);
    while (waitpid(pid, &o.status, 0) < 0 && errno == EINTR)
        ;
    if (o.err[0])
        fprintf(stderr, "[%s] %s", name, o.err);
    return o;
}

static void expect_pass(const char *name, void (*fn)(void))
{
    outcome o = run(name, fn, 0, NULL, NULL);
    if (!WIFEXITED(o.status) || WEXITSTATUS(o.status) != 0) {
        fprintf(stderr, "[%s] failed (status 0x%x)\n", name, o.status);
        check_failures++;
    }
}

int main(void)
{
    REQUIRE(test_make_tmpdir(tree, sizeof tree, "strict") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(tree, vtree_model_find("mi300x"), 2, 1, NULL, &err) == ROCHP_OK);

    expect_pass("foreign kernel object", foreign_kernel_object);
    expect_pass("what runs", what_runs);
    expect_pass("static descriptor", fault_static_descriptor);
    expect_pass("unmapped descriptor", fault_unmapped_descriptor);
    expect_pass("peer VRAM not allowed", fault_peer_vram_not_allowed);
    expect_pass("system pool not allowed", fault_system_pool_not_allowed);
    expect_pass("system pool allowed elsewhere", fault_system_pool_allowed_elsewhere);
    expect_pass("malloc'd pointer", fault_malloc);
    expect_pass("kernarg pool not allowed", fault_kernarg_pool_not_allowed);
    expect_pass("malloc'd kernarg", fault_kernarg_malloc);
    expect_pass("unlocked", fault_unlocked);
    expect_pass("unlocked GPU address", fault_unlocked_gpu_address);
    expect_pass("freed", fault_freed);
    expect_pass("another agent's code object", fault_other_agents_code_object);
    expect_pass("bogus signals", fault_bogus_signals);

    /* No system event handler, or none that accepts the event: ROCR prints
     * its line (Runtime::VMFaultHandler) and aborts. */
    for (unsigned flags = 0; flags <= NO_HANDLER; flags++) {
        outcome o = run(flags ? "no handler" : "declined", fault_unhandled, flags, NULL, NULL);
        CHECK(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT);
        const char *at = strstr(o.out, "EXPECT ");
        REQUIRE(at);
        at += strlen("EXPECT ");
        const char *nl = strchr(at, '\n');
        REQUIRE(nl);
        char line[256];
        snprintf(line, sizeof line, "%.*s", (int)(nl + 1 - at), at);
        CHECK_CONTAINS(o.err, line);
        /* the handler was called before the abort, when there was one */
        CHECK((strstr(o.out, "event declined") != NULL) == !flags);
    }
    /* HSA_ENABLE_VM_FAULT_MESSAGE=0: the same abort without the line */
    outcome o = run("quiet", fault_unhandled, NO_HANDLER, "HSA_ENABLE_VM_FAULT_MESSAGE", "0");
    CHECK(WIFSIGNALED(o.status) && WTERMSIG(o.status) == SIGABRT);
    CHECK(strstr(o.err, "Memory access fault") == NULL);

    /* last: it takes a GPU out of the tree */
    expect_pass("lost GPU's memory", fault_lost_gpu_memory);

    test_remove_tmpdir(tree);
    return check_result();
}
