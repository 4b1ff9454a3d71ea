/* The device event stream, on virtual trees driven by rochp-sim (topology
 * contexts: no HSA runtime).  Each scenario asserts the exact sequence of
 * events: one lost per loss and one arrived/returned per appearance, in
 * order, ids stable across a board's return and never reused. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "event_recorder.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

/* Waits (generous deadline, no timing assert) until n events are in. */
static bool wait_events(event_recorder *r, size_t n)
{
    for (int i = 0; i < 3000 && event_count(r) < n; i++)
        usleep(10000);
    return event_count(r) >= n;
}

static rochp_context *open_ctx(const char *dir, uint32_t poll_ms)
{
    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_NO_HSA;
    o.sysfs_root = dir;
    o.poll_interval_ms = poll_ms;
    rochp_context *ctx = NULL;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK) {
        fprintf(stderr, "context: %s\n", rochp_last_error());
        exit(1);
    }
    return ctx;
}

static rochp_device_id id_at(rochp_context *ctx, const char *pci)
{
    rochp_device_info all[64];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, all, 64, &n) == ROCHP_OK);
    for (size_t i = 0; i < n && i < 64; i++)
        if (strcmp(all[i].pci, pci) == 0 && all[i].state == ROCHP_DEVICE_PRESENT)
            return all[i].id;
    return 0;
}

/* Unplug an idle GPU: the watcher alone notices (poll), one lost event. */
static void test_unplug_idle(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-idle") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 4, 1, NULL, &err) == ROCHP_OK);
    rochp_context *ctx = open_ctx(dir, 20);
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, NULL, 0, &n) == ROCHP_OK);
    CHECK_EQ_U64(n, 4);
    rochp_device_id gone = id_at(ctx, "0000:43:00.0");
    CHECK(gone != 0);
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, "0000:43:00.0", 0, NULL, &err) == ROCHP_OK);
    CHECK(wait_events(&r, 1));
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK); /* nothing new: no second event */
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 1);
    CHECK(r.events[0].type == ROCHP_EVENT_LOST);
    CHECK(r.events[0].reason == ROCHP_REASON_TOPOLOGY);
    CHECK_EQ_U64(r.events[0].device, gone);
    CHECK_EQ_STR(r.events[0].info.pci, "0000:43:00.0");
    CHECK_EQ_U64(r.events[0].sequence, 1);
    CHECK_EQ_U64(r.events[0].generation, 6); /* 1 + 4 boards, + 1 removal */
    CHECK_EQ_U64(r.events[0].info.kfd_node, 3); /* where it was */
    rochp_device_info info;
    REQUIRE(rochp_device_get(ctx, gone, &info) == ROCHP_OK);
    CHECK(info.state == ROCHP_DEVICE_LOST);
    CHECK_EQ_U64(info.kfd_node, UINT32_MAX);
    /* The GPU after it was renumbered but is the same device. */
    rochp_device_id after = id_at(ctx, "0000:03:00.0");
    REQUIRE(rochp_device_get(ctx, after, &info) == ROCHP_OK);
    CHECK_EQ_U64(info.kfd_node, 3);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* A partitioned board leaves whole and comes back under the same ids;
 * a new board arrives under new ids. */
