/* hsasim executable symbols: lookup, attributes and iteration. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "loader.h"

/* Not in Debian's 5.2.3 headers; answered by ROCR. */
#define SIM_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE 19  /* HSA_CODE_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE */
#define SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_SIZE 100 /* amd_hsa_loader.hpp */
#define SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_ALIGN 101

SIM_API hsa_status_t hsa_executable_get_symbol_by_name(hsa_executable_t executable,
                                                       const char *symbol_name,
                                                       const hsa_agent_t *agent,
                                                       hsa_executable_symbol_t *symbol)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!symbol_name || !symbol)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    sim_symbol *s = ex && symbol_name[0] ? sim_symbol_find(ex, symbol_name, agent) : NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (!s)
        st = HSA_STATUS_ERROR_INVALID_SYMBOL_NAME;
    else
        symbol->handle = (uint64_t)(uintptr_t)s;
    pthread_rwlock_unlock(&sim_loader_lock);
    return st;
}

SIM_API hsa_status_t hsa_executable_get_symbol(hsa_executable_t executable,
                                               const char *module_name, const char *symbol_name,
                                               hsa_agent_t agent, int32_t call_convention,
                                               hsa_executable_symbol_t *symbol)
{
    (void)call_convention;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!symbol_name || !symbol)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!symbol_name[0])
        return HSA_STATUS_ERROR_INVALID_SYMBOL_NAME;
    /* ROCR: "module::name" when a module is given; a program symbol of that
     * name wins over the agent's. */
    size_t mlen = module_name ? strlen(module_name) : 0;
    char *mangled = malloc(mlen + 2 + strlen(symbol_name) + 1);
    if (!mangled)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    if (mlen)
        sprintf(mangled, "%s::%s", module_name, symbol_name);
    else
        strcpy(mangled, symbol_name);
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    bool program = ex && sim_symbol_find(ex, mangled, NULL) != NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    pthread_rwlock_unlock(&sim_loader_lock);
    if (st == HSA_STATUS_SUCCESS)
        st = hsa_executable_get_symbol_by_name(executable, mangled, program ? NULL : &agent,
                                               symbol);
    free(mangled);
    return st;
}

SIM_API hsa_status_t hsa_executable_symbol_get_info(hsa_executable_symbol_t executable_symbol,
                                                    hsa_executable_symbol_info_t attribute,
                                                    void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&sim_loader_lock);
    const sim_symbol *s = sim_live_get(executable_symbol.handle, SIM_OBJ_SYMBOL);
    if (!s) {
        pthread_rwlock_unlock(&sim_loader_lock);
        return HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL;
    }
    bool kernel = s->kind == HSA_SYMBOL_KIND_KERNEL;
    bool variable = s->kind == HSA_SYMBOL_KIND_VARIABLE;
    switch ((int)attribute) {
    /* SymbolImpl::GetInfo: every kind */
    case HSA_EXECUTABLE_SYMBOL_INFO_TYPE: *(hsa_symbol_kind_t *)value = s->kind; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_NAME_LENGTH: *(uint32_t *)value = (uint32_t)strlen(s->name); break;
    case HSA_EXECUTABLE_SYMBOL_INFO_NAME: memcpy(value, s->name, strlen(s->name)); break;
    case HSA_EXECUTABLE_SYMBOL_INFO_MODULE_NAME_LENGTH: *(uint32_t *)value = 0; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_MODULE_NAME: break; /* "" without a NUL: nothing written */
    case HSA_EXECUTABLE_SYMBOL_INFO_LINKAGE: *(hsa_symbol_linkage_t *)value = s->linkage; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_IS_DEFINITION: *(bool *)value = true; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_CALL_CONVENTION: *(uint32_t *)value = 0; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS: *(uint64_t *)value = s->address; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_AGENT: *(hsa_agent_t *)value = s->agent; break;
    /* KernelSymbol::GetInfo */
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_ALIGNMENT:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_DYNAMIC_CALLSTACK:
    case SIM_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE:
    case SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_SIZE:
    case SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_ALIGN:
        if (!kernel) {
            st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
            break;
        }
        switch ((int)attribute) {
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE: *(uint32_t *)value = s->kernarg_size; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_ALIGNMENT: *(uint32_t *)value = s->kernarg_align; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE: *(uint32_t *)value = s->group_size; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE: *(uint32_t *)value = s->private_size; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_DYNAMIC_CALLSTACK: *(bool *)value = s->dynamic_callstack; break;
        case SIM_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE: *(uint32_t *)value = s->wavefront_size; break;
        case SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_SIZE: *(uint32_t *)value = s->object_size; break;
        default: *(uint32_t *)value = s->object_align; break;
        }
        break;
    /* VariableSymbol::GetInfo */
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALLOCATION:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SEGMENT:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALIGNMENT:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_IS_CONST:
        if (!variable) {
            st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
            break;
        }
        switch ((int)attribute) {
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALLOCATION: *(hsa_variable_allocation_t *)value = s->allocation; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SEGMENT: *(hsa_variable_segment_t *)value = s->segment; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALIGNMENT: *(uint32_t *)value = s->var_align; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE: *(uint32_t *)value = s->var_size; break;
        default: *(bool *)value = s->var_const; break;
        }
        break;
    default: st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    return st;
}

