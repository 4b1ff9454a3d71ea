/* Buffers: memory rochp knows, on a device or the host.  The registry is an
 * array sorted by address (binary search for rochp_buffer_find), guarded by
 * ctx->managed->buffer_lock, which no dispatch path ever takes and which is never
 * held while waiting for the runtime.
 *
 * Device memory is a coarse-grained VRAM pool, host memory the CPU's
 * fine-grained pool; both are opened to every agent.  Reads and writes of
 * device buffers go through host staging memory from the CPU pool: real
 * coarse-grained VRAM is not host-visible (hsasim's is, which must not make
 * the code depend on it).  Copies run on the runtime's copy engine and are
 * waited for in slices, so that a device lost meanwhile ends the wait. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "managed/managed.h"

typedef struct pool_query {
    const rochp__hsa *hsa;
    uint32_t want_flag;
    hsa_amd_memory_pool_t pool;
    bool found;
} pool_query;

static hsa_status_t pick_pool(hsa_amd_memory_pool_t pool, void *data)
{
    pool_query *q = data;
    hsa_amd_segment_t segment;
    uint32_t flags = 0;
    bool allowed = false;
    if (q->hsa->amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &segment) !=
            HSA_STATUS_SUCCESS ||
        segment != HSA_AMD_SEGMENT_GLOBAL)
        return HSA_STATUS_SUCCESS;
    q->hsa->amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_GLOBAL_FLAGS, &flags);
    q->hsa->amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED,
                                     &allowed);
    /* Kernarg pools are fine-grained too; plain memory comes from the other. */
    bool kernarg = flags & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT;
    bool want_kernarg = q->want_flag & HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT;
    if (allowed && (flags & q->want_flag) && kernarg == want_kernarg) {
        q->pool = pool;
        q->found = true;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t find_cpu(hsa_agent_t agent, void *data)
{
    const rochp__hsa *hsa = ((void **)data)[0];
    hsa_device_type_t type;
    if (hsa->agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) == HSA_STATUS_SUCCESS &&
        type == HSA_DEVICE_TYPE_CPU) {
        *(uint64_t *)((void **)data)[1] = agent.handle;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

uint64_t managed_cpu_agent(rochp_context *ctx)
{
    uint64_t cpu = 0;
    void *args[2] = {&ctx->hsa, &cpu};
    ctx->hsa.iterate_agents(find_cpu, args);
    return cpu;
}

/* The agent a device's memory lives on, checked present; 0 with the status. */
rochp_status managed_device_agent(rochp_context *ctx, rochp_device_id device, uint64_t *agent)
{
    if (device == ROCHP_HOST) {
        *agent = managed_cpu_agent(ctx);
        return *agent ? ROCHP_OK
                      : rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "the runtime has no CPU agent");
    }
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    rochp_status st = ROCHP_OK;
    if (!d)
        st = rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "no device %llu in this context",
                              (unsigned long long)device);
    else if (d->info.state != ROCHP_DEVICE_PRESENT)
        st = rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST, "device %llu (%s) has been lost",
                              (unsigned long long)device, d->info.pci);
    else if (!d->info.hsa_agent)
        st = rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                              "device %llu (%s) has no HSA agent yet: rochp_reenumerate first",
                              (unsigned long long)device, d->info.pci);
    else
        *agent = d->info.hsa_agent;
    pthread_mutex_unlock(&ctx->lock);
    return st;
}

rochp_status managed_device_usable(rochp_context *ctx, rochp_device_id device, const char *call)
{
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    char fault[sizeof d->fault] = "";
    if (d)
        memcpy(fault, d->fault, sizeof fault);
    pthread_mutex_unlock(&ctx->lock);
    if (!fault[0])
        return ROCHP_OK;
    return rochp__set_errorf(ROCHP_ERROR_QUEUE_FAILED,
                            "%s: device %llu stopped this process's queues after a memory fault "
                            "by its work (%s); the driver keeps them stopped for the rest of "
                            "the process",
                            call, (unsigned long long)device, fault);
}

static bool device_lost(rochp_context *ctx, rochp_device_id device)
{
    if (device == ROCHP_HOST)
        return false;
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    bool lost = !d || d->info.state != ROCHP_DEVICE_PRESENT;
    pthread_mutex_unlock(&ctx->lock);
    return lost;
}

