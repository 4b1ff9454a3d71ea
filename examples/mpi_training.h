/* mpi_training's job, shared by the training loop (mpi_training.c) and the
 * ULFM recovery (mpi_training_ulfm.c). */
#ifndef MPI_TRAINING_H
#define MPI_TRAINING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include <rochp/rochp_dispatch.h>

/* Logical ranks ("parts") a job can have: the world size at its fresh start.
 * It bounds a checkpoint file's user record (24 + 56 bytes a part) and the
 * commit marker's file list. */
#define MAX_PARTS 256
#define RESTART 75 /* EX_TEMPFAIL: this process cannot go on; the job goes back to its commit */
#define MPI_LOST (-1) /* ULFM: an MPI call failed; the survivors shrink and roll back */
#define NO_STEP UINT32_MAX

/* What one rank carried before parts existed: its weights a and b, their
 * join c, the module and the two queues they run on. */
typedef struct part {
    uint32_t id; /* the logical rank: its init values and chain arguments */
    rochp_module *module;
    rochp_buffer *buf[3];
    rochp_queue *q[2];
    const rochp_dispatch_kernel *kc[2], *kj;
} part;

typedef struct job {
    int rank, size; /* in comm */
    int world;      /* MPI_COMM_WORLD's rank: the name in every message and the placement */
    MPI_Comm comm;
    bool ulfm;
    rochp_context *ctx;
    rochp_options options;
    const char *dir, *co;
    uint32_t steps, every, pause_at;
    int pause_rank;        /* a world rank */
    int leave_in_recovery; /* a world rank that leaves at its first shrink (tests) */
    bool timing;
    uint32_t total;     /* logical ranks L, fixed at the fresh start */
    uint32_t next_step; /* where the loop starts */
    uint64_t global;    /* the last step's allreduced sum (feeds the next step) */
    part parts[MAX_PARTS];
    uint32_t nparts; /* in id order */
    rochp_launch launch;
    /* The last two commits this process knows (newest first) and, for each,
     * the units (files, or parts before any commit) it held there: what it
     * claims when the job rolls back to one of them. */
    uint32_t committed[2];
    uint8_t held[2][MAX_PARTS / 8];
    unsigned handled;    /* losses dealt with */
    uint32_t step;       /* the step under way, for messages */
    int shrinks;         /* ULFM recoveries so far */
    char why[256];       /* why this process cannot go on */
} job;

static inline bool bit(const uint8_t *set, uint32_t i) { return set[i / 8] & (1u << (i % 8)); }
static inline void set_bit(uint8_t *set, uint32_t i) { set[i / 8] |= (uint8_t)(1u << (i % 8)); }

/* mpi_training_commit.c */
void part_file(const job *j, uint32_t file, uint32_t step, char *out, size_t size);
int read_committed(const job *j, uint32_t *step, uint32_t *total, uint8_t *files);
/* files: a file number for each process of the communicator, -1 for none. */
int write_committed(const job *j, uint32_t step, const int *files);
void prune(const job *j, uint32_t step, uint32_t keep);

/* mpi_training_ulfm.c.  All return 0 or an exit code (MPI_LOST where noted). */
bool ulfm_built(void);
/* The job's communicator: MPI_COMM_WORLD, or with ULFM a dup of it that
 * returns errors. */
int ulfm_comm(job *j);
/* An MPI call's result: 0, or MPI_LOST in ULFM mode (1 otherwise). */
int mpi_ok(job *j, int rc, const char *what);
/* Revokes and shrinks the job's communicator to the live processes. */
int ulfm_shrink(job *j);
/* Every live process's flag and'ed, the same at all of them (ULFM:
 * MPIX_Comm_agree; else an allreduce).  MPI_LOST on a failure. */
int agree_all(job *j, int *flag);
/* This process cannot go on: in ULFM mode it dies of SIGKILL (the
 * survivors take its parts over), else it exits with RESTART. */
_Noreturn void leave(job *j);

#endif
