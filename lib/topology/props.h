/* KFD `properties` files: one "key value" pair per line, value an unsigned
 * decimal (uint64: unique_id and hive_id exceed INT64_MAX). */
#ifndef ROCHP_TOPOLOGY_PROPS_H
#define ROCHP_TOPOLOGY_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"

#define TOPO_PROPS_MAX_KEYS 512
#define TOPO_PROPS_MAX_KEY_LEN 64

/* All pairs in file order; unknown keys are kept like known ones. */
typedef struct topo_props {
    uint32_t count;
    const char **keys;
    uint64_t *values;
} topo_props;

/* Parses buf[0..len) into out (memory from arena).  Errors name path and the
 * 1-based line.  A file with no pair at all is malformed. */
rochp_status topo_props_parse(const char *buf, size_t len, rochp__arena *arena, topo_props *out,
                              const char *path, rochp__error *err);

/* True and *value set when key is present. */
bool topo_props_get(const topo_props *props, const char *key, uint64_t *value);

/* The value of key, or fallback when absent. */
uint64_t topo_props_get_or(const topo_props *props, const char *key, uint64_t fallback);

#endif
