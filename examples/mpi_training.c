/* mpi_training: a data-parallel MPI job whose ranks survive losing a GPU,
 * in their process when they can, else through a job restart or, with
 * ULFM, without the lost process.
 *
 *   mpi_training CODE_OBJECT CHECKPOINT_DIR [--steps S] [--every K]
 *                [--placement FILE] [--poll-ms MS] [--timing] [--ulfm]
 *                [--pause-at P --pause-rank R] [--leave-in-recovery R]
 *
 * The job has L logical ranks ("parts"), L the world size at its fresh
 * start; a process holds a set of them, its own rank's until a process is
 * lost under ULFM.  Each part computes on the GPUs of its process's node:
 * weights a and b, each moved by an order-sensitive chain step, and their
 * join c = a + b, on two journaled queues (two GPUs when the node has two;
 * pipeline.co's kernels).  After each step every process sums its parts'
 * hashes of c and the processes sum those with MPI_Allreduce; the sum feeds
 * the next step's chain on a, so the parts' weights depend on each other.
 * A part's initial values and chain use its part number, so the numbers
 * are the same whichever process holds it.  At the end rank 0 prints a
 * checksum over every part's weights in part order, the same whether or
 * not the job lost a GPU, was restarted or shrank.
 *
 * Node: with --placement FILE, else $ROCHP_MPI_PLACEMENT (lines "RANK TREE";
 * '#' starts a comment; other lines, such as the job script's "spare TREE",
 * are ignored) the rank, from OMPI_COMM_WORLD_RANK (else PMI_RANK, SLURM_PROCID), points
 * ROCHP_SYSFS_ROOT at TREE before it creates its rochp context, so that
 * ranks on one machine see different (virtual) nodes.
 *
 * In-process recovery: a rochp checkpoint is taken at the start of every
 * step.  When a GPU of the node is lost without the kernel's SIGBUS (the
 * silent and reset behaviours) and another GPU of the same gfx target is
 * there, rochp_recover moves the work onto it, rochp_checkpoint_restore
 * goes back to the start of the step and the step is done again; the other
 * ranks only wait longer in the step's MPI_Allreduce.
 *
 * Coordinated checkpoint every K steps, in two phases: every process saves
 * one rochp checkpoint file with all its parts for step S,
 * DIR/rank-P.step-S.ckpt, P its smallest part (rochp_checkpoint_save_path:
 * written aside, flushed, renamed); an MPI_Allgather of the file numbers
 * tells whether all saved and which files there are; only then rank 0
 * writes DIR/committed ("step S ranks L", with " files P,P,..." when the
 * files are not 0..L-1; also written aside and renamed) and deletes the
 * files of every other step but the commit before (mpi_training_commit.c
 * says why two).  At start every process reads the marker and the files
 * are shared out (setup()); each is loaded onto any present GPU of the
 * same gfx target.
 *
 * Job restart (the default; Open MPI 4.1 has no ULFM): under SIGBUS (the
 * process must let go of its GPUs for the unplug to finish) or with no GPU
 * left to move to, the rank exits with 75 (EX_TEMPFAIL); mpirun then ends
 * the job and the job script (scripts/mpi-job.sh) starts it again.
 *
 * ULFM (--ulfm, under mpirun --with-ft ulfm; mpi_training_ulfm.c): the
 * rank that cannot go on prints "rank R leaves at step S: WHY" and dies of
 * SIGKILL; the survivors' MPI calls fail, they revoke and shrink the
 * communicator, roll back to the committed step with the lost process's
 * files (rank 0 prints "shrunk to N ranks at step S", an adopter "rank R
 * (of N) took over parts P,... at step S") and go on in the same mpirun
 * run.  Ranks in messages are MPI_COMM_WORLD's.
 *
 *   --pause-at P --pause-rank R  rank R, after step P's dispatch, prints
 *                "rank R paused at step P" and waits (at most 120 s) until a
 *                GPU of its node is lost (a test unplugs one meanwhile); a
 *                job that resumed does not pause
 *   --leave-in-recovery R  (ULFM, for tests) rank R leaves at the start of
 *                the survivors' first recovery, as if it had died then
 *   --timing     rank 0 prints each step's time and the wall-clock time it
 *                completed ("step S ms T done at E", E in seconds since the
 *                epoch; a paused step's time counts from the end of its
 *                pause), and the first step of the process ("first step S
 *                done at E")
 *
 * Uses rochp's public API only. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mpi_training.h"
#include "pipeline_kernels.h"

#define N 1024u
#define WAIT_NS (60ull * 1000 * 1000 * 1000)
#define PAUSE_S 120
#define FILE_MAGIC 0x4d504932u /* "MPI2": a file of parts */

