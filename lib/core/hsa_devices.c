/* Devices and the HSA runtime: which hsa_agent_t is which device, and the
 * runtime's system events folded into the event stream.
 *
 * Matching is by what both sides print: HSA_AMD_AGENT_INFO_DOMAIN and BDFID
 * against the node's domain and location_id, and DRIVER_NODE_ID against the
 * node number.  An agent that matches no device, or matches one at another
 * node, means the runtime and rochp saw different trees (a change between
 * the two reads): rochp re-reads once and otherwise says so, never guesses.
 *
 * The system event handler is process-wide: ROCR offers no way to remove a
 * handler, so it must never point at a context that may be destroyed.  It
 * returns success for every event, so ROCR never aborts the process on a
 * device fault while a context exists (the point of registering).
 * live_lock guards the list of live contexts; it is taken before any
 * context's lock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "hsa/hw_exception.h"

static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static rochp_context **live;
static size_t n_live, cap_live;

/* A memory fault whose reasons are all the program's own bad access (ROCR's
 * VMFaultHandler fills the mask from KFD's HsaMemoryAccessFault: page not
 * present, read-only, no-execute, host-only; imprecise only qualifies
 * them), not the device's (ECC, hang): the device is not lost.  KFD's
 * VM-fault path (kfd_int_process_v9.c, event_interrupt_wq_v9) evicts every
 * queue of the process on that device, so those fail, by name. */
static bool program_fault(const hsa_amd_event_t *event, char *what, size_t what_size)
{
    const uint32_t program = HSA_AMD_MEMORY_FAULT_PAGE_NOT_PRESENT |
                             HSA_AMD_MEMORY_FAULT_READ_ONLY | HSA_AMD_MEMORY_FAULT_NX |
                             HSA_AMD_MEMORY_FAULT_HOST_ONLY | HSA_AMD_MEMORY_FAULT_IMPRECISE;
    if (event->event_type != HSA_AMD_GPU_MEMORY_FAULT_EVENT)
        return false;
    uint32_t mask = event->memory_fault.fault_reason_mask;
    if (!(mask & ~HSA_AMD_MEMORY_FAULT_IMPRECISE) || (mask & ~program))
        return false;
    snprintf(what, what_size, "a kernel touched 0x%llx: %s",
             (unsigned long long)event->memory_fault.virtual_address,
             mask & HSA_AMD_MEMORY_FAULT_PAGE_NOT_PRESENT ? "page not present"
             : mask & HSA_AMD_MEMORY_FAULT_READ_ONLY      ? "write to a read-only page"
             : mask & HSA_AMD_MEMORY_FAULT_NX             ? "execute of a no-execute page"
                                                          : "host-only memory");
    return true;
}

static hsa_status_t on_system_event(const hsa_amd_event_t *event, void *data)
{
    (void)data;
    /* A memory fault that is not the program's own, and a reset, are the
     * device's loss. */
    uint64_t agent = (int)event->event_type == HW_RESET_EVENT
                         ? HW_RESET_AGENT(event).handle
                         : event->memory_fault.agent.handle;
    char what[128];
    bool fault = program_fault(event, what, sizeof what);
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < n_live; i++) {
        rochp_context *ctx = live[i];
        pthread_mutex_lock(&ctx->lock);
        for (size_t k = 0; k < ctx->n_devices; k++) {
            device_entry *d = &ctx->devices[k];
            if (!agent || d->info.hsa_agent != agent)
                continue;
            if (!fault) {
                registry_mark_lost(ctx, d, ROCHP_REASON_SYSTEM_EVENT);
                continue;
            }
            if (!d->fault[0]) {
                snprintf(d->fault, sizeof d->fault, "%s", what);
                d->fault_address = event->memory_fault.virtual_address;
            }
            CORE_EACH_LAYER(ctx, device_faulted, ctx, d->info.id, what);
        }
        pthread_mutex_unlock(&ctx->lock);
    }
    pthread_mutex_unlock(&live_lock);
    return HSA_STATUS_SUCCESS;
}

