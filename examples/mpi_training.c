/* mpi_training: a data-parallel MPI job whose ranks survive losing a GPU,
 * in their process when they can, through a job restart when they cannot.
 *
 *   mpi_training CODE_OBJECT CHECKPOINT_DIR [--steps S] [--every K]
 *                [--placement FILE] [--poll-ms MS] [--timing]
 *                [--pause-at P --pause-rank R]
 *
 * Each rank computes on the GPUs of its own node: weights a and b, each
 * moved by an order-sensitive chain step, and their join c = a + b, on two
 * journaled queues (two GPUs when the node has two; pipeline.co's
 * kernels).  After each step every rank hashes its c and the ranks sum the
 * hashes with MPI_Allreduce; the sum feeds the next step's chain on a, so
 * the ranks' weights depend on each other.  At the end rank 0 prints a
 * checksum over every rank's weights, the same whether or not the job lost
 * a GPU or was restarted.
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
 * Job restart: under SIGBUS (the process must let go of its GPUs for the
 * unplug to finish) or with no GPU left to move to, the rank exits with 75
 * (EX_TEMPFAIL); mpirun then ends the job and the job script
 * (scripts/mpi-job.sh) starts it again.  Coordinated checkpoint every K
 * steps, in two phases: every rank saves its rochp checkpoint for step S to
 * DIR/rank-R.step-S.ckpt (rochp_checkpoint_save_path: written aside,
 * flushed, renamed); an MPI_Allreduce tells whether all saved; only then
 * rank 0 writes DIR/committed ("step S ranks N", also written aside and
 * renamed).  Each rank keeps its files of the last two committed steps, so
 * whatever the marker names exists.  At start every rank loads the
 * committed step's file, onto any present GPU of the same gfx target.
 *
 *   --pause-at P --pause-rank R  rank R, after step P's dispatch, prints
 *                "rank R paused at step P" and waits (at most 120 s) until a
 *                GPU of its node is lost (a test unplugs one meanwhile); a
 *                job that resumed does not pause
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
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include <rochp/rochp_dispatch.h>

#include "pipeline_kernels.h"

#define N 1024u
#define WAIT_NS (60ull * 1000 * 1000 * 1000)
#define RESTART 75 /* EX_TEMPFAIL: start the job again from the committed step */
#define PAUSE_S 120

/* What the application keeps in each rank's checkpoint besides rochp's
 * objects. */
typedef struct progress {
    uint32_t next_step;
    uint32_t rank;
    uint64_t global; /* the last step's allreduced sum (feeds the next step) */
    uint64_t module_id;
    uint64_t buffer_ids[3]; /* weights a, b and their join c */
    uint64_t queue_ids[2];
} progress;

typedef struct job {
    int rank, size;
    rochp_context *ctx;
    const char *dir;
    uint32_t steps, every, pause_at;
    int pause_rank;
    bool timing;
    progress p;
    rochp_module *module;
    rochp_buffer *buf[3];
    rochp_queue *q[2];
    const rochp_dispatch_kernel *kc[2], *kj;
    rochp_launch launch;
    uint32_t committed[2]; /* the last two committed steps, newest first */
    unsigned handled;      /* losses dealt with */
} job;

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

static int fail(const job *j, const char *what, rochp_status st)
{
    fprintf(stderr, "mpi_training: rank %d: %s: %s (%s)\n", j->rank, what,
            rochp_status_string(st), rochp_last_error());
    /* No GPU to go on with, here and now: the job goes back to its last
     * committed step. */
    return st == ROCHP_ERROR_DEVICE_LOST || st == ROCHP_ERROR_NO_TARGET ? RESTART : 1;
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

static void rank_file(const job *j, uint32_t step, char *out, size_t size)
{
    snprintf(out, size, "%s/rank-%d.step-%" PRIu32 ".ckpt", j->dir, j->rank, step);
}

/* The committed step, or UINT32_MAX when there is none. */
static int read_committed(const job *j, uint32_t *step)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/committed", j->dir);
    *step = UINT32_MAX;
    FILE *f = fopen(path, "r");
    if (!f)
        return errno == ENOENT ? 0 : 1;
    uint32_t s;
    int ranks;
    int n = fscanf(f, "step %" SCNu32 " ranks %d", &s, &ranks);
    fclose(f);
    if (n != 2 || ranks != j->size) {
        fprintf(stderr, "mpi_training: %s: not a commit of %d ranks\n", path, j->size);
        return 1;
    }
    *step = s;
    return 0;
}

