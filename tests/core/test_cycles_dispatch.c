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
#include <hsasim/kernel.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

enum { CHANGES = 1000 };

typedef struct args {
    uint32_t *out;
    uint32_t base;
} args;

static void fill(const void *kernarg, const hsasim_dispatch *d)
{
    const args *a = kernarg;
    hsasim_for_each_item(d, x, y, z) a->out[x] = a->base + x;
}
static const hsasim_kernel_object fill_ko = {
    .magic = HSASIM_KERNEL_MAGIC, .fn = fill, .name = "fill", .kernarg_size = sizeof(args)};

typedef struct worker {
    hsa_agent_t agent;
    _Atomic int *stop;
    unsigned long done, wrong;
} worker;

static void *dispatching(void *arg)
{
    worker *w = arg;
    hsa_queue_t *q;
    if (hsa_queue_create(w->agent, 256, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX, UINT32_MAX,
                         &q) != HSA_STATUS_SUCCESS) {
        w->wrong++;
        return NULL;
    }
    hsa_signal_t done;
    hsa_signal_create(1, 0, NULL, &done);
    uint32_t out[256];
    args a = {out, 0};
    while (!atomic_load(w->stop)) {
        a.base += 1000;
        hsa_signal_store_relaxed(done, 1);
        uint64_t index = hsa_queue_add_write_index_relaxed(q, 1);
        hsa_kernel_dispatch_packet_t *p =
            (hsa_kernel_dispatch_packet_t *)q->base_address + index % q->size;
        memset((char *)p + 4, 0, sizeof *p - 4);
        p->workgroup_size_x = 64;
        p->workgroup_size_y = p->workgroup_size_z = 1;
        p->grid_size_x = 256;
        p->grid_size_y = p->grid_size_z = 1;
        p->kernel_object = (uint64_t)(uintptr_t)&fill_ko;
        p->kernarg_address = &a;
        p->completion_signal = done;
        __atomic_store_n((uint32_t *)p,
                         HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE | 1u << 16,
                         __ATOMIC_RELEASE);
        hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
        hsa_signal_wait_scacquire(done, HSA_SIGNAL_CONDITION_EQ, 0, UINT64_MAX,
                                  HSA_WAIT_STATE_BLOCKED);
        for (uint32_t i = 0; i < 256; i++)
            w->wrong += out[i] != a.base + i;
        w->done++;
    }
    hsa_signal_destroy(done);
    hsa_queue_destroy(q);
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
    rochp_error err = {0};
    REQUIRE(sim_create_model(dir, sim_model_find("mi210"), 4, 1, NULL, &err) == ROCHP_OK);
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
    worker w[2] = {{.agent = {devs[0].hsa_agent}, .stop = &stop},
                   {.agent = {devs[1].hsa_agent}, .stop = &stop}};
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        REQUIRE(pthread_create(&th[i], NULL, dispatching, &w[i]) == 0);

    unsigned present = 3, seed = 777;
    int changes[2] = {0, 0};
    for (int i = 0; i < CHANGES; i++) {
        int b = (int)(rand_r(&seed) % 2);
        if (present & (1u << b))
            REQUIRE(sim_unplug(dir, devs[2 + b].pci, 0, NULL, &err) == ROCHP_OK);
        else
            REQUIRE(sim_plug_back(dir, devs[2 + b].pci, NULL, &err) == ROCHP_OK);
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
    REQUIRE(hsa_shut_down() == HSA_STATUS_SUCCESS);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
