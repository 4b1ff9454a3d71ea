/* Kernel uevents wake the watcher; forged ones do not.  The context polls
 * only every 60 s, so a prompt event can only come from a uevent.  After an
 * unplug (rochp-sim writes files; it sends no uevent), a message forged from
 * user space to the kernel's uevent group wakes nothing, then a real kernel
 * uevent (writing "change" to a PCI device's uevent file) brings the lost
 * event at once.  Needs root and a PCI device; skipped (77) otherwise. */
#include <dirent.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "ops.h"
#include "rochp/rochp.h"
#include "tmpdir.h"

static _Atomic int events;
static void count(rochp_context *ctx, const rochp_event *e, void *user)
{
    (void)ctx;
    (void)e;
    (void)user;
    atomic_fetch_add(&events, 1);
}

static bool first_pci_device(char *out, size_t size)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    bool found = false;
    while (d && (e = readdir(d)) != NULL && !found)
        if (e->d_name[0] != '.') {
            snprintf(out, size, "/sys/bus/pci/devices/%s/uevent", e->d_name);
            found = true;
        }
    if (d)
        closedir(d);
    return found;
}

static bool forge(void)
{
    int s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
    if (s < 0)
        return false;
    static const char msg[] = "change@/devices/pci0000:00/0000:00:1f.0\0ACTION=change\0"
                              "DEVPATH=/devices/pci0000:00/0000:00:1f.0\0SUBSYSTEM=pci\0"
                              "SEQNUM=77\0";
    struct sockaddr_nl to = {.nl_family = AF_NETLINK, .nl_groups = 1};
    bool ok = sendto(s, msg, sizeof msg - 1, 0, (struct sockaddr *)&to, sizeof to) > 0;
    close(s);
    return ok;
}

int main(void)
{
    char uevent_file[512];
    if (geteuid() != 0 || !first_pci_device(uevent_file, sizeof uevent_file)) {
        fprintf(stderr, "needs root and a PCI device: skipped\n");
        return TEST_SKIP;
    }
    char dir[256];
    REQUIRE(test_make_tmpdir(dir, sizeof dir, "uevent-wake") == 0);
    rochp__error err = {0};
    REQUIRE(vtree_create_model(dir, vtree_model_find("mi210"), 2, 1, NULL, &err) == ROCHP_OK);
    rochp_options o;
    rochp_options_init(&o);
    o.flags = ROCHP_CONTEXT_NO_HSA;
    o.sysfs_root = dir;
    o.poll_interval_ms = 60000;
    rochp_context *ctx;
    REQUIRE(rochp_context_create(&o, &ctx) == ROCHP_OK);
    rochp_subscription sub;
    REQUIRE(rochp_subscribe(ctx, ROCHP_EVENT_ALL, count, NULL, &sub) == ROCHP_OK);

    REQUIRE(vtree_unplug(dir, "0000:43:00.0", 0, NULL, &err) == ROCHP_OK);
    if (!forge()) {
        fprintf(stderr, "cannot send to the uevent group (no permission): skipped\n");
        rochp_context_destroy(ctx);
        test_remove_tmpdir(dir);
        return TEST_SKIP;
    }
    usleep(500 * 1000); /* room for a wrongful wake-up to show; not a timing assert */
    CHECK_EQ_U64(atomic_load(&events), 0);

    int fd = open(uevent_file, O_WRONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, "change", 6) == 6);
    close(fd);
    for (int i = 0; i < 1000 && atomic_load(&events) == 0; i++)
        usleep(10000); /* 10 s at most: far below the 60 s poll */
    CHECK_EQ_U64(atomic_load(&events), 1);
    REQUIRE(rochp_context_destroy(ctx) == ROCHP_OK);
    test_remove_tmpdir(dir);
    return check_result();
}
