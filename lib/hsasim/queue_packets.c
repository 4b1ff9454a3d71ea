/* hsasim queues: packet validation, as the CP and the waves meet a packet.
 *
 * What a dispatch may touch (checked before the kernel runs, as strictly as
 * a GPU without XNACK would fault; the rules of each kind of memory are in
 * memory.c, host_lock.c and code_index.c):
 *  - kernel_object must be the descriptor of a kernel of an executable
 *    loaded for this queue's agent and frozen.  Another agent's kernel
 *    object, a static struct, any address the agent's page tables do not
 *    map: the CP's fetch of the descriptor faults (a VM fault:
 *    queue_processor.c).  An address they do map that holds no kernel
 *    (inside a code object, an allocation of the agent, the descriptor of an
 *    executable not yet frozen, whose contents ROCR copies in at freeze):
 *    the waves run garbage, HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION to the
 *    queue's callback, no VM fault, the device stays usable.  kernel_object
 *    0: HSA_STATUS_ERROR_INVALID_CODE_OBJECT (the CP's own check).
 *  - The kernarg segment, kernarg_address for the kernel's kernarg segment
 *    size, must be mapped for the agent (the first byte that is not is the
 *    fault address).
 *  - Every global_buffer argument of the kernel's metadata note that is not
 *    NULL must point into memory mapped for the agent (where it points, not
 *    how far the kernel reads: the note does not say).
 *  - Mapped for the agent: its own pools' allocations; another pool's
 *    allocation once hsa_amd_agents_allow_access named the agent (system
 *    memory from hsa_memory_allocate is mapped to every GPU from the start);
 *    host memory locked with hsa_amd_memory_lock(_to_pool) for any GPU
 *    (libhsakmt maps userptrs to all GPUs); the segments of code objects
 *    loaded for the agent.  Never: plain host memory (malloc, stack,
 *    statics), memory freed or unlocked, memory of a GPU that has left.
 * A kernel without a metadata note is only checked for its descriptor and
 * kernarg segment.  The answers are cached per queue (four ranges and the
 * last kernel) while the memory and code generations stand still, so the
 * checks cost a few loads per dispatch.
 *
 * Vendor-specific packets: AMD's barrier-value (hsa_ext_amd.h,
 * hsa_amd_barrier_value_packet_t, AmdFormat HSA_AMD_PACKET_TYPE_BARRIER_VALUE)
 * is supported; ROCR documents it for kernel dispatch queues of GPU agents
 * only, which every hsasim queue is.  It waits, like a barrier, until
 * (signal value & mask) cond value holds (signed; a 0 handle holds at once; a
 * destroyed signal is judged once on the value it kept), then decrements
 * its completion signal.  Masked conditions are re-evaluated at each change
 * of the signal.  Any other AmdFormat, or a condition past GTE, is
 * HSA_STATUS_ERROR_INVALID_PACKET_FORMAT; agent dispatches are too. */
#include <stdlib.h>
#include <string.h>

#include "queue_impl.h"

#define MAX_GROUP_SEGMENT 65536u    /* LDS per work-group */
#define MAX_WORKGROUP_ITEMS 1024u

/* --- what the queue's GPU may touch ------------------------------------------------------- */

/* Forgets what may no longer hold: once per packet, before gpu_maps. */
static void access_cache_revalidate(sim_queue *q)
{
    access_cache *c = &q->access;
    uint64_t mg = sim_memory_generation(), cg = sim_code_generation();
    if (c->memory_gen != mg || c->code_gen != cg) {
        c->memory_gen = mg;
        c->code_gen = cg;
        c->n = c->next = 0;
    }
}

/* Whether the agent's page tables map the byte at addr; *range: the whole
 * range that answer holds for. */