/* What a checkpoint file holds besides rochp's objects: the job's progress
 * and, for each part in it, the ids its objects were saved under. */
typedef struct file_header {
    uint32_t magic;
    uint32_t next_step;
    uint32_t total; /* logical ranks of the job */
    uint32_t nparts;
    uint64_t global;
} file_header;

typedef struct part_record {
    uint32_t part;
    uint32_t unused;
    uint64_t module_id;
    uint64_t buffer_ids[3]; /* weights a, b and their join c */
    uint64_t queue_ids[2];
} part_record;

typedef struct file_record {
    file_header h;
    part_record parts[MAX_PARTS];
} file_record;

/* Losses as the callback thread hears of them. */
static atomic_uint losses, sigbus_losses;
/* The kernel's SIGBUS (SI_USER) reached the process, whatever rochp made of
 * it: the kernel stops the queues before it signals, so under load the loss
 * can go out as a queue error (rochp holds it only 100 ms for the SIGBUS)
 * and be recovered in the process; the process must still let go. */
static atomic_int unplug_sigbus;
static struct sigaction prev_sigbus;

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
    if (info && info->si_code == SI_USER)
        atomic_store(&unplug_sigbus, 1);
    /* rochp's handler, which was there before (and passes on what is not
     * an unplug). */
    if (prev_sigbus.sa_flags & SA_SIGINFO) {
        prev_sigbus.sa_sigaction(sig, info, uctx);
    } else if (prev_sigbus.sa_handler == SIG_DFL) {
        signal(sig, SIG_DFL);
        raise(sig);
    } else if (prev_sigbus.sa_handler != SIG_IGN) {
        prev_sigbus.sa_handler(sig);
    }
}

static void on_lost(rochp_context *ctx, const rochp_event *event, void *user)
{
    (void)ctx;
    (void)user;
    if (event->reason == ROCHP_REASON_SIGBUS)
        atomic_fetch_add(&sigbus_losses, 1);
    atomic_fetch_add(&losses, 1);
}

static int fail(job *j, const char *what, rochp_status st)
{
    fprintf(stderr, "mpi_training: rank %d: %s: %s (%s)\n", j->world, what,
            rochp_status_string(st), rochp_last_error());
    /* No GPU to go on with, here and now: the job goes back to its last
     * committed step, without this process under ULFM. */
    if (st == ROCHP_ERROR_DEVICE_LOST || st == ROCHP_ERROR_NO_TARGET) {
        snprintf(j->why, sizeof j->why, "%s: %s", what, rochp_status_string(st));
        return RESTART;
    }
    return 1;
}

static double now_s(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static uint64_t fnv(uint64_t sum, const void *data, size_t size)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < size; i++) {
        sum ^= p[i];
        sum *= 1099511628211ull;
    }
    return sum;
}

/* --- the node -------------------------------------------------------------------------- */

static int rank_from_env(void)
{
    static const char *const names[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v && *v)
            return atoi(v);
    }
    return -1;
}

/* Points ROCHP_SYSFS_ROOT (read by librochp and by the simulated runtime)
 * at this rank's tree in the placement file. */
static int place(const char *file, int rank)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "mpi_training: %s: %s\n", file, strerror(errno));
        return 1;
    }
    char line[PATH_MAX + 32], tree[PATH_MAX];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        int r;
        if (sscanf(line, "%d %4095s", &r, tree) == 2 && r == rank)
            found = 1;
    }
    fclose(f);
    if (!found) {
        fprintf(stderr, "mpi_training: %s places no rank %d\n", file, rank);
        return 1;
    }
    return setenv("ROCHP_SYSFS_ROOT", tree, 1) == 0 ? 0 : 1;
}

/* --- the coordinated checkpoint --------------------------------------------------------- */

/* Step S's checkpoint (taken at its start) saved by every process, then
 * committed. */
