/* rochp: GPU hot-plug survival for the ROCm HSA runtime.
 *
 * Conventions (libdrm style): every function returns a rochp_status, 0 on
 * success and a negative code on failure; outputs come last.  Names that do
 * not start with rochp_ are not part of the API.
 */
#ifndef ROCHP_ROCHP_H
#define ROCHP_ROCHP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(ROCHP_BUILDING_LIBRARY)
#define ROCHP_API __attribute__((visibility("default")))
#else
#define ROCHP_API
#endif

#define ROCHP_VERSION_MAJOR 0
#define ROCHP_VERSION_MINOR 1
#define ROCHP_VERSION_PATCH 0

typedef enum rochp_status {
    ROCHP_OK = 0,
    /* An argument was NULL, out of range or otherwise unusable. */
    ROCHP_ERROR_INVALID_ARGUMENT = -1,
    /* Memory could not be allocated. */
    ROCHP_ERROR_OUT_OF_MEMORY = -2,
    /* The thing asked for does not exist (no KFD topology, no such device). */
    ROCHP_ERROR_NOT_FOUND = -3,
    /* A system call failed in a way that is not one of the cases below. */
    ROCHP_ERROR_IO = -4,
    /* A file's content is not in the format the kernel writes. */
    ROCHP_ERROR_MALFORMED = -5,
    /* A file, a count or a number is beyond the limits rochp accepts. */
    ROCHP_ERROR_TOO_LARGE = -6,
    /* Something else holds what the call needs, for now: the topology kept
     * changing while it was read, another component holds the runtime, a
     * call from a callback would wait for itself, a queue's journal still
     * names a module...; rochp_last_error() says which.  Try again later. */
    ROCHP_ERROR_BUSY = -7,
    /* The operation is not supported in this configuration. */
    ROCHP_ERROR_NOT_SUPPORTED = -8,
    /* The device the operation needs has been lost (unplugged, reset, failed). */
    ROCHP_ERROR_DEVICE_LOST = -9,
    /* A wait ended at its timeout before what it waited for happened. */
    ROCHP_ERROR_TIMEOUT = -10,
    /* A journaled queue recorded as many packets as it can hold since the
     * last checkpoint: nothing was dispatched; checkpoint first. */
    ROCHP_ERROR_JOURNAL_FULL = -11,
    /* The queue is dead for a fault of its own work (a kernel trapped, ran an
     * illegal instruction, or touched memory it may not); the device is not
     * lost (no lost event).  After a memory fault the driver stops every
     * queue of the process on that device for good (KFD's VM-fault
     * handling): those fail with this too, and so does a new queue there. */
    ROCHP_ERROR_QUEUE_FAILED = -12,
    /* A device with managed work was lost and no present device can take it
     * (none has its gfx target). */
    ROCHP_ERROR_NO_TARGET = -13,
} rochp_status;

/* A static, human-readable description of a status code; never NULL. */
ROCHP_API const char *rochp_status_string(rochp_status status);

/* The library's version as (major << 16) | (minor << 8) | patch, so that a
 * program can check the library it runs against, not the header it was
 * compiled with. */
ROCHP_API unsigned rochp_version(void);

/* The same version as a static string, "major.minor.patch". */
ROCHP_API const char *rochp_version_string(void);

/* The message of the last failure on this thread: names the cause (file,
 * device, HSA status).  Valid until the thread's next failing rochp call. */
ROCHP_API const char *rochp_last_error(void);

/* --- contexts ------------------------------------------------------------------
 * A context watches the KFD topology (and, unless ROCHP_CONTEXT_NO_HSA, owns
 * an initialisation of the HSA runtime) and reports devices leaving and
 * arriving.  It runs two threads: a watcher and the one thread callbacks run
 * on.  Several contexts may exist; each has its own devices and threads. */
typedef struct rochp_context rochp_context;

/* Stable device ids: a board's partition keeps its id when it leaves and
 * returns (same unique_id); ids are never reused within a process.  0 is
 * no device. */
typedef uint64_t rochp_device_id;

