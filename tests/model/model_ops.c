/* The model test's operations: each picks its objects at random, calls the
 * public API as an application would, checks the status against what the
 * model allows, and updates the model by what happened. */
#include <fcntl.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "model.h"
#include "model_internal.h"

#define WAIT_NS (30 * SECOND)

/* Is st one of the n allowed statuses?  Else the sequence fails. */
static bool expect(model *m, rochp_status st, int n, const rochp_status *allowed,
                   const char *what)
{
    for (int i = 0; i < n; i++)
        if (allowed[i] == st)
            return true;
    char list[128] = "";
    for (int i = 0; i < n; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%d", i ? "," : "",
                 (int)allowed[i]);
    model_fail(m, "%s returned %d (%s); the model allows {%s}", what, (int)st,
               rochp_status_string(st), list);
    return false;
}

#define EXPECT(m, st, what, ...)                                                           \
    expect((m), (st), (int)(sizeof((rochp_status[]){__VA_ARGS__}) / sizeof(rochp_status)), \
           (rochp_status[]){__VA_ARGS__}, (what))

static int pick_buffer(model *m)
{
    int live[MODEL_MAX_BUFFERS], n = 0;
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
        if (m->buffers[i].alive)
            live[n++] = i;
    return n ? live[model_rand(m, (uint32_t)n)] : -1;
}

static int pick_queue(model *m)
{
    int live[MODEL_MAX_QUEUES], n = 0;
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        if (m->queues[i].alive)
            live[n++] = i;
    return n ? live[model_rand(m, (uint32_t)n)] : -1;
}

/* Under sigbus the first unplug completes only when this process lets go
 * (rochp-sim holds further ones behind it): one per sequence there. */
static bool may_unplug(model *m)
{
    return strcmp(m->mode, "sigbus") != 0 || !model_any_gone(m);
}

static m_gpu *pick_gpu(model *m, bool usable)
{
    m_gpu *g[MODEL_MAX_GPUS];
    int n = 0;
    for (int i = 0; i < m->n_gpus; i++)
        if (model_dev_usable(m, m->gpus[i].info.id) == usable)
            g[n++] = &m->gpus[i];
    return n ? g[model_rand(m, (uint32_t)n)] : NULL;
}

/* --- unplugs and plugs ------------------------------------------------------------------------ */
/* Until the context sees the device in state (its watcher polls the tree). */
static void wait_state(model *m, rochp_device_id id, rochp_device_state state)
{
    for (int i = 0; i < 3000 && user_state(m->ctx, id) != state; i++) {
        rochp_rescan(m->ctx);
        usleep(2000);
    }
    if (user_state(m->ctx, id) != state)
        model_fail(m, "device %llu did not become %s", (unsigned long long)id,
                   state == ROCHP_DEVICE_LOST ? "lost" : "present");
}

static void unplug(model *m, m_gpu *g, bool wait_noticed)
{
    if (m->verbose)
        fprintf(stderr, "  unplug %s (%s)%s\n", g->info.pci, m->op,
                g->unplugged ? " AGAIN" : "");
    if (m->verbose)
        fprintf(stderr, "  (device %llu)\n", (unsigned long long)g->info.id);
    if (user_sim("unplug", m->dir, g->info.pci, NULL, NULL, NULL) != 0) {
        model_fail(m, "rochp-sim unplug %s failed", g->info.pci);
        return;
    }
    g->unplugged = true;
    if (wait_noticed)
        wait_state(m, g->info.id, ROCHP_DEVICE_LOST);
}

static void op_unplug(model *m)
{
    m_gpu *g = may_unplug(m) ? pick_gpu(m, true) : NULL;
    if (g)
        unplug(m, g, model_chance(m, 70));
}

static void op_plug_back(model *m)
{
    if (strcmp(m->mode, "sigbus") == 0)
        return; /* the board leaves only once this process lets go */
    m_gpu *g = pick_gpu(m, false);
    if (!g || g->plugged_back)
        return;
    /* Plugged back only once the context read a tree without it (an
     * operator is not faster than a rescan). */
    wait_state(m, g->info.id, ROCHP_DEVICE_LOST);
    rochp_device_info info = {0};
    for (int i = 0; i < 3000; i++) {
        rochp_rescan(m->ctx);
        if (rochp_device_get(m->ctx, g->info.id, &info) == ROCHP_OK &&
            info.kfd_node == UINT32_MAX)
            break;
        usleep(2000);
    }
    if (info.kfd_node != UINT32_MAX) {
        model_fail(m, "the unplugged board at %s stayed in the tree", g->info.pci);
        return;
    }
    if (user_sim("plug", m->dir, g->info.pci, NULL, NULL, NULL) != 0) {
        model_fail(m, "rochp-sim plug %s failed", g->info.pci);
        return;
    }
    g->plugged_back = true;
    wait_state(m, g->info.id, ROCHP_DEVICE_PRESENT);
}

