/* The rochp-sim commands.  Each modifying command holds DIR/.rochp-sim/lock,
 * so several processes may drive one tree. */
#ifndef ROCHP_SIM_OPS_H
#define ROCHP_SIM_OPS_H

#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "models.h"

rochp_status vtree_create_model(const char *dir, const vtree_model *m, uint32_t gpus,
                                uint32_t partitions, FILE *report, rochp__error *err);
rochp_status vtree_create_from(const char *dir, const char *fixture, FILE *report,
                               rochp__error *err);
/* Removes the whole board at pci (all its partitions) and keeps it aside.
 * How processes experience it follows ROCHP_SIM_KERNEL (sigbus, the default;
 * silent; reset), posted as a fault notice before anything changes.  Under
 * sigbus every process holding the board gets SIGBUS (SI_USER) and the tree
 * changes only once they have let go (exit or exec): with VTREE_UNPLUG_WAIT the
 * call blocks until then, otherwise a detached child finishes the removal. */
enum { VTREE_UNPLUG_WAIT = 1u << 0 };
rochp_status vtree_unplug(const char *dir, const char *pci, unsigned flags, FILE *report,
                          rochp__error *err);
/* Brings back the board unplugged from pci, same unique_id. */
rochp_status vtree_plug_back(const char *dir, const char *pci, FILE *report, rochp__error *err);
/* Plugs a new board of model m; pci NULL picks the first free slot. */
rochp_status vtree_plug_model(const char *dir, const vtree_model *m, uint32_t partitions,
                              const char *pci, FILE *report, rochp__error *err);
rochp_status vtree_list(const char *dir, FILE *out, rochp__error *err);

/* Parses "dddd:bb:dd.f" or "bb:dd.f" into a PCI domain and location_id. */
int vtree_parse_pci(const char *s, uint32_t *domain, uint32_t *location);

#endif
