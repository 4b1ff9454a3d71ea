#include "ops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "topology/diff.h"
#include "topology/print.h"

#define STATE_DIR ".rochp-sim"
#define ASIDE_DIR ".rochp-sim/unplugged"

int vtree_parse_pci(const char *s, uint32_t *domain, uint32_t *location)
{
    unsigned d = 0, bus, dev, fn;
    char tail;
    if (sscanf(s, "%x:%x:%x.%x%c", &d, &bus, &dev, &fn, &tail) != 4) {
        d = 0;
        if (sscanf(s, "%x:%x.%x%c", &bus, &dev, &fn, &tail) != 3)
            return -1;
    }
    if (bus > 0xff || dev > 0x1f || fn > 7)
        return -1;
    *domain = d;
    *location = bus << 8 | dev << 3 | fn;
    return 0;
}

static void format_pci(char out[24], uint64_t identity)
{
    uint32_t loc = identity & 0xffff;
    snprintf(out, 24, "%04x:%02x:%02x.%x", (unsigned)(identity >> 16), loc >> 8,
             (loc >> 3) & 0x1f, loc & 7);
}

/* --- locking and reporting ------------------------------------------------- */

static int lock_tree(const char *dir, rochp__error *err)
{
    char path[FS_PATH_MAX];
    if (strlen(dir) > FS_DIR_MAX) {
        rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "directory name longer than %d bytes",
                   FS_DIR_MAX);
        return -1;
    }
    if (fs_mkdir(AT_FDCWD, dir, err) != ROCHP_OK)
        return -1;
    fs_path(path, sizeof path, "%s/" STATE_DIR, dir);
    if (fs_mkdir(AT_FDCWD, path, err) != ROCHP_OK)
        return -1;
    fs_path(path, sizeof path, "%s/" STATE_DIR "/lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || flock(fd, LOCK_EX) != 0) {
        rochp__fail(err, ROCHP_ERROR_IO, "%s: cannot lock: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static void unlock_tree(int fd)
{
    if (fd >= 0)
        close(fd);
}

/* Prints what readers will see change, computed by the same reader and diff
 * rochp uses: the simulator's report is a check of the library too. */
static void report_change(FILE *report, const topo_snapshot *before, const char *dir,
                          const uint64_t *known, size_t n_known)
{
    if (!report)
        return;
    topo_snapshot *after;
    rochp__error err = {0};
    if (topo_snapshot_read(dir, &after, &err) != ROCHP_OK) {
        fprintf(report, "(cannot re-read the tree: %s)\n", err.message);
        return;
    }
    topo_diff diff;
    if (before && topo_diff_compute(before, after, known, n_known, &diff, &err) == ROCHP_OK) {
        topo_print_diff(report, &diff);
        topo_diff_free(&diff);
    }
    if (after->has_generation)
        fprintf(report, "generation %" PRIu64 "\n", after->generation);
    topo_snapshot_free(after);
}

/* Every change starts the same way: take the tree's lock and, when the
 * change is to be reported, remember what readers saw before it.  Returns
 * the lock fd, or -1 with err set. */
static int begin_change(const char *dir, FILE *report, topo_snapshot **before, rochp__error *err)
{
    *before = NULL;
    char topo[FS_PATH_MAX];
    if (!fs_path(topo, sizeof topo, "%s/topology", dir) || !fs_exists(AT_FDCWD, topo)) {
        rochp__fail(err, ROCHP_ERROR_NOT_FOUND,
                   "%s: no virtual KFD tree here (make one with rochp-sim create)", dir);
        return -1;
    }
    int lock = lock_tree(dir, err);
    if (lock >= 0 && report)
        topo_snapshot_read(dir, before, NULL);
    return lock;
}

/* --- create ---------------------------------------------------------------- */

static rochp_status refuse_existing(const char *dir, rochp__error *err)
{
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/topology", dir);
    if (fs_exists(AT_FDCWD, path))
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                          "%s already exists; remove it or choose another directory", path);
    return ROCHP_OK;
}

rochp_status vtree_create_model(const char *dir, const vtree_model *m, uint32_t gpus,
                                uint32_t partitions, FILE *report, rochp__error *err)
{
    rochp__error local_err;
    if (!err) /* callers may not want the message; the status still needs a home */
        err = &local_err;
    int lock = lock_tree(dir, err);
    if (lock < 0)
        return err->status;
    rochp_status st = refuse_existing(dir, err);
    vtree_tree t = {0};
    if (st == ROCHP_OK) {
        vtree_model_add_cpus(&t, m);
        for (uint32_t b = 0; b < gpus; b++) {
            uint32_t domain, bus;
            vtree_model_board_address(m, b, &domain, &bus);
            uint64_t identity = (uint64_t)domain << 16 | bus << 8;
            vtree_model_add_board(&t, m, partitions, domain, bus,
                                  vtree_make_id(m->name, b, identity));
        }
        /* KFD counts one generation per GPU node added, from 1 at boot
         * (the captures: 1 GPU -> 2, 32 partitions -> 33). */
        t.has_generation = true;
        t.generation = 1 + (uint64_t)gpus * partitions;
        t.has_sysprops = true;
        vtree_props_set(&t, &t.sysprops, "platform_oem", 35498446626881ull);
        vtree_props_set(&t, &t.sysprops, "platform_id", 71791775140929ull);
        vtree_props_set(&t, &t.sysprops, "platform_rev", 2);
        st = vtree_tree_publish(&t, dir, err);
    }
    vtree_tree_free(&t);
    unlock_tree(lock);
    if (st == ROCHP_OK && report) {
        fprintf(report, "created %s: %u x %s (%s), %u partition(s) each\n", dir, gpus, m->name,
                m->product, partitions);
        report_change(report, NULL, dir, NULL, 0);
    }
    return st;
}

rochp_status vtree_create_from(const char *dir, const char *fixture, FILE *report,
                               rochp__error *err)
{
    rochp__error local_err;
    if (!err) /* callers may not want the message; the status still needs a home */
        err = &local_err;
    if (strlen(fixture) > FS_DIR_MAX)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "fixture path longer than %d bytes",
                          FS_DIR_MAX);
    char src[FS_PATH_MAX], dst[4200];
    fs_path(src, sizeof src, "%s/topology", fixture);
    fs_path(dst, sizeof dst, "%s/topology", dir);
    int lock = lock_tree(dir, err);
    if (lock < 0)
        return err->status;
    rochp_status st = refuse_existing(dir, err);
    if (st == ROCHP_OK && !fs_exists(AT_FDCWD, src))
        st = rochp__fail(err, ROCHP_ERROR_NOT_FOUND, "%s: no topology directory here", src);
    if (st == ROCHP_OK)
        st = fs_copy_tree(AT_FDCWD, src, AT_FDCWD, dst, err);
    unlock_tree(lock);
    if (st == ROCHP_OK && report) {
        fprintf(report, "created %s from %s\n", dir, fixture);
        report_change(report, NULL, dir, NULL, 0);
    }
    return st;
}

