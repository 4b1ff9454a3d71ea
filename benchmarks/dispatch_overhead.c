/* benchmarks/dispatch_overhead: what a dispatch costs through rochp against
 * the raw AQL sequence, and against HIP, on queues of the same runtime
 * (hsasim) and device.
 *
 *   raw        what ROCR's own enqueue-latency test (rocrtst
 *              EnqueueLatency) does per packet: hsa_queue_add_write_index_
 *              relaxed, the 64-byte packet copied in, the header stored,
 *              hsa_signal_store_screlease on the doorbell -- plus copying the
 *              16 bytes of arguments into a kernarg slot, which every real
 *              dispatch with arguments does and rochp does too;
 *   plain      rochp_dispatch on a plain queue;
 *   journaled  rochp_dispatch on a journaled queue;
 *   hip_module_launch      hipModuleLaunchKernel of the same kernel, wrapped
 *              for HIP and loaded with hipModuleLoad, on a stream of its own;
 *   hip_launch_kernel_ggl  hipLaunchKernelGGL of it from a hipcc-built
 *              helper (dispatch_overhead_ggl.hip), on that stream.
 *
 * The HIP entries are there when the build found HIP (and hipcc, for the
 * second) and HIP takes the tree's GPU; otherwise the JSON says why they
 * were skipped.  HIP starts after the other variants ran.
 *
 * Each variant is a noinline function doing one dispatch.  Instructions per
 * dispatch come from valgrind's callgrind (the function's inclusive cost on
 * the calling thread: deterministic, the doorbell's cost inside the
 * runtime included; HIP 5.2 dispatches directly, writing the packet and
 * ringing the doorbell on the calling thread) -- the program runs itself
 * under callgrind for that; nanoseconds come from a native run (the median
 * over batches of the time spent in the dispatch calls, waits for completion
 * excluded).  Dispatches go in batches of half a ring, each batch waited for
 * (hipStreamSynchronize for HIP), so that no variant ever waits for room.
 * Prints one JSON object; ratios are instruction ratios, ns_ratios time
 * ratios.
 *
 * Usage: dispatch_overhead [--dispatches N] (default 100000 per variant; the
 * callgrind run uses at most 5000).  --variant-run is the callgrind child's mode. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hsa/hsa.h>
/* HIP_EMPTY_CO: built with HIP (hipModuleLaunchKernel); GGL_SKIP: without
 * hipcc (why); HIP_SKIP: without HIP (why).  CMakeLists.txt decides. */
#ifdef HIP_EMPTY_CO
#define __HIP_PLATFORM_AMD__ 1
#include <hip/hip_runtime_api.h>
#ifndef GGL_SKIP
#define HAVE_GGL 1
#endif
#endif

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
    rochp_device_info dev;
#ifdef HIP_EMPTY_CO
    int hip_ordinal;
    hipModule_t hip_module;
    hipFunction_t hip_empty;
    hipStream_t hip_stream;
#endif
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

#ifdef HIP_EMPTY_CO
/* A C program's launch: a pointer per argument, the same three. */
static NOINLINE hipError_t dispatch_hip_module(bench *b, const empty_args *args)
{
    void *params[] = {(void *)&args->a, (void *)&args->b, (void *)&args->c};
    return hipModuleLaunchKernel(b->hip_empty, 1, 1, 1, 1, 1, 1, 0, b->hip_stream, params, NULL);
}
#endif

#ifdef HAVE_GGL
/* dispatch_overhead_ggl.hip, built by hipcc. */
void dispatch_overhead_ggl_launch(hipStream_t stream, uint64_t a, uint32_t b, uint32_t c);

static NOINLINE void dispatch_hip_ggl(bench *b, const empty_args *args)
{
    dispatch_overhead_ggl_launch(b->hip_stream, args->a, args->b, args->c);
}
#endif

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
    b->dev = dev;
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

#ifdef HIP_EMPTY_CO
static int hip_die(const char *what, hipError_t e)
{
    fprintf(stderr, "dispatch_overhead: %s: %s\n", what, hipGetErrorName(e));
    return -1;
}

