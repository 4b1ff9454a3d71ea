/* hsasim signal groups (hsa_signal_group_*). */
#include <string.h>

#include "signal_impl.h"

/* --- signal groups ------------------------------------------------------------------ */
#define SIM_GROUP_MAGIC 0x5055524753415348ull

typedef struct sim_group {
    uint64_t magic;
    uint32_t count;
    struct sim_group *next;
    hsa_signal_t signals[];
} sim_group;

static sim_group *g_groups; /* under sim_signal_lock */

static sim_group *group_lookup_locked(hsa_signal_group_t g)
{
    for (sim_group *p = g_groups; p; p = p->next)
        if ((uint64_t)(uintptr_t)p == g.handle)
            return p;
    return NULL;
}

SIM_API hsa_status_t hsa_signal_group_create(uint32_t num_signals, const hsa_signal_t *signals,
                                             uint32_t num_consumers, const hsa_agent_t *consumers,
                                             hsa_signal_group_t *signal_group)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (num_signals == 0 || !signals || !signal_group || (num_consumers && !consumers))
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    for (uint32_t i = 0; i < num_signals; i++) {
        sim_signal *s;
        hsa_status_t st = sig_checked(signals[i], &s);
        if (st != HSA_STATUS_SUCCESS)
            return st;
    }
    for (uint32_t i = 0; i < num_consumers; i++)
        if (!sim_agent_get(consumers[i]))
            return HSA_STATUS_ERROR_INVALID_AGENT;
    sim_group *g = malloc(sizeof *g + num_signals * sizeof(hsa_signal_t));
    if (!g)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    g->magic = SIM_GROUP_MAGIC;
    g->count = num_signals;
    memcpy(g->signals, signals, num_signals * sizeof(hsa_signal_t));
    pthread_mutex_lock(&sim_signal_lock);
    g->next = g_groups;
    g_groups = g;
    pthread_mutex_unlock(&sim_signal_lock);
    signal_group->handle = (uint64_t)(uintptr_t)g;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_signal_group_destroy(hsa_signal_group_t signal_group)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_mutex_lock(&sim_signal_lock);
    sim_group **pp = &g_groups;
    while (*pp && (uint64_t)(uintptr_t)*pp != signal_group.handle)
        pp = &(*pp)->next;
    sim_group *g = *pp;
    if (g)
        *pp = g->next;
    pthread_mutex_unlock(&sim_signal_lock);
    if (!g)
        return HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP;
    g->magic = 0;
    free(g);
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t group_wait(hsa_signal_group_t signal_group,
                               const hsa_signal_condition_t *conditions,
                               const hsa_signal_value_t *compare_values,
                               hsa_wait_state_t wait_state_hint, hsa_signal_t *signal,
                               hsa_signal_value_t *value, int order)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!conditions || !compare_values || !signal)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* Copy the list so that a concurrent group destroy cannot pull it away. */
    pthread_mutex_lock(&sim_signal_lock);
    sim_group *g = group_lookup_locked(signal_group);
    uint32_t n = g ? g->count : 0;
    hsa_signal_t *list = g ? malloc(n * sizeof *list) : NULL;
    if (list)
        memcpy(list, g->signals, n * sizeof *list);
    pthread_mutex_unlock(&sim_signal_lock);
    if (!g)
        return HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP;
    if (!list)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    uint32_t index = sim_signal_wait_any_handles(n, list, conditions, compare_values, UINT64_MAX,
                                                 wait_state_hint, value, order);
    hsa_status_t st = HSA_STATUS_SUCCESS;
    if (index >= n)
        st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
    else
        *signal = list[index];
    free(list);
    return st;
}

SIM_API hsa_status_t hsa_signal_group_wait_any_relaxed(hsa_signal_group_t signal_group,
                                                       const hsa_signal_condition_t *conditions,
                                                       const hsa_signal_value_t *compare_values,
                                                       hsa_wait_state_t wait_state_hint,
                                                       hsa_signal_t *signal,
                                                       hsa_signal_value_t *value)
{
    return group_wait(signal_group, conditions, compare_values, wait_state_hint, signal, value,
                      __ATOMIC_RELAXED);
}

SIM_API hsa_status_t hsa_signal_group_wait_any_scacquire(
    hsa_signal_group_t signal_group, const hsa_signal_condition_t *conditions,
    const hsa_signal_value_t *compare_values, hsa_wait_state_t wait_state_hint,
    hsa_signal_t *signal, hsa_signal_value_t *value)
{
    return group_wait(signal_group, conditions, compare_values, wait_state_hint, signal, value,
                      __ATOMIC_ACQUIRE);
}

void sim_signal_groups_free(void)
{
    pthread_mutex_lock(&sim_signal_lock);
    sim_group *g = g_groups;
    g_groups = NULL;
    pthread_mutex_unlock(&sim_signal_lock);
    while (g) {
        sim_group *next = g->next;
        free(g);
        g = next;
    }
}
