/* Host kernels for hsasim, the simulated HSA runtime.
 *
 * A "host code object" is an ELF shared object whose kernels are C functions.
 * The AQL kernel_object of a dispatch is the address of a kernel's
 * hsasim_kernel_object (the analogue of an AMDGPU kernel descriptor, found
 * by the symbol "<name>.kd" as on a GPU).  The packet processor calls the
 * function once per work-group; the function loops over the work-items it
 * wants (hsasim_for_each_item) or uses group-level ids only. */
#ifndef HSASIM_KERNEL_H
#define HSASIM_KERNEL_H

#include <stdint.h>

#define HSASIM_KERNEL_MAGIC 0x4f4b4d4953415348ull /* "HSASIMKO" */

/* What the processor gives a work-group. */
typedef struct hsasim_dispatch {
    uint32_t dimensions;       /* 1..3, from the AQL packet setup field */
    uint32_t grid_size[3];     /* in work-items */
    uint32_t workgroup_size[3];
    uint32_t group_id[3];      /* this work-group */
    uint32_t group_count[3];   /* ceil(grid / workgroup) per dimension */
    void *group_segment;       /* group_segment_size bytes, zeroed, private to this group */
    void *private_segment;     /* private_segment_size bytes, per work-group call */
    const void *packet;        /* the hsa_kernel_dispatch_packet_t being run */
} hsasim_dispatch;

typedef void (*hsasim_kernel_fn)(const void *kernarg, const hsasim_dispatch *d);

typedef struct hsasim_kernel_object {
    uint64_t magic; /* HSASIM_KERNEL_MAGIC: anything else is not a kernel */
    hsasim_kernel_fn fn;
    const char *name;
    uint32_t kernarg_size, kernarg_align;
    uint32_t group_segment_size, private_segment_size;
} hsasim_kernel_object;

/* Size of this work-group in dimension dim (the last group may be partial). */
static inline uint32_t hsasim_group_extent(const hsasim_dispatch *d, int dim)
{
    uint32_t start = d->group_id[dim] * d->workgroup_size[dim];
    uint32_t left = d->grid_size[dim] - start;
    return left < d->workgroup_size[dim] ? left : d->workgroup_size[dim];
}

/* Iterates the work-items of the group: x, y, z are global ids. */
#define hsasim_for_each_item(d, x, y, z)                                                         \
    for (uint32_t z = (d)->group_id[2] * (d)->workgroup_size[2];                                 \
         z < (d)->group_id[2] * (d)->workgroup_size[2] + hsasim_group_extent((d), 2); z++)       \
        for (uint32_t y = (d)->group_id[1] * (d)->workgroup_size[1];                             \
             y < (d)->group_id[1] * (d)->workgroup_size[1] + hsasim_group_extent((d), 1); y++)   \
            for (uint32_t x = (d)->group_id[0] * (d)->workgroup_size[0];                         \
                 x < (d)->group_id[0] * (d)->workgroup_size[0] + hsasim_group_extent((d), 0);    \
                 x++)

#endif