/* --- dispatching ------------------------------------------------------------------------------ */
/* The status a dispatch on q may return, and the model's update. */
static bool dispatch_result(model *m, m_queue *q, rochp_status st, const rochp_completion *done,
                            const char *what)
{
    bool full = q->journaled && q->ids_since >= q->journal;
    bool ok;
    if (full && !model_queue_dead(m, q))
        ok = EXPECT(m, st, what, ROCHP_ERROR_JOURNAL_FULL);
    else if (full)
        ok = EXPECT(m, st, what, ROCHP_ERROR_JOURNAL_FULL, ROCHP_ERROR_DEVICE_LOST,
                    ROCHP_ERROR_QUEUE_FAILED);
    else if (model_queue_dead(m, q) || model_any_gone(m))
        ok = EXPECT(m, st, what, ROCHP_OK, ROCHP_ERROR_DEVICE_LOST, ROCHP_ERROR_QUEUE_FAILED);
    else
        ok = EXPECT(m, st, what, ROCHP_OK);
    if (!ok)
        return false;
    if (st == ROCHP_OK) {
        if (done->id != q->next_id) {
            model_fail(m, "%s got packet id %llu, the model's next is %llu", what,
                       (unsigned long long)done->id, (unsigned long long)q->next_id);
            return false;
        }
        q->last_published = q->next_id + 1;
        q->ran_since = true;
    }
    if (st == ROCHP_OK || ((st == ROCHP_ERROR_DEVICE_LOST || st == ROCHP_ERROR_QUEUE_FAILED) && !full)) {
        /* published, or its id taken and journaled void */
        q->next_id++;
        q->ids_since += q->journaled;
    }
    return st == ROCHP_OK;
}

/* Barriers on q for the packets dep of other (live) queues; false when one
 * was refused. */
static bool barrier_on(model *m, int qi, m_ref dep)
{
    if (dep.queue < 0 || dep.queue == qi || !m->queues[dep.queue].alive)
        return true;
    m_queue *q = &m->queues[qi];
    rochp_completion c = {m->queues[dep.queue].h, dep.id}, done = {NULL, 0};
    rochp_status st = rochp_dispatch_barrier(q->h, &c, &done);
    if (st == ROCHP_OK)
        q->waits_on[dep.queue] = true;
    return dispatch_result(m, q, st, &done, "rochp_dispatch_barrier");
}

/* Orders q's next packet after what it must follow: the last write of
 * every buffer it touches, and the reads of the one it writes. */
static bool order(model *m, int qi, m_buffer *w, m_buffer *r1, m_buffer *r2)
{
    bool ok = barrier_on(m, qi, w->last_write);
    for (int i = 0; i < w->n_readers && ok; i++)
        ok = barrier_on(m, qi, w->readers[i]);
    if (ok && r1)
        ok = barrier_on(m, qi, r1->last_write);
    if (ok && r2)
        ok = barrier_on(m, qi, r2->last_write);
    return ok;
}

static void wrote(m_buffer *b, int qi, uint64_t id, bool journaled)
{
    b->last_write = (m_ref){qi, id};
    b->n_readers = 0;
    b->dirty = true;
    if (journaled)
        b->journal_refs |= 1u << qi;
}

static void read_by(m_buffer *b, int qi, uint64_t id, bool journaled)
{
    if (b->n_readers == MODEL_MAX_READERS)
        memmove(b->readers, b->readers + 1, (MODEL_MAX_READERS - 1) * sizeof *b->readers);
    else
        b->n_readers++;
    b->readers[b->n_readers - 1] = (m_ref){qi, id};
    if (journaled)
        b->journal_refs |= 1u << qi;
}

/* A buffer a new packet may touch: its memory is not on a device known to
 * be gone (a real GPU faults on it). */
static int pick_touchable(model *m)
{
    for (int tries = 0; tries < 8; tries++) {
        int bi = pick_buffer(m);
        if (bi >= 0 && !model_dev_gone(m, m->buffers[bi].dev))
            return bi;
    }
    return -1;
}

static void op_chain(model *m)
{
    int bi = pick_touchable(m);
    if (bi < 0)
        return;
    m_buffer *b = &m->buffers[bi];
    int qi = b->last_write.queue >= 0 && m->queues[b->last_write.queue].alive &&
                     model_chance(m, 80)
                 ? b->last_write.queue
                 : pick_queue(m);
    if (qi < 0)
        return;
    m_queue *q = &m->queues[qi];
    if (!order(m, qi, b, NULL, NULL))
        return;
    uint32_t step = model_rand(m, 1u << 20);
    chain_args a = {rochp_buffer_address(b->h), MODEL_WORDS, step};
    rochp_launch l = user_launch(MODEL_WORDS);
    rochp_completion done = {NULL, 0};
    rochp_status st = rochp_dispatch(q->h, q->chain, &l, &a, sizeof a, &done);
    if (m->verbose)
        fprintf(stderr, "  chain buffer %d on queue %d: %d (id %llu)\n", bi, qi, (int)st,
                (unsigned long long)done.id);
    if (dispatch_result(m, q, st, &done, "rochp_dispatch (chain)")) {
        cpu_chain(b->val, MODEL_WORDS, step);
        wrote(b, qi, done.id, q->journaled);
    }
}

