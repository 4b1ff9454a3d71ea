/* hsasim internals shared by its files.  Handles are pointers to these
 * structures, as in ROCR: hsa_agent_t.handle -> sim_agent, hsa_signal_t ->
 * the amd_signal_t at the start of a sim_signal, hsa_queue_t* -> the
 * hsa_queue_t at the start of an amd_queue_t at the start of a sim_queue.
 *
 * Locks: runtime.c's bootstrap lock (outermost) lets one hsa_init or
 * hsa_shut_down run at a time, tools loading and unloading included.
 * rt.lock (a mutex) guards the runtime's lists (agents, queues,
 * allocations, event handlers) and the init reference count.  It is never
 * held while calling user callbacks.  Each queue's processor has its own
 * state (see queue_impl.h); signals are lock-free atomics plus a futex word. */
#ifndef HSASIM_HSASIM_H
#define HSASIM_HSASIM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <hsa/amd_hsa_queue.h>
#include <hsa/amd_hsa_signal.h>
#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "topology/snapshot.h"

/* A definition of the HSA API.  hsasim's sources are compiled with
 * hsasim_rename.h (gen_api.py), so each is the hidden hsasim_impl_<name>
 * behind the API table, and hsasim's own calls reach it directly; the
 * exported <name> (the generated hsasim_api.c) calls through the table, which
 * tools may change (tools.c). */
#define SIM_API __attribute__((visibility("hidden")))

/* An API function's public name, from its __func__ (hsasim_impl_<name>). */
static inline const char *sim_api_name(const char *fn)
{
    return strncmp(fn, "hsasim_impl_", 12) == 0 ? fn + 12 : fn;
}

/* --- the API table and HSA tools (hsasim_api.c, tools.c) --------------------- */
struct HsaApiTable;
/* The table the exported entry points call through: what tools get. */
struct HsaApiTable *sim_api_table(void);
/* Every entry back to hsasim's own, as ROCR's HsaApiTable::Reset. */
void sim_api_table_reset(void);
/* The tools of HSA_TOOLS_LIB, as ROCR's Runtime::LoadTools: at the 0 -> 1
 * init, once everything else is up, with the bootstrap lock held and
 * sim_rt.lock not (a tool's OnLoad may call the API). */
void sim_tools_load(void);
/* At the last shut_down, first (the runtime still up): every loaded tool's
 * OnUnload in reverse order, then the table reset (Runtime::UnloadTools). */
void sim_tools_unload(void);
/* At the last shut_down, last: the tools are closed (Runtime::CloseTools). */
void sim_tools_close(void);
/* Whether this thread is inside a tool's OnLoad or OnUnload. */
bool sim_tools_in_callback(void);

/* --- memory pools ------------------------------------------------------- */
typedef enum sim_pool_kind {
    SIM_POOL_SYSTEM_COARSE, /* CPU agent: kernarg/fine? see agents.c */
    SIM_POOL_SYSTEM_FINE,
    SIM_POOL_SYSTEM_KERNARG,
    SIM_POOL_VRAM_COARSE, /* GPU agent: device memory */
    SIM_POOL_VRAM_FINE,
    SIM_POOL_GROUP,       /* GPU agent: LDS, not allocatable */
} sim_pool_kind;

typedef struct sim_agent sim_agent;

typedef struct sim_pool {
    sim_pool_kind kind;
    sim_agent *owner;
    uint64_t size;
} sim_pool;

/* --- agents ---------------------------------------------------------------- */
#define SIM_MAX_POOLS 6

