#include "print.h"

#include <inttypes.h>

#include "common/json.h"

static void json_u64_or_null(FILE *out, bool present, uint64_t v)
{
    if (present)
        fprintf(out, "%" PRIu64, v);
    else
        fputs("null", out);
}

static void json_id_or_null(FILE *out, bool present, uint64_t v)
{
    if (present)
        rochp__json_u64_string(out, v);
    else
        fputs("null", out);
}

static void json_str_or_null(FILE *out, const char *s)
{
    if (*s)
        rochp__json_string(out, s);
    else
        fputs("null", out);
}

static void print_node_json(FILE *out, const topo_node *n)
{
    bool props = n->has & TOPO_HAS_PROPERTIES;
    fprintf(out, "{\"node\":%u,\"kind\":", n->index);
    if (props)
        rochp__json_string(out, topo_kind_name(n->kind));
    else
        fputs("null", out);
    fputs(",\"gpu_id\":", out);
    json_u64_or_null(out, n->has & TOPO_HAS_GPU_ID, n->gpu_id);
    fputs(",\"name\":", out);
    if (n->has & TOPO_HAS_NAME)
        rochp__json_string(out, n->name);
    else
        fputs("null", out);
    fputs(",\"pci\":", out);
    json_str_or_null(out, n->pci);
    fputs(",\"unique_id\":", out);
    json_id_or_null(out, n->has & TOPO_HAS_UNIQUE_ID, n->unique_id);
    fputs(",\"vendor_id\":", out);
    json_u64_or_null(out, props, n->vendor_id);
    fputs(",\"device_id\":", out);
    json_u64_or_null(out, props, n->device_id);
    fputs(",\"gfx_target\":", out);
    json_str_or_null(out, n->gfx_target);
    fputs(",\"simd_count\":", out);
    json_u64_or_null(out, props, n->simd_count);
    fputs(",\"cpu_cores\":", out);
    json_u64_or_null(out, props, n->cpu_cores);
    fputs(",\"vram_bytes\":", out);
    json_u64_or_null(out, props || n->n_mem_banks, n->vram_bytes);
    fputs(",\"drm_render_minor\":", out);
    json_u64_or_null(out, n->has & TOPO_HAS_RENDER_MINOR, n->drm_render_minor);
    fputs(",\"hive_id\":", out);
    json_id_or_null(out, n->has & TOPO_HAS_HIVE_ID, n->hive_id);
    fprintf(out, ",\"partition_group\":%d", n->group);
    fprintf(out, ",\"mem_banks\":%u,\"io_links\":%u,\"p2p_links\":%u,\"caches\":%u}",
            n->n_mem_banks, n->n_io_links, n->n_p2p_links, n->n_caches);
}

void topo_print_json(FILE *out, const topo_snapshot *snap)
{
    fputs("{\"generation\":", out);
    json_u64_or_null(out, snap->has_generation, snap->generation);
    fputs(",\"nodes\":[", out);
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        if (i)
            fputc(',', out);
        print_node_json(out, &snap->nodes[i]);
    }
    fputs("],\"partition_groups\":[", out);
    for (uint32_t g = 0; g < snap->n_groups; g++) {
        const topo_group *grp = &snap->groups[g];
        fprintf(out, "%s{\"group\":%u,\"unique_id\":", g ? "," : "", g);
        json_id_or_null(out, grp->unique_id != 0, grp->unique_id);
        fputs(",\"nodes\":[", out);
        for (uint32_t k = 0; k < grp->n_nodes; k++)
            fprintf(out, "%s%u", k ? "," : "", snap->nodes[grp->nodes[k]].index);
        fputs("]}", out);
    }
    fputs("]}\n", out);
}

static void print_size(FILE *out, uint64_t bytes)
{
    if (bytes == 0)
        fprintf(out, "%-10s", "-");
    else if (bytes >= (1ull << 30))
        fprintf(out, "%-10.1f", (double)bytes / (double)(1ull << 30));
    else
        fprintf(out, "%-10.3f", (double)bytes / (double)(1ull << 30));
}

void topo_print_text(FILE *out, const topo_snapshot *snap, const char *root)
{
    fprintf(out, "KFD topology at %s/topology", root);
    if (snap->has_generation)
        fprintf(out, " (generation %" PRIu64 ")", snap->generation);
    fprintf(out, ": %u nodes, %u GPU boards\n", snap->n_nodes, snap->n_groups);
    fprintf(out, "%-5s %-5s %-13s %-8s %-10s %-6s %-21s %s\n", "node", "kind", "pci", "gfx",
            "vram_gib", "board", "unique_id", "name");
    for (uint32_t i = 0; i < snap->n_nodes; i++) {
        const topo_node *n = &snap->nodes[i];
        fprintf(out, "%-5u %-5s %-13s %-8s ", n->index,
                (n->has & TOPO_HAS_PROPERTIES) ? topo_kind_name(n->kind) : "?",
                *n->pci ? n->pci : "-", *n->gfx_target ? n->gfx_target : "-");
        print_size(out, n->vram_bytes);
        if (n->group >= 0)
            fprintf(out, " %-6d", n->group);
        else
            fprintf(out, " %-6s", "-");
        if (n->has & TOPO_HAS_UNIQUE_ID)
            fprintf(out, " %-21" PRIu64, n->unique_id);
        else
            fprintf(out, " %-21s", "-");
        if (n->kind == TOPO_KIND_CPU)
            fprintf(out, " %" PRIu64 " cores\n", n->cpu_cores);
        else
            fprintf(out, " %s\n", (n->has & TOPO_HAS_NAME) && *n->name ? n->name : "-");
    }
}

void topo_print_diff(FILE *out, const topo_diff *diff)
{
    for (uint32_t i = 0; i < diff->count; i++) {
        const topo_change *c = &diff->changes[i];
        fprintf(out, "%-8s %s node %u unique_id %" PRIu64 "\n", topo_change_kind_name(c->kind),
                c->pci, c->node, c->unique_id);
    }
}