/* --- unplug ---------------------------------------------------------------- */

static int64_t find_by_identity(const vtree_tree *t, uint64_t identity)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (vtree_node_is_gpu(&t->nodes[i]) && vtree_node_identity(&t->nodes[i]) == identity)
            return i;
    return -1;
}

/* The board of node i: every partition sharing its unique_id. */
static void mark_board(const vtree_tree *t, uint32_t i, bool *in_board)
{
    uint64_t uid = vtree_props_get_or(&t->nodes[i].props, "unique_id", 0);
    for (uint32_t k = 0; k < t->n; k++)
        in_board[k] = k == i || (uid != 0 && vtree_node_is_gpu(&t->nodes[k]) &&
                                 vtree_props_get_or(&t->nodes[k].props, "unique_id", 0) == uid);
}

/* Link targets of the board, by identity, so that plugging back can find
 * them again after the other nodes were renumbered. */
static rochp_status write_peers(const vtree_tree *t, const bool *in_board, int aside_fd,
                                rochp__error *err)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    uint32_t k = 0;
    for (uint32_t i = 0; i < t->n; i++) {
        if (in_board[i])
            fprintf(f, "%u board %u\n", i, k++);
        else if (vtree_node_is_gpu(&t->nodes[i]))
            fprintf(f, "%u gpu %" PRIu64 "\n", i, vtree_node_identity(&t->nodes[i]));
        else
            fprintf(f, "%u cpu %u\n", i, i);
    }
    fclose(f);
    rochp_status st = fs_write_file(aside_fd, "peers", buf, len, err);
    free(buf);
    return st;
}

/* --- simulated kernel behaviour on removal ------------------------------------- */

typedef enum { KERNEL_SIGBUS, KERNEL_SILENT, KERNEL_RESET } kernel_mode;

static rochp_status kernel_mode_from_env(kernel_mode *mode, const char **name, rochp__error *err)
{
    const char *env = getenv("ROCHP_SIM_KERNEL");
    if (!env || !*env || strcmp(env, "sigbus") == 0) {
        *mode = KERNEL_SIGBUS;
        *name = "sigbus";
    } else if (strcmp(env, "silent") == 0) {
        *mode = KERNEL_SILENT;
        *name = "silent";
    } else if (strcmp(env, "reset") == 0) {
        *mode = KERNEL_RESET;
        *name = "reset";
    } else {
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                          "ROCHP_SIM_KERNEL=%s: expected sigbus, silent or reset", env);
    }
    return ROCHP_OK;
}

