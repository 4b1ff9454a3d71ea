/* Kernel uevents (NETLINK_KOBJECT_UEVENT) as a wake-up hint for the watcher.
 *
 * KFD emits no uevent of its own; the DRM minors (card*, renderD*), the PCI
 * device and /dev/kfd do.  A uevent never *describes* the new topology: it
 * only says "look again", after which the watcher re-reads generation_id and
 * the tree.  Losing one is therefore survivable (the periodic poll catches
 * up), but believing a forged one is not free, so only messages that the
 * kernel itself sent are passed on. */
#ifndef ROCHP_WATCH_UEVENT_H
#define ROCHP_WATCH_UEVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/* The kernel builds a uevent in a 2048-byte environment buffer
 * (UEVENT_BUFFER_SIZE) plus the "ACTION@DEVPATH" header, so anything longer
 * than this did not come from the kernel's uevent code. */
#define UEVENT_MSG_MAX 8192

/* Field sizes include the NUL.  A value that does not fit rejects the whole
 * message: a truncated DEVPATH would name a different device. */
#define UEVENT_ACTION_MAX 16
#define UEVENT_DEVPATH_MAX 1024
#define UEVENT_SUBSYSTEM_MAX 64
#define UEVENT_DEVNAME_MAX 128
#define UEVENT_DEVTYPE_MAX 64
#define UEVENT_PCI_SLOT_MAX 32

typedef struct uevent_msg {
    char action[UEVENT_ACTION_MAX];       /* "add", "remove", "change", ... */
    char devpath[UEVENT_DEVPATH_MAX];     /* below /sys, e.g. "/devices/pci0000:00/..." */
    char subsystem[UEVENT_SUBSYSTEM_MAX]; /* "pci", "drm", "kfd", ... */
    char devname[UEVENT_DEVNAME_MAX];     /* below /dev, "" when absent ("dri/renderD128") */
    char devtype[UEVENT_DEVTYPE_MAX];     /* "" when absent ("drm_minor") */
    char pci_slot_name[UEVENT_PCI_SLOT_MAX]; /* "" unless PCI ("0000:03:00.0") */
    uint64_t seqnum;
} uevent_msg;

typedef struct uevent_stats {
    uint64_t received;  /* datagrams read, whatever became of them */
    uint64_t accepted;  /* from the kernel and well-formed: passed to the callback */
    uint64_t forged;    /* not from the kernel (sender port id or uid not 0): ignored */
    uint64_t malformed; /* from the kernel but truncated or unparseable */
    uint64_t overruns;  /* ENOBUFS: the socket overflowed and messages were lost */
    /* The most recent uevent_drain saw an overrun: an add or remove may have
     * been lost, so the caller must rescan rather than wait for the next hint. */
    bool lost_events;
} uevent_stats;

/* Not thread-safe: one thread (the watcher's) drains and reads the stats. */
typedef struct uevent_listener uevent_listener;

/* Called for each accepted message; msg is valid only during the call. */
typedef void (*uevent_callback)(const uevent_msg *msg, void *arg);

/* Opens a non-blocking listener on the kernel's uevent multicast group.
 * ROCHP_ERROR_NOT_SUPPORTED means this environment delivers no uevents
 * (netlink refused, typical of containers): the caller should poll only. */
rochp_status uevent_open(uevent_listener **out, rochp__error *err);

/* For poll(): readable when datagrams (or an overrun) are pending. */
int uevent_fd(const uevent_listener *l);

/* Reads the pending datagrams (at most a bounded batch per call, so a flood
 * cannot starve the caller's other work: poll again if the fd stays readable)
 * and calls cb for each kernel message that parses.  Returns ROCHP_OK, or
 * ROCHP_ERROR_IO if the socket itself failed. */
rochp_status uevent_drain(uevent_listener *l, uevent_callback cb, void *arg, rochp__error *err);

/* Counters since uevent_open. */
uevent_stats uevent_get_stats(const uevent_listener *l);

/* Parses one datagram in the kernel's format, "ACTION@DEVPATH\0KEY=VALUE\0...".
 * Pure: reads only buf[0..len), no allocation.  Returns false, with out
 * zeroed, for anything else, including libudev's format. */
bool uevent_parse(const char *buf, size_t len, uevent_msg *out);

/* A DRM card/render minor, a PCI device or KFD: worth re-reading the topology. */
bool uevent_is_gpu_relevant(const uevent_msg *m);

/* Closes the socket and frees the listener; NULL is allowed. */
void uevent_close(uevent_listener *l);

#endif