bool managed_device_lost_now(rochp_context *ctx, rochp_device_id device)
{
    if (device == ROCHP_HOST)
        return false;
    if (device_lost(ctx, device))
        return true;
    /* A device dies before the driver takes it out of the topology, and
     * the runtime refuses memory and queues on it at once (ROCR reports
     * the thunk's failure as HSA_STATUS_ERROR_OUT_OF_RESOURCES, as for
     * memory really short): read the topology now rather than blame the
     * memory (a failure path: the cost is one sysfs read). */
    (void)watcher_rescan(ctx, ROCHP_REASON_TOPOLOGY);
    /* A reset leaves the topology as it is and is reported by the
     * runtime's event thread (HSA_AMD_GPU_HW_EXCEPTION_EVENT), which may
     * come just after the refusal: its report is waited for a moment
     * (memory really short costs that much more to be told). */
    for (uint64_t t0 = rochp__now_ns(); !device_lost(ctx, device);) {
        if (rochp__now_ns() - t0 >= LOSS_REPORT_WAIT_NS)
            return false;
        struct timespec pause = {0, 2 * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    return true;
}

/* Memory of device made through agent: gone with the device, and gone too
 * when the device came back since (it has another agent, or none yet, and
 * the memory went with the first). */
bool managed_memory_gone(rochp_context *ctx, rochp_device_id device, uint64_t agent)
{
    if (device == ROCHP_HOST)
        return false;
    pthread_mutex_lock(&ctx->lock);
    device_entry *d = registry_find(ctx, device);
    /* A device that stopped the process's work after a memory fault stopped
     * its copy engines too (KFD evicts the process's queues there). */
    bool gone = !d || d->info.state != ROCHP_DEVICE_PRESENT || d->info.hsa_agent != agent ||
                d->fault[0];
    pthread_mutex_unlock(&ctx->lock);
    return gone;
}

bool managed_buffer_reachable(rochp_buffer *b)
{
    return b->address && !managed_memory_gone(b->ctx, b->device, b->agent);
}

/* Raw pool memory for a device (or the host, or host kernarg memory),
 * opened to every agent. */
rochp_status managed_pool_memory(rochp_context *ctx, rochp_device_id device, bool kernarg,
                                 size_t size, void **out, uint64_t *agent)
{
    rochp_status st = managed_device_agent(ctx, kernarg ? ROCHP_HOST : device, agent);
    if (st != ROCHP_OK)
        return st;
    pool_query q = {.hsa = &ctx->hsa,
                    .want_flag = kernarg ? HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_KERNARG_INIT
                                 : device == ROCHP_HOST
                                     ? HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_FINE_GRAINED
                                     : HSA_AMD_MEMORY_POOL_GLOBAL_FLAG_COARSE_GRAINED};
    ctx->hsa.amd_agent_iterate_memory_pools((hsa_agent_t){*agent}, pick_pool, &q);
    if (!q.found)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED, "no allocatable %s memory pool",
                                kernarg ? "kernarg" : device == ROCHP_HOST ? "host" : "device");
    hsa_status_t hs = ctx->hsa.amd_memory_pool_allocate(q.pool, size, 0, out);
    if (hs != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(managed_device_lost_now(ctx, device) ? ROCHP_ERROR_DEVICE_LOST
                                                                     : ROCHP_ERROR_OUT_OF_MEMORY,
                                "cannot allocate %zu bytes: %s", size,
                                rochp__hsa_status_text(&ctx->hsa, hs));
    /* Every agent of the context may touch it (kernels on any GPU, copies). */
    hsa_agent_t agents[257];
    uint32_t n = 0;
    uint64_t cpu = managed_cpu_agent(ctx);
    if (cpu)
        agents[n++] = (hsa_agent_t){cpu};
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < ctx->n_devices && n < 257; i++)
        if (ctx->devices[i].info.hsa_agent && ctx->devices[i].info.state == ROCHP_DEVICE_PRESENT)
            agents[n++] = (hsa_agent_t){ctx->devices[i].info.hsa_agent};
    pthread_mutex_unlock(&ctx->lock);
    if (n)
        ctx->hsa.amd_agents_allow_access(n, agents, NULL, *out);
    return ROCHP_OK;
}

static size_t find_index(const rochp_context *ctx, const void *address)
{
    /* First buffer whose address is > address. */
    size_t lo = 0, hi = ctx->managed->n_buffers;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if ((const char *)ctx->managed->buffers[mid]->address <= (const char *)address)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static rochp_status buffer_alloc_locked(rochp_context *ctx, rochp_device_id device, size_t size,
                                rochp_buffer **out)
{
    ROCHP_ASSERT_GATE(ctx);
    if (!out || size == 0)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_buffer_alloc: out must be set and size > 0");
    *out = NULL;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_buffer_alloc: this context has no HSA runtime");
    rochp_buffer *b = calloc(1, sizeof *b);
    if (!b)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "rochp_buffer_alloc: out of memory");
    rochp_status st = managed_pool_memory(ctx, device, false, size, &b->address, &b->agent);
    if (st != ROCHP_OK) {
        free(b);
        return st;
    }
    b->ctx = ctx;
    b->id = managed_new_id(ctx);
    b->size = size;
    b->device = device;
    if ((st = managed_buffer_insert(ctx, b, "rochp_buffer_alloc")) != ROCHP_OK) {
        ctx->hsa.amd_memory_pool_free(b->address);
        free(b);
        return st;
    }
    *out = b;
    return ROCHP_OK;
}

rochp_status managed_buffer_insert(rochp_context *ctx, rochp_buffer *b, const char *call)
{
    rochp_status st = handle_add(b, HANDLE_BUFFER);
    if (st != ROCHP_OK)
        return st;
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    if (ctx->managed->n_buffers == ctx->managed->cap_buffers) {
        size_t cap = ctx->managed->cap_buffers ? ctx->managed->cap_buffers * 2 : 64;
        rochp_buffer **grown = realloc(ctx->managed->buffers, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&ctx->managed->buffer_lock);
            handle_remove(b);
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "%s: out of memory", call);
        }
        ctx->managed->buffers = grown;
        ctx->managed->cap_buffers = cap;
    }
    size_t at = find_index(ctx, b->address);
    memmove(&ctx->managed->buffers[at + 1], &ctx->managed->buffers[at], (ctx->managed->n_buffers - at) * sizeof *ctx->managed->buffers);
    ctx->managed->buffers[at] = b;
    ctx->managed->n_buffers++;
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return ROCHP_OK;
}

