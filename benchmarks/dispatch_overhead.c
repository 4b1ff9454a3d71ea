/* benchmarks/dispatch_overhead: what a dispatch costs through rochp against
 * the raw AQL sequence, on queues of the same runtime (hsasim) and device.
 *
 *   raw        what ROCR's own enqueue-latency test (rocrtst
 *              EnqueueLatency) does per packet: hsa_queue_add_write_index_
 *              relaxed, the 64-byte packet copied in, the header stored,
 *              hsa_signal_store_screlease on the doorbell -- plus copying the
 *              16 bytes of arguments into a kernarg slot, which every real
 *              dispatch with arguments does and rochp does too;
 *   plain      rochp_dispatch on a plain queue;
 *   journaled  rochp_dispatch on a journaled queue.
 *
 * Each variant is a noinline function doing one dispatch.  Instructions per
 * dispatch come from valgrind's callgrind (the function's inclusive cost on
 * the calling thread: deterministic, the doorbell's cost inside the
 * runtime included) -- the program runs itself under callgrind for that;
 * nanoseconds come from a native run (the median over batches of the time
 * spent in the dispatch calls, waits for completion excluded).  Dispatches go
 * in batches of half a ring, each batch waited for, so that no variant ever
 * waits for room.  Prints one JSON object; ratios are instruction ratios.
 *
 * Usage: dispatch_overhead [--dispatches N] (default 100000 per variant; the
 * callgrind run uses at most 5000).  --variant-run is the callgrind child's mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>

#include "bench_tree.h"
#include "ops.h"
#include "rochp/rochp_dispatch.h"

#define RING 1024u
#define BATCH (RING / 2)
#define NOINLINE __attribute__((noinline, used))

typedef struct empty_args {
    uint64_t a;
    uint32_t b, c;
} empty_args;

typedef struct bench {
    rochp_context *ctx;
    rochp_queue *plain, *journaled;
    const rochp_dispatch_kernel *kp, *kj;
    hsa_queue_t *raw;
    hsa_signal_t raw_done;
    uint8_t *raw_kernargs;
    hsa_kernel_dispatch_packet_t raw_packet; /* all but the header */
    rochp_buffer *raw_kernarg_buffer;
} bench;

static NOINLINE void dispatch_raw(bench *b, const empty_args *args)
{
    hsa_queue_t *q = b->raw;
    uint64_t index = hsa_queue_add_write_index_relaxed(q, 1);
    uint32_t slot = (uint32_t)index & (q->size - 1);
    uint8_t *kernarg = b->raw_kernargs + (size_t)slot * 64;
    memcpy(kernarg, args, sizeof *args);
    hsa_kernel_dispatch_packet_t *p = (hsa_kernel_dispatch_packet_t *)q->base_address + slot;
    *p = b->raw_packet;
    p->kernarg_address = kernarg;
    uint32_t header = (HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE) |
                      (1u << HSA_PACKET_HEADER_BARRIER) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCACQUIRE_FENCE_SCOPE) |
                      (HSA_FENCE_SCOPE_SYSTEM << HSA_PACKET_HEADER_SCRELEASE_FENCE_SCOPE);
    __atomic_store_n((uint32_t *)(void *)p,
                     header | (3u << HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS) << 16,
                     __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
}

static rochp_launch g_launch; /* one work-item */

static NOINLINE rochp_status dispatch_plain(bench *b, const empty_args *args)
{
    return rochp_dispatch(b->plain, b->kp, &g_launch, args, sizeof *args, NULL);
}

