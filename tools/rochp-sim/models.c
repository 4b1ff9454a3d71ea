#include "models.h"

#include <stdlib.h>
#include <string.h>

/* Kernel print order of node properties (kfd_topology.c node_show). */

static const vtree_cache mi300x_caches[] = {{1, 32, 9}, {1, 64, 10}, {2, 4096, 9}, {3, 262144, 9}};
static const vtree_cache mi210_caches[] = {{1, 16, 9}, {1, 64, 10}, {2, 8192, 9}};
static const vtree_cache mi100_caches[] = {{1, 16, 9}, {1, 64, 10}, {2, 8192, 9}};
static const vtree_cache navi31_caches[] = {{1, 32, 9}, {1, 64, 10}, {2, 6144, 9}, {3, 98304, 9}};

/* Buses seen in the captures (k8s-mi300x-cpx, k8s-mi210-8gpu-xgmi,
 * mi100-rocmi-testmock, rx7900xtx-desktop-shisuko) or, past those, typical. */
static const uint8_t mi300x_buses[] = {0x05, 0x27, 0x47, 0x65, 0x85, 0xa7, 0xc7, 0xe5};
static const uint8_t mi210_buses[] = {0x63, 0x43, 0x03, 0x26, 0xe3, 0xc3, 0x83, 0xa3};
static const uint8_t mi100_buses[] = {0x23, 0x03, 0x43, 0x63, 0x83, 0xa3, 0xc3, 0xe3};
static const uint8_t navi31_buses[] = {0x03, 0x0b, 0x13, 0x23, 0x2b, 0x33, 0x43, 0x4b};

#define N(a) (uint32_t)(sizeof(a) / sizeof((a)[0]))