static void op_join(model *m)
{
    int oi = pick_touchable(m), ai = pick_touchable(m), bi = pick_touchable(m);
    if (oi < 0 || ai < 0 || bi < 0 || oi == ai || oi == bi || ai == bi)
        return;
    m_buffer *o = &m->buffers[oi], *a = &m->buffers[ai], *b = &m->buffers[bi];
    int qi = pick_queue(m);
    if (qi < 0)
        return;
    m_queue *q = &m->queues[qi];
    if (!order(m, qi, o, a, b))
        return;
    join_args j = {rochp_buffer_address(o->h), rochp_buffer_address(a->h),
                   rochp_buffer_address(b->h), MODEL_WORDS, 0};
    rochp_launch l = user_launch(MODEL_WORDS);
    rochp_completion done = {NULL, 0};
    rochp_status st = rochp_dispatch(q->h, q->join, &l, &j, sizeof j, &done);
    if (m->verbose)
        fprintf(stderr, "  join %d = %d + %d on queue %d: %d (id %llu)\n", oi, ai, bi, qi, (int)st,
                (unsigned long long)done.id);
    if (dispatch_result(m, q, st, &done, "rochp_dispatch (join)")) {
        cpu_join(o->val, a->val, b->val, MODEL_WORDS);
        /* All of o is written from a and b: undefined if either is. */
        o->unknown = a->unknown || b->unknown;
        wrote(o, qi, done.id, q->journaled);
        read_by(a, qi, done.id, q->journaled);
        read_by(b, qi, done.id, q->journaled);
    }
}

/* --- waiting ---------------------------------------------------------------------------------- */
/* What a wait on work of q may return: OK, or -- when something is lost --
 * the loss, or under auto-recovery what the recovery says. */
static bool wait_result(model *m, const m_queue *q, rochp_status st, const char *what)
{
    const char *why;
    rochp_status rec = model_recovery_status(m, &why);
    bool trouble = model_queue_dead(m, q) || model_any_gone(m) || model_any_stopped(m);
    bool ok;
    if (!trouble)
        ok = EXPECT(m, st, what, ROCHP_OK);
    else if (m->auto_recover)
        ok = EXPECT(m, st, what, ROCHP_OK, rec == ROCHP_OK ? ROCHP_ERROR_DEVICE_LOST : rec,
                    ROCHP_ERROR_DEVICE_LOST, ROCHP_ERROR_QUEUE_FAILED, ROCHP_ERROR_NO_TARGET,
                    ROCHP_ERROR_NOT_SUPPORTED);
    else
        ok = EXPECT(m, st, what, ROCHP_OK, ROCHP_ERROR_DEVICE_LOST, ROCHP_ERROR_QUEUE_FAILED);
    model_note_auto_recovery(m);
    if (st == ROCHP_ERROR_QUEUE_FAILED)
        model_sync_faults(m);
    return ok;
}

static void op_wait(model *m)
{
    int qi = pick_queue(m);
    if (qi < 0 || !m->queues[qi].last_published)
        return;
    m_queue *q = &m->queues[qi];
    rochp_completion c = {q->h, q->last_published - 1};
    rochp_status st = rochp_completion_wait(&c, WAIT_NS);
    /* Its last packet done: every barrier before it was passed. */
    if (wait_result(m, q, st, "rochp_completion_wait") && st == ROCHP_OK)
        memset(q->waits_on, 0, sizeof q->waits_on);
}

static void op_wait_idle(model *m)
{
    int qi = pick_queue(m);
    if (qi < 0)
        return;
    rochp_status st = rochp_queue_wait_idle(m->queues[qi].h, WAIT_NS);
    if (wait_result(m, &m->queues[qi], st, "rochp_queue_wait_idle") && st == ROCHP_OK)
        memset(m->queues[qi].waits_on, 0, sizeof m->queues[qi].waits_on);
}

/* Until the packets touching b completed (the application's duty before it
 * writes or frees b); false when some will not. */
static bool quiesce(model *m, m_buffer *b)
{
    m_ref refs[MODEL_MAX_READERS + 1];
    int n = 0;
    refs[n++] = b->last_write;
    for (int i = 0; i < b->n_readers; i++)
        refs[n++] = b->readers[i];
    bool ok = true;
    for (int i = 0; i < n; i++) {
        if (refs[i].queue < 0 || !m->queues[refs[i].queue].alive)
            continue;
        m_queue *q = &m->queues[refs[i].queue];
        rochp_completion c = {q->h, refs[i].id};
        rochp_status st = rochp_completion_wait(&c, WAIT_NS);
        if (!wait_result(m, q, st, "rochp_completion_wait (before a write)"))
            return false;
        ok &= st == ROCHP_OK;
    }
    return ok;
}

/* --- buffers ---------------------------------------------------------------------------------- */
static void fill(model *m, uint32_t *v)
{
    uint32_t seed = model_rand(m, 1u << 30);
    for (uint32_t x = 0; x < MODEL_WORDS; x++)
        v[x] = seed * 7919u + x;
}

