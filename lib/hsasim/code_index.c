/* hsasim: what the packet processors see of loaded code objects.
 *
 * A GPU reaches an agent code object's memory through its own page tables
 * only: ROCR 5.2.3 puts the segments of a code object loaded for a
 * base-profile (discrete) agent in that agent's local memory
 * (amd_loader_context.cpp LoaderContext::SegmentAlloc, RegionMemory::
 * AgentLocal), which MemoryRegion::AllocateImpl maps to the owning GPU
 * alone.  So a kernel object is a kernel only for the agent its code object
 * was loaded for; on any other GPU the CP's fetch of the descriptor is a VM
 * fault.  The segment is mapped from the load on, but its contents are
 * copied from a host staging buffer only at hsa_executable_freeze
 * (RegionMemory::Copy writes the staging copy, RegionMemory::Freeze DMAs it
 * over): before that the descriptor is readable memory without a kernel.
 *
 * Two indexes, both sorted by address and under sim_loader_lock: the kernel
 * descriptors of every loaded code object, and every PT_LOAD segment of
 * every loaded copy.  code_gen moves (under the lock, exclusively held)
 * whenever entries go, so that the processors may cache what they found. */
#include <stdlib.h>
#include <string.h>

#include "hsasim/kernel.h"
#include "loader.h"

typedef struct kernel_ref {
    uintptr_t addr; /* the descriptor */
    const sim_symbol *sym;
    const sim_executable *ex;
} kernel_ref;

typedef struct segment_ref {
    sim_range r;
    uint64_t agent;
    const sim_loaded *owner;
} segment_ref;

static kernel_ref *kernel_index;
static size_t n_kernel_index, cap_kernel_index;
static segment_ref *segment_index;
static size_t n_segment_index, cap_segment_index;
static _Atomic uint64_t code_gen;

uint64_t sim_code_generation(void)
{
    return atomic_load_explicit(&code_gen, memory_order_acquire);
}

/* Both: callers hold sim_loader_lock (shared is enough).  Index of the first
 * entry whose address is > addr. */