static void test_partitioned_board(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-cpx") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi300x"), 2, 8, NULL, &err) == ROCHP_OK);
    rochp_context *ctx = open_ctx(dir, 1000);
    rochp_device_id ids[8];
    for (int k = 0; k < 8; k++) {
        char pci[24];
        snprintf(pci, sizeof pci, "0000:27:00.%d", k);
        ids[k] = id_at(ctx, pci);
        CHECK(ids[k] != 0);
    }
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, "0000:27:00.5", 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(vtree_plug_back(dir, "0000:27:00.0", NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(vtree_plug_model(dir, vtree_model_find("mi300x"), 1, NULL, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 17);
    for (int k = 0; k < 8 && event_count(&r) == 17; k++) {
        CHECK(r.events[k].type == ROCHP_EVENT_LOST);
        CHECK_EQ_U64(r.events[k].device, ids[k]);
        CHECK_EQ_U64(r.events[k].info.partition, k);
        CHECK_EQ_U64(r.events[k].info.partition_count, 8);
        CHECK(r.events[8 + k].type == ROCHP_EVENT_RETURNED);
        CHECK_EQ_U64(r.events[8 + k].device, ids[k]);
        CHECK_EQ_U64(r.events[8 + k].info.unique_id, r.events[k].info.unique_id);
        CHECK_EQ_U64(r.events[8 + k].info.kfd_node, 10 + k); /* appended after the other board */
    }
    if (event_count(&r) == 17) {
        CHECK(r.events[16].type == ROCHP_EVENT_ARRIVED);
        CHECK(r.events[16].device > ids[7]);
        CHECK_EQ_STR(r.events[16].info.pci, "0000:47:00.0");
        for (size_t i = 1; i < 17; i++)
            CHECK_EQ_U64(r.events[i].sequence, r.events[i - 1].sequence + 1);
    }
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Callbacks may call the API: one unsubscribes itself at its first event,
 * and is not called again; destroying from a callback is refused. */
typedef struct self_unsub {
    rochp_subscription sub;
    _Atomic int calls;
    rochp_status destroy_status;
} self_unsub;

static void unsub_self(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)e;
    self_unsub *s = user;
    atomic_fetch_add(&s->calls, 1);
    size_t n;
    CHECK(rochp_device_list(ctx, NULL, 0, &n) == ROCHP_OK);
    CHECK(rochp_unsubscribe(ctx, s->sub) == ROCHP_OK);
    s->destroy_status = rochp_context_destroy(ctx);
    CHECK(rochp_flush(ctx) == ROCHP_ERROR_BUSY);
}

static void test_callbacks_call_api(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-api") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("rx7900xtx"), 3, 1, NULL, &err) == ROCHP_OK);
    rochp_context *ctx = open_ctx(dir, 1000);
    self_unsub s = {0};
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription other;
    REQUIRE(rochp_on_device_lost(ctx, unsub_self, &s, &s.sub) == ROCHP_OK);
    REQUIRE(rochp_on_device_lost(ctx, event_record, &r, &other) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, "0000:03:00.0", 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, "0000:0b:00.0", 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(atomic_load(&s.calls), 1);
    CHECK(s.destroy_status == ROCHP_ERROR_BUSY);
    CHECK_EQ_U64(event_count(&r), 2);
    CHECK(rochp_unsubscribe(ctx, s.sub) == ROCHP_ERROR_NOT_FOUND);
    CHECK_CONTAINS(rochp_last_error(), "no subscription");
    CHECK(rochp_subscribe(ctx, 0x100, event_record, &r, &other) == ROCHP_ERROR_INVALID_ARGUMENT);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Destroying while events are in flight: the callback in progress finishes,
 * nothing runs after destroy returns, and nothing deadlocks. */
static _Atomic int destroyed, late_calls, slow_calls;
static void slow(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)e;
    (void)user;
    if (atomic_load(&destroyed))
        atomic_fetch_add(&late_calls, 1);
    atomic_fetch_add(&slow_calls, 1);
    usleep(20 * 1000); /* keeps events queued behind it */
}

static void test_destroy_in_flight(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-destroy") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi300x"), 2, 8, NULL, &err) == ROCHP_OK);
    rochp_context *ctx = open_ctx(dir, 1000);
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, slow, NULL, &sub) == ROCHP_OK);
    REQUIRE(vtree_unplug(dir, "0000:05:00.0", 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK); /* 8 events, 20 ms each */
    while (atomic_load(&slow_calls) == 0)
        usleep(1000);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    atomic_store(&destroyed, 1);
    CHECK(atomic_load(&slow_calls) < 8); /* it really was in flight */
    usleep(100 * 1000);
    CHECK_EQ_U64(atomic_load(&late_calls), 0);
    test_remove_tmpdir(dir);
}

/* 1,000 random plug/unplug changes of 4 boards: for every device, events
 * alternate lost/returned starting with lost, exactly one per change, in
 * sequence order, while the watcher polls in parallel. */
static void test_random_cycles(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-random") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 4, 1, NULL, &err) == ROCHP_OK);
    static const char *pcis[4] = {"0000:63:00.0", "0000:43:00.0", "0000:03:00.0", "0000:26:00.0"};
    rochp_context *ctx = open_ctx(dir, 5);
    rochp_device_id ids[4];
    for (int b = 0; b < 4; b++)
        ids[b] = id_at(ctx, pcis[b]);
    static event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    unsigned present = 0xf, seed = 4242;
    int changes[4] = {0};
    for (int i = 0; i < 1000; i++) {
        int b = (int)(rand_r(&seed) % 4);
        if (present & (1u << b))
            REQUIRE(vtree_unplug(dir, pcis[b], 0, NULL, &err) == ROCHP_OK);
        else
            REQUIRE(vtree_plug_back(dir, pcis[b], NULL, &err) == ROCHP_OK);
        present ^= 1u << b;
        changes[b]++;
        REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    }
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 1000);
    int seen[4] = {0};
    for (size_t i = 0; i < event_count(&r); i++) {
        const rochp_event *e = &r.events[i];
        CHECK_EQ_U64(e->sequence, i + 1);
        int b = -1;
        for (int k = 0; k < 4; k++)
            if (e->device == ids[k])
                b = k;
        REQUIRE(b >= 0); /* ids stay stable: no new device ever */
        rochp_event_type want = seen[b] % 2 == 0 ? ROCHP_EVENT_LOST : ROCHP_EVENT_RETURNED;
        if (e->type != want) {
            fprintf(stderr, "event %zu: board %d got type %d, expected %d\n", i, b, e->type, want);
            check_failures++;
            break;
        }
        seen[b]++;
    }
    for (int b = 0; b < 4; b++)
        CHECK_EQ_U64(seen[b], changes[b]);
    size_t n;
    REQUIRE(rochp_device_list(ctx, NULL, 0, &n) == ROCHP_OK);
    CHECK_EQ_U64(n, 4);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