static void op_alloc(model *m)
{
    int bi = -1;
    for (int i = 0; i < MODEL_MAX_BUFFERS && bi < 0; i++)
        if (!m->buffers[i].alive)
            bi = i;
    if (bi < 0)
        return;
    m_gpu *g = model_chance(m, 20) ? NULL : pick_gpu(m, true);
    if (model_chance(m, 10) && pick_gpu(m, false)) {
        /* On a GPU known to be gone: refused by name. */
        m_gpu *gone = pick_gpu(m, false);
        wait_state(m, gone->info.id,
                   gone->plugged_back ? ROCHP_DEVICE_PRESENT : ROCHP_DEVICE_LOST);
        rochp_buffer *h = NULL;
        rochp_status st = rochp_buffer_alloc(m->ctx, gone->info.id, sizeof(uint32_t) * MODEL_WORDS,
                                             &h);
        if (gone->plugged_back)
            EXPECT(m, st, "rochp_buffer_alloc (back, no agent)", ROCHP_ERROR_NOT_SUPPORTED);
        else
            EXPECT(m, st, "rochp_buffer_alloc (lost)", ROCHP_ERROR_DEVICE_LOST);
        return;
    }
    rochp_device_id dev = g ? g->info.id : ROCHP_HOST;
    m_buffer *b = &m->buffers[bi];
    memset(b, 0, sizeof *b);
    rochp_status st;
    if (model_chance(m, 50)) {
        /* The application's own memory, registered. */
        void *mem = model_own_alloc(m->ctx, dev, sizeof b->val);
        if (m->verbose)
            fprintf(stderr, "  own memory on device %llu: %p\n", (unsigned long long)dev, mem);
        if (!mem)
            return; /* its GPU unplugged, unnoticed by the runtime's pools */
        st = rochp_buffer_register(m->ctx, dev, mem, sizeof b->val,
                                   model_chance(m, 30) ? ROCHP_REGISTER_COPY_ALWAYS : 0, &b->h);
        if (st != ROCHP_OK)
            model_own_free(mem);
        b->registered = true;
    } else {
        st = rochp_buffer_alloc(m->ctx, dev, sizeof b->val, &b->h);
    }
    /* A GPU unplugged but not yet noticed may refuse: by its loss, never
     * as memory short (the topology is read again to tell). */
    if (!EXPECT(m, st, "rochp_buffer_alloc", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST) ||
        st != ROCHP_OK)
        return;
    b->alive = true;
    b->dev = dev;
    b->last_write.queue = -1;
    fill(m, b->val);
    st = rochp_buffer_write(b->h, 0, b->val, sizeof b->val);
    b->by_call = true;
    if (!EXPECT(m, st, "rochp_buffer_write (new)", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST))
        return;
    b->unknown = st != ROCHP_OK;
}

static void op_write(model *m)
{
    int bi = pick_buffer(m);
    if (bi < 0)
        return;
    m_buffer *b = &m->buffers[bi];
    if (!quiesce(m, b))
        return;
    uint32_t v[MODEL_WORDS];
    fill(m, v);
    rochp_status st = rochp_buffer_write(b->h, 0, v, sizeof v);
    b->by_call = true;
    b->dirty = true;
    if (model_dev_gone(m, b->dev))
        EXPECT(m, st, "rochp_buffer_write (gone)", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST);
    else
        EXPECT(m, st, "rochp_buffer_write", ROCHP_OK);
    if (st == ROCHP_OK)
        memcpy(b->val, v, sizeof v);
    else
        b->unknown = true;
}

static void op_free(model *m)
{
    int bi = pick_buffer(m);
    if (bi < 0)
        return;
    m_buffer *b = &m->buffers[bi];
    if (!quiesce(m, b))
        return;
    void *mem = rochp_buffer_address(b->h);
    rochp_status st = rochp_buffer_free(b->h);
    if (b->journal_refs) {
        /* A journal since the checkpoint passes it to a kernel. */
        EXPECT(m, st, "rochp_buffer_free (journaled)", ROCHP_ERROR_BUSY);
        return;
    }
    if (EXPECT(m, st, "rochp_buffer_free", ROCHP_OK)) {
        b->alive = false;
        /* Forgotten, not freed: the memory is the test's to give back. */
        if (b->registered && !model_dev_gone(m, b->dev))
            model_own_free(mem);
    }
}

/* --- queues ----------------------------------------------------------------------------------- */
static void op_queue_create(model *m)
{
    int qi = -1;
    for (int i = 0; i < MODEL_MAX_QUEUES && qi < 0; i++)
        if (!m->queues[i].alive)
            qi = i;
    m_gpu *g = pick_gpu(m, true);
    if (qi < 0 || !g)
        return;
    m_queue *q = &m->queues[qi];
    memset(q, 0, sizeof *q);
    rochp_queue_options o;
    rochp_queue_options_init(&o);
    q->journaled = model_chance(m, 80);
    o.mode = q->journaled ? ROCHP_QUEUE_JOURNALED : ROCHP_QUEUE_PLAIN;
    o.packets = q->packets = model_chance(m, 50) ? 64 : 128;
    o.journal_length = q->journal = q->journaled ? q->packets << model_rand(m, 4) : 0;
    rochp_status st = rochp_queue_create(m->ctx, g->info.id, &o, &q->h);
    /* A GPU whose work faulted on an unplugged one's memory refuses it. */
    if (st == ROCHP_ERROR_QUEUE_FAILED && model_any_gone(m)) {
        g->faulted = true;
        return;
    }
    if (!EXPECT(m, st, "rochp_queue_create", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST,
                ROCHP_ERROR_OUT_OF_MEMORY) ||
        st != ROCHP_OK)
        return;
    q->alive = true;
    q->dev = g->info.id;
    if (m->verbose)
        fprintf(stderr, "  queue %d (id %llu) on device %llu, %s\n", qi,
                (unsigned long long)rochp_queue_id(q->h), (unsigned long long)q->dev,
                q->journaled ? "journaled" : "plain");
    if (EXPECT(m, rochp_kernel_bind(m->k.chain, q->h, &q->chain), "rochp_kernel_bind",
               ROCHP_OK, ROCHP_ERROR_DEVICE_LOST))
        EXPECT(m, rochp_kernel_bind(m->k.join, q->h, &q->join), "rochp_kernel_bind", ROCHP_OK,
               ROCHP_ERROR_DEVICE_LOST);
    if (!q->chain || !q->join) {
        rochp_queue_destroy(q->h);
        q->alive = false;
    }
}