/* Rank 0's second phase: the marker, written aside, flushed and renamed. */
static int write_committed(const job *j, uint32_t step)
{
    char path[PATH_MAX], tmp[PATH_MAX + 8];
    snprintf(path, sizeof path, "%s/committed", j->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return 1;
    char text[64];
    int len = snprintf(text, sizeof text, "step %" PRIu32 " ranks %d\n", step, j->size);
    int ok = write(fd, text, (size_t)len) == len && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return 1;
    }
    int dfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Step S's checkpoint (taken at its start) saved by every rank, then
 * committed. */
static int coordinated_save(job *j, uint32_t step)
{
    char path[PATH_MAX];
    rank_file(j, step, path, sizeof path);
    j->p.next_step = step;
    rochp_status st = rochp_checkpoint_save_path(j->ctx, path, &j->p, sizeof j->p);
    if (st != ROCHP_OK)
        fail(j, "save", st);
    int saved = st == ROCHP_OK, all = 0;
    MPI_Allreduce(&saved, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (!all) {
        /* Not committed: the last committed step stands. */
        unlink(path);
        return 0;
    }
    if (j->rank == 0) {
        if (write_committed(j, step) != 0) {
            fprintf(stderr, "mpi_training: cannot commit step %" PRIu32 " in %s\n", step, j->dir);
            return 1;
        }
        printf("committed step %" PRIu32 "\n", step);
    }
    /* The marker names step or the one before (rank 0 wrote the one before
     * before it joined this allreduce): older files can go. */
    if (j->committed[1] != UINT32_MAX) {
        rank_file(j, j->committed[1], path, sizeof path);
        unlink(path);
    }
    j->committed[1] = j->committed[0];
    j->committed[0] = step;
    return 0;
}

/* --- setup: a fresh start or the committed step ------------------------------------------ */

static int resume(job *j, uint32_t step)
{
    char path[PATH_MAX];
    rank_file(j, step, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "mpi_training: rank %d: %s: %s\n", j->rank, path, strerror(errno));
        return 1;
    }
    rochp_restored *r = NULL;
    rochp_status st = rochp_checkpoint_load(j->ctx, fd, &r);
    close(fd);
    if (st != ROCHP_OK)
        return fail(j, "load the checkpoint", st);
    size_t size = 0;
    const void *user = rochp_restored_user(r, &size);
    if (size != sizeof j->p) {
        rochp_restored_free(r);
        fprintf(stderr, "mpi_training: %s holds no progress record\n", path);
        return 1;
    }
    memcpy(&j->p, user, sizeof j->p);
    j->module = rochp_restored_module(r, j->p.module_id);
    for (int i = 0; i < 3; i++)
        j->buf[i] = rochp_restored_buffer(r, j->p.buffer_ids[i]);
    for (int i = 0; i < 2; i++)
        j->q[i] = rochp_restored_queue(r, j->p.queue_ids[i]);
    rochp_restored_free(r);
    if (!j->module || !j->buf[0] || !j->buf[1] || !j->buf[2] || !j->q[0] || !j->q[1] ||
        j->p.next_step != step || j->p.rank != (uint32_t)j->rank) {
        fprintf(stderr, "mpi_training: %s is not rank %d's step %" PRIu32 "\n", path, j->rank,
                step);
        return 1;
    }
    j->committed[0] = step;
    /* The run before kept the commit before this one too (commits come
     * every K steps): it goes after the next commit. */
    j->committed[1] = step >= j->every ? step - j->every : UINT32_MAX;
    return 0;
}

static int fresh(job *j, const char *co)
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
        fprintf(stderr, "mpi_training: rank %d: no GPU on this node\n", j->rank);
        return RESTART;
    }
    /* a's chain on the first GPU; b's chain and the join on the second. */
    rochp_device_id dev[2] = {devs[0].id, devs[present > 1 ? 1 : 0].id};
    if ((st = rochp_module_load_file(j->ctx, co, &j->module)) != ROCHP_OK)
        return fail(j, "module", st);
    uint32_t init[N];
    for (int i = 0; i < 3; i++) {
        if ((st = rochp_buffer_alloc(j->ctx, dev[i ? 1 : 0], sizeof init, &j->buf[i])) != ROCHP_OK)
            return fail(j, "buffer", st);
        for (uint32_t x = 0; x < N; x++)
            init[x] = x * 2654435761u + (uint32_t)i + (uint32_t)j->rank * 7919u;
        if ((st = rochp_buffer_write(j->buf[i], 0, init, sizeof init)) != ROCHP_OK)
            return fail(j, "buffer", st);
        j->p.buffer_ids[i] = rochp_buffer_id(j->buf[i]);
    }
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    o.mode = ROCHP_QUEUE_JOURNALED;
    o.packets = 64; /* four a step, and the journal starts over every step */
    o.journal_length = 64;
    for (int i = 0; i < 2; i++) {
        if ((st = rochp_queue_create(j->ctx, dev[i], &o, &j->q[i])) != ROCHP_OK)
            return fail(j, "queue", st);
        j->p.queue_ids[i] = rochp_queue_id(j->q[i]);
    }
    j->p.module_id = rochp_module_id(j->module);
    j->p.rank = (uint32_t)j->rank;
    return 0;
}