static int coordinated_save(job *j, uint32_t step)
{
    static file_record rec;
    char path[PATH_MAX];
    int file = j->nparts ? (int)j->parts[0].id : -1, mine = file;
    if (j->nparts) {
        rec.h = (file_header){FILE_MAGIC, step, j->total, j->nparts, j->global};
        for (uint32_t i = 0; i < j->nparts; i++) {
            const part *p = &j->parts[i];
            rec.parts[i] = (part_record){p->id, 0, rochp_module_id(p->module),
                                         {rochp_buffer_id(p->buf[0]), rochp_buffer_id(p->buf[1]),
                                          rochp_buffer_id(p->buf[2])},
                                         {rochp_queue_id(p->q[0]), rochp_queue_id(p->q[1])}};
        }
        part_file(j, (uint32_t)file, step, path, sizeof path);
        rochp_status st = rochp_checkpoint_save_path(
            j->ctx, path, &rec, sizeof rec.h + j->nparts * sizeof rec.parts[0]);
        if (st != ROCHP_OK) {
            fail(j, "save", st);
            mine = -2;
        }
    }
    /* Every process's file (-1: it holds no part; -2: its save failed):
     * rank 0 writes the list into the marker. */
    int all[MAX_PARTS];
    int rc = mpi_ok(j, MPI_Allgather(&mine, 1, MPI_INT, all, 1, MPI_INT, j->comm), "allgather");
    if (rc)
        return rc;
    for (int i = 0; i < j->size; i++) {
        if (all[i] == -2) {
            /* Not committed: the last committed step stands. */
            if (file >= 0)
                unlink(path);
            return 0;
        }
    }
    if (j->rank == 0) {
        if (write_committed(j, step, all) != 0) {
            fprintf(stderr, "mpi_training: cannot commit step %" PRIu32 " in %s\n", step, j->dir);
            return 1;
        }
        prune(j, step, j->committed[0]);
        printf("committed step %" PRIu32 "\n", step);
    }
    j->committed[1] = j->committed[0];
    memcpy(j->held[1], j->held[0], sizeof j->held[0]);
    j->committed[0] = step;
    memset(j->held[0], 0, sizeof j->held[0]);
    if (file >= 0)
        set_bit(j->held[0], (uint32_t)file);
    return 0;
}

/* --- parts: made afresh or loaded from a file --------------------------------------------- */

static int fresh_part(job *j, uint32_t id)
{
    rochp_device_info devs[8];
    size_t n = 0, present = 0;
    rochp_status st = rochp_device_list(j->ctx, devs, 8, &n);
    if (st != ROCHP_OK)
        return fail(j, "devices", st);
    for (size_t i = 0; i < n && i < 8; i++)
        if (devs[i].state == ROCHP_DEVICE_PRESENT)
            devs[present++] = devs[i];
    if (present == 0) {
        fprintf(stderr, "mpi_training: rank %d: no GPU on this node\n", j->world);
        snprintf(j->why, sizeof j->why, "no GPU on this node");
        return RESTART;
    }
    part *p = &j->parts[j->nparts++];
    *p = (part){.id = id};
    /* a's chain on the first GPU; b's chain and the join on the second. */
    rochp_device_id dev[2] = {devs[0].id, devs[present > 1 ? 1 : 0].id};
    if ((st = rochp_module_load_file(j->ctx, j->co, &p->module)) != ROCHP_OK)
        return fail(j, "module", st);
    uint32_t init[N];
    for (int i = 0; i < 3; i++) {
        if ((st = rochp_buffer_alloc(j->ctx, dev[i ? 1 : 0], sizeof init, &p->buf[i])) != ROCHP_OK)
            return fail(j, "buffer", st);
        for (uint32_t x = 0; x < N; x++)
            init[x] = x * 2654435761u + (uint32_t)i + id * 7919u;
        if ((st = rochp_buffer_write(p->buf[i], 0, init, sizeof init)) != ROCHP_OK)
            return fail(j, "buffer", st);
    }
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 64; /* four a step, and the journal starts over every step */
    o.journal_length = 64;
    for (int i = 0; i < 2; i++)
        if ((st = rochp_queue_create(j->ctx, dev[i], &o, &p->q[i])) != ROCHP_OK)
            return fail(j, "queue", st);
    return 0;
}

/* Loads file (step's) into the context: its parts join the process's.  Each
 * load has its own restored map, as its ids are the saving context's. */
