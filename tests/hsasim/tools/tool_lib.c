/* An HSA tool for hsasim's tests, built once per kind (TOOL_KIND_*), named
 * TOOL_NAME.  Every kind reports its OnLoad (with its arguments, the table's
 * versions and the GPUs it finds through the table) and its OnUnload to the
 * test program (tool_events.h).
 *
 *   count   replaces hsa_signal_create, hsa_amd_signal_create,
 *           hsa_queue_create and hsa_signal_subtract_scacq_screl in the table
 *           with wrappers that count and call the saved originals
 *   plain   reports only
 *   refuse  its OnLoad returns false
 *   reinit  calls hsa_init and hsa_shut_down (the exported ones) from
 *           OnLoad and OnUnload, and reports what they returned
 *   slow    OnLoad takes 300 ms, and reports its end ("OnLoadEnd") */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tool_events.h"

bool OnLoad(HsaApiTable *table, uint64_t runtime_version, uint64_t failed_tool_count,
            const char *const *failed_tool_names);
void OnUnload(void);

static CoreApiTable *core;

static hsa_status_t count_gpu(hsa_agent_t agent, void *data)
{
    hsa_device_type_t type;
    if (core->hsa_agent_get_info_fn(agent, HSA_AGENT_INFO_DEVICE, &type) == HSA_STATUS_SUCCESS &&
        type == HSA_DEVICE_TYPE_GPU)
        ++*(uint32_t *)data;
    return HSA_STATUS_SUCCESS;
}

static void event_start(tool_event *e, const char *what)
{
    memset(e, 0, sizeof *e);
    snprintf(e->tool, sizeof e->tool, "%s", TOOL_NAME);
    snprintf(e->what, sizeof e->what, "%s", what);
    if (core->hsa_iterate_agents_fn(count_gpu, &e->gpus) != HSA_STATUS_SUCCESS)
        e->gpus = UINT32_MAX;
}

#ifdef TOOL_KIND_REINIT
static void reinit(tool_event *e)
{
    hsa_status_t (*init)(void) = (hsa_status_t (*)(void))dlsym(RTLD_DEFAULT, "hsa_init");
    hsa_status_t (*shut_down)(void) = (hsa_status_t (*)(void))dlsym(RTLD_DEFAULT, "hsa_shut_down");
    e->init_status = init ? init() : HSA_STATUS_SUCCESS;
    e->shut_down_status = shut_down ? shut_down() : HSA_STATUS_SUCCESS;
}
#endif

#ifdef TOOL_KIND_COUNT
static __typeof__(hsa_signal_create) *signal_create;
static __typeof__(hsa_amd_signal_create) *amd_signal_create;
static __typeof__(hsa_queue_create) *queue_create;
static __typeof__(hsa_signal_subtract_scacq_screl) *signal_subtract;

static hsa_status_t counted_signal_create(hsa_signal_value_t initial_value,
                                          uint32_t num_consumers, const hsa_agent_t *consumers,
                                          hsa_signal_t *signal)
{
    tool_count(COUNT_SIGNAL_CREATE);
    return signal_create(initial_value, num_consumers, consumers, signal);
}

static hsa_status_t counted_amd_signal_create(hsa_signal_value_t initial_value,
                                              uint32_t num_consumers,
                                              const hsa_agent_t *consumers, uint64_t attributes,
                                              hsa_signal_t *signal)
{
    tool_count(COUNT_AMD_SIGNAL_CREATE);
    return amd_signal_create(initial_value, num_consumers, consumers, attributes, signal);
}

static hsa_status_t counted_queue_create(hsa_agent_t agent, uint32_t size, hsa_queue_type32_t type,
                                         void (*callback)(hsa_status_t, hsa_queue_t *, void *),
                                         void *data, uint32_t private_segment_size,
                                         uint32_t group_segment_size, hsa_queue_t **queue)
{
    tool_count(COUNT_QUEUE_CREATE);
    return queue_create(agent, size, type, callback, data, private_segment_size,
                        group_segment_size, queue);
}

static void counted_signal_subtract(hsa_signal_t signal, hsa_signal_value_t value)
{
    tool_count(COUNT_SIGNAL_SUBTRACT);
    signal_subtract(signal, value);
}
#endif

bool OnLoad(HsaApiTable *table, uint64_t runtime_version, uint64_t failed_tool_count,
            const char *const *failed_tool_names)
{
    core = table->core_;
    tool_event e;
    event_start(&e, "OnLoad");
    e.runtime_version = runtime_version;
    e.failed_count = failed_tool_count;
    e.failed_null = failed_tool_names == NULL;
    for (uint64_t i = 0; i < failed_tool_count && i < TOOL_MAX_FAILED; i++)
        snprintf(e.failed[i], sizeof e.failed[i], "%s", failed_tool_names[i]);
    e.root = table->version;
    e.core = table->core_->version;
    e.amd_ext = table->amd_ext_->version;
    e.finalizer = table->finalizer_ext_->version;
    e.image = table->image_ext_->version;
#ifdef TOOL_KIND_REINIT
    reinit(&e);
#endif
    tool_event_add(&e);
#ifdef TOOL_KIND_COUNT
    signal_create = core->hsa_signal_create_fn;
    core->hsa_signal_create_fn = counted_signal_create;
    amd_signal_create = table->amd_ext_->hsa_amd_signal_create_fn;
    table->amd_ext_->hsa_amd_signal_create_fn = counted_amd_signal_create;
    queue_create = core->hsa_queue_create_fn;
    core->hsa_queue_create_fn = counted_queue_create;
    signal_subtract = core->hsa_signal_subtract_scacq_screl_fn;
    core->hsa_signal_subtract_scacq_screl_fn = counted_signal_subtract;
#endif
#ifdef TOOL_KIND_SLOW
    nanosleep(&(struct timespec){.tv_nsec = 300000000}, NULL);
    event_start(&e, "OnLoadEnd");
    tool_event_add(&e);
#endif
#ifdef TOOL_KIND_REFUSE
    return false;
#else
    return true;
#endif
}

void OnUnload(void)
{
    tool_event e;
    event_start(&e, "OnUnload");
#ifdef TOOL_KIND_REINIT
    reinit(&e);
#endif
    tool_event_add(&e);
}
