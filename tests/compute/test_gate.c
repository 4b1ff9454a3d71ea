/* Re-enumeration against concurrent API calls: two threads allocate, write,
 * read and free buffers, create and destroy queues and ask for kernel
 * objects while the main thread re-enumerates 40 times and the watcher's
 * automatic policy tries too.  Every call returns OK or names the runtime
 * having gone (DEVICE_LOST for an object of the old runtime); none crashes
 * (the sanitizer builds check the rest).  Afterwards everything works on the
 * new runtime. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "rochp/rochp_dispatch.h"
#include "sim_context.h"

static rochp_context *g_ctx;
static rochp_device_id g_dev;
static rochp_kernel *g_kernel;
static atomic_bool g_stop;
static atomic_uint g_ops; /* calls made by all workers */

static uint64_t test_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct worker {
    unsigned ops, lost, other;
    rochp_status other_status;
} worker;

static void account(worker *w, rochp_status st)
{
    w->ops++;
    atomic_fetch_add(&g_ops, 1);
    if (st == ROCHP_ERROR_DEVICE_LOST)
        w->lost++;
    else if (st != ROCHP_OK && !w->other++)
        w->other_status = st;
}

static void *work(void *arg)
{
    worker *w = arg;
    uint32_t pattern[256], back[256];
    for (unsigned i = 0; !atomic_load(&g_stop); i++) {
        for (unsigned k = 0; k < 256; k++)
            pattern[k] = i * 7919u + k;
        rochp_buffer *b = NULL;
        rochp_status st = rochp_buffer_alloc(g_ctx, i % 2 ? g_dev : ROCHP_HOST, sizeof pattern, &b);
        account(w, st);
        if (st == ROCHP_OK) {
            st = rochp_buffer_write(b, 0, pattern, sizeof pattern);
            account(w, st);
            if (st == ROCHP_OK) {
                st = rochp_buffer_read(b, 0, back, sizeof back);
                account(w, st);
                /* A read that succeeded reads what was written. */
                if (st == ROCHP_OK && memcmp(pattern, back, sizeof back) != 0)
                    w->other++, w->other_status = ROCHP_ERROR_MALFORMED;
            }
            account(w, rochp_buffer_free(b));
        }
        rochp_queue *q = NULL;
        st = rochp_queue_create(g_ctx, g_dev, NULL, &q);
        account(w, st);
        if (st == ROCHP_OK) {
            const rochp_dispatch_kernel *k;
            account(w, rochp_kernel_bind(g_kernel, q, &k));
            st = rochp_queue_wait_idle(q, 1000000000ull);
            account(w, st);
            account(w, rochp_queue_destroy(q));
        }
    }
    return NULL;
}

int main(void)
{
    char dir[256];
    g_ctx = test_sim_context(dir, sizeof dir, "gate", "mi210", 1, "silent");
    rochp_device_info dev;
    size_t n = 0;
    REQUIRE(rochp_device_list(g_ctx, &dev, 1, &n) == ROCHP_OK && n == 1);
    g_dev = dev.id;
    rochp_module *m;
    REQUIRE(rochp_module_load_file(g_ctx, CHAIN_CO, &m) == ROCHP_OK);
    REQUIRE(rochp_module_kernel(m, "chain_step", &g_kernel) == ROCHP_OK);

    worker w[2];
    memset(w, 0, sizeof w);
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&t[i], NULL, work, &w[i]) == 0);
    unsigned reenumerated = 0;
    for (int i = 0; i < 40; i++) {
        /* Let the workers get going between re-enumerations (which the
         * gate would otherwise serve first, one after the other). */
        unsigned target = atomic_load(&g_ops) + 20;
        uint64_t deadline = test_now_ns() + 30000000000ull;
        while (atomic_load(&g_ops) < target && test_now_ns() < deadline)
            sched_yield();
        rochp_status st = rochp_reenumerate(g_ctx);
        CHECK(st == ROCHP_OK);
        reenumerated += st == ROCHP_OK;
    }
    atomic_store(&g_stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ_U64(reenumerated, 40);
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].ops > 0);
        if (w[i].other)
            fprintf(stderr, "worker %d: %u unexpected results, first %s: %s\n", i, w[i].other,
                    rochp_status_string(w[i].other_status), rochp_last_error());
        CHECK_EQ_U64(w[i].other, 0);
    }
    fprintf(stderr, "%u and %u calls during 40 re-enumerations, %u and %u of them DEVICE_LOST\n",
            w[0].ops, w[1].ops, w[0].lost, w[1].lost);

    /* The new runtime: a dispatch runs. */
    rochp_queue *q;
    REQUIRE(rochp_queue_create(g_ctx, g_dev, NULL, &q) == ROCHP_OK);
    const rochp_dispatch_kernel *k;
    REQUIRE(rochp_kernel_bind(g_kernel, q, &k) == ROCHP_OK);
    rochp_buffer *b;
    REQUIRE(rochp_buffer_alloc(g_ctx, g_dev, 64 * sizeof(uint32_t), &b) == ROCHP_OK);
    uint32_t zero[64] = {0}, got[64];
    REQUIRE(rochp_buffer_write(b, 0, zero, sizeof zero) == ROCHP_OK);
    rochp_launch launch;
    REQUIRE(rochp_launch_init(&launch, (rochp_dim3){64, 1, 1}, (rochp_dim3){64, 1, 1}) ==
            ROCHP_OK);
    struct {
        uint32_t *data;
        uint32_t n, step;
    } args = {rochp_buffer_address(b), 64, 5};
    rochp_completion c;
    REQUIRE(rochp_dispatch(q, k, &launch, &args, sizeof args, &c) == ROCHP_OK);
    CHECK(rochp_completion_wait(&c, 30ull * 1000000000ull) == ROCHP_OK);
    REQUIRE(rochp_buffer_read(b, 0, got, sizeof got) == ROCHP_OK);
    for (uint32_t x = 0; x < 64; x++)
        CHECK_EQ_U64(got[x], 5 + x);
    CHECK(rochp_queue_destroy(q) == ROCHP_OK);
    CHECK(rochp_buffer_free(b) == ROCHP_OK);
    REQUIRE(rochp_context_destroy(g_ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