/* What every runtime on the tree reads before the tree changes: which GPUs
 * go and how their processes see it (hsasim's events.c). */
static rochp_status write_fault_notice(const char *dir, const char *mode, const uint64_t *ids,
                                       uint32_t n, uint64_t *seq_out, rochp__error *err)
{
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/" STATE_DIR "/fault-seq", dir);
    uint64_t seq = 0;
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "%" SCNu64, &seq) != 1)
            seq = 0;
        fclose(f);
    }
    seq++;
    f = fopen(path, "we");
    if (!f)
        return rochp__fail(err, ROCHP_ERROR_IO, "%s: %s", path, strerror(errno));
    fprintf(f, "%" PRIu64 "\n", seq);
    fclose(f);
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    if (!m)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    fprintf(m, "seq %" PRIu64 "\nmode %s\n", seq, mode);
    *seq_out = seq;
    for (uint32_t i = 0; i < n; i++)
        fprintf(m, "gpu %" PRIu64 "\n", ids[i]);
    fclose(m);
    fs_path(path, sizeof path, "%s/" STATE_DIR, dir);
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rochp_status st = fd < 0 ? rochp__fail(err, ROCHP_ERROR_IO, "%s: %s", path, strerror(errno))
                             : fs_write_file_atomic(fd, "fault", buf, len, err);
    if (fd >= 0)
        close(fd);
    free(buf);
    return st;
}

/* A process that initialised the runtime while a GPU was present (hsasim
 * registers it; its flock on the file lasts until it exits or execs). */
typedef struct holder {
    long pid;
    int fd; /* open, for waiting on the holder's lock */
    char exe[256];
    uint64_t ids[256];
    uint32_t n_ids;
} holder;

/* The live holders (stale files are removed); with ids, only those holding
 * one of them.  *out is malloc'd; each fd is open. */
static uint32_t find_holders(const char *dir, const uint64_t *ids, uint32_t n, holder **out)
{
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/" STATE_DIR "/holders", dir);
    *out = NULL;
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint32_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) { /* nobody holds it: gone */
            unlinkat(dirfd(d), e->d_name, 0);
            close(fd);
            continue;
        }
        holder h = {.fd = fd};
        FILE *f = fdopen(dup(fd), "r");
        char line[1100];
        while (f && fgets(line, sizeof line, f)) {
            uint64_t id;
            if (sscanf(line, "pid %ld", &h.pid) == 1)
                continue;
            if (strncmp(line, "exe ", 4) == 0) {
                snprintf(h.exe, sizeof h.exe, "%.*s", (int)strcspn(line + 4, "\n"), line + 4);
                continue;
            }
            if (sscanf(line, "gpu %" SCNu64, &id) == 1 && h.n_ids < 256)
                h.ids[h.n_ids++] = id;
        }
        if (f)
            fclose(f);
        bool relevant = n == 0;
        for (uint32_t i = 0; i < h.n_ids && !relevant; i++)
            for (uint32_t k = 0; k < n && !relevant; k++)
                relevant = h.ids[i] == ids[k];
        holder *grown = relevant && h.pid > 0 ? realloc(*out, (count + 1) * sizeof *grown) : NULL;
        if (!grown) {
            close(fd);
            continue;
        }
        *out = grown;
        grown[count++] = h;
    }
    closedir(d);
    return count;
}

/* Waits (up to 5 s, less if the holder dies) until the holder has acted on
 * fault notice seq: the kernel stops a process's queues and sets its signals
 * before it sends the SIGBUS, and a reset reaches the runtime as an event
 * before the device leaves the topology; the simulator keeps both orders. */