/* HIP on rochp's device: the wrapped empty kernel loaded with hipModuleLoad
 * and a stream of its own, each kind of launch made once.  0 when ready; 1
 * when this HIP takes no GPU of the tree (HIP 5.2 and gfx942), with why in
 * why: the HIP entries are skipped; -1 on failure. */
static int hip_setup(bench *b, char *why, size_t why_size)
{
    int count = 0;
    hipError_t e = hipGetDeviceCount(&count);
    if (e != hipSuccess || count == 0) {
        snprintf(why, why_size, "HIP takes no GPU of this tree (%s %s, hipGetDeviceCount: %s)",
                 b->dev.gfx_target, b->dev.pci, hipGetErrorName(e));
        return 1;
    }
    /* rochp's device among HIP's, by PCI address: HIP 5.2 prints function 0
     * whatever the function, so the function is not compared. */
    b->hip_ordinal = -1;
    for (int i = 0; i < count && b->hip_ordinal < 0; i++) {
        char pci[32];
        if (hipDeviceGetPCIBusId(pci, (int)sizeof pci, i) == hipSuccess &&
            strncasecmp(pci, b->dev.pci, 10) == 0)
            b->hip_ordinal = i;
    }
    if (b->hip_ordinal < 0) {
        snprintf(why, why_size, "HIP numbers %d GPU(s), none at %s", count, b->dev.pci);
        return 1;
    }
    if ((e = hipSetDevice(b->hip_ordinal)) != hipSuccess)
        return hip_die("hipSetDevice", e);
    if ((e = hipModuleLoad(&b->hip_module, HIP_EMPTY_CO)) != hipSuccess)
        return hip_die("hipModuleLoad(" HIP_EMPTY_CO ")", e);
    if ((e = hipModuleGetFunction(&b->hip_empty, b->hip_module, "empty")) != hipSuccess)
        return hip_die("hipModuleGetFunction(empty)", e);
    /* A stream of the benchmark's own, as rochp's queues are; non-blocking,
     * so that no launch is made to wait for the null stream. */
    if ((e = hipStreamCreateWithFlags(&b->hip_stream, hipStreamNonBlocking)) != hipSuccess)
        return hip_die("hipStreamCreateWithFlags", e);
    /* One launch of each kind first, outside the measured functions: HIP
     * loads a fat binary's code object for a device at its first launch
     * there, and sets up a stream's queue at its first command -- set-up, as
     * rochp's module load and kernel bind are. */
    empty_args args = {0x1234, 5, 6};
    void *params[] = {&args.a, &args.b, &args.c};
    if ((e = hipModuleLaunchKernel(b->hip_empty, 1, 1, 1, 1, 1, 1, 0, b->hip_stream, params,
                                   NULL)) != hipSuccess)
        return hip_die("hipModuleLaunchKernel", e);
#ifdef HAVE_GGL
    dispatch_overhead_ggl_launch(b->hip_stream, args.a, args.b, args.c);
    if ((e = hipGetLastError()) != hipSuccess)
        return hip_die("hipLaunchKernelGGL", e);
#endif
    if ((e = hipStreamSynchronize(b->hip_stream)) != hipSuccess)
        return hip_die("hipStreamSynchronize", e);
    return 0;
}

/* HIP itself stays: it has no shutdown, and keeps the runtime up until the
 * process exits. */
static void hip_teardown(bench *b)
{
    if (b->hip_stream)
        hipStreamDestroy(b->hip_stream);
    if (b->hip_module)
        hipModuleUnload(b->hip_module);
}
#endif

enum variant { RAW, PLAIN, JOURNALED, HIP_MODULE, HIP_GGL, VARIANTS };
static const char *const variant_fn[] = {"dispatch_raw", "dispatch_plain", "dispatch_journaled",
                                         "dispatch_hip_module", "dispatch_hip_ggl"};
static const char *const variant_name[] = {"raw", "plain", "journaled", "hip_module_launch",
                                           "hip_launch_kernel_ggl"};

