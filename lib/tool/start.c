/* Starting and stopping the tool: its configuration, its rochp context on
 * the program's runtime, and the map of GPU agents to rochp devices and HIP
 * ordinals.  Runs inside OnLoad, i.e. inside the program's first hsa_init:
 * it never calls hsa_init itself (the runtime's bootstrap lock is held). */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

tool_state tool = {.lock = PTHREAD_MUTEX_INITIALIZER, .events_fd = -1};

tool_runtime *tool_runtime_entries(void)
{
    return &tool.rt;
}

void tool_clear_loss_slots(void)
{
    tool.n_slots = 0;
    tool.slots_in = false;
}

bool tool_add_loss_slot(void **slot, void *wrapper)
{
    if (tool.n_slots == TOOL_MAX_SLOTS)
        return false;
    tool.slots[tool.n_slots++] = (tool_slot){slot, wrapper};
    return true;
}

static void say(const char *what)
{
    fprintf(stderr, "rochp tool: %s\n", what);
}

/* ROCHP_TOOL_ON_LOSS=continue | exit[:CODE] */
static bool read_policy(void)
{
    tool.on_loss = TOOL_ON_LOSS_CONTINUE;
    tool.exit_code = 75; /* EX_TEMPFAIL: a supervisor restarts */
    const char *s = getenv("ROCHP_TOOL_ON_LOSS");
    if (!s || !*s || strcmp(s, "continue") == 0)
        return true;
    if (strncmp(s, "exit", 4) != 0 || (s[4] && s[4] != ':'))
        goto bad;
    tool.on_loss = TOOL_ON_LOSS_EXIT;
    if (s[4] == ':') {
        char *end;
        errno = 0;
        long code = strtol(s + 5, &end, 10);
        if (errno || end == s + 5 || *end || code < 0 || code > 255)
            goto bad;
        tool.exit_code = (int)code;
    }
    return true;
bad:
    fprintf(stderr,
            "rochp tool: ROCHP_TOOL_ON_LOSS='%s' is not 'continue', 'exit' or 'exit:CODE' "
            "(CODE 0..255); the tool stays out\n",
            s);
    return false;
}

/* HIP numbers the GPU agents in hsa_iterate_agents order, keeping those
 * HIP_VISIBLE_DEVICES (or CUDA_VISIBLE_DEVICES) lists, in the list's order
 * (ROCclr 5.2 device/rocm/rocdevice.cpp, Device::init). */
static void number_for_hip(void)
{
    static const char *const names[] = {"libamdhip64.so.5", "libamdhip64.so.6", "libamdhip64.so"};
    for (size_t i = 0; i < sizeof names / sizeof *names && !tool.hip_loaded; i++) {
        void *h = dlopen(names[i], RTLD_LAZY | RTLD_NOLOAD);
        if (h) {
            tool.hip_loaded = true;
            dlclose(h);
        }
    }
    for (size_t i = 0; i < tool.n_agents; i++)
        tool.agents[i].hip_ordinal = tool.hip_loaded ? (int)i : -1;
    const char *visible = getenv("HIP_VISIBLE_DEVICES");
    if (!visible)
        visible = getenv("CUDA_VISIBLE_DEVICES");
    if (!tool.hip_loaded || !visible)
        return;
    for (size_t i = 0; i < tool.n_agents; i++)
        tool.agents[i].hip_ordinal = -1;
    int ordinal = 0;
    for (const char *p = visible; *p;) {
        char *end;
        long index = strtol(p, &end, 10);
        if (end == p || index < 0)
            break; /* ROCclr stops at the first entry it cannot use */
        if ((size_t)index < tool.n_agents && tool.agents[index].hip_ordinal < 0)
            tool.agents[index].hip_ordinal = ordinal++;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            break;
    }
}

static hsa_status_t find_pool(hsa_amd_memory_pool_t pool, void *data)
{
    tool_agent *a = data;
    hsa_amd_segment_t segment;
    bool allowed = false;
    if (tool.rt.amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_SEGMENT, &segment) ==
            HSA_STATUS_SUCCESS &&
        segment == HSA_AMD_SEGMENT_GLOBAL &&
        tool.rt.amd_memory_pool_get_info(pool, HSA_AMD_MEMORY_POOL_INFO_RUNTIME_ALLOC_ALLOWED,
                                         &allowed) == HSA_STATUS_SUCCESS &&
        allowed) {
        a->pool = pool;
        a->has_pool = true;
        return HSA_STATUS_INFO_BREAK;
    }
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t add_gpu(hsa_agent_t agent, void *data)
{
    (void)data;
    hsa_device_type_t type;
    if (tool.rt.agent_get_info(agent, HSA_AGENT_INFO_DEVICE, &type) != HSA_STATUS_SUCCESS ||
        type != HSA_DEVICE_TYPE_GPU || tool.n_agents == TOOL_MAX_AGENTS)
        return HSA_STATUS_SUCCESS;
    tool_agent *a = &tool.agents[tool.n_agents++];
    a->agent = agent;
    a->hip_ordinal = -1;
    tool.rt.amd_agent_iterate_memory_pools(agent, find_pool, a);
    return HSA_STATUS_SUCCESS;
}

