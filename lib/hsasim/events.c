/* hsasim: system events and the device watcher.
 *
 * How a process experiences a GPU leaving depends on the simulated kernel
 * (ROCHP_SIM_KERNEL, DESIGN.md section 1), which rochp-sim records in a
 * fault notice (DIR/.rochp-sim/fault) before it changes anything:
 *   sigbus  KFD stops the queues (error callback HSA_STATUS_ERROR), sets all
 *           signal events, and rochp-sim sends SIGBUS (SI_USER) to every
 *           holder; the tree changes once they have let go.
 *   silent  the tree changes; the device just goes dead: queues stop taking
 *           work, nothing completes, nothing is reported.
 *   reset   queues evicted (error callback), VRAM contents lost, and a HW
 *           exception event; with no handler that accepts it, the process
 *           aborts as ROCR does.  The tree changes once every holder has
 *           acknowledged (its handlers have run) or died.
 * A GPU missing from the tree without a notice is treated as silent.
 *
 * Holders: every process that initialised the runtime registers in
 * DIR/.rochp-sim/holders/<pid> the GPUs present at each init, and keeps an
 * exclusive flock on that file through a close-on-exec descriptor for the
 * rest of its life: exit or exec releases it, as they release KFD.
 *
 * Threads and locks: one watcher thread per runtime (started at the 0 -> 1
 * init, stopped at the last shut_down) blocks on inotify and a stop pipe;
 * it never spins.  handler_lock guards the system event handler list and is
 * not held while handlers run (a copy of the list is taken). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hsasim.h"

/* ROCm >= 6's GPU reset event.  Not in ROCm 5.2.3's hsa_ext_amd.h
 * (HSA_AMD_INTERFACE_VERSION 1.0; 6.1.2's is 1.4; an enumerator, so no
 * #ifdef can tell): there it is sent with its value, 1, and the agent where
 * 6's hsa_amd_gpu_hw_exception_info_t has it, first in the union. */
#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
#define SIM_HW_EXCEPTION_INFO 1
#else
#define HSA_AMD_GPU_HW_EXCEPTION_EVENT 1
#endif

/* --- system event handlers ----------------------------------------------------- */

typedef struct handler {
    hsa_amd_system_event_callback_t callback;
    void *data;
} handler;

static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static handler handlers[16];
static int n_handlers;

SIM_API hsa_status_t hsa_amd_register_system_event_handler(hsa_amd_system_event_callback_t callback,
                                                           void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_mutex_lock(&handler_lock);
    hsa_status_t st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    if (n_handlers < (int)(sizeof handlers / sizeof *handlers)) {
        handlers[n_handlers++] = (handler){callback, data};
        st = HSA_STATUS_SUCCESS;
    }
    pthread_mutex_unlock(&handler_lock);
    return st;
}

/* Delivers an event; true when some handler returned success.  ROCR treats
 * an unhandled GPU fault as fatal. */
static bool raise_event(const hsa_amd_event_t *event)
{
    pthread_mutex_lock(&handler_lock);
    handler copy[16];
    int n = n_handlers;
    memcpy(copy, handlers, sizeof copy);
    pthread_mutex_unlock(&handler_lock);
    bool handled = false;
    for (int i = 0; i < n; i++)
        handled |= copy[i].callback(event, copy[i].data) == HSA_STATUS_SUCCESS;
    return handled;
}

/* What ROCR 5.2.3's Runtime::VMFaultHandler makes of KFD's memory exception
 * for a page the GPU's page tables do not map.  KFD (kfd_int_process_v9.c
 * event_interrupt_wq_v9, kfd_events.c kfd_signal_vm_fault_event) reports
 * va = page_addr << PAGE_SHIFT, the faulting 4 KiB page, with NotPresent
 * from the protection fault's VALID bit and imprecise = 0; the handler turns
 * NotPresent into HSA_AMD_MEMORY_FAULT_PAGE_NOT_PRESENT, calls every
 * handler, and when none returned success prints its message (unless
 * HSA_ENABLE_VM_FAULT_MESSAGE=0) and aborts.  The message names the node and
 * the agent handle. */