/* One dispatch of variant v; false on failure (a HIP failure said on
 * stderr; hipLaunchKernelGGL reports none here: complete checks after the
 * batch). */
static bool dispatch(bench *b, enum variant v, const empty_args *args)
{
    switch (v) {
    case RAW:
        dispatch_raw(b, args);
        return true;
    case PLAIN:
        return dispatch_plain(b, args) == ROCHP_OK;
    case JOURNALED:
        return dispatch_journaled(b, args) == ROCHP_OK;
#ifdef HIP_EMPTY_CO
    case HIP_MODULE: {
        hipError_t e = dispatch_hip_module(b, args);
        if (e != hipSuccess)
            fprintf(stderr, "dispatch_overhead: hipModuleLaunchKernel: %s\n", hipGetErrorName(e));
        return e == hipSuccess;
    }
#endif
#ifdef HAVE_GGL
    case HIP_GGL:
        dispatch_hip_ggl(b, args);
        return true;
#endif
    default:
        return false;
    }
}

/* Waits for the batch just dispatched (and readies the next); false on failure. */
static bool complete(bench *b, enum variant v)
{
    switch (v) {
    case RAW:
        while (hsa_signal_wait_scacquire(b->raw_done, HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                         HSA_WAIT_STATE_BLOCKED) != 0) {
        }
        return true;
    case PLAIN:
    case JOURNALED: {
        rochp_queue *q = v == PLAIN ? b->plain : b->journaled;
        if (rochp_queue_wait_idle(q, 60ull * 1000000000ull) != ROCHP_OK)
            return false;
        return v == PLAIN || rochp_queue_journal_truncate(q) == ROCHP_OK;
    }
#ifdef HIP_EMPTY_CO
    case HIP_MODULE:
    case HIP_GGL: {
        /* hipLaunchKernelGGL's error, if any, before the synchronisation
         * sets the last error again. */
        hipError_t e = hipGetLastError();
        if (e == hipSuccess)
            e = hipStreamSynchronize(b->hip_stream);
        if (e != hipSuccess)
            fprintf(stderr, "dispatch_overhead: %s: %s\n", variant_name[v], hipGetErrorName(e));
        return e == hipSuccess;
    }
#endif
    default:
        return false;
    }
}

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
            if (!dispatch(b, v, &args))
                return free(per), -1;
        }
        per[i] = (double)(now_ns() - t0) / count;
        if (!complete(b, v))
            return free(per), -1;
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
    double inclusive[VARIANTS]; /* per dispatch, as measured */
    double doorbell[VARIANTS];  /* per dispatch: the doorbell stores inside it */
    double doorbells[VARIANTS]; /* doorbell stores per dispatch */
    double equalised[VARIANTS]; /* inclusive with each doorbell at the mean cost */
    double doorbell_mean;       /* per store, over raw, plain and journaled */
} counts;

/* Runs this program under callgrind with every variant and reads each
 * dispatch function's inclusive cost and the doorbell stores' share of it.
 * The doorbell is the same runtime call in all of them (HIP rings it in
 * ROCclr, several calls down); in hsasim its cost depends on whether the
 * simulated packet processor happened to be asleep (a futex wake), which
 * valgrind's thread scheduling decides, so each store is charged the mean
 * cost of the stores of raw, plain and journaled -- those three, so that
 * their figures do not depend on whether HIP was built.  The stores are
 * told apart by their callers (--separate-callers: each store's cost is kept
 * per chain of up to 24 callers), so that those made inside a measured
 * function, however deep, are found and the synchronisations' are not.
 * ran: the variants that ran.  false: no valgrind. */
