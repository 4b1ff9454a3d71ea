#include "hsa_table.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Offsets of the table's entries, to resolve them in one loop. */
#define ENTRY(field, symbol) {offsetof(rochp__hsa, field), symbol}
static const struct {
    size_t offset;
    const char *symbol;
} entries[] = {
    ENTRY(init, "hsa_init"),
    ENTRY(shut_down, "hsa_shut_down"),
    ENTRY(status_string, "hsa_status_string"),
    ENTRY(system_get_info, "hsa_system_get_info"),
    ENTRY(iterate_agents, "hsa_iterate_agents"),
    ENTRY(agent_get_info, "hsa_agent_get_info"),
    ENTRY(amd_register_system_event_handler, "hsa_amd_register_system_event_handler"),
    ENTRY(amd_agent_iterate_memory_pools, "hsa_amd_agent_iterate_memory_pools"),
    ENTRY(amd_memory_pool_get_info, "hsa_amd_memory_pool_get_info"),
    ENTRY(amd_memory_pool_allocate, "hsa_amd_memory_pool_allocate"),
    ENTRY(amd_memory_pool_free, "hsa_amd_memory_pool_free"),
    ENTRY(amd_agents_allow_access, "hsa_amd_agents_allow_access"),
    ENTRY(amd_memory_lock, "hsa_amd_memory_lock"),
    ENTRY(amd_memory_unlock, "hsa_amd_memory_unlock"),
    ENTRY(amd_memory_async_copy, "hsa_amd_memory_async_copy"),
    ENTRY(signal_create, "hsa_signal_create"),
    ENTRY(signal_destroy, "hsa_signal_destroy"),
    ENTRY(signal_wait_scacquire, "hsa_signal_wait_scacquire"),
    ENTRY(signal_store_screlease, "hsa_signal_store_screlease"),
    ENTRY(queue_create, "hsa_queue_create"),
    ENTRY(queue_destroy, "hsa_queue_destroy"),
    ENTRY(queue_inactivate, "hsa_queue_inactivate"),
    ENTRY(code_object_reader_create_from_memory, "hsa_code_object_reader_create_from_memory"),
    ENTRY(code_object_reader_destroy, "hsa_code_object_reader_destroy"),
    ENTRY(executable_create_alt, "hsa_executable_create_alt"),
    ENTRY(executable_load_agent_code_object, "hsa_executable_load_agent_code_object"),
    ENTRY(executable_freeze, "hsa_executable_freeze"),
    ENTRY(executable_destroy, "hsa_executable_destroy"),
    ENTRY(executable_get_symbol_by_name, "hsa_executable_get_symbol_by_name"),
    ENTRY(executable_symbol_get_info, "hsa_executable_symbol_get_info"),
};

rochp_status rochp__hsa_load(const char *path, rochp__hsa *out, rochp__error *err)
{
    if (!out)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "rochp__hsa_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path)
        path = getenv("ROCHP_HSA_RUNTIME");
    if (!path || !*path)
        path = ROCHP_HSA_DEFAULT_RUNTIME;
    snprintf(out->path, sizeof out->path, "%s", path);
    /* RTLD_LOCAL: the runtime's symbols stay out of the global namespace,
     * so hsasim and ROCR could even be told apart in one process.
     * RTLD_NODELETE: ROCR cannot be unloaded and loaded again (static state,
     * its own threads, pools it keeps for the process's life), so it stays
     * mapped once loaded, whatever contexts come and go. */
    out->handle = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!out->handle)
        return rochp__fail(err, ROCHP_ERROR_NOT_FOUND,
                          "cannot load the HSA runtime '%s' (ROCHP_HSA_RUNTIME): %s", path,
                          dlerror());
    for (size_t i = 0; i < sizeof entries / sizeof *entries; i++) {
        void *fn = dlsym(out->handle, entries[i].symbol);
        if (!fn) {
            rochp_status st = rochp__fail(err, ROCHP_ERROR_NOT_SUPPORTED,
                                         "the HSA runtime '%s' has no %s: not an HSA runtime?",
                                         path, entries[i].symbol);
            rochp__hsa_unload(out);
            return st;
        }
        /* POSIX guarantees data and function pointers convert through dlsym. */
        memcpy((char *)out + entries[i].offset, &fn, sizeof fn);
    }
    return ROCHP_OK;
}

const char *rochp__hsa_status_text(const rochp__hsa *hsa, hsa_status_t status)
{
    const char *text = NULL;
    if (hsa && hsa->status_string && hsa->status_string(status, &text) == HSA_STATUS_SUCCESS &&
        text)
        return text;
    return "unknown HSA status";
}

rochp_status rochp__hsa_init(const rochp__hsa *hsa, rochp__error *err)
{
    if (!hsa || !hsa->init)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "the HSA runtime is not loaded");
    hsa_status_t st = hsa->init();
    if (st == HSA_STATUS_SUCCESS)
        return ROCHP_OK;
    /* ROCR answers OUT_OF_RESOURCES when it cannot open /dev/kfd: no driver,
     * no GPU, or no permission. */
    return rochp__fail(err,
                      st == HSA_STATUS_ERROR_OUT_OF_RESOURCES ? ROCHP_ERROR_NOT_FOUND
                                                              : ROCHP_ERROR_IO,
                      "hsa_init in '%s' failed with 0x%x (%s)%s", hsa->path, (unsigned)st,
                      rochp__hsa_status_text(hsa, st),
                      st == HSA_STATUS_ERROR_OUT_OF_RESOURCES
                          ? "; is there an AMD GPU with the amdgpu driver, and may this user "
                            "open /dev/kfd?"
                          : "");
}

void rochp__hsa_unload(rochp__hsa *hsa)
{
    if (!hsa)
        return;
    if (hsa->handle)
        dlclose(hsa->handle);
    memset(hsa, 0, sizeof *hsa);
}

rochp_status rochp__hsa_check_up(const rochp__hsa *hsa, rochp__error *err)
{
    if (!hsa || !hsa->system_get_info)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "the HSA runtime is not loaded");
    /* Every query but init answers NOT_INITIALIZED while the count is 0. */
    uint16_t major = 0;
    hsa_status_t st = hsa->system_get_info(HSA_SYSTEM_INFO_VERSION_MAJOR, &major);
    if (st == HSA_STATUS_SUCCESS)
        return ROCHP_OK;
    return rochp__fail(err, ROCHP_ERROR_NOT_FOUND,
                      "ROCHP_CONTEXT_ATTACH_HSA: the HSA runtime '%s' is not initialised (0x%x, "
                      "%s); the program must call hsa_init before the context is made",
                      hsa->path, (unsigned)st, rochp__hsa_status_text(hsa, st));
}