void sim_events_memory_fault(sim_agent *agent, uint64_t address)
{
    uint64_t page = address & ~(uint64_t)4095;
    hsa_amd_event_t event;
    memset(&event, 0, sizeof event);
    event.event_type = HSA_AMD_GPU_MEMORY_FAULT_EVENT;
    event.memory_fault.agent = (hsa_agent_t){(uint64_t)(uintptr_t)agent};
    event.memory_fault.virtual_address = page;
    event.memory_fault.fault_reason_mask = HSA_AMD_MEMORY_FAULT_PAGE_NOT_PRESENT;
    if (!raise_event(&event)) {
        const char *quiet = getenv("HSA_ENABLE_VM_FAULT_MESSAGE");
        if (!quiet || strcmp(quiet, "0") != 0)
            fprintf(stderr,
                    "Memory access fault by GPU node-%u (Agent handle: %p) on address %p. Reason: "
                    "Page not present or supervisor privilege.\n",
                    agent->node_id, (void *)agent, (void *)(uintptr_t)page);
        abort(); /* ROCR's VM fault handler when nobody handles the event */
    }
}

/* --- how a loss is experienced -------------------------------------------------- */

typedef enum { KERNEL_SIGBUS, KERNEL_SILENT, KERNEL_RESET } kernel_mode;

static void lose_agent(sim_agent *a, kernel_mode mode)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&a->dead, &expected, 1))
        return; /* each loss once */
    /* Its memory is gone from every GPU's reach (sim_memory_accessible). */
    sim_memory_access_changed();
    switch (mode) {
    case KERNEL_SILENT:
        sim_queues_kill_agent(a, HSA_STATUS_SUCCESS); /* stop, no callback */
        break;
    case KERNEL_SIGBUS:
        sim_queues_kill_agent(a, HSA_STATUS_ERROR);
        sim_signals_wake_all();
        break;
    case KERNEL_RESET: {
        sim_memory_lose_vram(a);
        sim_queues_kill_agent(a, HSA_STATUS_ERROR);
        sim_signals_wake_all();
        hsa_amd_event_t event;
        memset(&event, 0, sizeof event);
        event.event_type = (hsa_amd_event_type_t)HSA_AMD_GPU_HW_EXCEPTION_EVENT;
#ifdef SIM_HW_EXCEPTION_INFO
        event.hw_exception.agent = (hsa_agent_t){(uint64_t)(uintptr_t)a};
        event.hw_exception.reset_type = HSA_AMD_HW_EXCEPTION_RESET_TYPE_OTHER;
        event.hw_exception.reset_cause = HSA_AMD_HW_EXCEPTION_CAUSE_GPU_HANG;
#else
        event.memory_fault.agent = (hsa_agent_t){(uint64_t)(uintptr_t)a};
#endif
        if (!raise_event(&event)) {
            fprintf(stderr, "HW Exception by GPU node-%u (Agent handle: %p) reason: GPU Hang\n",
                    a->node_id, (void *)a);
            abort(); /* ROCR's behaviour when nobody handles the event */
        }
        break;
    }
    }
}

/* --- where the tree is ----------------------------------------------------------- */

static char root[4096];

/* One hold per tree the process initialised the runtime over (a process may
 * run over several trees in turn, as tests do; KFD has one, but a process
 * holds it for its life): each kept for the process's life, closed by exec. */
enum { MAX_HOLDS = 32 };
static struct hold {
    char root[4096];
    int fd;
} holds[MAX_HOLDS];
static int n_holds;
static int holder_fd = -1; /* the current tree's */

static uint64_t identity_of(const topo_node *n)
{
    return (uint64_t)n->domain << 16 | n->location_id;
}

/* A child forked without exec has no KFD state of its own (it belongs to
 * the parent's address space): it must not keep the parent's holds. */
