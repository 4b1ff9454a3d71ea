/* gfx target names: from the kernel's gfx_target_version, or for kernels that
 * predate it (< 5.x) from the device-id table libhsakmt carries
 * (gfxip_lookup_table in ROCT src/topology.c; rows restated as ranges). */
#include <stdio.h>

#include "snapshot.h"

bool topo_gfx_name_from_version(uint64_t version, char out[16])
{
    uint64_t major = version / 10000, minor = (version / 100) % 100, step = version % 100;
    if (version == 0 || major > 99 || minor > 15 || step > 15)
        return false;
    snprintf(out, 16, "gfx%u%x%x", (unsigned)major, (unsigned)minor, (unsigned)step);
    return true;
}

typedef struct gfx_range {
    uint16_t first, last;
    uint8_t major, minor, step;
} gfx_range;

static const gfx_range device_table[] = {
    {0x1304, 0x131D, 7, 0, 0},  /* Kaveri (Spectre/Spooky) */
    {0x67A0, 0x67BE, 7, 0, 1},  /* Hawaii */
    {0x9870, 0x9877, 8, 0, 1},  /* Carrizo / Bristol Ridge */
    {0x6920, 0x6939, 8, 0, 2},  /* Tonga */
    {0x7300, 0x730F, 8, 0, 3},  /* Fiji */
    {0x67C0, 0x67FF, 8, 0, 3},  /* Polaris10/11 */
    {0x6980, 0x699F, 8, 0, 3},  /* Polaris12 */
    {0x694C, 0x694F, 8, 0, 3},  /* VegaM */
    {0x6860, 0x687F, 9, 0, 0},  /* Vega10 */
    {0x69A0, 0x69AF, 9, 0, 4},  /* Vega12 */
    {0x15D8, 0x15D8, 9, 0, 2},  /* Raven/Picasso */
    {0x15DD, 0x15DD, 9, 0, 2},  /* Raven */
    {0x66A0, 0x66AF, 9, 0, 6},  /* Vega20 */
    {0x7388, 0x7388, 9, 0, 8},  /* Arcturus (MI100) */
    {0x738C, 0x738C, 9, 0, 8},
    {0x738E, 0x738E, 9, 0, 8},
    {0x7390, 0x7390, 9, 0, 8},
    {0x7408, 0x7408, 9, 0, 10}, /* Aldebaran (MI200) */
    {0x740C, 0x740C, 9, 0, 10},
    {0x740F, 0x7410, 9, 0, 10},
    {0x15E7, 0x15E7, 9, 0, 12}, /* Renoir */
    {0x1636, 0x1636, 9, 0, 12},
    {0x1638, 0x1638, 9, 0, 12},
    {0x164C, 0x164C, 9, 0, 12},
    {0x7310, 0x731F, 10, 1, 0}, /* Navi10 */
    {0x7360, 0x7360, 10, 1, 1}, /* Navi12 */
    {0x7362, 0x7362, 10, 1, 1},
    {0x7340, 0x7341, 10, 1, 2}, /* Navi14 */
    {0x7347, 0x7347, 10, 1, 2},
    {0x73A0, 0x73BF, 10, 3, 0}, /* Sienna Cichlid */
    {0x73C0, 0x73DF, 10, 3, 1}, /* Navy Flounder */
    {0x73E0, 0x73FF, 10, 3, 2}, /* Dimgrey Cavefish */
    {0x163F, 0x163F, 10, 3, 3}, /* Van Gogh */
    {0x7420, 0x743F, 10, 3, 4}, /* Beige Goby */
    {0x164D, 0x164D, 10, 3, 5}, /* Yellow Carp */
    {0x1681, 0x1681, 10, 3, 5},
};

bool topo_gfx_name_from_device_id(uint64_t device_id, char out[16])
{
    for (size_t i = 0; i < sizeof device_table / sizeof device_table[0]; i++) {
        const gfx_range *r = &device_table[i];
        if (device_id >= r->first && device_id <= r->last)
            return topo_gfx_name_from_version(r->major * 10000u + r->minor * 100u + r->step, out);
    }
    return false;
}
