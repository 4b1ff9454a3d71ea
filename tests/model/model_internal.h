/* The model test's functions, shared by its files. */
#ifndef ROCHP_TESTS_MODEL_INTERNAL_H
#define ROCHP_TESTS_MODEL_INTERNAL_H

#include "common/run_channel.h"
#include "model.h"

bool model_chance(model *m, uint32_t percent);
m_gpu *model_gpu(model *m, rochp_device_id dev);
bool model_dev_gone(model *m, rochp_device_id dev);
bool model_dev_usable(model *m, rochp_device_id dev);
int model_usable_gpus(model *m);
bool model_any_gone(model *m);
bool model_queue_dead(model *m, const m_queue *q);
bool model_any_stopped(model *m);
bool model_lost_work(model *m);
rochp_status model_recovery_status(model *m, const char **why);
void model_recovered(model *m);
void model_recovery_failed(model *m);
void model_note_auto_recovery(model *m);
void model_check_all(model *m, const char *when);
void model_learn(model *m, m_buffer *b);
void model_dump(model *m);
void model_sync_faults(model *m);

/* model_memory.c: the application's own pool memory (NULL: none to be
 * had), and the allocator that gives rochp more of it. */
void *model_own_alloc(rochp_context *ctx, rochp_device_id device, size_t size);
void model_own_free(void *address);
rochp_status model_set_allocator(rochp_context *ctx);

/* model_memory.c: a GPU's copy engine held busy -- an async copy of the
 * test's own pool memory there, waiting for a signal -- from before a
 * checkpoint begins, so that its copies of that GPU's buffers are still
 * running when work is dispatched after the begin.  A thread lets it go
 * delay_us after model_hold_count (20 ms after it was made at most), or
 * when model_hold_release asks.  NULL: none could be made.  model_hold_end
 * lets it go and frees what is safe to free (gone: the GPU went, and its
 * engine never ends the copy). */
struct model_hold *model_hold_engine(rochp_context *ctx, rochp_device_id device);
void model_hold_count(struct model_hold *h, uint64_t delay_us);
void model_hold_release(struct model_hold *h);
void model_hold_end(struct model_hold *h, bool gone);

/* model_pending.c: the begun checkpoint (model.h).  cut: begin returned OK.
 * commit / fail: what the model believes once it committed or failed.
 * settled: after a call that settles it first (must) or may have --
 * rochp_checkpoint_finish says how it ended (without must, waiting for it
 * if the call did not); 1 committed, 0 failed (or none pending), -1 still
 * begun (outcome with may_time_out only).  finish: the model's
 * own rochp_checkpoint_finish with timeout_ns, and the same.  outcome:
 * finish's status st and stats taken in (may_time_out: its timeout may
 * pass).  predict: what a recovery would say if it committed or failed.
 * lost: the context saw device lost. */
void model_pending_cut(model *m);
void model_pending_commit(model *m);
void model_pending_fail(model *m);
int model_pending_settled(model *m, bool must, const char *after);
int model_pending_finish(model *m, uint64_t timeout_ns, const char *why);
int model_pending_outcome(model *m, rochp_status st, const rochp_checkpoint_stats *s,
                          bool may_time_out, const char *what);
rochp_status model_pending_predict(model *m, bool commit, const char **why);
void model_pending_lost(model *m, rochp_device_id device);

/* model_run.c: rochp-run's end of the channel, played here (ROCHP_RUN_FD
 * set while open).  post queues a message (with fd when >= 0) for the
 * program's next read; take reads the program's next one, never waiting
 * (false: none, or not one of rochp-run's). */
typedef struct model_run {
    int sv[2]; /* the program's end, rochp-run's */
} model_run;
bool model_run_open(model_run *r);
void model_run_close(model_run *r);
bool model_run_post(model_run *r, uint32_t kind, uint64_t step, int fd);
bool model_run_take(model_run *r, run_msg *m, int *fd);

/* model_ops.c: one random operation; at the sequence's end, a held engine
 * let go and a begun checkpoint a loss may fail finished (end_begun), and
 * the hold's copy done before the context goes (end_hold). */
void model_step(model *m);
void model_end_begun(model *m);
void model_end_hold(model *m);

#endif
