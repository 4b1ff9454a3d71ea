/* Checkpoints handed to rochp-run, the supervisor, so that they outlive the
 * process: written in the file format into a memfd, sealed against any
 * change, and passed over the inherited channel (common/run_channel.h).
 * A new process of the same job takes the last one back (rochp_resume) and
 * loads it, with no file on the way.
 *
 * Locks: channel_lock serialises the conversations on the one channel (a
 * request and its reply); a leaf, held across the supervisor's answer. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/run_channel.h"
#include "resilience/resilience.h"

static pthread_mutex_t channel_lock = PTHREAD_MUTEX_INITIALIZER;

/* The inherited channel, checked to be a seqpacket socket; -1: none. */
static int channel(const char *call)
{
    const char *v = getenv(RUN_CHANNEL_ENV);
    if (!v || !*v) {
        rochp__set_errorf(ROCHP_ERROR_NOT_FOUND,
                         "%s: the program does not run under rochp-run (%s is not set)", call,
                         RUN_CHANNEL_ENV);
        return -1;
    }
    char *end;
    long fd = strtol(v, &end, 10);
    int type = 0;
    socklen_t len = sizeof type;
    if (*end || fd < 0 || fd > 1 << 20 ||
        getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_SEQPACKET) {
        rochp__set_errorf(ROCHP_ERROR_NOT_FOUND,
                         "%s: %s=%s is not rochp-run's channel (a seqpacket socket)", call,
                         RUN_CHANNEL_ENV, v);
        return -1;
    }
    return (int)fd;
}

/* One request and its answer. */
static rochp_status converse(int sock, const run_msg *req, int fd, run_msg *reply, int *reply_fd,
                             const char *call)
{
    pthread_mutex_lock(&channel_lock);
    int e = rochp__run_send(sock, req, fd);
    pid_t pid;
    if (e == 0)
        e = rochp__run_recv(sock, reply, reply_fd, &pid);
    pthread_mutex_unlock(&channel_lock);
    if (e != 0)
        return rochp__set_errorf(ROCHP_ERROR_IO, "%s: rochp-run's channel: %s", call, strerror(-e));
    return ROCHP_OK;
}

rochp_status rochp_checkpoint_hand_over(rochp_context *ctx, uint64_t step, const void *user,
                                        size_t user_size)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, "rochp_checkpoint_hand_over");
    if (st != ROCHP_OK)
        return st;
    int sock = channel("rochp_checkpoint_hand_over");
    if (sock < 0)
        return ROCHP_ERROR_NOT_FOUND;
    int mfd = memfd_create("rochp-checkpoint", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (mfd < 0)
        return rochp__set_errorf(ROCHP_ERROR_OUT_OF_MEMORY,
                                "rochp_checkpoint_hand_over: memfd_create: %s", strerror(errno));
    st = rochp_checkpoint_save(ctx, mfd, user, user_size);
    /* Sealed before anyone else sees it: neither side can change it now. */
    if (st == ROCHP_OK &&
        fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0)
        st = rochp__set_errorf(ROCHP_ERROR_IO, "rochp_checkpoint_hand_over: sealing: %s",
                              strerror(errno));
    if (st != ROCHP_OK) {
        close(mfd);
        return st;
    }
    run_msg req = {.magic = RUN_CHANNEL_MAGIC, .kind = RUN_MSG_CHECKPOINT, .step = step};
    run_msg reply;
    int none = -1;
    st = converse(sock, &req, mfd, &reply, &none, "rochp_checkpoint_hand_over");
    close(mfd);
    if (none >= 0)
        close(none);
    if (st != ROCHP_OK)
        return st;
    if (reply.kind != RUN_MSG_ACK || reply.status != ROCHP_OK)
        return rochp__set_errorf(reply.kind == RUN_MSG_ACK && reply.status < 0
                                     ? (rochp_status)reply.status
                                     : ROCHP_ERROR_IO,
                                "rochp_checkpoint_hand_over: rochp-run refused it: %s",
                                reply.text);
    return ROCHP_OK;
}

rochp_status rochp_resume(rochp_context *ctx, rochp_restored **out)
{
    rochp_status st = handle_check(ctx, HANDLE_CONTEXT, "rochp_resume");
    if (st != ROCHP_OK)
        return st;
    if (!out)
        return rochp__set_errorf(ROCHP_ERROR_INVALID_ARGUMENT, "rochp_resume: out is NULL");
    *out = NULL;
    int sock = channel("rochp_resume");
    if (sock < 0)
        return ROCHP_ERROR_NOT_FOUND;
    uint64_t t0 = rochp__now_ns();
    run_msg req = {.magic = RUN_CHANNEL_MAGIC, .kind = RUN_MSG_RESUME}, reply;
    int fd = -1;
    if ((st = converse(sock, &req, -1, &reply, &fd, "rochp_resume")) != ROCHP_OK)
        return st;
    if (reply.kind != RUN_MSG_RESUME_REPLY || fd < 0) {
        if (fd >= 0)
            close(fd);
        return rochp__set_errorf(ROCHP_ERROR_NOT_FOUND, "rochp_resume: %s",
                                reply.text[0] ? reply.text : "rochp-run holds no checkpoint");
    }
    /* A sealed memfd (what rochp-run keeps) is mapped for its small
     * sections and its buffers read straight into their shadows
     * (persist_load_mapped): no copy of the whole checkpoint first.  The
     * seals are what make this safe: nobody can shorten the memfd under
     * the mapping (a SIGBUS) or write it between the checks and the use.
     * Anything else (the file rochp-run read from --checkpoint-dir) is
     * read as a file is. */
    struct stat sb;
    int seals = fcntl(fd, F_GET_SEALS);
    void *map = MAP_FAILED;
    int need = F_SEAL_WRITE | F_SEAL_SHRINK;
    if (seals >= 0 && (seals & need) == need && fstat(fd, &sb) == 0 && sb.st_size > 0)
        map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
    if (map != MAP_FAILED) {
        st = persist_load_mapped(ctx, map, (size_t)sb.st_size, fd, out);
        munmap(map, (size_t)sb.st_size);
    } else if (lseek(fd, 0, SEEK_SET) != 0) {
        st = rochp__set_errorf(ROCHP_ERROR_IO, "rochp_resume: the checkpoint cannot be read");
    } else {
        st = rochp_checkpoint_load(ctx, fd, out);
    }
    close(fd);
    if (st != ROCHP_OK)
        return st;
    /* For the supervisor's "resumed" line: the step it handed back, how long. */
    run_msg done = {.magic = RUN_CHANNEL_MAGIC, .kind = RUN_MSG_RESUMED, .step = reply.step,
                    .value = rochp__now_ns() - t0};
    pthread_mutex_lock(&channel_lock);
    (void)rochp__run_send(sock, &done, -1);
    pthread_mutex_unlock(&channel_lock);
    return ROCHP_OK;
}