enum {
    /* Watch the topology only: no HSA runtime is loaded or initialised. */
    ROCHP_CONTEXT_NO_HSA = 1u << 0,
    /* Do not listen to kernel uevents: detection by polling alone. */
    ROCHP_CONTEXT_NO_UEVENTS = 1u << 1,
    /* Re-enumerate by itself (on the watcher thread) after a device arrives
     * or returns, so that it gets an hsa_agent_t. */
    ROCHP_CONTEXT_AUTO_REENUMERATE = 1u << 2,
    /* Install (once per process) a SIGBUS handler: SIGBUS with si_code
     * SI_USER, which current kernels send to every process using a GPU that
     * is being unplugged, becomes a device check (each GPU is asked for a
     * page of memory; the one going away refuses and is reported lost with
     * reason sigbus) instead of terminating the process.  Any other SIGBUS is
     * a real memory error: it goes to the handler installed before, or gets
     * the default action.  The process should then save what it needs and
     * exit or exec: the kernel finishes the unplug only when it lets go. */
    ROCHP_CONTEXT_SIGBUS_HANDLER = 1u << 3,
    /* Recover by itself: an application's completion or queue wait that
     * finds its queue's device lost runs rochp_recover there (a safe point)
     * and goes on waiting, so it completes as if nothing happened; a
     * recovery that cannot be done ends the wait with its status.  The
     * application promises what rochp_recover needs: no other thread
     * dispatches or writes buffers meanwhile. */
    ROCHP_CONTEXT_AUTO_RECOVER = 1u << 4,
    /* Use the HSA runtime the process has initialised already (a HIP
     * program's, or a tool's inside HSA_TOOLS_LIB's OnLoad) without adding a
     * reference of its own: no hsa_init, no hsa_shut_down, so the program's
     * last hsa_shut_down still ends the runtime.  The runtime must stay up
     * while the context lives.  rochp_reenumerate is then NOT_SUPPORTED
     * (another component holds the runtime).  Not with ROCHP_CONTEXT_NO_HSA. */
    ROCHP_CONTEXT_ATTACH_HSA = 1u << 5,
};

typedef struct rochp_options {
    /* sizeof(rochp_options) as the caller knows it: the struct may grow. */
    uint32_t struct_size;
    uint32_t flags; /* ROCHP_CONTEXT_* */
    /* NULL: $ROCHP_SYSFS_ROOT, else /sys/devices/virtual/kfd/kfd. */
    const char *sysfs_root;
    /* NULL: $ROCHP_HSA_RUNTIME, else libhsa-runtime64.so.1. */
    const char *hsa_runtime;
    /* Topology poll period in ms (the fallback where no uevents arrive);
     * 0: ROCHP_DEFAULT_POLL_MS. */
    uint32_t poll_interval_ms;
} rochp_options;

#define ROCHP_DEFAULT_POLL_MS 1000

/* Fills options with the defaults (and struct_size). */
ROCHP_API void rochp_options_init(rochp_options *options);

/* options NULL: the defaults.  Fails with a status and rochp_last_error()
 * saying why (no KFD topology, HSA runtime missing or failing to start). */
ROCHP_API rochp_status rochp_context_create(const rochp_options *options, rochp_context **out);

/* Stops the threads and frees everything: every buffer, module, kernel,
 * queue and binding of the context dies with it.  Waits for a callback in
 * progress to return; none runs afterwards.  Not from a callback of this
 * context (ROCHP_ERROR_BUSY).  A call naming the context or one of its
 * objects afterwards -- or naming an object freed already -- is
 * ROCHP_ERROR_INVALID_ARGUMENT ("not a live ..."), not undefined behaviour
 * (unless malloc gave the address to a new object meanwhile); the inline
 * dispatch functions do not check. */
ROCHP_API rochp_status rochp_context_destroy(rochp_context *ctx);

/* --- devices ---------------------------------------------------------------------- */
typedef enum rochp_device_state {
    ROCHP_DEVICE_PRESENT = 1,
    ROCHP_DEVICE_LOST = 2,
} rochp_device_state;

typedef struct rochp_device_info {
    rochp_device_id id;
    rochp_device_state state;
    char pci[24];            /* "dddd:bb:dd.f" */
    uint32_t pci_domain;
    uint32_t location_id;    /* (bus << 8) | (device << 3) | function */
    uint64_t unique_id;      /* 0 when the kernel gives none */
    uint32_t partition;      /* index among the board's partitions */
    uint32_t partition_count;
    char gfx_target[16];     /* "gfx90a"; "" when unknown */
    uint64_t vram_bytes;
    uint32_t kfd_node;       /* current KFD node number; UINT32_MAX when gone */
    uint64_t hsa_agent;      /* hsa_agent_t.handle of the current enumeration; 0 if none */
} rochp_device_info;

/* Copies up to capacity devices (present and lost, in id order) and sets
 * *count to how many there are. */
ROCHP_API rochp_status rochp_device_list(rochp_context *ctx, rochp_device_info *out,
                                         size_t capacity, size_t *count);
ROCHP_API rochp_status rochp_device_get(rochp_context *ctx, rochp_device_id id,
                                        rochp_device_info *out);