static void forget_queue(model *m, int qi)
{
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        b->journal_refs &= ~(1u << qi);
        if (b->last_write.queue == qi)
            b->last_write.queue = -1;
        for (int r = 0; r < b->n_readers; r++)
            if (b->readers[r].queue == qi)
                b->readers[r--] = b->readers[--b->n_readers];
    }
}

static void op_queue_destroy(model *m)
{
    int qi = pick_queue(m);
    if (qi < 0)
        return;
    m_queue *q = &m->queues[qi];
    bool dead = model_queue_dead(m, q);
    /* A queue another one's unfinished barrier waits on stays (BUSY). */
    bool waited_on = false;
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        waited_on |= i != qi && m->queues[i].alive && m->queues[i].waits_on[qi];
    rochp_status st = rochp_queue_destroy(q->h);
    if (waited_on)
        EXPECT(m, st, "rochp_queue_destroy", ROCHP_OK, ROCHP_ERROR_BUSY);
    else
        EXPECT(m, st, "rochp_queue_destroy", ROCHP_OK);
    if (st != ROCHP_OK)
        return;
    for (int i = 0; i < MODEL_MAX_QUEUES; i++)
        m->queues[i].waits_on[qi] = false;
    memset(q->waits_on, 0, sizeof q->waits_on);
    q->alive = false;
    m->retired_ran |= q->ran_since;
    if (dead && q->last_published) {
        /* Work it had not run never will: what it (and work after it) would
         * have written is undefined. */
        for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
            if (m->buffers[i].alive && m->buffers[i].dirty)
                m->buffers[i].unknown = true;
    }
    forget_queue(m, qi);
}

/* --- checkpoints ------------------------------------------------------------------------------ */
static void checkpoint_taken(model *m)
{
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->alive)
            continue;
        model_learn(m, b);
        b->has_shadow = true;
        memcpy(b->ckpt, b->val, sizeof b->ckpt);
        b->by_call = b->dirty = false;
        b->journal_refs = 0;
    }
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        m_queue *q = &m->queues[i];
        q->ckpt_next_id = q->next_id;
        q->ids_since = 0;
        q->ran_since = false;
    }
    m->retired_ran = false;
    m->have_checkpoint = true;
}

typedef struct racer {
    model *m;
    m_gpu *g;
    useconds_t delay;
} racer;

static void *unplug_later(void *arg)
{
    racer *r = arg;
    usleep(r->delay);
    user_sim("unplug", r->m->dir, r->g->info.pci, NULL, NULL, NULL);
    return NULL;
}

static void op_checkpoint(model *m)
{
    /* Sometimes a GPU goes while it runs. */
    racer r = {m, model_chance(m, 15) && may_unplug(m) ? pick_gpu(m, true) : NULL,
               model_rand(m, 3000)};
    pthread_t t;
    bool racing = r.g && pthread_create(&t, NULL, unplug_later, &r) == 0;
    bool trouble = model_any_gone(m) || model_any_stopped(m) || racing;
    rochp_status st = rochp_checkpoint(m->ctx, WAIT_NS, NULL);
    if (m->verbose)
        fprintf(stderr, "  checkpoint: %d%s\n", (int)st, racing ? " (racing an unplug)" : "");
    if (racing) {
        pthread_join(t, NULL);
        r.g->unplugged = true;
    }
    if (trouble)
        EXPECT(m, st, "rochp_checkpoint", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST,
               ROCHP_ERROR_QUEUE_FAILED);
    else
        EXPECT(m, st, "rochp_checkpoint", ROCHP_OK);
    if (st == ROCHP_OK)
        checkpoint_taken(m);
    if (racing)
        wait_state(m, r.g->info.id, ROCHP_DEVICE_LOST);
}

static void op_restore(model *m)
{
    bool trouble = model_any_gone(m) || model_any_stopped(m);
    rochp_status st = rochp_checkpoint_restore(m->ctx, NULL);
    if (m->verbose)
        fprintf(stderr, "  restore: %d\n", (int)st);
    if (trouble)
        EXPECT(m, st, "rochp_checkpoint_restore", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST,
               ROCHP_ERROR_QUEUE_FAILED);
    else
        EXPECT(m, st, "rochp_checkpoint_restore", ROCHP_OK);
    if (st != ROCHP_OK) {
        /* A device lost under its copies leaves some buffers restored. */
        for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
            if (m->buffers[i].alive && m->buffers[i].has_shadow)
                m->buffers[i].unknown = true;
        return;
    }
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->alive || !b->has_shadow)
            continue;
        memcpy(b->val, b->ckpt, sizeof b->val);
        b->by_call = b->dirty = b->unknown = false;
    }
    /* The work since the checkpoint is undone: the journals start over. */
    for (int i = 0; i < MODEL_MAX_BUFFERS; i++)
        m->buffers[i].journal_refs = 0;
    for (int i = 0; i < MODEL_MAX_QUEUES; i++) {
        m_queue *q = &m->queues[i];
        q->ckpt_next_id = q->next_id;
        q->ids_since = 0;
        q->ran_since = false;
    }
    m->retired_ran = false;
}

