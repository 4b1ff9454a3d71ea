/* The job benchmarks/process_recovery runs and kills: state on two GPUs,
 * checkpointed, then lost and resumed in a new process.
 *
 *   process_recovery_job CODE_OBJECT memory|file STATE_FILE MIB
 *
 * A fresh run puts MIB MiB of rochp buffers on two GPUs (half on each, two
 * buffers per GPU), runs one step (one `empty` kernel per buffer on its
 * GPU's journaled queue), checkpoints and hands the checkpoint over to
 * rochp-run (memory) or saves it to STATE_FILE (file), prints "ready PCI"
 * (the first GPU's address, for the driver to unplug) and waits on stdin.
 * A run that finds a checkpoint (rochp_resume, or rochp_checkpoint_load of
 * STATE_FILE) restores it, runs one step, checks the state's bytes and
 * exits 0.
 *
 * Times are CLOCK_MONOTONIC lines "NAME NS" on stdout: main (entered),
 * context (created), restored, step (first step complete), and sigbus,
 * written by this program's own SIGBUS handler, which then _exits with 75.
 * The handler is the only one: the context is made without
 * ROCHP_CONTEXT_SIGBUS_HANDLER, and after the context exists the program
 * checks that nothing replaced it, so "sigbus" is when the kernel's signal
 * reached the process and nothing ran before it.  Dying by the default
 * action instead would dump core (up to the whole state) on systems that
 * allow cores; exiting with 75 is what rochp's own SIGBUS exit does. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rochp/rochp_dispatch.h>

#define WAIT_NS (120ull * 1000 * 1000 * 1000)
#define PER_GPU 2
#define CHECK_BYTES 4096

typedef struct empty_args {
    uint64_t a;
    uint32_t b, c;
} empty_args;

/* The application's blob in the checkpoint: its objects' ids. */
typedef struct progress {
    uint64_t module_id;
    uint64_t buffer_ids[2 * PER_GPU];
    uint64_t queue_ids[2];
} progress;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void stamp(const char *name)
{
    printf("%s %llu\n", name, (unsigned long long)now_ns());
    fflush(stdout);
}

/* Async-signal-safe: the time formatted by hand, one write, _exit. */
static void on_sigbus(int sig, siginfo_t *info, void *uc)
{
    (void)sig, (void)info, (void)uc;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    uint64_t ns = (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
    char buf[40] = "sigbus ";
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + ns % 10);
        ns /= 10;
    } while (ns);
    size_t len = 7;
    while (n)
        buf[len++] = digits[--n];
    buf[len++] = '\n';
    if (write(STDOUT_FILENO, buf, len) < 0) {
        /* nothing to be done: the exit code still says why */
    }
    _exit(75);
}

static int fail(const char *what)
{
    fprintf(stderr, "process_recovery_job: %s: %s\n", what, rochp_last_error());
    return 1;
}

/* The byte buffer i holds at offset off. */
static unsigned char pattern(int i, size_t off)
{
    return (unsigned char)(i * 37 + off / 4096);
}

/* One step: an `empty` kernel per buffer, on its GPU's queue; complete. */
static int step(rochp_module *m, rochp_queue *q[2], rochp_buffer *b[2 * PER_GPU])
{
    rochp_kernel *k;
    const rochp_dispatch_kernel *bound[2];
    rochp_launch launch;
    if (rochp_module_kernel(m, "empty", &k) != ROCHP_OK ||
        rochp_kernel_bind(k, q[0], &bound[0]) != ROCHP_OK ||
        rochp_kernel_bind(k, q[1], &bound[1]) != ROCHP_OK ||
        rochp_launch_init(&launch, (rochp_dim3){64, 1, 1}, (rochp_dim3){64, 1, 1}) != ROCHP_OK)
        return fail("kernel");
    for (int i = 0; i < 2 * PER_GPU; i++) {
        empty_args a = {(uint64_t)(uintptr_t)rochp_buffer_address(b[i]), (uint32_t)i, 0};
        if (rochp_dispatch(q[i / PER_GPU], bound[i / PER_GPU], &launch, &a, sizeof a, NULL) !=
            ROCHP_OK)
            return fail("dispatch");
    }
    for (int g = 0; g < 2; g++)
        if (rochp_queue_wait_idle(q[g], WAIT_NS) != ROCHP_OK)
            return fail("step");
    return 0;
}