struct sim_agent {
    uint64_t magic; /* SIM_AGENT_MAGIC while valid */
    hsa_device_type_t type;
    uint32_t node_id;    /* KFD node number at init */
    topo_node node;      /* copied from the snapshot at init (props point into rt.snapshot) */
    char name[64];       /* "gfx942" for GPUs, CPU model for CPUs */
    char product[64];    /* marketing name */
    char uuid[32];       /* "GPU-%016lx" or "GPU-XX", "CPU-XX" */
    uint32_t n_pools;
    sim_pool pools[SIM_MAX_POOLS];
    _Atomic int dead;    /* the device left: queues stopped, nothing completes */
    /* A GPU VM fault evicted this process's queues on the device, for good
     * (queue_processor.c, "VM faults"): queues created afterwards never run
     * either. */
    _Atomic int vm_evicted;
    /* The HDP flush registers, HSA_AMD_AGENT_INFO_HDP_FLUSH: ROCR
     * (amd_gpu_agent.cpp, GpuAgent::InitRegionList) points at the first two
     * words of the MMIO_REMAP page libhsakmt maps per dGPU (fmm.c, map_mmio);
     * a host write there flushes the HDP.  Here two writable words stand in. */
    uint32_t hdp_regs[2];
    /* hsa_amd_profiling_async_copy_enable: copies on its engine are timed
     * (profiling.c). */
    _Atomic bool dma_profiling;
};
#define SIM_AGENT_MAGIC 0x544e454741534853ull

/* --- the runtime ------------------------------------------------------------ */
typedef struct sim_runtime {
    pthread_mutex_t lock;
    int refcount;            /* hsa_init minus hsa_shut_down */
    topo_snapshot *snapshot; /* the tree at the 0 -> 1 init */
    uint32_t n_agents;
    sim_agent *agents;
} sim_runtime;

extern sim_runtime sim_rt;

/* True between the first hsa_init and the last hsa_shut_down. */
bool sim_is_initialized(void);
/* The agent behind a handle, or NULL when invalid (or the runtime is down). */
sim_agent *sim_agent_get(hsa_agent_t agent);
/* What ROCR checks first on an agent call, in its order: the runtime is up
 * (NOT_INITIALIZED), the agent is known (INVALID_AGENT), the out or
 * callback argument was given (INVALID_ARGUMENT).  *out: the agent. */
hsa_status_t sim_agent_checked(hsa_agent_t agent, bool given, sim_agent **out);
/* agents.c: the agents of sim_rt.snapshot, built at the 0 -> 1 init and
 * released at the last shut_down. */
hsa_status_t sim_agents_build(void);
void sim_agents_release(void);
/* isa.c: a GPU agent's ISA, one per distinct name, kept for the life of the
 * process (ISA handles outlive shut_down in ROCR too); NULL when the table
 * is full. */
typedef struct sim_isa sim_isa;
sim_isa *sim_isa_for(const sim_agent *a);
/* pools.c: the pool behind a handle (a pool or a region), or NULL. */
sim_pool *sim_pool_get(uint64_t handle);

/* What names a device across runtime restarts: PCI domain and location_id
 * (node numbers and agent handles change, DESIGN.md section 1). */
static inline uint64_t sim_agent_identity(const sim_agent *a)
{
    return (uint64_t)a->node.domain << 16 | a->node.location_id;
}

/* --- signals (signal*.c) ----------------------------------------------------- */
typedef struct sim_signal sim_signal;
/* The signal behind a handle, or NULL when invalid. */
sim_signal *sim_signal_get(hsa_signal_t signal);
/* Wakes every waiter of every signal (device loss sets them all, as KFD does);
 * each re-checks its condition and goes on waiting, as ROCR's waits do. */
void sim_signals_wake_all(void);
/* Signals owned by the runtime itself (doorbells), by pointer. */
sim_signal *sim_signal_new_internal(hsa_signal_value_t initial);
void sim_signal_free_internal(sim_signal *s);
hsa_signal_t sim_signal_handle(sim_signal *s);
/* References that keep a signal's memory valid while a processor uses it. */
bool sim_signal_retain(sim_signal *s);
void sim_signal_release(sim_signal *s);
/* Sleeping until a signal changes: prepare (returns a sequence), sleep until
 * it moves or the deadline, finish; kick wakes sleepers without a change. */
