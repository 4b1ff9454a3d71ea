#include "uevent.h"

#include <errno.h>
#include <linux/netlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The kernel's own multicast group on NETLINK_KOBJECT_UEVENT (udevd
 * re-broadcasts on group 2 in libudev's format; we never join that). */
#define UEVENT_KERNEL_GROUP 1u

/* A burst (a driver reload, a GPU reset that re-probes several functions)
 * emits dozens of messages in a few milliseconds and each costs the socket
 * about 4 KiB of accounting; a few MiB absorb that while the watcher thread
 * is busy re-reading the tree. */
#define UEVENT_RCVBUF_BYTES (8 * 1024 * 1024)

/* Any local root process can fill the group with datagrams; bounding one
 * drain keeps the watcher's timer and wake fd serviced during a flood. */
#define UEVENT_DRAIN_BATCH 512

struct uevent_listener {
    int fd;
    uevent_stats stats;
    /* One datagram at a time, owned by the listener so that receiving costs
     * no allocation.  Anything longer arrives with MSG_TRUNC. */
    char buf[UEVENT_MSG_MAX];
};

/* --- parser -------------------------------------------------------------- */

static bool copy_field(char *dst, size_t cap, const char *src, size_t n)
{
    if (n == 0 || n >= cap)
        return false;
    memcpy(dst, src, n);
    dst[n] = '\0';
    return true;
}

static bool field_equals(const char *field, const char *v, size_t n)
{
    return strlen(field) == n && memcmp(field, v, n) == 0;
}

static bool key_is(const char *key, size_t klen, const char *name)
{
    return strlen(name) == klen && memcmp(key, name, klen) == 0;
}