/* --- a step ------------------------------------------------------------------------------- */

static rochp_status dispatch_step(job *j, uint32_t step)
{
    uint32_t *a = rochp_buffer_address(j->buf[0]), *b = rochp_buffer_address(j->buf[1]);
    uint32_t mix = (uint32_t)(j->p.global ^ (j->p.global >> 32));
    chain_args ca = {a, N, step ^ mix}, cb = {b, N, 1000 + step + (uint32_t)j->rank};
    join_args jc = {rochp_buffer_address(j->buf[2]), a, b, N, 0};
    rochp_completion a_done;
    rochp_status st = rochp_dispatch(j->q[0], j->kc[0], &j->launch, &ca, sizeof ca, &a_done);
    if (st == ROCHP_OK)
        st = rochp_dispatch(j->q[1], j->kc[1], &j->launch, &cb, sizeof cb, NULL);
    if (st == ROCHP_OK)
        st = rochp_dispatch_barrier(j->q[1], &a_done, NULL);
    if (st == ROCHP_OK)
        st = rochp_dispatch(j->q[1], j->kj, &j->launch, &jc, sizeof jc, NULL);
    return st;
}

static rochp_status finish_step(job *j, uint64_t *hash)
{
    rochp_status st = ROCHP_OK;
    for (int i = 0; i < 2 && st == ROCHP_OK; i++)
        st = rochp_queue_wait_idle(j->q[i], WAIT_NS);
    uint32_t c[N];
    if (st == ROCHP_OK)
        st = rochp_buffer_read(j->buf[2], 0, c, sizeof c);
    if (st == ROCHP_OK)
        *hash = fnv(1469598103934665603ull, c, sizeof c);
    return st;
}