static int load_file(job *j, uint32_t file, uint32_t step)
{
    char path[PATH_MAX];
    part_file(j, file, step, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mpi_training: rank %d: %s: %s\n", j->world, path, strerror(errno));
        return 1;
    }
    rochp_restored *r = NULL;
    rochp_status st = rochp_checkpoint_load(j->ctx, fd, &r);
    close(fd);
    if (st != ROCHP_OK)
        return fail(j, "load the checkpoint", st);
    size_t size = 0;
    const file_record *rec = rochp_restored_user(r, &size);
    bool ok = size >= sizeof rec->h && rec->h.magic == FILE_MAGIC && rec->h.nparts >= 1 &&
              rec->h.nparts <= MAX_PARTS &&
              size == sizeof rec->h + rec->h.nparts * sizeof rec->parts[0] &&
              rec->h.next_step == step && rec->h.total == j->total &&
              rec->parts[0].part == file && j->nparts + rec->h.nparts <= MAX_PARTS &&
              (j->nparts == 0 || rec->h.global == j->global);
    for (uint32_t i = 0; ok && i < rec->h.nparts; i++) {
        const part_record *pr = &rec->parts[i];
        part *p = &j->parts[j->nparts];
        *p = (part){.id = pr->part, .module = rochp_restored_module(r, pr->module_id)};
        for (int b = 0; b < 3; b++)
            p->buf[b] = rochp_restored_buffer(r, pr->buffer_ids[b]);
        for (int q = 0; q < 2; q++)
            p->q[q] = rochp_restored_queue(r, pr->queue_ids[q]);
        ok = pr->part < j->total && p->module && p->buf[0] && p->buf[1] && p->buf[2] && p->q[0] &&
             p->q[1];
        if (ok)
            j->nparts++;
    }
    if (ok)
        j->global = rec->h.global;
    rochp_restored_free(r);
    if (!ok) {
        fprintf(stderr, "mpi_training: %s is not a file of step %" PRIu32 " of %" PRIu32
                        " logical ranks\n", path, step, j->total);
        return 1;
    }
    return 0;
}

static int cmp_part(const void *a, const void *b)
{
    const part *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* --- setup: the committed step's parts shared out among the processes ------------------- */

/* A new context for this process (the old one and everything in it gone). */
static int new_context(job *j)
{
    if (j->ctx)
        rochp_context_destroy(j->ctx);
    j->ctx = NULL;
    j->nparts = 0;
    rochp_status st = rochp_context_create(&j->options, &j->ctx);
    if (st != ROCHP_OK)
        return fail(j, "context", st);
    static bool chained;
    if (!chained) {
        /* Over rochp's SIGBUS handler (installed by the first context and
         * kept by rochp for later ones), which it calls. */
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGBUS, &sa, &prev_sigbus);
        chained = true;
    }
    rochp_subscription sub;
    if ((st = rochp_on_device_lost(j->ctx, on_lost, NULL, &sub)) != ROCHP_OK)
        return fail(j, "subscribe", st);
    j->handled = atomic_load(&losses);
    return 0;
}

static int bind_parts(job *j)
{
    rochp_status st = ROCHP_OK;
    for (uint32_t k = 0; k < j->nparts && st == ROCHP_OK; k++) {
        part *p = &j->parts[k];
        rochp_kernel *chain, *join;
        if ((st = rochp_module_kernel(p->module, "chain_step", &chain)) != ROCHP_OK ||
            (st = rochp_module_kernel(p->module, "join_add", &join)) != ROCHP_OK)
            break;
        for (int i = 0; i < 2 && st == ROCHP_OK; i++)
            st = rochp_kernel_bind(chain, p->q[i], &p->kc[i]);
        if (st == ROCHP_OK)
            st = rochp_kernel_bind(join, p->q[1], &p->kj);
    }
    if (st == ROCHP_OK)
        st = rochp_launch_init(&j->launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1});
    return st == ROCHP_OK ? 0 : fail(j, "bind", st);
}

static void list(const uint8_t *set, uint32_t total, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (uint32_t i = 0; i < total && len < size; i++)
        if (bit(set, i))
            len += (size_t)snprintf(out + len, size - len, "%s%" PRIu32, len ? "," : "", i);
}

/* The units to share out: the commit's files, or, before the first
 * commit, the parts themselves (made afresh).  A process keeps what it held
 * at that step (its own file; the parts it started with); what nobody
 * holds -- everything on a job restart, a dead process's files under ULFM
 * -- goes to the processes that hold the fewest, lowest comm rank first:
 * on a fresh job that is unit i to process i % n. */