/* A checkpoint made again (how: for messages): its blob, and every saved
 * buffer holding the checkpoint's bytes -- but, when a GPU went during the
 * load (racing), those that went with it. */
static void check_loaded(model *m, const rochp_restored *r, uint64_t blob, bool racing,
                         const char *how)
{
    size_t size = 0;
    const void *user = rochp_restored_user(r, &size);
    if (size != sizeof blob || memcmp(user, &blob, sizeof blob) != 0)
        model_fail(m, "the %s blob differs", how);
    for (int i = 0; i < MODEL_MAX_BUFFERS && !m->failed; i++) {
        m_buffer *b = &m->buffers[i];
        if (!b->alive || !b->has_shadow)
            continue;
        rochp_buffer *rb = rochp_restored_buffer(r, rochp_buffer_id(b->h));
        uint32_t got[MODEL_WORDS];
        rochp_status st = rb ? rochp_buffer_read(rb, 0, got, sizeof got) : ROCHP_ERROR_NOT_FOUND;
        if (racing && st == ROCHP_ERROR_DEVICE_LOST)
            continue;
        if (st != ROCHP_OK || memcmp(got, b->ckpt, sizeof got) != 0)
            model_fail(m, "%s buffer %d is not the checkpoint's bytes (%d)", how, i, (int)st);
    }
}

/* The checkpoint saved, and loaded by a second context on the same machine:
 * every saved buffer holds the checkpoint's bytes. */
static void op_save_load(model *m)
{
    if (!m->have_checkpoint || model_any_gone(m) || strcmp(m->mode, "sigbus") == 0)
        return;
    int fd = memfd_create("model", 0);
    if (fd < 0)
        return;
    uint64_t blob = m->seed;
    rochp_status st = rochp_checkpoint_save(m->ctx, fd, &blob, sizeof blob);
    if (!EXPECT(m, st, "rochp_checkpoint_save", ROCHP_OK)) {
        close(fd);
        return;
    }
    rochp_context *other = user_context(0, 50);
    EXPECT(m, model_set_allocator(other), "rochp_set_allocator (second)", ROCHP_OK);
    rochp_restored *r = NULL;
    lseek(fd, 0, SEEK_SET);
    st = rochp_checkpoint_load(other, fd, &r);
    if (EXPECT(m, st, "rochp_checkpoint_load", ROCHP_OK)) {
        check_loaded(m, r, blob, false, "loaded");
        rochp_restored_free(r);
    }
    close(fd);
    EXPECT(m, rochp_context_destroy(other), "rochp_context_destroy (second)", ROCHP_OK);
}

/* The checkpoint handed over to rochp-run (played here) and taken back by a
 * second context with rochp_resume, as the restarted process does;
 * sometimes a GPU goes while it loads (the restart's own target).
 * Whole, every saved buffer holds the checkpoint's bytes; refused, the
 * second context holds nothing. */
