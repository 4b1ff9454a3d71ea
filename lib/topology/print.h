/* The topology as rochp-info shows it (DESIGN.md section 3 contract). */
#ifndef ROCHP_TOPOLOGY_PRINT_H
#define ROCHP_TOPOLOGY_PRINT_H

#include <stdio.h>

#include "diff.h"
#include "snapshot.h"

void topo_print_json(FILE *out, const topo_snapshot *snap);
void topo_print_text(FILE *out, const topo_snapshot *snap, const char *root);
/* One line per change: "removed 0000:05:00.0 node 2 unique_id 1640..." */
void topo_print_diff(FILE *out, const topo_diff *diff);

#endif
