/* The uevent listener against the real kernel (a REAL uevent is accepted, a
 * forged one is counted and dropped, an overflow is reported) and its parser
 * on kernel-format and malformed input.
 *
 * With --parser-only only the parser half runs.  Otherwise the kernel half
 * needs root, a PCI device and netlink: without them it exits 77 (skipped)
 * once the parser half has passed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/netlink.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "watch/uevent.h"

/* --- parser -------------------------------------------------------------- */

/* Every parse goes through an exact-size heap copy so that ASan catches a
 * read past len. */
static bool parse_exact(const char *buf, size_t len, uevent_msg *out)
{
    char *copy = malloc(len ? len : 1);
    REQUIRE(copy);
    if (len)
        memcpy(copy, buf, len);
    bool ok = uevent_parse(copy, len, out);
    free(copy);
    return ok;
}

/* sizeof of a string literal counts its final NUL, which is the message's
 * last terminator; the literal's embedded "\0"s are the others. */
#define MSG(lit) lit, sizeof(lit)

#define RENDER_PATH "/devices/pci0000:00/0000:00:01.1/0000:01:00.0/0000:02:00.0/0000:03:00.0"
static const char drm_render_add[] =
    "add@" RENDER_PATH "/drm/renderD128\0"
    "ACTION=add\0"
    "DEVPATH=" RENDER_PATH "/drm/renderD128\0"
    "SUBSYSTEM=drm\0"
    "MAJOR=226\0"
    "MINOR=128\0"
    "DEVNAME=dri/renderD128\0"
    "DEVTYPE=drm_minor\0"
    "SEQNUM=5121";

static const char pci_add[] =
    "add@/devices/pci0000:00/0000:00:01.1/0000:01:00.0/0000:02:00.0/0000:03:00.0\0"
    "ACTION=add\0"
    "DEVPATH=/devices/pci0000:00/0000:00:01.1/0000:01:00.0/0000:02:00.0/0000:03:00.0\0"
    "SUBSYSTEM=pci\0"
    "PCI_CLASS=30000\0"
    "PCI_ID=1002:74A1\0"
    "PCI_SUBSYS_ID=1002:74A1\0"
    "PCI_SLOT_NAME=0000:03:00.0\0"
    "MODALIAS=pci:v00001002d000074A1sv00001002sd000074A1bc03sc00i00\0"
    "SEQNUM=5100";