static void drop_hold_in_child(void)
{
    for (int i = 0; i < n_holds; i++)
        close(holds[i].fd);
    n_holds = 0;
    holder_fd = -1;
}

/* The current tree's hold, made if this process has none there yet. */
static int hold_for_root(void)
{
    for (int i = 0; i < n_holds; i++)
        if (strcmp(holds[i].root, root) == 0)
            return holds[i].fd;
    if (n_holds == MAX_HOLDS)
        return -1;
    char path[4200];
    snprintf(path, sizeof path, "%s/.rochp-sim/holders/%ld", root, (long)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || ftruncate(fd, 0) != 0) {
        close(fd); /* another process reuses our pid's stale file: it is gone */
        return -1;
    }
    char exe[1024] = "?";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0)
        exe[n] = '\0';
    dprintf(fd, "pid %ld\nexe %s\n", (long)getpid(), exe);
    snprintf(holds[n_holds].root, sizeof holds[n_holds].root, "%s", root);
    holds[n_holds++].fd = fd;
    return fd;
}

/* Records this process as a holder of every GPU present now. */
static void register_holder(void)
{
    static bool atfork_set;
    if (!atfork_set && pthread_atfork(NULL, NULL, drop_hold_in_child) == 0)
        atfork_set = true;
    char path[4200];
    snprintf(path, sizeof path, "%s/.rochp-sim/holders", root);
    char parent[4200];
    snprintf(parent, sizeof parent, "%s/.rochp-sim", root);
    if (mkdir(parent, 0755) != 0 && errno != EEXIST)
        return; /* a read-only tree (a capture): nobody can unplug it anyway */
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return;
    holder_fd = hold_for_root();
    if (holder_fd < 0)
        return;
    for (uint32_t i = 0; i < sim_rt.n_agents; i++)
        if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_GPU)
            dprintf(holder_fd, "gpu %" PRIu64 "\n", identity_of(&sim_rt.agents[i].node));
}

/* --- the watcher ------------------------------------------------------------------ */

static pthread_t watcher;
static int stop_pipe[2] = {-1, -1};
static int inotify_fd = -1;
static uint64_t last_fault_seq;
static bool watching;

static kernel_mode parse_mode(const char *s)
{
    if (strncmp(s, "silent", 6) == 0)
        return KERNEL_SILENT;
    if (strncmp(s, "reset", 5) == 0)
        return KERNEL_RESET;
    return KERNEL_SIGBUS;
}

static sim_agent *agent_by_identity(uint64_t identity)
{
    for (uint32_t i = 0; i < sim_rt.n_agents; i++)
        if (sim_rt.agents[i].type == HSA_DEVICE_TYPE_GPU &&
            identity_of(&sim_rt.agents[i].node) == identity)
            return &sim_rt.agents[i];
    return NULL;
}

/* The fault notice: "seq N", "mode M", then "gpu <identity>" lines. */
static void read_fault_notice(void)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/.rochp-sim/fault", root);
    FILE *f = fopen(path, "re");
    if (!f)
        return;
    uint64_t seq = 0, identity;
    char mode[16] = "sigbus", line[128];
    sim_agent *lost[64];
    int n_lost = 0;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "seq %" SCNu64, &seq) == 1)
            continue;
        if (sscanf(line, "mode %15s", mode) == 1)
            continue;
        if (sscanf(line, "gpu %" SCNu64, &identity) == 1 && n_lost < 64) {
            sim_agent *a = agent_by_identity(identity);
            if (a)
                lost[n_lost++] = a;
        }
    }
    fclose(f);
    if (seq <= last_fault_seq)
        return;
    last_fault_seq = seq;
    for (int i = 0; i < n_lost; i++)
        lose_agent(lost[i], parse_mode(mode));
    /* Done stopping queues and setting signals: the simulated kernel may
     * now send its SIGBUS (the real one does both before the signal). */
    if (holder_fd >= 0)
        dprintf(holder_fd, "ack %" PRIu64 "\n", seq);
}