static bool callgrind(const char *self, uint32_t n, unsigned ran, counts *out)
{
    char file[256], cmd[2048];
    snprintf(file, sizeof file, "/tmp/rochp-dispatch-callgrind.%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "valgrind --tool=callgrind --callgrind-out-file=%s --dump-instr=no "
             "'--separate-callers24=hsa_signal_store_*' '%s' --variant-run %u >/dev/null 2>&1",
             file, self, n);
    if (system(cmd) != 0)
        return false;
    snprintf(cmd, sizeof cmd,
             "callgrind_annotate --tree=calling --inclusive=yes --threshold=100 %s 2>/dev/null",
             file);
    FILE *f = popen(cmd, "r");
    if (!f)
        return false;
    char *line = NULL; /* a store's caller chain makes long lines */
    size_t cap = 0;
    unsigned found = 0;
    double bell_ir[VARIANTS] = {0}, bell_calls[VARIANTS] = {0};
    while (getline(&line, &cap, f) > 0) {
        if (strstr(line, " *  ")) {
            /* A function appears once per source file of its code (the
             * inlined header's lines apart), the one with [object] is the
             * whole function. */
            for (int v = 0; v < VARIANTS; v++) {
                char pattern[64];
                snprintf(pattern, sizeof pattern, ":%s ", variant_fn[v]);
                if (strstr(line, pattern)) {
                    out->inclusive[v] = annotated_number(line, '(') / n;
                    found |= 1u << v;
                }
            }
        } else if (strstr(line, " >   ") && strstr(line, "hsa_signal_store")) {
            /* A call of a store, named with its callers:
             * "hsa_signal_store_release'<caller>'...'dispatch_raw'run'main...". */
            for (int v = 0; v < VARIANTS; v++) {
                char pattern[64];
                snprintf(pattern, sizeof pattern, "'%s'", variant_fn[v]);
                if (!strstr(line, pattern))
                    continue;
                const char *calls = strrchr(line, '(');
                bell_ir[v] += annotated_number(line, '(');
                bell_calls[v] += calls ? annotated_number(calls, 'x') : 0;
            }
        }
    }
    free(line);
    pclose(f);
    unlink(file);
    double ref_ir = 0, ref_calls = 0;
    for (int v = RAW; v <= JOURNALED; v++) {
        ref_ir += bell_ir[v];
        ref_calls += bell_calls[v];
    }
    if ((found & ran) != ran || ref_calls == 0)
        return false;
    out->doorbell_mean = ref_ir / ref_calls;
    for (int v = 0; v < VARIANTS; v++) {
        out->doorbell[v] = bell_ir[v] / n;
        out->doorbells[v] = bell_calls[v] / n;
        out->equalised[v] =
            out->inclusive[v] - out->doorbell[v] + out->doorbell_mean * out->doorbells[v];
    }
    return true;
}

/* s as a JSON string; NULL as null. */
static void json_string(const char *s)
{
    if (!s) {
        fputs("null", stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s >= 0x20)
            putchar(*s);
    }
    putchar('"');
}

/* a / b with %.<digits>f, or null when either is unknown (negative: not measured). */
static void json_ratio(double a, double b, int digits)
{
    if (a > 0 && b > 0)
        printf("%.*f", digits, a / b);
    else
        fputs("null", stdout);
}

/* What each HIP entry is, for the JSON. */
static const char *const hip_call[] = {
    [HIP_MODULE] = "hipModuleLaunchKernel from C, arguments as kernelParams, on a "
                   "hipStreamNonBlocking stream",
    [HIP_GGL] = "hipLaunchKernelGGL built by hipcc (__hipPushCallConfiguration, the kernel's "
                "stub, hipLaunchKernel), on the same stream",
};

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

    /* Why each HIP entry was not measured (NULL: it was). */
    const char *skipped[VARIANTS] = {NULL};
#if !defined(HIP_EMPTY_CO) && defined(HIP_SKIP)
    skipped[HIP_MODULE] = skipped[HIP_GGL] = HIP_SKIP;
#elif !defined(HIP_EMPTY_CO)
    skipped[HIP_MODULE] = skipped[HIP_GGL] = "built without HIP";
#elif !defined(HAVE_GGL)
    skipped[HIP_GGL] = GGL_SKIP;
