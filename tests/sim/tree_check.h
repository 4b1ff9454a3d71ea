/* Structural checks of a snapshot that a torn read would break: nodes
 * numbered 0..N-1, every link leaving its own node for an existing one, and
 * the counts in properties equal to the entries present. */
#ifndef ROCHP_TESTS_TREE_CHECK_H
#define ROCHP_TESTS_TREE_CHECK_H

#include <stdio.h>

#include "topology/snapshot.h"

/* 0 when consistent; otherwise prints why to stderr (with label) and returns 1. */
static inline int tree_check(const topo_snapshot *s, const char *label)
{
    for (uint32_t i = 0; i < s->n_nodes; i++) {
        const topo_node *n = &s->nodes[i];
        if (n->index != i) {
            fprintf(stderr, "%s: node %u at position %u\n", label, n->index, i);
            return 1;
        }
        uint64_t v;
        if (topo_props_get(&n->props, "io_links_count", &v) && v != n->n_io_links) {
            fprintf(stderr, "%s: node %u io_links_count %llu, %u present\n", label, i,
                    (unsigned long long)v, n->n_io_links);
            return 1;
        }
        if (topo_props_get(&n->props, "p2p_links_count", &v) && v != n->n_p2p_links) {
            fprintf(stderr, "%s: node %u p2p_links_count %llu, %u present\n", label, i,
                    (unsigned long long)v, n->n_p2p_links);
            return 1;
        }
        if (topo_props_get(&n->props, "caches_count", &v) && v != n->n_caches) {
            fprintf(stderr, "%s: node %u caches_count %llu, %u present\n", label, i,
                    (unsigned long long)v, n->n_caches);
            return 1;
        }
        for (uint32_t l = 0; l < n->n_io_links + n->n_p2p_links; l++) {
            const topo_props *p =
                l < n->n_io_links ? &n->io_links[l] : &n->p2p_links[l - n->n_io_links];
            uint64_t from = topo_props_get_or(p, "node_from", UINT64_MAX);
            uint64_t to = topo_props_get_or(p, "node_to", UINT64_MAX);
            if (from != i || to >= s->n_nodes || to == i) {
                fprintf(stderr, "%s: node %u link %u goes %llu -> %llu (%u nodes)\n", label, i,
                        l, (unsigned long long)from, (unsigned long long)to, s->n_nodes);
                return 1;
            }
        }
    }
    return 0;
}

#endif