static NOINLINE rochp_status dispatch_journaled(bench *b, const empty_args *args)
{
    return rochp_dispatch(b->journaled, b->kj, &g_launch, args, sizeof *args, NULL);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int die(const char *what)
{
    fprintf(stderr, "dispatch_overhead: %s: %s\n", what, rochp_last_error());
    return 1;
}

static int setup(bench *b, char *dir, size_t dir_size)
{
    memset(b, 0, sizeof *b);
    const char *root = getenv("ROCHP_SYSFS_ROOT");
    if (!root || !*root) {
        if (bench_make_tree("dispatch", "mi210", 1, dir, dir_size) != 0)
            return 1;
        setenv("ROCHP_SYSFS_ROOT", dir, 1);
    }
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = ROCHP_CONTEXT_NO_UEVENTS;
    if (rochp_context_create(&o, &b->ctx) != ROCHP_OK)
        return die("context");
    rochp_device_info dev;
    size_t n = 0;
    if (rochp_device_list(b->ctx, &dev, 1, &n) != ROCHP_OK || n != 1)
        return die("device list");
    rochp_module *m;
    rochp_kernel *k;
    if (rochp_module_load_file(b->ctx, EMPTY_CO, &m) != ROCHP_OK ||
        rochp_module_kernel(m, "empty", &k) != ROCHP_OK)
        return die("module");
    if (rochp_launch_init(&g_launch, (rochp_dim3){1, 1, 1}, (rochp_dim3){1, 1, 1}) != ROCHP_OK)
        return die("launch");
    rochp_queue_options qo;
    rochp_queue_options_init(&qo);
    qo.packets = RING;
    qo.kernarg_bytes = 64;
    if (rochp_queue_create(b->ctx, dev.id, &qo, &b->plain) != ROCHP_OK)
        return die("plain queue");
    qo.mode = ROCHP_QUEUE_JOURNALED;
    qo.journal_length = RING;
    if (rochp_queue_create(b->ctx, dev.id, &qo, &b->journaled) != ROCHP_OK)
        return die("journaled queue");
    if (rochp_kernel_bind(k, b->plain, &b->kp) != ROCHP_OK ||
        rochp_kernel_bind(k, b->journaled, &b->kj) != ROCHP_OK)
        return die("bind");

    /* The raw queue: the same runtime (rochp loaded this very library), device and kernel. */
    if (hsa_init() != HSA_STATUS_SUCCESS ||
        hsa_queue_create((hsa_agent_t){dev.hsa_agent}, RING, HSA_QUEUE_TYPE_MULTI, NULL, NULL,
                         UINT32_MAX, UINT32_MAX, &b->raw) != HSA_STATUS_SUCCESS ||
        hsa_signal_create(0, 0, NULL, &b->raw_done) != HSA_STATUS_SUCCESS) {
        fprintf(stderr, "dispatch_overhead: raw HSA queue setup failed\n");
        return 1;
    }
    if (rochp_buffer_alloc(b->ctx, ROCHP_HOST, (size_t)RING * 64, &b->raw_kernarg_buffer) !=
        ROCHP_OK)
        return die("raw kernargs");
    b->raw_kernargs = rochp_buffer_address(b->raw_kernarg_buffer);
    hsa_kernel_dispatch_packet_t *p = &b->raw_packet;
    memset(p, 0, sizeof *p);
    p->header = HSA_PACKET_TYPE_INVALID << HSA_PACKET_HEADER_TYPE;
    p->workgroup_size_x = p->workgroup_size_y = p->workgroup_size_z = 1;
    p->grid_size_x = p->grid_size_y = p->grid_size_z = 1;
    p->kernel_object = b->kp->kernel_object;
    p->completion_signal = b->raw_done;
    return 0;
}

static void teardown(bench *b, const char *dir)
{
    hsa_queue_destroy(b->raw);
    hsa_signal_destroy(b->raw_done);
    rochp_buffer_free(b->raw_kernarg_buffer);
    hsa_shut_down();
    rochp_context_destroy(b->ctx);
    if (dir[0]) {
        unsetenv("ROCHP_SYSFS_ROOT"); /* the callgrind run makes its own */
        bench_remove_tree(dir);
    }
}

enum variant { RAW, PLAIN, JOURNALED };
static const char *const variant_fn[] = {"dispatch_raw", "dispatch_plain", "dispatch_journaled"};
static const char *const variant_name[] = {"raw", "plain", "journaled"};

/* n dispatches of one variant in batches; returns the median ns per dispatch
 * over the batches, or a negative number on failure. */
static double run(bench *b, enum variant v, uint32_t n)
{
    empty_args args = {0x1234, 5, 6};
    uint32_t batches = (n + BATCH - 1) / BATCH;
    double *per = calloc(batches, sizeof *per);
    if (!per)
        return -1;
    for (uint32_t i = 0; i < batches; i++) {
        uint32_t count = i + 1 < batches ? BATCH : n - i * BATCH;
        if (v == RAW)
            hsa_signal_store_screlease(b->raw_done, count);
        uint64_t t0 = now_ns();
        for (uint32_t j = 0; j < count; j++) {
            args.b = j;
            if (v == RAW)
                dispatch_raw(b, &args);
            else if ((v == PLAIN ? dispatch_plain : dispatch_journaled)(b, &args) != ROCHP_OK)
                return free(per), -1;
        }
        per[i] = (double)(now_ns() - t0) / count;
        if (v == RAW) {
            while (hsa_signal_wait_scacquire(b->raw_done, HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                             HSA_WAIT_STATE_BLOCKED) != 0) {
            }
        } else {
            rochp_queue *q = v == PLAIN ? b->plain : b->journaled;
            if (rochp_queue_wait_idle(q, 60ull * 1000000000ull) != ROCHP_OK)
                return free(per), -1;
            if (v == JOURNALED && rochp_queue_journal_truncate(q) != ROCHP_OK)
                return free(per), -1;
        }
    }
    /* median */
    for (uint32_t i = 1; i < batches; i++)
        for (uint32_t j = i; j > 0 && per[j - 1] > per[j]; j--) {
            double t = per[j];
            per[j] = per[j - 1];
            per[j - 1] = t;
        }
    double median = per[batches / 2];
    free(per);
    return median;
}

/* A number as callgrind_annotate prints it ("1,234,567"), up to stop. */
static double annotated_number(const char *text, char stop)
{
    double v = 0;
    for (const char *c = text; *c && *c != stop; c++)
        if (*c >= '0' && *c <= '9')
            v = v * 10 + (*c - '0');
    return v;
}

typedef struct counts {
    double inclusive[3]; /* per dispatch, as measured */
    double doorbell[3];  /* per dispatch: the doorbell store inside it */
    double equalised[3]; /* inclusive with the doorbell at its mean cost */
} counts;

/* Runs this program under callgrind with every variant and reads each
 * dispatch function's inclusive cost and the doorbell store's share of it.
 * The doorbell is the same runtime call in all three; in hsasim its cost
 * depends on whether the simulated packet processor happened to be asleep
 * (a futex wake), which valgrind's thread scheduling decides, so each
 * variant is charged the doorbell's mean cost over all of them.  false: no
 * valgrind. */
static bool callgrind(const char *self, uint32_t n, counts *out)
{
    char file[256], cmd[2048];
    snprintf(file, sizeof file, "/tmp/rochp-dispatch-callgrind.%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "valgrind --tool=callgrind --callgrind-out-file=%s --dump-instr=no "
             "'%s' --variant-run %u >/dev/null 2>&1",
             file, self, n);
    if (system(cmd) != 0)
        return false;
    snprintf(cmd, sizeof cmd,
             "callgrind_annotate --tree=calling --inclusive=yes --threshold=100 %s 2>/dev/null",
             file);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    char line[1024];
    int found = 0, in = -1;
    double bell_ir = 0, bell_calls = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, " *  ")) {
            /* A function appears once per source file of its code (the
             * inlined header's lines apart), the one with [object] is the
             * whole function; calls are listed under the part making them. */
            in = -1;
            for (int v = 0; v < 3; v++) {
                char pattern[64];
                snprintf(pattern, sizeof pattern, ":%s", variant_fn[v]);
                const char *at = strstr(line, pattern);
                if (!at || (at[strlen(pattern)] != ' ' && at[strlen(pattern)] != '\n'))
                    continue;
                in = v;
                if (at[strlen(pattern)] == ' ') {
                    out->inclusive[v] = annotated_number(line, '(') / n;
                    found |= 1 << v;
                }
            }
        } else if (in >= 0 && strstr(line, " >   ") && strstr(line, "hsa_signal_store")) {
            const char *calls = strrchr(line, '(');
            out->doorbell[in] = annotated_number(line, '(') / n;
            bell_ir += annotated_number(line, '(');
            bell_calls += calls ? annotated_number(calls, 'x') : 0;
        }
    }
    pclose(f);
    unlink(file);
    if (found != 7 || bell_calls == 0)
        return false;
    for (int v = 0; v < 3; v++)
        out->equalised[v] = out->inclusive[v] - out->doorbell[v] + bell_ir / bell_calls;
    return true;
}

