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

/* model_ops.c: one random operation. */
void model_step(model *m);

#endif
