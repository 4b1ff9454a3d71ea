/* GPU agents as the tool sees them: which are lost, and the probe that
 * tells a device that has gone from a program's own error. */
#include <stdlib.h>

#include "tool.h"
#include "hsa/hw_exception.h"

tool_agent *tool_agent_find(hsa_agent_t agent)
{
    for (size_t i = 0; i < tool.n_agents; i++)
        if (tool.agents[i].agent.handle == agent.handle)
            return &tool.agents[i];
    return NULL;
}

/* A queue error says "HSA_STATUS_ERROR" both for a device being removed
 * (ROCR 5.2.3 amd_aql_queue.cpp ExceptionHandler maps KFD's
 * EC_PROCESS_DEVICE_REMOVE to it) and for other failures.  A device that
 * has gone can no longer give memory; one that is there can. */
bool tool_agent_probe_lost(tool_agent *a)
{
    if (atomic_load(&a->lost))
        return true;
    if (!a->has_pool)
        return false; /* nothing to ask: not taken for lost */
    void *page = NULL;
    hsa_status_t st = tool.rt.amd_memory_pool_allocate(a->pool, 4096, 0, &page);
    if (page)
        tool.rt.amd_memory_pool_free(page);
    return st != HSA_STATUS_SUCCESS;
}

/* The loss-time slots go in once, under the lock (slots_in). */
static void fill_slots_locked(void)
{
    if (tool.slots_in)
        return;
    for (size_t i = 0; i < tool.n_slots; i++)
        __atomic_store_n(tool.slots[i].slot, tool.slots[i].wrapper, __ATOMIC_RELEASE);
    tool.slots_in = true;
}

void tool_agent_mark_lost(tool_agent *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&tool.lock);
    int was = atomic_exchange(&a->lost, 1);
    if (!was) {
        for (tool_queue *q = tool.queues; q; q = q->next) {
            hsa_queue_t *hq = atomic_load(&q->queue);
            /* One still being made is marked by its creator (queues.c). */
            if (hq && q->agent.handle == a->agent.handle && !q->lost) {
                q->lost = true;
                q->scan = tool.rt.queue_load_read_index_relaxed(hq);
            }
        }
        fill_slots_locked();
        /* Before the copy ring is read: a copy that missed it fails at
         * once (copies.c), one that began before is in the ring. */
        atomic_store(&tool.lost_any, 1);
        tool_copies_fail_lost_locked();
        tool_queues_drain_lost_locked();
    }
    pthread_mutex_unlock(&tool.lock);
    if (!was)
        tool_handlers_start_pump(); /* handlers of stranded work: handlers.c */
}

/* rochp's context accepts every system event, so that a lost device's
 * fault or reset does not abort the process.  A reset is the device's loss:
 * its memory and queues are gone.  A memory fault of the
 * program's own on a device that is still there is no loss: its queues are
 * evicted for good and its waits would never end, so the tool ends the
 * process as ROCR does when nobody handles the fault (runtime.cpp,
 * Runtime::VMFaultHandler: the message, then abort). */
static hsa_status_t on_system_event(const hsa_amd_event_t *event, void *data)
{
    (void)data;
    if ((int)event->event_type == HW_RESET_EVENT) {
        tool_agent_mark_lost(tool_agent_find(HW_RESET_AGENT(event)));
        return HSA_STATUS_SUCCESS;
    }
    if (event->event_type != HSA_AMD_GPU_MEMORY_FAULT_EVENT)
        return HSA_STATUS_SUCCESS;
    tool_agent *a = tool_agent_find(event->memory_fault.agent);
    if (!a || tool_agent_probe_lost(a))
        return HSA_STATUS_SUCCESS;
    fprintf(stderr,
            "Memory access fault by GPU %s on address %p (fault reason mask 0x%x): a fault of "
            "the program's own, not a lost GPU; ending the process as the HSA runtime would\n",
            a->pci, (void *)(uintptr_t)event->memory_fault.virtual_address,
            event->memory_fault.fault_reason_mask);
    abort();
}

bool tool_agents_watch_faults(hsa_status_t (*register_handler)(hsa_amd_system_event_callback_t,
                                                               void *))
{
    return register_handler(on_system_event, NULL) == HSA_STATUS_SUCCESS;
}
