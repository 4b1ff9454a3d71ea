/* Queues: the tool's own error callback in place of the program's, and a
 * lost device's rings drained so that nothing waits on them for ever.
 *
 * On a GPU, a removed device's command processor is gone: nothing reads
 * its rings again, and the completion signals of packets in them never
 * change (ROCR 5.2.3 has no code that completes them: AqlQueue's
 * ExceptionHandler only reports the error and suspends the queue).  The
 * tool plays that processor's part for the program's sake: it takes each
 * published packet off the ring (header back to INVALID, as a packet
 * processor leaves a consumed slot), records its completion signal as
 * failed, and moves the read index it reports past it, so that an enqueuer
 * waiting for ring space goes on and a waiter on the signal gets an
 * answer. */
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* The AQL header's type field (hsa.h: HSA_PACKET_HEADER_TYPE, width 8). */
static unsigned packet_type(uint16_t header)
{
    return (header >> HSA_PACKET_HEADER_TYPE) & ((1u << HSA_PACKET_HEADER_WIDTH_TYPE) - 1);
}

static void drain_locked(tool_queue *q)
{
    hsa_queue_t *hq = atomic_load_explicit(&q->queue, memory_order_acquire);
    if (!hq)
        return; /* being made */
    uint64_t write = tool.rt.queue_load_write_index_relaxed(hq);
    /* The runtime's own read index: the packet processor may have gone on
     * consuming after the loss was marked (a silent loss is seen in the
     * topology before the device stops: it runs on for a while).  Slots it
     * took are INVALID again (the processor frees a slot before it moves
     * the read index), so without this look the drain would stop at the
     * first of them for ever, and every packet after it would strand. */
    uint64_t read = tool.rt.queue_load_read_index_relaxed(hq);
    uint32_t mask = hq->size - 1;
    /* Every AQL packet is 64 bytes with the completion signal at byte 56
     * (kernel dispatch, barrier-AND/OR, AMD vendor packets alike). */
    hsa_barrier_and_packet_t *ring = hq->base_address;
    while (q->scan < write) {
        hsa_barrier_and_packet_t *p = &ring[q->scan & mask];
        uint16_t header = __atomic_load_n(&p->header, __ATOMIC_ACQUIRE);
        if (packet_type(header) == HSA_PACKET_TYPE_INVALID && q->scan < read) {
            /* Taken by the processor of a device known lost: it may have
             * died with the packet in flight, so its signal is failed as a
             * drained one's (waits on a signal that did complete return at
             * once all the same).  The slot still holds the packet unless
             * the producer has come round the ring to it again. */
            uint64_t signal = __atomic_load_n(&p->completion_signal.handle, __ATOMIC_RELAXED);
            if (signal && tool.rt.queue_load_write_index_relaxed(hq) - q->scan <= hq->size)
                tool_failed_add_locked(signal);
            q->scan++;
            continue;
        }
        if (packet_type(header) == HSA_PACKET_TYPE_INVALID)
            break; /* reserved, not published yet: its turn comes later */
        if (p->completion_signal.handle)
            tool_failed_add_locked(p->completion_signal.handle);
        __atomic_store_n(&p->header, (uint16_t)(HSA_PACKET_TYPE_INVALID << HSA_PACKET_HEADER_TYPE),
                         __ATOMIC_RELEASE);
        q->scan++;
    }
}

void tool_queues_drain_lost_locked(void)
{
    for (tool_queue *q = tool.queues; q; q = q->next)
        if (q->lost)
            drain_locked(q);
}

static void queue_event(hsa_status_t status, hsa_queue_t *source, void *data)
{
    tool_queue *q = data;
    if (status != HSA_STATUS_SUCCESS && status != HSA_STATUS_INFO_BREAK) {
        tool_agent *a = tool_agent_find(q->agent);
        if (a && tool_agent_probe_lost(a)) {
            /* The program's callback would abort (HIP's does): rochp has it. */
            tool_agent_mark_lost(a);
            if (a->device)
                rochp_device_report_fault(tool.ctx, a->device, ROCHP_REASON_QUEUE_ERROR);
            return;
        }
    }
    if (q->app_callback)
        q->app_callback(status, source, q->app_data);
}

/* Records are reused, never freed while the tool lives: a queue create and
 * destroy then cost one lock each and no allocation.  A record enters the
 * list before the runtime makes its queue (the runtime may call the
 * callback at once), with no queue until then. */