/* --- events ------------------------------------------------------------------------ */
typedef enum rochp_event_type {
    ROCHP_EVENT_LOST = 1u << 0,
    ROCHP_EVENT_ARRIVED = 1u << 1,   /* a device never seen before */
    ROCHP_EVENT_RETURNED = 1u << 2,  /* a lost device back (same unique_id, same id) */
    ROCHP_EVENT_REENUMERATED = 1u << 3,
    /* A lost device's work moved to target (rochp_recover): its buffers
     * (bytes) restored there from the checkpoint, its queues rebuilt. */
    ROCHP_EVENT_MIGRATED = 1u << 4,
    /* A recovery finished: packets replayed, duration_ns from its start. */
    ROCHP_EVENT_RECOVERED = 1u << 5,
    ROCHP_EVENT_ALL = 0x3f,
} rochp_event_type;

/* What told rochp first; later sources of the same loss fold into it. */
typedef enum rochp_event_reason {
    ROCHP_REASON_TOPOLOGY = 1,     /* the KFD topology changed */
    ROCHP_REASON_QUEUE_ERROR = 2,  /* a queue on the device failed */
    ROCHP_REASON_SYSTEM_EVENT = 3, /* memory fault / HW exception from the runtime */
    ROCHP_REASON_SIGBUS = 4,       /* SIGBUS with SI_USER (hot-unplug, current kernels) */
    ROCHP_REASON_WATCHDOG = 5,     /* a dispatch stopped making progress */
} rochp_event_reason;

typedef struct rochp_event {
    rochp_event_type type;
    rochp_event_reason reason;
    rochp_device_id device;
    rochp_device_info info;  /* the device as it was at the event */
    uint64_t sequence;       /* 1, 2, 3... in the order events happened */
    uint64_t generation;     /* KFD generation_id of the snapshot that showed it */
    uint64_t t_ns;           /* CLOCK_MONOTONIC time of detection */
    /* migrated and recovered only */
    rochp_device_id target;  /* migrated: where the work went */
    uint64_t bytes;          /* buffer bytes restored from the checkpoint */
    uint64_t packets;        /* recovered: journaled packets replayed */
    uint64_t duration_ns;    /* recovered: how long the recovery took */
} rochp_event;

/* Runs on the context's callback thread, never in a signal handler and never
 * with a rochp lock held: it may call any rochp function, including
 * rochp_unsubscribe on its own subscription (but not rochp_context_destroy). */
typedef void (*rochp_event_fn)(rochp_context *ctx, const rochp_event *event, void *user);

typedef uint64_t rochp_subscription;

/* Calls fn for every event whose type is in mask (ROCHP_EVENT_*), from the
 * next event on. */
ROCHP_API rochp_status rochp_subscribe(rochp_context *ctx, uint32_t mask, rochp_event_fn fn,
                                       void *user, rochp_subscription *out);
/* After it returns, fn is not called again for this subscription (a call in
 * progress on the callback thread has finished, unless the caller is that
 * call). */
ROCHP_API rochp_status rochp_unsubscribe(rochp_context *ctx, rochp_subscription subscription);
/* Shorthands: ROCHP_EVENT_LOST, and ROCHP_EVENT_ARRIVED | ROCHP_EVENT_RETURNED. */
ROCHP_API rochp_status rochp_on_device_lost(rochp_context *ctx, rochp_event_fn fn, void *user,
                                            rochp_subscription *out);
ROCHP_API rochp_status rochp_on_device_arrived(rochp_context *ctx, rochp_event_fn fn, void *user,
                                               rochp_subscription *out);

/* Folds a failure seen elsewhere into the event stream: the application's
 * own queue error callback (reason ROCHP_REASON_QUEUE_ERROR) or a dispatch
 * watchdog (ROCHP_REASON_WATCHDOG).  The device is lost with that reason,
 * unless it is lost already (then nothing happens: one event per loss). */
ROCHP_API rochp_status rochp_device_report_fault(rochp_context *ctx, rochp_device_id device,
                                                 rochp_event_reason reason);

/* Reads the topology now; the events it finds are queued (in order, with
 * those of the watcher) before it returns. */
ROCHP_API rochp_status rochp_rescan(rochp_context *ctx);

/* Makes the HSA runtime see the GPUs present now: ROCR enumerates agents
 * only when its init count goes 0 -> 1, so rochp shuts its reference down
 * and initialises again, then gives every present device its new
 * hsa_agent_t (ids unchanged) and queues one reenumerated event per present
 * device.  Everything the process made with the old runtime (queues,
 * memory, executables) is gone.  If another component still holds the
 * runtime, nothing can restart it: ROCHP_ERROR_BUSY, rochp's reference kept.
 * Not on a context made with ROCHP_CONTEXT_NO_HSA (ROCHP_ERROR_NOT_SUPPORTED). */
ROCHP_API rochp_status rochp_reenumerate(rochp_context *ctx);