static bool parse_u64(const char *s, size_t n, uint64_t *out)
{
    if (n == 0)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* out must be zeroed: an empty field is how a repeated key is detected. */
static bool parse_into(const char *buf, size_t len, uevent_msg *out)
{
    if (len == 0 || len > UEVENT_MSG_MAX)
        return false;
    /* libudev's monitor format starts with "libudev\0" and a binary header;
     * it is udevd's re-broadcast, never the kernel's, so it is not ours to
     * interpret even if it reached this socket. */
    if (len >= 8 && memcmp(buf, "libudev", 8) == 0)
        return false;
    /* The kernel terminates every string, the last one included.  Checking
     * once here is what lets every memchr below stop inside the buffer. */
    if (buf[len - 1] != '\0')
        return false;

    const char *end = buf + len;
    const char *hdr_end = memchr(buf, '\0', len);
    const char *at = memchr(buf, '@', (size_t)(hdr_end - buf));
    if (!at)
        return false;
    size_t alen = (size_t)(at - buf), dlen = (size_t)(hdr_end - at - 1);
    for (size_t i = 0; i < alen; i++) {
        /* Kernel actions are lower-case words ("add", "unbind", ...). */
        if (buf[i] < 'a' || buf[i] > 'z')
            return false;
    }
    if (!copy_field(out->action, sizeof out->action, buf, alen) || at[1] != '/' ||
        !copy_field(out->devpath, sizeof out->devpath, at + 1, dlen))
        return false;

    bool have_action = false, have_devpath = false, have_seqnum = false;
    for (const char *p = hdr_end + 1; p < end;) {
        const char *nul = memchr(p, '\0', (size_t)(end - p));
        size_t n = (size_t)(nul - p);
        const char *eq = memchr(p, '=', n);
        /* An empty string or a key without '=' is not something the kernel's
         * add_uevent_var can produce. */
        if (!eq || eq == p)
            return false;
        size_t klen = (size_t)(eq - p), vlen = n - klen - 1;
        for (size_t i = 0; i < klen; i++) {
            unsigned char c = (unsigned char)p[i];
            if (c <= ' ' || c > '~')
                return false;
        }
        const char *v = eq + 1;
        char *dst = NULL;
        size_t cap = 0;
        /* A repeated key would make the message mean two things: the
         * copy_field targets must still be empty, the flags unset. */
        if (key_is(p, klen, "ACTION")) {
            if (have_action || !field_equals(out->action, v, vlen))
                return false;
            have_action = true;
        } else if (key_is(p, klen, "DEVPATH")) {
            if (have_devpath || !field_equals(out->devpath, v, vlen))
                return false;
            have_devpath = true;
        } else if (key_is(p, klen, "SEQNUM")) {
            if (have_seqnum || !parse_u64(v, vlen, &out->seqnum))
                return false;
            have_seqnum = true;
        } else if (key_is(p, klen, "SUBSYSTEM")) {
            dst = out->subsystem, cap = sizeof out->subsystem;
        } else if (key_is(p, klen, "DEVNAME")) {
            dst = out->devname, cap = sizeof out->devname;
        } else if (key_is(p, klen, "DEVTYPE")) {
            dst = out->devtype, cap = sizeof out->devtype;
        } else if (key_is(p, klen, "PCI_SLOT_NAME")) {
            dst = out->pci_slot_name, cap = sizeof out->pci_slot_name;
        }
        if (dst && (dst[0] != '\0' || !copy_field(dst, cap, v, vlen)))
            return false;
        p = nul + 1;
    }
    /* kobject_uevent_env() always adds these four. */
    return have_action && have_devpath && have_seqnum && out->subsystem[0] != '\0';
}

bool uevent_parse(const char *buf, size_t len, uevent_msg *out)
{
    if (!out)
        return false;
    memset(out, 0, sizeof *out);
    if (buf && parse_into(buf, len, out))
        return true;
    /* No half-filled message for a caller that ignores the result. */
    memset(out, 0, sizeof *out);
    return false;
}

/* "card0" or "renderD128", but not a connector such as "card0-DP-1", whose
 * hotplug says nothing about the GPU being there. */
static bool is_drm_minor(const char *name)
{
    const char *digits;
    if (strncmp(name, "card", 4) == 0)
        digits = name + 4;
    else if (strncmp(name, "renderD", 7) == 0)
        digits = name + 7;
    else
        return false;
    if (*digits == '\0')
        return false;
    for (; *digits; digits++) {
        if (*digits < '0' || *digits > '9')
            return false;
    }
    return true;
}

bool uevent_is_gpu_relevant(const uevent_msg *m)
{
    if (!m)
        return false;
    /* Any PCI device: the class code is not in every message (remove has
     * it, but a bridge going away takes the GPU behind it too), and a
     * needless rescan costs one generation_id read. */
    if (strcmp(m->subsystem, "pci") == 0 || strcmp(m->subsystem, "kfd") == 0)
        return true;
    if (strcmp(m->subsystem, "drm") != 0)
        return false;
    const char *slash = strrchr(m->devpath, '/');
    return is_drm_minor(slash ? slash + 1 : m->devpath);
}

/* --- socket -------------------------------------------------------------- */

/* The errors that mean "this environment gives us no uevents" (seccomp or
 * a container's policy refusing netlink, a kernel without it) rather than
 * something going wrong that the user should fix. */
static bool netlink_refused(int errnum)
{
    return errnum == EPERM || errnum == EACCES || errnum == EAFNOSUPPORT ||
           errnum == EPROTONOSUPPORT || errnum == ESOCKTNOSUPPORT;
}

static rochp_status open_failure(int errnum, const char *what, rochp__error *err)
{
    if (netlink_refused(errnum))
        return rochp__fail(err, ROCHP_ERROR_NOT_SUPPORTED,
                          "uevent: %s: %s (netlink uevents not permitted here, e.g. in a "
                          "container: changes are found by polling only)",
                          what, strerror(errnum));
    return rochp__fail(err, rochp__status_from_errno(errnum), "uevent: %s: %s", what,
                      strerror(errnum));
}

rochp_status uevent_open(uevent_listener **out, rochp__error *err)
{
    if (!out)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "uevent_open: out is NULL");
    *out = NULL;
    uevent_listener *l = calloc(1, sizeof *l);
    if (!l)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "uevent: cannot allocate a listener");

    rochp_status st;
    l->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_KOBJECT_UEVENT);
    if (l->fd < 0) {
        st = open_failure(errno, "cannot open a NETLINK_KOBJECT_UEVENT socket", err);
        free(l);
        return st;
    }

    /* Without credentials no message could be proven to be the kernel's, and
     * every one would be dropped as forged: better to fail here, loudly. */
    int on = 1;
    if (setsockopt(l->fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        st = open_failure(errno, "cannot enable SO_PASSCRED", err);
        goto fail;
    }

    /* SO_RCVBUFFORCE passes rmem_max but needs CAP_NET_ADMIN; plain
     * SO_RCVBUF is clamped to rmem_max.  Neither is fatal: a small buffer
     * only means more overruns, which the caller answers with a rescan. */
    int size = UEVENT_RCVBUF_BYTES;
    if (setsockopt(l->fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(l->fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);

    /* nl_pid 0 lets the kernel pick a unique port id.  In a user-namespaced
     * container the bind succeeds but, since Linux 4.18, the kernel delivers
     * uevents only to network namespaces owned by the initial user namespace:
     * nothing arrives, and the periodic poll covers that. */
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK, .nl_groups = UEVENT_KERNEL_GROUP};
    if (bind(l->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        st = open_failure(errno, "cannot join the kernel's uevent multicast group", err);
        goto fail;
    }
    *out = l;
    return ROCHP_OK;

fail:
    close(l->fd);
    free(l);
    return st;
}

int uevent_fd(const uevent_listener *l)
{
    return l ? l->fd : -1;
}

/* The kernel sends from port id 0 with zero credentials; a user process
 * cannot bind port id 0 (it means "pick one for me"), and the credentials
 * are filled in by the kernel from the sender, so neither can be faked. */
static bool from_kernel(const struct msghdr *mh)
{
    const struct sockaddr_nl *sa = mh->msg_name;
    if (mh->msg_namelen < sizeof *sa || sa->nl_family != AF_NETLINK || sa->nl_pid != 0)
        return false;
    if (mh->msg_flags & MSG_CTRUNC)
        return false;
    for (struct cmsghdr *c = CMSG_FIRSTHDR((struct msghdr *)mh); c;
         c = CMSG_NXTHDR((struct msghdr *)mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_CREDENTIALS ||
            c->cmsg_len < CMSG_LEN(sizeof(struct ucred)))
            continue;
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        return cred.uid == 0;
    }
    return false;
}

rochp_status uevent_drain(uevent_listener *l, uevent_callback cb, void *arg, rochp__error *err)
{
    if (!l)
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "uevent_drain: listener is NULL");
    l->stats.lost_events = false;
    for (int i = 0; i < UEVENT_DRAIN_BATCH; i++) {
        struct sockaddr_nl sa;
        union {
            struct cmsghdr align;
            char bytes[CMSG_SPACE(sizeof(struct ucred))];
        } control;
        struct iovec iov = {.iov_base = l->buf, .iov_len = sizeof l->buf};
        struct msghdr mh = {
            .msg_name = &sa,
            .msg_namelen = sizeof sa,
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = control.bytes,
            .msg_controllen = sizeof control.bytes,
        };
        memset(&sa, 0, sizeof sa);
        ssize_t n = recvmsg(l->fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return ROCHP_OK;
            if (errno == ENOBUFS) {
                /* Reported once per overflow; what was queued before it is
                 * still there to read, so keep going. */
                l->stats.overruns++;
                l->stats.lost_events = true;
                continue;
            }
            return rochp__fail(err, ROCHP_ERROR_IO, "uevent: recvmsg on the netlink socket: %s",
                              strerror(errno));
        }
        l->stats.received++;
        if (!from_kernel(&mh)) {
            l->stats.forged++;
            continue;
        }
        uevent_msg msg;
        if ((mh.msg_flags & MSG_TRUNC) || !uevent_parse(l->buf, (size_t)n, &msg)) {
            l->stats.malformed++;
            continue;
        }
        l->stats.accepted++;
        if (cb)
            cb(&msg, arg);
    }
    return ROCHP_OK;
}

uevent_stats uevent_get_stats(const uevent_listener *l)
{
    uevent_stats none = {0};
    return l ? l->stats : none;
}

void uevent_close(uevent_listener *l)
{
    if (!l)
        return;
    close(l->fd);
    free(l);
}
