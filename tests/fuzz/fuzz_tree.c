/* libFuzzer target: the whole tree reader, diff and JSON printer on trees
 * built from the input.  The input is a list of records
 *   [selector byte][length byte][content...]
 * each writing one file (or, for some selectors, a directory, a symlink or a
 * FIFO) at a fixed set of KFD paths, so that the fuzzer reaches deep into the
 * reader instead of spending its time on path syntax. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "topology/diff.h"
#include "topology/print.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const paths[] = {
    "topology/generation_id",
    "topology/system_properties",
    "topology/nodes/0/properties",
    "topology/nodes/0/gpu_id",
    "topology/nodes/0/name",
    "topology/nodes/1/properties",
    "topology/nodes/1/gpu_id",
    "topology/nodes/1/name",
    "topology/nodes/1/mem_banks/0/properties",
    "topology/nodes/1/mem_banks/0/used_memory",
    "topology/nodes/1/io_links/0/properties",
    "topology/nodes/1/io_links/1/properties",
    "topology/nodes/1/p2p_links/0/properties",
    "topology/nodes/1/caches/0/properties",
    "topology/nodes/2/properties",
    "topology/nodes/x/properties",
};
enum { N_PATHS = sizeof paths / sizeof paths[0] };

static char root[256];

static void remove_all(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        abort();
}

static void make_parents(char *path)
{
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
}

static void remove_root(void)
{
    remove_all(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!root[0]) {
        snprintf(root, sizeof root, "%s/rochp-fuzz-tree-%ld",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", (long)getpid());
        atexit(remove_root); /* libFuzzer and the replay driver end with exit() */
    }
    remove_all(root);
    mkdir(root, 0755);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/topology/nodes", root);
    make_parents(strcat(dir, "/"));

    for (size_t pos = 0; pos + 2 <= size;) {
        unsigned sel = data[pos], len = data[pos + 1];
        pos += 2;
        if (len > size - pos)
            len = (unsigned)(size - pos);
        char path[400];
        snprintf(path, sizeof path, "%s/%s", root, paths[sel % N_PATHS]);
        make_parents(path);
        switch (sel / N_PATHS % 8) {
        case 5: /* a directory where a file belongs */
            mkdir(path, 0755);
            break;
        case 6: { /* a symlink, maybe to itself or an ancestor */
            const char *targets[] = {".", "..", "../..", "properties", "/dev/zero", "x"};
            unlink(path);
            if (symlink(targets[len % 6], path) != 0)
                break;
            break;
        }
        case 7: /* a FIFO: must neither block the open nor the read */
            unlink(path);
            mkfifo(path, 0644);
            break;
        default: {
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NONBLOCK, 0644);
            if (fd >= 0) {
                if (write(fd, data + pos, len) < 0) {
                    /* a directory or FIFO already there: fine */
                }
                close(fd);
            }
        }
        }
        pos += len;
    }

    topo_snapshot *snap = NULL;
    rochp__error err = {0};
    rochp_status st = topo_snapshot_read(root, &snap, &err);
    if (st == ROCHP_OK) {
        FILE *null = fopen("/dev/null", "w");
        topo_print_json(null, snap);
        topo_print_text(null, snap, root);
        topo_diff diff;
        if (topo_diff_compute(snap, snap, NULL, 0, &diff, &err) != ROCHP_OK || diff.count != 0)
            abort(); /* a tree never differs from itself */
        topo_diff_free(&diff);
        fclose(null);
        topo_snapshot_free(snap);
    } else if (snap != NULL || err.message[0] == '\0') {
        abort(); /* failures leave no snapshot and always say why */
    }
    return 0;
}