static int setup(job *j)
{
    if (j->shrinks && j->world == j->leave_in_recovery) {
        snprintf(j->why, sizeof j->why, "--leave-in-recovery");
        return RESTART;
    }
    uint32_t step, total = j->total;
    uint8_t units[MAX_PARTS / 8];
    if (read_committed(j, &step, &total, units) != 0)
        return 1;
    if (step == NO_STEP)
        for (uint32_t i = 0; i < total; i++)
            set_bit(units, i);
    /* Every process must start from the same step, of the same job. */
    uint32_t mine[2] = {step, total}, lo[2], hi[2];
    int rc = mpi_ok(j, MPI_Allreduce(mine, lo, 2, MPI_UINT32_T, MPI_MIN, j->comm), "allreduce");
    if (!rc)
        rc = mpi_ok(j, MPI_Allreduce(mine, hi, 2, MPI_UINT32_T, MPI_MAX, j->comm), "allreduce");
    if (rc)
        return rc;
    if (lo[0] != hi[0] || lo[1] != hi[1]) {
        fprintf(stderr, "mpi_training: rank %d: the processes read different commits\n", j->world);
        return 1;
    }
    j->total = total;
    j->step = step == NO_STEP ? 0 : step;
    int k = j->committed[0] == step ? 0 : j->committed[1] == step ? 1 : -1;
    int owner[MAX_PARTS], claim[MAX_PARTS];
    for (uint32_t u = 0; u < total; u++)
        claim[u] = k >= 0 && bit(units, u) && bit(j->held[k], u) ? j->rank : INT_MAX;
    rc = mpi_ok(j, MPI_Allreduce(claim, owner, (int)total, MPI_INT, MPI_MIN, j->comm), "allreduce");
    if (rc)
        return rc;
    int load[MAX_PARTS] = {0};
    for (uint32_t u = 0; u < total; u++)
        if (bit(units, u) && owner[u] != INT_MAX)
            load[owner[u]]++;
    uint8_t taken[MAX_PARTS / 8] = {0}, got[MAX_PARTS / 8] = {0};
    for (uint32_t u = 0; u < total; u++) {
        if (!bit(units, u))
            continue;
        if (owner[u] == INT_MAX) {
            int least = 0;
            for (int p = 1; p < j->size; p++)
                if (load[p] < load[least])
                    least = p;
            owner[u] = least;
            load[least]++;
            if (least == j->rank)
                set_bit(taken, u);
        }
        if (owner[u] == j->rank)
            set_bit(got, u);
    }
    if ((rc = new_context(j)) != 0)
        return rc;
    for (uint32_t u = 0; u < total && !rc; u++)
        if (bit(got, u))
            rc = step == NO_STEP ? fresh_part(j, u) : load_file(j, u, step);
    if (rc)
        return rc;
    qsort(j->parts, j->nparts, sizeof j->parts[0], cmp_part);
    if (step == NO_STEP)
        j->global = 0;
    j->next_step = step == NO_STEP ? 0 : step;
    j->committed[0] = step;
    memcpy(j->held[0], got, sizeof got);
    /* The commit before is no rollback target any more (the marker names
     * step): nothing to claim there. */
    j->committed[1] = NO_STEP - 1;
    memset(j->held[1], 0, sizeof j->held[1]);
    if ((rc = bind_parts(j)) != 0)
        return rc;
    char what[4 * MAX_PARTS];
    if (j->shrinks) {
        if (j->rank == 0)
            printf("shrunk to %d ranks at step %" PRIu32 "\n", j->size, j->step);
        list(taken, total, what, sizeof what);
        if (what[0])
            printf("rank %d (of %d) took over parts %s at step %" PRIu32 "\n", j->world, j->size,
                   what, j->step);
        return 0;
    }
    if (j->nparts == 0) {
        printf("rank %d has no part at step %" PRIu32 "\n", j->world, j->step);
        return 0;
    }
    rochp_device_info d[2];
    rochp_status st = ROCHP_OK;
    for (int i = 0; i < 2 && st == ROCHP_OK; i++)
        st = rochp_device_get(j->ctx, rochp_queue_device(j->parts[0].q[i]), &d[i]);
    if (st != ROCHP_OK)
        return fail(j, "devices", st);
    list(got, total, what, sizeof what);
    bool own = j->nparts == 1 && j->parts[0].id == (uint32_t)j->world;
    if (step == NO_STEP)
        printf("rank %d started on %s %s\n", j->world, d[0].pci, d[1].pci);
    else
        printf("rank %d resumed at step %" PRIu32 " on %s %s%s%s\n", j->world, step, d[0].pci,
               d[1].pci, own ? "" : " with parts ", own ? "" : what);
    if (step != NO_STEP)
        j->pause_at = NO_STEP; /* a job pauses once: a resumed one goes on */
    return 0;
}

/* --- a step ------------------------------------------------------------------------------- */

