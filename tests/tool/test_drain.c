/* Transparent mode's drain of a lost device's ring (lib/tool/queues.c),
 * over a ring of its own, with every race placed by hand:
 *
 *  - the packet processor went on after the loss was marked (a silent
 *    loss: the topology shows it before the device stops) and took slots
 *    the mark put in the drain's way: their signals are failed, and the
 *    packets published after them are drained (before the fix the drain
 *    stopped at the first taken slot for ever: HIP 5.7.1's
 *    hipStreamDestroy then waited for its marker until killed);
 *  - a slot reserved but not published yet stops the drain until it is;
 *  - a taken slot the producer has come round the ring to again is not
 *    read as the old packet.
 *
 * Built from the tool's queues.c and waits.c with the few functions they
 * call from the rest of the tool as stubs here (no agent is known, so no
 * fault is reported to librochp). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

tool_state tool = {.lock = PTHREAD_MUTEX_INITIALIZER, .events_fd = -1};

tool_agent *tool_agent_find(hsa_agent_t agent)
{
    (void)agent;
    return NULL;
}
bool tool_agent_probe_lost(tool_agent *a)
{
    (void)a;
    return false;
}
void tool_agent_mark_lost(tool_agent *a)
{
    (void)a;
}
void tool_copies_fail_lost_locked(void)
{
}
void tool_handlers_forget_locked(uint64_t signal)
{
    (void)signal;
}

enum { SIZE = 8 };
static uint64_t read_index, write_index;
static hsa_kernel_dispatch_packet_t ring[SIZE] __attribute__((aligned(64)));
static hsa_queue_t queue = {.base_address = ring, .size = SIZE};

static uint64_t load_read(const hsa_queue_t *q)
{
    (void)q;
    return read_index;
}
static uint64_t load_write(const hsa_queue_t *q)
{
    (void)q;
    return write_index;
}

static int failures;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static const uint16_t INVALID = HSA_PACKET_TYPE_INVALID << HSA_PACKET_HEADER_TYPE;
static const uint16_t DISPATCH = HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE;

/* Slot index i: published (or only reserved) with signal 1000 + i. */
static void put(uint64_t i, bool published)
{
    hsa_kernel_dispatch_packet_t *p = &ring[i % SIZE];
    memset(p, 0, sizeof *p);
    p->completion_signal.handle = 1000 + i;
    p->header = published ? DISPATCH : INVALID;
}

/* The packet processor takes slot i: INVALID again, then the read index. */
static void take(uint64_t i)
{
    ring[i % SIZE].header = INVALID;
    read_index = i + 1;
}

static bool failed(uint64_t signal)
{
    for (size_t i = 0; i < tool.n_failed; i++)
        if (tool.failed[i] == signal)
            return true;
    return false;
}

static void drain(void)
{
    pthread_mutex_lock(&tool.lock);
    tool_queues_drain_lost_locked();
    pthread_mutex_unlock(&tool.lock);
}

static void reset(tool_queue *q)
{
    memset(ring, 0, sizeof ring);
    for (int i = 0; i < SIZE; i++)
        ring[i].header = INVALID;
    read_index = write_index = 0;
    tool.n_failed = 0;
    q->scan = 0;
}

int main(void)
{
    tool.rt.queue_load_read_index_relaxed = load_read;
    tool.rt.queue_load_write_index_relaxed = load_write;
    tool_queue q = {.lost = true};
    atomic_store(&q.queue, &queue);
    tool.queues = &q;

    /* 1. Marked lost at read index 1 (slot 0 done); the processor then took
     * slots 1 and 2; slots 3 and 4 published after. */
    reset(&q);
    for (uint64_t i = 0; i < 5; i++)
        put(i, true);
    write_index = 5;
    take(0);
    q.scan = read_index; /* the mark */
    take(1);
    take(2);
    drain();
    CHECK(q.scan == 5, "the drain reaches the write index past the taken slots: scan %llu",
          (unsigned long long)q.scan);
    CHECK(!failed(1000), "a slot taken before the mark is the processor's");
    for (uint64_t i = 1; i < 5; i++)
        CHECK(failed(1000 + i), "slot %llu's signal failed", (unsigned long long)i);
    CHECK(tool.n_failed == 4, "four failed signals, not %zu", tool.n_failed);
    for (uint64_t i = 3; i < 5; i++)
        CHECK(ring[i].header == INVALID, "drained slot %llu freed", (unsigned long long)i);

    /* 2. A slot reserved and not published stops the drain; once
     * published, the drain goes on from it. */
    reset(&q);
    put(0, true);
    put(1, false);
    put(2, true);
    write_index = 3;
    drain();
    CHECK(q.scan == 1, "stopped at the reserved slot: scan %llu", (unsigned long long)q.scan);
    CHECK(failed(1000) && !failed(1001) && !failed(1002), "only slot 0 drained");
    ring[1].header = DISPATCH;
    drain();
    CHECK(q.scan == 3 && failed(1001) && failed(1002), "drained once published: scan %llu",
          (unsigned long long)q.scan);

    /* 3. A taken slot the producer has reserved again (write index a whole
     * ring past it) no longer holds the taken packet: its signal is not
     * read as that packet's. */
    reset(&q);
    q.scan = 0;
    put(0, true);
    take(0);
    write_index = SIZE + 1;                  /* index SIZE (slot 0) reserved */
    ring[0].completion_signal.handle = 4242; /* being written by the producer */
    for (uint64_t i = 1; i < SIZE; i++) {
        put(i, true);
        take(i);
    }
    read_index = SIZE;
    drain();
    CHECK(!failed(4242) && !failed(1000), "a slot reserved again is not read as the old packet");
    CHECK(q.scan == SIZE, "the drain stops at the reserved, unpublished slot: scan %llu",
          (unsigned long long)q.scan);

    free(tool.failed);
    if (failures)
        return 1;
    printf("drain: 3 scenarios passed\n");
    return 0;
}
