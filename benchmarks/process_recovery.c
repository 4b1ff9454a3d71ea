/* benchmarks/process_recovery: how fast a job is back in a new process
 * after the kernel's SIGBUS took its GPU, through rochp-run's in-memory
 * checkpoint and through a file.
 *
 *   process_recovery [--mib M[,M...]] [--repeat R] [--dir DIR]
 *                    (defaults 256,1024; 3; $TMPDIR or /var/tmp)
 *
 * For each size, R times each way: a job (process_recovery_job) with M MiB
 * of state on two simulated MI210s (half on each) checkpoints, then one GPU
 * is unplugged under the sigbus kernel behaviour (the call sends SIGBUS to
 * every process holding it and completes once they have let go).
 *   memory: the job runs under rochp-run, hands its checkpoint over, and
 *           rochp-run restarts it; the new process takes the checkpoint back
 *           with rochp_resume.
 *   file:   the job saves with rochp_checkpoint_save_path into DIR; this
 *           program is the supervisor, restarting it the moment it exits;
 *           the new process loads the file (rochp_checkpoint_load).  Its
 *           pages are dropped from the page cache before the unplug, so the
 *           load reads the disk ("file_path_"), as for a checkpoint not in
 *           this machine's memory; and once more from the page cache, just
 *           written ("file_cached_": a lower bound for any file).
 * keep_checkpoint_ms is what keeping the checkpoint cost the job before
 * the loss: rochp_checkpoint_hand_over, or writing and syncing the file.
 * Times are from the unplug call to: the SIGBUS in the job (its handler's
 * clock), the job's exit (reaped by its supervisor), the new process's
 * main, its context created, the state restored, the first step complete
 * (one kernel per buffer).  All clocks are CLOCK_MONOTONIC.  Medians over R.
 * Prints one JSON object. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_tree.h"

#define MAX_SIZES 8
#define MAX_REPEAT 50

/* What one loss took, in ms from the unplug call. */
enum { SIGBUS_AT, EXIT_AT, MAIN_AT, CONTEXT_AT, RESTORED_AT, STEP_AT, PHASES };
static const char *const phase_names[PHASES] = {"sigbus", "exit", "main", "context", "restored",
                                                "first_step"};
static const char *const job_lines[PHASES] = {"sigbus", NULL, "main", "context", "restored",
                                              "step"};

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

typedef struct unplug_job {
    const char *dir;
    char pci[32];
    uint64_t t0;
    rochp_status st;
    rochp__error err;
} unplug_job;

/* The unplug blocks until the job has let go; on a thread of its own so
 * that the supervisor side runs meanwhile. */
static void *unplug_main(void *arg)
{
    unplug_job *u = arg;
    u->t0 = now_ns();
    u->st = vtree_unplug(u->dir, u->pci, VTREE_UNPLUG_WAIT, NULL, &u->err);
    return NULL;
}

/* Starts argv with stdout to a pipe (*out) and stdin from one never
 * written (*in: its end closed, the job gets EOF, only when we are done). */