static rochp_status dispatch_part(job *j, part *p, uint32_t step)
{
    uint32_t *a = rochp_buffer_address(p->buf[0]), *b = rochp_buffer_address(p->buf[1]);
    uint32_t mix = (uint32_t)(j->global ^ (j->global >> 32));
    chain_args ca = {a, N, step ^ mix}, cb = {b, N, 1000 + step + p->id};
    join_args jc = {rochp_buffer_address(p->buf[2]), a, b, N, 0};
    rochp_completion a_done;
    rochp_status st = rochp_dispatch(p->q[0], p->kc[0], &j->launch, &ca, sizeof ca, &a_done);
    if (st == ROCHP_OK)
        st = rochp_dispatch(p->q[1], p->kc[1], &j->launch, &cb, sizeof cb, NULL);
    if (st == ROCHP_OK)
        st = rochp_dispatch_barrier(p->q[1], &a_done, NULL);
    if (st == ROCHP_OK)
        st = rochp_dispatch(p->q[1], p->kj, &j->launch, &jc, sizeof jc, NULL);
    return st;
}

/* The parts' hashes of c, summed: what the allreduce of per-part hashes
 * would give, as uint64 sums wrap the same in any order. */
static rochp_status finish_step(job *j, uint64_t *sum)
{
    rochp_status st = ROCHP_OK;
    *sum = 0;
    for (uint32_t k = 0; k < j->nparts && st == ROCHP_OK; k++)
        for (int i = 0; i < 2 && st == ROCHP_OK; i++)
            st = rochp_queue_wait_idle(j->parts[k].q[i], WAIT_NS);
    for (uint32_t k = 0; k < j->nparts && st == ROCHP_OK; k++) {
        uint32_t c[N];
        st = rochp_buffer_read(j->parts[k].buf[2], 0, c, sizeof c);
        if (st == ROCHP_OK)
            *sum += fnv(1469598103934665603ull, c, sizeof c);
    }
    return st;
}

/* Waits (at most 120 s) until a GPU of this node is lost. */
static rochp_status pause_for_loss(job *j, uint32_t step)
{
    printf("rank %d paused at step %" PRIu32 "\n", j->world, step);
    fflush(stdout);
    for (int i = 0; i < PAUSE_S * 100; i++) {
        if (atomic_load(&losses) != j->handled || atomic_load(&unplug_sigbus))
            return ROCHP_ERROR_DEVICE_LOST;
        sleep_ms(10);
    }
    fprintf(stderr, "mpi_training: rank %d: no GPU lost in %d s\n", j->world, PAUSE_S);
    return ROCHP_ERROR_TIMEOUT;
}

/* A step failed with st.  0: the work moved to another GPU of the node (the
 * context is back at its last checkpoint, with the work since replayed);
 * else the exit code. */
static int handle_loss(job *j, uint32_t step, const char *what, rochp_status st)
{
    if (st != ROCHP_ERROR_DEVICE_LOST && st != ROCHP_ERROR_QUEUE_FAILED)
        return fail(j, what, st);
    /* Its reason: a loss first seen as a queue error waits up to 100 ms
     * for a SIGBUS to claim it before its event goes out. */
    for (int i = 0; i < 200 && atomic_load(&losses) == j->handled && !atomic_load(&unplug_sigbus);
         i++) {
        rochp_flush(j->ctx);
        sleep_ms(5);
    }
    if (atomic_load(&losses) == j->handled && !atomic_load(&unplug_sigbus))
        return fail(j, what, st); /* no GPU was lost: not ours to recover */
    j->handled = atomic_load(&losses);
    if (atomic_load(&sigbus_losses) || atomic_load(&unplug_sigbus)) {
        /* The kernel finishes the unplug only once this process lets go. */
        uint32_t back = j->committed[0] >= NO_STEP - 1 ? 0 : j->committed[0];
        snprintf(j->why, sizeof j->why, "GPU lost with SIGBUS");
        if (!j->ulfm)
            fprintf(stderr, "mpi_training: rank %d: GPU lost with SIGBUS at step %" PRIu32
                            ": exit %d, the job resumes from step %" PRIu32 "\n",
                    j->world, step, RESTART, back);
        return RESTART;
    }
    double t0 = now_s(CLOCK_MONOTONIC);
    rochp_recovery_report rep;
    rochp_status rs = rochp_recover(j->ctx, WAIT_NS, &rep);
    if (rs != ROCHP_OK)
        return fail(j, "recover", rs);
    printf("rank %d recovered at step %" PRIu32 ": %" PRIu32 " GPU lost, %" PRIu64
           " buffers moved, %" PRIu64 " packets replayed, %.1f ms\n",
           j->world, step, rep.devices_lost, rep.buffers_moved, rep.packets_replayed,
           (now_s(CLOCK_MONOTONIC) - t0) * 1e3);
    j->handled = atomic_load(&losses);
    return 0;
}