#endif
    double ns[VARIANTS] = {0};
    unsigned ran = 0;
    for (int v = 0; v < VARIANTS; v++) {
#ifdef HIP_EMPTY_CO
        /* HIP starts after rochp's variants ran, so that its threads and
         * queues are no part of their figures. */
        static char hip_why[256];
        if (v == HIP_MODULE) {
            int status = hip_setup(&b, hip_why, sizeof hip_why);
            if (status < 0) {
                hip_teardown(&b);
                teardown(&b, dir);
                return 1;
            }
            if (status > 0)
                skipped[HIP_MODULE] = skipped[HIP_GGL] = hip_why;
        }
#endif
        if (skipped[v])
            continue;
        ns[v] = run(&b, (enum variant)v, n);
        if (ns[v] < 0) {
            fprintf(stderr, "dispatch_overhead: %s dispatches failed: %s\n", variant_name[v],
                    v <= JOURNALED ? rochp_last_error() : "HIP's error above");
#ifdef HIP_EMPTY_CO
            hip_teardown(&b);
#endif
            teardown(&b, dir);
            return 1;
        }
        ran |= 1u << v;
    }
#ifdef HIP_EMPTY_CO
    hip_teardown(&b);
#endif
    teardown(&b, dir);
    if (child)
        return 0;

    counts c;
    memset(&c, 0, sizeof c);
    bool have_ir = callgrind(argv[0], n < 5000 ? n : 5000, ran, &c);
    double *ir = have_ir ? c.equalised : NULL;
    printf("{\"benchmark\":\"dispatch_overhead\",\"dispatches\":%u", n);
    for (int v = 0; v <= JOURNALED; v++) {
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
    printf(",\"ns_ratio_plain\":%.3f,\"ns_ratio_journaled\":%.3f", ns[PLAIN] / ns[RAW],
           ns[JOURNALED] / ns[RAW]);

    /* HIP on the same runtime and GPU: the same fields, what the call is,
     * its doorbell stores per launch (1: the launch wrote its packet and
     * rang the doorbell on the calling thread, as HIP's direct dispatch
     * does), its ratio to raw, and rochp's ratios to it. */
    for (int v = HIP_MODULE; v <= HIP_GGL; v++) {
        printf(",\"%s\":{", variant_name[v]);
        if (skipped[v]) {
            fputs("\"instructions\":null,\"ns\":null,\"skipped\":", stdout);
            json_string(skipped[v]);
            putchar('}');
            continue;
        }
        if (have_ir)
            printf("\"instructions\":%.1f,\"ns\":%.1f,\"instructions_measured\":%.1f,"
                   "\"doorbell_instructions\":%.1f,\"doorbells_per_dispatch\":%.2f",
                   c.equalised[v], ns[v], c.inclusive[v], c.doorbell[v], c.doorbells[v]);
        else
            printf("\"instructions\":null,\"ns\":%.1f", ns[v]);
        fputs(",\"call\":", stdout);
        json_string(hip_call[v]);
        fputs(",\"ratio_to_raw\":", stdout);
        json_ratio(ir ? ir[v] : -1, ir ? ir[RAW] : -1, 4);
        fputs(",\"ns_ratio_to_raw\":", stdout);
        json_ratio(ns[v], ns[RAW], 3);
        putchar('}');
    }
    fputs(",\"rochp_to_hip\":{", stdout);
    for (int v = HIP_MODULE; v <= HIP_GGL; v++) {
        printf("%s\"%s\":", v == HIP_MODULE ? "" : ",", variant_name[v]);
        if (skipped[v]) {
            fputs("null", stdout);
            continue;
        }
        fputs("{\"ratio_plain\":", stdout);
        json_ratio(ir ? ir[PLAIN] : -1, ir ? ir[v] : -1, 4);
        fputs(",\"ratio_journaled\":", stdout);
        json_ratio(ir ? ir[JOURNALED] : -1, ir ? ir[v] : -1, 4);
        fputs(",\"ns_ratio_plain\":", stdout);
        json_ratio(ns[PLAIN], ns[v], 3);
        fputs(",\"ns_ratio_journaled\":", stdout);
        json_ratio(ns[JOURNALED], ns[v], 3);
        putchar('}');
    }
    puts("}}");
    return 0;
}