rochp_status rochp_buffer_alloc(rochp_context *ctx, rochp_device_id device, size_t size, rochp_buffer **out)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_buffer_alloc");
    if (hst_ != ROCHP_OK)
        return hst_;
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, buffer_alloc_locked(ctx, device, size, out));
}

static rochp_status buffer_free_locked(rochp_buffer *b)
{
    ROCHP_ASSERT_GATE(b->ctx);
    rochp_context *ctx = b->ctx;
    uint64_t user = 0;
    if (queues_journal_uses(ctx, b->address, b->size, &user))
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "rochp_buffer_free: the journal of queue %llu passes buffer %llu "
                                "to a kernel since the last checkpoint, which a recovery would "
                                "run again (checkpoint first)",
                                (unsigned long long)user, (unsigned long long)b->id);
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < ctx->managed->n_buffers; i++) {
        if (ctx->managed->buffers[i] == b) {
            memmove(&ctx->managed->buffers[i], &ctx->managed->buffers[i + 1],
                    (ctx->managed->n_buffers - i - 1) * sizeof *ctx->managed->buffers);
            ctx->managed->n_buffers--;
            break;
        }
    }
    handle_remove(b);
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    if (b->address && !b->registered)
        ctx->hsa.amd_memory_pool_free(b->address);
    shadow_free(ctx, &b->shadow);
    shadow_free(ctx, &b->spare);
    free(b);
    return ROCHP_OK;
}

rochp_status rochp_buffer_free(rochp_buffer *b)
{
    rochp_status hst = handle_check(b, HANDLE_BUFFER, "rochp_buffer_free");
    if (hst != ROCHP_OK)
        return hst;
    rochp_context *ctx = b->ctx;
    runtime_gate_enter(ctx);
    pthread_mutex_lock(&ctx->managed->checkpoint_lock); /* not while a checkpoint holds it */
    managed_settle(ctx); /* a begun checkpoint may be copying it */
    rochp_status st = buffer_free_locked(b);
    pthread_mutex_unlock(&ctx->managed->checkpoint_lock);
    return runtime_gate_leave(ctx, st);
}

uint64_t rochp_buffer_id(const rochp_buffer *b)
{
    return handle_live(b, HANDLE_BUFFER) ? b->id : 0;
}

void *rochp_buffer_address(const rochp_buffer *b)
{
    return handle_live(b, HANDLE_BUFFER) ? b->address : NULL;
}

size_t rochp_buffer_size(const rochp_buffer *b)
{
    return handle_live(b, HANDLE_BUFFER) ? b->size : 0;
}