static tool_queue *record_take_locked(void)
{
    tool_queue *q = tool.free_queues;
    if (!q)
        return calloc(1, sizeof *q);
    tool.free_queues = q->next;
    q->lost = false;
    q->scan = 0;
    atomic_store_explicit(&q->queue, NULL, memory_order_relaxed);
    return q;
}

static void unlink_locked(tool_queue *q)
{
    for (tool_queue **p = &tool.queues; *p; p = &(*p)->next)
        if (*p == q) {
            *p = q->next;
            q->next = tool.free_queues;
            tool.free_queues = q;
            return;
        }
}

hsa_status_t tool_queue_create(hsa_agent_t agent, uint32_t size, hsa_queue_type32_t type,
                               void (*callback)(hsa_status_t status, hsa_queue_t *source,
                                                void *data),
                               void *data, uint32_t private_segment_size,
                               uint32_t group_segment_size, hsa_queue_t **queue)
{
    pthread_mutex_lock(&tool.lock);
    tool_queue *q = record_take_locked();
    if (q) {
        q->agent = agent;
        q->app_callback = callback;
        q->app_data = data;
        q->next = tool.queues;
        tool.queues = q;
    }
    pthread_mutex_unlock(&tool.lock);
    if (!q)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    hsa_status_t st = tool.rt.queue_create(agent, size, type, queue_event, q,
                                           private_segment_size, group_segment_size, queue);
    bool made = st == HSA_STATUS_SUCCESS && queue && *queue;
    if (made)
        atomic_store(&q->queue, *queue); /* seq_cst: against tool_agent_mark_lost's look */
    tool_agent *a = made && atomic_load(&tool.lost_any) ? tool_agent_find(agent) : NULL;
    if (!made || (a && atomic_load(&a->lost))) {
        /* Rare: a failure, or a queue made on a device lost meanwhile. */
        pthread_mutex_lock(&tool.lock);
        if (!made) {
            unlink_locked(q);
        } else if (!q->lost) {
            q->lost = true;
            q->scan = tool.rt.queue_load_read_index_relaxed(*queue);
        }
        pthread_mutex_unlock(&tool.lock);
    }
    return st;
}

/* Off the list before the runtime frees the ring: nothing drains it after.
 * The record goes to the free list at once (a new queue may take it; the
 * ring is never reached through a record off the list). */
hsa_status_t tool_queue_destroy(hsa_queue_t *queue)
{
    tool_queue *found = NULL;
    pthread_mutex_lock(&tool.lock);
    for (tool_queue **p = &tool.queues; *p; p = &(*p)->next)
        if (atomic_load_explicit(&(*p)->queue, memory_order_relaxed) == queue) {
            found = *p;
            *p = found->next;
            found->next = tool.free_queues;
            tool.free_queues = found;
            break;
        }
    pthread_mutex_unlock(&tool.lock);
    hsa_status_t st = tool.rt.queue_destroy(queue);
    if (found && st != HSA_STATUS_SUCCESS) {
        /* Not destroyed after all (an invalid queue, say): still the
         * program's; a record of its own again. */
        pthread_mutex_lock(&tool.lock);
        tool_queue *again = record_take_locked();
        if (again) {
            *again = *found;
            atomic_store_explicit(&again->queue, queue, memory_order_relaxed);
            again->next = tool.queues;
            tool.queues = again;
        }
        pthread_mutex_unlock(&tool.lock);
    }
    return st;
}

static uint64_t read_index(const hsa_queue_t *queue, bool *mine)
{
    uint64_t index = 0;
    *mine = false;
    pthread_mutex_lock(&tool.lock);
    for (tool_queue *q = tool.queues; q; q = q->next)
        if (q->lost && atomic_load_explicit(&q->queue, memory_order_relaxed) == queue) {
            drain_locked(q);
            index = q->scan;
            *mine = true;
            break;
        }
    pthread_mutex_unlock(&tool.lock);
    return index;
}

uint64_t tool_queue_load_read_index_scacquire(const hsa_queue_t *queue)
{
    bool mine;
    uint64_t index = read_index(queue, &mine);
    return mine ? index : tool.rt.queue_load_read_index_scacquire(queue);
}

uint64_t tool_queue_load_read_index_relaxed(const hsa_queue_t *queue)
{
    bool mine;
    uint64_t index = read_index(queue, &mine);
    return mine ? index : tool.rt.queue_load_read_index_relaxed(queue);
}
