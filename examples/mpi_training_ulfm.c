/* mpi_training's ULFM side (Open MPI >= 5 with the ftmpi extension,
 * mpirun --with-ft ulfm): the job's communicator returns errors instead of
 * ending the job, a process that cannot go on dies of a signal, and the
 * survivors revoke and shrink the communicator and roll back to the
 * committed step with the lost processes' parts (mpi_training.c, setup).
 * Built without ULFM, the job restart of mpi-job.sh is the only way. */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "mpi_training.h"

#ifdef ROCHP_MPI_ULFM
#include <mpi-ext.h>
#endif

bool ulfm_built(void)
{
#ifdef ROCHP_MPI_ULFM
    return true;
#else
    return false;
#endif
}

int ulfm_comm(job *j)
{
    if (!j->ulfm) {
        /* Errors are fatal: a lost rank ends the job, mpi-job.sh restarts it. */
        j->comm = MPI_COMM_WORLD;
    } else {
        /* A communicator of our own to revoke and replace; its errors come
         * back to the caller (the default, MPI_ERRORS_ARE_FATAL, would end
         * every process at the first failure). */
        if (MPI_Comm_dup(MPI_COMM_WORLD, &j->comm) != MPI_SUCCESS)
            return 1;
        MPI_Comm_set_errhandler(j->comm, MPI_ERRORS_RETURN);
    }
    MPI_Comm_rank(j->comm, &j->rank);
    MPI_Comm_size(j->comm, &j->size);
    return 0;
}

int mpi_ok(job *j, int rc, const char *what)
{
    if (rc == MPI_SUCCESS)
        return 0;
    char text[MPI_MAX_ERROR_STRING];
    int len = 0, class = rc;
    MPI_Error_class(rc, &class);
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS)
        snprintf(text, sizeof text, "error %d", rc);
    fprintf(stderr, "mpi_training: rank %d: %s at step %u: %s (class %d)\n", j->world, what,
            j->step, text, class);
    /* Any error, not only MPIX_ERR_PROC_FAILED and MPIX_ERR_REVOKED: after
     * a failure Open MPI can report it through other classes too
     * (MPIX_ERR_PROC_FAILED_PENDING, a truncated message), and a rank that
     * went on alone would block the others in their shrink. */
    return j->ulfm ? MPI_LOST : 1;
}

int agree_all(job *j, int *flag)
{
#ifdef ROCHP_MPI_ULFM
    if (j->ulfm) {
        /* Unlike a collective, the agreement's flag and its error are the
         * same at every live process (MPIX_Comm_agree(3): a failure is
         * "consistently raised at all MPI processes"). */
        int rc = MPIX_Comm_agree(j->comm, flag);
        return mpi_ok(j, rc, "agree");
    }
#endif
    int in = *flag;
    return mpi_ok(j, MPI_Allreduce(&in, flag, 1, MPI_INT, MPI_LAND, j->comm), "allreduce");
}

int ulfm_shrink(job *j)
{
#ifdef ROCHP_MPI_ULFM
    /* Revoke first: a survivor still waiting in a collective the dead one
     * never joined (or one that completed it and went on) gets
     * MPIX_ERR_REVOKED at its next call and comes here too; shrink needs
     * every live process.  MPIX_Comm_shrink agrees on the failed group
     * itself and leaves them out, so a process that dies during it is
     * either out or reported by the next call on the new communicator
     * (which brings everyone back here). */
    for (int tries = 0; tries < 100; tries++) {
        MPIX_Comm_revoke(j->comm);
        MPI_Comm shrunk = MPI_COMM_NULL;
        int rc = MPIX_Comm_shrink(j->comm, &shrunk);
        if (rc != MPI_SUCCESS) {
            mpi_ok(j, rc, "shrink");
            continue;
        }
        /* Freeing a revoked communicator is local in ULFM. */
        MPI_Comm_free(&j->comm);
        j->comm = shrunk;
        MPI_Comm_set_errhandler(j->comm, MPI_ERRORS_RETURN);
        MPI_Comm_rank(j->comm, &j->rank);
        MPI_Comm_size(j->comm, &j->size);
        j->shrinks++;
        return 0;
    }
    fprintf(stderr, "mpi_training: rank %d: the communicator does not shrink\n", j->world);
    return 1;
#else
    (void)j;
    return 1;
#endif
}

_Noreturn void leave(job *j)
{
    if (!j->ulfm) {
        /* mpirun ends the job when a rank exits non-zero, with that code:
         * no MPI_Finalize, which would wait for the other ranks. */
        fflush(stdout);
        fflush(stderr);
        _exit(RESTART);
    }
    printf("rank %d leaves at step %u: %s\n", j->world, j->step, j->why);
    fflush(stdout);
    fflush(stderr);
    /* Under ULFM a process that exits is not reported as failed: the others
     * would wait for it forever (docs/rocm-versions.md, tried with Open MPI
     * 5.0.7).  Its death by a signal is (PRRTE reports the abnormal
     * termination, and --with-ft ulfm keeps the job running).  SIGKILL: no
     * handler of ours or Open MPI's runs, no core is written, and the
     * kernel closes /dev/kfd, which lets an unplug finish. */
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}
