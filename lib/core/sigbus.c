/* SIGBUS as a detection source (opt-in: a library must not take a process's
 * signal handling unasked).  On current kernels a hot-unplug sends SIGBUS
 * with si_code SI_USER to every process using the GPU; that one is turned
 * into a device check instead of the default termination.  Any other SIGBUS
 * is a real memory error and goes to the handler installed before rochp's,
 * or gets the default action.
 *
 * The handler only does async-signal-safe things: it counts the signal and
 * writes to the wake descriptor of every context that asked.  Slots are
 * atomics; detaching empties the slot, then waits until no handler is in the
 * middle of a write, so a descriptor is never written after it is closed. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "context.h"

enum { MAX_CONTEXTS = 64 };

static _Atomic int wake_fds[MAX_CONTEXTS]; /* descriptor + 1, so that 0 means empty */
static _Atomic int in_handler;
static _Atomic uint64_t sigbus_seen;
static struct sigaction previous;
static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;

static void on_sigbus(int sig, siginfo_t *info, void *ucontext)
{
    int saved_errno = errno;
    if (info && info->si_code == SI_USER) {
        atomic_fetch_add(&in_handler, 1);
        atomic_fetch_add(&sigbus_seen, 1);
        for (int i = 0; i < MAX_CONTEXTS; i++) {
            int slot = atomic_load(&wake_fds[i]); /* fd + 1; 0 is empty */
            if (slot > 0) {
                uint64_t one = 1;
                if (write(slot - 1, &one, sizeof one) < 0) {
                    /* a full eventfd is awake already */
                }
            }
        }
        atomic_fetch_sub(&in_handler, 1);
        errno = saved_errno;
        return;
    }
    if ((previous.sa_flags & SA_SIGINFO) && previous.sa_sigaction) {
        previous.sa_sigaction(sig, info, ucontext);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
    } else {
        /* The default action, as if rochp had never been here: a real fault
         * re-executes and kills; a sent signal is raised again. */
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigaction(SIGBUS, &dfl, NULL);
        raise(SIGBUS);
    }
    errno = saved_errno;
}

uint64_t sigbus_count(void)
{
    return atomic_load(&sigbus_seen);
}

rochp_status sigbus_attach(rochp_context *ctx)
{
    pthread_mutex_lock(&install_lock);
    int slot = -1;
    for (int i = 0; i < MAX_CONTEXTS && slot < 0; i++)
        if (atomic_load(&wake_fds[i]) <= 0)
            slot = i;
    if (slot < 0) {
        pthread_mutex_unlock(&install_lock);
        return rochp__set_errorf(ROCHP_ERROR_TOO_LARGE,
                                "more than %d contexts with ROCHP_CONTEXT_SIGBUS_HANDLER",
                                MAX_CONTEXTS);
    }
    if (!installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_RESTART;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &previous) != 0) {
            pthread_mutex_unlock(&install_lock);
            return rochp__set_errorf(ROCHP_ERROR_IO, "cannot install the SIGBUS handler: %s",
                                    strerror(errno));
        }
        installed = true;
    }
    ctx->sigbus_seen = atomic_load(&sigbus_seen);
    atomic_store(&wake_fds[slot], ctx->wake_fd + 1);
    ctx->sigbus_slot = slot;
    pthread_mutex_unlock(&install_lock);
    return ROCHP_OK;
}

void sigbus_detach(rochp_context *ctx)
{
    if (ctx->sigbus_slot < 0)
        return;
    pthread_mutex_lock(&install_lock);
    atomic_store(&wake_fds[ctx->sigbus_slot], 0);
    ctx->sigbus_slot = -1;
    /* A handler that read the descriptor before it was cleared finishes
     * its write before the caller may close it.  (The handler stays
     * installed: another library may have chained to it since.) */
    while (atomic_load(&in_handler) != 0)
        sched_yield();
    pthread_mutex_unlock(&install_lock);
}
