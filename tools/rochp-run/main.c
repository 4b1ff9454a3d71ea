/* rochp-run: a supervisor that keeps a job's last checkpoint in memory its
 * death does not free, and starts it again (docs/process-recovery.md).
 *
 *   rochp-run [--restarts N] [--backoff-ms MS] [--checkpoint-dir DIR]
 *             [--transparent] [--restart-on-arrival [--poll-ms MS]]
 *             [--events FILE] -- PROGRAM ARGS...
 *
 * It never loads the HSA runtime nor opens /dev/kfd, so a GPU's unplug,
 * which waits for every process holding the GPU, never waits for it.  The
 * program gets a channel (an inherited socketpair: no path anyone else
 * could reach; common/run_channel.h) in ROCHP_RUN_FD; a rochp context hands
 * each checkpoint over as a sealed memfd (rochp_checkpoint_hand_over), which
 * the supervisor keeps -- only from its current child, checked by the
 * sender's kernel-given pid, sealed, and with a well-formed header whose
 * size is the memfd's -- and gives back to the next process
 * (rochp_resume), which checks every checksum as a file load does.
 *
 * When the program dies of a signal (SIGBUS: the kernel unplugs a GPU it
 * held), exits with 75 (EX_TEMPFAIL: transparent mode's restart code) or is
 * killed, it is started again, at most N times (default 5): at once if it
 * handed over a checkpoint in that run (after a SIGBUS, once the GPU is out
 * of the topology), else after a backoff (doubling from MS, at most 5 s).  Another exit ends rochp-run with the
 * program's status.  SIGTERM, SIGINT and SIGHUP go to the program, which
 * is not restarted then; if rochp-run itself is killed, the program gets
 * SIGKILL (PR_SET_PDEATHSIG): no orphan holds the GPUs.
 *
 * --checkpoint-dir writes each kept checkpoint to DIR/checkpoint in the
 * background (aside, flushed, renamed: the last whole one survives a
 * crash of the machine), and a first run with nothing in memory resumes
 * from that file.  --transparent runs the program with
 * HSA_TOOLS_LIB=librochp_tool.so (transparent mode) from beside rochp-run's
 * library directory.  --restart-on-arrival watches the KFD topology (sysfs:
 * every MS, default 250) and, once a GPU arrived, stops the program right
 * after its next checkpoint and starts it again (arrivals.h): the only way
 * a program holding the runtime, HIP's above all, sees a new GPU.  Events (JSON lines to FILE, default stderr):
 * started, checkpoint, exited (why), restarted, resumed (step, load time,
 * time since the exit), done. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "arrivals.h"
#include "common/run_channel.h"
#include "resilience/persist_format.h"

#define RESTART_CODE 75

typedef struct options {
    unsigned restarts;
    unsigned backoff_ms;
    const char *dir;
    bool transparent;
    int arrival_poll_ms; /* --restart-on-arrival: > 0 */
    FILE *events;
    char **argv;
} options;

typedef struct kept {
    int fd; /* the last checkpoint's sealed memfd, or -1 */
    uint64_t step, bytes;
} kept;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static FILE *events;
static pthread_mutex_t events_lock = PTHREAD_MUTEX_INITIALIZER;

/* One event line: {"event":NAME,"t_ns":...,<fields>}. */
static void event(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void event(const char *name, const char *fmt, ...)
{
    char rest[512] = "";
    if (fmt) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(rest, sizeof rest, fmt, ap);
        va_end(ap);
    }
    pthread_mutex_lock(&events_lock);
    fprintf(events, "{\"event\":\"%s\",\"t_ns\":%" PRIu64 "%s%s}\n", name, now_ns(),
            rest[0] ? "," : "", rest);
    fflush(events);
    pthread_mutex_unlock(&events_lock);
}

static void arrived(const char *pci)
{
    event("arrived", "\"pci\":\"%s\"", pci);
}

static int usage(void)
{
    fprintf(stderr, "usage: rochp-run [--restarts N] [--backoff-ms MS] [--checkpoint-dir DIR]\n"
                    "                 [--transparent] [--restart-on-arrival [--poll-ms MS]]\n"
                    "                 [--events FILE] -- PROGRAM ARGS...\n");
    return 2;
}

