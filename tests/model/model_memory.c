/* The application's own memory in the model (rochp_buffer_register): pool
 * memory the test takes from the HSA runtime itself -- the same hsasim
 * instance rochp loaded, found by its path -- and the allocator that gives
 * rochp more of it for recoveries and loads.  A registered buffer obeys
 * the same public semantics as an allocated one once an allocator is set,
 * so the model's expectations do not change; what differs is who makes and
 * frees the memory, which is what the random flows exercise.
 *
 * The same runtime also holds a GPU's copy engine for the begun
 * checkpoints (model_hold_engine), as an application's own copies would. */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "model_internal.h"

typedef struct own_runtime {
    hsa_status_t (*iterate_agents)(hsa_status_t (*)(hsa_agent_t, void *), void *);
    hsa_status_t (*agent_get_info)(hsa_agent_t, hsa_agent_info_t, void *);
    hsa_status_t (*iterate_pools)(hsa_agent_t, hsa_status_t (*)(hsa_amd_memory_pool_t, void *),
                                  void *);
    hsa_status_t (*pool_get_info)(hsa_amd_memory_pool_t, hsa_amd_memory_pool_info_t, void *);
    hsa_status_t (*pool_allocate)(hsa_amd_memory_pool_t, size_t, uint32_t, void **);
    hsa_status_t (*pool_free)(void *);
    hsa_status_t (*allow_access)(uint32_t, const hsa_agent_t *, const uint32_t *, const void *);
    hsa_status_t (*signal_create)(hsa_signal_value_t, uint32_t, const hsa_agent_t *,
                                  hsa_signal_t *);
    hsa_status_t (*signal_destroy)(hsa_signal_t);
    void (*signal_store)(hsa_signal_t, hsa_signal_value_t);
    hsa_signal_value_t (*signal_wait)(hsa_signal_t, hsa_signal_condition_t, hsa_signal_value_t,
                                      uint64_t, hsa_wait_state_t);
    hsa_status_t (*async_copy)(void *, hsa_agent_t, const void *, hsa_agent_t, size_t, uint32_t,
                               const hsa_signal_t *, hsa_signal_t);
} own_runtime;

static own_runtime rt;

