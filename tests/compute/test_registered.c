/* The application's own memory in checkpoints (rochp_buffer_register), as a
 * program that drives the HSA runtime itself (hsasim) uses it: its own pool
 * allocations and its own copies, which rochp never sees.  Per seed and
 * kernel mode (silent, reset), on three GPUs:
 *   - incremental checkpoints copy what was marked (and copy-always ones);
 *   - GPU 1 is unplugged before or after the program's writes of a step
 *     (seeded); rochp_recover moves GPU 1's buffer into memory from the
 *     program's allocator on the least loaded GPU (2), gives the old back
 *     to its free, rolls back what was marked, and every buffer's bytes are
 *     the checkpoint's;
 *   - save and load into a second context: made again by its allocator;
 *   - refusals naming the cause: overlap, unknown flags, no allocator (for
 *     recovery and load), an allocator that fails (nothing changes), an
 *     allocator struct of the wrong size.
 *
 *   compute_registered [SEEDS]   (default 8, each in two kernel modes) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "sim_context.h"

#define N 4096u
#define SECOND 1000000000ull

/* --- the program's own memory and copies ---------------------------------------------- */
typedef struct pool_pick {
    hsa_amd_memory_pool_t pool;
    uint32_t want;
    int found;
} pool_pick;

static hsa_status_t pick(hsa_amd_memory_pool_t pool, void *data)
{
    pool_pick *p = data;
    hsa_amd_segment_t seg;
    uint32_t flags = 0;
    bool alloc = false;
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    hsa_amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED, &alloc);
    if (seg == HSA_AMD_SEGMENT_GLOBAL && alloc && (flags & p->want) &&
        !(flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT)) {
        p->pool = pool;
        p->found = 1;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

static hsa_agent_t g_cpu;
static hsa_agent_t g_gpus[3];
static int g_n_gpus;

static hsa_status_t find_agents(hsa_agent_t a, void *data)
{
    (void)data;
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    if (t == HSA_DEVICE_TYPE_CPU)
        g_cpu = a;
    else if (g_n_gpus < 3)
        g_gpus[g_n_gpus++] = a;
    return HSA_STATUS_SUCCESS;
}

/* Pool memory on the agent (host: the CPU's fine-grained pool), open to all. */
static void *own_alloc(hsa_agent_t agent, bool host, size_t size)
{
    pool_pick p = {.want = host ? HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED
                                : HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED};
    hsa_amd_agent_iterate_memory_pools(agent, pick, &p);
    void *m = NULL;
    if (!p.found || hsa_amd_memory_pool_allocate(p.pool, size, 0, &m) != HSA_STATUS_SUCCESS)
        return NULL;
    hsa_agent_t all[4] = {g_cpu};
    for (int i = 0; i < g_n_gpus; i++)
        all[1 + i] = g_gpus[i];
    hsa_amd_agents_allow_access(1 + (uint32_t)g_n_gpus, all, NULL, m);
    return m;
}

/* The program's own copy (its engines, its signal): rochp does not see it. */
static void own_copy(void *dst, hsa_agent_t dst_agent, const void *src, hsa_agent_t src_agent,
                     size_t size)
{
    hsa_signal_t done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    REQUIRE(hsa_amd_memory_async_copy(dst, dst_agent, src, src_agent, size, 0, NULL, done) ==
            HSA_STATUS_SUCCESS);
    REQUIRE(hsa_signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                      HSA_WAIT_STATE_BLOCKED) == 0);
    hsa_signal_destroy(done);
}

/* --- the allocator rochp calls -------------------------------------------------------- */
typedef struct allocator_log {
    rochp_device_info devs[3];
    int allocs, frees, fail;
    rochp_device_id last_alloc_device, last_free_device;
    void *last_freed;
} allocator_log;

static hsa_agent_t agent_of(const allocator_log *log, rochp_device_id device)
{
    if (device == ROCHP_HOST)
        return g_cpu;
    for (int i = 0; i < 3; i++)
        if (log->devs[i].id == device)
            return (hsa_agent_t){log->devs[i].hsa_agent};
    return g_cpu;
}

