/* The channel between rochp-run (the supervisor) and the rochp context of
 * the program it runs: a SOCK_SEQPACKET socketpair the supervisor makes and
 * the program inherits, its fd in ROCHP_RUN_FD.  No path exists that anyone
 * else could connect to; the supervisor checks each message's sender
 * (SCM_CREDENTIALS, which the kernel fills in) against its current child.
 *
 *   program -> supervisor  CHECKPOINT (a sealed memfd: a whole checkpoint in
 *                          rochp's file format; step: the program's), then
 *                          waits for ACK (status, and why when refused)
 *   program -> supervisor  RESUME; the reply is RESUME_REPLY with the last
 *                          kept checkpoint's memfd (sealed, read-only), or
 *                          none (status ROCHP_ERROR_NOT_FOUND)
 *   program -> supervisor  RESUMED (value: ns the load took) for the
 *                          supervisor's event line */
#ifndef ROCHP_COMMON_RUN_CHANNEL_H
#define ROCHP_COMMON_RUN_CHANNEL_H

#include <stdint.h>
#include <sys/types.h>

#define RUN_CHANNEL_ENV "ROCHP_RUN_FD"
#define RUN_CHANNEL_MAGIC 0x4e555252u /* "RRUN" */

enum {
    RUN_MSG_CHECKPOINT = 1,
    RUN_MSG_ACK = 2,
    RUN_MSG_RESUME = 3,
    RUN_MSG_RESUME_REPLY = 4,
    RUN_MSG_RESUMED = 5,
};

typedef struct run_msg {
    uint32_t magic, kind;
    uint64_t step, value;
    int32_t status;
    char text[236];
} run_msg;

/* One message, with fd passed along when fd >= 0.  0, or -errno. */
int rochp__run_send(int sock, const run_msg *m, int fd);
/* One message; *fd gets a passed descriptor (else -1), *pid the sender's
 * pid when the socket has SO_PASSCRED (else 0).  0, or -errno (-EBADMSG for
 * a message that is not one of ours). */
int rochp__run_recv(int sock, run_msg *m, int *fd, pid_t *pid);

#endif