uint32_t sim_signal_sleep_prepare(sim_signal *s);
void sim_signal_sleep(sim_signal *s, uint32_t seq, uint64_t deadline_ns);
void sim_signal_sleep_finish(sim_signal *s);
void sim_signal_kick(sim_signal *s);
/* Waits until one of n conditions holds or stop(stop_arg) is true; returns
 * the index, or n when stopped. */
uint32_t sim_signal_wait_any_internal(uint32_t n, sim_signal *const *sigs,
                                      const hsa_signal_condition_t *conds,
                                      const hsa_signal_value_t *values,
                                      bool (*stop)(void *), void *stop_arg);
/* Takes a reference to any live signal (user or internal) by handle: 0 ok. */
int sim_signal_acquire_any(hsa_signal_t h, sim_signal **out, hsa_signal_value_t *value);
/* Profiling (profiling.c): a packet's start and end into its completion
 * signal; a copy's engine named on its signal and its SDMA times cleared at
 * submission, written when it ran. */
void sim_signal_stamp_packet(sim_signal *s, uint64_t start, uint64_t end);
void sim_signal_copy_prep(sim_signal *s, const sim_agent *engine);
void sim_signal_stamp_copy(sim_signal *s, uint64_t start, uint64_t end);
uint64_t sim_now_ns(void);
/* Last shut_down, after the queues: stops the async handler thread and
 * invalidates every user signal. */
void sim_signals_shutdown(void);

/* --- queues (queue*.c) --------------------------------------------------------- */
typedef struct sim_queue sim_queue;
/* Stops every queue of agent (the device left or was reset): processors stop
 * taking packets, in-flight dispatches never complete, and each queue's error
 * callback runs once with status, from the queue's own thread. */
void sim_queues_kill_agent(sim_agent *agent, hsa_status_t status);
/* Last shut_down: destroys every queue (before sim_signals_shutdown). */
void sim_queues_shutdown(void);

/* --- system events (events.c) --------------------------------------------------- */
/* The device watcher and holder registration of this process: started at
 * the 0 -> 1 init, stopped at the last shut_down. */
void sim_events_start(void);
void sim_events_stop(void);
/* A GPU memory fault at address (the CP or waves touched memory that is not
 * mapped for the agent): HSA_AMD_GPU_MEMORY_FAULT_EVENT to the registered
 * handlers, at the address's 4 KiB page as KFD reports it; with none
 * accepting it, ROCR's message and abort(), as ROCR does. */
void sim_events_memory_fault(sim_agent *agent, uint64_t address);

/* --- what a GPU may touch (memory.c, host_lock.c, code_index.c) ---------------- */
/* [lo, hi): a range of memory whose accessibility was decided as a whole (an
 * allocation, a locked range, a loaded code object's segment). */
typedef struct sim_range {
    uintptr_t lo, hi;
} sim_range;

/* Whether the GPU page tables of agent map all of [addr, addr + len)
 * (len >= 1): its own memory, memory it was granted, host memory locked for
 * the GPUs, code objects loaded for it (memory.c has the rules).  When true,
 * *out is the whole range the answer holds for, for the caller to cache. */
bool sim_memory_accessible(const sim_agent *agent, uintptr_t addr, size_t len, sim_range *out);
/* Moves whenever some agent may lose access to some memory (a free, an
 * allow-access, an unlock, a device loss): an answer of
 * sim_memory_accessible stays true while this does not move, and while
 * sim_code_generation does not either (code segments). */
uint64_t sim_memory_generation(void);
void sim_memory_access_changed(void);
/* host_lock.c: the locked host range holding [addr, addr + len) for the GPU
 * of that identity (sim_agent_identity). */
