/* hsasim: code object readers and executables (hsa.h, "Executable").
 *
 * Behaviour follows ROCR (core/runtime/hsa.cpp, loader/executable.cpp,
 * core/runtime/amd_hsa_loader.cpp, libamdhsacode/amd_hsa_code.cpp; checked
 * against rocm-5.2.3, Debian's version, and current master):
 * - Every call first returns HSA_STATUS_ERROR_NOT_INITIALIZED when the
 *   runtime is closed, then INVALID_ARGUMENT for null pointers, then checks
 *   its handles, in ROCR's order.
 * - A reader only refers to the code object (memory) or holds the file's
 *   bytes; the code object is checked when it is loaded, as in ROCR.
 * - Loading into a frozen executable: FROZEN_EXECUTABLE; unknown loader
 *   options: HSA_STATUS_ERROR; a code object that is not a host code object
 *   with a v3+ metadata note: INVALID_CODE_OBJECT (ROCR refuses a host ELF,
 *   hsasim refuses GPU ISA: EM_AMDGPU); metadata amdhsa.target naming another
 *   ISA than the agent's: INCOMPATIBLE_ARGUMENTS (ROCR's IsaSupportedByAgent);
 *   a CPU agent: INCOMPATIBLE_ARGUMENTS too (a CPU agent has no ISA, so
 *   ROCR's ISA check fails the same way); a handle that is no agent at all:
 *   INVALID_AGENT.  The same symbol twice for one agent:
 *   VARIABLE_ALREADY_DEFINED.
 * - hsa_executable_load_program_code_object (agent 0): a v3+ code object has
 *   only agent segments; ROCR's segment allocation then asks agent 0 for its
 *   profile, fails, and the load returns HSA_STATUS_ERROR_OUT_OF_RESOURCES.
 *   hsasim returns the same.
 * - Symbols are the exported (dynamic) STT_OBJECT symbols of the object, as
 *   ROCR takes the global STT_OBJECT symbols of a v3+ code object: those whose
 *   name ends in ".kd" are kernels ("scale.kd"), the others variables.  They
 *   are agent symbols (v3+: the load's agent), iterate in name order, have
 *   module name "" and linkage PROGRAM for STB_GLOBAL (MODULE for weak).
 * - Kernel symbol values come from the descriptor, with the kernarg segment
 *   alignment fixed at 16 (ROCR: "FIXME: Use the minimum HSA required
 *   alignment"), object alignment 64, object size the symbol's size;
 *   HSA_EXECUTABLE_SYMBOL_INFO_NAME copies the name without a terminating NUL
 *   (memcpy of NAME_LENGTH bytes); unknown attributes: INVALID_ARGUMENT.
 *   Variables report VARIABLE_IS_CONST true for writable sections, false for
 *   read-only ones: ROCR's Symbol::IsConst tests SHF_WRITE that way round.
 *
 * Where hsasim checks more than ROCR (which dereferences whatever handle it
 * is given), a handle that is not a live object gives the INVALID_* status of
 * its kind instead of a crash.  The loader's metadata must also agree with
 * the kernel descriptors, so that whatever reads the metadata (rochp's
 * argument relocation) and the packet processor see the same layout.
 *
 * Loading: the bytes go to a memfd, dlopen'ed through /proc/self/fd/N with
 * RTLD_NOW | RTLD_LOCAL, so each load is a separate copy (as each agent gets
 * its own copy of a GPU code object).  The memfd stays open while the object
 * is loaded: glibc matches dlopen paths against loaded objects by name first,
 * and an open descriptor keeps the number, so the name, unique.
 *
 * Locking: one reader-writer lock over the registry of live readers,
 * executables and symbols.  Queries hold it shared; create/load/freeze/
 * destroy take it exclusively for the update only (parsing and dlopen run
 * outside it).  It is never held while calling sim_agent_get (which takes
 * sim_rt.lock) nor while calling user callbacks. */
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "codeobj/codeobj.h"
#include "hsasim.h"
#include "hsasim/kernel.h"

#if defined(__x86_64__)
#define SIM_HOST_MACHINE EM_X86_64
#elif defined(__aarch64__)
#define SIM_HOST_MACHINE EM_AARCH64
#elif defined(__powerpc64__)
#define SIM_HOST_MACHINE EM_PPC64
#elif defined(__riscv) && __riscv_xlen == 64
#define SIM_HOST_MACHINE EM_RISCV
#else
#error "hsasim: unknown host machine"
#endif

#ifndef EM_AMDGPU
#define EM_AMDGPU 224
#endif

/* Not in Debian's 5.2.3 headers; answered by ROCR. */
#define SIM_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE 19  /* HSA_CODE_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE */
#define SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_SIZE 100 /* amd_hsa_loader.hpp */
#define SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_ALIGN 101

