/* Which devices went and came between two snapshots, keyed by identity:
 * (PCI domain, location_id), with unique_id telling a different board at the
 * same address apart and recognising a board that comes back.  Node numbers
 * are reported but never used to match. */
#ifndef ROCHP_TOPOLOGY_DIFF_H
#define ROCHP_TOPOLOGY_DIFF_H

#include <stddef.h>

#include "snapshot.h"

typedef enum topo_change_kind {
    TOPO_CHANGE_REMOVED,
    TOPO_CHANGE_ADDED,
    TOPO_CHANGE_RETURNED, /* added, and its unique_id was seen before */
} topo_change_kind;

typedef struct topo_change {
    topo_change_kind kind;
    uint32_t domain, location_id;
    char pci[24];
    uint64_t unique_id;
    uint32_t node; /* KFD node number: in the old snapshot if removed, else in the new one */
} topo_change;

typedef struct topo_diff {
    uint32_t count;
    topo_change *changes; /* removals in old node order, then arrivals in new node order */
} topo_diff;

/* known_ids: unique_ids of boards seen earlier (may be NULL when n_known is 0);
 * an added device with one of them is reported as returned. */
rochp_status topo_diff_compute(const topo_snapshot *before, const topo_snapshot *after,
                               const uint64_t *known_ids, size_t n_known, topo_diff *out,
                               rochp__error *err);
void topo_diff_free(topo_diff *diff);

const char *topo_change_kind_name(topo_change_kind kind);

#endif