int main(int argc, char **argv)
{
    uint32_t n = 100000;
    bool child = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--dispatches") && i + 1 < argc)
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--variant-run") && i + 1 < argc) {
            child = true;
            n = (uint32_t)strtoul(argv[++i], NULL, 10);
        } else {
            fprintf(stderr, "usage: dispatch_overhead [--dispatches N]\n");
            return 2;
        }
    }
    if (n == 0)
        n = 1;
    char dir[256] = "";
    bench b;
    if (setup(&b, dir, sizeof dir) != 0)
        return 1;
    double ns[3] = {0};
    for (int v = 0; v < 3; v++) {
        ns[v] = run(&b, (enum variant)v, n);
        if (ns[v] < 0) {
            fprintf(stderr, "dispatch_overhead: %s dispatches failed: %s\n", variant_name[v],
                    rochp_last_error());
            teardown(&b, dir);
            return 1;
        }
    }
    teardown(&b, dir);
    if (child)
        return 0;

    counts c;
    memset(&c, 0, sizeof c);
    bool have_ir = callgrind(argv[0], n < 5000 ? n : 5000, &c);
    printf("{\"benchmark\":\"dispatch_overhead\",\"dispatches\":%u", n);
    for (int v = 0; v < 3; v++) {
        if (have_ir)
            printf(",\"%s\":{\"instructions\":%.1f,\"ns\":%.1f,\"instructions_measured\":%.1f,"
                   "\"doorbell_instructions\":%.1f}",
                   variant_name[v], c.equalised[v], ns[v], c.inclusive[v], c.doorbell[v]);
        else
            printf(",\"%s\":{\"instructions\":null,\"ns\":%.1f}", variant_name[v], ns[v]);
    }
    if (have_ir)
        printf(",\"ratio_plain\":%.4f,\"ratio_journaled\":%.4f",
               c.equalised[PLAIN] / c.equalised[RAW], c.equalised[JOURNALED] / c.equalised[RAW]);
    else
        printf(",\"ratio_plain\":null,\"ratio_journaled\":null,\"note\":\"valgrind (callgrind) "
               "not found: no instruction counts\"");
    printf(",\"ns_ratio_plain\":%.3f,\"ns_ratio_journaled\":%.3f}\n", ns[PLAIN] / ns[RAW],
           ns[JOURNALED] / ns[RAW]);
    return 0;
}