static void *test_alloc(rochp_context *ctx, rochp_device_id device, size_t size, void *user)
{
    (void)ctx;
    allocator_log *log = user;
    if (log->fail)
        return NULL;
    log->allocs++;
    log->last_alloc_device = device;
    return own_alloc(agent_of(log, device), device == ROCHP_HOST, size);
}

static void test_free(rochp_context *ctx, rochp_device_id device, void *address, void *user)
{
    (void)ctx;
    allocator_log *log = user;
    log->frees++;
    log->last_free_device = device;
    log->last_freed = address;
    /* A lost device's memory: the runtime may still know the range. */
    hsa_amd_memory_pool_free(address);
}

static void fill(uint32_t *v, uint32_t seed)
{
    for (uint32_t x = 0; x < N; x++)
        v[x] = seed * 2654435761u + x * 40503u;
}

static bool holds(rochp_buffer *b, uint32_t seed)
{
    uint32_t want[N], got[N];
    fill(want, seed);
    REQUIRE(rochp_buffer_read(b, 0, got, sizeof got) == ROCHP_OK);
    return memcmp(want, got, sizeof got) == 0;
}

/* --- scenarios ------------------------------------------------------------------------ */
static void scenario(uint32_t seed, const char *kernel)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "registered", "mi210", 3, kernel);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS); /* the program's own use of the runtime */
    g_n_gpus = 0;
    REQUIRE(hsa_iterate_agents(find_agents, NULL) == HSA_STATUS_SUCCESS && g_n_gpus == 3);
    static allocator_log log;
    memset(&log, 0, sizeof log);
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, log.devs, 3, &n) == ROCHP_OK && n == 3);
    hsa_agent_t gpu0 = agent_of(&log, log.devs[0].id), gpu1 = agent_of(&log, log.devs[1].id);

    void *a_mem = own_alloc(gpu0, false, N * 4), *b_mem = own_alloc(gpu1, false, N * 4);
    void *h_mem = own_alloc(g_cpu, true, N * 4);
    REQUIRE(a_mem && b_mem && h_mem);
    rochp_buffer *a, *b, *h;
    REQUIRE(rochp_buffer_register(ctx, log.devs[0].id, a_mem, N * 4, 0, &a) == ROCHP_OK);
    REQUIRE(rochp_buffer_register(ctx, log.devs[1].id, b_mem, N * 4, 0, &b) == ROCHP_OK);
    REQUIRE(rochp_buffer_register(ctx, ROCHP_HOST, h_mem, N * 4, ROCHP_REGISTER_COPY_ALWAYS,
                                  &h) == ROCHP_OK);
    CHECK(rochp_buffer_address(b) == b_mem && rochp_buffer_device(b) == log.devs[1].id);

    /* Overlaps and bad flags are refused by name. */
    rochp_buffer *x = NULL;
    CHECK(rochp_buffer_register(ctx, log.devs[1].id, (char *)b_mem + 64, 64, 0, &x) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "overlap buffer");
    CHECK(x == NULL);
    CHECK(rochp_buffer_register(ctx, log.devs[1].id, (char *)b_mem, 64, 0x80, &x) ==
          ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "unknown flags 0x80");

    /* Step 0's state, written by the program itself. */
    uint32_t v[N];
    fill(v, 100 + seed);
    own_copy(a_mem, gpu0, v, g_cpu, sizeof v);
    fill(v, 200 + seed);
    own_copy(b_mem, gpu1, v, g_cpu, sizeof v);
    fill(h_mem, 300 + seed);
    rochp_checkpoint_stats cs;
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, &cs) == ROCHP_OK);
    CHECK_EQ_U64(cs.buffers_copied, 3); /* no shadow yet: all */
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, &cs) == ROCHP_OK);
    CHECK_EQ_U64(cs.buffers_copied, 1); /* unmarked: the copy-always one only */
    CHECK_EQ_U64(cs.bytes_copied, N * 4);

    /* Step 1: marked, then written by the program -- or lost first. */
    bool wrote = seed % 2 == 0;
    REQUIRE(rochp_buffer_mark_written(a) == ROCHP_OK);
    REQUIRE(rochp_buffer_mark_written(b) == ROCHP_OK);
    if (wrote) {
        fill(v, 111 + seed);
        own_copy(a_mem, gpu0, v, g_cpu, sizeof v);
        fill(v, 222 + seed);
        own_copy(b_mem, gpu1, v, g_cpu, sizeof v);
        fill(h_mem, 333 + seed);
    }
    rochp__error err = {0};
    REQUIRE(vtree_unplug(dir, log.devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);

    /* No allocator: refused, naming the buffer and the call to make. */
    rochp_recovery_report rep;
    CHECK(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "rochp_set_allocator");
    rochp_allocator al = {.size = sizeof al, .alloc = test_alloc, .free = test_free,
                          .user = &log};
    rochp_allocator small = al;
    small.size = 8;
    CHECK(rochp_set_allocator(ctx, &small) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "sizeof(rochp_allocator)");
    REQUIRE(rochp_set_allocator(ctx, &al) == ROCHP_OK);
    /* An allocator that gives nothing: nothing changes. */
    log.fail = 1;
    CHECK(rochp_recover(ctx, 30 * SECOND, &rep) == ROCHP_ERROR_OUT_OF_MEMORY);
    CHECK_CONTAINS(rochp_last_error(), "allocator gave no memory");
    CHECK(rochp_buffer_address(b) == b_mem);
    log.fail = 0;

    memset(&rep, 0, sizeof rep);
    rochp_status st = rochp_recover(ctx, 30 * SECOND, &rep);
    if (st != ROCHP_OK)
        fprintf(stderr, "seed %u (%s): %s\n", seed, kernel, rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    CHECK_EQ_U64(rep.devices_lost, 1);
    CHECK_EQ_U64(rep.buffers_moved, 1);
    CHECK_EQ_U64(rep.bytes_moved, N * 4);
    CHECK_EQ_U64(rep.buffers_rolled_back, 2); /* a (marked), h (copy-always) */
    CHECK_EQ_U64(log.allocs, 1);
    CHECK(log.last_alloc_device == log.devs[2].id); /* the least loaded */
    CHECK(rochp_buffer_device(b) == log.devs[2].id);
    CHECK(rochp_buffer_address(b) != b_mem);
    CHECK_EQ_U64(log.frees, 1); /* the lost device's, given back */
    CHECK(log.last_freed == b_mem && log.last_free_device == log.devs[1].id);
    CHECK(holds(a, 100 + seed));
    CHECK(holds(b, 200 + seed));
    CHECK(holds(h, 300 + seed));

    /* Save, end this runtime (the program's and rochp's holds), and load in
     * a new one -- as a new process would -- that enumerates the two GPUs
     * left. */
    REQUIRE(rochp_checkpoint(ctx, 30 * SECOND, &cs) == ROCHP_OK);
    int fd = memfd_create("registered", 0);
    REQUIRE(fd >= 0);
    uint64_t ids[3] = {rochp_buffer_id(a), rochp_buffer_id(b), rochp_buffer_id(h)};
    REQUIRE(rochp_checkpoint_save(ctx, fd, ids, sizeof ids) == ROCHP_OK);
    /* The buffers are forgotten, not freed: the program gives its memory back. */
    void *a_now = rochp_buffer_address(a), *b_now = rochp_buffer_address(b);
    REQUIRE(rochp_buffer_free(a) == ROCHP_OK);
    REQUIRE(rochp_buffer_free(b) == ROCHP_OK);
    REQUIRE(rochp_buffer_free(h) == ROCHP_OK);
    CHECK_EQ_U64(log.frees, 1);
    CHECK(hsa_amd_memory_pool_free(a_now) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_pool_free(b_now) == HSA_STATUS_SUCCESS);
    CHECK(hsa_amd_memory_pool_free(h_mem) == HSA_STATUS_SUCCESS);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    REQUIRE(hsa_shut_down() == HSA_STATUS_SUCCESS);

    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    rochp_context *ctx2 = NULL;
    st = rochp_context_create(&o, &ctx2);
    if (st != ROCHP_OK)
        fprintf(stderr, "second context: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    g_n_gpus = 0;
    REQUIRE(hsa_iterate_agents(find_agents, NULL) == HSA_STATUS_SUCCESS && g_n_gpus == 2);
    static allocator_log log2;
    memset(&log2, 0, sizeof log2);
    REQUIRE(rochp_device_list(ctx2, log2.devs, 3, &n) == ROCHP_OK && n == 2);
    rochp_restored *r = NULL;
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(rochp_checkpoint_load(ctx2, fd, &r) == ROCHP_ERROR_NOT_SUPPORTED);
    CHECK_CONTAINS(rochp_last_error(), "no allocator");
    rochp_allocator al2 = {.size = sizeof al2, .alloc = test_alloc, .free = test_free,
                           .user = &log2};
    REQUIRE(rochp_set_allocator(ctx2, &al2) == ROCHP_OK);
    REQUIRE(lseek(fd, 0, SEEK_SET) == 0);
    st = rochp_checkpoint_load(ctx2, fd, &r);
    if (st != ROCHP_OK)
        fprintf(stderr, "load: %s\n", rochp_last_error());
    REQUIRE(st == ROCHP_OK);
    CHECK_EQ_U64(log2.allocs, 3);
    CHECK_EQ_U64(log2.frees, 0); /* nothing failed */
    size_t user_size = 0;
    const uint64_t *saved_ids = rochp_restored_user(r, &user_size);
    REQUIRE(user_size == sizeof ids && memcmp(saved_ids, ids, sizeof ids) == 0);
    rochp_buffer *la = rochp_restored_buffer(r, ids[0]), *lb = rochp_restored_buffer(r, ids[1]),
                 *lh = rochp_restored_buffer(r, ids[2]);
    REQUIRE(la && lb && lh);
    CHECK(holds(la, 100 + seed) && holds(lb, 200 + seed) && holds(lh, 300 + seed));
    CHECK(rochp_buffer_device(lh) == ROCHP_HOST);
    CHECK(rochp_buffer_device(la) != ROCHP_HOST && rochp_buffer_device(lb) != ROCHP_HOST);
    /* Loaded as the application's: copy-always kept, rochp frees none of it. */
    REQUIRE(rochp_checkpoint(ctx2, 30 * SECOND, &cs) == ROCHP_OK);
    CHECK_EQ_U64(cs.buffers_copied, 1);
    void *mem[3] = {rochp_buffer_address(la), rochp_buffer_address(lb), rochp_buffer_address(lh)};
    REQUIRE(rochp_buffer_free(la) == ROCHP_OK);
    REQUIRE(rochp_buffer_free(lb) == ROCHP_OK);
    REQUIRE(rochp_buffer_free(lh) == ROCHP_OK);
    CHECK_EQ_U64(log2.frees, 0);
    for (int i = 0; i < 3; i++)
        CHECK(hsa_amd_memory_pool_free(mem[i]) == HSA_STATUS_SUCCESS); /* still the program's */
    rochp_restored_free(r);
    close(fd);
    REQUIRE(rochp_context_destroy(ctx2) == ROCHP_OK);
    hsa_shut_down();
    test_remove_tmpdir(dir);
}

int main(int argc, char **argv)
{
    uint32_t seeds = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 8;
    CHECK(rochp_buffer_register(NULL, 1, &seeds, 4, 0, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_buffer_mark_written(NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_set_allocator(NULL, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    for (uint32_t s = 1; s <= seeds; s++) {
        scenario(s, "silent");
        scenario(s, "reset");
    }
    printf("%u seeds x 2 kernel modes\n", seeds);
    return check_failures ? 1 : 0;
}