/* The rochp context's devices carry the agent handles of this enumeration. */
static void match_devices(void)
{
    rochp_device_info infos[TOOL_MAX_AGENTS * 2];
    size_t n = 0;
    if (rochp_device_list(tool.ctx, infos, sizeof infos / sizeof *infos, &n) != ROCHP_OK)
        return;
    for (size_t i = 0; i < n && i < sizeof infos / sizeof *infos; i++)
        for (size_t k = 0; k < tool.n_agents; k++)
            if (infos[i].hsa_agent == tool.agents[k].agent.handle) {
                tool.agents[k].device = infos[i].id;
                memcpy(tool.agents[k].pci, infos[i].pci, sizeof tool.agents[k].pci);
            }
}

/* The runtime dlcloses its tools after OnUnload (ROCR 5.2.3 CloseTools);
 * this one stays mapped, and librochp with it: rochp's SIGBUS handler and
 * both system-event handlers point into them for the process's life (the
 * runtime has no way to remove a handler), and librochp's process-wide
 * tables must stay reachable. */
static bool pin_self(void)
{
    Dl_info self;
    if (!dladdr((void *)pin_self, &self) || !self.dli_fname)
        return false;
    return dlopen(self.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE) != NULL;
}

bool tool_start(void)
{
    if (!read_policy())
        return false;
    if (!pin_self()) {
        say("cannot keep itself loaded (dlopen RTLD_NODELETE); the tool stays out");
        return false;
    }
    /* The runtime this table belongs to, by the address of one of its own
     * functions: the context loads the very same library (already mapped). */
    Dl_info where;
    void *fn;
    memcpy(&fn, &tool.rt.system_get_info, sizeof fn);
    if (!dladdr(fn, &where) || !where.dli_fname) {
        say("cannot tell which library the HSA runtime is; the tool stays out");
        return false;
    }
    snprintf(tool.runtime_path, sizeof tool.runtime_path, "%s", where.dli_fname);
    uint64_t frequency = 0;
    if (tool.rt.system_get_info(HSA_SYSTEM_INFO_TIMESTAMP_FREQUENCY, &frequency) !=
            HSA_STATUS_SUCCESS ||
        !frequency)
        frequency = 1000000000u;
    memcpy(&tool_copy_runtime, &tool.rt.amd_memory_async_copy, sizeof tool_copy_runtime);
    /* A wait is cut into slices this long, to look for a loss between them. */
    tool.slice = frequency / 100;
    tool.rt.iterate_agents(add_gpu, NULL);
    number_for_hip();

    rochp_options opts;
    rochp_options_init(&opts);
    opts.flags = ROCHP_CONTEXT_ATTACH_HSA | ROCHP_CONTEXT_SIGBUS_HANDLER;
    opts.hsa_runtime = tool.runtime_path;
    const char *poll = getenv("ROCHP_TOOL_POLL_MS");
    opts.poll_interval_ms = poll && atoi(poll) > 0 ? (uint32_t)atoi(poll) : 250;
    rochp_status st = rochp_context_create(&opts, &tool.ctx);
    if (st != ROCHP_OK) {
        fprintf(stderr, "rochp tool: no rochp context (%s); the tool stays out\n",
                rochp_last_error());
        return false;
    }
    match_devices();
    if (!tool_agents_watch_faults(tool.rt.amd_register_system_event_handler)) {
        say("cannot register its system event handler; the tool stays out");
        rochp_context_destroy(tool.ctx);
        tool.ctx = NULL;
        return false;
    }
    if (tool_report_start() != ROCHP_OK) {
        fprintf(stderr, "rochp tool: %s; the tool stays out\n", rochp_last_error());
        rochp_context_destroy(tool.ctx);
        tool.ctx = NULL;
        return false;
    }
    return true;
}

static void free_records(tool_queue *q)
{
    while (q) {
        tool_queue *next = q->next;
        free(q);
        q = next;
    }
}

/* Everything back to the start, for a runtime started again (OnLoad then
 * runs again in this same, pinned, library). */
void tool_stop(void)
{
    /* The context first: its callback thread writes event lines until it
     * is joined. */
    if (tool.ctx)
        rochp_context_destroy(tool.ctx);
    tool.ctx = NULL;
    tool_report_stop();
    tool_handlers_stop_pump(); /* its records stay: the runtime may still call them */
    pthread_mutex_lock(&tool.lock);
    free_records(tool.queues);
    free_records(tool.free_queues);
    tool.queues = tool.free_queues = NULL;
    free(tool.failed);
    tool.failed = NULL;
    tool.n_failed = tool.cap_failed = 0;
    tool.n_agents = 0;
    memset(tool.agents, 0, sizeof tool.agents);
    tool.hip_loaded = false;
    atomic_store(&tool.lost_any, 0);
    atomic_store(&tool_copy_pos, 0);
    memset(tool_copy_ring, 0, sizeof tool_copy_ring);
    pthread_mutex_unlock(&tool.lock);
}