static void co_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void co_log(const char *fmt, ...)
{
    if (!getenv("ROCHP_LOG"))
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("hsasim: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* --- objects ---------------------------------------------------------------------- */

typedef struct sim_reader {
    const uint8_t *data; /* the caller's memory, or owned */
    size_t size;
    uint8_t *owned; /* the file's bytes (hsa_code_object_reader_create_from_file) */
    char uri[160];  /* as ROCR names code objects: file://PATH or memory://PID#offset=..&size=.. */
} sim_reader;

typedef struct sim_executable sim_executable;

typedef struct sim_symbol {
    char *name;
    hsa_symbol_kind_t kind;
    hsa_symbol_linkage_t linkage;
    bool is_agent; /* agent symbol, else program symbol */
    hsa_agent_t agent;
    uint64_t address; /* kernel object or variable address */
    /* kernels */
    uint32_t kernarg_size, kernarg_align, group_size, private_size, wavefront_size;
    uint32_t object_size, object_align;
    bool dynamic_callstack;
    uint32_t n_ptr_args; /* global_buffer arguments (metadata note): their offsets */
    uint32_t *ptr_args;
    /* variables */
    hsa_variable_allocation_t allocation;
    hsa_variable_segment_t segment;
    uint32_t var_align, var_size;
    bool var_const;
} sim_symbol;

typedef struct sim_loaded {
    void *dl;
    int fd;
    hsa_agent_t agent;
    size_t n_segments;
    sim_range *segments; /* its PT_LOAD segments as mapped */
} sim_loaded;

struct sim_executable {
    hsa_profile_t profile;
    hsa_default_float_rounding_mode_t rounding;
    hsa_executable_state_t state;
    size_t n_loaded;
    sim_loaded **loaded;
    size_t n_symbols;
    sim_symbol **symbols; /* program symbols, then agent symbols; each by name, agent */
};

/* --- the registry of live objects ---------------------------------------------------- */

enum { OBJ_READER = 1, OBJ_EXECUTABLE, OBJ_SYMBOL };

typedef struct live_ref {
    uintptr_t addr;
    int kind;
} live_ref;

static pthread_rwlock_t loader_lock = PTHREAD_RWLOCK_INITIALIZER;
static live_ref *live;
static size_t n_live, cap_live;

/* Index of the first entry >= addr. */
static size_t live_lower(uintptr_t addr)
{
    size_t lo = 0, hi = n_live;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (live[mid].addr < addr)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Callers hold loader_lock (shared is enough). */
static void *live_get(uint64_t handle, int kind)
{
    uintptr_t addr = (uintptr_t)handle;
    size_t i = live_lower(addr);
    return i < n_live && live[i].addr == addr && live[i].kind == kind ? (void *)addr : NULL;
}

/* Callers hold loader_lock exclusively.  Only fails for lack of memory. */
static bool live_reserve(size_t more)
{
    if (n_live + more <= cap_live)
        return true;
    size_t cap = cap_live ? cap_live : 64;
    while (cap < n_live + more)
        cap *= 2;
    live_ref *grown = realloc(live, cap * sizeof *live);
    if (!grown)
        return false;
    live = grown;
    cap_live = cap;
    return true;
}

static void live_add(const void *p, int kind) /* after live_reserve */
{
    uintptr_t addr = (uintptr_t)p;
    size_t i = live_lower(addr);
    memmove(&live[i + 1], &live[i], (n_live - i) * sizeof *live);
    live[i] = (live_ref){addr, kind};
    n_live++;
}

static void live_remove(const void *p)
{
    uintptr_t addr = (uintptr_t)p;
    size_t i = live_lower(addr);
    if (i < n_live && live[i].addr == addr) {
        memmove(&live[i], &live[i + 1], (n_live - i - 1) * sizeof *live);
        n_live--;
    }
    if (n_live == 0) {
        free(live);
        live = NULL;
        cap_live = 0;
    }
}

/* --- what the packet processors see of code objects ------------------------------------------
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
 * Two indexes, both sorted by address and under loader_lock: the kernel
 * descriptors of every loaded code object, and every PT_LOAD segment of
 * every loaded copy.  code_gen moves (under the lock, exclusively held)
 * whenever entries go, so that the processors may cache what they found. */

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

/* Both: callers hold loader_lock (shared is enough).  Index of the first
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

/* Callers hold loader_lock exclusively.  Only fails for lack of memory. */
static bool index_reserve(size_t kernels, size_t segments)
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

/* After index_reserve: a loaded copy's segments and its kernels. */
static void index_add(const sim_executable *ex, const sim_loaded *l, sim_symbol *const *syms,
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

/* Callers hold loader_lock exclusively: everything of ex leaves both
 * indexes, and the processors' caches with them. */
static void index_remove(const sim_executable *ex)
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
    pthread_rwlock_rdlock(&loader_lock);
    size_t i = kernel_upper(addr);
    const kernel_ref *k = i ? &kernel_index[i - 1] : NULL;
    if (k && k->addr == addr && k->sym->agent.handle == agent) {
        kind = SIM_CODE_MAPPED; /* until frozen: see the top of this section */
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
    pthread_rwlock_unlock(&loader_lock);
    return kind;
}

bool sim_code_accessible(uint64_t agent, uintptr_t addr, size_t len, sim_range *out)
{
    pthread_rwlock_rdlock(&loader_lock);
    const segment_ref *s = segment_find(agent, addr, len);
    if (s)
        *out = s->r;
    pthread_rwlock_unlock(&loader_lock);
    return s != NULL;
}

/* --- symbols ------------------------------------------------------------------------- */

static int symbol_cmp_key(bool is_agent, const char *name, uint64_t agent, const sim_symbol *s)
{
    if (is_agent != s->is_agent)
        return is_agent ? 1 : -1;
    int c = strcmp(name, s->name);
    if (c || !is_agent)
        return c;
    return agent < s->agent.handle ? -1 : agent > s->agent.handle;
}

static int symbol_cmp(const void *pa, const void *pb)
{
    const sim_symbol *a = *(sim_symbol *const *)pa, *b = *(sim_symbol *const *)pb;
    return symbol_cmp_key(a->is_agent, a->name, a->agent.handle, b);
}

static sim_symbol *find_symbol(const sim_executable *ex, const char *name, const hsa_agent_t *agent)
{
    size_t lo = 0, hi = ex->n_symbols;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = symbol_cmp_key(agent != NULL, name, agent ? agent->handle : 0, ex->symbols[mid]);
        if (c == 0)
            return ex->symbols[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static void symbol_free(sim_symbol *s)
{
    if (s) {
        free(s->name);
        free(s->ptr_args);
        free(s);
    }
}

static void unload(sim_loaded *l)
{
    if (!l)
        return;
    if (l->dl) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", l->fd);
        dlclose(l->dl);
        /* Still loaded (a NODELETE object)?  Then its name must stay unique:
         * keep the descriptor. */
        void *still = dlopen(path, RTLD_LAZY | RTLD_LOCAL | RTLD_NOLOAD);
        if (still) {
            dlclose(still);
            co_log("a code object could not be unloaded; keeping %s", path);
            free(l->segments);
            free(l);
            return;
        }
    }
    if (l->fd >= 0)
        close(l->fd);
    free(l->segments);
    free(l);
}

static void executable_free(sim_executable *ex)
{
    for (size_t i = 0; i < ex->n_symbols; i++)
        symbol_free(ex->symbols[i]);
    free(ex->symbols);
    for (size_t i = 0; i < ex->n_loaded; i++)
        unload(ex->loaded[i]);
    free(ex->loaded);
    free(ex);
}

/* --- code object readers --------------------------------------------------------------- */

SIM_API hsa_status_t hsa_code_object_reader_create_from_file(
    hsa_file_t file, hsa_code_object_reader_t *code_object_reader)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!code_object_reader)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (file == -1)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* ROCR seeks to the end to learn the size (leaving the offset there). */
    off_t end = lseek(file, 0, SEEK_END);
    if (end == (off_t)-1)
        return HSA_STATUS_ERROR_INVALID_FILE;
    if (end <= 0)
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    /* ROCR maps the file; a copy cannot fault if the file shrinks later. */
    size_t size = (size_t)end;
    sim_reader *r = calloc(1, sizeof *r);
    uint8_t *buf = malloc(size);
    if (!r || !buf) {
        free(r);
        free(buf);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(file, buf + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            free(r);
            free(buf);
            return HSA_STATUS_ERROR_INVALID_FILE;
        }
        got += (size_t)n;
    }
    r->data = r->owned = buf;
    r->size = size;
    char link[64], path[sizeof r->uri - 8];
    snprintf(link, sizeof link, "/proc/self/fd/%d", file);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n > 0) {
        path[n] = 0;
        snprintf(r->uri, sizeof r->uri, "file://%s", path);
    } else {
        snprintf(r->uri, sizeof r->uri, "file descriptor %d", file);
    }
    pthread_rwlock_wrlock(&loader_lock);
    bool ok = live_reserve(1);
    if (ok)
        live_add(r, OBJ_READER);
    pthread_rwlock_unlock(&loader_lock);
    if (!ok) {
        free(buf);
        free(r);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    code_object_reader->handle = (uint64_t)(uintptr_t)r;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_code_object_reader_create_from_memory(
    const void *code_object, size_t size, hsa_code_object_reader_t *code_object_reader)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!code_object || !code_object_reader || size == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    /* Like ROCR, the reader refers to the caller's memory until destroyed. */
    sim_reader *r = calloc(1, sizeof *r);
    if (!r)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    r->data = code_object;
    r->size = size;
    snprintf(r->uri, sizeof r->uri, "memory://%ld#offset=0x%llx&size=%zu", (long)getpid(),
             (unsigned long long)(uintptr_t)code_object, size);
    pthread_rwlock_wrlock(&loader_lock);
    bool ok = live_reserve(1);
    if (ok)
        live_add(r, OBJ_READER);
    pthread_rwlock_unlock(&loader_lock);
    if (!ok) {
        free(r);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    code_object_reader->handle = (uint64_t)(uintptr_t)r;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_code_object_reader_destroy(hsa_code_object_reader_t code_object_reader)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_rwlock_wrlock(&loader_lock);
    sim_reader *r = live_get(code_object_reader.handle, OBJ_READER);
    if (r)
        live_remove(r);
    pthread_rwlock_unlock(&loader_lock);
    if (!r)
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER;
    free(r->owned);
    free(r);
    return HSA_STATUS_SUCCESS;
}

/* --- executables ------------------------------------------------------------------------- */

SIM_API hsa_status_t hsa_executable_create_alt(
    hsa_profile_t profile, hsa_default_float_rounding_mode_t default_float_rounding_mode,
    const char *options, hsa_executable_t *executable)
{
    (void)options; /* ROCR ignores them too */
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (profile != HSA_PROFILE_BASE && profile != HSA_PROFILE_FULL)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (default_float_rounding_mode != HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT &&
        default_float_rounding_mode != HSA_DEFAULT_FLOAT_ROUNDING_MODE_ZERO &&
        default_float_rounding_mode != HSA_DEFAULT_FLOAT_ROUNDING_MODE_NEAR)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!executable)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_executable *ex = calloc(1, sizeof *ex);
    if (!ex)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    ex->profile = profile;
    ex->rounding = default_float_rounding_mode;
    ex->state = HSA_EXECUTABLE_STATE_UNFROZEN;
    pthread_rwlock_wrlock(&loader_lock);
    bool ok = live_reserve(1);
    if (ok)
        live_add(ex, OBJ_EXECUTABLE);
    pthread_rwlock_unlock(&loader_lock);
    if (!ok) {
        free(ex);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    executable->handle = (uint64_t)(uintptr_t)ex;
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_executable_freeze(hsa_executable_t executable, const char *options);

SIM_API hsa_status_t hsa_executable_create(hsa_profile_t profile,
                                           hsa_executable_state_t executable_state,
                                           const char *options, hsa_executable_t *executable)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (profile != HSA_PROFILE_BASE && profile != HSA_PROFILE_FULL)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (executable_state != HSA_EXECUTABLE_STATE_FROZEN &&
        executable_state != HSA_EXECUTABLE_STATE_UNFROZEN)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!executable)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = hsa_executable_create_alt(profile, HSA_DEFAULT_FLOAT_ROUNDING_MODE_DEFAULT,
                                                options, executable);
    if (st == HSA_STATUS_SUCCESS && executable_state == HSA_EXECUTABLE_STATE_FROZEN)
        hsa_executable_freeze(*executable, NULL);
    return st;
}

SIM_API hsa_status_t hsa_executable_destroy(hsa_executable_t executable)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    pthread_rwlock_wrlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    if (ex) {
        for (size_t i = 0; i < ex->n_symbols; i++)
            live_remove(ex->symbols[i]);
        live_remove(ex);
        index_remove(ex);
    }
    pthread_rwlock_unlock(&loader_lock);
    if (!ex)
        return HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    executable_free(ex);
    return HSA_STATUS_SUCCESS;
}

void sim_executables_release_all(void)
{
    pthread_rwlock_wrlock(&loader_lock);
    size_t n = 0;
    for (size_t i = 0; i < n_live; i++)
        n += live[i].kind == OBJ_EXECUTABLE;
    sim_executable **doomed = n ? malloc(n * sizeof *doomed) : NULL;
    size_t k = 0;
    for (size_t i = 0; doomed && i < n_live; i++)
        if (live[i].kind == OBJ_EXECUTABLE)
            doomed[k++] = (sim_executable *)live[i].addr;
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < doomed[i]->n_symbols; j++)
            live_remove(doomed[i]->symbols[j]);
        live_remove(doomed[i]);
        index_remove(doomed[i]);
    }
    pthread_rwlock_unlock(&loader_lock);
    for (size_t i = 0; i < k; i++)
        executable_free(doomed[i]);
    free(doomed);
}