/* --- the file beside memory ------------------------------------------------------------ */
typedef struct disk_job {
    int fd;
    const char *dir;
} disk_job;

/* Written aside, flushed, renamed, the directory flushed. */
static void *write_to_disk(void *arg)
{
    disk_job *j = arg;
    char tmp[PATH_MAX], path[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s/checkpoint.tmp", j->dir);
    snprintf(path, sizeof path, "%s/checkpoint", j->dir);
    int out = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    struct stat st;
    bool ok = out >= 0 && fstat(j->fd, &st) == 0;
    off_t in_off = 0;
    while (ok && in_off < st.st_size) {
        ssize_t n = copy_file_range(j->fd, &in_off, out, NULL, (size_t)(st.st_size - in_off), 0);
        ok = n > 0;
    }
    ok = ok && fsync(out) == 0;
    if (out >= 0)
        close(out);
    if (ok && rename(tmp, path) == 0) {
        int d = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (d >= 0) {
            fsync(d);
            close(d);
        }
        event("written", "\"path\":\"%s\",\"bytes\":%lld", path, (long long)st.st_size);
    } else {
        unlink(tmp);
        event("write_failed", "\"path\":\"%s\",\"errno\":%d", path, errno);
    }
    close(j->fd);
    free(j);
    return NULL;
}

static void write_behind(const options *o, int fd)
{
    disk_job *j = malloc(sizeof *j);
    pthread_t t;
    if (!j)
        return;
    j->fd = dup(fd);
    j->dir = o->dir;
    if (j->fd < 0 || pthread_create(&t, NULL, write_to_disk, j) != 0) {
        if (j->fd >= 0)
            close(j->fd);
        free(j);
        return;
    }
    pthread_detach(t);
}

/* --- the channel's requests ------------------------------------------------------------ */
/* Why a handed-over checkpoint is not taken ("" if it is). */
static void judge(int fd, pid_t sender, pid_t child, char *why, size_t size, uint64_t *bytes)
{
    why[0] = 0;
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    int need = F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE;
    if (sender != child) {
        snprintf(why, size, "from pid %d, not the program (pid %d)", (int)sender, (int)child);
        return;
    }
    if (seals < 0 || (seals & need) != need) {
        snprintf(why, size, "not a sealed memfd (seals 0x%x)", seals < 0 ? 0 : seals);
        return;
    }
    if (fstat(fd, &st) != 0 || st.st_size < PERSIST_HEADER_BYTES) {
        snprintf(why, size, "too short to be a checkpoint");
        return;
    }
    uint8_t head[PERSIST_HEADER_BYTES];
    persist_header h;
    rochp__error err = {0};
    if (pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
        persist_parse_header(head, sizeof head, PERSIST_CHECK_SUMS, &h, &err) != ROCHP_OK) {
        snprintf(why, size, "not a checkpoint: %.150s", err.message);
        return;
    }
    if (h.total_size != (uint64_t)st.st_size) {
        snprintf(why, size, "its header says %" PRIu64 " bytes, the memfd holds %lld",
                 h.total_size, (long long)st.st_size);
        return;
    }
    *bytes = (uint64_t)st.st_size;
}

typedef struct job {
    const options *o;
    kept kept;
    pid_t child;
    unsigned run;
    uint64_t exited_ns; /* when the last program exited (0: none yet) */
    bool planned;       /* stopped for a planned restart (an arrival) */
    unsigned kept_run;  /* the run that handed over kept's checkpoint */
} job;

static void serve(job *j, int sock)
{
    run_msg m;
    int fd;
    pid_t sender;
    int e = rochp__run_recv(sock, &m, &fd, &sender);
    if (e != 0)
        return; /* the program went, or spoke nonsense: nothing to answer */
    run_msg reply = {.magic = RUN_CHANNEL_MAGIC};
    if (m.kind == RUN_MSG_CHECKPOINT) {
        reply.kind = RUN_MSG_ACK;
        uint64_t bytes = 0;
        char why[200];
        if (fd < 0)
            snprintf(why, sizeof why, "no memfd came with it");
        else
            judge(fd, sender, j->child, why, sizeof why, &bytes);
        if (why[0]) {
            reply.status = -8; /* ROCHP_ERROR_NOT_SUPPORTED-like: refused, named */
            snprintf(reply.text, sizeof reply.text, "%s", why);
            event("refused", "\"pid\":%d,\"why\":\"%s\"", (int)sender, why);
            if (fd >= 0)
                close(fd);
        } else {
            if (j->kept.fd >= 0)
                close(j->kept.fd);
            j->kept = (kept){fd, m.step, bytes};
            j->kept_run = j->run;
            event("checkpoint", "\"pid\":%d,\"step\":%" PRIu64 ",\"bytes\":%" PRIu64,
                  (int)sender, m.step, bytes);
            if (j->o->dir)
                write_behind(j->o, fd);
        }
        rochp__run_send(sock, &reply, -1);
        char pci[24];
        if (!why[0] && j->o->arrival_poll_ms > 0 && !j->planned && arrivals_take(pci, sizeof pci)) {
            /* Nothing is lost since this checkpoint: stop here, and the new
             * process resumes from it with the new GPU enumerated. */
            j->planned = true;
            event("planned_restart", "\"pid\":%d,\"step\":%" PRIu64 ",\"why\":\"arrival of %s\"",
                  (int)j->child, m.step, pci);
            kill(j->child, SIGKILL);
        }
    } else if (m.kind == RUN_MSG_RESUME) {
        if (fd >= 0)
            close(fd);
        reply.kind = RUN_MSG_RESUME_REPLY;
        int give = j->kept.fd;
        reply.step = j->kept.step;
        int from_disk = -1;
        if (give < 0 && j->o->dir) {
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/checkpoint", j->o->dir);
            from_disk = give = open(path, O_RDONLY | O_CLOEXEC);
        }
        if (give < 0)
            snprintf(reply.text, sizeof reply.text, "rochp-run holds no checkpoint yet");
        else if (sender != j->child) {
            give = -1;
            snprintf(reply.text, sizeof reply.text, "not the program's request");
        }
        rochp__run_send(sock, &reply, give);
        if (from_disk >= 0)
            close(from_disk);
    } else if (m.kind == RUN_MSG_RESUMED) {
        if (fd >= 0)
            close(fd);
        double since = j->exited_ns ? (double)(now_ns() - j->exited_ns) / 1e6 : 0.0;
        event("resumed", "\"pid\":%d,\"step\":%" PRIu64 ",\"load_ms\":%.3f,\"since_exit_ms\":%.3f",
              (int)sender, m.step, (double)m.value / 1e6, since);
    } else if (fd >= 0) {
        close(fd);
    }
}

/* --- waiting for an unplug to complete ------------------------------------------------- */
/* KFD's topology generation (ROCHP_SYSFS_ROOT's, as rochp reads it), or 0
 * if unreadable.  Reading the file is not holding a GPU. */
static uint64_t generation(void)
{
    const char *root = getenv("ROCHP_SYSFS_ROOT");
    char path[PATH_MAX], buf[32];
    snprintf(path, sizeof path, "%s/topology/generation_id",
             root && *root ? root : "/sys/devices/virtual/kfd/kfd");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return strtoull(buf, NULL, 10);
}

/* After a SIGBUS: the kernel is unplugging a GPU the program held, and
 * takes it out of the topology once every holder has let go -- the program
 * just did.  A new process started before that would still see the GPU
 * going away, and could put its work back on it; one started after it has
 * nothing to wait for.  So the restart waits for the generation to move
 * from what it was when the program started (at once if it moved already),
 * at most limit_ms: a SIGBUS for another reason changes nothing there.  An
 * inotify watch wakes it on the simulator's trees; sysfs sends no such
 * events, so it also looks every millisecond. */
static void wait_for_removal(uint64_t started_gen, unsigned limit_ms)
{
    const char *root = getenv("ROCHP_SYSFS_ROOT");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/topology", root && *root ? root : "/sys/devices/virtual/kfd/kfd");
    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    if (in >= 0)
        inotify_add_watch(in, path, IN_MOVED_TO | IN_CLOSE_WRITE);
    uint64_t end = now_ns() + (uint64_t)limit_ms * 1000000u;
    while (generation() == started_gen && now_ns() < end) {
        struct pollfd p = {.fd = in, .events = POLLIN};
        if (poll(&p, in >= 0 ? 1 : 0, 1) > 0) {
            char buf[4096];
            while (read(in, buf, sizeof buf) > 0)
                ;
        }
    }
    if (in >= 0)
        close(in);
}

/* --- the program ------------------------------------------------------------------------ */
static pid_t start(const options *o, int child_end, const char *tool)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* The program dies with the supervisor: no orphan holds a GPU. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    int fd = fcntl(child_end, F_DUPFD, 3); /* without CLOEXEC: inherited by exec */
    char value[16];
    snprintf(value, sizeof value, "%d", fd);
    setenv(RUN_CHANNEL_ENV, value, 1);
    if (tool)
        setenv("HSA_TOOLS_LIB", tool, 1);
    execvp(o->argv[0], o->argv);
    fprintf(stderr, "rochp-run: cannot run %s: %s\n", o->argv[0], strerror(errno));
    _exit(127);
}

