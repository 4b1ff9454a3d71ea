// hip_training: a HIP training-style loop over two GPUs that survives
// losing one of them (rochp_hip.h), or its whole process.
//
//   hip_training STATE_FILE [--steps S] [--every K] [--pause-at P]
//
// The weights are two shards of N words, shard s hipMalloc'd on GPU s (on
// GPU 0 alone when there is one) and registered with rochp
// (rochp_hip_register).  Each step marks both shards written
// (rochp_buffer_mark_written) and launches the order-sensitive train_step
// kernel on each with hipLaunchKernelGGL, then synchronises.  Every K steps
// the loop checkpoints (rochp_checkpoint: copies of what the steps since
// wrote) and saves the checkpoint with its step to STATE_FILE.
//
// A GPU lost while the process may stay (the kernel's silent removal or a
// GPU reset): rochp_recover moves the lost GPU's shard onto the other GPU
// -- into memory hipMalloc'd there, at a new address -- and rolls the other
// shard back to the checkpoint; the loop goes back to the checkpoint's
// step and redoes the steps (HIP's launches are not replayed).  A GPU lost
// under the current kernel's behaviour (SIGBUS: the process must let go):
// transparent mode ends the process with code 75, and the next run loads
// STATE_FILE onto the GPUs present and goes on from the saved step -- or,
// under rochp-run, the checkpoint kept in the supervisor's memory
// (rochp_checkpoint_hand_over, rochp_resume), with no file.  The
// final checksum is the uninterrupted run's either way.
//   --pause-at P  after step P's launches, print "paused" and wait for a
//                 line on stdin (a test unplugs a GPU meanwhile)
// Output lines a test reads: "started with G GPUs", "resumed at step S",
// "lost GPU ORDINAL PCI", "recovered at step S: shard K on GPU ORDINAL ...",
// "steps S checksum X".  Uses the public API only; never calls HIP from
// rochp's callback thread.
#include <hip/hip_runtime.h>

#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rochp/rochp_hip.h>

#define N 4096u
#define SHARDS 2
#define WAIT_NS (60ull * 1000 * 1000 * 1000)

extern "C" __global__ void train_step(unsigned *w, unsigned n, unsigned step, unsigned shard)
{
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n)
        w[i] = w[i] * 3u + step + i + shard * 1000u;
}

// What the program keeps in a checkpoint besides rochp's buffers.
struct progress {
    uint32_t next_step;
    uint32_t shards;
    uint64_t ids[SHARDS];
};

struct shard {
    rochp_buffer *buf;
    int ordinal;
    unsigned *w;
};

static pthread_mutex_t told_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t told_cond = PTHREAD_COND_INITIALIZER;
static int losses_told;

static void on_event(rochp_context *, const rochp_event *e, int ordinal, void *)
{
    // No HIP here (HIP's locks may be held by the loop): the loop learns of
    // the loss from rochp_hip_device_usable.
    printf("lost GPU %d %s\n", ordinal, e->info.pci);
    fflush(stdout);
    pthread_mutex_lock(&told_lock);
    losses_told++;
    pthread_cond_broadcast(&told_cond);
    pthread_mutex_unlock(&told_lock);
}

// The loop may recover before the event is out (rochp holds a loss seen
// from a GPU reset up to 100 ms for a SIGBUS to claim it): before the
// program ends, each loss it recovered from is told (at most 5 s).
static void wait_told(int losses)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 5;
    pthread_mutex_lock(&told_lock);
    while (losses_told < losses &&
           pthread_cond_timedwait(&told_cond, &told_lock, &deadline) == 0) {
    }
    pthread_mutex_unlock(&told_lock);
}

static int fail(const char *what, rochp_status st)
{
    fprintf(stderr, "hip_training: %s: %s (%s)\n", what, rochp_status_string(st),
            rochp_last_error());
    return 1;
}

static int hip_fail(const char *what, hipError_t e)
{
    fprintf(stderr, "hip_training: %s: %s\n", what, hipGetErrorString(e));
    return 1;
}

// Where the shard is now (a recovery or a load moves it).
static rochp_status place(rochp_context *ctx, shard *s)
{
    s->w = static_cast<unsigned *>(rochp_buffer_address(s->buf));
    return rochp_hip_ordinal(ctx, rochp_buffer_device(s->buf), &s->ordinal);
}

// Transparent mode's word (lock-free) or, once rochp rescanned, the context's.
static bool all_usable(rochp_context *ctx, const shard *sh)
{
    for (int s = 0; s < SHARDS; s++) {
        rochp_device_info info;
        if (!rochp_hip_device_usable(sh[s].ordinal) ||
            rochp_device_get(ctx, rochp_buffer_device(sh[s].buf), &info) != ROCHP_OK ||
            info.state != ROCHP_DEVICE_PRESENT)
            return false;
    }
    return true;
}