bool sim_host_lock_accessible(uint64_t identity, uintptr_t addr, size_t len, sim_range *out);
/* When [addr, addr + len) lies in the GPU address (agent_ptr) of a locked
 * host range: true, *host the host address the simulated GPU reaches there. */
bool sim_host_lock_translate(uintptr_t addr, size_t len, uintptr_t *host);
/* A GPU reset loses VRAM contents: the agent's device allocations are
 * overwritten. */
void sim_memory_lose_vram(sim_agent *agent);
/* An allocation of a pool as hsa_amd_pointer_info reports it (memory.c):
 * its range, its pool and the GPUs whose page tables map it (at most
 * SIM_MAX_MAPPED of them). */
#define SIM_MAX_MAPPED 64
typedef struct sim_alloc_view {
    uintptr_t base;
    size_t size;
    const sim_pool *pool;
    const sim_agent *mapped[SIM_MAX_MAPPED];
    size_t n_mapped;
} sim_alloc_view;
/* Whether addr lies in an allocation; *out describes it. */
bool sim_memory_find(uintptr_t addr, sim_alloc_view *out);
/* Whether addr lies in locked host memory, by its host or its GPU address
 * (host_lock.c): *host, *agent the two bases, *size the range's length. */
bool sim_host_lock_find(uintptr_t addr, uintptr_t *host, uintptr_t *agent, size_t *size);
/* The agent's device memory not allocated, in bytes (what KFD's
 * AMDKFD_IOC_AVAILABLE_MEMORY reports for its node). */
uint64_t sim_memory_vram_available(const sim_agent *agent);
/* Last shut_down: every allocation goes (memory.c); the copy engines stop,
 * copies not started are dropped (memory_copy.c). */
void sim_memory_release_all(void);
void sim_copies_stop(void);
/* Whether the copy engine of GPU agent a has a copy queued or running
 * (memory_copy.c); a GPU that never copied has an idle one. */
bool sim_copy_engine_busy(const sim_agent *a);

/* --- code objects (code_index.c, executable.c) ----------------------------------- */
/* What the descriptor address of a dispatch is for an agent. */
typedef enum sim_code_kind {
    SIM_CODE_NONE,   /* nothing of a code object loaded for the agent */
    SIM_CODE_MAPPED, /* code object memory of the agent, but no kernel to run there */
    SIM_CODE_KERNEL, /* a kernel of a frozen executable loaded for the agent */
} sim_code_kind;

struct hsasim_dispatch; /* include/hsasim/kernel.h */

/* A kernel as the packet processor needs it.  ptr_args (cap_ptr_args
 * entries) belongs to the caller; sim_code_find_kernel grows it. */
typedef struct sim_kernel_info {
    void (*fn)(const void *kernarg, const struct hsasim_dispatch *d);
    uint32_t kernarg_size;
    uint32_t n_ptr_args;   /* global_buffer arguments per the metadata note */
    uint32_t *ptr_args;    /* their kernarg offsets */
    uint32_t cap_ptr_args;
} sim_kernel_info;

/* Looks up kernel_object for the agent (its handle).  SIM_CODE_KERNEL fills
 * *info (or gives SIM_CODE_NONE when it cannot grow info->ptr_args). */
sim_code_kind sim_code_find_kernel(uint64_t kernel_object, uint64_t agent, sim_kernel_info *info);
/* Whether [addr, addr + len) lies in a segment of a code object loaded for
 * the agent; *out is that segment. */
bool sim_code_accessible(uint64_t agent, uintptr_t addr, size_t len, sim_range *out);
/* Moves when a code object is unloaded: a SIM_CODE_KERNEL answer (or a
 * segment) stays good while it does not. */
uint64_t sim_code_generation(void);
/* Destroys every executable (ROCR loses them all when the runtime closes).
 * For hsa_shut_down when the count reaches 0; takes the loader's lock, so it
 * may be called with sim_rt.lock held but not from a symbol callback. */
void sim_executables_release_all(void);

#endif