rochp_device_id rochp_buffer_device(const rochp_buffer *b)
{
    return handle_live(b, HANDLE_BUFFER) ? b->device : ROCHP_HOST;
}

rochp_buffer *managed_buffer_at(rochp_context *ctx, const void *address)
{
    ROCHP_ASSERT_HELD(&ctx->managed->buffer_lock);
    size_t i = find_index(ctx, address);
    /* find_index: the first buffer starting after address */
    if (i == 0)
        return NULL;
    rochp_buffer *b = ctx->managed->buffers[i - 1];
    uintptr_t a = (uintptr_t)address, start = (uintptr_t)b->address;
    return b->address && a >= start && a - start < b->size ? b : NULL;
}

rochp_status rochp_buffer_find(rochp_context *ctx, const void *address, rochp_buffer **out,
                               size_t *offset)
{
    rochp_status hst_ = handle_check(ctx, HANDLE_CONTEXT, "rochp_buffer_find");
    if (hst_ != ROCHP_OK)
        return hst_;
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_buffer_find: out is NULL");
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    size_t at = find_index(ctx, address);
    rochp_buffer *b = at ? ctx->managed->buffers[at - 1] : NULL;
    if (b && b->address && (const char *)address < (const char *)b->address + b->size) {
        *out = b;
        if (offset)
            *offset = (size_t)((const char *)address - (const char *)b->address);
    } else {
        b = NULL;
    }
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
    return b ? ROCHP_OK
             : rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "no rochp buffer contains %p", address);
}

/* dst <- src through the runtime's copy engine; waits in slices and gives
 * up when either device is lost (the copy would never complete).  The
 * registry is asked before and after too: the runtime may learn of a loss
 * later than rochp and still run or complete the copy, whose bytes then
 * cannot be trusted. */
/* The next checkpoint copies it (marked before the write: a failed write
 * may still have changed it). */
static void mark_written(rochp_buffer *b, size_t offset, size_t size)
{
    pthread_mutex_lock(&b->ctx->managed->buffer_lock);
    b->dirty = true;
    b->written_by_call = true;
    b->ctx->managed->buffer_writes++;
    pthread_mutex_unlock(&b->ctx->managed->buffer_lock);
    /* Then a begun checkpoint's copy of the range goes first: counted
     * before the guard is read, a write a checkpoint's cut did not see
     * either waits here or fails that checkpoint (checkpoint.c). */
    copy_guard_wait_range(b->ctx, (const char *)b->address + offset, size);
}

static rochp_status check_range(const rochp_buffer *b, size_t offset, size_t size, const char *what)
{
    if (!b->address)
        return rochp__set_errorf(ROCHP_ERROR_DEVICE_LOST,
                                "%s: the buffer's memory went with an earlier runtime "
                                "(re-enumeration)",
                                what);
    if (offset > b->size || size > b->size - offset)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "%s: [%zu, +%zu) is outside the buffer's %zu bytes", what, offset,
                                size, b->size);
    return ROCHP_OK;
}

static rochp_status buffer_copy_locked(rochp_buffer *dst, size_t dst_offset, const rochp_buffer *src,
                               size_t src_offset, size_t size)
{
    ROCHP_ASSERT_GATE(dst->ctx);
    if (!dst || !src || dst->ctx != src->ctx)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT,
                                "rochp_buffer_copy: two buffers of one context");
    rochp_status st = check_range(dst, dst_offset, size, "rochp_buffer_copy (destination)");
    if (st == ROCHP_OK)
        st = check_range(src, src_offset, size, "rochp_buffer_copy (source)");
    if (st != ROCHP_OK || size == 0)
        return st;
    mark_written(dst, dst_offset, size);
    return managed_engine_copy(dst->ctx, (char *)dst->address + dst_offset, dst->agent, dst->device,
                       (const char *)src->address + src_offset, src->agent, src->device, size);
}

rochp_status rochp_buffer_copy(rochp_buffer *dst, size_t dst_offset, const rochp_buffer *src, size_t src_offset,
                               size_t size)
{
    rochp_status hst = handle_check(dst, HANDLE_BUFFER, "rochp_buffer_copy (destination)");
    if (hst == ROCHP_OK)
        hst = handle_check(src, HANDLE_BUFFER, "rochp_buffer_copy (source)");
    if (hst != ROCHP_OK)
        return hst;
    if (dst->ctx != src->ctx)
        return buffer_copy_locked(dst, dst_offset, src, src_offset, size);
    rochp_context *ctx = dst->ctx;
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, buffer_copy_locked(dst, dst_offset, src, src_offset, size));
}