/* --- buffers ----------------------------------------------------------------------
 * Memory rochp knows: on a device (its VRAM pool) or on the host, each with
 * its device and size, findable from any address inside it.  Device buffers
 * are made accessible to every agent of the context.  Copies between any
 * two buffers complete before the call returns; one that involves a device
 * lost before or while it runs fails with ROCHP_ERROR_DEVICE_LOST instead of
 * waiting for it (the destination's bytes are then undefined). */
typedef struct rochp_buffer rochp_buffer;

/* device 0: host memory (fine-grained, visible to every GPU). */
#define ROCHP_HOST ((rochp_device_id)0)

ROCHP_API rochp_status rochp_buffer_alloc(rochp_context *ctx, rochp_device_id device, size_t size,
                                          rochp_buffer **out);
/* A buffer a journal still passes to a kernel (a journaled dispatch since
 * the last checkpoint) is ROCHP_ERROR_BUSY: a recovery would run that
 * packet again on it.  Checkpoint first. */
ROCHP_API rochp_status rochp_buffer_free(rochp_buffer *buffer);
/* The buffer's address for kernels (and for the host, on host buffers). */
ROCHP_API void *rochp_buffer_address(const rochp_buffer *buffer);
ROCHP_API size_t rochp_buffer_size(const rochp_buffer *buffer);
ROCHP_API rochp_device_id rochp_buffer_device(const rochp_buffer *buffer);
ROCHP_API rochp_status rochp_buffer_copy(rochp_buffer *dst, size_t dst_offset,
                                         const rochp_buffer *src, size_t src_offset, size_t size);
ROCHP_API rochp_status rochp_buffer_write(rochp_buffer *dst, size_t offset, const void *src,
                                          size_t size);
ROCHP_API rochp_status rochp_buffer_read(const rochp_buffer *src, size_t offset, void *dst,
                                         size_t size);
/* The buffer that contains address, and the offset of address in it
 * (O(log n) in the number of buffers).  None: ROCHP_ERROR_NOT_FOUND. */
ROCHP_API rochp_status rochp_buffer_find(rochp_context *ctx, const void *address,
                                         rochp_buffer **out, size_t *offset);

/* --- the application's own memory in checkpoints ----------------------------------------
 * Memory rochp did not allocate -- hipMalloc'd or hipHostMalloc'd memory
 * (rochp_hip.h), or the runtime's pools used directly -- becomes a buffer
 * with rochp_buffer_register: checkpoints copy it to a shadow, restores and
 * recoveries roll it back, a recovery moves it off a lost device, files
 * carry it.  The memory stays the application's: rochp_buffer_free only
 * forgets it.
 *
 * rochp sees no work on it (the application's own queues, HIP's streams),
 * so the application says what may be written: rochp_buffer_mark_written
 * before launching work that may write the buffer (between two
 * checkpoints, once is enough); a checkpoint copies what was marked since
 * the last one (and a buffer without a shadow yet), a restore or recovery
 * rolls back what was marked.  Or ROCHP_REGISTER_COPY_ALWAYS: every
 * checkpoint copies it and every rollback puts it back, marked or not.
 * A mark while a checkpoint runs makes it fail with ROCHP_ERROR_BUSY, as a
 * write call does.  Rolling back is not replaying: the application redoes
 * the work since the checkpoint itself.
 *
 * device is the device whose memory holds address (ROCHP_HOST: host
 * memory the GPUs can reach, such as hipHostMalloc's), present; the range
 * must not overlap a buffer of the context (ROCHP_ERROR_INVALID_ARGUMENT
 * naming it). */
#define ROCHP_REGISTER_COPY_ALWAYS (1u << 0)
ROCHP_API rochp_status rochp_buffer_register(rochp_context *ctx, rochp_device_id device,
                                             void *address, size_t size, uint32_t flags,
                                             rochp_buffer **out);
ROCHP_API rochp_status rochp_buffer_mark_written(rochp_buffer *buffer);
/* Where a registered buffer's new memory comes from when rochp needs some:
 * a recovery moving it off a lost device (onto the recovery's target) and
 * rochp_checkpoint_load making it in a new context.  Without an allocator
 * those refuse with ROCHP_ERROR_NOT_SUPPORTED, naming the buffer.  The
 * application gets the new address from rochp_buffer_address and owns that
 * memory as it owned the old (rochp_hip_init sets hipMalloc/hipHostMalloc).
 * alloc returns size bytes on device (ROCHP_HOST: host memory every GPU
 * can reach), or NULL; free, if set, gets memory that a recovery replaced
 * (the lost device's: the application must not free it again) and memory
 * alloc made that a failed recovery or load did not use; NULL: rochp leaves
 * it.  Both run on the thread that recovers or loads, with the limits of a
 * recovery target callback (no rochp call that takes the runtime gate or
 * the checkpoint lock).  allocator NULL: none. */
