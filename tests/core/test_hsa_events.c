/* A context with the HSA runtime (hsasim): every GPU device gets its agent,
 * matched by domain/BDF/node; a GPU memory fault and a GPU reset reach the
 * application as one lost event each with reason system_event instead of
 * ROCR's abort (the topology change after the reset folds into it); a silent
 * removal is found by the topology. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "event_recorder.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

/* A dispatch whose kernel descriptor lies in an unmapped page: a GPU memory
 * fault, which ROCR turns into abort() unless a handler accepts it.  The
 * application's queue has an error callback, as any real one would. */
static _Atomic int queue_error;
static _Atomic int system_events;

/* Counts the runtime's system events (rochp's own handler sees them too). */
static hsa_status_t on_system_event(const hsa_amd_event_t *event, void *data)
{
    (void)event;
    (void)data;
    atomic_fetch_add(&system_events, 1);
    return HSA_STATUS_SUCCESS;
}
static void on_queue_error(hsa_status_t status, hsa_queue_t *q, void *data)
{
    (void)q;
    (void)data;
    atomic_store(&queue_error, (int)status);
}

static hsa_queue_t *faulting_dispatch(hsa_agent_t agent, void **hole)
{
    long page = sysconf(_SC_PAGESIZE);
    *hole = mmap(NULL, (size_t)page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    REQUIRE(*hole != MAP_FAILED);
    hsa_queue_t *q;
    REQUIRE(hsa_queue_create(agent, 64, HSA_QUEUE_TYPE_MULTI, on_queue_error, NULL, UINT32_MAX,
                             UINT32_MAX, &q) == HSA_STATUS_SUCCESS);
    uint64_t index = hsa_queue_add_write_index_relaxed(q, 1);
    hsa_kernel_dispatch_packet_t *p = (hsa_kernel_dispatch_packet_t *)q->base_address + index % q->size;
    memset((char *)p + 4, 0, sizeof *p - 4);
    p->workgroup_size_x = p->workgroup_size_y = p->workgroup_size_z = 1;
    p->grid_size_x = p->grid_size_y = p->grid_size_z = 1;
    p->kernel_object = (uint64_t)(uintptr_t)*hole;
    __atomic_store_n((uint32_t *)p, HSA_PACKET_TYPE_KERNEL_DISPATCH << HSA_PACKET_HEADER_TYPE | 1u << 16,
                     __ATOMIC_RELEASE);
    hsa_signal_store_screlease(q->doorbell_signal, (hsa_signal_value_t)index);
    return q;
}

static hsa_status_t bdf_of(hsa_agent_t a, void *data)
{
    uint64_t *want = data; /* in: agent handle, out: BDFID */
    if (a.handle == want[0]) {
        uint32_t bdf = 0;
        hsa_agent_get_info(a, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_BDFID, &bdf);
        want[1] = bdf;
    }
    return HSA_STATUS_SUCCESS;
}

int main(void)
{
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "hsa-events") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 3, 1, NULL, &err) == ROCHP_OK);
    setenv("ROCHP_SYSFS_ROOT", dir, 1);
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.poll_interval_ms = 20;
    rochp_context *ctx;
    if (rochp_context_create(&o, &ctx) != ROCHP_OK) {
        fprintf(stderr, "%s\n", rochp_last_error());
        return 1;
    }
    rochp_device_info devs[8];
    size_t n = 0;
    REQUIRE(rochp_device_list(ctx, devs, 8, &n) == ROCHP_OK);
    CHECK_EQ_U64(n, 3);
    /* The application's own hsa_init (same runtime, loaded by the test) sees
     * the same agents rochp matched. */
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    for (size_t i = 0; i < n; i++) {
        CHECK(devs[i].hsa_agent != 0);
        uint64_t q[2] = {devs[i].hsa_agent, UINT64_MAX};
        hsa_iterate_agents(bdf_of, q);
        CHECK_EQ_U64(q[1], devs[i].location_id);
        for (size_t k = 0; k < i; k++)
            CHECK(devs[k].hsa_agent != devs[i].hsa_agent);
    }

    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    /* A memory fault on GPU 0 by a bad packet: rochp's handler accepts the
     * event, so the process goes on; it is the program's fault, not the
     * device's: no loss.  (ROCR sends a page fault to no queue callback;
     * the event is what tells, and the process's queues there stop.) */
    REQUIRE(hsa_amd_register_system_event_handler(on_system_event, NULL) == HSA_STATUS_SUCCESS);
    void *hole;
    hsa_queue_t *fq = faulting_dispatch((hsa_agent_t){devs[0].hsa_agent}, &hole);
    for (int i = 0; i < 3000 && atomic_load(&system_events) == 0; i++)
        usleep(10000);
    CHECK_EQ_U64(atomic_load(&system_events), 1);
    CHECK_EQ_U64(atomic_load(&queue_error), 0);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 0);
    rochp_device_info info;
    CHECK(rochp_device_get(ctx, devs[0].id, &info) == ROCHP_OK &&
          info.state == ROCHP_DEVICE_PRESENT);
    hsa_queue_destroy(fq);
    munmap(hole, (size_t)sysconf(_SC_PAGESIZE));
    /* A GPU reset: the HW exception event would abort the process in ROCR
     * without a handler that accepts it. */
    setenv("ROCHP_SIM_KERNEL", "reset", 1);
    REQUIRE(vtree_unplug(dir, devs[1].pci, 0, NULL, &err) == ROCHP_OK);
    for (int i = 0; i < 3000 && event_count(&r) < 1; i++)
        usleep(10000);
    /* The topology shows it gone too: folded, no second event. */
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    setenv("ROCHP_SIM_KERNEL", "silent", 1);
    REQUIRE(vtree_unplug(dir, devs[2].pci, 0, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count(&r), 2);
    if (event_count(&r) == 2) {
        CHECK(r.events[0].type == ROCHP_EVENT_LOST);
        CHECK(r.events[0].reason == ROCHP_REASON_SYSTEM_EVENT);
        CHECK_EQ_U64(r.events[0].device, devs[1].id);
        CHECK(r.events[1].type == ROCHP_EVENT_LOST);
        CHECK(r.events[1].reason == ROCHP_REASON_TOPOLOGY);
        CHECK_EQ_U64(r.events[1].device, devs[2].id);
    }
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    CHECK(hsa_shut_down() == HSA_STATUS_SUCCESS);

    /* (Debian's real ROCR is checked in core_hsa_table: this process has
     * hsasim loaded under the same soname.) */
    test_remove_tmpdir(dir);
    return check_result();
}
