/* What the tool tells and what it does about a loss: event lines (the
 * rochp-monitor --json object plus "pid" and "hip_ordinal"), the policy of
 * ROCHP_TOOL_ON_LOSS, and the prompt exit that SIGBUS demands.
 *
 * Under the kernel's SIGBUS hot-unplug the process must let go of the GPU
 * (exit or exec) before the unplug can finish, so a SIGBUS with SI_USER
 * means exit whatever the policy: a thread woken by the signal handler
 * (through a pipe: the handler does nothing else) waits at most
 * EXIT_GRACE_MS for the loss line to be written, then exits.  The exit is
 * _exit after flushing stdout and stderr (those no other thread holds): atexit handlers and destructors would use
 * the lost GPU (HIP's tear down its queues) and could block the exit the
 * kernel waits for.
 *
 * Locks: report_lock guards loss_written; a leaf. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/event_json.h"
#include "tool.h"

enum { EXIT_GRACE_MS = 50 };

static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t report_cond;
static bool loss_written;
static int wake[2] = {-1, -1};
static pthread_t exit_thread;
static bool exit_thread_started;
static struct sigaction previous;
static bool handler_installed;
static rochp_subscription subscription;

/* What the program printed is flushed -- unless another thread holds the
 * stream: fflush(NULL) would wait for every stream's lock, and a thread
 * blocked reading stdin holds stdin's for as long as it reads, which would
 * keep the process, and the unplug that waits for it, from ending. */
static void flush_if_free(FILE *f)
{
    if (ftrylockfile(f) == 0) {
        fflush_unlocked(f);
        funlockfile(f);
    }
}

/* Set by librochp_hip (NULL in librochp_tool): returns once the program's
 * own loss callbacks have run, or a bounded time has passed. */
static void (*_Atomic before_exit)(void);

void tool_set_before_exit(void (*fn)(void))
{
    atomic_store(&before_exit, fn);
}

static void exit_now(const char *why)
{
    /* A program with loss callbacks of its own (rochp_hip_subscribe) hears
     * of the loss before the process ends: that is what it subscribed for,
     * and the exit comes from a thread of the tool's, so it may be first. */
    void (*hook)(void) = atomic_load(&before_exit);
    if (hook)
        hook();
    char line[160];
    int n = snprintf(line, sizeof line, "rochp tool: %s: exiting with %d\n", why, tool.exit_code);
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere to say it */
    }
    flush_if_free(stdout);
    flush_if_free(stderr);
    _exit(tool.exit_code);
}

static int ordinal_of(rochp_device_id device)
{
    for (size_t i = 0; i < tool.n_agents; i++)
        if (tool.agents[i].device == device)
            return tool.agents[i].hip_ordinal;
    return -1;
}

static void write_line(const rochp_event *e)
{
    if (tool.events_fd < 0)
        return;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    if (!out)
        return;
    rochp__event_json_open(out, e);
    fprintf(out, ",\"pid\":%ld,\"hip_ordinal\":", (long)getpid());
    int ordinal = ordinal_of(e->device);
    if (ordinal >= 0)
        fprintf(out, "%d}\n", ordinal);
    else
        fputs("null}\n", out);
    if (fclose(out) == 0) {
        /* One write per line: lines of several processes never interleave
         * (O_APPEND). */
        if (write(tool.events_fd, text, size) < 0) {
            /* a full disk loses the line, not the program */
        }
    }
    free(text);
}

static void on_event(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)user;
    if (e->type == ROCHP_EVENT_LOST)
        for (size_t i = 0; i < tool.n_agents; i++)
            if (tool.agents[i].device == e->device)
                tool_agent_mark_lost(&tool.agents[i]);
    write_line(e);
    if (e->type != ROCHP_EVENT_LOST)
        return;
    pthread_mutex_lock(&report_lock);
    loss_written = true;
    pthread_cond_broadcast(&report_cond);
    pthread_mutex_unlock(&report_lock);
    if (tool.on_loss == TOOL_ON_LOSS_EXIT)
        exit_now("a GPU was lost (ROCHP_TOOL_ON_LOSS=exit)");
}

static void on_sigbus(int sig, siginfo_t *info, void *ucontext)
{
    int saved = errno;
    if (info && info->si_code == SI_USER && wake[1] >= 0) {
        char b = 's';
        if (write(wake[1], &b, 1) < 0) {
            /* a full pipe is awake already */
        }
    }
    errno = saved;
    /* rochp's handler (installed before, by the context) probes the GPUs
     * for this one and passes any other SIGBUS on. */
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction)
        previous.sa_sigaction(sig, info, ucontext);
    else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN)
        previous.sa_handler(sig);
}

static void *exit_main(void *arg)
{
    (void)arg;
    char b = 0;
    while (read(wake[0], &b, 1) < 0 && errno == EINTR) {
    }
    if (b != 's')
        return NULL; /* stopping */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_nsec += EXIT_GRACE_MS * 1000000L;
    deadline.tv_sec += deadline.tv_nsec / 1000000000L;
    deadline.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&report_lock);
    while (!loss_written &&
           pthread_cond_timedwait(&report_cond, &report_lock, &deadline) != ETIMEDOUT) {
    }
    pthread_mutex_unlock(&report_lock);
    exit_now("SIGBUS: the kernel is unplugging a GPU and waits for this process to let go");
    return NULL;
}

static rochp_status open_events(void)
{
    const char *path = getenv("ROCHP_TOOL_EVENTS");
    if (!path || !*path)
        return ROCHP_OK;
    if (strcmp(path, "-") == 0) {
        tool.events_fd = STDERR_FILENO;
        return ROCHP_OK;
    }
    tool.events_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (tool.events_fd < 0) {
        fprintf(stderr, "rochp tool: cannot open ROCHP_TOOL_EVENTS '%s': %s\n", path,
                strerror(errno));
        return ROCHP_ERROR_IO;
    }
    tool.events_close = true;
    return ROCHP_OK;
}

rochp_status tool_report_start(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&report_cond, &attr);
    pthread_condattr_destroy(&attr);
    rochp_status st = open_events();
    if (st != ROCHP_OK)
        return st;
    if (pipe2(wake, O_CLOEXEC) != 0 ||
        pthread_create(&exit_thread, NULL, exit_main, NULL) != 0) {
        fprintf(stderr, "rochp tool: cannot start its exit thread\n");
        return ROCHP_ERROR_OUT_OF_MEMORY;
    }
    exit_thread_started = true;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &previous) == 0)
        handler_installed = true;
    return rochp_subscribe(tool.ctx, ROCHP_EVENT_ALL, on_event, NULL, &subscription);
}

void tool_report_stop(void)
{
    if (handler_installed)
        sigaction(SIGBUS, &previous, NULL);
    handler_installed = false;
    if (exit_thread_started) {
        char b = 'q';
        if (write(wake[1], &b, 1) == 1)
            pthread_join(exit_thread, NULL);
        exit_thread_started = false;
    }
    for (int i = 0; i < 2; i++)
        if (wake[i] >= 0)
            close(wake[i]);
    wake[0] = wake[1] = -1;
    if (tool.events_close)
        close(tool.events_fd);
    tool.events_fd = -1;
    tool.events_close = false;
}
