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
typedef struct sim_props {
    uint32_t n, cap;
    char **keys;
    uint64_t *vals;
} sim_props;

typedef struct sim_bank {
    sim_props props;
    bool has_used;
    uint64_t used;
} sim_bank;

typedef struct sim_node {
    bool has_props, has_name, has_gpu_id;
    sim_props props;
    char *name;
    uint64_t gpu_id;
    uint32_t n_banks, n_io, n_p2p, n_caches;
    sim_bank *banks;
    sim_props *io, *p2p;
    sim_props *caches;  /* generated cache entries (models) */
    char *caches_from;  /* or a caches directory to copy verbatim (loaded trees) */
} sim_node;

typedef struct sim_tree {
    bool has_generation, has_sysprops;
    uint64_t generation;
    sim_props sysprops;
    uint32_t n, cap;
    sim_node *nodes;
    bool failed; /* an allocation failed: the tree must not be published */
} sim_tree;

/* --- properties ----------------------------------------------------------- */
void sim_props_set(sim_tree *t, sim_props *p, const char *key, uint64_t value);
bool sim_props_get(const sim_props *p, const char *key, uint64_t *value);
uint64_t sim_props_get_or(const sim_props *p, const char *key, uint64_t fallback);
void sim_props_copy(sim_tree *t, sim_props *dst, const sim_props *src);

/* --- nodes ----------------------------------------------------------------- */
/* Appends an empty node and returns it (NULL and t->failed on OOM). */
sim_node *sim_tree_add_node(sim_tree *t);
/* Appends a deep copy of src (from any tree). */
sim_node *sim_tree_add_copy(sim_tree *t, const sim_node *src);
sim_props *sim_node_add_io_link(sim_tree *t, sim_node *n);
sim_props *sim_node_add_p2p_link(sim_tree *t, sim_node *n);
/* Keeps io_links_count / p2p_links_count / mem_banks_count / caches_count
 * equal to what the node has, as the kernel prints them. */
void sim_node_sync_counts(sim_tree *t, sim_node *n);

bool sim_node_is_gpu(const sim_node *n);
/* (domain << 16) | location_id: the identity of a GPU node. */
uint64_t sim_node_identity(const sim_node *n);

/* --- whole trees ----------------------------------------------------------- */
/* Loads root/topology.  Caches are not parsed: they are copied verbatim on write. */
rochp_status sim_tree_load(const char *root, sim_tree *t, rochp__error *err);
void sim_tree_free(sim_tree *t);

/* Removes the nodes whose flag is set, renumbering the rest down and fixing
 * links as kfd_topology_update_io_links does: links to a removed node go,
 * node_from/node_to above it move down. */
void sim_tree_remove_nodes(sim_tree *t, const bool *remove);

/* Writes the nodes as directory dirfd/name (which must not exist). */
rochp_status sim_tree_write_nodes(const sim_tree *t, int dirfd, const char *name,
                                  rochp__error *err);

/* Makes t the live tree under root: nodes/ is built aside and swapped in with
 * one rename (RENAME_EXCHANGE), then generation_id is replaced atomically.
 * Readers therefore see the old or the new tree, and a generation_id that is
 * never newer than the nodes they read (KFD's add path has the same order). */
rochp_status sim_tree_publish(const sim_tree *t, const char *root, rochp__error *err);

/* The two halves of publishing.  Staging writes everything (it allocates);
 * committing is system calls on fixed buffers only, so that a child forked
 * from a multi-threaded process may run it: the swap, then generation_id.
 * The replaced nodes/ stays at the staging name until the next stage. */
rochp_status sim_tree_stage(const sim_tree *t, const char *root, rochp__error *err);
int sim_tree_commit(const char *root, bool has_generation, uint64_t generation);

#endif
