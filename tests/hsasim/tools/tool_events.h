/* What the test tools (tool_lib.c, loaded by hsasim through HSA_TOOLS_LIB)
 * report to the test program (test_tools.c), which defines these functions
 * and exports them to the tools it loads (ENABLE_EXPORTS). */
#ifndef HSASIM_TEST_TOOL_EVENTS_H
#define HSASIM_TEST_TOOL_EVENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "hsasim_api_table.h" /* HsaApiTable in C (gen_api.py) */

#define TOOL_MAX_FAILED 4

typedef struct tool_event {
    char tool[16];  /* the reporting tool's TOOL_NAME */
    char what[16];  /* "OnLoad", "OnLoadEnd" (slow), "OnUnload" */
    /* OnLoad's arguments */
    uint64_t runtime_version, failed_count;
    char failed[TOOL_MAX_FAILED][512];
    bool failed_null; /* failed_tool_names was NULL */
    ApiTableVersion root, core, amd_ext, finalizer, image;
    /* GPUs hsa_iterate_agents (through the table) found from the callback */
    uint32_t gpus;
    /* reinit: hsa_init and hsa_shut_down called from the callback */
    hsa_status_t init_status, shut_down_status;
} tool_event;

void tool_event_add(const tool_event *e);

/* The calls the counting tool's wrappers saw. */
enum tool_counter {
    COUNT_SIGNAL_CREATE,
    COUNT_AMD_SIGNAL_CREATE,
    COUNT_QUEUE_CREATE,
    COUNT_SIGNAL_SUBTRACT, /* hsa_signal_subtract_scacq_screl */
    COUNT_N
};
void tool_count(enum tool_counter which);

#endif
