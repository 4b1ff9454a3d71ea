/* What rochp derives from raw node properties: kind, PCI address, gfx target,
 * VRAM, and the grouping of partitions into boards. */
#include <stdio.h>
#include <stdlib.h>

#include "snapshot.h"

enum { HEAP_TYPE_FB_PUBLIC = 1, HEAP_TYPE_FB_PRIVATE = 2 };

const char *topo_kind_name(topo_kind kind)
{
    switch (kind) {
    case TOPO_KIND_CPU: return "cpu";
    case TOPO_KIND_GPU: return "gpu";
    case TOPO_KIND_APU: return "apu";
    case TOPO_KIND_UNKNOWN: break;
    }
    return "unknown";
}

static bool is_gpu(const topo_node *n)
{
    return n->kind == TOPO_KIND_GPU || n->kind == TOPO_KIND_APU;
}

/* VRAM is what the kernel reports in frame-buffer mem banks; local_mem_size
 * has been printed as 0 since the mem banks carried it, so it only counts
 * when a tree has no mem_banks at all. */
static uint64_t vram_of(const topo_node *n)
{
    if (n->n_mem_banks == 0)
        return topo_props_get_or(&n->props, "local_mem_size", 0);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < n->n_mem_banks; i++) {
        const topo_props *b = &n->mem_banks[i].props;
        uint64_t heap = topo_props_get_or(b, "heap_type", UINT64_MAX);
        if (heap != HEAP_TYPE_FB_PUBLIC && heap != HEAP_TYPE_FB_PRIVATE)
            continue;
        uint64_t size = topo_props_get_or(b, "size_in_bytes", 0);
        sum = size > UINT64_MAX - sum ? UINT64_MAX : sum + size;
    }
    return sum;
}

static rochp_status derive_node(topo_node *n, const char *root, rochp__error *err)
{
    n->group = -1;
    if (!(n->has & TOPO_HAS_PROPERTIES)) {
        /* A partial capture may hold only mem_banks: report the VRAM they show. */
        n->vram_bytes = vram_of(n);
        return ROCHP_OK;
    }
    const topo_props *p = &n->props;
    n->cpu_cores = topo_props_get_or(p, "cpu_cores_count", 0);
    n->simd_count = topo_props_get_or(p, "simd_count", 0);
    if (n->simd_count && n->cpu_cores)
        n->kind = TOPO_KIND_APU;
    else if (n->simd_count)
        n->kind = TOPO_KIND_GPU;
    else
        n->kind = TOPO_KIND_CPU;

    n->vendor_id = topo_props_get_or(p, "vendor_id", 0);
    n->device_id = topo_props_get_or(p, "device_id", 0);
    if (topo_props_get(p, "unique_id", &n->unique_id))
        n->has |= TOPO_HAS_UNIQUE_ID;
    if (topo_props_get(p, "hive_id", &n->hive_id))
        n->has |= TOPO_HAS_HIVE_ID;
    if (topo_props_get(p, "drm_render_minor", &n->drm_render_minor))
        n->has |= TOPO_HAS_RENDER_MINOR;

    uint64_t location, domain = topo_props_get_or(p, "domain", 0);
    if (topo_props_get(p, "location_id", &location)) {
        if (location > 0xffff)
            return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                              "%s/topology/nodes/%u/properties: location_id %llu is not a 16-bit "
                              "PCI bus/device/function",
                              root, n->index, (unsigned long long)location);
        if (domain > 0xffffffffu)
            return rochp__fail(err, ROCHP_ERROR_MALFORMED,
                              "%s/topology/nodes/%u/properties: domain %llu is not a 32-bit PCI "
                              "domain",
                              root, n->index, (unsigned long long)domain);
        n->has |= TOPO_HAS_LOCATION;
        n->location_id = (uint32_t)location;
        n->domain = (uint32_t)domain;
    }
    if (!is_gpu(n))
        return ROCHP_OK;
    if (n->has & TOPO_HAS_LOCATION)
        snprintf(n->pci, sizeof n->pci, "%04x:%02x:%02x.%x", n->domain, n->location_id >> 8,
                 (n->location_id >> 3) & 0x1f, n->location_id & 7);
    uint64_t version = topo_props_get_or(p, "gfx_target_version", 0);
    if (topo_gfx_name_from_version(version, n->gfx_target) ||
        (version == 0 && topo_gfx_name_from_device_id(n->device_id, n->gfx_target)))
        n->has |= TOPO_HAS_GFX_TARGET;
    n->vram_bytes = vram_of(n);
    return ROCHP_OK;
}

rochp_status topo_snapshot_derive(topo_snapshot *snap, const char *root, rochp__error *err)
{
    uint32_t gpus = 0;
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        rochp_status st = derive_node(&snap->nodes[i], root, err);
        if (st != ROCHP_OK)
            return st;
        gpus += is_gpu(&snap->nodes[i]);
    }
    if (gpus == 0)
        return ROCHP_OK;
    /* Worst case every GPU is a board of its own. */
    snap->groups = rochp__arena_alloc(&snap->arena, gpus * sizeof *snap->groups);
    uint32_t *members = rochp__arena_alloc(&snap->arena, gpus * sizeof *members);
    if (!snap->groups || !members)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    /* Members of group g occupy a contiguous run of `members`: count, then place. */
    uint32_t *count = calloc(gpus, sizeof *count);
    if (!count)
        return rochp__fail(err, ROCHP_ERROR_OUT_OF_MEMORY, "out of memory");
    uint32_t n_groups = 0;
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        topo_node *n = &snap->nodes[i];
        if (!is_gpu(n))
            continue;
        int32_t g = -1;
        if (n->unique_id != 0)
            for (uint32_t k = 0; k < n_groups && g < 0; k++)
                if (snap->groups[k].unique_id == n->unique_id)
                    g = (int32_t)k;
        if (g < 0) {
            g = (int32_t)n_groups++;
            snap->groups[g].unique_id = n->unique_id;
        }
        n->group = g;
        count[g]++;
    }
    uint32_t offset = 0;
    for (uint32_t g = 0; g < n_groups; g++) {
        snap->groups[g].nodes = members + offset;
        offset += count[g];
    }
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        topo_group *grp = snap->nodes[i].group >= 0 ? &snap->groups[snap->nodes[i].group] : NULL;
        if (grp)
            grp->nodes[grp->n_nodes++] = i;
    }
    free(count);
    snap->n_groups = n_groups;
    return ROCHP_OK;
}
