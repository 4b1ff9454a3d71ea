/* Async signal handlers (hsa_amd_signal_async_handler) that a loss can run.
 *
 * The runtime calls a handler only when its signal meets its condition,
 * which a completion signal of work stranded on a lost device never does.
 * HIP depends on such handlers: ROCclr 5.2.3 in direct dispatch (HIP's
 * mode: no thread per queue) marks a batch of commands complete only in the
 * handler it sets on the batch's marker signal (device/rocm/rocvirtual.cpp,
 * ProfilingSignal setup -> hsa_amd_signal_async_handler(HsaAmdSignalHandler)
 * -> updateCommandsState), and some of its waits look at nothing but the
 * command's status: hipStreamDestroy's marker (platform/commandqueue.cpp,
 * HostQueue::terminate -> Event::awaitCompletion, which spins on the status
 * under ROC_ACTIVE_WAIT) then never ends on a lost GPU, and stream callbacks
 * (hipStreamAddCallback) never run.
 *
 * So every handler the program (HIP) sets goes to the runtime through a
 * record of the tool's and a trampoline, and after a loss a pump thread
 * plays the command processor's last part: it drains the lost queues
 * (drained packets' signals are failed, queues.c) and calls, once, each
 * handler whose signal is failed, with the signal's value as it is -- as a
 * wait on it returns (waits.c).  A handler that asks to go on waiting
 * (returns true) stays with the runtime as before.
 *
 * A record is claimed (ARMED -> BUSY) by whoever calls the handler, the
 * runtime's thread through the trampoline or the pump, so a handler never
 * runs twice at once nor after it said stop.  One the pump ran that said
 * stop is RETIRED, still registered with the runtime: the trampoline frees
 * it if the runtime ever calls it (the signal reused and completed) and
 * tells the runtime to drop it.  The runtime drops registrations of
 * destroyed signals without a call (ROCR 5.2.3 runtime.cpp,
 * AsyncEventsLoop), so such records are never freed: a slot per handler
 * left pending on a destroyed signal.  Records live as long as the process
 * (the runtime may call a trampoline after OnUnload: ROCR's Runtime::Unload
 * unloads tools before it stops its async events thread).
 *
 * Cost before any loss (a registration is HIP's once per batch of
 * commands): a record comes from a ring of slots with no lock -- the next
 * position, taken if free (a slot is free again once the runtime has let
 * it go), a few positions further if not, and past TOOL_HANDLER_SLOTS
 * handlers pending at once from the heap. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "tool.h"

enum { FREE, FILLING, ARMED, BUSY, RETIRED };
enum { TOOL_HANDLER_SLOTS = 4096, PROBES = 8, PUMP_BATCH = 64 };

typedef struct tool_handler {
    _Atomic int state;
    _Atomic bool pumped; /* run by the pump for its signal's current failure */
    /* Read by the pump while a registration may be filling the record
     * again (it checks again once it holds the record): atomic. */
    _Atomic uint64_t signal;
    hsa_amd_signal_handler fn;
    void *arg;
    struct tool_handler *next; /* heap records: the list of all of them */
} tool_handler;

static tool_handler slots[TOOL_HANDLER_SLOTS];
static _Atomic uint64_t next_slot;
/* Heap records, when every slot probed is taken; never freed, reused once
 * free.  heap_lock guards the list's links. */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;
static tool_handler *heap;

static pthread_mutex_t pump_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pump_cond;
static pthread_once_t pump_once = PTHREAD_ONCE_INIT;
static pthread_t pump_thread;
static bool pump_running, pump_stop;

static bool take(tool_handler *h)
{
    int expected = FREE;
    return atomic_compare_exchange_strong_explicit(&h->state, &expected, FILLING,
                                                   memory_order_acquire, memory_order_relaxed);
}

static tool_handler *record_take(void)
{
    for (int i = 0; i < PROBES; i++) {
        uint64_t at = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed);
        if (take(&slots[at % TOOL_HANDLER_SLOTS]))
            return &slots[at % TOOL_HANDLER_SLOTS];
    }
    pthread_mutex_lock(&heap_lock);
    tool_handler *h = heap;
    while (h && !take(h))
        h = h->next;
    if (!h && (h = calloc(1, sizeof *h)) != NULL) {
        atomic_store_explicit(&h->state, FILLING, memory_order_relaxed);
        h->next = heap;
        heap = h;
    }
    pthread_mutex_unlock(&heap_lock);
    return h;
}

static void record_release(tool_handler *h)
{
    atomic_store_explicit(&h->state, FREE, memory_order_release);
}

static bool trampoline(hsa_signal_value_t value, void *arg)
{
    tool_handler *h = arg;
    int state = ARMED;
    if (!atomic_compare_exchange_strong(&h->state, &state, BUSY)) {
        if (state == RETIRED) {
            record_release(h); /* the pump ran it for a loss, and it said stop */
            return false;
        }
        return true; /* the pump is running it: ask again */
    }
    if (h->fn(value, h->arg)) {
        atomic_store(&h->state, ARMED);
        return true;
    }
    record_release(h);
    return false;
}

