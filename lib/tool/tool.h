/* librochp_tool's shared state and wrappers (README.md in this folder).
 *
 * Locks: tool.lock (a mutex) guards the queue list, the failed-signal set,
 * the free queue records and the swap of the table slots (the copy ring is
 * lock-free, copies.c); nothing else is taken while it is held but the
 * handler records' lock (handlers.c, a leaf), and no runtime call that
 * can block is made under it (ring reads and signal loads only).  The
 * wrappers' fast paths take no lock: they read tool.lost_any (an atomic). */
#ifndef ROCHP_TOOL_H
#define ROCHP_TOOL_H

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <rochp/rochp.h>


/* The runtime's own entries, saved from the table before any tool slot is
 * changed: the wrappers chain to these, and the tool's own calls use them
 * (so they never come back through the table). */
typedef struct tool_runtime {
    __typeof__(hsa_system_get_info) *system_get_info;
    __typeof__(hsa_iterate_agents) *iterate_agents;
    __typeof__(hsa_agent_get_info) *agent_get_info;
    __typeof__(hsa_amd_agent_iterate_memory_pools) *amd_agent_iterate_memory_pools;
    __typeof__(hsa_amd_memory_pool_get_info) *amd_memory_pool_get_info;
    __typeof__(hsa_amd_memory_pool_allocate) *amd_memory_pool_allocate;
    __typeof__(hsa_amd_memory_pool_free) *amd_memory_pool_free;
    __typeof__(hsa_amd_register_system_event_handler) *amd_register_system_event_handler;
    __typeof__(hsa_queue_create) *queue_create;
    __typeof__(hsa_queue_destroy) *queue_destroy;
    __typeof__(hsa_queue_load_read_index_scacquire) *queue_load_read_index_scacquire;
    __typeof__(hsa_queue_load_read_index_relaxed) *queue_load_read_index_relaxed;
    __typeof__(hsa_queue_load_write_index_relaxed) *queue_load_write_index_relaxed;
    __typeof__(hsa_signal_load_relaxed) *signal_load_relaxed;
    __typeof__(hsa_signal_store_relaxed) *signal_store_relaxed;
    __typeof__(hsa_signal_store_screlease) *signal_store_screlease;
    __typeof__(hsa_signal_silent_store_relaxed) *signal_silent_store_relaxed;
    __typeof__(hsa_signal_silent_store_screlease) *signal_silent_store_screlease;
    __typeof__(hsa_signal_destroy) *signal_destroy;
    __typeof__(hsa_signal_wait_scacquire) *signal_wait_scacquire;
    __typeof__(hsa_signal_wait_relaxed) *signal_wait_relaxed;
    __typeof__(hsa_amd_signal_wait_any) *amd_signal_wait_any;
    __typeof__(hsa_amd_signal_async_handler) *amd_signal_async_handler;
    __typeof__(hsa_amd_memory_async_copy) *amd_memory_async_copy;
    __typeof__(hsa_amd_memory_async_copy_rect) *amd_memory_async_copy_rect;
} tool_runtime;

/* A table slot the tool fills only once a device is lost: until then the
 * program calls the runtime directly, at no cost. */
typedef struct tool_slot {
    void **slot;
    void *wrapper;
} tool_slot;

/* For onload.c: where the runtime entries go, and a slot to fill at the
 * first loss (false: no room). */
tool_runtime *tool_runtime_entries(void);
void tool_clear_loss_slots(void);
bool tool_add_loss_slot(void **slot, void *wrapper);


#include <stdatomic.h>

enum { TOOL_MAX_AGENTS = 64, TOOL_MAX_SLOTS = 16, TOOL_COPY_RING = 1024 };

typedef struct tool_agent {
    hsa_agent_t agent;
    rochp_device_id device; /* 0: the rochp context does not know it */
    int hip_ordinal;        /* -1: none (HIP not loaded, or hidden from HIP) */
    char pci[24];
    hsa_amd_memory_pool_t pool; /* for the probe */
    bool has_pool;
    _Atomic int lost;
} tool_agent;

typedef struct tool_queue {
    struct tool_queue *next;
    hsa_queue_t *_Atomic queue; /* NULL while the runtime makes it */
    hsa_agent_t agent;
    void (*app_callback)(hsa_status_t status, hsa_queue_t *source, void *data);
    void *app_data;
    bool lost;     /* its device is lost: drained, its read index is the tool's */
    uint64_t scan; /* lost: the next ring slot to drain */
} tool_queue;

typedef struct tool_copy {
    _Atomic uint64_t signal; /* written last (release) */
    _Atomic uint64_t src_agent, dst_agent;
    uint64_t pad;
} tool_copy;

typedef enum { TOOL_ON_LOSS_CONTINUE, TOOL_ON_LOSS_EXIT } tool_on_loss;

typedef struct tool_state {
    tool_runtime rt;
    tool_slot slots[TOOL_MAX_SLOTS];
    size_t n_slots;
    bool slots_in; /* guarded by lock */
    pthread_mutex_t lock;
    tool_agent agents[TOOL_MAX_AGENTS];
    size_t n_agents; /* fixed after tool_start */
    _Atomic int lost_any;
    uint64_t slice; /* wait slice, in timestamp ticks */
    tool_queue *queues;
    tool_queue *free_queues; /* records of destroyed queues, for reuse */
    uint64_t *failed; /* failed signals: completion signals of stranded work */
    size_t n_failed, cap_failed;
    rochp_context *ctx;
    char runtime_path[4096]; /* the runtime the table belongs to */
    bool hip_loaded;
    tool_on_loss on_loss;
    int exit_code;
    int events_fd; /* -1: no event lines */
    bool events_close;
} tool_state;