// Back to the last checkpoint: the lost GPU's shard moves, the other rolls back.
static int recover(rochp_context *ctx, shard *sh, const progress *p)
{
    rochp_status st = rochp_rescan(ctx);
    rochp_recovery_report rep;
    if (st == ROCHP_OK)
        st = rochp_recover(ctx, WAIT_NS, &rep);
    if (st != ROCHP_OK)
        return fail("recover", st);
    printf("recovered at step %u:", p->next_step);
    for (int s = 0; s < SHARDS; s++) {
        if ((st = place(ctx, &sh[s])) != ROCHP_OK)
            return fail("place", st);
        printf(" shard %d on GPU %d", s, sh[s].ordinal);
    }
    printf(" (%" PRIu64 " moved, %" PRIu64 " rolled back)\n", rep.buffers_moved,
           rep.buffers_rolled_back);
    fflush(stdout);
    return 0;
}

// A checkpoint of the state before step p->next_step, saved.  *lost: a GPU
// went meanwhile (the previous checkpoint stands).
static int checkpoint(rochp_context *ctx, const char *path, const progress *p, bool *lost)
{
    // rochp learns of a loss HIP did not report before copying anything.
    rochp_status st = rochp_rescan(ctx);
    if (st == ROCHP_OK)
        st = rochp_checkpoint(ctx, WAIT_NS, NULL);
    if (st == ROCHP_ERROR_DEVICE_LOST) {
        *lost = true;
        return 0;
    }
    if (st != ROCHP_OK)
        return fail("checkpoint", st);
    // Under rochp-run to the supervisor's memory, else to the file.
    st = rochp_checkpoint_hand_over(ctx, p->next_step, p, sizeof *p);
    if (st == ROCHP_ERROR_NOT_FOUND)
        st = rochp_checkpoint_save_path(ctx, path, p, sizeof *p);
    return st == ROCHP_OK ? 0 : fail("save", st);
}

static int start_fresh(rochp_context *ctx, shard *sh, progress *p)
{
    int gpus = 0;
    hipError_t e = hipGetDeviceCount(&gpus);
    if (e != hipSuccess)
        return hip_fail("hipGetDeviceCount", e);
    printf("started with %d GPUs\n", gpus);
    static unsigned init[N];
    for (int s = 0; s < SHARDS; s++) {
        void *mem = nullptr;
        if ((e = hipSetDevice(s % gpus)) != hipSuccess || (e = hipMalloc(&mem, N * 4)) != hipSuccess)
            return hip_fail("hipMalloc", e);
        for (unsigned x = 0; x < N; x++)
            init[x] = (unsigned)s * 7919u + x;
        if ((e = hipMemcpy(mem, init, sizeof init, hipMemcpyHostToDevice)) != hipSuccess)
            return hip_fail("hipMemcpy", e);
        rochp_status st = rochp_hip_register(ctx, mem, N * 4, 0, &sh[s].buf);
        if (st != ROCHP_OK)
            return fail("register", st);
        if ((st = place(ctx, &sh[s])) != ROCHP_OK)
            return fail("place", st);
        p->ids[s] = rochp_buffer_id(sh[s].buf);
    }
    p->next_step = 0;
    p->shards = SHARDS;
    return 0;
}

static int resume(rochp_context *ctx, rochp_restored *r, shard *sh, progress *p)
{
    rochp_status st;
    size_t size = 0;
    const void *user = rochp_restored_user(r, &size);
    if (size != sizeof *p) {
        fprintf(stderr, "hip_training: the checkpoint's progress record is %zu bytes\n", size);
        return 1;
    }
    memcpy(p, user, sizeof *p);
    for (int s = 0; s < SHARDS; s++) {
        sh[s].buf = rochp_restored_buffer(r, p->ids[s]);
        if (!sh[s].buf || (st = place(ctx, &sh[s])) != ROCHP_OK) {
            fprintf(stderr, "hip_training: shard %d is not in the checkpoint\n", s);
            return 1;
        }
        p->ids[s] = rochp_buffer_id(sh[s].buf); // the new context's ids
    }
    rochp_restored_free(r);
    printf("resumed at step %u\n", p->next_step);
    return 0;
}