rochp_status hsa_devices_register(rochp_context *ctx)
{
    pthread_mutex_lock(&live_lock);
    if (n_live == cap_live) {
        size_t cap = cap_live ? cap_live * 2 : 8;
        rochp_context **grown = realloc(live, cap * sizeof *grown);
        if (!grown) {
            pthread_mutex_unlock(&live_lock);
            return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
        }
        live = grown;
        cap_live = cap;
    }
    live[n_live++] = ctx;
    pthread_mutex_unlock(&live_lock);
    /* Once per initialisation of this runtime is what matters; registering
     * again per context only adds calls that find the event already folded. */
    hsa_status_t st = ctx->hsa.amd_register_system_event_handler(on_system_event, NULL);
    if (st != HSA_STATUS_SUCCESS)
        return rochp__set_errorf(ROCHP_ERROR_IO,
                                "hsa_amd_register_system_event_handler failed: %s; without it "
                                "ROCR aborts the process on a device fault",
                                rochp__hsa_status_text(&ctx->hsa, st));
    return ROCHP_OK;
}

void hsa_devices_unregister(rochp_context *ctx)
{
    pthread_mutex_lock(&live_lock);
    for (size_t i = 0; i < n_live; i++) {
        if (live[i] == ctx) {
            live[i] = live[--n_live];
            break;
        }
    }
    if (n_live == 0) {
        free(live);
        live = NULL;
        cap_live = 0;
    }
    pthread_mutex_unlock(&live_lock);
}

typedef struct match_state {
    rochp_context *ctx;
    rochp_status status;
    char why[256];
} match_state;

static hsa_status_t match_agent(hsa_agent_t agent, void *data)
{
    match_state *m = data;
    rochp_context *ctx = m->ctx;
    hsa_device_type_t type;
    if (ctx->hsa.agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) != HSA_STATUS_SUCCESS ||
        type != HSA_DEVICE_TYPE_GPU)
        return HSA_STATUS_SUCCESS;
    uint32_t bdf = 0, domain = 0, node = 0;
    ctx->hsa.agent_get_info(agent, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_BDFID, &bdf);
    ctx->hsa.agent_get_info(agent, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_DOMAIN, &domain);
    ctx->hsa.agent_get_info(agent, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_DRIVER_NODE_ID, &node);
    for (size_t i = 0; i < ctx->n_devices; i++) {
        device_entry *d = &ctx->devices[i];
        if (!d->in_topology || d->info.pci_domain != domain || d->info.location_id != bdf)
            continue;
        if (d->info.kfd_node != node) {
            m->status = ROCHP_ERROR_BUSY;
            snprintf(m->why, sizeof m->why,
                     "the HSA agent at %s is KFD node %u for the runtime but node %u in the "
                     "topology rochp read",
                     d->info.pci, node, d->info.kfd_node);
            return HSA_STATUS_INFO_BREAK;
        }
        d->info.hsa_agent = agent.handle;
        return HSA_STATUS_SUCCESS;
    }
    m->status = ROCHP_ERROR_BUSY;
    snprintf(m->why, sizeof m->why,
             "the HSA runtime has a GPU agent at PCI %04x:%02x:%02x.%x (KFD node %u) that the "
             "topology rochp read does not have",
             domain, bdf >> 8, (bdf >> 3) & 0x1f, bdf & 7, node);
    return HSA_STATUS_INFO_BREAK;
}

