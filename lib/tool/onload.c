/* The tool's entry points.  ROCR 5.2.3 calls OnLoad at the end of the
 * first hsa_init, after agent discovery (src/core/runtime/runtime.cpp,
 * Runtime::Load -> LoadTools), and OnUnload at the last hsa_shut_down before
 * it resets the table (Runtime::Unload -> UnloadTools).  Its exports call
 * through the table (src/core/common/hsa_table_interface.cpp), so a slot
 * changed here is what the program -- and HIP -- calls from then on.
 *
 * The table's layout is the C one generated from Debian's C++-only
 * hsa_api_trace.h for hsasim (lib/hsasim/gen_api.py), which a compile-time
 * check there holds to the real header, member for member. */
#include <stddef.h>
#include <string.h>

#include "hsasim_api_table.h"
#include "tool.h"

static CoreApiTable *core;
static AmdExtTable *amd;
static CoreApiTable saved_core;
static AmdExtTable saved_amd;

/* A table too old to have a slot is refused rather than written past; one
 * of another major version (another layout) too.  The sub-tables' majors are
 * the headers' (hsa_api_trace.h: 1 in ROCm 5.2.3, 2 for core and AMD
 * extension in 6.1.2), whose minor_id ROCR sets to the table's size. */
#define HAS(t, T, major, f)                                                            \
    ((t) && (t)->version.major_id == (major) &&                                        \
     (t)->version.minor_id >= offsetof(T, f) + sizeof(void *))

static void *as_ptr(void (*f)(void))
{
    void *p;
    _Static_assert(sizeof p == sizeof f, "function pointers are data-pointer sized");
    memcpy(&p, &f, sizeof p);
    return p;
}

__attribute__((visibility("default"))) bool OnLoad(HsaApiTable *table, uint64_t runtime_version,
                                                   uint64_t failed_tool_count,
                                                   const char *const *failed_tool_names);
__attribute__((visibility("default"))) void OnUnload(void);

bool OnLoad(HsaApiTable *table, uint64_t runtime_version, uint64_t failed_tool_count,
            const char *const *failed_tool_names)
{
    (void)runtime_version;
    (void)failed_tool_count;
    (void)failed_tool_names;
    if (!table || table->version.major_id != HSA_API_TABLE_MAJOR_VERSION)
        return false;
    core = table->core_;
    amd = table->amd_ext_;
    if (!HAS(core, CoreApiTable, HSA_CORE_API_TABLE_MAJOR_VERSION,
             hsa_signal_group_wait_any_relaxed_fn) ||
        !HAS(amd, AmdExtTable, HSA_AMD_EXT_API_TABLE_MAJOR_VERSION,
             hsa_amd_memory_async_copy_rect_fn))
        return false;
    saved_core = *core;
    saved_amd = *amd;
    tool_runtime *rt = tool_runtime_entries();
    rt->system_get_info = core->hsa_system_get_info_fn;
    rt->iterate_agents = core->hsa_iterate_agents_fn;
    rt->agent_get_info = core->hsa_agent_get_info_fn;
    rt->amd_agent_iterate_memory_pools = amd->hsa_amd_agent_iterate_memory_pools_fn;
    rt->amd_memory_pool_get_info = amd->hsa_amd_memory_pool_get_info_fn;
    rt->amd_memory_pool_allocate = amd->hsa_amd_memory_pool_allocate_fn;
    rt->amd_memory_pool_free = amd->hsa_amd_memory_pool_free_fn;
    rt->amd_register_system_event_handler = amd->hsa_amd_register_system_event_handler_fn;
    rt->queue_create = core->hsa_queue_create_fn;
    rt->queue_destroy = core->hsa_queue_destroy_fn;
    rt->queue_load_read_index_scacquire = core->hsa_queue_load_read_index_scacquire_fn;
    rt->queue_load_read_index_relaxed = core->hsa_queue_load_read_index_relaxed_fn;
    rt->queue_load_write_index_relaxed = core->hsa_queue_load_write_index_relaxed_fn;
    rt->signal_load_relaxed = core->hsa_signal_load_relaxed_fn;
    rt->signal_store_relaxed = core->hsa_signal_store_relaxed_fn;
    rt->signal_store_screlease = core->hsa_signal_store_screlease_fn;
    rt->signal_silent_store_relaxed = core->hsa_signal_silent_store_relaxed_fn;
    rt->signal_silent_store_screlease = core->hsa_signal_silent_store_screlease_fn;
    rt->signal_destroy = core->hsa_signal_destroy_fn;
    rt->signal_wait_scacquire = core->hsa_signal_wait_scacquire_fn;
    rt->signal_wait_relaxed = core->hsa_signal_wait_relaxed_fn;
    rt->amd_signal_wait_any = amd->hsa_amd_signal_wait_any_fn;
    rt->amd_signal_async_handler = amd->hsa_amd_signal_async_handler_fn;
    rt->amd_memory_async_copy = amd->hsa_amd_memory_async_copy_fn;
    rt->amd_memory_async_copy_rect = amd->hsa_amd_memory_async_copy_rect_fn;

    /* Filled at the first loss only: until then these cost the program nothing. */
    tool_clear_loss_slots();
#define LOSS_SLOT(t, f, w) tool_add_loss_slot((void **)&t->f, as_ptr((void (*)(void))w))
    bool ok = LOSS_SLOT(core, hsa_queue_load_read_index_scacquire_fn,
                        tool_queue_load_read_index_scacquire) &&
              LOSS_SLOT(core, hsa_queue_load_read_index_relaxed_fn,
                        tool_queue_load_read_index_relaxed) &&
              LOSS_SLOT(core, hsa_signal_store_relaxed_fn, tool_signal_store_relaxed) &&
              LOSS_SLOT(core, hsa_signal_store_screlease_fn, tool_signal_store_screlease) &&
              LOSS_SLOT(core, hsa_signal_silent_store_relaxed_fn,
                        tool_signal_silent_store_relaxed) &&
              LOSS_SLOT(core, hsa_signal_silent_store_screlease_fn,
                        tool_signal_silent_store_screlease) &&
              LOSS_SLOT(core, hsa_signal_destroy_fn, tool_signal_destroy) &&
              LOSS_SLOT(amd, hsa_amd_memory_async_copy_rect_fn, tool_amd_memory_async_copy_rect) &&
              LOSS_SLOT(amd, hsa_amd_memory_async_copy_fn, tool_amd_memory_async_copy_after_loss);
#undef LOSS_SLOT
    if (!ok || !tool_start())
        return false;
    /* Always in place: a wait that began before a loss must be able to end,
     * a queue's errors must reach rochp first, a copy in flight at the
     * loss must be known, and so must a handler set before it. */
    core->hsa_queue_create_fn = tool_queue_create;
    core->hsa_queue_destroy_fn = tool_queue_destroy;
    core->hsa_signal_wait_scacquire_fn = tool_signal_wait_scacquire;
    core->hsa_signal_wait_relaxed_fn = tool_signal_wait_relaxed;
    amd->hsa_amd_signal_wait_any_fn = tool_amd_signal_wait_any;
    amd->hsa_amd_memory_async_copy_fn = tool_amd_memory_async_copy;
    amd->hsa_amd_signal_async_handler_fn = tool_amd_signal_async_handler;
    return true;
}

void OnUnload(void)
{
    tool_stop();
    /* The runtime resets the whole table after this (UnloadTools); putting
     * back what we changed also serves a runtime that does not. */
    if (core)
        *core = saved_core;
    if (amd)
        *amd = saved_amd;
}