static const char *signal_name(int sig)
{
    static char buf[16];
    const char *n = sigabbrev_np(sig);
    if (n)
        snprintf(buf, sizeof buf, "SIG%s", n);
    else
        snprintf(buf, sizeof buf, "%d", sig);
    return buf;
}

/* transparent mode's tool beside this program's library directory. */
static const char *tool_path(void)
{
    static char path[PATH_MAX + 64];
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    /* An install (bin/ beside lib/ or lib/<multiarch>/), a build tree (tools/ beside lib/). */
    const char *candidates[] = {"/../lib/librochp_tool.so", "/../lib/x86_64-linux-gnu/librochp_tool.so"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        if (snprintf(path, sizeof path, "%s%s", self, candidates[i]) < (int)sizeof path &&
            access(path, R_OK) == 0)
            return path;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    options o = {.restarts = 5, .backoff_ms = 100, .events = stderr};
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--restarts") == 0 && i + 1 < argc)
            o.restarts = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--backoff-ms") == 0 && i + 1 < argc)
            o.backoff_ms = (unsigned)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--checkpoint-dir") == 0 && i + 1 < argc)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--transparent") == 0)
            o.transparent = true;
        else if (strcmp(argv[i], "--restart-on-arrival") == 0)
            o.arrival_poll_ms = 250;
        else if (strcmp(argv[i], "--poll-ms") == 0 && i + 1 < argc)
            o.arrival_poll_ms = (int)strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--events") == 0 && i + 1 < argc) {
            o.events = fopen(argv[++i], "a");
            if (!o.events) {
                fprintf(stderr, "rochp-run: %s: %s\n", argv[i], strerror(errno));
                return 2;
            }
        } else
            return usage();
    }
    if (i + 1 >= argc)
        return usage();
    o.argv = &argv[i + 1];
    events = o.events;
    const char *tool = NULL;
    if (o.transparent && !(tool = tool_path())) {
        fprintf(stderr, "rochp-run: --transparent: librochp_tool.so is not beside rochp-run\n");
        return 2;
    }
    int sv[2] = {-1, -1};
    /* Children and stop requests as file descriptor events. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
    if (sfd < 0) {
        fprintf(stderr, "rochp-run: signalfd: %s\n", strerror(errno));
        return 1;
    }
    /* Threads start with the signals blocked (inherited): a SIGCHLD taken by
     * one of them would never reach the signalfd. */
    char why[256];
    if (o.arrival_poll_ms > 0 &&
        !arrivals_start((unsigned)o.arrival_poll_ms, arrived, why, sizeof why)) {
        fprintf(stderr, "rochp-run: --restart-on-arrival: %s\n", why);
        return 2;
    }
    job j = {.o = &o, .kept = {.fd = -1}};
    unsigned backoff = o.backoff_ms;
    bool stopping = false;
    int status = 0;
    for (;;) {
        j.run++;
        /* A channel per process: what an earlier one left unread (an answer
         * it died before taking) never reaches the next. */
        if (sv[0] >= 0) {
            close(sv[0]);
            close(sv[1]);
        }
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
            fprintf(stderr, "rochp-run: socketpair: %s\n", strerror(errno));
            return 1;
        }
        int on = 1;
        setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
        uint64_t started_gen = generation();
        j.child = start(&o, sv[1], tool);
        if (j.child < 0) {
            fprintf(stderr, "rochp-run: fork: %s\n", strerror(errno));
            return 1;
        }
        event("started", "\"pid\":%d,\"run\":%u", (int)j.child, j.run);
        int ws = 0;
        bool gone = false;
        while (!gone) {
            struct pollfd p[2] = {{.fd = sv[0], .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
            if (poll(p, 2, -1) < 0 && errno != EINTR)
                break;
            if (p[0].revents & POLLIN)
                serve(&j, sv[0]);
            if (p[1].revents & POLLIN) {
                struct signalfd_siginfo si;
                if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si && si.ssi_signo != SIGCHLD) {
                    stopping = true;
                    kill(j.child, SIGTERM);
                }
                pid_t w = waitpid(j.child, &ws, WNOHANG);
                gone = w == j.child;
            }
        }
        /* What the program said before it went is still in the channel. */
        for (struct pollfd p = {.fd = sv[0], .events = POLLIN}; poll(&p, 1, 0) > 0 && (p.revents & POLLIN);)
            serve(&j, sv[0]);
        j.exited_ns = now_ns();
        bool restart, sigbus = false;
        if (WIFSIGNALED(ws)) {
            sigbus = WTERMSIG(ws) == SIGBUS;
            event("exited", "\"pid\":%d,\"why\":\"signal %s\",\"signal\":%d", (int)j.child,
                  signal_name(WTERMSIG(ws)), WTERMSIG(ws));
            restart = true;
            status = 128 + WTERMSIG(ws);
        } else {
            int code = WEXITSTATUS(ws);
            event("exited", "\"pid\":%d,\"why\":\"exit %d\",\"code\":%d", (int)j.child, code, code);
            restart = code == RESTART_CODE;
            status = code;
        }
        if (j.planned && !stopping) {
            j.planned = false;
            event("restarted", "\"run\":%u,\"backoff_ms\":0,\"planned\":true", j.run + 1);
            continue;
        }
        if (!restart || stopping || j.run > o.restarts)
            break;
        /* Restarts back off so that a program failing as it starts does not
         * spin; one that handed over a checkpoint in this run made progress
         * and is started again at once -- after a SIGBUS, as soon as the GPU
         * is out of the topology -- and the backoff starts over. */
        bool progress = j.kept.fd >= 0 && j.kept_run == j.run;
        unsigned delay = progress ? 0 : backoff;
        if (progress)
            backoff = o.backoff_ms;
        else
            backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
        if (sigbus) {
            /* Also a SIGBUS from before the first checkpoint: the wait ends when the GPU is gone. */
            wait_for_removal(started_gen, delay ? delay : o.backoff_ms);
            uint64_t waited = (now_ns() - j.exited_ns) / 1000000u;
            if (waited < delay) {
                struct timespec d = {(delay - waited) / 1000, (long)((delay - waited) % 1000) * 1000000};
                nanosleep(&d, NULL);
            }
        } else if (delay) {
            struct timespec d = {delay / 1000, (long)(delay % 1000) * 1000000};
            nanosleep(&d, NULL);
        }
        event("restarted", "\"run\":%u,\"backoff_ms\":%u,\"waited_ms\":%.3f", j.run + 1, delay,
              (double)(now_ns() - j.exited_ns) / 1e6);
    }
    event("done", "\"status\":%d,\"runs\":%u", status, j.run);
    return status;
}