static bool gpu_maps(sim_queue *q, uintptr_t addr, sim_range *range)
{
    access_cache *c = &q->access;
    for (unsigned i = 0; i < c->n; i++)
        if (addr >= c->ranges[i].lo && addr < c->ranges[i].hi) {
            *range = c->ranges[i];
            return true;
        }
    if (!sim_memory_accessible(q->agent, addr, 1, range))
        return false;
    c->ranges[c->next] = *range;
    c->next = (c->next + 1) % ACCESS_CACHE;
    if (c->n < ACCESS_CACHE)
        c->n++;
    return true;
}

/* Whether all of [addr, addr + len) is mapped; if not, *bad is the first
 * byte that is not (the fault address). */
static bool gpu_maps_all(sim_queue *q, uintptr_t addr, size_t len, uintptr_t *bad)
{
    while (len) {
        sim_range r;
        if (!gpu_maps(q, addr, &r)) {
            *bad = addr;
            return false;
        }
        size_t n = r.hi - addr < len ? r.hi - addr : len;
        addr += n;
        len -= n;
    }
    return true;
}

/* The kernel at kernel_object for this queue's agent, in q->kernel. */
static sim_code_kind find_kernel(sim_queue *q, uint64_t kernel_object)
{
    uint64_t cg = sim_code_generation();
    if (q->kernel_object == kernel_object && q->kernel_gen == cg)
        return SIM_CODE_KERNEL;
    q->kernel_object = 0;
    sim_code_kind kind =
        sim_code_find_kernel(kernel_object, (uint64_t)(uintptr_t)q->agent, &q->kernel);
    if (kind == SIM_CODE_KERNEL) {
        q->kernel_object = kernel_object;
        q->kernel_gen = cg;
    }
    return kind;
}

/* A host kernel dereferences its pointer arguments itself: one that holds
 * the GPU address of locked host memory (host_lock.c) is given the host
 * address the GPU reaches there, in a copy of the segment (*out; the
 * packet's own stays as written).  false: no memory for the copy. */
static bool translate_pointers(sim_queue *q, const uint8_t *kernarg, const void **out)
{
    const sim_kernel_info *k = &q->kernel;
    uint8_t *copy = NULL;
    for (uint32_t i = 0; i < k->n_ptr_args; i++) {
        uint32_t off = k->ptr_args[i];
        uint64_t ptr;
        uintptr_t host;
        if (off > k->kernarg_size || k->kernarg_size - off < sizeof ptr)
            continue;
        memcpy(&ptr, kernarg + off, sizeof ptr);
        if (!ptr || !sim_host_lock_translate((uintptr_t)ptr, 1, &host))
            continue;
        if (!copy) {
            if (q->kernarg_cap < k->kernarg_size) {
                /* Aligned as a kernarg segment may need (a ulong4: 32). */
                size_t cap = (k->kernarg_size + 63) & ~(size_t)63;
                void *grown = aligned_alloc(64, cap);
                if (!grown)
                    return false;
                free(q->kernarg_copy);
                q->kernarg_copy = grown;
                q->kernarg_cap = cap;
            }
            copy = q->kernarg_copy;
            memcpy(copy, kernarg, k->kernarg_size);
            *out = copy;
        }
        ptr = host;
        memcpy(copy + off, &ptr, sizeof ptr);
    }
    return true;
}

