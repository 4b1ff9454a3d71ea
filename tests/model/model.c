/* The model-based random test (see model.h): sequences of random API calls
 * with GPUs unplugged at random points, checked against a model of rochp's
 * public semantics.  A failure prints the seed that replays it.
 *
 *   model --mode silent|reset|sigbus [--sequences N] [--seed S] [--steps K] [--verbose]
 *
 * Sequence i uses seed S + i (S: --seed, else $ROCHP_MODEL_SEED, else 1).
 * Exit 0 when every sequence held. */
#include <stdatomic.h>

#include "event_recorder.h"
#include "model.h"
#include "model_internal.h"

static void count_recovered(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)e;
    __atomic_add_fetch(&((model *)user)->recovered_events, 1, __ATOMIC_RELEASE);
}

static bool begin(model *m, uint64_t seed, const char *mode, bool verbose)
{
    memset(m, 0, sizeof *m);
    m->seed = m->rng = seed;
    m->mode = mode;
    m->n_gpus = 1 + (int)model_rand(m, MODEL_MAX_GPUS);
    m->auto_recover = model_chance(m, 40);
    m->verbose = verbose;
    if (verbose)
        fprintf(stderr, "model: seed %llu mode %s, %d GPU(s)%s\n", (unsigned long long)seed, mode,
                m->n_gpus, m->auto_recover ? ", auto-recover" : "");
    user_machine(m->dir, sizeof m->dir, "model", "mi210", (unsigned)m->n_gpus, mode);
    uint32_t flags = m->auto_recover ? ROCHP_CONTEXT_AUTO_RECOVER : 0;
    if (strcmp(mode, "sigbus") == 0)
        flags |= ROCHP_CONTEXT_SIGBUS_HANDLER;
    m->ctx = user_context(flags, 20);
    REQUIRE(model_set_allocator(m->ctx) == ROCHP_OK);
    rochp_device_info devs[MODEL_MAX_GPUS];
    if (user_devices(m->ctx, devs, MODEL_MAX_GPUS) != (size_t)m->n_gpus) {
        model_fail(m, "the context sees another number of GPUs");
        return false;
    }
    for (int i = 0; i < m->n_gpus; i++)
        m->gpus[i].info = devs[i];
    m->k = user_load(m->ctx);
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(m->ctx, ROCHP_EVENT_RECOVERED, count_recovered, m, &sub) == ROCHP_OK);
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
        m->buffers[i].last_write.queue = -1;
    return true;
}

/* The end: a last recovery where one would work, every byte checked, and
 * the objects dead with their context. */
static void end(model *m, event_recorder *events)
{
    const char *why;
    m->op = "end";
    model_end_begun(m);
    model_sync_faults(m);
    if (!m->failed && model_lost_work(m) && model_recovery_status(m, &why) == ROCHP_OK) {
        rochp_recovery_report rep;
        rochp_status st = rochp_recover(m->ctx, 30 * SECOND, &rep);
        if (m->verbose)
            fprintf(stderr, "  final recovery: %d, %u devices, %llu queues, %llu buffers moved\n",
                    (int)st, rep.devices_lost, (unsigned long long)rep.queues_rebuilt,
                    (unsigned long long)rep.buffers_moved);
        if (st != ROCHP_OK)
            model_fail(m, "the final recovery returned %d (the model expected %s)", (int)st, why);
        else
            model_recovered(m);
    }
    if (!m->failed)
        model_check_all(m, "at the end");
    /* Exactly one lost event per unplug, one returned per plug. */
    for (int i = 0; i < m->n_gpus && !m->failed; i++) {
        m_gpu *g = &m->gpus[i];
        size_t lost = 0, back = 0;
        for (int t = 0; t < 2000; t++) {
            rochp_rescan(m->ctx);
            rochp_flush(m->ctx);
            lost = back = 0;
            pthread_mutex_lock(&events->lock);
            for (size_t k = 0; k < events->n; k++) {
                lost += events->events[k].device == g->info.id &&
                        events->events[k].type == ROCHP_EVENT_LOST;
                back += events->events[k].device == g->info.id &&
                        events->events[k].type == ROCHP_EVENT_RETURNED;
            }
            pthread_mutex_unlock(&events->lock);
            if (lost == g->unplugged && back == g->plugged_back)
                break;
            usleep(5000);
        }
        if (lost != g->unplugged || back != g->plugged_back)
            model_fail(m, "GPU %s: %zu lost and %zu returned events for %d unplug and %d plug",
                       g->info.pci, lost, back, g->unplugged, g->plugged_back);
    }
    rochp_buffer *kept = NULL;
    for (int i = 0; i < MODEL_MAX_BUFFERS && !kept; i++)
        if (m->buffers[i].alive)
            kept = m->buffers[i].h;
    model_end_hold(m);
    /* A checkpoint still begun settles with its context. */
    rochp_status st = rochp_context_destroy(m->ctx);
    if (st != ROCHP_OK)
        model_fail(m, "rochp_context_destroy returned %d", (int)st);
    /* Objects die with their context: using one after is a named error. */
    if (kept && rochp_buffer_free(kept) != ROCHP_ERROR_INVALID_ARGUMENT)
        model_fail(m, "a buffer of a destroyed context could be freed");
    test_remove_tmpdir(m->dir);
}