static void op_hand_over_resume(model *m)
{
    if (!m->have_checkpoint || model_any_gone(m) || strcmp(m->mode, "sigbus") == 0)
        return;
    model_run run;
    if (!model_run_open(&run))
        return;
    uint64_t blob = m->seed ^ (uint64_t)m->step << 32;
    run_msg msg;
    int kept = -1;
    REQUIRE(model_run_post(&run, RUN_MSG_ACK, 0, -1));
    rochp_status st = rochp_checkpoint_hand_over(m->ctx, (uint64_t)m->step, &blob, sizeof blob);
    if (EXPECT(m, st, "rochp_checkpoint_hand_over", ROCHP_OK) &&
        (!model_run_take(&run, &msg, &kept) || msg.kind != RUN_MSG_CHECKPOINT ||
         msg.step != (uint64_t)m->step || kept < 0))
        model_fail(m, "rochp-run did not get the checkpoint (kind %u, step %llu, fd %d)",
                   msg.kind, (unsigned long long)msg.step, kept);
    int need = F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW;
    if (kept >= 0 && (fcntl(kept, F_GET_SEALS) & need) != need)
        model_fail(m, "the handed-over checkpoint is not sealed");
    if (m->failed || kept < 0) {
        if (kept >= 0)
            close(kept);
        model_run_close(&run);
        return;
    }
    /* rochp-sim takes milliseconds to start: the load is started a random
     * while after the unplug, to land before, during and after it. */
    racer rc = {m, model_chance(m, 25) ? pick_gpu(m, true) : NULL, 0};
    useconds_t lead = model_rand(m, 15000);
    rochp_context *other = user_context(0, 50);
    EXPECT(m, model_set_allocator(other), "rochp_set_allocator (second)", ROCHP_OK);
    REQUIRE(model_run_post(&run, RUN_MSG_RESUME_REPLY, (uint64_t)m->step, kept));
    close(kept);
    pthread_t t;
    bool racing = rc.g && pthread_create(&t, NULL, unplug_later, &rc) == 0;
    if (racing)
        usleep(lead);
    rochp_restored *r = NULL;
    st = rochp_resume(other, &r);
    if (racing) {
        pthread_join(t, NULL);
        rc.g->unplugged = true;
    }
    if (m->verbose)
        fprintf(stderr, "  resume: %d%s\n", (int)st, racing ? " (racing an unplug)" : "");
    int none;
    if (!model_run_take(&run, &msg, &none) || msg.kind != RUN_MSG_RESUME)
        model_fail(m, "rochp_resume did not ask rochp-run");
    if (racing)
        EXPECT(m, st, "rochp_resume", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST, ROCHP_ERROR_NO_TARGET);
    else
        EXPECT(m, st, "rochp_resume", ROCHP_OK);
    if (st == ROCHP_OK && !m->failed) {
        if (!model_run_take(&run, &msg, &none) || msg.kind != RUN_MSG_RESUMED ||
            msg.step != (uint64_t)m->step)
            model_fail(m, "rochp_resume did not tell rochp-run it resumed at step %d", m->step);
        check_loaded(m, r, blob, racing, "resumed");
        rochp_restored_free(r);
    } else if (st != ROCHP_OK && r != NULL) {
        model_fail(m, "a refused rochp_resume gave a restored map");
    }
    if (st != ROCHP_OK && !m->failed) {
        /* Refused: nothing of it stays in the second context. */
        rochp_checkpoint_stats cs;
        rochp_status cst = rochp_checkpoint(other, WAIT_NS, &cs);
        if (cst == ROCHP_OK && cs.buffers != 0)
            model_fail(m, "a refused rochp_resume left %llu buffers",
                       (unsigned long long)cs.buffers);
    }
    EXPECT(m, rochp_context_destroy(other), "rochp_context_destroy (second)", ROCHP_OK);
    model_run_close(&run);
    if (racing)
        wait_state(m, rc.g->info.id, ROCHP_DEVICE_LOST);
}

/* --- recovery --------------------------------------------------------------------------------- */
typedef struct saboteur {
    model *m;
    int kind; /* 0 none, 1 the target goes, 2 every target goes, 3 another GPU goes */
    int calls;
} saboteur;

static rochp_device_id sabotage(rochp_context *ctx, const rochp_device_info *lost,
                                const rochp_device_info *candidates, size_t n, void *user)
{
    (void)lost;
    saboteur *s = user;
    model *m = s->m;
    if (!n)
        return 0;
    rochp_device_id pick = candidates[m->rng % n].id;
    bool strike = (s->kind == 2 || (s->kind == 1 && s->calls == 0)) && may_unplug(m);
    if (s->kind == 3 && s->calls == 0 && may_unplug(m)) {
        for (size_t i = 0; i < n; i++) {
            m_gpu *other = model_gpu(m, candidates[i].id);
            if (candidates[i].id != pick && other && !other->unplugged) {
                unplug(m, other, false);
                break;
            }
        }
        rochp_rescan(ctx);
    }
    m_gpu *target = model_gpu(m, pick);
    if (strike && target && !target->unplugged) {
        unplug(m, target, false);
        rochp_rescan(ctx);
    }
    s->calls++;
    return pick;
}

static void op_recover(model *m)
{
    /* The application recovers from what it was told: every loss noticed
     * (under sigbus the tree keeps the board until the process lets go, so
     * a rescan alone does not show it). */
    for (int i = 0; i < m->n_gpus; i++)
        if (m->gpus[i].unplugged && !m->gpus[i].plugged_back)
            wait_state(m, m->gpus[i].info.id, ROCHP_DEVICE_LOST);
    model_sync_faults(m);
    saboteur s = {m, model_chance(m, 30) && may_unplug(m) ? 1 + (int)model_rand(m, 3) : 0, 0};
    rochp_set_recovery_target(m->ctx, s.kind ? sabotage : NULL, &s);
    const char *why;
    rochp_status predicted = model_recovery_status(m, &why);
    rochp_recovery_report rep;
    rochp_status st = rochp_recover(m->ctx, WAIT_NS, &rep);
    rochp_set_recovery_target(m->ctx, NULL, NULL);
    if (m->verbose)
        fprintf(stderr, "  recover: %d (predicted %d: %s), sabotage %d x%d, %u devices, %llu moved, "
                        "%llu rolled back, %llu replayed\n",
                (int)st, (int)predicted, why, s.kind, s.calls, rep.devices_lost,
                (unsigned long long)rep.buffers_moved, (unsigned long long)rep.buffers_rolled_back,
                (unsigned long long)rep.packets_replayed);
    if (st != predicted && s.calls == 0) {
        /* Work still in flight may have faulted a GPU on an unplugged one's
         * memory since the model last looked: what would it say now? */
        model_sync_faults(m);
        predicted = model_recovery_status(m, &why);
    }
    if (s.calls == 0 || predicted != ROCHP_OK || !model_lost_work(m)) {
        /* Nothing struck (or the callback ran only to find the refusal). */
        if (s.calls && predicted == ROCHP_OK && model_usable_gpus(m) == 0)
            EXPECT(m, st, "rochp_recover", ROCHP_ERROR_NO_TARGET, ROCHP_ERROR_DEVICE_LOST);
        else if (!EXPECT(m, st, "rochp_recover", predicted))
            fprintf(stderr, "model: the model expected %s\n", why);
    } else if (model_usable_gpus(m) > 0) {
        EXPECT(m, st, "rochp_recover (a target went)", ROCHP_OK);
    } else {
        EXPECT(m, st, "rochp_recover (every target went)", ROCHP_ERROR_NO_TARGET,
               ROCHP_ERROR_DEVICE_LOST);
    }
    if (st == ROCHP_OK) {
        if (model_lost_work(m) || rep.devices_lost || rep.queues_rebuilt)
            model_recovered(m);
        model_check_all(m, "after a recovery");
    } else if (st == ROCHP_ERROR_DEVICE_LOST || st == ROCHP_ERROR_NO_TARGET ||
               st == ROCHP_ERROR_TIMEOUT) {
        model_recovery_failed(m);
    }
}

