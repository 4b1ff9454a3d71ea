/* GPU models rochp-sim can plug: property values from the real captures in
 * shared/fixtures/kfd and from AMD's public specifications. */
#ifndef ROCHP_SIM_MODELS_H
#define ROCHP_SIM_MODELS_H

#include <stdint.h>

#include "simtree.h"

typedef struct vtree_cache {
    uint32_t level, size_kb, type;
} vtree_cache;

typedef struct vtree_model {
    const char *name;      /* --model argument */
    const char *product;   /* marketing name */
    const char *kfd_name;  /* what the kernel prints in nodes/N/name */
    uint32_t max_partitions;
    /* Whole-board values; simd_count, array_count, num_xcc and VRAM are
     * divided among partitions. */
    uint64_t simd_count, array_count, num_xcc, vram_bytes;
    uint64_t gfx_target_version, device_id;
    uint64_t max_waves_per_simd, wave_front_size, simd_arrays_per_engine, cu_per_simd_array;
    uint64_t simd_per_cu, num_sdma_engines, num_sdma_xgmi_engines, num_sdma_queues_per_engine;
    uint64_t num_cp_queues, max_engine_clk_fcompute, fw_version, capability, debug_prop;
    uint64_t sdma_fw_version, mem_width, mem_clk_max;
    const vtree_cache *caches;
    uint32_t n_caches;
    const uint8_t *buses; /* PCI buses boards sit on in a real machine of this kind */
    uint32_t n_buses;
    /* The host such boards come in. */
    uint32_t cpu_sockets, cpu_cores, cpu_clk_mhz;
    uint64_t cpu_mem_bytes;
    int xgmi; /* boards of one tree form one XGMI hive */
    uint64_t pcie_max_bandwidth, xgmi_bandwidth;
} vtree_model;

const vtree_model *vtree_model_find(const char *name);
/* "mi100, mi210, mi300x, rx7900xtx" */
const char *vtree_model_names(void);

/* Builds a host's CPU nodes (one per socket) with links between them. */
void vtree_model_add_cpus(vtree_tree *t, const vtree_model *m);

/* Appends one board (partitions nodes) at PCI domain:bus:00.x, with links to
 * its CPU socket and, for XGMI models, to every GPU of the same hive; peers
 * get the reverse links (KFD adds links both ways).  Returns the index of the
 * first node added. */
uint32_t vtree_model_add_board(vtree_tree *t, const vtree_model *m, uint32_t partitions,
                               uint32_t domain, uint32_t bus, uint64_t unique_id);

/* The bus and domain of the board_index-th board of a model in a generated
 * machine (past the model's bus list, further PCI domains are used). */
void vtree_model_board_address(const vtree_model *m, uint32_t board_index, uint32_t *domain,
                               uint32_t *bus);

/* A well-mixed nonzero 64-bit id from the given inputs (unique_id, hive_id). */
uint64_t vtree_make_id(const char *tag, uint64_t a, uint64_t b);

/* Gives node index a gpu_id no other node has (the kernel's rule: a 16-bit
 * hash, 0 taken as 1, incremented past collisions) and the lowest free DRM
 * render minor from 128 unless its own is free. */
void vtree_assign_gpu_id(vtree_tree *t, uint32_t index);
void vtree_assign_render_minor(vtree_tree *t, uint32_t index);

/* Adds a link from a to b (io_links), with the given type and weight. */
void vtree_add_link(vtree_tree *t, uint32_t a, uint32_t b, uint64_t type, uint64_t weight,
                    uint64_t bandwidth);

#endif
