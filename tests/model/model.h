/* The model-based random test's state: what rochp's public semantics say the
 * application's objects hold, computed on the CPU beside the real ones.
 *
 * A sequence is a random run of API calls on a virtual machine of 1-4 GPUs,
 * with GPUs unplugged (and plugged back) at random points: between calls,
 * during a checkpoint, during a recovery, and the recovery's own target.
 * Every call's status must be one the model allows; after each successful
 * recovery (and whenever nothing is lost) every buffer must equal the
 * model's bytes.
 *
 * A checkpoint may also be begun (rochp_checkpoint_begin) and left to
 * commit later: the model keeps its cut as pending until a call settles it
 * (model_pending.c), and work is dispatched and GPUs go in between. */
#ifndef ROCHP_TESTS_MODEL_H
#define ROCHP_TESTS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "user_sim.h"

#define MODEL_WORDS 64u
#define MODEL_MAX_GPUS 4
#define MODEL_MAX_BUFFERS 12
#define MODEL_MAX_QUEUES 6
#define MODEL_MAX_READERS 8

/* A packet of some queue (index into the model's queues; -1: none). */
typedef struct m_ref {
    int queue;
    uint64_t id;
} m_ref;

typedef struct m_buffer {
    rochp_buffer *h;
    bool alive;
    bool registered;            /* the test's own memory (rochp_buffer_register) */
    rochp_device_id dev;
    uint32_t val[MODEL_WORDS];  /* its bytes once every published packet ran */
    uint32_t ckpt[MODEL_WORDS]; /* at the last checkpoint, when has_shadow */
    bool has_shadow;            /* copied by a checkpoint (saved, restorable) */
    bool by_call;               /* written by a write or copy call since */
    bool dirty;                 /* written by a dispatch since */
    bool unknown;               /* bytes undefined (a recovery failed under it) */
    uint32_t journal_refs;      /* queues (bits) whose journal since passes it to a kernel */
    m_ref last_write;
    m_ref readers[MODEL_MAX_READERS];
    int n_readers;
    /* In the cut of the begun checkpoint (model.pending): its bytes there,
     * and its marks then (cleared at the cut, as rochp does, and put back
     * if the checkpoint fails). */
    bool in_cut;
    bool cut_copied; /* rochp surely copies it: no shadow, or written since the checkpoint */
    bool cut_by_call, cut_dirty;
    uint32_t cut_refs;
    uint32_t cut[MODEL_WORDS];
} m_buffer;

typedef struct m_queue {
    rochp_queue *h;
    bool alive;
    rochp_device_id dev;
    bool journaled;
    uint32_t packets, journal;
    uint64_t next_id;       /* ids taken: published, or void */
    uint64_t ckpt_next_id;  /* at the last checkpoint */
    uint64_t ids_since;     /* journaled: ids taken since the checkpoint */
    bool ran_since;         /* a packet published since the checkpoint */
    bool stopped;           /* may be stopped by a recovery that failed */
    uint64_t last_published; /* +1; 0: none */
    /* Per queue index: a barrier of this queue on that queue's packets may
     * still be unfinished (nothing since said it completed). */
    bool waits_on[MODEL_MAX_QUEUES];
    const rochp_dispatch_kernel *chain, *join;
    /* In the cut of the begun checkpoint: its ids then.  The journal starts
     * over only at the commit, so ids_since and ran_since count from the
     * standing checkpoint until then. */
    bool in_cut;
    uint64_t next_id_at_cut, ids_at_cut;
    bool ran_after_cut;
} m_queue;

typedef struct m_gpu {
    rochp_device_info info;
    bool unplugged; /* by the test */
    bool plugged_back;
    /* Work in flight here touched an unplugged GPU's memory: a VM fault,
     * and the driver stops the process's work here for good. */
    bool faulted;
} m_gpu;

struct model_hold; /* model_memory.c */
struct model;

/* One operation, for the queue of those that follow a begin. */
typedef struct model_op {
    const char *name;
    void (*run)(struct model *);
} model_op;

#define MODEL_MAX_SCRIPT 8

typedef struct model {
    uint64_t seed, rng;
    const char *mode; /* silent, reset, sigbus */
    bool auto_recover;
    char dir[256];
    rochp_context *ctx;
    user_kernels k;
    m_gpu gpus[MODEL_MAX_GPUS];
    int n_gpus;
    m_buffer buffers[MODEL_MAX_BUFFERS];
    m_queue queues[MODEL_MAX_QUEUES];
    bool have_checkpoint;
    bool ckpt_from_begin;   /* the standing checkpoint was begun (and committed later) */
    bool retired_ran;       /* a queue that ran since the checkpoint was destroyed */
    /* A checkpoint begun and not yet known to be settled. */
    struct {
        bool active;
        /* The context saw a GPU lost that holds a buffer it surely copies:
         * it cannot commit. */
        bool doomed;
    } pending;
    struct model_hold *hold;          /* a GPU's copy engine held around a begin */
    m_gpu *hold_gpu;
    model_op script[MODEL_MAX_SCRIPT]; /* operations that come next (after a begin) */
    int n_script;
    bool begin_loses;                  /* the next begin's script unplugs a GPU */
    uint64_t recovered_events, recovered_seen;
    int step;
    const char *op;         /* the operation running, for messages */
    bool failed;
    bool verbose;
} model;

/* A failed expectation: prints the seed and what happened, and ends the
 * sequence (the caller reports it). */
void model_fail(model *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

uint32_t model_rand(model *m, uint32_t n); /* 0..n-1 */

#endif
