/* The HSA runtime as a function table: librochp never links ROCR, it loads
 * whatever ROCHP_HSA_RUNTIME names (the real libhsa-runtime64.so.1 or
 * hsasim) once per context, so that a program can choose at run time and a
 * machine without ROCm still gets a clear error instead of a loader failure. */
#ifndef ROCHP_HSA_TABLE_H
#define ROCHP_HSA_TABLE_H

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "common/error.h"

#define ROCHP_HSA_DEFAULT_RUNTIME "libhsa-runtime64.so.1"

typedef struct rochp__hsa {
    void *handle;
    char path[512]; /* what was loaded, for messages */
    hsa_status_t (*init)(void);
    hsa_status_t (*shut_down)(void);
    hsa_status_t (*status_string)(hsa_status_t status, const char **text);
    hsa_status_t (*system_get_info)(hsa_system_info_t attribute, void *value);
    hsa_status_t (*iterate_agents)(hsa_status_t (*callback)(hsa_agent_t agent, void *data),
                                   void *data);
    hsa_status_t (*agent_get_info)(hsa_agent_t agent, hsa_agent_info_t attribute, void *value);
    hsa_status_t (*amd_register_system_event_handler)(hsa_amd_system_event_callback_t callback,
                                                      void *data);
    hsa_status_t (*amd_agent_iterate_memory_pools)(
        hsa_agent_t agent, hsa_status_t (*callback)(hsa_amd_memory_pool_t pool, void *data),
        void *data);
    hsa_status_t (*amd_memory_pool_get_info)(hsa_amd_memory_pool_t pool,
                                             hsa_amd_memory_pool_info_t attribute, void *value);
    hsa_status_t (*amd_memory_pool_allocate)(hsa_amd_memory_pool_t pool, size_t size,
                                             uint32_t flags, void **ptr);
    hsa_status_t (*amd_memory_pool_free)(void *ptr);
    hsa_status_t (*amd_agents_allow_access)(uint32_t num_agents, const hsa_agent_t *agents,
                                            const uint32_t *flags, const void *ptr);
    hsa_status_t (*amd_memory_lock)(void *host_ptr, size_t size, hsa_agent_t *agents,
                                    int num_agent, void **agent_ptr);
    hsa_status_t (*amd_memory_unlock)(void *host_ptr);
    hsa_status_t (*amd_memory_async_copy)(void *dst, hsa_agent_t dst_agent, const void *src,
                                          hsa_agent_t src_agent, size_t size,
                                          uint32_t num_dep_signals, const hsa_signal_t *dep_signals,
                                          hsa_signal_t completion_signal);
    hsa_status_t (*signal_create)(hsa_signal_value_t initial_value, uint32_t num_consumers,
                                  const hsa_agent_t *consumers, hsa_signal_t *signal);
    hsa_status_t (*signal_destroy)(hsa_signal_t signal);
    hsa_signal_value_t (*signal_wait_scacquire)(hsa_signal_t signal,
                                                hsa_signal_condition_t condition,
                                                hsa_signal_value_t compare_value,
                                                uint64_t timeout_hint,
                                                hsa_wait_state_t wait_state_hint);
    /* the doorbell store of the inline dispatch path */
    void (*signal_store_screlease)(hsa_signal_t signal, hsa_signal_value_t value);
    hsa_status_t (*queue_create)(hsa_agent_t agent, uint32_t size, hsa_queue_type32_t type,
                                 void (*callback)(hsa_status_t status, hsa_queue_t *source,
                                                  void *data),
                                 void *data, uint32_t private_segment_size,
                                 uint32_t group_segment_size, hsa_queue_t **queue);
    hsa_status_t (*queue_destroy)(hsa_queue_t *queue);
    hsa_status_t (*queue_inactivate)(hsa_queue_t *queue);
    hsa_status_t (*code_object_reader_create_from_memory)(const void *code_object, size_t size,
                                                          hsa_code_object_reader_t *reader);
    hsa_status_t (*code_object_reader_destroy)(hsa_code_object_reader_t reader);
    hsa_status_t (*executable_create_alt)(hsa_profile_t profile,
                                          hsa_default_float_rounding_mode_t rounding_mode,
                                          const char *options, hsa_executable_t *executable);
    hsa_status_t (*executable_load_agent_code_object)(hsa_executable_t executable,
                                                      hsa_agent_t agent,
                                                      hsa_code_object_reader_t reader,
                                                      const char *options,
                                                      hsa_loaded_code_object_t *loaded);
    hsa_status_t (*executable_freeze)(hsa_executable_t executable, const char *options);
    hsa_status_t (*executable_destroy)(hsa_executable_t executable);
    hsa_status_t (*executable_get_symbol_by_name)(hsa_executable_t executable,
                                                  const char *symbol_name,
                                                  const hsa_agent_t *agent,
                                                  hsa_executable_symbol_t *symbol);
    hsa_status_t (*executable_symbol_get_info)(hsa_executable_symbol_t symbol,
                                               hsa_executable_symbol_info_t attribute,
                                               void *value);
} rochp__hsa;

/* Loads the runtime at path (NULL: $ROCHP_HSA_RUNTIME, else the default) and
 * resolves every entry of the table.  Not found: ROCHP_ERROR_NOT_FOUND;
 * an entry missing: ROCHP_ERROR_NOT_SUPPORTED naming it. */
rochp_status rochp__hsa_load(const char *path, rochp__hsa *out, rochp__error *err);

/* hsa_init through the table, with a failure turned into a rochp status and
 * a message that names the runtime and the HSA status. */
rochp_status rochp__hsa_init(const rochp__hsa *hsa, rochp__error *err);

/* Whether the runtime is initialised already (by someone else): OK, or
 * ROCHP_ERROR_NOT_FOUND saying that hsa_init has not been called. */
rochp_status rochp__hsa_check_up(const rochp__hsa *hsa, rochp__error *err);

/* The text of an HSA status from the loaded runtime (never NULL). */
const char *rochp__hsa_status_text(const rochp__hsa *hsa, hsa_status_t status);

void rochp__hsa_unload(rochp__hsa *hsa);

#endif