/* --- iteration ------------------------------------------------------------------------------ */

enum { ITER_ALL, ITER_AGENT, ITER_PROGRAM };

/* The symbols to visit, copied under the lock so that callbacks run without
 * it (a callback may call the API, even destroy the executable). */
static hsa_status_t snapshot_symbols(hsa_executable_t executable, int which, hsa_agent_t agent,
                                     uint64_t **out, size_t *count)
{
    hsa_status_t st = HSA_STATUS_SUCCESS;
    *out = NULL;
    *count = 0;
    pthread_rwlock_rdlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    if (!ex) {
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    } else if (ex->n_symbols) {
        uint64_t *h = malloc(ex->n_symbols * sizeof *h);
        if (!h) {
            st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        } else {
            size_t n = 0;
            for (size_t i = 0; i < ex->n_symbols; i++) {
                const sim_symbol *s = ex->symbols[i];
                if ((which == ITER_AGENT && (!s->is_agent || s->agent.handle != agent.handle)) ||
                    (which == ITER_PROGRAM && s->is_agent))
                    continue;
                h[n++] = (uint64_t)(uintptr_t)s;
            }
            *out = h;
            *count = n;
        }
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    return st;
}

static bool still_live(hsa_executable_t executable, uint64_t symbol)
{
    pthread_rwlock_rdlock(&sim_loader_lock);
    bool ok =
        sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE) && sim_live_get(symbol, SIM_OBJ_SYMBOL);
    pthread_rwlock_unlock(&sim_loader_lock);
    return ok;
}

SIM_API hsa_status_t hsa_executable_iterate_symbols(
    hsa_executable_t executable,
    hsa_status_t (*callback)(hsa_executable_t exec, hsa_executable_symbol_t symbol, void *data),
    void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    uint64_t *h;
    size_t n;
    hsa_status_t st = snapshot_symbols(executable, ITER_ALL, (hsa_agent_t){0}, &h, &n);
    for (size_t i = 0; st == HSA_STATUS_SUCCESS && i < n && still_live(executable, h[i]); i++)
        st = callback(executable, (hsa_executable_symbol_t){h[i]}, data);
    free(h);
    return st;
}

SIM_API hsa_status_t hsa_executable_iterate_agent_symbols(
    hsa_executable_t executable, hsa_agent_t agent,
    hsa_status_t (*callback)(hsa_executable_t exec, hsa_agent_t agent,
                             hsa_executable_symbol_t symbol, void *data),
    void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!sim_agent_get(agent))
        return HSA_STATUS_ERROR_INVALID_AGENT;
    uint64_t *h;
    size_t n;
    hsa_status_t st = snapshot_symbols(executable, ITER_AGENT, agent, &h, &n);
    for (size_t i = 0; st == HSA_STATUS_SUCCESS && i < n && still_live(executable, h[i]); i++)
        st = callback(executable, agent, (hsa_executable_symbol_t){h[i]}, data);
    free(h);
    return st;
}

SIM_API hsa_status_t hsa_executable_iterate_program_symbols(
    hsa_executable_t executable,
    hsa_status_t (*callback)(hsa_executable_t exec, hsa_executable_symbol_t symbol, void *data),
    void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    uint64_t *h;
    size_t n;
    hsa_status_t st = snapshot_symbols(executable, ITER_PROGRAM, (hsa_agent_t){0}, &h, &n);
    for (size_t i = 0; st == HSA_STATUS_SUCCESS && i < n && still_live(executable, h[i]); i++)
        st = callback(executable, (hsa_executable_symbol_t){h[i]}, data);
    free(h);
    return st;
}
