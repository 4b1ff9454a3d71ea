/* Re-enumeration: a GPU plugged in after start arrives without an agent
 * (ROCR enumerates once); rochp_reenumerate restarts the runtime and gives
 * it one, ids unchanged, one reenumerated event per present device.  While
 * another component holds the runtime it cannot restart: BUSY, and rochp's
 * own reference is kept.  ROCHP_CONTEXT_AUTO_REENUMERATE does it by itself
 * after an arrival. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hsa/hsa.h>
#include <hsa/hsa_ext_amd.h>

#include "check.h"
#include "core_kernels.h"
#include "event_recorder.h"
#include "host_kernels.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "sim_context.h"
#include "tmpdir.h"

/* Dispatches triple (core_kernels.co, loaded for this agent as a program
 * must) over n items on agent and waits; true when every result is right. */
static bool dispatch_on(hsa_agent_t agent, uint32_t n)
{
    host_gpu h;
    host_gpu_open(&h, agent, CORE_KERNELS_CO);
    hsa_queue_t *q;
    if (hsa_queue_create(agent, 64, HSA_QUEUE_TYPE_MULTI, NULL, NULL, UINT32_MAX, UINT32_MAX,
                         &q) != HSA_STATUS_SUCCESS) {
        host_gpu_close(&h);
        return false;
    }
    uint32_t *out = host_gpu_memory(&h, n * sizeof *out);
    triple_args *args = host_gpu_kernarg(&h, sizeof *args);
    args->out = out;
    hsa_signal_t done;
    REQUIRE(hsa_signal_create(1, 0, NULL, &done) == HSA_STATUS_SUCCESS);
    host_dispatch(q, host_gpu_kernel(&h, "triple"), args, n, 64, done);
    bool ok = host_completes(done, 60000000000ull);
    for (uint32_t i = 0; i < n && ok; i++)
        ok = out[i] == i * 3;
    hsa_signal_destroy(done);
    hsa_queue_destroy(q);
    host_gpu_free(args);
    host_gpu_free(out);
    host_gpu_close(&h);
    return ok;
}

static rochp_device_info device_at(rochp_context *ctx, const char *pci)
{
    rochp_device_info all[32], none = {0};
    size_t n = 0;
    rochp_device_list(ctx, all, 32, &n);
    for (size_t i = 0; i < n && i < 32; i++)
        if (strcmp(all[i].pci, pci) == 0)
            return all[i];
    return none;
}

static hsa_status_t find_bdf(hsa_agent_t a, void *data)
{
    uint64_t *q = data; /* in: BDFID; out: agent handle */
    uint32_t bdf = 0;
    hsa_device_type_t t;
    hsa_agent_get_info(a, HSA_AGENT_INFO_DEVICE, &t);
    hsa_agent_get_info(a, (hsa_agent_info_t)HSA_AMD_AGENT_INFO_BDFID, &bdf);
    if (t == HSA_DEVICE_TYPE_GPU && bdf == q[0])
        q[1] = a.handle;
    return HSA_STATUS_SUCCESS;
}

int main(void)
{
    char dir[256];
    rochp_context *ctx = test_sim_context(dir, sizeof dir, "reenum", "mi210", 2, "silent");
    rochp__error err = {0};
    event_recorder r = EVENT_RECORDER_INIT;
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r, &sub) == ROCHP_OK);
    rochp_device_id first = device_at(ctx, "0000:63:00.0").id;

    /* A new board: arrived, but the runtime cannot see it yet. */
    REQUIRE(vtree_plug_model(dir, vtree_model_find("mi210"), 1, NULL, NULL, &err) == ROCHP_OK);
    REQUIRE(rochp_rescan(ctx) == ROCHP_OK);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    rochp_device_info fresh = device_at(ctx, "0000:03:00.0");
    CHECK(fresh.id != 0 && fresh.state == ROCHP_DEVICE_PRESENT);
    CHECK_EQ_U64(fresh.hsa_agent, 0);
    CHECK_EQ_U64(event_count_type(&r, ROCHP_EVENT_ARRIVED), 1);

    /* The application holds the runtime itself: no restart possible. */
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    CHECK(rochp_reenumerate(ctx) == ROCHP_ERROR_BUSY);
    CHECK_CONTAINS(rochp_last_error(), "still holds the HSA runtime");
    CHECK(device_at(ctx, "0000:63:00.0").hsa_agent != 0); /* rochp's view unchanged */
    REQUIRE(hsa_shut_down() == HSA_STATUS_SUCCESS);

    /* Now it can. */
    REQUIRE(rochp_reenumerate(ctx) == ROCHP_OK);
    REQUIRE(rochp_flush(ctx) == ROCHP_OK);
    CHECK_EQ_U64(event_count_type(&r, ROCHP_EVENT_REENUMERATED), 3);
    fresh = device_at(ctx, "0000:03:00.0");
    CHECK(fresh.hsa_agent != 0);
    CHECK_EQ_U64(device_at(ctx, "0000:63:00.0").id, first); /* ids stable */
    /* The agent is the runtime's: an application's own look-up agrees. */
    REQUIRE(hsa_init() == HSA_STATUS_SUCCESS);
    uint64_t q[2] = {0x0300, 0};
    hsa_iterate_agents(find_bdf, q);
    CHECK_EQ_U64(q[1], fresh.hsa_agent);
    /* ...and work runs on it. */
    CHECK(dispatch_on((hsa_agent_t){fresh.hsa_agent}, 1000));
    REQUIRE(hsa_shut_down() == HSA_STATUS_SUCCESS);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);

    /* The automatic policy. */
    rochp_options o;
    rochp_options_init(&o);
    o.hsa_runtime = HSASIM_PATH;
    o.flags = ROCHP_CONTEXT_AUTO_REENUMERATE;
    o.poll_interval_ms = 20;
    REQUIRE(rochp_context_create(&o, &ctx) == ROCHP_OK);
    event_recorder r2 = EVENT_RECORDER_INIT;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, event_record, &r2, &sub) == ROCHP_OK);
    REQUIRE(vtree_plug_model(dir, vtree_model_find("mi210"), 1, NULL, NULL, &err) == ROCHP_OK);
    for (int i = 0; i < 3000 && event_count_type(&r2, ROCHP_EVENT_REENUMERATED) < 4; i++)
        usleep(10000);
    CHECK_EQ_U64(event_count_type(&r2, ROCHP_EVENT_ARRIVED), 1);
    CHECK_EQ_U64(event_count_type(&r2, ROCHP_EVENT_REENUMERATED), 4);
    CHECK(r2.n >= 1 && r2.events[0].type == ROCHP_EVENT_ARRIVED); /* arrival first */
    CHECK(device_at(ctx, "0000:26:00.0").hsa_agent != 0);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    CHECK(rochp_reenumerate(NULL) == ROCHP_ERROR_INVALID_ARGUMENT);
    test_remove_tmpdir(dir);
    return check_result();
}