SIM_API hsa_status_t hsa_executable_freeze(hsa_executable_t executable, const char *options)
{
    (void)options;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_wrlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN)
        st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
    else
        ex->state = HSA_EXECUTABLE_STATE_FROZEN;
    pthread_rwlock_unlock(&loader_lock);
    return st;
}

SIM_API hsa_status_t hsa_executable_get_info(hsa_executable_t executable,
                                             hsa_executable_info_t attribute, void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    if (!ex) {
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    } else {
        switch ((int)attribute) {
        case HSA_EXECUTABLE_INFO_PROFILE: *(hsa_profile_t *)value = ex->profile; break;
        case HSA_EXECUTABLE_INFO_STATE: *(hsa_executable_state_t *)value = ex->state; break;
        case HSA_EXECUTABLE_INFO_DEFAULT_FLOAT_ROUNDING_MODE:
            *(hsa_default_float_rounding_mode_t *)value = ex->rounding;
            break;
        default: st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
        }
    }
    pthread_rwlock_unlock(&loader_lock);
    return st;
}

SIM_API hsa_status_t hsa_executable_validate(hsa_executable_t executable, uint32_t *result)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!result)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    pthread_rwlock_rdlock(&loader_lock);
    bool ok = live_get(executable.handle, OBJ_EXECUTABLE) != NULL;
    pthread_rwlock_unlock(&loader_lock);
    if (!ok)
        return HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    *result = 0; /* ROCR: always valid */
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_executable_validate_alt(hsa_executable_t executable, const char *options,
                                                 uint32_t *result)
{
    (void)options;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!result)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    return hsa_executable_validate(executable, result);
}