static int fresh(rochp_context *ctx, const char *co, const char *mode, const char *path,
                 size_t bytes)
{
    rochp_device_info devs[2];
    size_t n = 0;
    if (rochp_device_list(ctx, devs, 2, &n) != ROCHP_OK || n != 2)
        return fail("two GPUs");
    progress p;
    rochp_module *m;
    rochp_queue *q[2];
    rochp_buffer *b[2 * PER_GPU];
    rochp_queue_options qo;
    rochp_queue_options_init(&qo);
    qo.mode = ROCHP_QUEUE_JOURNALED;
    if (rochp_module_load_file(ctx, co, &m) != ROCHP_OK)
        return fail("module");
    p.module_id = rochp_module_id(m);
    size_t each = bytes / (2 * PER_GPU), chunk = 16u << 20;
    unsigned char *host = malloc(chunk);
    if (!host)
        return fail("host memory");
    for (int i = 0; i < 2 * PER_GPU; i++) {
        if (rochp_buffer_alloc(ctx, devs[i / PER_GPU].id, each, &b[i]) != ROCHP_OK)
            return fail("buffer");
        for (size_t off = 0; off < each; off += chunk) {
            size_t len = each - off < chunk ? each - off : chunk;
            for (size_t x = 0; x < len; x += 4096)
                memset(host + x, pattern(i, off + x), len - x < 4096 ? len - x : 4096);
            if (rochp_buffer_write(b[i], off, host, len) != ROCHP_OK)
                return fail("fill");
        }
        p.buffer_ids[i] = rochp_buffer_id(b[i]);
    }
    free(host);
    for (int g = 0; g < 2; g++) {
        if (rochp_queue_create(ctx, devs[g].id, &qo, &q[g]) != ROCHP_OK)
            return fail("queue");
        p.queue_ids[g] = rochp_queue_id(q[g]);
    }
    if (step(m, q, b) != 0)
        return 1;
    if (rochp_checkpoint(ctx, WAIT_NS, NULL) != ROCHP_OK)
        return fail("checkpoint");
    uint64_t t0 = now_ns();
    rochp_status st = strcmp(mode, "memory") == 0
                          ? rochp_checkpoint_hand_over(ctx, 1, &p, sizeof p)
                          : rochp_checkpoint_save_path(ctx, path, &p, sizeof p);
    if (st != ROCHP_OK)
        return fail("save");
    /* What keeping the checkpoint costs the job: handing it over, or
     * writing and syncing the file. */
    printf("save_ns %llu\n", (unsigned long long)(now_ns() - t0));
    printf("ready %s\n", devs[0].pci);
    fflush(stdout);
    /* The driver unplugs the GPU now; the SIGBUS handler ends the process. */
    char line[16];
    if (read(STDIN_FILENO, line, sizeof line) >= 0)
        fprintf(stderr, "process_recovery_job: never got SIGBUS\n");
    return 1;
}

static int resumed(rochp_restored *r, size_t bytes)
{
    size_t size = 0;
    progress p;
    const void *user = rochp_restored_user(r, &size);
    if (size != sizeof p) {
        rochp_restored_free(r);
        fprintf(stderr, "process_recovery_job: the checkpoint holds no progress record\n");
        return 1;
    }
    memcpy(&p, user, sizeof p);
    rochp_module *m = rochp_restored_module(r, p.module_id);
    rochp_buffer *b[2 * PER_GPU];
    rochp_queue *q[2];
    int missing = !m;
    for (int i = 0; i < 2 * PER_GPU; i++)
        missing |= !(b[i] = rochp_restored_buffer(r, p.buffer_ids[i]));
    for (int g = 0; g < 2; g++)
        missing |= !(q[g] = rochp_restored_queue(r, p.queue_ids[g]));
    rochp_restored_free(r);
    if (missing) {
        fprintf(stderr, "process_recovery_job: the checkpoint misses an object\n");
        return 1;
    }
    if (step(m, q, b) != 0)
        return 1;
    stamp("step");
    /* After the clock: the state is what was checkpointed (each buffer's
     * first and last page). */
    size_t each = bytes / (2 * PER_GPU);
    unsigned char got[CHECK_BYTES];
    for (int i = 0; i < 2 * PER_GPU; i++) {
        size_t offs[2] = {0, each - CHECK_BYTES};
        for (int k = 0; k < 2; k++) {
            if (rochp_buffer_read(b[i], offs[k], got, sizeof got) != ROCHP_OK)
                return fail("read back");
            for (size_t x = 0; x < sizeof got; x++)
                if (got[x] != pattern(i, offs[k] + x)) {
                    fprintf(stderr, "process_recovery_job: buffer %d differs at %zu\n", i,
                            offs[k] + x);
                    return 1;
                }
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    stamp("main");
    if (argc != 5 || (strcmp(argv[2], "memory") != 0 && strcmp(argv[2], "file") != 0)) {
        fprintf(stderr, "usage: process_recovery_job CODE_OBJECT memory|file STATE_FILE MIB\n");
        return 2;
    }
    size_t bytes = (size_t)strtoull(argv[4], NULL, 10) << 20;
    if (bytes < 2 * PER_GPU * CHECK_BYTES) {
        fprintf(stderr, "process_recovery_job: MIB must be at least 1\n");
        return 2;
    }
    struct sigaction sa, now;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, NULL) != 0)
        return fail("sigaction");
    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_NO_UEVENTS;
    rochp_context *ctx;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK)
        return fail("context");
    stamp("context");
    if (sigaction(SIGBUS, NULL, &now) != 0 || !(now.sa_flags & SA_SIGINFO) ||
        now.sa_sigaction != on_sigbus) {
        fprintf(stderr, "process_recovery_job: something replaced the SIGBUS handler\n");
        return 1;
    }
    rochp_restored *r = NULL;
    rochp_status st = ROCHP_ERROR_NOT_FOUND;
    if (strcmp(argv[2], "memory") == 0) {
        st = rochp_resume(ctx, &r);
    } else {
        int fd = open(argv[3], O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            st = rochp_checkpoint_load(ctx, fd, &r);
            close(fd);
        }
    }
    int rc;
    if (st == ROCHP_OK) {
        stamp("restored");
        rc = resumed(r, bytes);
    } else if (st == ROCHP_ERROR_NOT_FOUND) {
        rc = fresh(ctx, argv[1], argv[2], argv[3], bytes);
    } else {
        rc = fail("resume");
    }
    rochp_context_destroy(ctx);
    return rc;
}