typedef struct rochp_allocator {
    size_t size; /* sizeof(rochp_allocator) */
    void *(*alloc)(rochp_context *ctx, rochp_device_id device, size_t size, void *user);
    void (*free)(rochp_context *ctx, rochp_device_id device, void *address, void *user);
    void *user;
} rochp_allocator;
ROCHP_API rochp_status rochp_set_allocator(rochp_context *ctx, const rochp_allocator *allocator);

/* --- modules and kernels ------------------------------------------------------------
 * A module is a code object (a real AMDGPU one from clang/hipcc, or an hsasim
 * host code object) kept on the host.  Its AMDGPU metadata (code object v3,
 * v4, v5) is read at load time; it is loaded on a device's agent the first
 * time a kernel object is asked for there, and again after a
 * re-enumeration.  Pointers returned in info structs live as long as the
 * module. */
typedef struct rochp_module rochp_module;
typedef struct rochp_kernel rochp_kernel;

typedef enum rochp_access {
    ROCHP_ACCESS_NONE = 0, /* not a buffer */
    ROCHP_ACCESS_READ_ONLY = 1,
    ROCHP_ACCESS_WRITE_ONLY = 2,
    ROCHP_ACCESS_READ_WRITE = 3,
} rochp_access;

typedef struct rochp_kernel_info {
    const char *name;   /* as in the source */
    const char *symbol; /* the kernel descriptor, "<name>.kd" */
    uint32_t kernarg_size, kernarg_align;
    uint32_t group_segment_size, private_segment_size;
    uint32_t n_args; /* explicit and hidden */
} rochp_kernel_info;

typedef struct rochp_kernel_arg {
    const char *name;       /* NULL when the metadata has none */
    const char *value_kind; /* as written: "global_buffer", "by_value", "hidden_block_count_x" */
    const char *address_space; /* "global", "constant", ... or NULL */
    uint32_t offset, size;  /* in the kernarg segment */
    bool hidden;            /* value_kind "hidden_*": the runtime's to fill */
    /* For a global_buffer: how the kernel may touch the memory (what the
     * compiler proved, else what was declared, else read-only for a const
     * pointee, else read-write).  ROCHP_ACCESS_NONE for other kinds. */
    rochp_access access;
} rochp_kernel_arg;

/* Copies image (an ELF code object) and reads its metadata; malformed input
 * is ROCHP_ERROR_MALFORMED naming what is wrong. */
ROCHP_API rochp_status rochp_module_load(rochp_context *ctx, const void *image, size_t size,
                                         rochp_module **out);
ROCHP_API rochp_status rochp_module_load_file(rochp_context *ctx, const char *path,
                                              rochp_module **out);
/* Also destroys its executables; its kernels must not be used afterwards. */
ROCHP_API rochp_status rochp_module_free(rochp_module *module);
ROCHP_API uint32_t rochp_module_kernel_count(const rochp_module *module);
/* By index (0..count-1), or by name or descriptor symbol. */
ROCHP_API rochp_status rochp_module_kernel_at(rochp_module *module, uint32_t index,
                                              rochp_kernel **out);
ROCHP_API rochp_status rochp_module_kernel(rochp_module *module, const char *name,
                                           rochp_kernel **out);
ROCHP_API rochp_status rochp_kernel_get_info(const rochp_kernel *kernel, rochp_kernel_info *out);
ROCHP_API rochp_status rochp_kernel_get_arg(const rochp_kernel *kernel, uint32_t index,
                                            rochp_kernel_arg *out);
/* The AQL kernel_object of the kernel on a device, loading the module on
 * that device's agent on first use.  An object built for another ISA is
 * ROCHP_ERROR_NOT_SUPPORTED naming both. */
ROCHP_API rochp_status rochp_kernel_object(rochp_kernel *kernel, rochp_device_id device,
                                           uint64_t *out);

/* --- checkpoints ----------------------------------------------------------------------
 * A checkpoint is a consistent point across the context's queues: every
 * packet written before it has completed, and every buffer that may have
 * been written since the previous checkpoint (by copy and write calls, by a
 * journaled dispatch through a pointer argument its kernel may write, or by
 * anything once a plain queue ran) is copied to a host shadow; the journals
 * start over.  Call it where nothing else dispatches or writes buffers: if
 * something does meanwhile it fails with ROCHP_ERROR_BUSY and the previous
 * checkpoint stands, as it does when a device is lost during it. */
typedef struct rochp_checkpoint_stats {
    uint64_t buffers, bytes;               /* of the context */
    uint64_t buffers_copied, bytes_copied; /* copied this time */
    uint64_t packets;                      /* journaled packets it covered */
    uint64_t ns;                           /* how long it took */
} rochp_checkpoint_stats;