/* --- loading ------------------------------------------------------------------------------ */

/* ROCR's loader options: -help -dump-code -dump-isa -dump-exec -dump-all
 * -dump-dir=D -substitute=...; anything else fails the load with
 * HSA_STATUS_ERROR.  They are accepted and have no effect here. */
static bool loader_options_ok(const char *options)
{
    static const char *const known[] = {"help", "dump-code", "dump-isa", "dump-exec",
                                        "dump-all", "dump-dir", "substitute"};
    if (!options)
        return true;
    const char *p = options;
    bool expect_value = false;
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        const char *tok = p;
        while (*p && *p != ' ')
            p++;
        size_t len = (size_t)(p - tok);
        if (tok[0] != '-') {
            if (!expect_value)
                return false;
            expect_value = false;
            continue;
        }
        tok++;
        len--;
        size_t name_len = len;
        const char *eq = memchr(tok, '=', len);
        if (eq)
            name_len = (size_t)(eq - tok);
        bool found = false;
        for (size_t i = 0; i < sizeof known / sizeof *known; i++)
            if (strlen(known[i]) == name_len && memcmp(known[i], tok, name_len) == 0)
                found = true;
        if (!found)
            return false;
        expect_value = !eq && (name_len == 8 && memcmp(tok, "dump-dir", 8) == 0);
    }
    return true;
}

/* The agent's ISA name, e.g. amdgcn-amd-amdhsa--gfx942:sramecc+:xnack-. */
static bool agent_isa_name(hsa_agent_t agent, char *out, size_t size)
{
    hsa_isa_t isa;
    uint32_t len = 0;
    if (hsa_agent_get_info(agent, HSA_AGENT_INFO_ISA, &isa) != HSA_STATUS_SUCCESS ||
        hsa_isa_get_info_alt(isa, HSA_ISA_INFO_NAME_LENGTH, &len) != HSA_STATUS_SUCCESS ||
        len == 0 || len >= size)
        return false;
    memset(out, 0, size);
    return hsa_isa_get_info_alt(isa, HSA_ISA_INFO_NAME, out) == HSA_STATUS_SUCCESS;
}

/* ROCR's Isa::IsCompatible: same processor; a target feature the code object
 * names (sramecc, xnack) must be the agent's setting; one it leaves out
 * ("any") matches either. */