/* Every part's weights in part order (zero for the parts of other
 * processes, summed to rank 0: each part is in one process) and the last
 * sum: with one part a process, the per-rank checksum of before parts. */
static int final_checksum(job *j)
{
    uint64_t mine[MAX_PARTS] = {0}, all[MAX_PARTS] = {0};
    for (uint32_t k = 0; k < j->nparts; k++) {
        uint64_t h = 1469598103934665603ull;
        for (int i = 0; i < 3; i++) {
            uint32_t w[N];
            rochp_status st = rochp_buffer_read(j->parts[k].buf[i], 0, w, sizeof w);
            if (st != ROCHP_OK)
                return fail(j, "read", st);
            h = fnv(h, w, sizeof w);
        }
        mine[j->parts[k].id] = h;
    }
    int rc = mpi_ok(j, MPI_Reduce(mine, all, (int)j->total, MPI_UINT64_T, MPI_SUM, 0, j->comm),
                    "reduce");
    /* Under ULFM the reduce may succeed at rank 0 and fail elsewhere: rank 0
     * prints only once every live process agrees it succeeded (else they
     * all roll back, rank 0 with them). */
    int ok = rc == 0;
    int arc = agree_all(j, &ok);
    if (rc || arc || !ok)
        return rc ? rc : arc ? arc : MPI_LOST;
    if (j->rank == 0) {
        uint64_t sum = fnv(1469598103934665603ull, all, (size_t)j->total * sizeof all[0]);
        sum = fnv(sum, &j->global, sizeof j->global);
        printf("steps %" PRIu32 " ranks %" PRIu32 " checksum %016" PRIx64 "\n", j->steps, j->total,
               sum);
    }
    return 0;
}

static int train(job *j)
{
    bool first = true;
    uint32_t last_saved = j->next_step, timed = NO_STEP;
    double t0 = 0;
    for (uint32_t step = j->next_step; step < j->steps;) {
        j->step = step;
        if (timed != step) { /* a step done again keeps its start */
            timed = step;
            t0 = now_s(CLOCK_MONOTONIC);
        }
        if (atomic_load(&unplug_sigbus)) /* after a recovery, or with no loss seen */
            return handle_loss(j, step, "step", ROCHP_ERROR_DEVICE_LOST);
        /* The step's start, to go back to if a GPU is lost during it. */
        rochp_status st = atomic_load(&losses) != j->handled
                              ? ROCHP_ERROR_DEVICE_LOST
                              : rochp_checkpoint(j->ctx, WAIT_NS, NULL);
        if (st != ROCHP_OK) {
            /* The last checkpoint is the previous step's start: recovering
             * replays that step, and this one's checkpoint is taken again. */
            int rc = handle_loss(j, step, "checkpoint", st);
            if (rc)
                return rc;
            continue;
        }
        if (step % j->every == 0 && step > last_saved) {
            int rc = coordinated_save(j, step);
            if (rc)
                return rc;
            last_saved = step;
        }
        uint64_t hash = 0;
        for (uint32_t k = 0; k < j->nparts && st == ROCHP_OK; k++)
            st = dispatch_part(j, &j->parts[k], step);
        if (st == ROCHP_OK && step == j->pause_at && j->world == j->pause_rank) {
            j->pause_at = NO_STEP; /* once */
            st = pause_for_loss(j, step);
            t0 = now_s(CLOCK_MONOTONIC); /* the step's time from the loss on */
        }
        if (st == ROCHP_OK)
            st = finish_step(j, &hash);
        if (st != ROCHP_OK) {
            int rc = handle_loss(j, step, "step", st);
            if (rc)
                return rc;
            rochp_status rs = rochp_checkpoint_restore(j->ctx, NULL);
            if (rs != ROCHP_OK)
                return fail(j, "restore", rs);
            continue; /* the step again, from its start */
        }
        uint64_t sum = 0;
        int rc = mpi_ok(j, MPI_Allreduce(&hash, &sum, 1, MPI_UINT64_T, MPI_SUM, j->comm),
                        "allreduce");
        if (rc)
            return rc;
        j->global = sum;
        if (j->timing && j->rank == 0) {
            if (first)
                printf("first step %" PRIu32 " done at %.6f\n", step, now_s(CLOCK_REALTIME));
            printf("step %" PRIu32 " ms %.3f done at %.6f\n", step,
                   (now_s(CLOCK_MONOTONIC) - t0) * 1e3, now_s(CLOCK_REALTIME));
        }
        first = false;
        step++;
    }
    return final_checksum(j);
}

