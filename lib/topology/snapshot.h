/* An immutable snapshot of the KFD topology tree and what rochp derives from
 * it.  Everything a snapshot points to lives in its arena and is freed by
 * topo_snapshot_free. */
#ifndef ROCHP_TOPOLOGY_SNAPSHOT_H
#define ROCHP_TOPOLOGY_SNAPSHOT_H

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/error.h"
#include "props.h"

/* Where the kernel puts the tree; ROCHP_SYSFS_ROOT overrides it. */
#define TOPO_DEFAULT_SYSFS_ROOT "/sys/devices/virtual/kfd/kfd"

#define TOPO_MAX_NODES 4096
#define TOPO_MAX_ENTRIES 65536 /* links, banks or caches of one node */

typedef enum topo_kind {
    TOPO_KIND_UNKNOWN = 0, /* no properties file */
    TOPO_KIND_CPU,
    TOPO_KIND_GPU,
    TOPO_KIND_APU, /* CPU cores and SIMDs on one node (old APUs) */
} topo_kind;

typedef struct topo_mem_bank {
    topo_props props;
    bool has_used_memory;
    uint64_t used_memory;
} topo_mem_bank;

/* Which optional per-node files were there. */
enum {
    TOPO_HAS_PROPERTIES = 1u << 0,
    TOPO_HAS_GPU_ID = 1u << 1,
    TOPO_HAS_NAME = 1u << 2,
    TOPO_HAS_UNIQUE_ID = 1u << 3,
    TOPO_HAS_LOCATION = 1u << 4,    /* location_id key present */
    TOPO_HAS_RENDER_MINOR = 1u << 5,
    TOPO_HAS_HIVE_ID = 1u << 6,
    TOPO_HAS_GFX_TARGET = 1u << 7,  /* gfx name known (from version or device id) */
};

typedef struct topo_node {
    uint32_t index; /* the N of nodes/N: a position, never an identity */
    uint32_t has;   /* TOPO_HAS_* */
    uint64_t gpu_id;
    const char *name; /* "" when absent or empty; trailing newline removed */
    topo_props props;
    uint32_t n_mem_banks, n_io_links, n_p2p_links, n_caches;
    topo_mem_bank *mem_banks; /* ordered by bank index */
    topo_props *io_links;     /* ordered by link index */
    topo_props *p2p_links;
    topo_props *caches;       /* only with TOPO_READ_CACHE_PROPS, ordered by cache index */

    /* Derived */
    topo_kind kind;
    uint32_t domain;      /* PCI domain; 0 when the kernel is too old to say */
    uint32_t location_id; /* (bus << 8) | (device << 3) | function */
    char pci[24];         /* "dddd:bb:dd.f" for GPU/APU nodes with a location, else "" */
    char gfx_target[16];  /* "gfx90a" or "" */
    uint64_t unique_id, hive_id, vendor_id, device_id, simd_count, cpu_cores;
    uint64_t drm_render_minor;
    uint64_t vram_bytes;
    int32_t group; /* index into snapshot groups for GPU/APU nodes, else -1 */
} topo_node;

/* GPU nodes that are one physical board: partitions sharing a unique_id.  A
 * GPU without unique_id is a group of its own. */
typedef struct topo_group {
    uint64_t unique_id; /* 0 when the kernel gave none */
    uint32_t n_nodes;
    uint32_t *nodes; /* indexes into snapshot->nodes (not KFD node numbers) */
} topo_group;

typedef struct topo_snapshot {
    bool has_generation;
    uint64_t generation;
    bool has_system_properties;
    topo_props system_properties;
    uint32_t n_nodes;
    topo_node *nodes; /* ordered by KFD node number */
    uint32_t n_groups;
    topo_group *groups;
    uint32_t read_attempts; /* reads needed to get an untorn copy (1 when quiet) */
    uint32_t parts;         /* TOPO_READ_* actually read */
    rochp__arena arena;
} topo_snapshot;

/* The sysfs root in effect: ROCHP_SYSFS_ROOT if set and non-empty, else the
 * kernel's path. */
const char *topo_sysfs_root(void);

/* What a read covers.  Node properties, gpu_id, name and mem banks are
 * always read: they are what devices are identified and described by.
 * Links are most of the files of a large machine (4,034 of the 4,101 in the
 * 65-node MI300X capture) and detection does not need them, so the watcher's
 * rescans leave them out; rochp-info and placement read everything. */
enum {
    TOPO_READ_LINKS = 1u << 0,  /* io_links and p2p_links */
    TOPO_READ_CACHES = 1u << 1, /* cache entry count */
    TOPO_READ_CACHE_PROPS = 1u << 2, /* each cache's properties too (hsasim's cache sizes) */
    TOPO_READ_DEVICES = 0,
    TOPO_READ_ALL = TOPO_READ_LINKS | TOPO_READ_CACHES,
};

/* Reads the tree under root/topology into a new snapshot.  root NULL means
 * topo_sysfs_root().  Retries while generation_id changes during the read;
 * after TOPO_MAX_READ_ATTEMPTS changing reads returns ROCHP_ERROR_BUSY.
 * No topology directory: ROCHP_ERROR_NOT_FOUND.  topo_snapshot_read reads
 * TOPO_READ_ALL. */
#define TOPO_MAX_READ_ATTEMPTS 64
rochp_status topo_snapshot_read(const char *root, topo_snapshot **out, rochp__error *err);
rochp_status topo_snapshot_read_parts(const char *root, uint32_t parts, topo_snapshot **out,
                                      rochp__error *err);

/* Reads only generation_id (the cheap change check).  Absent file:
 * ROCHP_ERROR_NOT_FOUND. */
rochp_status topo_read_generation(const char *root, uint64_t *generation, rochp__error *err);

void topo_snapshot_free(topo_snapshot *snap);

/* The node with KFD number index, or NULL. */
const topo_node *topo_snapshot_node(const topo_snapshot *snap, uint32_t index);

const char *topo_kind_name(topo_kind kind);

/* "gfx90a" from gfx_target_version 90010 (major*10000 + minor*100 + stepping,
 * minor and stepping printed in hex).  False for 0 or out-of-range values. */
bool topo_gfx_name_from_version(uint64_t version, char out[16]);

/* For kernels without gfx_target_version: the gfx name libhsakmt's device-id
 * table gives, false when the id is not in rochp's copy of the table. */
bool topo_gfx_name_from_device_id(uint64_t device_id, char out[16]);

/* Fills the derived fields and groups of a snapshot whose raw fields are read;
 * root names files in errors. */
rochp_status topo_snapshot_derive(topo_snapshot *snap, const char *root, rochp__error *err);

#endif
