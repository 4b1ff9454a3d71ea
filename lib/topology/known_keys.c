#include "known_keys.h"

#include <string.h>

/* Sorted (strcmp order) for binary search.  Node keys (all 39 seen in real
 * captures), mem bank, link, cache and system_properties keys. */
static const char *const known[] = {
    "array_count",
    "association",
    "cache_line_size",
    "cache_lines_per_tag",
    "caches_count",
    "capability",
    "capability2",
    "cpu_core_id_base",
    "cpu_cores_count",
    "cu_per_simd_array",
    "debug_prop",
    "device_id",
    "domain",
    "drm_render_minor",
    "flags",
    "fw_version",
    "gds_size_in_kb",
    "gfx_target_version",
    "heap_type",
    "hive_id",
    "io_links_count",
    "latency",
    "lds_size_in_kb",
    "level",
    "local_mem_size",
    "location_id",
    "max_bandwidth",
    "max_engine_clk_ccompute",
    "max_engine_clk_fcompute",
    "max_latency",
    "max_slots_scratch_cu",
    "max_waves_per_simd",
    "mem_banks_count",
    "mem_clk_max",
    "min_bandwidth",
    "min_latency",
    "node_from",
    "node_to",
    "num_cp_queues",
    "num_gws",
    "num_sdma_engines",
    "num_sdma_queues_per_engine",
    "num_sdma_xgmi_engines",
    "num_xcc",
    "p2p_links_count",
    "platform_id",
    "platform_oem",
    "platform_rev",
    "processor_id_low",
    "recommended_sdma_engine_id_mask",
    "recommended_transfer_size",
    "sdma_fw_version",
    "simd_arrays_per_engine",
    "simd_count",
    "simd_id_base",
    "simd_per_cu",
    "size",
    "size_in_bytes",
    "type",
    "unique_id",
    "vendor_id",
    "version_major",
    "version_minor",
    "wave_front_size",
    "weight",
    "width",
};

_Static_assert(sizeof known / sizeof known[0] <= TOPO_KNOWN_KEYS_MAX, "grow TOPO_KNOWN_KEYS_MAX");

enum { N_KNOWN = sizeof known / sizeof known[0] };

int topo_known_key_index(const char *key, size_t len)
{
    int lo = 0, hi = N_KNOWN;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        int c = strncmp(known[mid], key, len);
        if (c == 0 && known[mid][len] != '\0')
            c = 1;
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const char *topo_known_key(int index)
{
    return known[index];
}