static void wait_for_ack(const holder *h, uint64_t seq)
{
    char want[64];
    snprintf(want, sizeof want, "ack %" PRIu64 "\n", seq);
    for (int i = 0; i < 500; i++) {
        if (flock(h->fd, LOCK_SH | LOCK_NB) == 0) { /* it let go: nobody will ack */
            flock(h->fd, LOCK_UN);
            return;
        }
        /* The file only grows (hsasim appends): the end holds the news. */
        char buf[8192];
        struct stat sb;
        off_t at = fstat(h->fd, &sb) == 0 && sb.st_size > (off_t)sizeof buf - 1
                       ? sb.st_size - (off_t)(sizeof buf - 1)
                       : 0;
        ssize_t n = pread(h->fd, buf, sizeof buf - 1, at);
        if (n > 0) {
            buf[n] = '\0';
            if (strstr(buf, want))
                return;
            /* Its runtime shut down since its last init: nobody will ack. */
            const char *idle = NULL;
            for (const char *p = buf; (p = strstr(p, "idle\n")) != NULL; p++)
                idle = p;
            if (idle && !strstr(idle, "gpu "))
                return;
        }
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void close_holders(holder *h, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        close(h[i].fd);
    free(h);
}

/* Blocks until every holder has let go of its lock. */
static void wait_for_holders(const holder *h, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        while (flock(h[i].fd, LOCK_EX) != 0 && errno == EINTR)
            ;
}

rochp_status vtree_unplug(const char *dir, const char *pci, unsigned flags, FILE *report,
                          rochp__error *err)
{
    rochp__error local_err;
    if (!err) /* callers may not want the message; the status still needs a home */
        err = &local_err;
    uint32_t domain, location;
    if (vtree_parse_pci(pci, &domain, &location) != 0)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                           "'%s' is not a PCI address (dddd:bb:dd.f)", pci);
    topo_snapshot *before;
    int lock = begin_change(dir, report, &before, err);
    if (lock < 0)
        return err->status;
    vtree_tree t = {0}, board = {0};
    bool *in_board = NULL;
    char aside[FS_PATH_MAX] = "";
    int aside_fd = -1;
    rochp_status st = vtree_tree_load(dir, &t, err);
    if (st != ROCHP_OK)
        goto out;
    int64_t target = find_by_identity(&t, (uint64_t)domain << 16 | location);
    if (target < 0) {
        st = rochp__fail(err, ROCHP_ERROR_NOT_FOUND, "%s: no GPU at %s", dir, pci);
        goto out;
    }
    in_board = calloc(t.n, sizeof *in_board);
    if (!in_board) {
        st = rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
        goto out;
    }
    mark_board(&t, (uint32_t)target, in_board);
    uint32_t removed = 0, first = UINT32_MAX;
    for (uint32_t i = 0; i < t.n; i++) {
        if (!in_board[i])
            continue;
        vtree_tree_add_copy(&board, &t.nodes[i]);
        removed++;
        if (first == UINT32_MAX)
            first = i;
    }
    char board_pci[24];
    format_pci(board_pci, vtree_node_identity(&t.nodes[first]));
    fs_path(aside, sizeof aside, "%s/" ASIDE_DIR, dir);
    st = fs_mkdir(AT_FDCWD, aside, err);
    fs_path(aside, sizeof aside, "%s/" ASIDE_DIR "/%s", dir, board_pci);
    if (st == ROCHP_OK)
        st = fs_remove_tree(AT_FDCWD, aside, err); /* a stale copy from a crashed run */
    if (st == ROCHP_OK)
        st = fs_mkdir(AT_FDCWD, aside, err);
    if (st == ROCHP_OK && (aside_fd = open(aside, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        st = rochp__fail(err, ROCHP_ERROR_IO, "%s: %s", aside, strerror(errno));
    if (st == ROCHP_OK)
        st = fs_mkdir(aside_fd, "topology", err);
    if (st == ROCHP_OK) {
        int topo = openat(aside_fd, "topology", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        st = topo < 0 ? rochp__fail(err, ROCHP_ERROR_IO, "%s/topology: %s", aside, strerror(errno))
                      : vtree_tree_write_nodes(&board, topo, "nodes", err);
        if (topo >= 0)
            close(topo);
    }
    if (st == ROCHP_OK)
        st = write_peers(&t, in_board, aside_fd, err);
    kernel_mode mode = KERNEL_SIGBUS;
    const char *mode_name = "sigbus";
    if (st == ROCHP_OK)
        st = kernel_mode_from_env(&mode, &mode_name, err);
    uint64_t ids[256];
    uint32_t n_ids = 0;
    for (uint32_t i = 0; i < t.n && n_ids < 256; i++)
        if (in_board[i])
            ids[n_ids++] = vtree_node_identity(&t.nodes[i]);
    if (st == ROCHP_OK) {
        vtree_tree_remove_nodes(&t, in_board);
        /* One generation per KFD node removed, as kfd_topology_remove_device does. */
        t.generation += removed;
        t.has_generation = true;
        st = vtree_tree_stage(&t, dir, err);
    }
    /* silent: the device leaves the topology, and is dead, with nobody told
     * and nobody waited for: the tree changes first, so that whatever a
     * process sees of the death (a peer's fault on its memory) the topology
     * already explains. */
    bool silent = mode == KERNEL_SILENT;
    if (st == ROCHP_OK && silent && vtree_tree_commit(dir, t.has_generation, t.generation) != 0)
        st = rochp__fail(err, ROCHP_ERROR_IO, "%s/topology: cannot swap in the new tree: %s", dir,
                         strerror(errno));
    uint64_t seq = 0;
    if (st == ROCHP_OK)
        st = write_fault_notice(dir, mode_name, ids, n_ids, &seq, err);
    holder *holders = NULL;
    uint32_t n_holders = 0;
    if (st == ROCHP_OK)
        n_holders = find_holders(dir, ids, n_ids, &holders);
    if (mode == KERNEL_RESET || silent) {
        /* Each holder's runtime has its event before the topology changes
         * (KFD signals the HW exception when the reset starts); nobody is
         * waited for beyond that.  silent: the unplug is over once every
         * holder's device is dead (hardware is dead at once; the simulated
         * one dies when the holder's runtime reads the notice), so that no
         * work runs on it after the call returns. */
        for (uint32_t i = 0; st == ROCHP_OK && i < n_holders; i++)
            wait_for_ack(&holders[i], seq);
        close_holders(holders, n_holders);
        holders = NULL;
        n_holders = 0;
    }
    for (uint32_t i = 0; st == ROCHP_OK && i < n_holders; i++)
        if (holders[i].pid == (long)getpid() && (flags & VTREE_UNPLUG_WAIT))
            st = rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                             "this process holds the board itself: it cannot wait for itself to "
                             "let go (unplug without waiting)");
    /* KFD's SIGBUS for hot-unplug: si_code SI_USER, which kill() gives;
     * after the process has seen its queues stop (its own, when the caller
     * is a holder, is applied by its runtime's watcher thread meanwhile). */
    for (uint32_t i = 0; st == ROCHP_OK && i < n_holders; i++) {
        wait_for_ack(&holders[i], seq);
        kill((pid_t)holders[i].pid, SIGBUS);
    }
    if (st == ROCHP_OK && n_holders && !(flags & VTREE_UNPLUG_WAIT)) {
        /* The removal completes when the holders let go; a detached child
         * (double fork, so nobody must reap it) keeps the tree lock until then. */
        if (report) {
            fprintf(report, "removal of %s waits for %u process(es) to let go (exit or exec):",
                    pci, n_holders);
            for (uint32_t i = 0; i < n_holders; i++)
                fprintf(report, " %ld", holders[i].pid);
            fprintf(report, "\n");
            fflush(report);
        }
        pid_t child = fork();
        if (child == 0) {
            if (fork() == 0) {
                wait_for_holders(holders, n_holders);
                _exit(vtree_tree_commit(dir, t.has_generation, t.generation) == 0 ? 0 : 1);
            }
            _exit(0);
        }
        if (child < 0)
            st = rochp__fail(err, ROCHP_ERROR_IO, "fork: %s", strerror(errno));
        else
            waitpid(child, NULL, 0);
        close_holders(holders, n_holders);
        report = NULL; /* nothing changed yet to report */
        goto out;
    }
    if (st == ROCHP_OK)
        wait_for_holders(holders, n_holders);
    close_holders(holders, n_holders);
    if (st == ROCHP_OK && !silent && vtree_tree_commit(dir, t.has_generation, t.generation) != 0)
        st = rochp__fail(err, ROCHP_ERROR_IO, "%s/topology: cannot swap in the new tree: %s", dir,
                         strerror(errno));
    if (st != ROCHP_OK && aside[0])
        fs_remove_tree(AT_FDCWD, aside, NULL);
out:
    if (aside_fd >= 0)
        close(aside_fd);
    free(in_board);
    vtree_tree_free(&board);
    vtree_tree_free(&t);
    if (st == ROCHP_OK)
        report_change(report, before, dir, NULL, 0);
    topo_snapshot_free(before);
    unlock_tree(lock);
    return st;
}

/* --- plug back -------------------------------------------------------------- */

typedef struct peer {
    enum { PEER_NONE, PEER_BOARD, PEER_GPU, PEER_CPU } kind;
    uint64_t value;
} peer;

static rochp_status read_peers(const char *aside, peer **out, uint32_t *n_out, rochp__error *err)
{
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/peers", aside);
    FILE *f = fopen(path, "re");
    if (!f)
        return rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s: cannot open: %s", path,
                          strerror(errno));
    peer *peers = NULL;
    uint32_t n = 0;
    char kind[16];
    unsigned index;
    uint64_t value;
    rochp_status st = ROCHP_OK;
    for (unsigned line = 1; fscanf(f, "%u %15s %" SCNu64, &index, kind, &value) == 3; line++) {
        if (index != n || index > TOPO_MAX_NODES) {
            st = rochp__fail(err, ROCHP_ERROR_MALFORMED, "%s:%u: out of order", path, line);
            break;
        }
        peer *grown = realloc(peers, (n + 1) * sizeof *grown);
        if (!grown) {
            st = rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
            break;
        }
        peers = grown;
        peers[n].kind = strcmp(kind, "board") == 0 ? PEER_BOARD
                        : strcmp(kind, "gpu") == 0 ? PEER_GPU
                        : strcmp(kind, "cpu") == 0 ? PEER_CPU
                                                   : PEER_NONE;
        peers[n].value = value;
        n++;
    }
    fclose(f);
    if (st != ROCHP_OK) {
        free(peers);
        return st;
    }
    *out = peers;
    *n_out = n;
    return ROCHP_OK;
}

/* Finds the aside board one of whose nodes sits at identity. */
static rochp_status find_aside(const char *dir, uint64_t identity, char *aside, size_t size,
                               rochp__error *err)
{
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/" ASIDE_DIR, dir);
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            fs_path(aside, size, "%s/%s", path, e->d_name);
            vtree_tree b;
            if (vtree_tree_load(aside, &b, NULL) != ROCHP_OK)
                continue;
            bool hit = find_by_identity(&b, identity) >= 0;
            vtree_tree_free(&b);
            if (hit) {
                closedir(d);
                return ROCHP_OK;
            }
        }
        closedir(d);
    }
    char pci[24];
    format_pci(pci, identity);
    return rochp__fail(err, ROCHP_ERROR_NOT_FOUND, "%s: no board was unplugged from %s", dir, pci);
}

static bool has_link_to(const vtree_props *links, uint32_t n, uint32_t to)
{
    for (uint32_t i = 0; i < n; i++)
        if (vtree_props_get_or(&links[i], "node_to", UINT64_MAX) == to)
            return true;
    return false;
}

/* Re-targets the links of a returning node; those whose peer is gone are
 * dropped.  Peers get the reverse link they lost at unplug. */
static void reattach_links(vtree_tree *t, uint32_t node, uint32_t first, const peer *peers,
                           uint32_t n_peers, bool p2p)
{
    vtree_node *n = &t->nodes[node];
    vtree_props *links = p2p ? n->p2p : n->io;
    uint32_t count = p2p ? n->n_p2p : n->n_io, kept = 0;
    for (uint32_t i = 0; i < count; i++) {
        vtree_props l = links[i];
        uint64_t old_to = vtree_props_get_or(&l, "node_to", UINT64_MAX);
        int64_t to = -1;
        if (old_to < n_peers) {
            const peer *p = &peers[old_to];
            if (p->kind == PEER_BOARD)
                to = first + (int64_t)p->value;
            else if (p->kind == PEER_GPU)
                to = find_by_identity(t, p->value);
            else if (p->kind == PEER_CPU && p->value < first &&
                     !vtree_node_is_gpu(&t->nodes[p->value]))
                to = (int64_t)p->value;
        }
        if (to < 0 || (uint32_t)to >= t->n) {
            for (uint32_t k = 0; k < l.n; k++)
                free(l.keys[k]);
            free(l.keys);
            free(l.vals);
            continue;
        }
        vtree_props_set(t, &l, "node_from", node);
        vtree_props_set(t, &l, "node_to", (uint64_t)to);
        links[kept++] = l;
    }
    if (p2p)
        n->n_p2p = kept;
    else
        n->n_io = kept;
    vtree_node_sync_counts(t, n);
}

static void add_reverse_links(vtree_tree *t, uint32_t node, uint32_t first, bool p2p)
{
    vtree_node *n = &t->nodes[node];
    uint32_t count = p2p ? n->n_p2p : n->n_io;
    for (uint32_t i = 0; i < count; i++) {
        const vtree_props *l = p2p ? &t->nodes[node].p2p[i] : &t->nodes[node].io[i];
        uint64_t to = vtree_props_get_or(l, "node_to", UINT64_MAX);
        if (to >= first || to >= t->n)
            continue; /* links inside the board come back with the board */
        vtree_node *peer_node = &t->nodes[to];
        if (has_link_to(p2p ? peer_node->p2p : peer_node->io,
                        p2p ? peer_node->n_p2p : peer_node->n_io, node))
            continue;
        vtree_props copy = {0};
        vtree_props_copy(t, &copy, l);
        vtree_props_set(t, &copy, "node_from", to);
        vtree_props_set(t, &copy, "node_to", node);
        vtree_props *slot =
            p2p ? vtree_node_add_p2p_link(t, peer_node) : vtree_node_add_io_link(t, peer_node);
        if (slot)
            *slot = copy;
        vtree_node_sync_counts(t, peer_node);
        n = &t->nodes[node];
    }
}

/* On add, the driver links a GPU to every present member of its XGMI hive
 * (both ways), whatever links it had when it left. */
static void relink_hive(vtree_tree *t, uint32_t node)
{
    uint64_t hive = vtree_props_get_or(&t->nodes[node].props, "hive_id", 0);
    if (!hive)
        return;
    uint64_t weight = 15, bandwidth = 0;
    const vtree_node *n = &t->nodes[node];
    for (uint32_t l = 0; l < n->n_io; l++) {
        if (vtree_props_get_or(&n->io[l], "type", 0) == 11) {
            weight = vtree_props_get_or(&n->io[l], "weight", weight);
            bandwidth = vtree_props_get_or(&n->io[l], "max_bandwidth", bandwidth);
            break;
        }
    }
    for (uint32_t j = 0; j < t->n; j++) {
        if (j == node || !vtree_node_is_gpu(&t->nodes[j]) ||
            vtree_props_get_or(&t->nodes[j].props, "hive_id", 0) != hive)
            continue;
        if (!has_link_to(t->nodes[node].io, t->nodes[node].n_io, j))
            vtree_add_link(t, node, j, 11, weight, bandwidth);
        if (!has_link_to(t->nodes[j].io, t->nodes[j].n_io, node))
            vtree_add_link(t, j, node, 11, weight, bandwidth);
    }
}

rochp_status vtree_plug_back(const char *dir, const char *pci, FILE *report, rochp__error *err)
{
    rochp__error local_err;
    if (!err) /* callers may not want the message; the status still needs a home */
        err = &local_err;
    uint32_t domain, location;
    if (vtree_parse_pci(pci, &domain, &location) != 0)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                           "'%s' is not a PCI address (dddd:bb:dd.f)", pci);
    uint64_t identity = (uint64_t)domain << 16 | location;
    topo_snapshot *before;
    int lock = begin_change(dir, report, &before, err);
    if (lock < 0)
        return err->status;
    vtree_tree t = {0}, board = {0};
    peer *peers = NULL;
    uint32_t n_peers = 0;
    uint64_t uid = 0;
    char aside[FS_PATH_MAX];
    rochp_status st = find_aside(dir, identity, aside, sizeof aside, err);
    if (st == ROCHP_OK)
        st = vtree_tree_load(aside, &board, err);
    if (st == ROCHP_OK)
        st = read_peers(aside, &peers, &n_peers, err);
    if (st == ROCHP_OK)
        st = vtree_tree_load(dir, &t, err);
    for (uint32_t k = 0; st == ROCHP_OK && k < board.n; k++) {
        if (find_by_identity(&t, vtree_node_identity(&board.nodes[k])) >= 0) {
            char where[24];
            format_pci(where, vtree_node_identity(&board.nodes[k]));
            st = rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                            "%s: a GPU is already at %s; unplug it first", dir, where);
        }
    }
    if (st == ROCHP_OK) {
        uint32_t first = t.n;
        uid = vtree_props_get_or(&board.nodes[0].props, "unique_id", 0);
        for (uint32_t k = 0; k < board.n; k++)
            vtree_tree_add_copy(&t, &board.nodes[k]);
        for (uint32_t k = 0; k < board.n && !t.failed; k++) {
            reattach_links(&t, first + k, first, peers, n_peers, false);
            reattach_links(&t, first + k, first, peers, n_peers, true);
        }
        for (uint32_t k = 0; k < board.n && !t.failed; k++) {
            add_reverse_links(&t, first + k, first, false);
            add_reverse_links(&t, first + k, first, true);
            relink_hive(&t, first + k);
            vtree_assign_gpu_id(&t, first + k);
            vtree_assign_render_minor(&t, first + k);
        }
        /* One generation per node added (kfd_topology_add_device). */
        t.generation += board.n;
        t.has_generation = true;
        st = vtree_tree_publish(&t, dir, err);
    }
    if (st == ROCHP_OK)
        fs_remove_tree(AT_FDCWD, aside, NULL);
    free(peers);
    vtree_tree_free(&board);
    vtree_tree_free(&t);
    if (st == ROCHP_OK)
        report_change(report, before, dir, &uid, uid ? 1 : 0);
    topo_snapshot_free(before);
    unlock_tree(lock);
    return st;
}

