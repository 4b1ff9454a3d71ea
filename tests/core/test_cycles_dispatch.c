/* 1,000 random plug/unplug changes of two boards while two threads keep
 * dispatching (and checking) work on the two boards that stay, with the HSA
 * runtime up: for the cycled boards, events alternate lost/returned starting
 * with lost, exactly one per change, in sequence order; the steady boards
 * see no event and every one of their dispatches completes correctly.
 * (Leaks: the sanitizer and valgrind runs of this test.) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "core_kernels.h"
#include "host_kernels.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

enum { CHANGES = 1000 };

typedef struct worker {
    host_gpu gpu; /* core_kernels.co, loaded for this worker's GPU */
    _Atomic int *stop;
    unsigned long done, wrong;
} worker;

static void *dispatching(void *arg)
{
    worker *w = arg;
    hsa_queue_t *q;
    if (hsa_queue_create(w->gpu.gpu, 256, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX,
                         UINT32_MAX, &q) != HSA_STATUS_SUCCESS) {
        w->wrong++;
        return NULL;
    }
    uint64_t fill = host_gpu_kernel(&w->gpu, "fill");
    hsa_signal_t done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    uint32_t *out = host_gpu_memory(&w->gpu, 256 * sizeof *out);
    fill_args *a = host_gpu_kernarg(&w->gpu, sizeof *a);
    a->out = out;
    uint32_t base = 0;
    while (!atomic_load(w->stop)) {
        base += 1000;
        /* One segment for every dispatch: the previous one has completed. */
        a->base = base;
        hsa_signal_store_relaxed(done, 1);
        host_dispatch(q, fill, a, 256, 64, done);
        if (!host_completes(done, 60000000000ull)) {
            fprintf(stderr, "a dispatch on a steady GPU did not complete in 60 s\n");
            w->wrong++;
            break;
        }
        for (uint32_t i = 0; i < 256; i++)
            w->wrong += out[i] != base + i;
        w->done++;
    }
    hsa_signal_destroy(done);
    hsa_queue_destroy(q);
    host_gpu_free(a);
    host_gpu_free(out);
    return NULL;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static rochp_event events[CHANGES + 16];
static size_t n_events;

static void record(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)user;
    pthread_mutex_lock(&lock);
    if (n_events < sizeof events / sizeof *events)
        events[n_events++] = *e;
    pthread_mutex_unlock(&lock);
}

int main(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "cycles") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 4, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    setenv("ROCHP_SIM_KERNEL", "silent", 1); /* this process holds the GPUs */
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.poll_interval_ms = 5; /* the watcher races the explicit rescans */
    rochp_context *ctx;
    REQUIRE(rochp_context_create(&o, &ctx) == ROCHP_OK);
    rochp_device_info devs[4];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 4, &n) == ROCHP_OK && n == 4);
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, record, NULL, &sub) == ROCHP_OK);

    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    _Atomic int stop = 0;
    worker w[2] = {{.stop = &stop}, {.stop = &stop}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        host_gpu_open(&w[i].gpu, (hsa_agent_t){devs[i].hsa_agent}, CORE_KERNELS_CO);
        REQUIRE(pthread_create(&th[i], NULL, dispatching, &w[i]) == 0);
    }

    unsigned present = 3, seed = 777;
    int changes[2] = {0, 0};
    for (int i = 0; i < CHANGES; i++) {
        int b = (int)(rand_r(&seed) % 2);
        if (present & (1u << b))
            REQUIRE(vtree_unplug(dir, devs[2 + b].pci, 0, NULL, &err) == ROCHP_OK);
        else
            REQUIRE(vtree_plug_back(dir, devs[2 + b].pci, NULL, &err) == ROCHP_OK);
        present ^= 1u << b;
        changes[b]++;
        REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);

    CHECK_EQ_U64(n_events, CHANGES);
    int seen[2] = {0, 0};
    for (size_t i = 0; i < n_events; i++) {
        CHECK_EQ_U64(events[i].sequence, i + 1);
        int b = events[i].device == devs[2].id ? 0 : events[i].device == devs[3].id ? 1 : -1;
        if (b < 0) {
            fprintf(stderr, "event %zu for a steady device %llu\n", i,
                    (unsigned long long)events[i].device);
            check_failures++;
            break;
        }
        rochp_event_type want = seen[b] % 2 == 0 ? ROCHP_EVENT_LOST : ROCHP_EVENT_RETURNED;
        if (events[i].type != want) {
            fprintf(stderr, "event %zu: type %d, expected %d\n", i, events[i].type, want);
            check_failures++;
            break;
        }
        seen[b]++;
    }
    CHECK_EQ_U64(seen[0], changes[0]);
    CHECK_EQ_U64(seen[1], changes[1]);
    fprintf(stderr, "dispatches while cycling: %lu and %lu\n", w[0].done, w[1].done);
    CHECK(w[0].done > 0 && w[1].done > 0);
    CHECK_EQ_U64(w[0].wrong + w[1].wrong, 0);
    for (int i = 0; i < 2; i++)
        host_gpu_close(&w[i].gpu);
    REQUIRE(hsa_shut_down() == HSA_STATUS_SUCCESS);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