static pid_t spawn(char *const argv[], FILE **out, int *in)
{
    int o[2], i[2];
    if (pipe(o) != 0 || pipe(i) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(o[1], STDOUT_FILENO);
        dup2(i[0], STDIN_FILENO);
        close(o[0]), close(o[1]), close(i[0]), close(i[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(o[1]);
    close(i[0]);
    *out = fdopen(o[0], "r");
    *in = i[1];
    return pid;
}

/* Reads "NAME NS" lines into t (first of each name after the ready line;
 * the ready line's PCI into pci, the save's duration before it into
 * *save_ns) until EOF, or until "ready" when until_ready.  Returns 1 when
 * the wanted line came. */
static int read_lines(FILE *f, bool until_ready, char *pci, uint64_t t[PHASES], bool after_ready,
                      uint64_t *save_ns)
{
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char name[32];
        unsigned long long v = 0;
        char word[32];
        if (save_ns && sscanf(line, "save_ns %llu", &v) == 1)
            *save_ns = v;
        if (until_ready && sscanf(line, "ready %31s", word) == 1) {
            memcpy(pci, word, sizeof word);
            return 1;
        }
        if (sscanf(line, "%31s %llu", name, &v) != 2 || !after_ready)
            continue;
        for (int p = 0; p < PHASES; p++)
            if (job_lines[p] && strcmp(name, job_lines[p]) == 0 && !t[p])
                t[p] = v;
    }
    return !until_ready;
}

/* The first "event" line's t_ns in the events file (after the first "exited"
 * for "started"). */
static uint64_t event_t(const char *events, const char *name)
{
    FILE *f = fopen(events, "r");
    if (!f)
        return 0;
    char line[1024], want[64];
    snprintf(want, sizeof want, "{\"event\":\"%s\",\"t_ns\":", name);
    uint64_t t = 0;
    while (!t && fgets(line, sizeof line, f))
        if (strncmp(line, want, strlen(want)) == 0)
            t = strtoull(line + strlen(want), NULL, 10);
    fclose(f);
    return t;
}

typedef struct config {
    const char *job, *run, *co, *dir;
} config;

/* The ways back: rochp-run's memory; a file read from the disk (its pages
 * dropped from the page cache before the unplug, as for a checkpoint that
 * is not in this machine's memory any more); the same file from the page
 * cache (just written: a lower bound for any file). */
typedef enum way { WAY_MEMORY, WAY_FILE_DISK, WAY_FILE_CACHED, WAYS } way;

/* The file's pages out of the page cache: it was fsynced, so they are
 * clean and POSIX_FADV_DONTNEED drops them. */
static int drop_cached(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int e = fdatasync(fd) == 0 ? posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) : errno;
    close(fd);
    return e ? -1 : 0;
}

/* One loss, one way; ms[] from the unplug.  0, or 1 with why on stderr. */
static int one_loss(const config *c, way w, size_t mib, double ms[PHASES], double *save_ms)
{
    bool memory = w == WAY_MEMORY;
    char tree[256], state[512], events[512], mib_s[32];
    if (bench_make_tree("procrec", "mi210", 2, tree, sizeof tree) != 0)
        return 1;
    snprintf(state, sizeof state, "%s/process_recovery-%d.state", c->dir, (int)getpid());
    snprintf(events, sizeof events, "%s/events", tree);
    snprintf(mib_s, sizeof mib_s, "%zu", mib);
    unlink(state);
    setenv("ROCHP_SYSFS_ROOT", tree, 1);
    setenv("ROCHP_SIM_KERNEL", "sigbus", 1);
    setenv("ROCHP_HSA_RUNTIME", HSASIM_PATH, 1);
    unsetenv("ROCHP_RUN_FD");
    char *job_argv[] = {(char *)c->job, (char *)c->co, memory ? "memory" : "file", state, mib_s,
                        NULL};
    char *run_argv[] = {(char *)c->run, "--events", events, "--", (char *)c->job, (char *)c->co,
                        "memory", state, mib_s, NULL};
    uint64_t t[PHASES] = {0};
    unplug_job u = {.dir = tree};
    FILE *out;
    int in, status = 0, rc = 1;
    pid_t pid = spawn(memory ? run_argv : job_argv, &out, &in);
    pthread_t th;
    uint64_t save_ns = 0;
    if (pid < 0 || !out || !read_lines(out, true, u.pci, t, false, &save_ns)) {
        fprintf(stderr, "process_recovery: the job never got ready\n");
        goto out;
    }
    if (w == WAY_FILE_DISK && drop_cached(state) != 0) {
        fprintf(stderr, "process_recovery: %s cannot be dropped from the page cache\n", state);
        goto out;
    }
    if (pthread_create(&th, NULL, unplug_main, &u) != 0)
        goto out;
    if (memory) {
        read_lines(out, false, NULL, t, true, NULL);
        waitpid(pid, &status, 0);
        pid = -1;
        t[EXIT_AT] = event_t(events, "exited");
    } else {
        /* This program supervises: the new process starts as the old one is
         * reaped.  The first's stdout pipe carries its "sigbus" line. */
        waitpid(pid, &status, 0);
        t[EXIT_AT] = now_ns();
        pid = -1;
        read_lines(out, false, NULL, t, true, NULL);
        fclose(out);
        close(in);
        out = NULL;
        if (!(WIFEXITED(status) && WEXITSTATUS(status) == 75)) {
            fprintf(stderr, "process_recovery: the job's first run ended with 0x%x\n", status);
            pthread_join(th, NULL);
            goto out;
        }
        pid = spawn(job_argv, &out, &in);
        if (pid < 0 || !out) {
            pthread_join(th, NULL);
            goto out;
        }
        read_lines(out, false, NULL, t, true, NULL);
        waitpid(pid, &status, 0);
        pid = -1;
    }
    pthread_join(th, NULL);
    if (u.st != ROCHP_OK) {
        fprintf(stderr, "process_recovery: unplug: %s\n", u.err.message);
        goto out;
    }
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
        fprintf(stderr, "process_recovery: the %s path ended with 0x%x\n",
                memory ? "memory" : "file", status);
        goto out;
    }
    rc = 0;
    *save_ms = (double)save_ns / 1e6;
    for (int p = 0; p < PHASES; p++) {
        if (!t[p] || t[p] < u.t0) {
            fprintf(stderr, "process_recovery: no time for %s\n", phase_names[p]);
            rc = 1;
        }
        ms[p] = ((double)t[p] - (double)u.t0) / 1e6;
    }
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    if (out)
        fclose(out);
    close(in);
    unlink(state);
    if (bench_remove_tree(tree) != 0)
        rc = 1;
    return rc;
}