/* --- misuse ----------------------------------------------------------------------------------- */
static void op_misuse(model *m)
{
    switch (model_rand(m, 6)) {
    case 0: { /* a double free */
        rochp_buffer *b = NULL;
        if (rochp_buffer_alloc(m->ctx, ROCHP_HOST, 64, &b) != ROCHP_OK)
            return;
        EXPECT(m, rochp_buffer_free(b), "rochp_buffer_free", ROCHP_OK);
        EXPECT(m, rochp_buffer_free(b), "rochp_buffer_free (again)", ROCHP_ERROR_INVALID_ARGUMENT);
        EXPECT(m, rochp_buffer_write(b, 0, "x", 1), "rochp_buffer_write (freed)",
               ROCHP_ERROR_INVALID_ARGUMENT);
        return;
    }
    case 1: { /* too few argument bytes: refused, no id taken */
        int qi = pick_queue(m);
        if (qi < 0)
            return;
        chain_args a = {NULL, 0, 0};
        rochp_launch l = user_launch(MODEL_WORDS);
        EXPECT(m, rochp_dispatch(m->queues[qi].h, m->queues[qi].join, &l, &a, sizeof a, NULL),
               "rochp_dispatch (short arguments)", ROCHP_ERROR_INVALID_ARGUMENT);
        return;
    }
    case 2: { /* a packet never written */
        int qi = pick_queue(m);
        if (qi < 0)
            return;
        rochp_completion c = {m->queues[qi].h, m->queues[qi].next_id + 3};
        EXPECT(m, rochp_completion_wait(&c, 0), "rochp_completion_wait (unwritten)",
               ROCHP_ERROR_INVALID_ARGUMENT);
        return;
    }
    case 3: { /* freeing the module a journal names */
        bool named = false;
        for (int i = 0; i < MODEL_MAX_QUEUES; i++)
            named |= m->queues[i].alive && m->queues[i].journaled && m->queues[i].ran_since;
        if (named)
            EXPECT(m, rochp_module_free(m->k.module), "rochp_module_free (journaled)",
                   ROCHP_ERROR_BUSY);
        return;
    }
    case 4: { /* a read out of range */
        int bi = pick_buffer(m);
        uint32_t v[2];
        if (bi >= 0)
            EXPECT(m, rochp_buffer_read(m->buffers[bi].h, sizeof(uint32_t) * MODEL_WORDS - 4, v,
                                        sizeof v),
                   "rochp_buffer_read (out of range)", ROCHP_ERROR_INVALID_ARGUMENT);
        return;
    }
    default: { /* a queue destroyed twice */
        m_gpu *g = pick_gpu(m, true);
        rochp_queue *q = NULL;
        if (!g || rochp_queue_create(m->ctx, g->info.id, NULL, &q) != ROCHP_OK)
            return;
        EXPECT(m, rochp_queue_destroy(q), "rochp_queue_destroy", ROCHP_OK);
        EXPECT(m, rochp_queue_destroy(q), "rochp_queue_destroy (again)",
               ROCHP_ERROR_INVALID_ARGUMENT);
        return;
    }
    }
}

/* --- one step ---------------------------------------------------------------------------------- */
void model_step(model *m)
{
    static const struct {
        const char *name;
        void (*run)(model *);
        uint32_t weight;
    } ops[] = {
        {"alloc", op_alloc, 8},          {"write", op_write, 3},
        {"free", op_free, 3},            {"queue_create", op_queue_create, 5},
        {"queue_destroy", op_queue_destroy, 2}, {"chain", op_chain, 30},
        {"join", op_join, 12},           {"wait", op_wait, 6},
        {"wait_idle", op_wait_idle, 4},  {"check", NULL, 4},
        {"checkpoint", op_checkpoint, 8}, {"unplug", op_unplug, 3},
        {"plug_back", op_plug_back, 1},  {"recover", op_recover, 6},
        {"restore", op_restore, 2},      {"save_load", op_save_load, 2},
        {"misuse", op_misuse, 4},        {"hand_over_resume", op_hand_over_resume, 2},
    };
    uint32_t total = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        total += ops[i].weight;
    uint32_t r = model_rand(m, total);
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        if (r >= ops[i].weight) {
            r -= ops[i].weight;
            continue;
        }
        m->op = ops[i].name;
        if (ops[i].run)
            ops[i].run(m);
        else
            model_check_all(m, "check");
        return;
    }
}
