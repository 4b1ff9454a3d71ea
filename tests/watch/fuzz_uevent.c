/* libFuzzer target: the uevent parser on arbitrary bytes.  The input is
 * copied to an exact-size buffer (the standalone driver passes a larger one)
 * so that ASan sees any read past len.  A parse that succeeds must give
 * terminated fields that agree with the header, and the same fields again
 * when written back out in the kernel's format. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "watch/uevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TERMINATED(field) (memchr((field), '\0', sizeof(field)) != NULL)

static void append(char *buf, size_t cap, size_t *used, const char *key, const char *value)
{
    int n = snprintf(buf + *used, cap - *used, "%s%s", key, value);
    if (n < 0 || (size_t)n >= cap - *used)
        abort();
    *used += (size_t)n + 1; /* keep snprintf's NUL as the separator */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > UEVENT_MSG_MAX + 64)
        size = UEVENT_MSG_MAX + 64; /* past the limit only the length check runs */
    char *copy = malloc(size ? size : 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    uevent_msg m;
    if (uevent_parse(copy, size, &m)) {
        if (!TERMINATED(m.action) || !TERMINATED(m.devpath) || !TERMINATED(m.subsystem) ||
            !TERMINATED(m.devname) || !TERMINATED(m.devtype) || !TERMINATED(m.pci_slot_name))
            abort();
        size_t alen = strlen(m.action);
        if (alen == 0 || m.devpath[0] != '/' || m.subsystem[0] == '\0' ||
            memcmp(copy, m.action, alen) != 0 || copy[alen] != '@' ||
            strcmp(copy + alen + 1, m.devpath) != 0 || copy[size - 1] != '\0')
            abort();
        (void)uevent_is_gpu_relevant(&m);

        /* Round trip: the fields the parser kept, in the kernel's layout. */
        static char again[UEVENT_MSG_MAX * 2];
        size_t used = 0;
        char seq[24];
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)m.seqnum);
        int n = snprintf(again, sizeof again, "%s@%s", m.action, m.devpath);
        if (n < 0)
            abort();
        used = (size_t)n + 1;
        append(again, sizeof again, &used, "ACTION=", m.action);
        append(again, sizeof again, &used, "DEVPATH=", m.devpath);
        append(again, sizeof again, &used, "SUBSYSTEM=", m.subsystem);
        if (m.devname[0])
            append(again, sizeof again, &used, "DEVNAME=", m.devname);
        if (m.devtype[0])
            append(again, sizeof again, &used, "DEVTYPE=", m.devtype);
        if (m.pci_slot_name[0])
            append(again, sizeof again, &used, "PCI_SLOT_NAME=", m.pci_slot_name);
        append(again, sizeof again, &used, "SEQNUM=", seq);
        uevent_msg m2;
        if (used <= UEVENT_MSG_MAX) {
            if (!uevent_parse(again, used, &m2) || memcmp(&m, &m2, sizeof m) != 0)
                abort();
        }
    }
    free(copy);
    return 0;
}