/* Waits (at most 120 s) until a GPU of this node is lost. */
static rochp_status pause_for_loss(job *j, uint32_t step)
{
    printf("rank %d paused at step %" PRIu32 "\n", j->rank, step);
    fflush(stdout);
    for (int i = 0; i < PAUSE_S * 100; i++) {
        if (atomic_load(&losses) != j->handled || atomic_load(&unplug_sigbus))
            return ROCHP_ERROR_DEVICE_LOST;
        sleep_ms(10);
    }
    fprintf(stderr, "mpi_training: rank %d: no GPU lost in %d s\n", j->rank, PAUSE_S);
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
        fprintf(stderr, "mpi_training: rank %d: GPU lost with SIGBUS at step %" PRIu32
                        ": exit %d, the job resumes from step %" PRIu32 "\n",
                j->rank, step, RESTART, j->committed[0] == UINT32_MAX ? 0 : j->committed[0]);
        return RESTART;
    }
    double t0 = now_s(CLOCK_MONOTONIC);
    rochp_recovery_report rep;
    rochp_status rs = rochp_recover(j->ctx, WAIT_NS, &rep);
    if (rs != ROCHP_OK)
        return fail(j, "recover", rs);
    printf("rank %d recovered at step %" PRIu32 ": %" PRIu32 " GPU lost, %" PRIu64
           " buffers moved, %" PRIu64 " packets replayed, %.1f ms\n",
           j->rank, step, rep.devices_lost, rep.buffers_moved, rep.packets_replayed,
           (now_s(CLOCK_MONOTONIC) - t0) * 1e3);
    j->handled = atomic_load(&losses);
    return 0;
}