static size_t kernel_upper(uintptr_t addr)
{
    size_t lo = 0, hi = n_kernel_index;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (kernel_index[mid].addr <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static size_t segment_upper(uintptr_t addr)
{
    size_t lo = 0, hi = n_segment_index;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (segment_index[mid].r.lo <= addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The segment of a code object loaded for agent holding [addr, addr + len).
 * Copies loaded for different agents are different mappings, so segments
 * never overlap: the one starting last at or before addr is the only
 * candidate. */
static const segment_ref *segment_find(uint64_t agent, uintptr_t addr, size_t len)
{
    size_t i = segment_upper(addr);
    if (i == 0)
        return NULL;
    const segment_ref *s = &segment_index[i - 1];
    if (s->agent != agent || addr >= s->r.hi || len > s->r.hi - addr)
        return NULL;
    return s;
}

bool sim_code_index_reserve(size_t kernels, size_t segments)
{
    if (n_kernel_index + kernels > cap_kernel_index) {
        size_t cap = cap_kernel_index ? cap_kernel_index : 32;
        while (cap < n_kernel_index + kernels)
            cap *= 2;
        kernel_ref *grown = realloc(kernel_index, cap * sizeof *grown);
        if (!grown)
            return false;
        kernel_index = grown;
        cap_kernel_index = cap;
    }
    if (n_segment_index + segments > cap_segment_index) {
        size_t cap = cap_segment_index ? cap_segment_index : 32;
        while (cap < n_segment_index + segments)
            cap *= 2;
        segment_ref *grown = realloc(segment_index, cap * sizeof *grown);
        if (!grown)
            return false;
        segment_index = grown;
        cap_segment_index = cap;
    }
    return true;
}

void sim_code_index_add(const sim_executable *ex, const sim_loaded *l, sim_symbol *const *syms,
                      size_t n_syms)
{
    for (size_t i = 0; i < l->n_segments; i++) {
        size_t at = segment_upper(l->segments[i].lo);
        memmove(&segment_index[at + 1], &segment_index[at],
                (n_segment_index - at) * sizeof *segment_index);
        segment_index[at] = (segment_ref){l->segments[i], l->agent.handle, l};
        n_segment_index++;
    }
    for (size_t i = 0; i < n_syms; i++) {
        if (syms[i]->kind != HSA_SYMBOL_KIND_KERNEL)
            continue;
        size_t at = kernel_upper((uintptr_t)syms[i]->address);
        memmove(&kernel_index[at + 1], &kernel_index[at],
                (n_kernel_index - at) * sizeof *kernel_index);
        kernel_index[at] = (kernel_ref){(uintptr_t)syms[i]->address, syms[i], ex};
        n_kernel_index++;
    }
}

void sim_code_index_remove(const sim_executable *ex)
{
    size_t k = 0;
    for (size_t i = 0; i < n_kernel_index; i++)
        if (kernel_index[i].ex != ex)
            kernel_index[k++] = kernel_index[i];
    n_kernel_index = k;
    k = 0;
    for (size_t i = 0; i < n_segment_index; i++) {
        bool mine = false;
        for (size_t j = 0; j < ex->n_loaded && !mine; j++)
            mine = segment_index[i].owner == ex->loaded[j];
        if (!mine)
            segment_index[k++] = segment_index[i];
    }
    n_segment_index = k;
    if (n_kernel_index == 0) {
        free(kernel_index);
        kernel_index = NULL;
        cap_kernel_index = 0;
    }
    if (n_segment_index == 0) {
        free(segment_index);
        segment_index = NULL;
        cap_segment_index = 0;
    }
    atomic_fetch_add_explicit(&code_gen, 1, memory_order_release);
}

sim_code_kind sim_code_find_kernel(uint64_t kernel_object, uint64_t agent, sim_kernel_info *info)
{
    uintptr_t addr = (uintptr_t)kernel_object;
    sim_code_kind kind = SIM_CODE_NONE;
    pthread_rwlock_rdlock(&sim_loader_lock);
    size_t i = kernel_upper(addr);
    const kernel_ref *k = i ? &kernel_index[i - 1] : NULL;
    if (k && k->addr == addr && k->sym->agent.handle == agent) {
        kind = SIM_CODE_MAPPED; /* until frozen: see the top of the file */
        if (k->ex->state == HSA_EXECUTABLE_STATE_FROZEN) {
            const sim_symbol *s = k->sym;
            const hsasim_kernel_object *kd = (const hsasim_kernel_object *)addr;
            if (s->n_ptr_args > info->cap_ptr_args) {
                uint32_t *grown = realloc(info->ptr_args, s->n_ptr_args * sizeof *grown);
                if (grown) {
                    info->ptr_args = grown;
                    info->cap_ptr_args = s->n_ptr_args;
                }
            }
            if (s->n_ptr_args <= info->cap_ptr_args) {
                info->fn = kd->fn;
                info->kernarg_size = kd->kernarg_size;
                info->n_ptr_args = s->n_ptr_args;
                if (s->n_ptr_args)
                    memcpy(info->ptr_args, s->ptr_args, s->n_ptr_args * sizeof *s->ptr_args);
                kind = SIM_CODE_KERNEL;
            } else {
                kind = SIM_CODE_NONE;
            }
        }
    } else if (segment_find(agent, addr, 1)) {
        kind = SIM_CODE_MAPPED;
    }
    pthread_rwlock_unlock(&sim_loader_lock);
    return kind;
}

bool sim_code_accessible(uint64_t agent, uintptr_t addr, size_t len, sim_range *out)
{
    pthread_rwlock_rdlock(&sim_loader_lock);
    const segment_ref *s = segment_find(agent, addr, len);
    if (s)
        *out = s->r;
    pthread_rwlock_unlock(&sim_loader_lock);
    return s != NULL;
}
