/* Scratch directories for virtual trees: on tmpfs when the machine has one,
 * since sysfs is in memory too and ext4 metadata updates can cost a
 * millisecond each on a VM disk. */
#ifndef ROCHP_TESTS_TMPDIR_H
#define ROCHP_TESTS_TMPDIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Creates a new directory named after tag; returns 0 or -1. */
static inline int test_make_tmpdir(char *out, size_t size, const char *tag)
{
    const char *base = getenv("ROCHP_TEST_TMPDIR");
    if (!base || !*base)
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(out, size, "%s/rochp-test-%s-XXXXXX", base, tag);
    return mkdtemp(out) ? 0 : -1;
}

static inline void test_remove_tmpdir(const char *dir)
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", dir);
}

#endif