extern tool_state tool;
/* copies.c: the ring of copies in flight and the runtime's copy function
 * (the assembly fast path reads them by name). */
extern tool_copy tool_copy_ring[TOOL_COPY_RING];
extern _Atomic uint64_t tool_copy_pos;
extern void *tool_copy_runtime;

/* agents.c */
tool_agent *tool_agent_find(hsa_agent_t agent);
bool tool_agent_probe_lost(tool_agent *a);
/* Marks a's device lost for the tool: its queues drained, its in-flight
 * copies failed, the loss-time slots filled.  Idempotent. */
void tool_agent_mark_lost(tool_agent *a);
/* Registers the handler that tells the program's own memory faults (which
 * end the process, as without the tool) from a lost device's. */
bool tool_agents_watch_faults(hsa_status_t (*register_handler)(hsa_amd_system_event_callback_t,
                                                               void *));

/* start.c: everything OnLoad needs after the runtime entries are saved.
 * False (with a message on stderr) leaves the program as it was. */
bool tool_start(void);
void tool_stop(void);


/* queues.c */
hsa_status_t tool_queue_create(hsa_agent_t agent, uint32_t size, hsa_queue_type32_t type,
                               void (*callback)(hsa_status_t status, hsa_queue_t *source,
                                                void *data),
                               void *data, uint32_t private_segment_size,
                               uint32_t group_segment_size, hsa_queue_t **queue);
hsa_status_t tool_queue_destroy(hsa_queue_t *queue);
uint64_t tool_queue_load_read_index_scacquire(const hsa_queue_t *queue);
uint64_t tool_queue_load_read_index_relaxed(const hsa_queue_t *queue);
void tool_queues_drain_lost_locked(void);

/* waits.c */
hsa_signal_value_t tool_signal_wait_scacquire(hsa_signal_t signal,
                                              hsa_signal_condition_t condition,
                                              hsa_signal_value_t compare_value,
                                              uint64_t timeout_hint,
                                              hsa_wait_state_t wait_state_hint);
hsa_signal_value_t tool_signal_wait_relaxed(hsa_signal_t signal, hsa_signal_condition_t condition,
                                            hsa_signal_value_t compare_value,
                                            uint64_t timeout_hint,
                                            hsa_wait_state_t wait_state_hint);
uint32_t tool_amd_signal_wait_any(uint32_t signal_count, hsa_signal_t *signals,
                                  hsa_signal_condition_t *conds, hsa_signal_value_t *values,
                                  uint64_t timeout_hint, hsa_wait_state_t wait_hint,
                                  hsa_signal_value_t *satisfying_value);
void tool_signal_store_relaxed(hsa_signal_t signal, hsa_signal_value_t value);
void tool_signal_store_screlease(hsa_signal_t signal, hsa_signal_value_t value);
void tool_signal_silent_store_relaxed(hsa_signal_t signal, hsa_signal_value_t value);
void tool_signal_silent_store_screlease(hsa_signal_t signal, hsa_signal_value_t value);
hsa_status_t tool_signal_destroy(hsa_signal_t signal);
void tool_failed_add_locked(uint64_t signal);
void tool_failed_remove_locked(uint64_t signal);
bool tool_failed_has(uint64_t signal);

/* copies.c */
hsa_status_t tool_amd_memory_async_copy(void *dst, hsa_agent_t dst_agent, const void *src,
                                        hsa_agent_t src_agent, size_t size,
                                        uint32_t num_dep_signals,
                                        const hsa_signal_t *dep_signals,
                                        hsa_signal_t completion_signal);
hsa_status_t tool_amd_memory_async_copy_after_loss(void *dst, hsa_agent_t dst_agent,
                                                   const void *src, hsa_agent_t src_agent,
                                                   size_t size, uint32_t num_dep_signals,
                                                   const hsa_signal_t *dep_signals,
                                                   hsa_signal_t completion_signal);
hsa_status_t tool_amd_memory_async_copy_rect(const hsa_pitched_ptr_t *dst,
                                             const hsa_dim3_t *dst_offset,
                                             const hsa_pitched_ptr_t *src,
                                             const hsa_dim3_t *src_offset,
                                             const hsa_dim3_t *range, hsa_agent_t copy_agent,
                                             hsa_amd_copy_direction_t dir,
                                             uint32_t num_dep_signals,
                                             const hsa_signal_t *dep_signals,
                                             hsa_signal_t completion_signal);
/* Fails the completion signals of the copies in the ring that involve a
 * lost device (the latest copy of each signal decides). */
void tool_copies_fail_lost_locked(void);

/* handlers.c: async signal handlers, run by the tool when their signal is
 * failed (its pump thread runs after the first loss). */
hsa_status_t tool_amd_signal_async_handler(hsa_signal_t signal, hsa_signal_condition_t cond,
                                           hsa_signal_value_t value,
                                           hsa_amd_signal_handler handler, void *arg);
void tool_handlers_forget_locked(uint64_t signal);
void tool_handlers_start_pump(void);
void tool_handlers_stop_pump(void);

/* report.c */
rochp_status tool_report_start(void);
void tool_report_stop(void);
/* fn runs before the tool ends the process for a loss (SIGBUS, or
 * ROCHP_TOOL_ON_LOSS=exit), on the thread that ends it; it must return
 * within a bounded time.  librochp_hip waits there for the program's
 * callbacks (lib/hip/ordinals.c). */
void tool_set_before_exit(void (*fn)(void));

#endif