static bool target_compatible(const char *code, const char *agent)
{
    const char *c = strstr(code, "--"), *a = strstr(agent, "--");
    if (!c || !a)
        return false;
    c += 2;
    a += 2;
    size_t cp = strcspn(c, ":"), ap = strcspn(a, ":");
    if (cp != ap || memcmp(c, a, cp) != 0)
        return false;
    const char *features = a + ap;
    for (const char *f = c + cp; *f == ':';) {
        size_t n = strcspn(f + 1, ":") + 1; /* ":xnack+" */
        if (n < 3)
            return false;
        bool match = false;
        for (const char *g = features; *g == ':';) {
            size_t m = strcspn(g + 1, ":") + 1;
            if (m == n && memcmp(f, g, n) == 0)
                match = true;
            g += m;
        }
        if (!match)
            return false;
        f += n;
    }
    return true;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

typedef struct load_ctx {
    const char *uri; /* for messages */
    sim_loaded *loaded;
    const char *lm_name; /* the object's name in the link map */
    hsa_agent_t agent;
    sim_symbol **syms;
    size_t n_syms, cap_syms;
} load_ctx;

static bool add_symbol(load_ctx *c, sim_symbol *s)
{
    if (c->n_syms == c->cap_syms) {
        size_t cap = c->cap_syms ? 2 * c->cap_syms : 16;
        sim_symbol **grown = realloc(c->syms, cap * sizeof *grown);
        if (!grown)
            return false;
        c->syms = grown;
        c->cap_syms = cap;
    }
    c->syms[c->n_syms++] = s;
    return true;
}

/* Whether addr is inside the object being loaded; *sym gets its symbol entry. */
static bool in_object(const load_ctx *c, const void *addr, const ElfW(Sym) **sym)
{
    Dl_info info;
    const ElfW(Sym) *es = NULL;
    if (!dladdr1(addr, &info, (void **)&es, RTLD_DL_SYMENT) || !info.dli_fname ||
        strcmp(info.dli_fname, c->lm_name) != 0)
        return false;
    if (sym)
        *sym = es;
    return true;
}

/* A kernel symbol from the descriptor "name.kd" (md: its metadata, or NULL). */
static hsa_status_t kernel_symbol(load_ctx *c, const char *symbol, const codeobj_kernel *md)
{
    void *addr = dlsym(c->loaded->dl, symbol);
    const ElfW(Sym) *es = NULL;
    if (!addr || !in_object(c, addr, &es) || !es) {
        co_log("%s: kernel symbol %s is not defined by the code object", c->uri, symbol);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    const hsasim_kernel_object *kd = addr;
    if (es->st_size < sizeof *kd || kd->magic != HSASIM_KERNEL_MAGIC || !kd->fn ||
        !in_object(c, (const void *)(uintptr_t)kd->fn, NULL)) {
        co_log("%s: %s is not an hsasim kernel descriptor (HSASIM_KERNEL)", c->uri, symbol);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    if (md && (md->kernarg_segment_size != kd->kernarg_size ||
               md->kernarg_segment_align != kd->kernarg_align ||
               md->group_segment_fixed_size != kd->group_segment_size ||
               md->private_segment_fixed_size != kd->private_segment_size ||
               !kd->name || strcmp(md->name, kd->name) != 0)) {
        co_log("%s: kernel %s: the metadata note (kernarg %u/%u, group %u, private %u) and the "
               "descriptor (kernarg %u/%u, group %u, private %u) disagree",
               c->uri, md->name, md->kernarg_segment_size, md->kernarg_segment_align,
               md->group_segment_fixed_size, md->private_segment_fixed_size, kd->kernarg_size,
               kd->kernarg_align, kd->group_segment_size, kd->private_segment_size);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    sim_symbol *s = calloc(1, sizeof *s);
    char *name = strdup(symbol);
    if (!s || !name || !add_symbol(c, s)) {
        free(s);
        free(name);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    s->name = name;
    s->kind = HSA_SYMBOL_KIND_KERNEL;
    s->linkage = ELF64_ST_BIND(es->st_info) == STB_GLOBAL ? HSA_SYMBOL_LINKAGE_PROGRAM
                                                           : HSA_SYMBOL_LINKAGE_MODULE;
    s->is_agent = true;
    s->agent = c->agent;
    s->address = (uint64_t)(uintptr_t)kd;
    s->kernarg_size = kd->kernarg_size;
    s->kernarg_align = 16;
    s->group_size = kd->group_segment_size;
    s->private_size = kd->private_segment_size;
    s->wavefront_size = md ? md->wavefront_size : 64;
    s->dynamic_callstack = md ? md->uses_dynamic_stack : false;
    s->object_size = (uint32_t)es->st_size;
    s->object_align = 64;
    /* The pointers the processor checks at dispatch: every global_buffer
     * argument the note declares (a kernel without metadata has none). */
    for (uint32_t i = 0; md && i < md->n_args; i++)
        s->n_ptr_args += md->args[i].value_kind == CODEOBJ_VK_GLOBAL_BUFFER;
    if (s->n_ptr_args && !(s->ptr_args = malloc(s->n_ptr_args * sizeof *s->ptr_args)))
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES; /* s is freed with c->syms */
    for (uint32_t i = 0, k = 0; md && i < md->n_args; i++)
        if (md->args[i].value_kind == CODEOBJ_VK_GLOBAL_BUFFER)
            s->ptr_args[k++] = md->args[i].offset;
    return HSA_STATUS_SUCCESS;
}

static hsa_status_t variable_symbol(load_ctx *c, const codeobj_symbol *ds)
{
    void *addr = dlsym(c->loaded->dl, ds->name);
    if (!addr || !in_object(c, addr, NULL))
        return HSA_STATUS_SUCCESS; /* not really ours: leave it out */
    sim_symbol *s = calloc(1, sizeof *s);
    char *name = strdup(ds->name);
    if (!s || !name || !add_symbol(c, s)) {
        free(s);
        free(name);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    s->name = name;
    s->kind = HSA_SYMBOL_KIND_VARIABLE;
    s->linkage = ds->bind == STB_GLOBAL ? HSA_SYMBOL_LINKAGE_PROGRAM : HSA_SYMBOL_LINKAGE_MODULE;
    s->is_agent = true;
    s->agent = c->agent;
    s->address = (uint64_t)(uintptr_t)addr;
    s->allocation = HSA_VARIABLE_ALLOCATION_PROGRAM; /* no SHF_AMDGPU_HSA_AGENT on a host ELF */
    s->segment = HSA_VARIABLE_SEGMENT_GLOBAL;
    s->var_size = ds->size > UINT32_MAX ? UINT32_MAX : (uint32_t)ds->size;
    s->var_align = ds->section_align > UINT32_MAX ? 0 : (uint32_t)ds->section_align;
    s->var_const = (ds->section_flags & SHF_WRITE) != 0; /* sic: ROCR's Symbol::IsConst */
    return HSA_STATUS_SUCCESS;
}

typedef struct segments_of {
    const char *name; /* the object's name in the link map */
    sim_loaded *loaded;
    bool failed;
} segments_of;

static int collect_segments(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)size;
    segments_of *w = data;
    if (!info->dlpi_name || strcmp(info->dlpi_name, w->name) != 0)
        return 0;
    size_t n = 0;
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++)
        n += info->dlpi_phdr[i].p_type == PT_LOAD && info->dlpi_phdr[i].p_memsz;
    w->loaded->segments = n ? calloc(n, sizeof *w->loaded->segments) : NULL;
    if (n && !w->loaded->segments) {
        w->failed = true;
        return 1;
    }
    for (ElfW(Half) i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD || !ph->p_memsz)
            continue;
        uintptr_t lo = (uintptr_t)info->dlpi_addr + (uintptr_t)ph->p_vaddr;
        w->loaded->segments[w->loaded->n_segments++] = (sim_range){lo, lo + (uintptr_t)ph->p_memsz};
    }
    return 1;
}

static hsa_status_t write_memfd(const uint8_t *data, size_t size, int *out)
{
    int fd = memfd_create("hsasim-code-object", MFD_CLOEXEC);
    if (fd < 0)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, data + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        }
        done += (size_t)n;
    }
    *out = fd;
    return HSA_STATUS_SUCCESS;
}

/* Everything that does not need the lock: checks, dlopen, symbols. */
static hsa_status_t load_image(const uint8_t *data, size_t size, hsa_agent_t agent, load_ctx *c)
{
    char err[CODEOBJ_ERROR_MAX];
    codeobj_elf elf;
    if (codeobj_read_elf(data, size, &elf, err, sizeof err) != 0) {
        co_log("%s: %s", c->uri, err);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    if (elf.e_machine == EM_AMDGPU) {
        static _Atomic int told;
        if (!atomic_exchange(&told, 1) || getenv("ROCHP_LOG"))
            fprintf(stderr, "hsasim: %s is an AMDGPU ISA code object (e_machine EM_AMDGPU): the "
                            "simulated runtime runs host code objects only (built with "
                            "rochp_add_host_code_object)\n", c->uri);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    if (elf.e_machine != SIM_HOST_MACHINE || elf.e_type != ET_DYN) {
        co_log("%s: not a host code object (ELF machine %u, type %u; expected a shared object "
               "for machine %u)", c->uri, elf.e_machine, elf.e_type, SIM_HOST_MACHINE);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    codeobj_metadata *md = NULL;
    if (codeobj_parse_metadata(data, size, &md, err, sizeof err) != 0) {
        co_log("%s: %s", c->uri, err);
        return HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
    }
    hsa_status_t st = HSA_STATUS_SUCCESS;
    codeobj_symbol *dsyms = NULL;
    size_t n_dsyms = 0;
    int fd = -1;
    /* amdhsa.version [1, 0..3] is code object v3..v6. */
    if (md->version_major != 1 || md->version_minor > 3) {
        co_log("%s: unsupported code object version (amdhsa.version [%u, %u])", c->uri,
               md->version_major, md->version_minor);
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }
    if (md->target && strncmp(md->target, "amdgcn-amd-amdhsa--", 19) != 0) {
        co_log("%s: code object's ISA (%s) is invalid", c->uri, md->target);
        st = HSA_STATUS_ERROR_INVALID_ISA_NAME;
        goto out;
    }
    if (agent.handle == 0) {
        /* hsa_executable_load_program_code_object: see the top of the file. */
        co_log("%s: a v3+ code object has no program segments: load it for an agent", c->uri);
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        goto out;
    }
    sim_agent *a = sim_agent_get(agent);
    if (!a) {
        st = HSA_STATUS_ERROR_INVALID_AGENT;
        goto out;
    }
    if (a->type != HSA_DEVICE_TYPE_GPU) {
        co_log("%s: code object's ISA is not supported by the agent (a CPU agent has none)",
               c->uri);
        st = HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS;
        goto out;
    }
    if (md->target) {
        char isa[128];
        if (!agent_isa_name(agent, isa, sizeof isa) || !target_compatible(md->target, isa)) {
            co_log("%s: code object's ISA (%s) is not supported by the agent", c->uri,
                   md->target);
            st = HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS;
            goto out;
        }
    }
    if (codeobj_dynamic_symbols(data, size, &dsyms, &n_dsyms, err, sizeof err) != 0) {
        co_log("%s: %s", c->uri, err);
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }

    st = write_memfd(data, size, &fd);
    if (st != HSA_STATUS_SUCCESS)
        goto out;
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    c->loaded = calloc(1, sizeof *c->loaded);
    if (!c->loaded) {
        close(fd);
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        goto out;
    }
    c->loaded->fd = fd;
    c->loaded->agent = agent;
    c->loaded->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!c->loaded->dl) {
        co_log("%s: dlopen: %s", c->uri, dlerror());
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT;
        goto out;
    }
    struct link_map *lm = NULL;
    if (dlinfo(c->loaded->dl, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name ||
        strcmp(lm->l_name, path) != 0) {
        co_log("%s: dlopen returned another object than %s", c->uri, path);
        st = HSA_STATUS_ERROR;
        goto out;
    }
    c->lm_name = lm->l_name;
    c->agent = agent;
    /* Where the copy lies: the memory the agent's page tables map for it. */
    segments_of w = {lm->l_name, c->loaded, false};
    dl_iterate_phdr(collect_segments, &w);
    if (w.failed) {
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        goto out;
    }

    for (uint32_t i = 0; i < md->n_kernels && st == HSA_STATUS_SUCCESS; i++)
        st = kernel_symbol(c, md->kernels[i].symbol, &md->kernels[i]);
    for (size_t i = 0; i < n_dsyms && st == HSA_STATUS_SUCCESS; i++) {
        const codeobj_symbol *ds = &dsyms[i];
        if (!ds->defined || ds->type != STT_OBJECT ||
            (ds->bind != STB_GLOBAL && ds->bind != STB_WEAK) ||
            (ds->visibility != STV_DEFAULT && ds->visibility != STV_PROTECTED) ||
            strncmp(ds->name, "__", 2) == 0 || !ds->name[0])
            continue; /* __ names belong to the toolchain (sanitizers, libc) */
        if (codeobj_find_kernel(md, ds->name))
            continue; /* done above */
        if (ends_with(ds->name, ".kd")) {
            st = kernel_symbol(c, ds->name, NULL);
        } else {
            st = variable_symbol(c, ds);
        }
    }
    /* One object exports each name once; the note could list a kernel twice. */
    if (st == HSA_STATUS_SUCCESS && c->n_syms) {
        qsort(c->syms, c->n_syms, sizeof *c->syms, symbol_cmp);
        for (size_t i = 1; i < c->n_syms && st == HSA_STATUS_SUCCESS; i++)
            if (strcmp(c->syms[i - 1]->name, c->syms[i]->name) == 0) {
                co_log("%s: symbol %s is defined twice", c->uri, c->syms[i]->name);
                st = HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED;
            }
    }
out:
    free(dsyms);
    codeobj_metadata_free(md);
    return st;
}

static hsa_status_t load_code_object(hsa_executable_t executable, hsa_agent_t agent,
                                     hsa_code_object_reader_t reader, const char *options,
                                     hsa_loaded_code_object_t *loaded_code_object)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    /* A private copy: the reader may be destroyed while this runs. */
    uint8_t *copy = NULL;
    size_t size = 0;
    char uri[sizeof ((sim_reader *)0)->uri] = "";
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    sim_reader *r = ex ? live_get(reader.handle, OBJ_READER) : NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (!r)
        st = HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER;
    else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN)
        st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
    else if (!(copy = malloc(r->size)))
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    else {
        memcpy(copy, r->data, r->size);
        size = r->size;
        memcpy(uri, r->uri, sizeof uri);
    }
    pthread_rwlock_unlock(&loader_lock);
    if (st != HSA_STATUS_SUCCESS)
        return st;
    if (!loader_options_ok(options)) {
        free(copy);
        return HSA_STATUS_ERROR;
    }

    load_ctx c = {.uri = uri};
    st = load_image(copy, size, agent, &c);
    free(copy);

    if (st == HSA_STATUS_SUCCESS) {
        pthread_rwlock_wrlock(&loader_lock);
        ex = live_get(executable.handle, OBJ_EXECUTABLE);
        if (!ex) {
            st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
        } else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN) {
            st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
        } else {
            for (size_t i = 0; i < c.n_syms && st == HSA_STATUS_SUCCESS; i++)
                if (find_symbol(ex, c.syms[i]->name, &agent)) {
                    co_log("%s: symbol %s is already defined for this agent", uri,
                           c.syms[i]->name);
                    st = HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED;
                }
            sim_symbol **syms = NULL;
            sim_loaded **loaded = NULL;
            if (st == HSA_STATUS_SUCCESS) {
                syms = realloc(ex->symbols, (ex->n_symbols + c.n_syms + 1) * sizeof *syms);
                if (syms)
                    ex->symbols = syms;
                loaded = realloc(ex->loaded, (ex->n_loaded + 1) * sizeof *loaded);
                if (loaded)
                    ex->loaded = loaded;
                if (!syms || !loaded || !live_reserve(c.n_syms) ||
                    !index_reserve(c.n_syms, c.loaded->n_segments))
                    st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
            }
            if (st == HSA_STATUS_SUCCESS) {
                for (size_t i = 0; i < c.n_syms; i++) {
                    ex->symbols[ex->n_symbols++] = c.syms[i];
                    live_add(c.syms[i], OBJ_SYMBOL);
                }
                qsort(ex->symbols, ex->n_symbols, sizeof *ex->symbols, symbol_cmp);
                index_add(ex, c.loaded, c.syms, c.n_syms);
                ex->loaded[ex->n_loaded++] = c.loaded;
                if (loaded_code_object)
                    loaded_code_object->handle = (uint64_t)(uintptr_t)c.loaded;
                c.loaded = NULL;
                c.n_syms = 0;
            }
        }
        pthread_rwlock_unlock(&loader_lock);
    }
    for (size_t i = 0; i < c.n_syms; i++)
        symbol_free(c.syms[i]);
    free(c.syms);
    unload(c.loaded);
    return st;
}

SIM_API hsa_status_t hsa_executable_load_agent_code_object(
    hsa_executable_t executable, hsa_agent_t agent, hsa_code_object_reader_t code_object_reader,
    const char *options, hsa_loaded_code_object_t *loaded_code_object)
{
    return load_code_object(executable, agent, code_object_reader, options, loaded_code_object);
}

SIM_API hsa_status_t hsa_executable_load_program_code_object(
    hsa_executable_t executable, hsa_code_object_reader_t code_object_reader, const char *options,
    hsa_loaded_code_object_t *loaded_code_object)
{
    return load_code_object(executable, (hsa_agent_t){0}, code_object_reader, options,
                            loaded_code_object);
}

/* --- externally defined variables ------------------------------------------------------- */

static hsa_status_t define_variable(hsa_executable_t executable, const hsa_agent_t *agent,
                                    hsa_variable_segment_t segment, const char *name,
                                    void *address)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!name)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    sim_symbol *s = calloc(1, sizeof *s);
    char *copy = strdup(name);
    if (!s || !copy) {
        free(s);
        free(copy);
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    }
    /* ROCR's DefineProgram/AgentExternalVariable: size, alignment and
     * const-ness are left 0 ("TODO"). */
    s->name = copy;
    s->kind = HSA_SYMBOL_KIND_VARIABLE;
    s->linkage = HSA_SYMBOL_LINKAGE_PROGRAM;
    s->is_agent = agent != NULL;
    if (agent)
        s->agent = *agent;
    s->address = (uint64_t)(uintptr_t)address;
    s->allocation = agent ? HSA_VARIABLE_ALLOCATION_AGENT : HSA_VARIABLE_ALLOCATION_PROGRAM;
    s->segment = segment;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_wrlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    sim_symbol **syms = NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (ex->state == HSA_EXECUTABLE_STATE_FROZEN)
        st = HSA_STATUS_ERROR_FROZEN_EXECUTABLE;
    else if (find_symbol(ex, name, agent))
        st = HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED;
    else if (!(syms = realloc(ex->symbols, (ex->n_symbols + 1) * sizeof *syms)) ||
             !live_reserve(1)) {
        if (syms)
            ex->symbols = syms;
        st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    } else {
        ex->symbols = syms;
        ex->symbols[ex->n_symbols++] = s;
        qsort(ex->symbols, ex->n_symbols, sizeof *ex->symbols, symbol_cmp);
        live_add(s, OBJ_SYMBOL);
        s = NULL;
    }
    pthread_rwlock_unlock(&loader_lock);
    symbol_free(s);
    return st;
}

