#include "known_keys.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

/* Node keys (all 39 seen in real
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

enum { N_KNOWN = sizeof known / sizeof known[0], SLOTS = 512 };

/* An open-addressing table from key to index, filled once: a rescan looks up
 * ~50,000 keys, and a binary search of strcmp calls cost a tenth of it. */
static signed char slot_index[SLOTS];
static unsigned char slot_len[SLOTS];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static unsigned hash_key(const char *key, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 16777619u;
    return h & (SLOTS - 1);
}

static void build_table(void)
{
    memset(slot_index, -1, sizeof slot_index);
    for (int i = 0; i < N_KNOWN; i++) {
        size_t len = strlen(known[i]);
        unsigned h = hash_key(known[i], len);
        while (slot_index[h] >= 0)
            h = (h + 1) & (SLOTS - 1);
        slot_index[h] = (signed char)i;
        slot_len[h] = (unsigned char)len;
    }
}

int topo_known_key_index(const char *key, size_t len)
{
    pthread_once(&table_once, build_table);
    for (unsigned h = hash_key(key, len);; h = (h + 1) & (SLOTS - 1)) {
        int i = slot_index[h];
        if (i < 0)
            return -1;
        if (slot_len[h] == len && memcmp(known[i], key, len) == 0)
            return i;
    }
}

const char *topo_known_key(int index)
{
    return known[index];
}