int main(int argc, char **argv)
{
    const char *mode = "silent";
    uint64_t sequences = 100, seed = 1, steps = 0;
    bool verbose = false;
    const char *env = getenv("ROCHP_MODEL_SEED");
    if (env && *env)
        seed = strtoull(env, NULL, 0);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mode") == 0 && i + 1 < argc)
            mode = argv[++i];
        else if (strcmp(argv[i], "--sequences") == 0 && i + 1 < argc)
            sequences = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--steps") == 0 && i + 1 < argc)
            steps = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--verbose") == 0)
            verbose = true;
        else {
            fprintf(stderr, "usage: model --mode silent|reset|sigbus [--sequences N] [--seed S] "
                            "[--steps K] [--verbose]\n");
            return 2;
        }
    }
    if (strcmp(mode, "silent") && strcmp(mode, "reset") && strcmp(mode, "sigbus")) {
        fprintf(stderr, "model: unknown mode %s\n", mode);
        return 2;
    }
    /* rochp-sim's own output is noise here. */
    if (!verbose && !freopen("/dev/null", "w", stdout))
        return 1;
    uint64_t failed = 0, ops = 0, t0 = user_now_ns();
    for (uint64_t i = 0; i < sequences; i++) {
        model m;
        event_recorder *events = calloc(1, sizeof *events);
        REQUIRE(events);
        pthread_mutex_init(&events->lock, NULL);
        if (!begin(&m, seed + i, mode, verbose)) {
            failed++;
            continue;
        }
        rochp_subscription sub;
        REQUIRE(rochp_subscribe(m.ctx, ROCHP_EVENT_LOST | ROCHP_EVENT_RETURNED, event_record,
                                events, &sub) == ROCHP_OK);
        uint64_t n = steps ? steps : 20 + model_rand(&m, 41);
        for (m.step = 0; m.step < (int)n && !m.failed; m.step++) {
            model_step(&m);
            if (verbose && getenv("MODEL_TRACE_HOST"))
                for (int b = 0; b < MODEL_MAX_BUFFERS; b++) {
                    m_buffer *mb = &m.buffers[b];
                    uint32_t w0 = 0;
                    if (mb->alive && mb->dev == ROCHP_HOST &&
                        rochp_buffer_read(mb->h, 0, &w0, sizeof w0) == ROCHP_OK)
                        fprintf(stderr, "    host buffer %d: %u (model %u)\n", b, w0, mb->val[0]);
                }
            if (verbose)
                fprintf(stderr, "  %d %s (recovered events %llu, applied %llu)\n", m.step, m.op,
                        (unsigned long long)__atomic_load_n(&m.recovered_events, __ATOMIC_ACQUIRE),
                        (unsigned long long)m.recovered_seen);
        }
        ops += (uint64_t)m.step;
        end(&m, events);
        free(events);
        failed += m.failed;
    }
    fprintf(stderr, "model: mode %s, %llu sequences from seed %llu, %llu operations, %llu failed, "
                    "%.1f s\n",
            mode, (unsigned long long)sequences, (unsigned long long)seed,
            (unsigned long long)ops, (unsigned long long)failed,
            (double)(user_now_ns() - t0) / 1e9);
    return failed ? 1 : 0;
}