SIM_API hsa_status_t hsa_executable_global_variable_define(hsa_executable_t executable,
                                                           const char *variable_name,
                                                           void *address)
{
    return define_variable(executable, NULL, HSA_VARIABLE_SEGMENT_GLOBAL, variable_name, address);
}

SIM_API hsa_status_t hsa_executable_agent_global_variable_define(hsa_executable_t executable,
                                                                 hsa_agent_t agent,
                                                                 const char *variable_name,
                                                                 void *address)
{
    return define_variable(executable, &agent, HSA_VARIABLE_SEGMENT_GLOBAL, variable_name,
                           address);
}

SIM_API hsa_status_t hsa_executable_readonly_variable_define(hsa_executable_t executable,
                                                             hsa_agent_t agent,
                                                             const char *variable_name,
                                                             void *address)
{
    return define_variable(executable, &agent, HSA_VARIABLE_SEGMENT_READONLY, variable_name,
                           address);
}

/* --- symbols -------------------------------------------------------------------------------- */

SIM_API hsa_status_t hsa_executable_get_symbol_by_name(hsa_executable_t executable,
                                                       const char *symbol_name,
                                                       const hsa_agent_t *agent,
                                                       hsa_executable_symbol_t *symbol)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!symbol_name || !symbol)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    sim_symbol *s = ex && symbol_name[0] ? find_symbol(ex, symbol_name, agent) : NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    else if (!s)
        st = HSA_STATUS_ERROR_INVALID_SYMBOL_NAME;
    else
        symbol->handle = (uint64_t)(uintptr_t)s;
    pthread_rwlock_unlock(&loader_lock);
    return st;
}