static int run(rochp_context *ctx, const char *path, uint32_t steps, uint32_t every,
               uint32_t pause_at)
{
    shard sh[SHARDS] = {};
    progress p = {};
    // Under rochp-run the last checkpoint is in the supervisor's memory;
    // else (or before the first) in the file.
    rochp_restored *r = nullptr;
    rochp_status st = rochp_resume(ctx, &r);
    if (st != ROCHP_OK && st != ROCHP_ERROR_NOT_FOUND)
        return fail("resume", st);
    int fd = st == ROCHP_OK ? -1 : open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        st = rochp_checkpoint_load(ctx, fd, &r);
        close(fd);
        if (st != ROCHP_OK)
            return fail("load", st);
    }
    int rc = r ? resume(ctx, r, sh, &p) : start_fresh(ctx, sh, &p);
    if (rc)
        return rc;
    if (r)
        pause_at = UINT32_MAX; // a job pauses once: a resumed run goes on
    progress saved = p; // the last checkpoint's
    bool have_checkpoint = false;
    int recoveries = 0;
    uint32_t step = p.next_step;
    for (;;) {
        bool lost = false;
        if (step < steps && (step % every == 0 || !have_checkpoint) &&
            !(have_checkpoint && saved.next_step == step)) {
            progress at = p;
            at.next_step = step;
            if ((rc = checkpoint(ctx, path, &at, &lost)) != 0)
                return rc;
            if (!lost) {
                saved = at;
                have_checkpoint = true;
            }
        }
        if (!lost && step < steps) {
            for (int s = 0; s < SHARDS; s++) {
                rochp_status st = rochp_buffer_mark_written(sh[s].buf);
                if (st != ROCHP_OK)
                    return fail("mark", st);
                hipError_t e = hipSetDevice(sh[s].ordinal);
                if (e != hipSuccess)
                    return hip_fail("hipSetDevice", e);
                hipLaunchKernelGGL(train_step, dim3(N / 256), dim3(256), 0, 0, sh[s].w, N, step,
                                   (unsigned)s);
            }
            if (step == pause_at) {
                pause_at = UINT32_MAX; // once, not again when the steps are redone
                printf("paused\n");
                fflush(stdout);
                char line[16];
                if (!fgets(line, sizeof line, stdin))
                    return 1;
            }
        }
        // HIP's waits on a lost GPU end (transparent mode) without saying so.
        for (int s = 0; s < SHARDS; s++)
            if (hipSetDevice(sh[s].ordinal) == hipSuccess)
                (void)hipDeviceSynchronize();
        // The last step's results are read only from GPUs rochp still has.
        if (step >= steps && rochp_rescan(ctx) != ROCHP_OK)
            return fail("rescan", ROCHP_ERROR_IO);
        if (lost || !all_usable(ctx, sh)) {
            if ((rc = recover(ctx, sh, &saved)) != 0)
                return rc;
            recoveries++;
            step = saved.next_step;
            continue;
        }
        if (step >= steps)
            break;
        step++;
    }
    uint64_t sum = 1469598103934665603ull;
    static unsigned w[N];
    for (int s = 0; s < SHARDS; s++) {
        hipError_t e = hipSetDevice(sh[s].ordinal);
        if (e == hipSuccess)
            e = hipMemcpy(w, sh[s].w, sizeof w, hipMemcpyDeviceToHost);
        if (e != hipSuccess)
            return hip_fail("hipMemcpy", e);
        for (unsigned x = 0; x < N; x++) {
            sum ^= w[x];
            sum *= 1099511628211ull;
        }
    }
    printf("steps %u checksum %016" PRIx64 "\n", steps, sum);
    wait_told(recoveries);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: hip_training STATE_FILE [--steps S] [--every K] [--pause-at P]\n");
        return 2;
    }
    uint32_t steps = 100, every = 10, pause_at = UINT32_MAX;
    for (int i = 2; i + 1 < argc; i += 2) {
        uint32_t v = (uint32_t)strtoul(argv[i + 1], nullptr, 10);
        if (strcmp(argv[i], "--steps") == 0)
            steps = v;
        else if (strcmp(argv[i], "--every") == 0 && v > 0)
            every = v;
        else if (strcmp(argv[i], "--pause-at") == 0)
            pause_at = v;
        else {
            fprintf(stderr, "hip_training: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    rochp_context *ctx = nullptr;
    rochp_status st = rochp_hip_init(nullptr, &ctx); // before any HIP call
    if (st != ROCHP_OK)
        return fail("rochp_hip_init", st);
    rochp_subscription sub;
    if ((st = rochp_hip_subscribe(ctx, ROCHP_EVENT_LOST, on_event, nullptr, &sub)) != ROCHP_OK)
        return fail("subscribe", st);
    int rc = run(ctx, argv[1], steps, every, pause_at);
    fflush(stdout);
    rochp_context_destroy(ctx);
    return rc;
}
