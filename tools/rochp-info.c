/* rochp-info: the KFD topology as rochp sees it. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "topology/print.h"
#include "topology/snapshot.h"

static void usage(FILE *out)
{
    fputs("usage: rochp-info [--sysfs-root DIR] [--json]\n"
          "\n"
          "Reads the KFD topology (DIR/topology; default $ROCHP_SYSFS_ROOT, else\n"
          TOPO_DEFAULT_SYSFS_ROOT ") and prints every node: kind, PCI address, gfx\n"
          "target, VRAM and the board (partition group) each GPU belongs to.\n"
          "\n"
          "  --sysfs-root DIR  read DIR/topology instead\n"
          "  --json            one JSON object: {\"generation\":N,\"nodes\":[...],...}\n"
          "  --help            this text\n"
          "\n"
          "Exit status: 0 ok, 1 no topology or an unreadable one, 2 usage error.\n",
          out);
}

int main(int argc, char **argv)
{
    static const struct option options[] = {
        {"sysfs-root", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *root = NULL;
    int json = 0, c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'r': root = optarg; break;
        case 'j': json = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "rochp-info: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if (!root)
        root = topo_sysfs_root();

    rochp__error err = {0};
    topo_snapshot *snap;
    rochp_status st = topo_snapshot_read(root, &snap, &err);
    if (st == ROCHP_ERROR_NOT_FOUND) {
        fprintf(stderr, "rochp-info: no AMD GPU driver here: %s\n", err.message);
        return 1;
    }
    if (st != ROCHP_OK) {
        fprintf(stderr, "rochp-info: %s (%s)\n", err.message, rochp_status_string(st));
        return 1;
    }
    if (json)
        topo_print_json(stdout, snap);
    else
        topo_print_text(stdout, snap, root);
    topo_snapshot_free(snap);
    if (fflush(stdout) != 0) {
        perror("rochp-info: write");
        return 1;
    }
    return 0;
}