/* --- plug a new board ------------------------------------------------------- */

static uint64_t next_serial(const char *dir)
{
    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/" STATE_DIR "/serial", dir);
    uint64_t serial = 0;
    FILE *f = fopen(path, "re");
    if (f) {
        if (fscanf(f, "%" SCNu64, &serial) != 1)
            serial = 0;
        fclose(f);
    }
    f = fopen(path, "we");
    if (f) {
        fprintf(f, "%" PRIu64 "\n", serial + 1);
        fclose(f);
    }
    return serial + 1000; /* clear of the ids `create` derives from board numbers */
}

static bool address_used(const vtree_tree *t, const char *dir, uint32_t domain, uint32_t bus)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (vtree_node_is_gpu(&t->nodes[i]) &&
            (vtree_node_identity(&t->nodes[i]) >> 8) == ((uint64_t)domain << 8 | bus))
            return true;
    char aside[FS_PATH_MAX];
    return find_aside(dir, (uint64_t)domain << 16 | bus << 8, aside, sizeof aside, NULL) ==
           ROCHP_OK;
}

rochp_status vtree_plug_model(const char *dir, const vtree_model *m, uint32_t partitions,
                              const char *pci, FILE *report, rochp__error *err)
{
    rochp__error local_err;
    if (!err) /* callers may not want the message; the status still needs a home */
        err = &local_err;
    uint32_t domain = 0, location = 0, bus = 0;
    if (pci && (vtree_parse_pci(pci, &domain, &location) != 0 || (location & 0xff) != 0))
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                           "'%s' is not a board address (dddd:bb:00.0)", pci);
    topo_snapshot *before;
    int lock = begin_change(dir, report, &before, err);
    if (lock < 0)
        return err->status;
    vtree_tree t = {0};
    rochp_status st = vtree_tree_load(dir, &t, err);
    if (st == ROCHP_OK && pci) {
        bus = location >> 8;
        if (find_by_identity(&t, (uint64_t)domain << 16 | location) >= 0)
            st = rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT,
                            "%s: a GPU is already at %s; unplug it first", dir, pci);
    } else if (st == ROCHP_OK) {
        for (uint32_t b = 0;; b++) {
            vtree_model_board_address(m, b, &domain, &bus);
            if (!address_used(&t, dir, domain, bus))
                break;
        }
    }
    if (st == ROCHP_OK) {
        uint64_t identity = (uint64_t)domain << 16 | bus << 8;
        vtree_model_add_board(&t, m, partitions, domain, bus,
                              vtree_make_id(m->name, next_serial(dir), identity));
        t.generation += partitions;
        t.has_generation = true;
        st = vtree_tree_publish(&t, dir, err);
    }
    vtree_tree_free(&t);
    if (st == ROCHP_OK)
        report_change(report, before, dir, NULL, 0);
    topo_snapshot_free(before);
    unlock_tree(lock);
    return st;
}