static int train(job *j)
{
    bool first = true;
    uint32_t last_saved = j->p.next_step, timed = UINT32_MAX;
    double t0 = 0;
    for (uint32_t step = j->p.next_step; step < j->steps;) {
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
        st = dispatch_step(j, step);
        if (st == ROCHP_OK && step == j->pause_at && j->rank == j->pause_rank) {
            j->pause_at = UINT32_MAX; /* once */
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
        MPI_Allreduce(&hash, &sum, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        j->p.global = sum;
        if (j->timing && j->rank == 0) {
            if (first)
                printf("first step %" PRIu32 " done at %.6f\n", step, now_s(CLOCK_REALTIME));
            printf("step %" PRIu32 " ms %.3f done at %.6f\n", step,
                   (now_s(CLOCK_MONOTONIC) - t0) * 1e3, now_s(CLOCK_REALTIME));
        }
        first = false;
        step++;
    }
    /* Every rank's weights, in rank order, and the last sum. */
    uint64_t mine = 1469598103934665603ull;
    for (int i = 0; i < 3; i++) {
        uint32_t w[N];
        rochp_status st = rochp_buffer_read(j->buf[i], 0, w, sizeof w);
        if (st != ROCHP_OK)
            return fail(j, "read", st);
        mine = fnv(mine, w, sizeof w);
    }
    uint64_t all[256];
    MPI_Gather(&mine, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (j->rank == 0) {
        uint64_t sum = fnv(1469598103934665603ull, all, (size_t)j->size * sizeof all[0]);
        sum = fnv(sum, &j->p.global, sizeof j->p.global);
        printf("steps %" PRIu32 " ranks %d checksum %016" PRIx64 "\n", j->steps, j->size, sum);
    }
    return 0;
}

static int run(job *j, const char *co)
{
    uint32_t step;
    if (read_committed(j, &step) != 0)
        return 1;
    /* Every rank must start from the same step. */
    uint32_t lo = 0, hi = 0;
    MPI_Allreduce(&step, &lo, 1, MPI_UINT32_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&step, &hi, 1, MPI_UINT32_T, MPI_MAX, MPI_COMM_WORLD);
    if (lo != hi) {
        fprintf(stderr, "mpi_training: rank %d: the ranks read different commits\n", j->rank);
        return 1;
    }
    int rc = step == UINT32_MAX ? fresh(j, co) : resume(j, step);
    if (rc)
        return rc;
    rochp_device_info d[2];
    rochp_status st = ROCHP_OK;
    for (int i = 0; i < 2 && st == ROCHP_OK; i++)
        st = rochp_device_get(j->ctx, rochp_queue_device(j->q[i]), &d[i]);
    if (st != ROCHP_OK)
        return fail(j, "devices", st);
    if (step == UINT32_MAX)
        printf("rank %d started on %s %s\n", j->rank, d[0].pci, d[1].pci);
    else {
        j->pause_at = UINT32_MAX; /* a job pauses once: a resumed one goes on */
        printf("rank %d resumed at step %" PRIu32 " on %s %s\n", j->rank, step, d[0].pci,
               d[1].pci);
    }
    rochp_kernel *chain, *join;
    if ((st = rochp_module_kernel(j->module, "chain_step", &chain)) != ROCHP_OK ||
        (st = rochp_module_kernel(j->module, "join_add", &join)) != ROCHP_OK)
        return fail(j, "kernel", st);
    for (int i = 0; i < 2 && st == ROCHP_OK; i++)
        st = rochp_kernel_bind(chain, j->q[i], &j->kc[i]);
    if (st == ROCHP_OK)
        st = rochp_kernel_bind(join, j->q[1], &j->kj);
    if (st == ROCHP_OK)
        st = rochp_launch_init(&j->launch, (rochp_dim3){N, 1, 1}, (rochp_dim3){256, 1, 1});
    if (st != ROCHP_OK)
        return fail(j, "bind", st);
    return train(j);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: mpi_training CODE_OBJECT CHECKPOINT_DIR [--steps S] [--every K] "
                        "[--placement FILE] [--poll-ms MS] [--timing] "
                        "[--pause-at P --pause-rank R]\n");
        return 2;
    }
    job j = {.steps = 60, .every = 10, .pause_at = UINT32_MAX, .pause_rank = -1,
             .dir = argv[2], .committed = {UINT32_MAX, UINT32_MAX}};
    const char *placement = NULL;
    uint32_t poll_ms = 50;
    for (int i = 3; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "--timing")) {
            j.timing = true;
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
        else {
            fprintf(stderr, "mpi_training: unknown option %s\n", opt);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* The node first: the placement names the tree before anything reads it.
     * scripts/mpi-job.sh passes its placement in the environment. */
    if (!placement && getenv("ROCHP_MPI_PLACEMENT") && *getenv("ROCHP_MPI_PLACEMENT"))
        placement = getenv("ROCHP_MPI_PLACEMENT");
    if (placement && place(placement, rank_from_env()) != 0)
        return 1;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &j.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &j.size);
    if (j.size > 256) {
        fprintf(stderr, "mpi_training: at most 256 ranks\n");
        MPI_Finalize();
        return 2;
    }
    /* After MPI_Init: rochp's SIGBUS handler goes over Open MPI's (which
     * prints a backtrace), and passes on any SIGBUS that is not an unplug. */
    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_SIGBUS_HANDLER;
    o.poll_interval_ms = poll_ms;
    rochp_status st = rochp_context_create(&o, &j.ctx);
    if (st != ROCHP_OK) {
        int rc = fail(&j, "context", st);
        MPI_Finalize();
        return rc;
    }
    /* Over rochp's SIGBUS handler, which it calls. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGBUS, &sa, &prev_sigbus);
    rochp_subscription sub;
    st = rochp_on_device_lost(j.ctx, on_lost, NULL, &sub);
    int rc = st == ROCHP_OK ? run(&j, argv[1]) : fail(&j, "subscribe", st);
    if (rc != 0) {
        /* mpirun ends the job when a rank exits non-zero, with that code:
         * no MPI_Finalize, which would wait for the other ranks. */
        fflush(stdout);
        _exit(rc);
    }
    rochp_context_destroy(j.ctx);
    MPI_Finalize();
    return 0;
}
