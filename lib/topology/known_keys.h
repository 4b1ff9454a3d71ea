/* Key names the kernel writes in properties files, interned so that parsing
 * thousands of link files allocates no key strings. */
#ifndef ROCHP_TOPOLOGY_KNOWN_KEYS_H
#define ROCHP_TOPOLOGY_KNOWN_KEYS_H

#include <stddef.h>

/* Index of key[0..len) in the known-key table, or -1. */
int topo_known_key_index(const char *key, size_t len);
/* The interned string of a known-key index. */
const char *topo_known_key(int index);

#define TOPO_KNOWN_KEYS_MAX 128

#endif