hsa_status_t tool_amd_signal_async_handler(hsa_signal_t signal, hsa_signal_condition_t cond,
                                           hsa_signal_value_t value,
                                           hsa_amd_signal_handler handler, void *arg)
{
    tool_handler *h = handler ? record_take() : NULL;
    if (!h)
        return handler ? HSA_STATUS_ERROR_OUT_OF_RESOURCES
                       : tool.rt.amd_signal_async_handler(signal, cond, value, handler, arg);
    atomic_store_explicit(&h->signal, signal.handle, memory_order_relaxed);
    h->fn = handler;
    h->arg = arg;
    atomic_store_explicit(&h->pumped, false, memory_order_relaxed);
    /* Armed before the runtime has it: it may call at once. */
    atomic_store_explicit(&h->state, ARMED, memory_order_release);
    hsa_status_t st = tool.rt.amd_signal_async_handler(signal, cond, value, trampoline, h);
    if (st != HSA_STATUS_SUCCESS)
        record_release(h);
    return st;
}

/* Every record, slots then heap: fn(h, data) on each (heap_lock held for
 * the heap's part). */
static void each_record(void (*fn)(tool_handler *h, void *data), void *data)
{
    for (size_t i = 0; i < TOOL_HANDLER_SLOTS; i++)
        fn(&slots[i], data);
    pthread_mutex_lock(&heap_lock);
    for (tool_handler *h = heap; h; h = h->next)
        fn(h, data);
    pthread_mutex_unlock(&heap_lock);
}

static void forget_one(tool_handler *h, void *data)
{
    if (atomic_load_explicit(&h->state, memory_order_acquire) >= ARMED &&
        atomic_load_explicit(&h->signal, memory_order_relaxed) == *(const uint64_t *)data)
        atomic_store(&h->pumped, false);
}

/* A failed signal given a new value (tool.lock held): its handlers may run
 * for a next failure. */
void tool_handlers_forget_locked(uint64_t signal)
{
    each_record(forget_one, &signal);
}

typedef struct pump_batch {
    tool_handler *h[PUMP_BATCH];
    size_t n;
} pump_batch;

static void claim_one(tool_handler *h, void *data)
{
    pump_batch *b = data;
    if (b->n == PUMP_BATCH || atomic_load_explicit(&h->state, memory_order_acquire) != ARMED ||
        atomic_load(&h->pumped))
        return;
    uint64_t signal = atomic_load_explicit(&h->signal, memory_order_relaxed);
    bool failed = false;
    for (size_t i = 0; i < tool.n_failed && !failed; i++)
        failed = tool.failed[i] == signal;
    int state = ARMED;
    if (!failed || !atomic_compare_exchange_strong(&h->state, &state, BUSY))
        return;
    if (atomic_load(&h->signal) != signal) { /* freed and armed again meanwhile */
        atomic_store(&h->state, ARMED);
        return;
    }
    atomic_store(&h->pumped, true);
    b->h[b->n++] = h;
}

/* One round: the lost queues drained, and the handlers of failed signals
 * claimed (under tool.lock), then called (under no lock).  Whether any
 * ran. */
static bool pump_round(void)
{
    pump_batch b = {.n = 0};
    pthread_mutex_lock(&tool.lock);
    tool_queues_drain_lost_locked();
    tool_copies_fail_lost_locked();
    if (tool.n_failed)
        each_record(claim_one, &b);
    pthread_mutex_unlock(&tool.lock);
    for (size_t i = 0; i < b.n; i++) {
        tool_handler *h = b.h[i];
        hsa_signal_value_t value =
            tool.rt.signal_load_relaxed((hsa_signal_t){atomic_load(&h->signal)});
        bool again = h->fn(value, h->arg);
        atomic_store(&h->state, again ? ARMED : RETIRED);
    }
    return b.n > 0;
}

static void *pump_main(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&pump_lock);
    while (!pump_stop) {
        pthread_mutex_unlock(&pump_lock);
        bool ran = pump_round();
        pthread_mutex_lock(&pump_lock);
        if (ran || pump_stop)
            continue; /* a handler may have queued more work at once */
        /* A command processor would look at once; a slice is enough for
         * the waits that spin on what the handlers do (the tool's own waits
         * look each slice too). */
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 10 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        while (!pump_stop &&
               pthread_cond_timedwait(&pump_cond, &pump_lock, &until) != ETIMEDOUT) {
        }
    }
    pthread_mutex_unlock(&pump_lock);
    return NULL;
}

static void pump_init(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&pump_cond, &attr);
    pthread_condattr_destroy(&attr);
}

void tool_handlers_start_pump(void)
{
    pthread_once(&pump_once, pump_init);
    pthread_mutex_lock(&pump_lock);
    if (!pump_running) {
        pump_stop = false;
        pump_running = pthread_create(&pump_thread, NULL, pump_main, NULL) == 0;
    }
    pthread_mutex_unlock(&pump_lock);
}

void tool_handlers_stop_pump(void)
{
    pthread_once(&pump_once, pump_init);
    pthread_mutex_lock(&pump_lock);
    bool running = pump_running;
    pump_stop = true;
    pthread_cond_broadcast(&pump_cond);
    pthread_mutex_unlock(&pump_lock);
    if (running)
        pthread_join(pump_thread, NULL);
    pthread_mutex_lock(&pump_lock);
    pump_running = false;
    pthread_mutex_unlock(&pump_lock);
}