/* Waits up to timeout_ns for the queues' work (ROCHP_ERROR_TIMEOUT); a
 * queue that failed is its status.  stats may be NULL. */
ROCHP_API rochp_status rochp_checkpoint(rochp_context *ctx, uint64_t timeout_ns,
                                        rochp_checkpoint_stats *stats);
/* A checkpoint whose copies overlap the work that follows.  Begin takes
 * the cut as rochp_checkpoint does (waiting up to timeout_ns for the work
 * before it), starts the copies of what was written and returns: call it
 * where nothing else dispatches or writes buffers (else ROCHP_ERROR_BUSY,
 * the previous checkpoint standing).  From then on work may be dispatched:
 * a dispatch whose kernel may write (its metadata) a buffer not yet copied
 * waits in rochp_dispatch for that copy, and so do buffer copy and write
 * calls into it; a kernel that only reads runs at once.  The checkpoint
 * commits -- becomes the one recovery, restore and saves use -- once its
 * copies are done, at rochp_checkpoint_finish or at the next call that
 * needs it or frees what it copies: a checkpoint (begun or not), restore,
 * save, hand-over, recovery, buffer free, queue destroy, re-enumeration,
 * context destroy.  Until then the previous checkpoint stands, and a device
 * lost during the copies fails it as it would fail rochp_checkpoint.
 * ROCHP_ERROR_BUSY, nothing begun, while one begun is not finished and
 * cannot be (its copies did not end within timeout_ns).
 *
 * Queues created with options of ring ABI 1 (an application built against
 * an older rochp_dispatch.h) do not know the guard: with any of them in the
 * context, begin waits for its copies and commits before returning. */
ROCHP_API rochp_status rochp_checkpoint_begin(rochp_context *ctx, uint64_t timeout_ns);
/* Waits up to timeout_ns for the copies of the checkpoint begun last and
 * commits it; its result (a device lost during the copies:
 * ROCHP_ERROR_DEVICE_LOST, the previous checkpoint standing) and stats (ns:
 * from begin to the commit), also when a call in between committed it.
 * ROCHP_ERROR_TIMEOUT leaves it running.  Nothing begun since the last
 * finish: ROCHP_ERROR_NOT_FOUND. */
ROCHP_API rochp_status rochp_checkpoint_finish(rochp_context *ctx, uint64_t timeout_ns,
                                               rochp_checkpoint_stats *stats);
/* Automatic checkpoints: one is due once every_packets packets were written
 * on the context's queues, or every_ns passed, since the last (0: not by
 * that measure; both 0: off).  It is taken at a safe point -- when a
 * completion or queue wait of the application returns successfully -- and
 * never makes that wait longer: if other work is still running or is
 * dispatched meanwhile, it is skipped until a later safe point. */
ROCHP_API rochp_status rochp_set_auto_checkpoint(rochp_context *ctx, uint64_t every_packets,
                                                 uint64_t every_ns);
/* Puts every buffer that has a shadow back as it was at the last checkpoint
 * (buffers_copied/bytes_copied: what was restored), once the queues' work
 * written before it completed (up to 30 s).  The work since the checkpoint
 * is undone, so the journals start over: a later recovery replays only what
 * is dispatched after the restore.  A buffer on a lost device, or work that
 * cannot complete, is ROCHP_ERROR_DEVICE_LOST: nothing changed when rochp
 * knew of the loss before the copies started; a device lost while they ran
 * leaves the device buffers copied by then restored and the others (host
 * buffers included) as they were, so buffers' bytes are undefined until a
 * restore or recovery succeeds. */
ROCHP_API rochp_status rochp_checkpoint_restore(rochp_context *ctx,
                                                rochp_checkpoint_stats *stats);