/* The helper programs beside this one. */
static void beside(const char *self, const char *name, char *out, size_t size)
{
    const char *slash = strrchr(self, '/');
    snprintf(out, size, "%.*s%s", slash ? (int)(slash - self + 1) : 0, self, name);
}

static void print_phases(const char *prefix, double m[PHASES])
{
    for (int p = 0; p < PHASES; p++)
        printf(",\"%sunplug_to_%s_ms\":%.1f", prefix, phase_names[p], m[p]);
    printf(",\"%srestore_ms\":%.1f", prefix, m[RESTORED_AT] - m[CONTEXT_AT]);
}

int main(int argc, char **argv)
{
    size_t sizes[MAX_SIZES] = {256, 1024};
    unsigned n_sizes = 2, repeat = 3;
    const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/var/tmp";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--mib") && i + 1 < argc) {
            n_sizes = 0;
            for (char *s = strtok(argv[++i], ","); s && n_sizes < MAX_SIZES; s = strtok(NULL, ","))
                sizes[n_sizes++] = strtoul(s, NULL, 10);
        } else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) {
            repeat = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
            dir = argv[++i];
        } else {
            fprintf(stderr, "usage: process_recovery [--mib M[,M...]] [--repeat R] [--dir DIR]\n");
            return 2;
        }
    }
    for (unsigned s = 0; s < n_sizes; s++)
        if (sizes[s] < 1) {
            fprintf(stderr, "process_recovery: --mib sizes must be at least 1\n");
            return 2;
        }
    if (!n_sizes || !repeat || repeat > MAX_REPEAT) {
        fprintf(stderr, "process_recovery: --mib M[,M...] (up to %d), --repeat 1..%d\n",
                MAX_SIZES, MAX_REPEAT);
        return 2;
    }
    char job[4096];
    beside(argv[0], "process_recovery_job", job, sizeof job);
    config c = {job, ROCHP_RUN_PATH, EMPTY_CO, dir};
    printf("{\"benchmark\":\"process_recovery\",\"model\":\"mi210\",\"gpus\":2,\"repeat\":%u,"
           "\"runs\":[",
           repeat);
    for (unsigned s = 0; s < n_sizes; s++) {
        double all[WAYS][PHASES][MAX_REPEAT], saves[WAYS][MAX_REPEAT], ms[PHASES];
        for (unsigned r = 0; r < repeat; r++)
            for (int w = 0; w < WAYS; w++) {
                if (one_loss(&c, (way)w, sizes[s], ms, &saves[w][r]) != 0)
                    return 1;
                for (int p = 0; p < PHASES; p++)
                    all[w][p][r] = ms[p];
            }
        double m[WAYS][PHASES], save[WAYS];
        for (int w = 0; w < WAYS; w++) {
            for (int p = 0; p < PHASES; p++)
                m[w][p] = median(all[w][p], repeat);
            save[w] = median(saves[w], repeat);
        }
        printf("%s{\"state_bytes\":%llu", s ? "," : "", (unsigned long long)sizes[s] << 20);
        print_phases("", m[WAY_MEMORY]);
        print_phases("file_path_", m[WAY_FILE_DISK]);
        print_phases("file_cached_", m[WAY_FILE_CACHED]);
        printf(",\"keep_checkpoint_ms\":%.1f,\"file_path_keep_checkpoint_ms\":%.1f", save[WAY_MEMORY],
               save[WAY_FILE_DISK]);
        printf(",\"memory_vs_file\":%.3f,\"memory_vs_file_cached\":%.3f}",
               m[WAY_MEMORY][STEP_AT] / m[WAY_FILE_DISK][STEP_AT],
               m[WAY_MEMORY][STEP_AT] / m[WAY_FILE_CACHED][STEP_AT]);
        fflush(stdout);
    }
    printf("]}\n");
    return 0;
}