/* Host <-> buffer through staging memory the copy engine may use. */
static rochp_status staged(rochp_buffer *b, size_t offset, void *host, size_t size, bool to_buffer)
{
    rochp_context *ctx = b->ctx;
    rochp_status st = check_range(b, offset, size, to_buffer ? "rochp_buffer_write" : "rochp_buffer_read");
    if (st != ROCHP_OK || size == 0)
        return st;
    if (to_buffer)
        mark_written(b, offset, size);
    if (b->device == ROCHP_HOST) {
        if (to_buffer)
            memcpy((char *)b->address + offset, host, size);
        else
            memcpy(host, (char *)b->address + offset, size);
        return ROCHP_OK;
    }
    void *stage;
    uint64_t cpu;
    st = managed_pool_memory(ctx, ROCHP_HOST, false, size, &stage, &cpu);
    if (st != ROCHP_OK)
        return st;
    if (to_buffer) {
        memcpy(stage, host, size);
        st = managed_engine_copy(ctx, (char *)b->address + offset, b->agent, b->device, stage, cpu,
                         ROCHP_HOST, size);
    } else {
        st = managed_engine_copy(ctx, stage, cpu, ROCHP_HOST, (char *)b->address + offset, b->agent,
                         b->device, size);
        if (st == ROCHP_OK)
            memcpy(host, stage, size);
    }
    /* A copy abandoned on a lost device may still name the stage: keep it. */
    if (st != ROCHP_ERROR_DEVICE_LOST)
        ctx->hsa.amd_memory_pool_free(stage);
    return st;
}

static rochp_status buffer_write_locked(rochp_buffer *dst, size_t offset, const void *src, size_t size)
{
    ROCHP_ASSERT_GATE(dst->ctx);
    if (!dst || (!src && size))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_buffer_write: NULL argument");
    return staged(dst, offset, (void *)src, size, true);
}

rochp_status rochp_buffer_write(rochp_buffer *dst, size_t offset, const void *src, size_t size)
{
    rochp_status hst = handle_check(dst, HANDLE_BUFFER, "rochp_buffer_write");
    if (hst != ROCHP_OK)
        return hst;
    rochp_context *ctx = dst->ctx;
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, buffer_write_locked(dst, offset, src, size));
}

static rochp_status buffer_read_locked(const rochp_buffer *src, size_t offset, void *dst, size_t size)
{
    ROCHP_ASSERT_GATE(src->ctx);
    if (!src || (!dst && size))
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_buffer_read: NULL argument");
    return staged((rochp_buffer *)src, offset, dst, size, false);
}

rochp_status rochp_buffer_read(const rochp_buffer *src, size_t offset, void *dst, size_t size)
{
    rochp_status hst = handle_check(src, HANDLE_BUFFER, "rochp_buffer_read");
    if (hst != ROCHP_OK)
        return hst;
    rochp_context *ctx = src->ctx;
    runtime_gate_enter(ctx);
    return runtime_gate_leave(ctx, buffer_read_locked(src, offset, dst, size));
}

/* With the runtime gone (re-enumeration, destroy), the memory went too. */
void buffers_invalidate(rochp_context *ctx)
{
    pthread_mutex_lock(&ctx->managed->buffer_lock);
    for (size_t i = 0; i < ctx->managed->n_buffers; i++)
        ctx->managed->buffers[i]->address = NULL;
    /* Sorted by address no more: all NULL now, find never matches. */
    pthread_mutex_unlock(&ctx->managed->buffer_lock);
}

void buffers_free_all(rochp_context *ctx)
{
    for (size_t i = 0; i < ctx->managed->n_buffers; i++) {
        handle_remove(ctx->managed->buffers[i]);
        if (ctx->managed->buffers[i]->address && ctx->hsa_up && !ctx->managed->buffers[i]->registered)
            ctx->hsa.amd_memory_pool_free(ctx->managed->buffers[i]->address);
        shadow_free(ctx, &ctx->managed->buffers[i]->shadow);
        shadow_free(ctx, &ctx->managed->buffers[i]->spare);
        free(ctx->managed->buffers[i]);
    }
    free(ctx->managed->buffers);
    ctx->managed->buffers = NULL;
    ctx->managed->n_buffers = ctx->managed->cap_buffers = 0;
}
