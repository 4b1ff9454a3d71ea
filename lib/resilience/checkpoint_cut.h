/* What checkpoints and restores share: the cut across the queues, and the
 * engine copies between buffers and their shadows (checkpoint_cut.c). */
#ifndef ROCHP_RESILIENCE_CHECKPOINT_CUT_H
#define ROCHP_RESILIENCE_CHECKPOINT_CUT_H

#include "resilience/resilience.h"

typedef struct cut_queue {
    rochp_queue *q;
    uint64_t cut;    /* the ring's write index */
    uint64_t voided; /* its failed reservations then (plain queues) */
} cut_queue;

typedef struct copy_job {
    rochp_buffer *b;
    hsa_signal_t done; /* 0: copied by the CPU, or not started */
    bool started;
    bool abandoned; /* its device was lost under the copy: the engine may still write */
    bool was_written_by_call; /* b's mark before the cut (put back if it fails) */
} copy_job;

/* Each queue's write index now (the queues under ctx->lock). */
rochp_status cut_take(rochp_context *ctx, cut_queue **out, size_t *n_out);
/* Until every packet before the cut completed (or timeout_ns; a failed
 * queue is its status). */
rochp_status cut_wait(const cut_queue *cuts, size_t n, uint64_t timeout_ns);
/* Did a queue take a packet id since the cut? */
bool cut_moved(rochp_context *ctx, const cut_queue *cuts, size_t n);
/* With ctx->lock held: the work up to the cut is what the checkpoint (or a
 * restore) stands for from now on: the journals start over there, and the
 * failed reservations and destroyed queues' packets counted by then are
 * owed no replay. */
void cut_start_over(rochp_context *ctx, const cut_queue *cuts, size_t n, uint64_t retired);

/* Until every started copy ended, a device under one was lost (the job is
 * abandoned: ROCHP_ERROR_DEVICE_LOST), or deadline_ns (rochp__now_ns; 0:
 * none) passed: ROCHP_ERROR_TIMEOUT, nothing abandoned for it.  what names
 * the operation in messages.  The signals stay (copies_release). */
rochp_status copies_wait(rochp_context *ctx, copy_job *jobs, size_t n, uint64_t deadline_ns,
                         const char *what);
/* With the checkpoint lock held: the jobs' signals go, and an abandoned
 * job's spare shadow to the abandoned list (never reused). */
void copies_release(rochp_context *ctx, copy_job *jobs, size_t n, bool spares);

#endif