static const vtree_model models[] = {
    {
        .name = "mi100", .product = "AMD Instinct MI100", .kfd_name = "arcturus",
        .max_partitions = 1, .simd_count = 480, .array_count = 8, .num_xcc = 1,
        .vram_bytes = 34359738368ull, .gfx_target_version = 90008, .device_id = 0x738c,
        .max_waves_per_simd = 10, .wave_front_size = 64, .simd_arrays_per_engine = 1,
        .cu_per_simd_array = 16, .simd_per_cu = 4, .num_sdma_engines = 2,
        .num_sdma_xgmi_engines = 6, .num_sdma_queues_per_engine = 8, .num_cp_queues = 24,
        .max_engine_clk_fcompute = 1502, .fw_version = 65, .capability = 749970048,
        .debug_prop = 1494, .sdma_fw_version = 18, .mem_width = 4096, .mem_clk_max = 1200,
        .caches = mi100_caches, .n_caches = N(mi100_caches), .buses = mi100_buses,
        .n_buses = N(mi100_buses), .cpu_sockets = 2, .cpu_cores = 64, .cpu_clk_mhz = 2000,
        .cpu_mem_bytes = 540881408000ull, .xgmi = 1, .pcie_max_bandwidth = 32000,
        .xgmi_bandwidth = 23000,
    },
    {
        .name = "mi210", .product = "AMD Instinct MI210", .kfd_name = "aldebaran",
        .max_partitions = 1, .simd_count = 416, .array_count = 8, .num_xcc = 1,
        .vram_bytes = 68719476736ull, .gfx_target_version = 90010, .device_id = 0x740f,
        .max_waves_per_simd = 8, .wave_front_size = 64, .simd_arrays_per_engine = 1,
        .cu_per_simd_array = 14, .simd_per_cu = 4, .num_sdma_engines = 2,
        .num_sdma_xgmi_engines = 3, .num_sdma_queues_per_engine = 8, .num_cp_queues = 24,
        .max_engine_clk_fcompute = 1700, .fw_version = 92, .capability = 746037888,
        .debug_prop = 470, .sdma_fw_version = 9, .mem_width = 4096, .mem_clk_max = 1600,
        .caches = mi210_caches, .n_caches = N(mi210_caches), .buses = mi210_buses,
        .n_buses = N(mi210_buses), .cpu_sockets = 2, .cpu_cores = 64, .cpu_clk_mhz = 2450,
        .cpu_mem_bytes = 540881408000ull, .xgmi = 1, .pcie_max_bandwidth = 32000,
        .xgmi_bandwidth = 50000,
    },
    {
        .name = "mi300x", .product = "AMD Instinct MI300X", .kfd_name = "ip discovery",
        .max_partitions = 8, .simd_count = 1216, .array_count = 32, .num_xcc = 8,
        .vram_bytes = 206141652992ull, .gfx_target_version = 90402, .device_id = 0x74a1,
        .max_waves_per_simd = 8, .wave_front_size = 64, .simd_arrays_per_engine = 1,
        .cu_per_simd_array = 10, .simd_per_cu = 4, .num_sdma_engines = 2,
        .num_sdma_xgmi_engines = 0, .num_sdma_queues_per_engine = 8, .num_cp_queues = 24,
        .max_engine_clk_fcompute = 2100, .fw_version = 177, .capability = 2893521536ull,
        .debug_prop = 1511, .sdma_fw_version = 24, .mem_width = 8192, .mem_clk_max = 1300,
        .caches = mi300x_caches, .n_caches = N(mi300x_caches), .buses = mi300x_buses,
        .n_buses = N(mi300x_buses), .cpu_sockets = 2, .cpu_cores = 96, .cpu_clk_mhz = 2750,
        .cpu_mem_bytes = 1081864880128ull, .xgmi = 1, .pcie_max_bandwidth = 64000,
        .xgmi_bandwidth = 64000,
    },
    {
        .name = "rx7900xtx", .product = "AMD Radeon RX 7900 XTX", .kfd_name = "ip discovery",
        .max_partitions = 1, .simd_count = 192, .array_count = 12, .num_xcc = 1,
        .vram_bytes = 25769803776ull, .gfx_target_version = 110000, .device_id = 0x744c,
        .max_waves_per_simd = 16, .wave_front_size = 32, .simd_arrays_per_engine = 2,
        .cu_per_simd_array = 8, .simd_per_cu = 2, .num_sdma_engines = 2,
        .num_sdma_xgmi_engines = 0, .num_sdma_queues_per_engine = 6, .num_cp_queues = 8,
        .max_engine_clk_fcompute = 2482, .fw_version = 2150, .capability = 671588992,
        .debug_prop = 1495, .sdma_fw_version = 21, .mem_width = 384, .mem_clk_max = 1250,
        .caches = navi31_caches, .n_caches = N(navi31_caches), .buses = navi31_buses,
        .n_buses = N(navi31_buses), .cpu_sockets = 1, .cpu_cores = 16, .cpu_clk_mhz = 5083,
        .cpu_mem_bytes = 67108864000ull, .xgmi = 0, .pcie_max_bandwidth = 32000,
        .xgmi_bandwidth = 0,
    },
};

const vtree_model *vtree_model_find(const char *name)
{
    for (uint32_t i = 0; i < N(models); i++)
        if (strcmp(models[i].name, name) == 0)
            return &models[i];
    return NULL;
}

const char *vtree_model_names(void)
{
    return "mi100, mi210, mi300x, rx7900xtx";
}