static void test_parse_good(void)
{
    uevent_msg m;

    CHECK(parse_exact(MSG(drm_render_add), &m));
    CHECK_EQ_STR(m.action, "add");
    CHECK_EQ_STR(m.devpath, RENDER_PATH "/drm/renderD128");
    CHECK_EQ_STR(m.subsystem, "drm");
    CHECK_EQ_STR(m.devname, "dri/renderD128");
    CHECK_EQ_STR(m.devtype, "drm_minor");
    CHECK_EQ_STR(m.pci_slot_name, "");
    CHECK_EQ_U64(m.seqnum, 5121);
    CHECK(uevent_is_gpu_relevant(&m));

    CHECK(parse_exact(MSG(pci_add), &m));
    CHECK_EQ_STR(m.action, "add");
    CHECK_EQ_STR(m.devpath, RENDER_PATH);
    CHECK_EQ_STR(m.subsystem, "pci");
    CHECK_EQ_STR(m.devname, "");
    CHECK_EQ_STR(m.devtype, "");
    CHECK_EQ_STR(m.pci_slot_name, "0000:03:00.0");
    CHECK_EQ_U64(m.seqnum, 5100);
    CHECK(uevent_is_gpu_relevant(&m));

    /* A remove carries the same identity keys as the add. */
    CHECK(parse_exact(MSG("remove@/devices/pci0000:00/0000:00:01.1/0000:01:00.0\0"
                          "ACTION=remove\0"
                          "DEVPATH=/devices/pci0000:00/0000:00:01.1/0000:01:00.0\0"
                          "SUBSYSTEM=pci\0"
                          "PCI_CLASS=60400\0"
                          "PCI_ID=1002:1478\0"
                          "PCI_SUBSYS_ID=0000:0000\0"
                          "PCI_SLOT_NAME=0000:01:00.0\0"
                          "MODALIAS=pci:v00001002d00001478sv00000000sd00000000bc06sc04i00\0"
                          "SEQNUM=18446744073709551615"),
                      &m));
    CHECK_EQ_STR(m.action, "remove");
    CHECK_EQ_STR(m.devpath, "/devices/pci0000:00/0000:00:01.1/0000:01:00.0");
    CHECK_EQ_STR(m.pci_slot_name, "0000:01:00.0");
    CHECK_EQ_U64(m.seqnum, UINT64_MAX);
    CHECK(uevent_is_gpu_relevant(&m));

    /* What writing "change" to a PCI device's uevent file produces. */
    CHECK(parse_exact(MSG("change@/devices/pci0000:00/0000:00:03.0\0"
                          "ACTION=change\0"
                          "DEVPATH=/devices/pci0000:00/0000:00:03.0\0"
                          "SUBSYSTEM=pci\0"
                          "SYNTH_UUID=0\0"
                          "PCI_CLASS=20000\0"
                          "PCI_ID=1AF4:1000\0"
                          "PCI_SUBSYS_ID=1AF4:0001\0"
                          "PCI_SLOT_NAME=0000:00:03.0\0"
                          "MODALIAS=pci:v00001AF4d00001000sv00001AF4sd00000001bc02sc00i00\0"
                          "SEQNUM=823"),
                      &m));
    CHECK_EQ_STR(m.action, "change");
    CHECK_EQ_STR(m.subsystem, "pci");
    CHECK_EQ_STR(m.pci_slot_name, "0000:00:03.0");
    CHECK_EQ_U64(m.seqnum, 823);

    /* A card minor's hotplug change is relevant, one of its connectors not. */
    CHECK(parse_exact(MSG("change@" RENDER_PATH "/drm/card1\0"
                          "ACTION=change\0"
                          "DEVPATH=" RENDER_PATH "/drm/card1\0"
                          "SUBSYSTEM=drm\0"
                          "HOTPLUG=1\0"
                          "MAJOR=226\0"
                          "MINOR=1\0"
                          "DEVNAME=dri/card1\0"
                          "DEVTYPE=drm_minor\0"
                          "SEQNUM=6000"),
                      &m));
    CHECK_EQ_STR(m.devname, "dri/card1");
    CHECK(uevent_is_gpu_relevant(&m));
    CHECK(parse_exact(MSG("add@" RENDER_PATH "/drm/card1/card1-DP-1\0"
                          "ACTION=add\0"
                          "DEVPATH=" RENDER_PATH "/drm/card1/card1-DP-1\0"
                          "SUBSYSTEM=drm\0"
                          "SEQNUM=6001"),
                      &m));
    CHECK(!uevent_is_gpu_relevant(&m));
    CHECK(parse_exact(MSG("add@/devices/virtual/drm/ttm\0ACTION=add\0"
                          "DEVPATH=/devices/virtual/drm/ttm\0SUBSYSTEM=drm\0SEQNUM=3"),
                      &m));
    CHECK(!uevent_is_gpu_relevant(&m));

    CHECK(parse_exact(MSG("add@/devices/virtual/kfd/kfd\0"
                          "ACTION=add\0"
                          "DEVPATH=/devices/virtual/kfd/kfd\0"
                          "SUBSYSTEM=kfd\0"
                          "MAJOR=235\0"
                          "MINOR=0\0"
                          "DEVNAME=kfd\0"
                          "SEQNUM=4000"),
                      &m));
    CHECK_EQ_STR(m.subsystem, "kfd");
    CHECK_EQ_STR(m.devname, "kfd");
    CHECK(uevent_is_gpu_relevant(&m));

    CHECK(parse_exact(MSG("add@/devices/pci0000:00/0000:00:14.0/usb1/1-1\0ACTION=add\0"
                          "DEVPATH=/devices/pci0000:00/0000:00:14.0/usb1/1-1\0"
                          "SUBSYSTEM=usb\0DEVNAME=bus/usb/001/002\0DEVTYPE=usb_device\0"
                          "SEQNUM=77"),
                      &m));
    CHECK(!uevent_is_gpu_relevant(&m));

    /* Keys the kernel may add in any order, the header's fields first or not. */
    CHECK(parse_exact(MSG("bind@/devices/pci0000:00/0000:00:02.0\0SEQNUM=9\0"
                          "SUBSYSTEM=pci\0DRIVER=amdgpu\0ACTION=bind\0"
                          "DEVPATH=/devices/pci0000:00/0000:00:02.0"),
                      &m));
    CHECK_EQ_STR(m.action, "bind");
    CHECK(!uevent_is_gpu_relevant(NULL));
}

