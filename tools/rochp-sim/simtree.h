/* An editable copy of a KFD topology tree: rochp-sim loads the live tree,
 * edits it the way KFD would (renumbering, link fix-up, generation count) and
 * publishes the result atomically for concurrent readers. */
#ifndef ROCHP_SIM_SIMTREE_H
#define ROCHP_SIM_SIMTREE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "topology/snapshot.h"

/* Ordered key/value pairs, as printed in a properties file. */
typedef struct vtree_props {
    uint32_t n, cap;
    char **keys;
    uint64_t *vals;
} vtree_props;

typedef struct vtree_bank {
    vtree_props props;
    bool has_used;
    uint64_t used;
} vtree_bank;

typedef struct vtree_node {
    bool has_props, has_name, has_gpu_id;
    vtree_props props;
    char *name;
    uint64_t gpu_id;
    uint32_t n_banks, n_io, n_p2p, n_caches;
    vtree_bank *banks;
    vtree_props *io, *p2p;
    vtree_props *caches;  /* generated cache entries (models) */
    char *caches_from;    /* or a caches directory to copy verbatim (loaded trees) */
} vtree_node;

typedef struct vtree_tree {
    bool has_generation, has_sysprops;
    uint64_t generation;
    vtree_props sysprops;
    uint32_t n, cap;
    vtree_node *nodes;
    bool failed; /* an allocation failed: the tree must not be published */
} vtree_tree;

/* --- properties ----------------------------------------------------------- */
void vtree_props_set(vtree_tree *t, vtree_props *p, const char *key, uint64_t value);
bool vtree_props_get(const vtree_props *p, const char *key, uint64_t *value);
uint64_t vtree_props_get_or(const vtree_props *p, const char *key, uint64_t fallback);
void vtree_props_copy(vtree_tree *t, vtree_props *dst, const vtree_props *src);

/* --- nodes ----------------------------------------------------------------- */
/* Appends an empty node and returns it (NULL and t->failed on OOM). */
vtree_node *vtree_tree_add_node(vtree_tree *t);
/* Appends a deep copy of src (from any tree). */
vtree_node *vtree_tree_add_copy(vtree_tree *t, const vtree_node *src);
vtree_props *vtree_node_add_io_link(vtree_tree *t, vtree_node *n);
vtree_props *vtree_node_add_p2p_link(vtree_tree *t, vtree_node *n);
/* Keeps io_links_count / p2p_links_count / mem_banks_count / caches_count
 * equal to what the node has, as the kernel prints them. */
void vtree_node_sync_counts(vtree_tree *t, vtree_node *n);

bool vtree_node_is_gpu(const vtree_node *n);
/* (domain << 16) | location_id: the identity of a GPU node. */
uint64_t vtree_node_identity(const vtree_node *n);

/* --- whole trees ----------------------------------------------------------- */
/* Loads root/topology.  Caches are not parsed: they are copied verbatim on write. */
rochp_status vtree_tree_load(const char *root, vtree_tree *t, rochp__error *err);
void vtree_tree_free(vtree_tree *t);

/* Removes the nodes whose flag is set, renumbering the rest down and fixing
 * links as kfd_topology_update_io_links does: links to a removed node go,
 * node_from/node_to above it move down. */
void vtree_tree_remove_nodes(vtree_tree *t, const bool *remove);

/* Writes the nodes as directory dirfd/name (which must not exist). */
rochp_status vtree_tree_write_nodes(const vtree_tree *t, int dirfd, const char *name,
                                    rochp__error *err);

/* Makes t the live tree under root: nodes/ is built aside and swapped in with
 * one rename (RENAME_EXCHANGE), then generation_id is replaced atomically.
 * Readers therefore see the old or the new tree, and a generation_id that is
 * never newer than the nodes they read (KFD's add path has the same order). */
rochp_status vtree_tree_publish(const vtree_tree *t, const char *root, rochp__error *err);

/* The two halves of publishing.  Staging writes everything (it allocates);
 * committing is system calls on fixed buffers only, so that a child forked
 * from a multi-threaded process may run it: the swap, then generation_id.
 * The replaced nodes/ stays at the staging name until the next stage. */
rochp_status vtree_tree_stage(const vtree_tree *t, const char *root, rochp__error *err);
int vtree_tree_commit(const char *root, bool has_generation, uint64_t generation);

#endif