uint64_t vtree_make_id(const char *tag, uint64_t a, uint64_t b)
{
    /* FNV-1a over the tag, then splitmix64 finalisation of the mix. */
    uint64_t h = 1469598103934665603ull;
    for (const char *p = tag; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    uint64_t z = h ^ (a * 0x9e3779b97f4a7c15ull) ^ (b + 0x632be59bd9b4e019ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return z ? z : 1;
}

void vtree_model_board_address(const vtree_model *m, uint32_t board_index, uint32_t *domain,
                               uint32_t *bus)
{
    *domain = board_index / m->n_buses;
    *bus = m->buses[board_index % m->n_buses];
}

void vtree_add_link(vtree_tree *t, uint32_t a, uint32_t b, uint64_t type, uint64_t weight,
                    uint64_t bandwidth)
{
    vtree_props *l = vtree_node_add_io_link(t, &t->nodes[a]);
    if (!l)
        return;
    /* Key order of a current kernel's io_links/N/properties. */
    vtree_props_set(t, l, "type", type);
    vtree_props_set(t, l, "version_major", 0);
    vtree_props_set(t, l, "version_minor", 0);
    vtree_props_set(t, l, "node_from", a);
    vtree_props_set(t, l, "node_to", b);
    vtree_props_set(t, l, "weight", weight);
    vtree_props_set(t, l, "min_latency", 0);
    vtree_props_set(t, l, "max_latency", 0);
    vtree_props_set(t, l, "min_bandwidth", type == 11 ? bandwidth : 0);
    vtree_props_set(t, l, "max_bandwidth", bandwidth);
    vtree_props_set(t, l, "recommended_transfer_size", 0);
    vtree_props_set(t, l, "recommended_sdma_engine_id_mask", 0);
    vtree_props_set(t, l, "flags", 1);
    vtree_node_sync_counts(t, &t->nodes[a]);
}

enum { IOLINK_TYPE_CPU = 1, IOLINK_TYPE_PCIE = 2, IOLINK_TYPE_XGMI = 11 };

void vtree_model_add_cpus(vtree_tree *t, const vtree_model *m)
{
    uint32_t first = t->n;
    for (uint32_t s = 0; s < m->cpu_sockets; s++) {
        vtree_node *n = vtree_tree_add_node(t);
        if (!n)
            return;
        n->has_props = n->has_gpu_id = n->has_name = true;
        n->gpu_id = 0;
        n->name = strdup("");
        if (!n->name)
            t->failed = true;
        vtree_props *p = &n->props;
        vtree_props_set(t, p, "cpu_cores_count", m->cpu_cores);
        vtree_props_set(t, p, "simd_count", 0);
        vtree_props_set(t, p, "mem_banks_count", 1);
        vtree_props_set(t, p, "caches_count", 0);
        vtree_props_set(t, p, "io_links_count", 0);
        vtree_props_set(t, p, "p2p_links_count", 0);
        vtree_props_set(t, p, "cpu_core_id_base", (uint64_t)s * m->cpu_cores);
        static const char *const zero_keys[] = {
            "simd_id_base", "max_waves_per_simd", "lds_size_in_kb", "gds_size_in_kb", "num_gws",
            "wave_front_size", "array_count", "simd_arrays_per_engine", "cu_per_simd_array",
            "simd_per_cu", "max_slots_scratch_cu", "gfx_target_version", "vendor_id",
            "device_id", "location_id", "domain", "drm_render_minor", "hive_id",
            "num_sdma_engines", "num_sdma_xgmi_engines", "num_sdma_queues_per_engine",
            "num_cp_queues"};
        for (uint32_t k = 0; k < sizeof zero_keys / sizeof zero_keys[0]; k++)
            vtree_props_set(t, p, zero_keys[k], 0);
        vtree_props_set(t, p, "max_engine_clk_ccompute", m->cpu_clk_mhz);
        n->banks = calloc(1, sizeof *n->banks);
        if (!n->banks) {
            t->failed = true;
            return;
        }
        n->n_banks = 1;
        vtree_props_set(t, &n->banks[0].props, "heap_type", 0);
        vtree_props_set(t, &n->banks[0].props, "size_in_bytes", m->cpu_mem_bytes / m->cpu_sockets);
        vtree_props_set(t, &n->banks[0].props, "flags", 0);
        vtree_props_set(t, &n->banks[0].props, "width", 64);
        vtree_props_set(t, &n->banks[0].props, "mem_clk_max", 5600);
    }
    for (uint32_t a = first; a < t->n; a++)
        for (uint32_t b = first; b < t->n; b++)
            if (a != b)
                vtree_add_link(t, a, b, IOLINK_TYPE_CPU, 32, 0);
}

static uint32_t cpu_for_board(const vtree_tree *t, uint32_t bus)
{
    /* Boards on the lower half of the bus range hang off socket 0. */
    uint32_t cpus = 0;
    for (uint32_t i = 0; i < t->n && !vtree_node_is_gpu(&t->nodes[i]); i++)
        cpus +=
            t->nodes[i].has_props && vtree_props_get_or(&t->nodes[i].props, "cpu_cores_count", 0);
    if (cpus == 0)
        return UINT32_MAX;
    return bus * cpus / 256;
}

void vtree_assign_gpu_id(vtree_tree *t, uint32_t index)
{
    vtree_node *n = &t->nodes[index];
    uint64_t id = n->has_gpu_id && n->gpu_id
                      ? n->gpu_id
                      : (vtree_make_id("gpu_id", vtree_node_identity(n),
                                       vtree_props_get_or(&n->props, "device_id", 0)) &
                         0xffff);
    if (id == 0)
        id = 1;
    for (bool clash = true; clash;) {
        clash = false;
        for (uint32_t i = 0; i < t->n; i++)
            if (i != index && t->nodes[i].has_gpu_id && t->nodes[i].gpu_id == id)
                clash = true;
        if (clash)
            id = (id + 1) & 0xffff ? (id + 1) & 0xffff : 1;
    }
    n->gpu_id = id;
    n->has_gpu_id = true;
}

static bool minor_taken(const vtree_tree *t, uint32_t index, uint64_t minor)
{
    for (uint32_t i = 0; i < t->n; i++)
        if (i != index && vtree_node_is_gpu(&t->nodes[i]) &&
            vtree_props_get_or(&t->nodes[i].props, "drm_render_minor", 0) == minor)
            return true;
    return false;
}

void vtree_assign_render_minor(vtree_tree *t, uint32_t index)
{
    uint64_t want;
    if (!vtree_props_get(&t->nodes[index].props, "drm_render_minor", &want))
        return; /* kernels that print no render minor */
    if (want >= 128 && !minor_taken(t, index, want))
        return;
    uint64_t minor = 128;
    while (minor_taken(t, index, minor))
        minor++;
    vtree_props_set(t, &t->nodes[index].props, "drm_render_minor", minor);
}

uint32_t vtree_model_add_board(vtree_tree *t, const vtree_model *m, uint32_t partitions,
                               uint32_t domain, uint32_t bus, uint64_t unique_id)
{
    uint32_t first = t->n;
    uint64_t hive = m->xgmi ? vtree_make_id("hive", m->device_id, 0) : 0;
    for (uint32_t part = 0; part < partitions; part++) {
        vtree_node *n = vtree_tree_add_node(t);
        if (!n)
            return first;
        n->has_props = n->has_name = n->has_gpu_id = true;
        n->name = strdup(m->kfd_name);
        if (!n->name)
            t->failed = true;
        vtree_props *p = &n->props;
        uint64_t xcc = m->num_xcc / partitions ? m->num_xcc / partitions : 1;
        vtree_props_set(t, p, "cpu_cores_count", 0);
        vtree_props_set(t, p, "simd_count", m->simd_count / partitions);
        vtree_props_set(t, p, "mem_banks_count", 1);
        vtree_props_set(t, p, "caches_count", m->n_caches);
        vtree_props_set(t, p, "io_links_count", 0);
        vtree_props_set(t, p, "p2p_links_count", 0);
        vtree_props_set(t, p, "cpu_core_id_base", 0);
        vtree_props_set(t, p, "simd_id_base", 2147487744ull + part * 320ull);
        vtree_props_set(t, p, "max_waves_per_simd", m->max_waves_per_simd);
        vtree_props_set(t, p, "lds_size_in_kb", 64);
        vtree_props_set(t, p, "gds_size_in_kb", 0);
        vtree_props_set(t, p, "num_gws", 64);
        vtree_props_set(t, p, "wave_front_size", m->wave_front_size);
        vtree_props_set(t, p, "array_count", m->array_count / partitions);
        vtree_props_set(t, p, "simd_arrays_per_engine", m->simd_arrays_per_engine);
        vtree_props_set(t, p, "cu_per_simd_array", m->cu_per_simd_array);
        vtree_props_set(t, p, "simd_per_cu", m->simd_per_cu);
        vtree_props_set(t, p, "max_slots_scratch_cu", 32);
        vtree_props_set(t, p, "gfx_target_version", m->gfx_target_version);
        vtree_props_set(t, p, "vendor_id", 0x1002);
        vtree_props_set(t, p, "device_id", m->device_id);
        /* Partitions are PCI functions of the board (MI300 CPX). */
        vtree_props_set(t, p, "location_id", (uint64_t)bus << 8 | part);
        vtree_props_set(t, p, "domain", domain);
        vtree_props_set(t, p, "drm_render_minor", 128);
        vtree_props_set(t, p, "hive_id", hive);
        vtree_props_set(t, p, "num_sdma_engines", m->num_sdma_engines);
        vtree_props_set(t, p, "num_sdma_xgmi_engines", m->num_sdma_xgmi_engines);
        vtree_props_set(t, p, "num_sdma_queues_per_engine", m->num_sdma_queues_per_engine);
        vtree_props_set(t, p, "num_cp_queues", m->num_cp_queues);
        vtree_props_set(t, p, "max_engine_clk_fcompute", m->max_engine_clk_fcompute);
        vtree_props_set(t, p, "local_mem_size", 0);
        vtree_props_set(t, p, "fw_version", m->fw_version);
        vtree_props_set(t, p, "capability", m->capability);
        vtree_props_set(t, p, "debug_prop", m->debug_prop);
        vtree_props_set(t, p, "sdma_fw_version", m->sdma_fw_version);
        vtree_props_set(t, p, "unique_id", unique_id);
        vtree_props_set(t, p, "num_xcc", xcc);
        vtree_props_set(t, p, "max_engine_clk_ccompute", m->cpu_clk_mhz);

        n->banks = calloc(1, sizeof *n->banks);
        if (!n->banks) {
            t->failed = true;
            return first;
        }
        n->n_banks = 1;
        vtree_props *b = &n->banks[0].props;
        vtree_props_set(t, b, "heap_type", 1); /* FB_PUBLIC: large-BAR boards */
        vtree_props_set(t, b, "size_in_bytes", m->vram_bytes / partitions);
        vtree_props_set(t, b, "flags", 0);
        vtree_props_set(t, b, "width", m->mem_width);
        vtree_props_set(t, b, "mem_clk_max", m->mem_clk_max);
        n->banks[0].has_used = true;
        n->banks[0].used = 0;

        n->caches = calloc(m->n_caches, sizeof *n->caches);
        if (!n->caches) {
            t->failed = true;
            return first;
        }
        n->n_caches = m->n_caches;
        for (uint32_t c = 0; c < m->n_caches; c++) {
            vtree_props *cp = &n->caches[c];
            vtree_props_set(t, cp, "processor_id_low", 2147487744ull + part * 320ull);
            vtree_props_set(t, cp, "level", m->caches[c].level);
            vtree_props_set(t, cp, "size", m->caches[c].size_kb);
            vtree_props_set(t, cp, "cache_line_size", m->caches[c].level == 1 ? 64 : 128);
            vtree_props_set(t, cp, "cache_lines_per_tag", 1);
            vtree_props_set(t, cp, "association", 16);
            vtree_props_set(t, cp, "latency", 0);
            vtree_props_set(t, cp, "type", m->caches[c].type);
        }
        uint32_t index = t->n - 1;
        vtree_assign_gpu_id(t, index);
        vtree_assign_render_minor(t, index);
    }
    /* Links both ways, as KFD's CRAT parsing adds reverse links to peers. */
    uint32_t cpu = cpu_for_board(t, bus);
    for (uint32_t i = first; i < t->n; i++) {
        if (cpu != UINT32_MAX) {
            vtree_add_link(t, i, cpu, IOLINK_TYPE_PCIE, 20, m->pcie_max_bandwidth);
            vtree_add_link(t, cpu, i, IOLINK_TYPE_PCIE, 20, m->pcie_max_bandwidth);
        }
        if (!m->xgmi)
            continue;
        for (uint32_t j = 0; j < t->n; j++) {
            if (j == i || !vtree_node_is_gpu(&t->nodes[j]) ||
                vtree_props_get_or(&t->nodes[j].props, "hive_id", 0) != hive)
                continue;
            vtree_add_link(t, i, j, IOLINK_TYPE_XGMI, 15, m->xgmi_bandwidth);
            if (j < first)
                vtree_add_link(t, j, i, IOLINK_TYPE_XGMI, 15, m->xgmi_bandwidth);
        }
    }
    return first;
}