rochp_status hsa_devices_match(rochp_context *ctx)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (attempt) {
            /* The tree may have changed between the two reads: read it again. */
            topo_snapshot *snap = NULL;
            rochp__error err = {0};
            rochp_status st = topo_snapshot_read_parts(ctx->root, TOPO_READ_DEVICES, &snap, &err);
            if (st != ROCHP_OK)
                return rochp__set_error(st, &err);
            pthread_mutex_lock(&ctx->lock);
            st = registry_apply(ctx, snap, ROCHP_REASON_TOPOLOGY, true);
            pthread_mutex_unlock(&ctx->lock);
            topo_snapshot_free(snap);
            if (st != ROCHP_OK)
                return rochp__set_errorf(st, "out of memory");
        }
        match_state m = {.ctx = ctx, .status = ROCHP_OK};
        pthread_mutex_lock(&ctx->lock);
        for (size_t i = 0; i < ctx->n_devices; i++)
            ctx->devices[i].info.hsa_agent = 0;
        ctx->hsa.iterate_agents(match_agent, &m);
        pthread_mutex_unlock(&ctx->lock);
        if (m.status == ROCHP_OK)
            return ROCHP_OK;
        if (attempt == 1)
            return rochp__set_errorf(m.status, "%s", m.why);
    }
    return ROCHP_OK;
}

static rochp_status reenumerate_locked(rochp_context *ctx);

rochp_status hsa_devices_reenumerate(rochp_context *ctx, bool wait, bool *gate_busy)
{
    if (gate_busy)
        *gate_busy = false;
    if (!ctx->hsa_up)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_reenumerate: this context has no HSA runtime "
                                "(ROCHP_CONTEXT_NO_HSA)");
    if (ctx->hsa_attached)
        return rochp__set_errorf(ROCHP_ERROR_NOT_SUPPORTED,
                                "rochp_reenumerate: this context uses the program's HSA runtime "
                                "(ROCHP_CONTEXT_ATTACH_HSA); only the program's own hsa_shut_down "
                                "and hsa_init can make the runtime enumerate again");
    if (wait) {
        pthread_rwlock_wrlock(&ctx->runtime_gate);
    } else if (pthread_rwlock_trywrlock(&ctx->runtime_gate) != 0) {
        if (gate_busy)
            *gate_busy = true;
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "rochp_reenumerate: the runtime is in use by another call");
    }
#ifdef ROCHP_LOCK_ASSERTS
    runtime_gate_depth++;
#endif
    rochp_status st = reenumerate_locked(ctx);
#ifdef ROCHP_LOCK_ASSERTS
    runtime_gate_depth--;
#endif
    pthread_rwlock_unlock(&ctx->runtime_gate);
    return st;
}

static rochp_status reenumerate_locked(rochp_context *ctx)
{
    ROCHP_ASSERT_GATE(ctx);
    /* Before the rescan lock: the layers' hooks take locks that come
     * before it (resilience settles a begun checkpoint under the
     * checkpoint lock, which recovery holds while it rescans). */
    CORE_EACH_LAYER(ctx, runtime_stopping, ctx);
    /* One re-enumeration at a time, and no topology change applied halfway. */
    pthread_mutex_lock(&ctx->rescan_lock);
    ctx->hsa.shut_down();
    uint16_t major;
    bool restarted = ctx->hsa.system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) !=
                     HSA_STATUS_SUCCESS;
    if (restarted) {
        CORE_EACH_LAYER(ctx, runtime_gone, ctx);
    }
    if (ctx->hsa.system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major) == HSA_STATUS_SUCCESS) {
        /* Still up: another component holds a reference, so ROCR would not
         * enumerate again.  Put ours back and say so. */
        rochp__error err = {0};
        rochp_status st = rochp__hsa_init(&ctx->hsa, &err);
        ctx->hsa_up = st == ROCHP_OK;
        pthread_mutex_unlock(&ctx->rescan_lock);
        return rochp__set_errorf(ROCHP_ERROR_BUSY,
                                "rochp_reenumerate: another component of this process still "
                                "holds the HSA runtime (hsa_init without hsa_shut_down), so it "
                                "cannot start again and see new GPUs");
    }
    rochp__error err = {0};
    rochp_status st = rochp__hsa_init(&ctx->hsa, &err);
    ctx->hsa_up = st == ROCHP_OK;
    if (st != ROCHP_OK) {
        pthread_mutex_unlock(&ctx->rescan_lock);
        return rochp__set_error(st, &err);
    }
    /* The handler list went with the old runtime. */
    ctx->hsa.amd_register_system_event_handler(on_system_event, NULL);
    /* The runtime read the tree just now: apply the same tree (events for
     * what changed since the last scan), then match. */
    topo_snapshot *snap = NULL;
    st = topo_snapshot_read_parts(ctx->root, TOPO_READ_DEVICES, &snap, &err);
    if (st == ROCHP_OK) {
        pthread_mutex_lock(&ctx->lock);
        st = registry_apply(ctx, snap, ROCHP_REASON_TOPOLOGY, false);
        pthread_mutex_unlock(&ctx->lock);
        topo_snapshot_free(snap);
    } else {
        rochp__set_error(st, &err);
    }
    if (st == ROCHP_OK) {
        match_state m = {.ctx = ctx, .status = ROCHP_OK};
        pthread_mutex_lock(&ctx->lock);
        for (size_t i = 0; i < ctx->n_devices; i++)
            ctx->devices[i].info.hsa_agent = 0;
        ctx->hsa.iterate_agents(match_agent, &m);
        for (size_t i = 0; i < ctx->n_devices && m.status == ROCHP_OK; i++) {
            device_entry *d = &ctx->devices[i];
            if (d->info.state != ROCHP_DEVICE_PRESENT)
                continue;
            rochp_event e;
            memset(&e, 0, sizeof e);
            e.type = ROCHP_EVENT_REENUMERATED;
            e.reason = ROCHP_REASON_TOPOLOGY;
            e.device = d->info.id;
            e.info = d->info;
            e.generation = ctx->generation;
            delivery_queue(ctx, &e);
        }
        pthread_mutex_unlock(&ctx->lock);
        if (m.status != ROCHP_OK)
            st = rochp__set_errorf(m.status, "%s", m.why);
    }
    pthread_mutex_unlock(&ctx->rescan_lock);
    return st;
}