static bool own_runtime_open(void)
{
    if (rt.pool_free)
        return true;
    /* rochp has it loaded: the same instance, its state shared. */
    void *h = dlopen(HSASIM_PATH, RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return false;
    rt.iterate_agents = (hsa_status_t(*)(hsa_status_t(*)(hsa_agent_t, void *), void *))dlsym(
        h, "hsa_iterate_agents");
    rt.agent_get_info = (hsa_status_t(*)(hsa_agent_t, hsa_agent_info_t, void *))dlsym(
        h, "hsa_agent_get_info");
    rt.iterate_pools = (hsa_status_t(*)(hsa_agent_t, hsa_status_t(*)(hsa_amd_memory_pool_t, void *),
                                        void *))dlsym(h, "hsa_amd_agent_iterate_memory_pools");
    rt.pool_get_info = (hsa_status_t(*)(hsa_amd_memory_pool_t, hsa_amd_memory_pool_info_t,
                                        void *))dlsym(h, "hsa_amd_memory_pool_get_info");
    rt.pool_allocate = (hsa_status_t(*)(hsa_amd_memory_pool_t, size_t, uint32_t, void **))dlsym(
        h, "hsa_amd_memory_pool_allocate");
    rt.pool_free = (hsa_status_t(*)(void *))dlsym(h, "hsa_amd_memory_pool_free");
    rt.allow_access = (hsa_status_t(*)(uint32_t, const hsa_agent_t *, const uint32_t *,
                                       const void *))dlsym(h, "hsa_amd_agents_allow_access");
    *(void **)&rt.signal_create = dlsym(h, "hsa_signal_create");
    *(void **)&rt.signal_destroy = dlsym(h, "hsa_signal_destroy");
    *(void **)&rt.signal_store = dlsym(h, "hsa_signal_store_screlease");
    *(void **)&rt.signal_wait = dlsym(h, "hsa_signal_wait_scacquire");
    *(void **)&rt.async_copy = dlsym(h, "hsa_amd_memory_async_copy");
    /* The handle stays: the library is rochp's to unload. */
    return rt.iterate_agents && rt.agent_get_info && rt.iterate_pools && rt.pool_get_info &&
           rt.pool_allocate && rt.pool_free && rt.allow_access && rt.signal_create &&
           rt.signal_destroy && rt.signal_store && rt.signal_wait && rt.async_copy;
}

/* Every agent, for access: the model's kernels on any GPU use any buffer
 * (as rochp_buffer_alloc's memory allows; a HIP program enables peer
 * access for the same). */
typedef struct agent_list {
    hsa_agent_t a[16];
    uint32_t n;
} agent_list;

static hsa_status_t collect(hsa_agent_t a, void *data)
{
    agent_list *l = data;
    if (l->n < 16)
        l->a[l->n++] = a;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t find_cpu(hsa_agent_t a, void *data)
{
    hsa_device_type_t t;
    if (rt.agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t) == HSA_STATUS_SUCCESS &&
        t == HSA_DEVICE_TYPE_CPU) {
        *(hsa_agent_t *)data = a;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

typedef struct pool_pick {
    uint32_t want;
    hsa_amd_memory_pool_t pool;
    bool found;
} pool_pick;

static hsa_status_t pick_pool(hsa_amd_memory_pool_t pool, void *data)
{
    pool_pick *p = data;
    hsa_amd_segment_t seg;
    uint32_t flags = 0;
    bool alloc = false;
    rt.pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &seg);
    rt.pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    rt.pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED, &alloc);
    if (seg == HSA_AMD_SEGMENT_GLOBAL && alloc && (flags & p->want) &&
        !(flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT)) {
        p->pool = pool;
        p->found = true;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

void *model_own_alloc(rochp_context *ctx, rochp_device_id device, size_t size)
{
    if (!own_runtime_open())
        return NULL;
    hsa_agent_t agent = {0};
    if (device == ROCHP_HOST) {
        rt.iterate_agents(find_cpu, &agent);
    } else {
        rochp_device_info info;
        if (rochp_device_get(ctx, device, &info) != ROCHP_OK || !info.hsa_agent)
            return NULL;
        agent.handle = info.hsa_agent;
    }
    pool_pick p = {.want = device == ROCHP_HOST ? HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED
                                                : HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED};
    if (!agent.handle)
        return NULL;
    rt.iterate_pools(agent, pick_pool, &p); /* HSA_STATUS_INFO_BREAK once found */
    if (!p.found)
        return NULL;
    void *mem = NULL;
    if (rt.pool_allocate(p.pool, size, 0, &mem) != HSA_STATUS_SUCCESS)
        return NULL;
    agent_list all = {.n = 0};
    rt.iterate_agents(collect, &all);
    rt.allow_access(all.n, all.a, NULL, mem);
    return mem;
}

void model_own_free(void *address)
{
    if (address && own_runtime_open())
        rt.pool_free(address);
}

static void *allocate(rochp_context *ctx, rochp_device_id device, size_t size, void *user)
{
    (void)user;
    return model_own_alloc(ctx, device, size);
}

static void give_back(rochp_context *ctx, rochp_device_id device, void *address, void *user)
{
    (void)ctx;
    (void)device;
    (void)user;
    model_own_free(address);
}

rochp_status model_set_allocator(rochp_context *ctx)
{
    rochp_allocator a = {.size = sizeof a, .alloc = allocate, .free = give_back};
    return rochp_set_allocator(ctx, &a);
}

/* --- a held copy engine ----------------------------------------------------------------------- */
#define HOLD_BYTES 4096

struct model_hold {
    void *scratch; /* 2 * HOLD_BYTES of the GPU's pool: the held copy's */
    hsa_signal_t gate, done;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool let_go;
    struct timespec until; /* when the keeper lets go by itself */
};

static struct timespec after_us(uint64_t us)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t ns = (uint64_t)t.tv_nsec + us * 1000;
    t.tv_sec += (time_t)(ns / 1000000000u);
    t.tv_nsec = (long)(ns % 1000000000u);
    return t;
}

static bool passed(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

/* Lets the engine go when asked, or when its time (which model_hold_count
 * may set again) has passed. */
static void *hold_keeper(void *arg)
{
    struct model_hold *h = arg;
    pthread_mutex_lock(&h->lock);
    while (!h->let_go)
        if (pthread_cond_timedwait(&h->cond, &h->lock, &h->until) == ETIMEDOUT && passed(&h->until))
            break;
    pthread_mutex_unlock(&h->lock);
    rt.signal_store(h->gate, 0);
    return NULL;
}

struct model_hold *model_hold_engine(rochp_context *ctx, rochp_device_id device)
{
    rochp_device_info info;
    if (device == ROCHP_HOST || !own_runtime_open() ||
        rochp_device_get(ctx, device, &info) != ROCHP_OK || !info.hsa_agent)
        return NULL;
    struct model_hold *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    /* Until counted down from the begin's return; 20 ms at most (a begin
     * that fails waits for the copies it started). */
    h->until = after_us(20000);
    h->scratch = model_own_alloc(ctx, device, 2 * HOLD_BYTES);
    if (!h->scratch) {
        free(h);
        return NULL;
    }
    hsa_agent_t a = {info.hsa_agent};
    if (rt.signal_create(1, 0, NULL, &h->gate) != HSA_STATUS_SUCCESS) {
        model_own_free(h->scratch);
        free(h);
        return NULL;
    }
    if (rt.signal_create(1, 0, NULL, &h->done) != HSA_STATUS_SUCCESS) {
        rt.signal_destroy(h->gate);
        model_own_free(h->scratch);
        free(h);
        return NULL;
    }
    /* GPU to GPU runs on the source GPU's engine, as its copies to the
     * host do: they queue behind this one until the gate opens. */
    char *p = h->scratch;
    if (rt.async_copy(p, a, p + HOLD_BYTES, a, HOLD_BYTES, 1, &h->gate, h->done) !=
        HSA_STATUS_SUCCESS) {
        rt.signal_destroy(h->gate);
        rt.signal_destroy(h->done);
        model_own_free(h->scratch);
        free(h);
        return NULL;
    }
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
    if (pthread_create(&h->thread, NULL, hold_keeper, h) != 0) {
        /* Let go at once; the copy's signals stay (the engine reads them). */
        rt.signal_store(h->gate, 0);
        pthread_mutex_destroy(&h->lock);
        pthread_cond_destroy(&h->cond);
        free(h);
        return NULL;
    }
    return h;
}

void model_hold_count(struct model_hold *h, uint64_t delay_us)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->until = after_us(delay_us);
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void model_hold_release(struct model_hold *h)
{
    if (!h)
        return;
    pthread_mutex_lock(&h->lock);
    h->let_go = true;
    pthread_cond_signal(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

void model_hold_end(struct model_hold *h, bool gone)
{
    if (!h)
        return;
    model_hold_release(h);
    pthread_join(h->thread, NULL);
    /* A gone GPU's engine never ends the copy, and may still look at its
     * signals: those and the memory stay (the runtime's end takes them). */
    if (!gone && rt.signal_wait(h->done, HSA_SIGNAL_CONDITION_LT, 1, 1000000000ull,
                                HSA_WAIT_STATE_BLOCKED) < 1) {
        rt.signal_destroy(h->gate);
        rt.signal_destroy(h->done);
        model_own_free(h->scratch);
    }
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
    free(h);
}
