/* hsasim executables: the registry of live loader objects, executables and
 * their symbol tables, and externally defined variables (loader.h has the
 * rules the loader follows and its locking). */
#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loader.h"

void sim_loader_log(const char *fmt, ...)
{
    if (!getenv("ROCHP_LOG"))
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("hsasim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* --- the registry of live objects ---------------------------------------------------- */

typedef struct live_ref {
    uintptr_t addr;
    int kind;
} live_ref;

pthread_rwlock_t sim_loader_lock = PTHREAD_RWLOCK_INITIALIZER;
static live_ref *live;
static size_t n_live, cap_live;

/* Index of the first entry >= addr. */
static size_t live_lower(uintptr_t addr)
{
    size_t lo = 0, hi = n_live;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void *sim_live_get(uint64_t handle, int kind)
{
    uintptr_t addr = (uintptr_t)handle;
    size_t i = live_lower(addr);
    return i < n_live && live[i].addr == addr && live[i].kind == kind ? (void *)addr : NULL;
}

bool sim_live_reserve(size_t more)
{
    if (n_live + more <= cap_live)
        return true;
    size_t cap = cap_live ? cap_live : 64;
    while (cap < n_live + more)
        cap *= 2;
    live_ref *grown = realloc(live, cap * sizeof *live);
    if (!grown)
        return false;
    live = grown;
    cap_live = cap;
    return true;
}

void sim_live_add(const void *p, int kind)
{
    uintptr_t addr = (uintptr_t)p;
    size_t i = live_lower(addr);
    memmove(&live[i + 1], &live[i], (n_live - i) * sizeof *live);
    live[i] = (live_ref){addr, kind};
    n_live++;
}

void sim_live_remove(const void *p)
{
    uintptr_t addr = (uintptr_t)p;
    size_t i = live_lower(addr);
    if (i < n_live && live[i].addr == addr) {
        memmove(&live[i], &live[i + 1], (n_live - i - 1) * sizeof *live);
        n_live--;
    }
    if (n_live == 0) {
        free(live);
        live = NULL;
        cap_live = 0;
    }
}

/* --- symbols ------------------------------------------------------------------------- */

static int symbol_cmp_key(bool is_agent, const char *name, uint64_t agent, const sim_symbol *s)
{
    if (is_agent != s->is_agent)
        return is_agent ? 1 : -1;
    int c = strcmp(name, s->name);
    if (c || !is_agent)
        return c;
    return agent < s->agent.handle ? -1 : agent > s->agent.handle;
}

int sim_symbol_cmp(const void *pa, const void *pb)
{
    const sim_symbol *a = *(sim_symbol *const *)pa, *b = *(sim_symbol *const *)pb;
    return symbol_cmp_key(a->is_agent, a->name, a->agent.handle, b);
}

sim_symbol *sim_symbol_find(const sim_executable *ex, const char *name, const hsa_agent_t *agent)
{
    size_t lo = 0, hi = ex->n_symbols;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = symbol_cmp_key(agent != NULL, name, agent ? agent->handle : 0, ex->symbols[mid]);
        if (c == 0)
            return ex->symbols[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

void sim_symbol_free(sim_symbol *s)
{
    if (s) {
        free(s->name);
        free(s->ptr_args);
        free(s);
    }
}

void sim_loaded_unload(sim_loaded *l)
{
    if (!l)
        return;
    if (l->dl) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", l->fd);
        dlclose(l->dl);
        /* Still loaded (a NODELETE object)?  Then its name must stay unique:
         * keep the descriptor. */
        void *still = dlopen(path, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
        if (still) {
            dlclose(still);
            sim_loader_log("a code object could not be unloaded; keeping %s", path);
            free(l->segments);
            free(l);
            return;
        }
    }
    if (l->fd >= 0)
        close(l->fd);
    free(l->segments);
    free(l);
}

static void executable_free(sim_executable *ex)
{
    for (size_t i = 0; i < ex->n_symbols; i++)
        sim_symbol_free(ex->symbols[i]);
    free(ex->symbols);
    for (size_t i = 0; i < ex->n_loaded; i++)
        sim_loaded_unload(ex->loaded[i]);
    free(ex->loaded);
    free(ex);
}

/* --- executables ------------------------------------------------------------------------- */

SIM_API hsa_status_t hsa_executable_create_alt(
    hsa_profile_t profile, hsa_default_float_rounding_mode_t default_float_rounding_mode,
    const char *options, hsa_executable_t *executable)
{
    (void)options; /* ROCR ignores them too */
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (profile != HSA_PROFILE_BASE && profile != HSA_PROFILE_FULL)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (default_float_rounding_mode != HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT &&
        default_float_rounding_mode != HSA_DEFAULT_FLOAT_ROUNDING_MODE_ZERO &&
        default_float_rounding_mode != HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!executable)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_executable *ex = calloc(1, sizeof *ex);
    if (!ex)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    ex->profile = profile;
    ex->rounding = default_float_rounding_mode;
    ex->state = HSA_EXECUTABLE_STATE_UNFROZEN;
    pthread_rwlock_wrlock(&sim_loader_lock);
    bool ok = sim_live_reserve(1);
    if (ok)
        sim_live_add(ex, SIM_OBJ_EXECUTABLE);
    pthread_rwlock_unlock(&sim_loader_lock);
    if (!ok) {
        free(ex);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    executable->handle = (uint64_t)(uintptr_t)ex;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_executable_freeze(hsa_executable_t executable, const char *options);

SIM_API hsa_status_t hsa_executable_create(hsa_profile_t profile,
                                           hsa_executable_state_t executable_state,
                                           const char *options, hsa_executable_t *executable)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (profile != HSA_PROFILE_BASE && profile != HSA_PROFILE_FULL)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (executable_state != HSA_EXECUTABLE_STATE_FROZEN &&
        executable_state != HSA_EXECUTABLE_STATE_UNFROZEN)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!executable)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = hsa_executable_create_alt(profile, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                                options, executable);
    if (st == HSA_STATUS_SUCCESS && executable_state == HSA_EXECUTABLE_STATE_FROZEN)
        hsa_executable_freeze(*executable, NULL);
    return st;
}

SIM_API hsa_status_t hsa_executable_destroy(hsa_executable_t executable)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_rwlock_wrlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    if (ex) {
        for (size_t i = 0; i < ex->n_symbols; i++)
            sim_live_remove(ex->symbols[i]);
        sim_live_remove(ex);
        sim_code_index_remove(ex);
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    if (!ex)
        return HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    executable_free(ex);
    return HSA_STATUS_SUCCESS;
}

void sim_executables_release_all(void)
{
    pthread_rwlock_wrlock(&sim_loader_lock);
    size_t n = 0;
    for (size_t i = 0; i < n_live; i++)
        n += live[i].kind == SIM_OBJ_EXECUTABLE;
    sim_executable **doomed = n ? malloc(n * sizeof *doomed) : NULL;
    size_t k = 0;
    for (size_t i = 0; doomed && i < n_live; i++)
        if (live[i].kind == SIM_OBJ_EXECUTABLE)
            doomed[k++] = (sim_executable *)live[i].addr;
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < doomed[i]->n_symbols; j++)
            sim_live_remove(doomed[i]->symbols[j]);
        sim_live_remove(doomed[i]);
        sim_code_index_remove(doomed[i]);
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    for (size_t i = 0; i < k; i++)
        executable_free(doomed[i]);
    free(doomed);
}

SIM_API hsa_status_t hsa_executable_freeze(hsa_executable_t executable, const char *options)
{
    (void)options;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_wrlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN)
        st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
    else
        ex->state = HSA_EXECUTABLE_STATE_FROZEN;
    pthread_rwlock_unlock(&sim_loader_lock);
    return st;
}

SIM_API hsa_status_t hsa_executable_get_info(hsa_executable_t executable,
                                             hsa_executable_info_t attribute, void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    if (!ex) {
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    } else {
        switch ((int)attribute) {
        case HSA_EXECUTABLE_INFO_PROFILE: *(hsa_profile_t *)value = ex->profile; break;
        case HSA_EXECUTABLE_INFO_STATE: *(hsa_executable_state_t *)value = ex->state; break;
        case HSA_EXECUTABLE_INFO_DEFAULT_FLOAT_ROUNDING_MODE:
            *(hsa_default_float_rounding_mode_t *)value = ex->rounding;
            break;
        default: st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
        }
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    return st;
}

SIM_API hsa_status_t hsa_executable_validate(hsa_executable_t executable, uint32_t *result)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!result)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_rwlock_rdlock(&sim_loader_lock);
    bool ok = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE) != NULL;
    pthread_rwlock_unlock(&sim_loader_lock);
    if (!ok)
        return HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    *result = 0; /* ROCR: always valid */
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_executable_validate_alt(hsa_executable_t executable, const char *options,
                                                 uint32_t *result)
{
    (void)options;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!result)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return hsa_executable_validate(executable, result);
}

/* --- externally defined variables ------------------------------------------------------- */

static hsa_status_t define_variable(hsa_executable_t executable, const hsa_agent_t *agent,
                                    hsa_variable_segment_t segment, const char *name,
                                    void *address)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!name)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_symbol *s = calloc(1, sizeof *s);
    char *copy = strdup(name);
    if (!s || !copy) {
        free(s);
        free(copy);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    /* ROCR's DefineProgram/AgentExternalVariable: size, alignment and
     * const-ness are left 0 ("TODO"). */
    s->name = copy;
    s->kind = HSA_SYMBOL_KIND_VARIABLE;
    s->linkage = HSA_SYMBOL_LINKAGE_PROGRAM;
    s->is_agent = agent != NULL;
    if (agent)
        s->agent = *agent;
    s->address = (uint64_t)(uintptr_t)address;
    s->allocation = agent ? HSA_VARIABLE_ALLOCATION_AGENT : HSA_VARIABLE_ALLOCATION_PROGRAM;
    s->segment = segment;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_wrlock(&sim_loader_lock);
    sim_executable *ex = sim_live_get(executable.handle, SIM_OBJ_EXECUTABLE);
    sim_symbol **syms = NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN)
        st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
    else if (sim_symbol_find(ex, name, agent))
        st = HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED;
    else if (!(syms = realloc(ex->symbols, (ex->n_symbols + 1) * sizeof *syms)) ||
             !sim_live_reserve(1)) {
        if (syms)
            ex->symbols = syms;
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    } else {
        ex->symbols = syms;
        ex->symbols[ex->n_symbols++] = s;
        qsort(ex->symbols, ex->n_symbols, sizeof *ex->symbols, sim_symbol_cmp);
        sim_live_add(s, SIM_OBJ_SYMBOL);
        s = NULL;
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    sim_symbol_free(s);
    return st;
}

SIM_API hsa_status_t hsa_executable_global_variable_define(hsa_executable_t executable,
                                                           const char *variable_name,
                                                           void *address)
{
    return define_variable(executable, NULL, HSA_VARIABLE_SEGMENT_GLOBAL, variable_name, address);
}

SIM_API hsa_status_t hsa_executable_agent_global_variable_define(hsa_executable_t executable,
                                                                 hsa_agent_t agent,
                                                                 const char *variable_name,
                                                                 void *address)
{
    return define_variable(executable, &agent, HSA_VARIABLE_SEGMENT_GLOBAL, variable_name,
                           address);
}

SIM_API hsa_status_t hsa_executable_readonly_variable_define(hsa_executable_t executable,
                                                             hsa_agent_t agent,
                                                             const char *variable_name,
                                                             void *address)
{
    return define_variable(executable, &agent, HSA_VARIABLE_SEGMENT_READONLY, variable_name,
                           address);
}