/* The job from its committed step; under ULFM again after every shrink,
 * from the step committed then, until it ends or this process leaves. */
static int run(job *j)
{
    for (;;) {
        int rc = setup(j);
        if (rc == 0)
            rc = train(j);
        if (rc != MPI_LOST)
            return rc;
        if ((rc = ulfm_shrink(j)) != 0)
            return rc;
    }
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mpi_training CODE_OBJECT CHECKPOINT_DIR [--steps S] [--every K] "
                        "[--placement FILE] [--poll-ms MS] [--timing] [--ulfm] "
                        "[--pause-at P --pause-rank R] [--leave-in-recovery R]\n");
        return 2;
    }
    static job j = {.steps = 60, .every = 10, .pause_at = NO_STEP, .pause_rank = -1,
                    .leave_in_recovery = -1,
                    .committed = {NO_STEP - 1, NO_STEP - 1}};
    j.co = argv[1];
    j.dir = argv[2];
    const char *placement = NULL;
    uint32_t poll_ms = 50;
    for (int i = 3; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--timing") || !strcmp(opt, "--ulfm")) {
            j.timing |= !strcmp(opt, "--timing");
            j.ulfm |= !strcmp(opt, "--ulfm");
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "mpi_training: %s needs a value\n", opt);
            return 2;
        }
        const char *val = argv[++i];
        uint32_t v = (uint32_t)strtoul(val, NULL, 10);
        if (!strcmp(opt, "--steps"))
            j.steps = v;
        else if (!strcmp(opt, "--every"))
            j.every = v ? v : 1;
        else if (!strcmp(opt, "--placement"))
            placement = val;
        else if (!strcmp(opt, "--poll-ms"))
            poll_ms = v;
        else if (!strcmp(opt, "--pause-at"))
            j.pause_at = v;
        else if (!strcmp(opt, "--pause-rank"))
            j.pause_rank = (int)v;
        else if (!strcmp(opt, "--leave-in-recovery"))
            j.leave_in_recovery = (int)v;
        else {
            fprintf(stderr, "mpi_training: unknown option %s\n", opt);
            return 2;
        }
    }
    if (j.ulfm && !ulfm_built()) {
        fprintf(stderr, "mpi_training: --ulfm: built without ULFM (Open MPI >= 5 with mpi-ext.h)\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The node first: the placement names the tree before anything reads it.
     * scripts/mpi-job.sh passes its placement in the environment. */
    if (!placement && getenv("ROCHP_MPI_PLACEMENT") && *getenv("ROCHP_MPI_PLACEMENT"))
        placement = getenv("ROCHP_MPI_PLACEMENT");
    if (placement && place(placement, rank_from_env()) != 0)
        return 1;
    if (j.ulfm) {
        /* MPI_Finalize starts with a PMIx fence over every process of the
         * job (ompi_mpi_finalize.c), the dead ones too; with two of them
         * dead, PRRTE 3 (Open MPI 5.0.7) sometimes never completes it and
         * the survivors wait there until mpirun's --timeout.  Our last
         * collective is the final agreement, so nothing is in flight to
         * wait for: "Do not perform a barrier at the beginning of
         * MPI_Finalize". */
        setenv("OMPI_MCA_async_mpi_finalize", "1", 0);
    }
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &j.world);
    if (ulfm_comm(&j) != 0) {
        fprintf(stderr, "mpi_training: rank %d: no communicator\n", j.world);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    if (j.size > MAX_PARTS) {
        fprintf(stderr, "mpi_training: at most %d ranks\n", MAX_PARTS);
        MPI_Finalize();
        return 2;
    }
    j.total = (uint32_t)j.size; /* a fresh job's; a commit's marker says otherwise */
    /* Contexts come after MPI_Init: rochp's SIGBUS handler goes over Open
     * MPI's (which prints a backtrace), and passes on any SIGBUS that is not
     * an unplug. */
    rochp_options_init(&j.options);
    j.options.flags = ROCHP_CONTEXT_SIGBUS_HANDLER;
    j.options.poll_interval_ms = poll_ms;
    int rc = run(&j);
    if (rc == RESTART)
        leave(&j);
    if (rc != 0) {
        fflush(stdout);
        if (j.ulfm) /* an exit would leave the others waiting (leave()) */
            MPI_Abort(j.comm, rc);
        _exit(rc);
    }
    rochp_context_destroy(j.ctx);
    if (j.ulfm)
        MPI_Comm_free(&j.comm);
    MPI_Finalize();
    return 0;
}