SIM_API hsa_status_t hsa_executable_get_symbol(hsa_executable_t executable,
                                               const char *module_name, const char *symbol_name,
                                               hsa_agent_t agent, int32_t call_convention,
                                               hsa_executable_symbol_t *symbol)
{
    (void)call_convention;
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!symbol_name || !symbol)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!symbol_name[0])
        return HSA_STATUS_ERROR_INVALID_SYMBOL_NAME;
    /* ROCR: "module::name" when a module is given; a program symbol of that
     * name wins over the agent's. */
    size_t mlen = module_name ? strlen(module_name) : 0;
    char *mangled = malloc(mlen + 2 + strlen(symbol_name) + 1);
    if (!mangled)
        return HSA_STATUS_ERROR_OUT_OF_RESOURCES;
    if (mlen)
        sprintf(mangled, "%s::%s", module_name, symbol_name);
    else
        strcpy(mangled, symbol_name);
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    bool program = ex && find_symbol(ex, mangled, NULL) != NULL;
    if (!ex)
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    pthread_rwlock_unlock(&loader_lock);
    if (st == HSA_STATUS_SUCCESS)
        st = hsa_executable_get_symbol_by_name(executable, mangled, program ? NULL : &agent,
                                               symbol);
    free(mangled);
    return st;
}