/* --- recovery ---------------------------------------------------------------------------
 * After a device with managed work was lost: the context goes back to the
 * last checkpoint and the journals are replayed.  The lost device's buffers
 * are restored from their shadows onto a target (a present GPU of the same
 * gfx target, the one holding the fewest buffer bytes) at new addresses
 * (rochp_buffer_address; pointer arguments in the journals are relocated by
 * the kernels' metadata); buffers elsewhere that the journaled work may have
 * written are rolled back; every queue is rebuilt (a lost device's on its
 * target) and its journal resubmitted, so completion handles taken before
 * complete as if nothing happened, and every binding (rochp_kernel_bind)
 * names the kernel's object on its queue's new device.  It returns once the
 * replayed packets that had completed before the loss have completed again,
 * so buffers hold what the application saw (packets still running at the
 * loss may still run; wait for them as before).  Events: migrated
 * per lost device, then recovered.  Call it where nothing else dispatches or
 * writes buffers (as a checkpoint).
 *
 * "Lost" here also covers a device back without an agent (it left and
 * returned: what was made on it is gone) and one that stopped the process's
 * work after a memory fault (ROCHP_ERROR_QUEUE_FAILED): their work moves
 * too, and they are no targets.
 *
 * It refuses, changing nothing, when there is no checkpoint, no target
 * (ROCHP_ERROR_NO_TARGET), a plain queue ran since the checkpoint, a buffer
 * was written by a copy or write call since it, a queue that had run since
 * it was destroyed, a journal was truncated since it, a journal lost its
 * arguments with an earlier runtime (rochp_reenumerate), or a lost device's
 * buffer has no shadow (ROCHP_ERROR_NOT_SUPPORTED); the message names which.
 *
 * A device lost while it runs -- its chosen target, or one whose queues it
 * rebuilds -- is left out and the recovery plans again from the journals;
 * when it returns ROCHP_OK, no lost device holds managed work.  If it fails
 * part-way (ROCHP_ERROR_DEVICE_LOST, ROCHP_ERROR_NO_TARGET, ROCHP_ERROR_TIMEOUT
 * once it started moving work): every queue is stopped (its waits and
 * dispatches return ROCHP_ERROR_DEVICE_LOST saying so), the journals and the
 * checkpoint are whole (rochp_checkpoint_save works), the lost devices'
 * buffers are where they were, and other buffers' bytes are undefined until
 * a recovery succeeds; every call stays safe and rochp_recover may be called
 * again.  A replayed packet that faults is ROCHP_ERROR_QUEUE_FAILED (the
 * work's own fault: it would fault on any device).  No lost device with
 * managed work: ROCHP_OK with an empty report. */
typedef struct rochp_recovery_report {
    uint32_t devices_lost;                           /* whose work moved */
    uint64_t buffers_moved, bytes_moved;             /* onto targets */
    uint64_t buffers_rolled_back, bytes_rolled_back; /* in place */
    uint64_t queues_rebuilt, packets_replayed;
    uint64_t ns;
} rochp_recovery_report;

/* Where a lost device's work goes, if the application decides: candidates
 * are the present devices of its gfx target, least loaded first; return
 * one of their ids, or 0 to refuse (rochp_recover: ROCHP_ERROR_NO_TARGET).
 * Called on the thread that runs the recovery (the one that called
 * rochp_recover, or whose wait recovers under ROCHP_CONTEXT_AUTO_RECOVER),
 * which holds the runtime gate for reading (what keeps the HSA runtime up
 * against a re-enumeration, docs/locking.md) and the checkpoint lock.  It
 * may read devices: rochp_device_list and rochp_device_get take only the
 * context lock, which is not held.  It must not call what takes the runtime
 * gate or the checkpoint lock: rochp_buffer_alloc, _free, _copy, _write and
 * _read, rochp_module_free, rochp_kernel_object, rochp_kernel_bind,
 * rochp_queue_create, _destroy and the journal calls, the waits,
 * checkpoints, restores, saves and loads, rochp_recover, rochp_reenumerate.
 * The checkpoint lock would wait for itself, and a second hold of the gate
 * may wait behind a re-enumeration that waits for the first (builds with
 * lock assertions stop there). */
typedef rochp_device_id (*rochp_target_fn)(rochp_context *ctx, const rochp_device_info *lost,
                                           const rochp_device_info *candidates, size_t n,
                                           void *user);
/* Which devices are candidates at all. */
typedef enum rochp_target_rule {
    ROCHP_TARGET_SAME_GFX = 0, /* the lost device's gfx target (the code objects run) */
    /* and what CRIU's amdgpu plugin requires to restore onto a GPU: equal SIMD
     * count, LDS size, wavefront size, CU layout, waves per SIMD, device id,
     * SDMA and CP queue counts; firmware at least as new; VRAM at least
     * as large */
    ROCHP_TARGET_CRIU = 1,
} rochp_target_rule;
ROCHP_API rochp_status rochp_set_recovery_rule(rochp_context *ctx, rochp_target_rule rule);
/* fn NULL: the default (the first candidate). */
ROCHP_API rochp_status rochp_set_recovery_target(rochp_context *ctx, rochp_target_fn fn,
                                                 void *user);

/* timeout_ns bounds the recovery's waits: for room while the journals are
 * resubmitted, and for the replay of what had completed before the loss
 * (past it: ROCHP_ERROR_TIMEOUT, the recovery made and that work running).
 * report may be NULL (it adds up every device's move when a device lost
 * during the recovery needed one more). */
ROCHP_API rochp_status rochp_recover(rochp_context *ctx, uint64_t timeout_ns,
                                     rochp_recovery_report *report);