/* GPUs that left the tree without a notice just go dead. */
static void check_tree(void)
{
    topo_snapshot *snap = NULL;
    if (topo_snapshot_read_parts(root, TOPO_READ_DEVICES, &snap, NULL) != ROCHP_OK)
        return;
    for (uint32_t i = 0; i < sim_rt.n_agents; i++) {
        sim_agent *a = &sim_rt.agents[i];
        if (a->type != HSA_DEVICE_TYPE_GPU || a->dead)
            continue;
        bool present = false;
        for (uint32_t k = 0; k < snap->n_nodes && !present; k++)
            present = snap->nodes[k].simd_count && identity_of(&snap->nodes[k]) == identity_of(&a->node) &&
                      (a->node.unique_id == 0 || snap->nodes[k].unique_id == a->node.unique_id);
        if (!present)
            lose_agent(a, KERNEL_SILENT);
    }
    topo_snapshot_free(snap);
}

static void *watch_main(void *arg)
{
    (void)arg;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        struct pollfd fds[2] = {{stop_pipe[0], POLLIN, 0}, {inotify_fd, POLLIN, 0}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (fds[0].revents)
            break;
        bool fault = false, tree = false;
        ssize_t n = read(inotify_fd, buf, sizeof buf);
        for (ssize_t off = 0; n > 0 && off < n;) {
            const struct inotify_event *e = (const void *)(buf + off);
            if (e->len && strcmp(e->name, "fault") == 0)
                fault = true;
            if (e->len && strcmp(e->name, "generation_id") == 0)
                tree = true;
            off += (ssize_t)sizeof *e + e->len;
        }
        if (fault)
            read_fault_notice();
        if (tree)
            check_tree();
    }
    return NULL;
}

void sim_events_start(void)
{
    snprintf(root, sizeof root, "%s", topo_sysfs_root());
    register_holder();
    if (pipe2(stop_pipe, O_CLOEXEC) != 0)
        return;
    inotify_fd = inotify_init1(IN_CLOEXEC);
    char path[4200];
    snprintf(path, sizeof path, "%s/.rochp-sim", root);
    /* Both files are replaced by rename: watch for entries moved in. */
    if (inotify_fd >= 0)
        inotify_add_watch(inotify_fd, path, IN_MOVED_TO | IN_CLOSE_WRITE);
    snprintf(path, sizeof path, "%s/topology", root);
    if (inotify_fd >= 0)
        inotify_add_watch(inotify_fd, path, IN_MOVED_TO | IN_CLOSE_WRITE);
    /* A notice already there belongs to an earlier fault; none: this tree's
     * first is yet to come (an earlier tree's count does not carry over). */
    last_fault_seq = 0;
    snprintf(path, sizeof path, "%s/.rochp-sim/fault", root);
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "seq %" SCNu64, &last_fault_seq) != 1)
            last_fault_seq = 0;
        fclose(f);
    }
    if (inotify_fd >= 0 && pthread_create(&watcher, NULL, watch_main, NULL) == 0)
        watching = true;
}

void sim_events_stop(void)
{
    /* Nobody acts on notices now (rochp-sim stops waiting for our ack); the
     * next init's "gpu" lines say we are back. */
    if (holder_fd >= 0)
        dprintf(holder_fd, "idle\n");
    if (watching) {
        if (write(stop_pipe[1], "x", 1) != 1) {
            /* the pipe cannot be full: one byte per stop */
        }
        pthread_join(watcher, NULL);
        watching = false;
    }
    if (inotify_fd >= 0)
        close(inotify_fd);
    inotify_fd = -1;
    for (int i = 0; i < 2; i++) {
        if (stop_pipe[i] >= 0)
            close(stop_pipe[i]);
        stop_pipe[i] = -1;
    }
    pthread_mutex_lock(&handler_lock);
    n_handlers = 0;
    pthread_mutex_unlock(&handler_lock);
}
