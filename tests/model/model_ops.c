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

/* An operation that comes next (model.h: script). */
static void script(model *m, const char *name, void (*run)(model *))
{
    if (m->n_script < MODEL_MAX_SCRIPT)
        m->script[m->n_script++] = (model_op){name, run};
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
    else if (state == ROCHP_DEVICE_LOST)
        model_pending_lost(m, id);
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

/* Mostly a GPU that holds a buffer the begun checkpoint copies: it cannot
 * commit then, and the checkpoint before it stands. */
static void op_unplug_copied(model *m)
{
    m_gpu *g = NULL;
    for (int tries = 0; tries < 8 && !g && model_chance(m, 80); tries++) {
        const m_buffer *b = &m->buffers[model_rand(m, MODEL_MAX_BUFFERS)];
        m_gpu *h = b->alive && b->in_cut && b->cut_copied ? model_gpu(m, b->dev) : NULL;
        if (h && model_dev_usable(m, h->info.id))
            g = h;
    }
    if (!g)
        g = pick_gpu(m, true);
    /* Mostly noticed before what follows (whether a loss the context has
     * not seen yet fails the checkpoint is a race: a seed replays less). */
    bool noticed = model_chance(m, 85);
    if (g && may_unplug(m))
        unplug(m, g, noticed);
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
        q->ran_after_cut = true;
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
 * be gone (a real GPU faults on it).  While a begun checkpoint copies, mostly
 * one it copies: a kernel writing it meets the copy guard. */
static int pick_touchable(model *m)
{
    /* First choice: one on the GPU whose engine holds the copies back. */
    for (int pass = m->pending.active && model_chance(m, 70) ? 0 : 2; pass < 2; pass++)
        for (int tries = 0; tries < 8; tries++) {
            int bi = pick_buffer(m);
            const m_buffer *b = bi >= 0 ? &m->buffers[bi] : NULL;
            if (b && b->in_cut && b->cut_copied && !model_dev_gone(m, b->dev) &&
                (pass == 1 || (m->hold_gpu && b->dev == m->hold_gpu->info.id)))
                return bi;
        }
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
    uint64_t t0 = user_now_ns();
    rochp_status st = rochp_dispatch(q->h, q->chain, &l, &a, sizeof a, &done);
    if (m->verbose)
        fprintf(stderr, "  chain buffer %d on queue %d: %d (id %llu, %llu us)\n", bi, qi, (int)st,
                (unsigned long long)done.id, (unsigned long long)(user_now_ns() - t0) / 1000);
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
    uint64_t t0 = user_now_ns();
    rochp_status st = rochp_dispatch(q->h, q->join, &l, &j, sizeof j, &done);
    if (m->verbose)
        fprintf(stderr, "  join %d = %d + %d on queue %d: %d (id %llu, %llu us)\n", oi, ai, bi, qi,
                (int)st, (unsigned long long)done.id,
                (unsigned long long)(user_now_ns() - t0) / 1000);
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

/* One buffer copied into another by a call (rochp_buffer_copy), once the
 * work on both is done: a write of the destination.  While a begun
 * checkpoint copies, mostly into a buffer on the GPU whose engine holds its
 * copy back, from another GPU's (whose engine runs this copy at once): the
 * call must wait for the checkpoint's copy first. */
static void op_copy(model *m)
{
    int di = -1, si = -1;
    for (int tries = 0; m->hold_gpu && model_chance(m, 70) && tries < 8 && di < 0; tries++) {
        int bi = pick_buffer(m);
        if (bi >= 0 && m->buffers[bi].in_cut && m->buffers[bi].dev == m->hold_gpu->info.id)
            di = bi;
    }
    if (di < 0)
        di = pick_buffer(m);
    /* Best from another GPU, whose engine runs the copy. */
    int best = -1;
    for (int tries = 0; di >= 0 && tries < 8 && best < 0; tries++) {
        int bi = pick_buffer(m);
        if (bi < 0 || bi == di)
            continue;
        si = si < 0 ? bi : si;
        if (m->buffers[bi].dev != m->buffers[di].dev && m->buffers[bi].dev != ROCHP_HOST)
            best = bi;
    }
    si = best >= 0 ? best : si;
    if (di < 0 || si < 0)
        return;
    m_buffer *d = &m->buffers[di], *src = &m->buffers[si];
    if (!quiesce(m, d) || !quiesce(m, src))
        return;
    rochp_status st = rochp_buffer_copy(d->h, 0, src->h, 0, sizeof d->val);
    if (m->verbose)
        fprintf(stderr, "  copy buffer %d (device %llu) into %d (device %llu): %d\n", si,
                (unsigned long long)src->dev, di, (unsigned long long)d->dev, (int)st);
    d->by_call = true;
    d->dirty = true;
    /* Not only a lost GPU's buffers: one that faulted on it refuses its copies too. */
    if (model_any_gone(m))
        EXPECT(m, st, "rochp_buffer_copy (a GPU gone)", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST);
    else
        EXPECT(m, st, "rochp_buffer_copy", ROCHP_OK);
    if (st == ROCHP_OK) {
        memcpy(d->val, src->val, sizeof d->val);
        d->unknown = src->unknown;
    } else {
        d->unknown = true;
    }
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
    /* It settled a begun checkpoint first (its cut names the buffer). */
    model_pending_settled(m, true, "rochp_buffer_free");
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
        model_pending_settled(m, true, "rochp_queue_destroy (unbound)");
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
    /* Refused as waited on, it did not get as far as settling a begun
     * checkpoint (the model's finish then does). */
    model_pending_settled(m, st != ROCHP_ERROR_BUSY, "rochp_queue_destroy");
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
    m->ckpt_from_begin = false;
}

static void op_chain(model *m);
static void op_checkpoint_begin(model *m);

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
    /* A begun checkpoint settled first (the unplug may have raced it). */
    model_pending_settled(m, true, "rochp_checkpoint");
    if (trouble)
        EXPECT(m, st, "rochp_checkpoint", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST,
               ROCHP_ERROR_QUEUE_FAILED);
    else
        EXPECT(m, st, "rochp_checkpoint", ROCHP_OK);
    if (st == ROCHP_OK)
        checkpoint_taken(m);
    if (racing)
        wait_state(m, r.g->info.id, ROCHP_DEVICE_LOST);
    /* Sometimes work follows, and a begun checkpoint on top of this one,
     * under whose copies a GPU is lost: this one then stands, and a
     * recovery gives the work back from it. */
    if (st == ROCHP_OK && !m->failed && m->n_script == 0 && model_chance(m, 12)) {
        for (int k = 1 + (int)model_rand(m, 3); k > 0; k--)
            script(m, "chain", op_chain);
        script(m, "checkpoint_begin", op_checkpoint_begin);
        m->begin_loses = model_chance(m, 60);
    }
}

static void op_restore(model *m)
{
    bool trouble = model_any_gone(m) || model_any_stopped(m);
    rochp_status st = rochp_checkpoint_restore(m->ctx, NULL);
    if (m->verbose)
        fprintf(stderr, "  restore: %d\n", (int)st);
    /* It settled a begun checkpoint first: which one it restored. */
    model_pending_settled(m, true, "rochp_checkpoint_restore");
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
    /* A begun checkpoint's cut, back bit for bit. */
    if (m->ckpt_from_begin)
        model_check_all(m, "after restoring a begun checkpoint");
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
    if ((!m->have_checkpoint && !m->pending.active) || model_any_gone(m) ||
        strcmp(m->mode, "sigbus") == 0)
        return;
    int fd = memfd_create("model", 0);
    if (fd < 0)
        return;
    uint64_t blob = m->seed;
    rochp_status st = rochp_checkpoint_save(m->ctx, fd, &blob, sizeof blob);
    model_pending_settled(m, true, "rochp_checkpoint_save"); /* what it saved */
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
    if ((!m->have_checkpoint && !m->pending.active) || model_any_gone(m) ||
        strcmp(m->mode, "sigbus") == 0)
        return;
    model_run run;
    if (!model_run_open(&run))
        return;
    uint64_t blob = m->seed ^ (uint64_t)m->step << 32;
    run_msg msg;
    int kept = -1;
    REQUIRE(model_run_post(&run, RUN_MSG_ACK, 0, -1));
    rochp_status st = rochp_checkpoint_hand_over(m->ctx, (uint64_t)m->step, &blob, sizeof blob);
    model_pending_settled(m, st == ROCHP_OK, "rochp_checkpoint_hand_over"); /* what it saved */
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

/* Right after a recovery, before any wait: the buffers settled before it
 * hold what the model says (the replay of what had completed is done). */
static void check_settled(model *m, const bool *settled)
{
    for (int k = 0; k < MODEL_MAX_BUFFERS && !m->failed; k++) {
        m_buffer *b = &m->buffers[k];
        if (!settled[k] || !b->alive || b->unknown)
            continue;
        uint32_t got[MODEL_WORDS];
        rochp_status st = rochp_buffer_read(b->h, 0, got, sizeof got);
        if (st != ROCHP_OK) {
            model_fail(m, "reading buffer %d right after a recovery: status %d", k, (int)st);
            return;
        }
        for (uint32_t x = 0; x < MODEL_WORDS; x++)
            if (got[x] != b->val[x]) {
                model_fail(m, "right after a recovery, buffer %d (its last writer had "
                              "completed) word %u is %u, the model says %u",
                           k, x, got[x], b->val[x]);
                return;
            }
    }
}

static void op_recover(model *m)
{
    /* The application recovers from what it was told: every loss noticed
     * (under sigbus the tree keeps the board until the process lets go, so
     * a rescan alone does not show it). */
    for (int i = 0; i < m->n_gpus; i++)
        if (m->gpus[i].unplugged && !m->gpus[i].plugged_back)
            wait_state(m, m->gpus[i].info.id, ROCHP_DEVICE_LOST);
    /* With a checkpoint begun, the faults are sometimes learnt only after
     * the call, so that the recovery itself settles it (the probes' queue
     * destroy would first); not with a saboteur, whose prediction needs
     * them. */
    bool late_faults = m->pending.active && model_chance(m, 50);
    if (!late_faults)
        model_sync_faults(m);
    saboteur s = {m,
                  !late_faults && model_chance(m, 30) && may_unplug(m) ? 1 + (int)model_rand(m, 3)
                                                                        : 0,
                  0};
    rochp_set_recovery_target(m->ctx, s.kind ? sabotage : NULL, &s);
    /* As the begun checkpoint fails (or none is begun), and as it commits. */
    const char *why, *why_committed;
    rochp_status predicted = model_pending_predict(m, false, &why);
    rochp_status if_committed = model_pending_predict(m, true, &why_committed);
    /* The buffers whose last writer the application sees complete now: a
     * recovery must give their bytes back before it returns. */
    bool settled[MODEL_MAX_BUFFERS];
    for (int k = 0; k < MODEL_MAX_BUFFERS; k++) {
        const m_buffer *b = &m->buffers[k];
        const m_ref *w = &b->last_write;
        settled[k] = b->alive && !b->unknown &&
                     (w->queue < 0 || !m->queues[w->queue].alive ||
                      rochp_completion_done(&(rochp_completion){m->queues[w->queue].h, w->id}));
    }
    rochp_recovery_report rep;
    rochp_status st = rochp_recover(m->ctx, WAIT_NS, &rep);
    rochp_set_recovery_target(m->ctx, NULL, NULL);
    if (st == ROCHP_OK)
        check_settled(m, settled);
    /* It settled the begun checkpoint first and went on from the one that
     * stood then. */
    if (model_pending_settled(m, true, "rochp_recover") == 1) {
        predicted = if_committed;
        why = why_committed;
    }
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

/* --- begun checkpoints ------------------------------------------------------------------------ */
/* A usable GPU whose copy engine a begin may hold: it has a buffer the
 * checkpoint surely copies, and none whose bytes the model reads at the cut
 * (that read would wait behind the hold). */
static m_gpu *pick_hold_gpu(model *m)
{
    m_gpu *c[MODEL_MAX_GPUS];
    int n = 0;
    for (int i = 0; i < m->n_gpus; i++) {
        m_gpu *g = &m->gpus[i];
        if (!model_dev_usable(m, g->info.id))
            continue;
        bool copied = false, unknown = false;
        for (int k = 0; k < MODEL_MAX_BUFFERS; k++) {
            const m_buffer *b = &m->buffers[k];
            if (!b->alive || b->dev != g->info.id)
                continue;
            copied |= !b->has_shadow || b->by_call || b->dirty;
            unknown |= b->unknown;
        }
        if (copied && !unknown)
            c[n++] = g;
    }
    /* Drawn either way: the draws after it do not depend on the state
     * (which a racing loss can change). */
    uint32_t r = model_rand(m, 1u << 16);
    return n ? c[r % (uint32_t)n] : NULL;
}

static void hold_end(model *m)
{
    if (!m->hold)
        return;
    model_hold_end(m->hold, model_dev_gone(m, m->hold_gpu->info.id));
    m->hold = NULL;
    m->hold_gpu = NULL;
}

/* The GPU whose engine a begin holds goes while the checkpoint's copies
 * wait behind the hold (they then never run); then the engine is let go. */
static void op_unplug_held(model *m)
{
    m_gpu *g = m->hold_gpu;
    bool noticed = model_chance(m, 85);
    if (g && !g->unplugged && may_unplug(m))
        unplug(m, g, noticed);
    model_hold_release(m->hold);
}

static void op_checkpoint_finish(model *m);

/* After a begun checkpoint: work dispatched while its copies run (to meet
 * the copy guard), sometimes a GPU lost among it, and sometimes the end
 * (finish, or a recovery that settles it) or another begin. */
static void script_after_begin(model *m, int hold)
{
    m->n_script = 0;
    if (hold == 2)
        script(m, "unplug_held", op_unplug_held);
    if (pick_queue(m) < 0)
        script(m, "queue_create", op_queue_create); /* something to dispatch on */
    /* With the engine held briefly, the first meets the copy still held
     * back. */
    if (hold == 1) {
        uint32_t r = model_rand(m, 100);
        script(m, r < 50 ? "chain" : r < 80 ? "copy" : "write",
               r < 50 ? op_chain : r < 80 ? op_copy : op_write);
    }
    int k = 1 + (int)model_rand(m, 3);
    /* A GPU lost among the work (another left to recover on). */
    bool unplug_among = hold != 2 && (m->begin_loses || model_chance(m, 15)) && may_unplug(m) &&
                        model_usable_gpus(m) > 1;
    m->begin_loses = false;
    int at = unplug_among ? (int)model_rand(m, (uint32_t)k + 1) : -1;
    for (int i = 0; i <= k; i++) {
        if (i == at)
            script(m, "unplug_copied", op_unplug_copied);
        if (i == k)
            break;
        /* Before a loss, work a recovery can replay: no write or copy calls. */
        uint32_t r = model_rand(m, hold == 2 || unplug_among ? 80 : 100);
        if (r < 60)
            script(m, "chain", op_chain);
        else if (r < 80)
            script(m, "join", op_join);
        else if (r < 90)
            script(m, "write", op_write);
        else
            script(m, "copy", op_copy);
    }
    bool finish = model_chance(m, 50);
    uint32_t back = model_rand(m, 100);
    if (hold == 2 || unplug_among) {
        script(m, finish ? "checkpoint_finish" : "recover",
               finish ? op_checkpoint_finish : op_recover);
    } else if (hold == 1 && back < 40) {
        /* Back to the cut (committed by finish or by the restore itself):
         * what the work meeting the held copies wrote must not be in it. */
        if (finish)
            script(m, "checkpoint_finish", op_checkpoint_finish);
        script(m, "restore", op_restore);
    } else if (model_chance(m, 6)) {
        script(m, "checkpoint_begin", op_checkpoint_begin); /* settles this one */
    } else if (model_chance(m, 30)) {
        script(m, "checkpoint_finish", op_checkpoint_finish);
    }
}

static void op_checkpoint_begin(model *m)
{
    bool racing_wanted = model_chance(m, 10) && may_unplug(m);
    /* A begin settles the checkpoint begun before it, whose result is then
     * not reported (finish reports the one begun last): where a loss may
     * fail that one the model asks finish first; else it commits. */
    if (m->pending.active && (model_any_gone(m) || racing_wanted))
        model_pending_finish(m, WAIT_NS, "rochp_checkpoint_finish (before a begin)");
    bool earlier = m->pending.active, poll = model_chance(m, 15);
    /* Sometimes the engine of a GPU it copies from is held: briefly, so
     * that the work after it meets the copies running; or until that GPU
     * goes (seldom: a copy that never ends costs its waiters a slice). */
    bool had_hold = m->hold != NULL;
    int hold = 0;
    /* Not where the begin may fail: it would wait for the copies it
     * started, behind the hold. */
    m_gpu *hg = had_hold || racing_wanted || model_any_gone(m) || model_any_stopped(m)
                    ? NULL
                    : pick_hold_gpu(m);
    uint32_t how = model_rand(m, 100);
    if (hg && how < 3)
        hold = 2;
    else if (hg && how < 60)
        hold = 1;
    if (hold) {
        m->hold = model_hold_engine(m->ctx, hg->info.id);
        m->hold_gpu = m->hold ? hg : NULL;
        hold = m->hold ? hold : 0;
    }
    uint64_t held_us = 200 + model_rand(m, 2800);
    if (hold == 2)
        held_us = 200000; /* let go once its GPU went (op_unplug_held) */
    racer r = {m, racing_wanted ? pick_gpu(m, true) : NULL, model_rand(m, 3000)};
    pthread_t t;
    bool racing = r.g && pthread_create(&t, NULL, unplug_later, &r) == 0;
    bool trouble = model_any_gone(m) || model_any_stopped(m) || racing;
    rochp_status st = rochp_checkpoint_begin(m->ctx, poll ? 0 : WAIT_NS);
    if (hold)
        model_hold_count(m->hold, held_us);
    if (racing) {
        pthread_join(t, NULL);
        r.g->unplugged = true;
    }
    if (m->verbose)
        fprintf(stderr, "  begin%s: %d%s%s%s\n", poll ? " (poll)" : "", (int)st,
                earlier ? " (over a begun one)" : "",
                hold == 2 ? " (engine held until its GPU goes)" : hold ? " (engine held)" : "",
                racing ? " (racing an unplug)" : "");
    if (m->verbose && hold)
        fprintf(stderr, "  (engine of device %llu, %llu us)\n",
                (unsigned long long)m->hold_gpu->info.id, (unsigned long long)held_us);
    /* The earlier one, still copying past a poll's timeout, stays begun
     * (BUSY); else this begin committed it (nothing was lost). */
    bool busy = poll && earlier && st == ROCHP_ERROR_BUSY;
    if (earlier && !busy) {
        model_pending_commit(m);
        earlier = false;
    }
    if (poll && (busy || st == ROCHP_ERROR_TIMEOUT)) {
        /* Not in time: again, waiting, as an application would; the
         * sequence then goes on the same however fast the work was. */
        st = rochp_checkpoint_begin(m->ctx, WAIT_NS);
        if (m->verbose)
            fprintf(stderr, "  begin (again): %d\n", (int)st);
        if (earlier)
            model_pending_commit(m);
    }
    if (!trouble)
        EXPECT(m, st, "rochp_checkpoint_begin", ROCHP_OK);
    else
        EXPECT(m, st, "rochp_checkpoint_begin", ROCHP_OK, ROCHP_ERROR_DEVICE_LOST,
               ROCHP_ERROR_QUEUE_FAILED);
    if (had_hold)
        hold_end(m);
    if (st == ROCHP_OK && !m->failed) {
        model_pending_cut(m);
        script_after_begin(m, hold);
    } else if (hold) {
        hold_end(m); /* nothing of it queued behind the hold */
    }
    if (racing)
        wait_state(m, r.g->info.id, ROCHP_DEVICE_LOST);
}

static void op_checkpoint_finish(model *m)
{
    bool poll = model_chance(m, 30), again = model_chance(m, 30), back = model_chance(m, 25);
    rochp_checkpoint_stats s;
    rochp_status st = rochp_checkpoint_finish(m->ctx, poll ? 0 : WAIT_NS, &s);
    if (m->verbose)
        fprintf(stderr, "  finish%s: %d\n", poll ? " (poll)" : "", (int)st);
    if (!m->pending.active) {
        if (EXPECT(m, st, "rochp_checkpoint_finish (none begun)", ROCHP_ERROR_NOT_FOUND) &&
            !strstr(rochp_last_error(), "no checkpoint was begun"))
            model_fail(m, "rochp_checkpoint_finish (none begun) says: %s", rochp_last_error());
        return;
    }
    int r = model_pending_outcome(m, st, &s, poll, "rochp_checkpoint_finish");
    /* Still copying: again, waiting (the sequence then goes on the same
     * however fast the copies were). */
    if (r < 0)
        r = model_pending_finish(m, WAIT_NS, "rochp_checkpoint_finish (again, waiting)");
    /* Its result is reported once. */
    if (!m->failed && again)
        EXPECT(m, rochp_checkpoint_finish(m->ctx, 0, NULL), "rochp_checkpoint_finish (again)",
               ROCHP_ERROR_NOT_FOUND);
    /* Back to the cut: the work since it undone. */
    if (r == 1 && !m->failed && back) {
        m->op = "checkpoint_finish, restore";
        op_restore(m);
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
        model_pending_settled(m, true, "rochp_buffer_free (misuse)");
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
        model_pending_settled(m, true, "rochp_queue_destroy (misuse)");
        EXPECT(m, rochp_queue_destroy(q), "rochp_queue_destroy (again)",
               ROCHP_ERROR_INVALID_ARGUMENT);
        return;
    }
    }
}

/* --- one step ---------------------------------------------------------------------------------- */
void model_step(model *m)
{
    /* extra: the weight added while a begun checkpoint copies -- work that
     * meets its copies, and its end (the script after a begin loses GPUs
     * under it: every unplug costs a sigbus sequence ~0.1 s). */
    static const struct {
        const char *name;
        void (*run)(model *);
        uint32_t weight, extra;
    } ops[] = {
        {"alloc", op_alloc, 8, 0},
        {"write", op_write, 3, 3},
        {"copy", op_copy, 2, 3},
        {"free", op_free, 3, 0},
        {"queue_create", op_queue_create, 5, 0},
        {"queue_destroy", op_queue_destroy, 2, 0},
        {"chain", op_chain, 30, 30},
        {"join", op_join, 12, 12},
        {"wait", op_wait, 6, 0},
        {"wait_idle", op_wait_idle, 4, 0},
        {"check", NULL, 4, 0},
        {"checkpoint", op_checkpoint, 8, 0},
        {"checkpoint_begin", op_checkpoint_begin, 5, 0},
        {"checkpoint_finish", op_checkpoint_finish, 1, 6},
        {"unplug", op_unplug, 3, 0},
        {"plug_back", op_plug_back, 1, 0},
        {"recover", op_recover, 6, 0},
        {"restore", op_restore, 2, 0},
        {"save_load", op_save_load, 2, 0},
        {"misuse", op_misuse, 4, 0},
        {"hand_over_resume", op_hand_over_resume, 2, 0},
    };
    if (m->n_script > 0) {
        model_op next = m->script[0];
        memmove(m->script, m->script + 1, (size_t)--m->n_script * sizeof *m->script);
        m->op = next.name;
        next.run(m);
        return;
    }
    uint32_t total = 0;
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++)
        total += ops[i].weight + (m->pending.active ? ops[i].extra : 0);
    uint32_t r = model_rand(m, total);
    for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
        uint32_t w = ops[i].weight + (m->pending.active ? ops[i].extra : 0);
        if (r >= w) {
            r -= w;
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

/* The sequence's end, before the last recovery and checks: a held engine
 * let go, and a begun checkpoint that a loss may have failed finished (the
 * rest is left to the context's end, which settles it). */
void model_end_begun(model *m)
{
    m->n_script = 0;
    if (m->hold)
        model_hold_release(m->hold);
    if (m->pending.active && model_any_gone(m))
        model_pending_finish(m, WAIT_NS, "rochp_checkpoint_finish (at the end)");
}

/* Before the context goes: the held engine's copy ended. */
void model_end_hold(model *m)
{
    hold_end(m);
}
