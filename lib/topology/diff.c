#include "diff.h"

#include <stdlib.h>
#include <string.h>

const char *topo_change_kind_name(topo_change_kind kind)
{
    switch (kind) {
    case TOPO_CHANGE_REMOVED: return "removed";
    case TOPO_CHANGE_ADDED: return "added";
    case TOPO_CHANGE_RETURNED: return "returned";
    }
    return "unknown";
}

/* A node is a device rochp can track when it computes and has an address. */
static bool is_device(const topo_node *n)
{
    return (n->kind == TOPO_KIND_GPU || n->kind == TOPO_KIND_APU) && (n->has & TOPO_HAS_LOCATION);
}

static bool same_device(const topo_node *a, const topo_node *b)
{
    if (a->domain != b->domain || a->location_id != b->location_id)
        return false;
    /* Same address but a different board (swapped between two reads). */
    return a->unique_id == 0 || b->unique_id == 0 || a->unique_id == b->unique_id;
}

static void fill(topo_change *c, topo_change_kind kind, const topo_node *n)
{
    c->kind = kind;
    c->domain = n->domain;
    c->location_id = n->location_id;
    memcpy(c->pci, n->pci, sizeof c->pci);
    c->unique_id = n->unique_id;
    c->node = n->index;
}

static bool in_list(uint64_t id, const uint64_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

rochp_status topo_diff_compute(const topo_snapshot *before, const topo_snapshot *after,
                               const uint64_t *known_ids, size_t n_known, topo_diff *out,
                               rochp__error *err)
{
    if (!before || !after || !out || (n_known && !known_ids))
        return rochp__fail(err, ROCHP_ERROR_INVALID_ARGUMENT, "topo_diff_compute: NULL argument");
    memset(out, 0, sizeof *out);
    size_t max = (size_t)before->n_nodes + after->n_nodes;
    bool *matched_after = calloc(after->n_nodes ? after->n_nodes : 1, sizeof *matched_after);
    topo_change *changes = calloc(max ? max : 1, sizeof *changes);
    if (!matched_after || !changes) {
        free(matched_after);
        free(changes);
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    }
    uint32_t count = 0;
    for (uint32_t i = 0; i < before->n_nodes; i++) {
        const topo_node *a = &before->nodes[i];
        if (!is_device(a))
            continue;
        bool found = false;
        for (uint32_t j = 0; j < after->n_nodes && !found; j++) {
            if (!matched_after[j] && is_device(&after->nodes[j]) &&
                same_device(a, &after->nodes[j])) {
                matched_after[j] = true;
                found = true;
            }
        }
        if (!found)
            fill(&changes[count++], TOPO_CHANGE_REMOVED, a);
    }
    for (uint32_t j = 0; j < after->n_nodes; j++) {
        const topo_node *b = &after->nodes[j];
        if (matched_after[j] || !is_device(b))
            continue;
        bool known = b->unique_id != 0 && in_list(b->unique_id, known_ids, n_known);
        fill(&changes[count++], known ? TOPO_CHANGE_RETURNED : TOPO_CHANGE_ADDED, b);
    }
    free(matched_after);
    out->count = count;
    out->changes = changes;
    return ROCHP_OK;
}

void topo_diff_free(topo_diff *diff)
{
    if (!diff)
        return;
    free(diff->changes);
    diff->changes = NULL;
    diff->count = 0;
}
