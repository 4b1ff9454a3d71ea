/* The CPU and GPU agents of the HSA runtime under test (hsasim), in the
 * order it lists them. */
#ifndef ROCHP_TESTS_HSA_AGENTS_H
#define ROCHP_TESTS_HSA_AGENTS_H

#include <hsa/hsa.h>

#include "check.h"

typedef struct agents {
    hsa_agent_t cpu[4], gpu[8];
    int n_cpu, n_gpu;
} agents;

/* An hsa_iterate_agents callback; data is the agents to fill. */
static inline hsa_status_t agents_collect(hsa_agent_t a, void *data)
{
    agents *all = data;
    hsa_device_type_t t;
    REQUIRE(hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t) == HSA_STATUS_SUCCESS);
    if (t == HSA_DEVICE_TYPE_CPU && all->n_cpu < 4)
        all->cpu[all->n_cpu++] = a;
    if (t == HSA_DEVICE_TYPE_GPU && all->n_gpu < 8)
        all->gpu[all->n_gpu++] = a;
    return HSA_STATUS_SUCCESS;
}

#endif