/* --- packet validation ----------------------------------------------------------------- */
hsa_status_t sim_queue_check_dispatch(sim_queue *q, const hsa_kernel_dispatch_packet_t *p,
                                      dispatch_plan *plan, uint64_t *fault_at)
{
    uint32_t dims = (p->setup >> HSA_KERNEL_DISPATCH_PACKET_SETUP_DIMENSIONS) &
                    ((1u << HSA_KERNEL_DISPATCH_PACKET_SETUP_WIDTH_DIMENSIONS) - 1);
    if (dims < 1 || dims > 3)
        return HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS; /* EC_QUEUE_PACKET_DISPATCH_DIM_INVALID */
    uint32_t wg[3] = {p->workgroup_size_x, p->workgroup_size_y, p->workgroup_size_z};
    uint32_t grid[3] = {p->grid_size_x, p->grid_size_y, p->grid_size_z};
    uint64_t items = 1;
    for (uint32_t d = 0; d < 3; d++) {
        if (d >= dims) {
            wg[d] = 1;
            grid[d] = 1;
        }
        if (wg[d] == 0)
            return HSA_STATUS_ERROR_INVALID_ARGUMENT; /* ..._WORK_GROUP_SIZE_INVALID */
        items *= wg[d];
    }
    if (items > MAX_WORKGROUP_ITEMS)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (p->group_segment_size > MAX_GROUP_SEGMENT)
        return HSA_STATUS_ERROR_INVALID_ALLOCATION; /* ..._GROUP_SEGMENT_SIZE_INVALID */
    if (p->kernel_object == 0)
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT; /* EC_QUEUE_PACKET_DISPATCH_CODE_INVALID */
    const hsa_status_t vm_fault_status = (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION;
    sim_range r;
    access_cache_revalidate(q);
    sim_code_kind kind = find_kernel(q, p->kernel_object);
    if (kind != SIM_CODE_KERNEL) {
        /* Mapped (a 64-byte descriptor never straddles a page) but not a
         * kernel: the waves run whatever is there; unmapped: the CP's fetch
         * faults. */
        if (kind == SIM_CODE_MAPPED || gpu_maps(q, (uintptr_t)p->kernel_object, &r))
            return (hsa_status_t)HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION;
        *fault_at = p->kernel_object;
        return vm_fault_status;
    }
    const sim_kernel_info *k = &q->kernel;
    const uint8_t *kernarg = p->kernarg_address;
    uintptr_t bad;
    if (k->kernarg_size && !gpu_maps_all(q, (uintptr_t)kernarg, k->kernarg_size, &bad)) {
        *fault_at = bad;
        return vm_fault_status;
    }
    /* Pointer arguments, where they point (not how far the kernel goes from
     * there: the metadata does not say).  NULL is what a kernel gets for an
     * argument it does not use; dereferencing it would fault anyway. */
    for (uint32_t i = 0; i < k->n_ptr_args; i++) {
        uint32_t off = k->ptr_args[i];
        uint64_t ptr;
        if (off > k->kernarg_size || k->kernarg_size - off < sizeof ptr)
            continue; /* not within the segment: nothing of the packet's there */
        memcpy(&ptr, kernarg + off, sizeof ptr);
        if (ptr && !gpu_maps(q, (uintptr_t)ptr, &r)) {
            *fault_at = ptr;
            return vm_fault_status;
        }
    }
    plan->kernarg = kernarg;
    if (!translate_pointers(q, kernarg, &plan->kernarg))
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES; /* no room for the copy: as scratch */
    plan->fn = k->fn;
    plan->dims = dims;
    for (uint32_t d = 0; d < 3; d++) {
        plan->grid[d] = grid[d];
        plan->wg[d] = wg[d];
        plan->groups[d] = grid[d] / wg[d] + (grid[d] % wg[d] != 0);
    }
    return HSA_STATUS_SUCCESS;
}

hsa_status_t sim_queue_check_barrier_value(const hsa_kernel_dispatch_packet_t *p, value_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    memcpy(&plan->pkt, p, sizeof plan->pkt); /* another view of the same 64 bytes */
    if (plan->pkt.header.AmdFormat != HSA_AMD_PACKET_TYPE_BARRIER_VALUE ||
        plan->pkt.cond > HSA_SIGNAL_CONDITION_GTE)
        return HSA_STATUS_ERROR_INVALID_PACKET_FORMAT;
    return HSA_STATUS_SUCCESS;
}

sim_signal *sim_queue_packet_signal(hsa_signal_t h, hsa_status_t *err, bool *dead,
                                    hsa_signal_value_t *dead_value)
{
    *dead = false;
    if (h.handle == 0)
        return NULL;
    sim_signal *s = NULL;
    int r = sim_signal_acquire_any(h, &s, dead_value);
    if (r < 0)
        *err = (hsa_status_t)HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION;
    else if (r == 0)
        *dead = true;
    return r > 0 ? s : NULL;
}