/* --- checkpoints in files --------------------------------------------------------------
 * The last checkpoint written to a file descriptor (a file, a memfd a new
 * process inherits, a pipe) with an application blob (its own progress),
 * and made again in another context, typically of a new process: when no
 * device can take a lost one's work, or when the kernel makes the process
 * let go of its GPUs (exit or exec) before an unplug completes.  What is
 * saved: every module, every buffer the checkpoint copied (its bytes then),
 * every queue (options, and its next packet id then), each with a checksum
 * (XXH3), as is the header.  Loading places each on a present GPU of the
 * same gfx target (the same ordinal among them when there is one;
 * ROCHP_ERROR_NO_TARGET if none) and counts as a checkpoint.  Objects have
 * ids (rochp_buffer_id, rochp_queue_id, rochp_module_id) that the restored
 * map translates to the new ones; they belong to the context. */
typedef struct rochp_restored rochp_restored;

ROCHP_API uint64_t rochp_buffer_id(const rochp_buffer *buffer);
ROCHP_API uint64_t rochp_module_id(const rochp_module *module);
/* Writes from the descriptor's position.  A checkpoint that does not exist
 * is ROCHP_ERROR_NOT_SUPPORTED. */
ROCHP_API rochp_status rochp_checkpoint_save(rochp_context *ctx, int fd, const void *user,
                                             size_t user_size);
/* Saves to a file so that a crash or a failure never leaves half of one:
 * the checkpoint is written to a temporary in path's directory (so that the
 * rename is atomic; mode 0600, or that of the file it replaces) that has no
 * name while it is written (O_TMPFILE), flushed (fsync), named path +
 * ".tmp.PID.N", renamed over path, and the directory flushed.  A process
 * killed while it writes leaves nothing behind.  On a file system without
 * O_TMPFILE the temporary is path + ".tmp.XXXXXX" from the start, which a
 * crash before the rename can leave behind.  On failure the temporary is
 * removed and a file already at path stays as it was, whole -- except when
 * only the directory's flush failed: then path holds the new checkpoint,
 * which a crash might still undo. */
ROCHP_API rochp_status rochp_checkpoint_save_path(rochp_context *ctx, const char *path,
                                                  const void *user, size_t user_size);
/* Reads one checkpoint from the descriptor's position and checks all of it
 * -- sizes against the file's length before allocating, checksums, ids,
 * gfx targets, where each object can go -- before making anything.  A file
 * that is not a whole, intact checkpoint of this library's format
 * (truncated, corrupted, another format version) is ROCHP_ERROR_MALFORMED,
 * the message naming the section ("header", "user blob", "module K of N",
 * "buffer K of N (id I)", "queue table") and what is wrong with it.  A
 * failed load changes nothing: what it made before a later step failed (a
 * device lost meanwhile: ROCHP_ERROR_DEVICE_LOST; memory) is freed again. */
ROCHP_API rochp_status rochp_checkpoint_load(rochp_context *ctx, int fd, rochp_restored **out);
ROCHP_API rochp_buffer *rochp_restored_buffer(const rochp_restored *restored, uint64_t id);
ROCHP_API rochp_module *rochp_restored_module(const rochp_restored *restored, uint64_t id);
ROCHP_API const void *rochp_restored_user(const rochp_restored *restored, size_t *size);
/* The map only (the objects stay the context's).  The lookups on a freed
 * map give NULL, and freeing it again does nothing. */
ROCHP_API void rochp_restored_free(rochp_restored *restored);

/* --- checkpoints that outlive the process (rochp-run) --------------------------------
 * Under the supervisor rochp-run (docs/process-recovery.md) the last
 * checkpoint can live in memory the program's death does not free: it is
 * written in the file format into a sealed memfd handed to the supervisor.
 * A new process of the job takes it back with rochp_resume and it is made
 * again on the GPUs present, as rochp_checkpoint_load does (and checked as
 * strictly: a corrupted or foreign one is ROCHP_ERROR_MALFORMED).  step is
 * the program's progress (the supervisor's events name it).  Not under
 * rochp-run: ROCHP_ERROR_NOT_FOUND; rochp_resume with nothing kept yet:
 * ROCHP_ERROR_NOT_FOUND (start afresh). */
ROCHP_API rochp_status rochp_checkpoint_hand_over(rochp_context *ctx, uint64_t step,
                                                  const void *user, size_t user_size);
ROCHP_API rochp_status rochp_resume(rochp_context *ctx, rochp_restored **out);

/* Blocks until every event queued so far has been delivered to the
 * subscribers (not from a callback: ROCHP_ERROR_BUSY). */
ROCHP_API rochp_status rochp_flush(rochp_context *ctx);

#ifdef __cplusplus
}
#endif

#endif /* ROCHP_ROCHP_H */