SIM_API hsa_status_t hsa_executable_symbol_get_info(hsa_executable_symbol_t executable_symbol,
                                                    hsa_executable_symbol_info_t attribute,
                                                    void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_rwlock_rdlock(&loader_lock);
    const sim_symbol *s = live_get(executable_symbol.handle, OBJ_SYMBOL);
    if (!s) {
        pthread_rwlock_unlock(&loader_lock);
        return HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL;
    }
    bool kernel = s->kind == HSA_SYMBOL_KIND_KERNEL;
    bool variable = s->kind == HSA_SYMBOL_KIND_VARIABLE;
    switch ((int)attribute) {
    /* SymbolImpl::GetInfo: every kind */
    case HSA_EXECUTABLE_SYMBOL_INFO_TYPE: *(hsa_symbol_kind_t *)value = s->kind; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_NAME_LENGTH: *(uint32_t *)value = (uint32_t)strlen(s->name); break;
    case HSA_EXECUTABLE_SYMBOL_INFO_NAME: memcpy(value, s->name, strlen(s->name)); break;
    case HSA_EXECUTABLE_SYMBOL_INFO_MODULE_NAME_LENGTH: *(uint32_t *)value = 0; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_MODULE_NAME: break; /* "" without a NUL: nothing written */
    case HSA_EXECUTABLE_SYMBOL_INFO_LINKAGE: *(hsa_symbol_linkage_t *)value = s->linkage; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_IS_DEFINITION: *(bool *)value = true; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_CALL_CONVENTION: *(uint32_t *)value = 0; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_OBJECT:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ADDRESS: *(uint64_t *)value = s->address; break;
    case HSA_EXECUTABLE_SYMBOL_INFO_AGENT: *(hsa_agent_t *)value = s->agent; break;
    /* KernelSymbol::GetInfo */
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_ALIGNMENT:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_DYNAMIC_CALLSTACK:
    case SIM_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE:
    case SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_SIZE:
    case SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_ALIGN:
        if (!kernel) {
            st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
            break;
        }
        switch ((int)attribute) {
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_SIZE: *(uint32_t *)value = s->kernarg_size; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_KERNARG_SEGMENT_ALIGNMENT: *(uint32_t *)value = s->kernarg_align; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_GROUP_SEGMENT_SIZE: *(uint32_t *)value = s->group_size; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_PRIVATE_SEGMENT_SIZE: *(uint32_t *)value = s->private_size; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_KERNEL_DYNAMIC_CALLSTACK: *(bool *)value = s->dynamic_callstack; break;
        case SIM_SYMBOL_INFO_KERNEL_WAVEFRONT_SIZE: *(uint32_t *)value = s->wavefront_size; break;
        case SIM_EXT_SYMBOL_INFO_KERNEL_OBJECT_SIZE: *(uint32_t *)value = s->object_size; break;
        default: *(uint32_t *)value = s->object_align; break;
        }
        break;
    /* VariableSymbol::GetInfo */
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALLOCATION:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SEGMENT:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALIGNMENT:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE:
    case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_IS_CONST:
        if (!variable) {
            st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
            break;
        }
        switch ((int)attribute) {
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALLOCATION: *(hsa_variable_allocation_t *)value = s->allocation; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SEGMENT: *(hsa_variable_segment_t *)value = s->segment; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_ALIGNMENT: *(uint32_t *)value = s->var_align; break;
        case HSA_EXECUTABLE_SYMBOL_INFO_VARIABLE_SIZE: *(uint32_t *)value = s->var_size; break;
        default: *(bool *)value = s->var_const; break;
        }
        break;
    default: st = HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    pthread_rwlock_unlock(&loader_lock);
    return st;
}

/* --- iteration ------------------------------------------------------------------------------ */

enum { ITER_ALL, ITER_AGENT, ITER_PROGRAM };

/* The symbols to visit, copied under the lock so that callbacks run without
 * it (a callback may call the API, even destroy the executable). */
static hsa_status_t snapshot_symbols(hsa_executable_t executable, int which, hsa_agent_t agent,
                                     uint64_t **out, size_t *count)
{
    hsa_status_t st = HSA_STATUS_SUCCESS;
    *out = NULL;
    *count = 0;
    pthread_rwlock_rdlock(&loader_lock);
    sim_executable *ex = live_get(executable.handle, OBJ_EXECUTABLE);
    if (!ex) {
        st = HSA_STATUS_ERROR_INVALID_EXECUTABLE;
    } else if (ex->n_symbols) {
        uint64_t *h = malloc(ex->n_symbols * sizeof *h);
        if (!h) {
            st = HSA_STATUS_ERROR_OUT_OF_RESOURCES;
        } else {
            size_t n = 0;
            for (size_t i = 0; i < ex->n_symbols; i++) {
                const sim_symbol *s = ex->symbols[i];
                if ((which == ITER_AGENT && (!s->is_agent || s->agent.handle != agent.handle)) ||
                    (which == ITER_PROGRAM && s->is_agent))
                    continue;
                h[n++] = (uint64_t)(uintptr_t)s;
            }
            *out = h;
            *count = n;
        }
    }
    pthread_rwlock_unlock(&loader_lock);
    return st;
}

static bool still_live(hsa_executable_t executable, uint64_t symbol)
{
    pthread_rwlock_rdlock(&loader_lock);
    bool ok = live_get(executable.handle, OBJ_EXECUTABLE) && live_get(symbol, OBJ_SYMBOL);
    pthread_rwlock_unlock(&loader_lock);
    return ok;
}

SIM_API hsa_status_t hsa_executable_iterate_symbols(
    hsa_executable_t executable,
    hsa_status_t (*callback)(hsa_executable_t exec, hsa_executable_symbol_t symbol, void *data),
    void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    uint64_t *h;
    size_t n;
    hsa_status_t st = snapshot_symbols(executable, ITER_ALL, (hsa_agent_t){0}, &h, &n);
    for (size_t i = 0; st == HSA_STATUS_SUCCESS && i < n && still_live(executable, h[i]); i++)
        st = callback(executable, (hsa_executable_symbol_t){h[i]}, data);
    free(h);
    return st;
}

SIM_API hsa_status_t hsa_executable_iterate_agent_symbols(
    hsa_executable_t executable, hsa_agent_t agent,
    hsa_status_t (*callback)(hsa_executable_t exec, hsa_agent_t agent,
                             hsa_executable_symbol_t symbol, void *data),
    void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (!sim_agent_get(agent))
        return HSA_STATUS_ERROR_INVALID_AGENT;
    uint64_t *h;
    size_t n;
    hsa_status_t st = snapshot_symbols(executable, ITER_AGENT, agent, &h, &n);
    for (size_t i = 0; st == HSA_STATUS_SUCCESS && i < n && still_live(executable, h[i]); i++)
        st = callback(executable, agent, (hsa_executable_symbol_t){h[i]}, data);
    free(h);
    return st;
}

SIM_API hsa_status_t hsa_executable_iterate_program_symbols(
    hsa_executable_t executable,
    hsa_status_t (*callback)(hsa_executable_t exec, hsa_executable_symbol_t symbol, void *data),
    void *data)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!callback)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    uint64_t *h;
    size_t n;
    hsa_status_t st = snapshot_symbols(executable, ITER_PROGRAM, (hsa_agent_t){0}, &h, &n);
    for (size_t i = 0; st == HSA_STATUS_SUCCESS && i < n && still_live(executable, h[i]); i++)
        st = callback(executable, (hsa_executable_symbol_t){h[i]}, data);
    free(h);
    return st;
}