typedef struct probe_state {
    const rochp__hsa *hsa;
    hsa_amd_memory_pool_t pool;
    bool found;
} probe_state;

static hsa_status_t allocatable_pool(hsa_amd_memory_pool_t pool, void *data)
{
    probe_state *p = data;
    hsa_amd_segment_t segment;
    bool allowed = false;
    if (p->hsa->amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &segment) ==
            HSA_STATUS_SUCCESS &&
        segment == HSA_AMD_SEGMENT_GLOBAL &&
        p->hsa->amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED,
                                         &allowed) == HSA_STATUS_SUCCESS &&
        allowed) {
        p->pool = pool;
        p->found = true;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

void hsa_devices_probe(rochp_context *ctx, rochp_event_reason reason)
{
    if (!ctx->hsa_up)
        return;
    /* The agents to ask, copied out: the runtime is called without ctx->lock. */
    uint64_t agents[256];
    size_t n = 0;
    pthread_mutex_lock(&ctx->lock);
    for (size_t i = 0; i < ctx->n_devices && n < 256; i++) {
        const device_entry *d = &ctx->devices[i];
        if ((d->info.state == ROCHP_DEVICE_PRESENT || d->held_reason) && d->info.hsa_agent)
            agents[n++] = d->info.hsa_agent;
    }
    pthread_mutex_unlock(&ctx->lock);
    for (size_t k = 0; k < n; k++) {
        probe_state p = {.hsa = &ctx->hsa};
        ctx->hsa.amd_agent_iterate_memory_pools((hsa_agent_t){agents[k]}, allocatable_pool, &p);
        void *page = NULL;
        bool alive = p.found &&
                     ctx->hsa.amd_memory_pool_allocate(p.pool, 4096, 0, &page) == HSA_STATUS_SUCCESS;
        if (page)
            ctx->hsa.amd_memory_pool_free(page);
        if (alive)
            continue;
        pthread_mutex_lock(&ctx->lock);
        for (size_t i = 0; i < ctx->n_devices; i++)
            if (ctx->devices[i].info.hsa_agent == agents[k])
                registry_mark_lost(ctx, &ctx->devices[i], reason);
        pthread_mutex_unlock(&ctx->lock);
    }
}
