/* The model's rochp-run: the other end of the channel a rochp context finds
 * in ROCHP_RUN_FD, played in this process so that a sequence can hand its
 * checkpoint over and take it back into a second context (as the restarted
 * process would) at any point of a random run.  The wire format is
 * rochp-run's (lib/common/run_channel.h: its types only; the framing here
 * is written from the header's description, not linked from the library).
 * Each answer is queued before the call that reads it, so no thread is
 * needed: a seqpacket socket keeps messages whole and in order. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "model_internal.h"

bool model_run_open(model_run *r)
{
    r->sv[0] = r->sv[1] = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r->sv) != 0)
        return false;
    char text[16];
    snprintf(text, sizeof text, "%d", r->sv[0]);
    setenv(RUN_CHANNEL_ENV, text, 1);
    return true;
}

void model_run_close(model_run *r)
{
    unsetenv(RUN_CHANNEL_ENV);
    for (int i = 0; i < 2; i++)
        if (r->sv[i] >= 0)
            close(r->sv[i]);
    r->sv[0] = r->sv[1] = -1;
}

bool model_run_post(model_run *r, uint32_t kind, uint64_t step, int fd)
{
    run_msg m = {.magic = RUN_CHANNEL_MAGIC, .kind = kind, .step = step};
    struct iovec iov = {.iov_base = &m, .iov_len = sizeof m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    struct msghdr h = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        h.msg_control = ctl.buf;
        h.msg_controllen = sizeof ctl.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    return sendmsg(r->sv[1], &h, MSG_NOSIGNAL) == (ssize_t)sizeof m;
}

bool model_run_take(model_run *r, run_msg *m, int *fd)
{
    *fd = -1;
    struct iovec iov = {.iov_base = m, .iov_len = sizeof *m};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr h = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                       .msg_controllen = sizeof ctl.buf};
    ssize_t n;
    do
        n = recvmsg(r->sv[1], &h, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    struct cmsghdr *c = n > 0 ? CMSG_FIRSTHDR(&h) : NULL;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return n == (ssize_t)sizeof *m && m->magic == RUN_CHANNEL_MAGIC;
}