static void expect_rejected(const char *what, const char *buf, size_t len)
{
    uevent_msg m, zero;
    memset(&zero, 0, sizeof zero);
    memset(&m, 0x5a, sizeof m);
    if (parse_exact(buf, len, &m)) {
        fprintf(stderr, "parser accepted malformed input: %s\n", what);
        check_failures++;
    } else if (memcmp(&m, &zero, sizeof m) != 0) {
        fprintf(stderr, "rejected input left fields behind: %s\n", what);
        check_failures++;
    }
}

static void test_parse_bad(void)
{
    uevent_msg m;
    CHECK(!uevent_parse(NULL, 10, &m));
    CHECK(!uevent_parse("x", 1, NULL));
    expect_rejected("empty", "", 0);
    expect_rejected("one NUL", "", 1);
    expect_rejected("no @",
                    MSG("change/devices/x\0ACTION=change\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=1"));
    /* Without the final NUL. */
    expect_rejected("not NUL-terminated", drm_render_add, sizeof drm_render_add - 1);
    expect_rejected("key without =",
                    MSG("change@/devices/x\0ACTION=change\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0BOGUS\0SEQNUM=1"));
    expect_rejected("empty key",
                    MSG("change@/devices/x\0ACTION=change\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0=v\0SEQNUM=1"));
    expect_rejected("empty string between keys",
                    MSG("change@/devices/x\0ACTION=change\0\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("empty action",
                    MSG("@/devices/x\0ACTION=\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("upper-case action",
                    MSG("ADD@/devices/x\0ACTION=ADD\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("relative devpath",
                    MSG("add@devices/x\0ACTION=add\0DEVPATH=devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("ACTION disagrees with header",
                    MSG("add@/devices/x\0ACTION=remove\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("DEVPATH disagrees with header",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/y\0"
                        "SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("duplicate SUBSYSTEM",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SUBSYSTEM=drm\0SEQNUM=1"));
    expect_rejected("duplicate SEQNUM",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=1\0SEQNUM=2"));
    expect_rejected("missing SEQNUM",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=pci"));
    expect_rejected("missing SUBSYSTEM",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SEQNUM=1"));
    expect_rejected("missing ACTION",
                    MSG("add@/devices/x\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0SEQNUM=1"));
    expect_rejected("header only", MSG("add@/devices/x"));
    expect_rejected("empty string after the last key",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0"
                        "SEQNUM=1\0"));
    expect_rejected("SEQNUM not a number",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=12a"));
    expect_rejected("SEQNUM overflows",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM=18446744073709551616"));
    expect_rejected("empty SEQNUM",
                    MSG("add@/devices/x\0ACTION=add\0DEVPATH=/devices/x\0"
                        "SUBSYSTEM=pci\0SEQNUM="));

    /* libudev's monitor format: "libudev\0", magic 0xfeedcafe (network
     * order), header length, properties offset and length, filter hashes,
     * then KEY=VALUE strings that would otherwise parse. */
    static const char libudev[] =
        "libudev\0\xfe\xed\xca\xfe\x28\0\0\0\x28\0\0\0\x60\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0"
        "ACTION=add\0DEVPATH=/devices/x\0SUBSYSTEM=pci\0SEQNUM=1\0USEC_INITIALIZED=1";
    expect_rejected("libudev header", libudev, sizeof libudev);
    expect_rejected("libudev magic alone", "libudev", 8);

    /* A field longer than its slot rejects the message rather than
     * truncating it into another device's name. */
    static char big[UEVENT_MSG_MAX + 4096];
    char longpath[UEVENT_DEVPATH_MAX + 8];
    memset(longpath, 'a', sizeof longpath - 1);
    longpath[0] = '/';
    longpath[sizeof longpath - 1] = '\0';
    int n = snprintf(big, sizeof big,
                     "add@%s%cACTION=add%cDEVPATH=%s%cSUBSYSTEM=pci%cSEQNUM=1", longpath, 0, 0,
                     longpath, 0, 0);
    REQUIRE(n > 0 && (size_t)n < sizeof big);
    expect_rejected("devpath longer than its slot", big, (size_t)n + 1);
    n = snprintf(big, sizeof big,
                 "add@/devices/x%cACTION=add%cDEVPATH=/devices/x%cSUBSYSTEM=%0*d%cSEQNUM=1", 0, 0,
                 0, UEVENT_SUBSYSTEM_MAX, 0, 0);
    REQUIRE(n > 0 && (size_t)n < sizeof big);
    expect_rejected("subsystem longer than its slot", big, (size_t)n + 1);

    /* Longer than any datagram the kernel builds, although well-formed. */
    size_t used = (size_t)snprintf(big, sizeof big,
                                   "add@/devices/x%cACTION=add%cDEVPATH=/devices/x%cSUBSYSTEM=pci",
                                   0, 0, 0);
    while (used + 16 < sizeof big - 16)
        used += (size_t)snprintf(big + used + 1, sizeof big - used - 1, "PAD=%010zu", used) + 1;
    used += (size_t)snprintf(big + used + 1, sizeof big - used - 1, "SEQNUM=1") + 1;
    REQUIRE(used + 1 > UEVENT_MSG_MAX && used + 1 <= sizeof big);
    expect_rejected("longer than UEVENT_MSG_MAX", big, used + 1);
    CHECK(!uevent_parse(big, SIZE_MAX, &m));

    /* Every strict prefix of a real message is rejected (SEQNUM comes
     * last, as the kernel puts it), and none reads past its end. */
    for (size_t k = 0; k < sizeof drm_render_add; k++) {
        if (parse_exact(drm_render_add, k, &m)) {
            fprintf(stderr, "prefix of %zu bytes accepted\n", k);
            check_failures++;
        }
    }
    CHECK(parse_exact(drm_render_add, sizeof drm_render_add, &m));
}

/* --- kernel -------------------------------------------------------------- */

typedef struct seen {
    const char *want_devpath;
    const char *forged_devpath;
    bool found;
    bool forged_delivered;
    unsigned calls;
    uevent_msg match;
} seen;

static void on_uevent(const uevent_msg *m, void *arg)
{
    seen *s = arg;
    s->calls++;
    if (s->forged_devpath && strcmp(m->devpath, s->forged_devpath) == 0)
        s->forged_delivered = true;
    if (s->want_devpath && strcmp(m->devpath, s->want_devpath) == 0 &&
        strcmp(m->action, "change") == 0 && strcmp(m->subsystem, "pci") == 0) {
        s->found = true;
        s->match = *m;
    }
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Polls and drains until done() or the deadline. */
static bool wait_for(uevent_listener *l, seen *s, double seconds,
                     bool (*done)(uevent_listener *, seen *))
{
    double deadline = now_s() + seconds;
    for (;;) {
        rochp__error err = {0};
        REQUIRE(uevent_drain(l, on_uevent, s, &err) == ROCHP_OK);
        if (done(l, s))
            return true;
        double left = deadline - now_s();
        if (left <= 0)
            return false;
        struct pollfd pfd = {.fd = uevent_fd(l), .events = POLLIN};
        (void)poll(&pfd, 1, (int)(left * 1000) + 1);
    }
}

static bool found_ours(uevent_listener *l, seen *s)
{
    (void)l;
    return s->found;
}

static uint64_t forged_target;
static bool forged_reached(uevent_listener *l, seen *s)
{
    (void)s;
    return uevent_get_stats(l).forged >= forged_target;
}

/* The first PCI device in name order, and its DEVPATH (its path below /sys). */
static bool first_pci_device(char *slot, size_t slot_cap, char *devpath, size_t devpath_cap)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    if (!d)
        return false;
    struct dirent *e;
    slot[0] = '\0';
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strlen(e->d_name) >= slot_cap)
            continue;
        if (slot[0] == '\0' || strcmp(e->d_name, slot) < 0)
            snprintf(slot, slot_cap, "%s", e->d_name);
    }
    closedir(d);
    if (slot[0] == '\0')
        return false;
    char link[PATH_MAX], real[PATH_MAX];
    snprintf(link, sizeof link, "/sys/bus/pci/devices/%s", slot);
    if (!realpath(link, real) || strncmp(real, "/sys/", 5) != 0 || strlen(real + 4) >= devpath_cap)
        return false;
    snprintf(devpath, devpath_cap, "%s", real + 4);
    return true;
}

/* The kernel delivers its uevents only to network namespaces owned by the
 * initial user namespace (Linux 4.18 on).  Root in a user-namespaced
 * container can still write the uevent file, but nothing would arrive. */
static bool in_initial_user_namespace(void)
{
    FILE *f = fopen("/proc/self/uid_map", "r");
    if (!f)
        return true; /* no user namespaces in this kernel */
    unsigned long inside = 1, outside = 1, count = 0;
    int fields = fscanf(f, "%lu %lu %lu", &inside, &outside, &count);
    int more = fgetc(f) == '\n' ? fgetc(f) : 0;
    fclose(f);
    return fields == 3 && inside == 0 && outside == 0 && count == 4294967295ul && more == EOF;
}

/* (a) A real uevent, triggered through sysfs, reaches the callback.
 * Returns false (skip) when the environment cannot trigger one. */
static bool test_real_uevent(uevent_listener *l)
{
    if (!in_initial_user_namespace()) {
        printf("SKIP real uevent: in a user namespace, where kernel uevents are not "
               "delivered\n");
        return false;
    }
    char slot[64], devpath[UEVENT_DEVPATH_MAX];
    if (!first_pci_device(slot, sizeof slot, devpath, sizeof devpath)) {
        printf("SKIP real uevent: no PCI device in /sys/bus/pci/devices\n");
        return false;
    }
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/sys/bus/pci/devices/%s/uevent", slot);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "change", 6) != 6) {
        printf("SKIP real uevent: cannot write %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return false;
    }
    close(fd);

    seen s = {.want_devpath = devpath};
    double t0 = now_s();
    bool ok = wait_for(l, &s, 10.0, found_ours);
    CHECK(ok);
    if (ok) {
        printf("real uevent after %.1f ms: %s@%s subsystem=%s pci_slot=%s seqnum=%" PRIu64
               "\n",
               (now_s() - t0) * 1e3, s.match.action, s.match.devpath, s.match.subsystem,
               s.match.pci_slot_name, s.match.seqnum);
        CHECK_EQ_STR(s.match.pci_slot_name, slot);
        CHECK(s.match.seqnum > 0);
        CHECK(uevent_is_gpu_relevant(&s.match));
    }
    uevent_stats st = uevent_get_stats(l);
    CHECK(st.accepted >= 1);
    CHECK(st.received >= st.accepted);
    return true;
}

#define FORGED_PATH "/devices/pci0000:00/0000:00:99.0"
static const char forged_msg[] = "change@" FORGED_PATH "\0"
                                 "ACTION=change\0"
                                 "DEVPATH=" FORGED_PATH "\0"
                                 "SUBSYSTEM=pci\0"
                                 "SEQNUM=1";

static int open_sender(void)
{
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    REQUIRE(fd >= 0);
    return fd;
}

/* Returns 0 when sent, else the errno. */
static int send_forged(int fd)
{
    struct sockaddr_nl to = {.nl_family = AF_NETLINK, .nl_groups = 1};
    ssize_t n = sendto(fd, forged_msg, sizeof forged_msg, 0, (struct sockaddr *)&to, sizeof to);
    if (n < 0)
        return errno;
    REQUIRE((size_t)n == sizeof forged_msg);
    return 0;
}

/* (b) A well-formed message from a user socket is received, counted as
 * forged and never reaches the callback. */
static bool test_forged(uevent_listener *l, int sender)
{
    /* The rejection must come from the sender check: the bytes alone pass. */
    uevent_msg m;
    REQUIRE(uevent_parse(forged_msg, sizeof forged_msg, &m));

    seen s = {.forged_devpath = FORGED_PATH};
    rochp__error err = {0};
    REQUIRE(uevent_drain(l, on_uevent, &s, &err) == ROCHP_OK);
    uevent_stats before = uevent_get_stats(l);
    int e = send_forged(sender);
    if (e) {
        printf("SKIP forged uevent: sendto the uevent group failed: %s\n", strerror(e));
        return false;
    }
    forged_target = before.forged + 1;
    /* Not vacuous: wait until the datagram has actually been received and
     * counted, so a lost message cannot pass for a rejected one. */
    CHECK(wait_for(l, &s, 5.0, forged_reached));
    uevent_stats after = uevent_get_stats(l);
    CHECK(after.forged >= before.forged + 1);
    CHECK(after.received >= before.received + 1);
    CHECK(!s.forged_delivered);
    printf("forged uevent: received %" PRIu64 " -> %" PRIu64 ", forged %" PRIu64 " -> %" PRIu64
           ", callback calls meanwhile %u\n",
           before.received, after.received, before.forged, after.forged, s.calls);
    return true;
}

/* (d) Overflowing the socket is counted and flagged for the next drain
 * only: the caller rescans once, not forever. */
static void test_overrun(uevent_listener *l, int sender)
{
    seen s = {.forged_devpath = FORGED_PATH};
    rochp__error err = {0};
    REQUIRE(uevent_drain(l, on_uevent, &s, &err) == ROCHP_OK);
    uevent_stats before = uevent_get_stats(l);
    /* The kernel raises this to its minimum, a couple of datagrams. */
    int tiny = 1;
    REQUIRE(setsockopt(uevent_fd(l), SOL_SOCKET, SO_RCVBUF, &tiny, sizeof tiny) == 0);
    for (int i = 0; i < 64; i++)
        REQUIRE(send_forged(sender) == 0);
    REQUIRE(uevent_drain(l, on_uevent, &s, &err) == ROCHP_OK);
    uevent_stats after = uevent_get_stats(l);
    CHECK(after.overruns >= before.overruns + 1);
    CHECK(after.lost_events);
    CHECK(after.forged > before.forged);
    CHECK(after.forged < before.forged + 64);
    CHECK(!s.forged_delivered);
    printf("overrun: 64 sent, %" PRIu64 " received, overruns %" PRIu64 " -> %" PRIu64 "\n",
           after.received - before.received, before.overruns, after.overruns);
    REQUIRE(uevent_drain(l, on_uevent, &s, &err) == ROCHP_OK);
    CHECK(!uevent_get_stats(l).lost_events);
}

/* Returns false when the kernel half had to be skipped as a whole. */
static bool test_kernel(void)
{
    if (geteuid() != 0) {
        printf("SKIP kernel uevents: needs root (to trigger a uevent through sysfs)\n");
        return false;
    }
    uevent_listener *l = NULL;
    rochp__error err = {0};
    rochp_status st = uevent_open(&l, &err);
    if (st == ROCHP_ERROR_NOT_SUPPORTED) {
        printf("SKIP kernel uevents: %s\n", err.message);
        return false;
    }
    if (st != ROCHP_OK)
        fprintf(stderr, "uevent_open: %s\n", err.message);
    REQUIRE(st == ROCHP_OK && l && uevent_fd(l) >= 0);

    bool ran = test_real_uevent(l);
    int sender = open_sender();
    if (test_forged(l, sender)) {
        test_overrun(l, sender);
        ran = true;
    }
    close(sender);
    uevent_stats total = uevent_get_stats(l);
    printf("listener totals: received %" PRIu64 " accepted %" PRIu64 " forged %" PRIu64
           " malformed %" PRIu64 " overruns %" PRIu64 "\n",
           total.received, total.accepted, total.forged, total.malformed, total.overruns);
    uevent_close(l);
    uevent_close(NULL);
    return ran;
}

int main(int argc, char **argv)
{
    test_parse_good();
    test_parse_bad();
    if (argc > 1 && strcmp(argv[1], "--parser-only") == 0)
        return check_result();
    bool ran = test_kernel();
    if (!ran && check_failures == 0)
        return TEST_SKIP;
    return check_result();
}