/* Faults reported by the application fold into the stream: the first
 * reason wins, and the topology change that follows adds nothing. */
static void test_reported_faults(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-faults") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    rochp_context *ctx = open_ctx(dir, 1000);
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    rochp_device_id a = id_at(ctx, "0000:63:00.0"), b = id_at(ctx, "0000:43:00.0");
    CHECK(rochp_device_report_fault(ctx, a, ROCHP_REASON_QUEUE_ERROR) == ROCHP_OK);
    CHECK(rochp_device_report_fault(ctx, a, ROCHP_REASON_WATCHDOG) == ROCHP_OK); /* folded */
    CHECK(rochp_device_report_fault(ctx, b, ROCHP_REASON_WATCHDOG) == ROCHP_OK);
    CHECK(rochp_device_report_fault(ctx, 999999, ROCHP_REASON_WATCHDOG) == ROCHP_ERROR_NOT_FOUND);
    CHECK(rochp_device_report_fault(ctx, a, ROCHP_REASON_SIGBUS) == ROCHP_ERROR_INVALID_ARGUMENT);
    REQUIRE(vtree_unplug(dir, "0000:63:00.0", 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK); /* gone from the tree: already lost */
    REQUIRE(vtree_plug_back(dir, "0000:63:00.0", NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 3);
    if (event_count(&r) == 3) {
        CHECK(r.events[0].type == ROCHP_EVENT_LOST && r.events[0].device == a &&
              r.events[0].reason == ROCHP_REASON_QUEUE_ERROR);
        CHECK(r.events[1].type == ROCHP_EVENT_LOST && r.events[1].device == b &&
              r.events[1].reason == ROCHP_REASON_WATCHDOG);
        CHECK(r.events[2].type == ROCHP_EVENT_RETURNED && r.events[2].device == a);
    }
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
}

static void test_bad_arguments(void)
{
    rochp_context *ctx = (rochp_context *)1;
    rochp_options o;
    rochp_options_init(&o);
    o.sysfs_root = "/nonexistent";
    o.flags = ROCHP_CONTEXT_NO_HSA;
    CHECK(rochp_context_create(&o, &ctx) == ROCHP_ERROR_NOT_FOUND);
    CHECK(ctx == NULL);
    CHECK_CONTAINS(rochp_last_error(), "/nonexistent/topology");
    o.struct_size = 3;
    CHECK(rochp_context_create(&o, &ctx) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK_CONTAINS(rochp_last_error(), "struct_size");
    rochp_options_init(&o);
    o.flags = 0x80;
    CHECK(rochp_context_create(&o, &ctx) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_context_create(NULL, NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_context_destroy(NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    CHECK(rochp_rescan(NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
}

/* Debian's real ROCR on a machine without a GPU: context creation fails
 * with a clear status and message, and the process goes on. */
static void test_real_runtime_without_gpu(void)
{
    if (access("/dev/kfd", F_OK) == 0) {
        fprintf(stderr, "this machine has /dev/kfd: the no-GPU case is not checked\n");
        return;
    }
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "ev-real") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 1, 1, NULL, &err) == ROCHP_OK);
    rochp_options o;
    rochp_options_init(&o);
    o.sysfs_root = dir;
    o.hsa_runtime = "libhsa-runtime64.so.1";
    rochp_context *ctx = NULL;
    rochp_status st = rochp_context_create(&o, &ctx);
    if (st == ROCHP_ERROR_NOT_FOUND && strstr(rochp_last_error(), "cannot load")) {
        fprintf(stderr, "the real ROCR is not installed: not checked\n");
    } else {
        CHECK(st == ROCHP_ERROR_NOT_FOUND);
        CHECK(ctx == NULL);
        CHECK_CONTAINS(rochp_last_error(), "hsa_init in 'libhsa-runtime64.so.1' failed");
        CHECK_CONTAINS(rochp_last_error(), "HSA_STATUS_ERROR_OUT_OF_RESOURCES");
        CHECK_CONTAINS(rochp_last_error(), "/dev/kfd");
    }
    test_remove_tmpdir(dir);
}

int main(void)
{
    test_bad_arguments();
    test_real_runtime_without_gpu();
    test_reported_faults();
    test_unplug_idle();
    test_partitioned_board();
    test_callbacks_call_api();
    test_destroy_in_flight();
    test_random_cycles();
    return check_result();
}
