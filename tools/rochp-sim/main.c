/* rochp-sim: drives a virtual KFD topology tree (DESIGN.md section 3). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: rochp-sim create DIR --model M --gpus N [--partitions P]\n"
            "       rochp-sim create DIR --from FIXTURE\n"
            "       rochp-sim unplug DIR PCI [--wait]\n"
            "       rochp-sim plug DIR PCI\n"
            "       rochp-sim plug DIR --model M [--pci ADDR] [--partitions P]\n"
            "       rochp-sim list DIR\n"
            "\n"
            "Drives a virtual KFD topology at DIR/topology, laid out as the kernel's\n"
            "/sys/devices/virtual/kfd/kfd/topology (point ROCHP_SYSFS_ROOT at DIR).\n"
            "\n"
            "  create   a machine of N boards of model M (%s),\n"
            "           each split into P partitions (MI300X: up to 8), or a copy of a\n"
            "           captured tree (FIXTURE holds topology/)\n"
            "  unplug   removes the whole board at PCI, all its partitions, renumbering\n"
            "           later nodes as KFD does; the board is kept aside in DIR.  How\n"
            "           processes using it see that follows ROCHP_SIM_KERNEL: sigbus\n"
            "           (default: SIGBUS to each holder, and the removal completes once\n"
            "           they exit or exec; --wait blocks until then), silent (the device\n"
            "           just goes dead) or reset (queues evicted, VRAM lost, HW exception)\n"
            "  plug     brings back the board unplugged from PCI (same unique_id), or\n"
            "           plugs a new board of model M at ADDR or the first free slot\n"
            "  list     the nodes, the boards kept aside, and the processes holding GPUs\n"
            "\n"
            "Every change is atomic for readers (built aside, swapped in with one rename,\n"
            "generation_id bumped last by the number of KFD nodes changed) and may come\n"
            "from any process.  Changes print the devices readers will see go and come.\n"
            "\n"
            "Exit status: 0 ok, 1 failure, 2 usage error.\n",
            vtree_model_names());
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "rochp-sim: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(rochp-sim --help for usage)\n");
    va_end(ap);
    return 2;
}

static int parse_count(const char *s, uint32_t max, uint32_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || end == s || *end || v == 0 || v > max || s[0] == '-')
        return -1;
    *out = (uint32_t)v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 3)
        return usage_error("expected a command and DIR");
    const char *cmd = argv[1], *dir = argv[2];

    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'}, {"gpus", required_argument, NULL, 'g'},
        {"partitions", required_argument, NULL, 'p'}, {"from", required_argument, NULL, 'f'},
        {"pci", required_argument, NULL, 'a'}, {"help", no_argument, NULL, 'h'},
        {"wait", no_argument, NULL, 'w'},
        {NULL, 0, NULL, 0},
    };
    const char *model_name = NULL, *from = NULL, *pci = NULL;
    uint32_t gpus = 0, partitions = 1;
    int c, wait = 0;
    optind = 3;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'm': model_name = optarg; break;
        case 'f': from = optarg; break;
        case 'a': pci = optarg; break;
        case 'w': wait = 1; break;
        case 'g':
            if (parse_count(optarg, 1024, &gpus) != 0)
                return usage_error("--gpus wants a number from 1 to 1024, not '%s'", optarg);
            break;
        case 'p':
            if (parse_count(optarg, 8, &partitions) != 0)
                return usage_error("--partitions wants a number from 1 to 8, not '%s'", optarg);
            break;
        case 'h': usage(stdout); return 0;
        default: return usage_error("bad option");
        }
    }
    const char *positional = optind < argc ? argv[optind] : NULL;
    if (optind + (positional ? 1 : 0) < argc)
        return usage_error("unexpected argument '%s'", argv[optind + 1]);

    const vtree_model *model = NULL;
    if (model_name && !(model = vtree_model_find(model_name)))
        return usage_error("unknown model '%s' (known: mi100, mi210, mi300x, rx7900xtx)",
                           model_name);
    if (model && partitions > model->max_partitions) {
        fprintf(stderr, "rochp-sim: %s boards have at most %u partition(s)\n", model->name,
                model->max_partitions);
        return 2;
    }

    rochp__error err = {0};
    rochp_status st;
    if (strcmp(cmd, "create") == 0) {
        if (positional)
            return usage_error("create takes no PCI address ('%s')", positional);
        if (from && model)
            return usage_error("create takes --model or --from, not both");
        if (from)
            st = vtree_create_from(dir, from, stdout, &err);
        else if (model && gpus)
            st = vtree_create_model(dir, model, gpus, partitions, stdout, &err);
        else
            return usage_error("create needs --model M --gpus N, or --from FIXTURE");
    } else if (strcmp(cmd, "unplug") == 0) {
        if (!positional || model || from)
            return usage_error("unplug takes DIR and a PCI address");
        st = vtree_unplug(dir, positional, wait ? VTREE_UNPLUG_WAIT : 0, stdout, &err);
    } else if (wait) {
        return usage_error("--wait belongs to unplug");
    } else if (strcmp(cmd, "plug") == 0) {
        if (model && !positional)
            st = vtree_plug_model(dir, model, partitions, pci, stdout, &err);
        else if (positional && !model && !pci)
            st = vtree_plug_back(dir, positional, stdout, &err);
        else
            return usage_error("plug takes DIR PCI, or DIR --model M [--pci ADDR]");
    } else if (strcmp(cmd, "list") == 0) {
        if (positional || model || from)
            return usage_error("list takes only DIR");
        st = vtree_list(dir, stdout, &err);
    } else {
        return usage_error("unknown command '%s'", cmd);
    }
    if (st != ROCHP_OK) {
        fprintf(stderr, "rochp-sim %s: %s\n", cmd, err.message);
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