/* --- list -------------------------------------------------------------------- */

rochp_status vtree_list(const char *dir, FILE *out, rochp__error *err)
{
    rochp__error local_err;
    if (!err) /* callers may not want the message; the status still needs a home */
        err = &local_err;
    if (strlen(dir) > FS_DIR_MAX)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "directory name longer than %d bytes",
                          FS_DIR_MAX);
    topo_snapshot *snap;
    rochp_status st = topo_snapshot_read(dir, &snap, err);
    if (st != ROCHP_OK)
        return st;
    topo_print_text(out, snap, dir);
    topo_snapshot_free(snap);

    char path[FS_PATH_MAX];
    fs_path(path, sizeof path, "%s/" ASIDE_DIR, dir);
    DIR *d = opendir(path);
    bool header = false;
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char aside[FS_PATH_MAX];
            fs_path(aside, sizeof aside, "%s/%s", path, e->d_name);
            vtree_tree b;
            if (vtree_tree_load(aside, &b, NULL) != ROCHP_OK)
                continue;
            if (!header)
                fprintf(out, "unplugged (kept aside, `rochp-sim plug DIR PCI` brings back):\n");
            header = true;
            fprintf(out, "  %s  %u node(s)  unique_id %" PRIu64 "\n", e->d_name, b.n,
                    b.n ? vtree_props_get_or(&b.nodes[0].props, "unique_id", 0) : 0);
            vtree_tree_free(&b);
        }
        closedir(d);
    }
    holder *holders;
    uint32_t n_holders = find_holders(dir, NULL, 0, &holders);
    if (n_holders)
        fprintf(out, "held by (processes that initialised the runtime on this tree; an unplug "
                     "under ROCHP_SIM_KERNEL=sigbus waits for them to exit or exec):\n");
    for (uint32_t i = 0; i < n_holders; i++) {
        fprintf(out, "  pid %ld  %s  GPUs:", holders[i].pid, holders[i].exe);
        for (uint32_t k = 0; k < holders[i].n_ids; k++) {
            char pci[24];
            format_pci(pci, holders[i].ids[k]);
            fprintf(out, " %s", pci);
        }
        fprintf(out, "\n");
    }
    close_holders(holders, n_holders);
    return ROCHP_OK;
}
