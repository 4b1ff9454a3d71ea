/* hsasim's loader: code object readers and executables (hsa.h, "Executable"),
 * shared by code_object_reader.c, executable*.c and code_index.c.
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
 *   hsasim refuses GPU ISA: EM_AMDGPU, unless the file is a wrapper around a
 *   host code object, which is loaded instead); metadata amdhsa.target naming another
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
 * Locking: one reader-writer lock over the registry of live readers,
 * executables and symbols.  Queries hold it shared; create/load/freeze/
 * destroy take it exclusively for the update only (parsing and dlopen run
 * outside it).  It is never held while calling sim_agent_get (which takes
 * sim_rt.lock) nor while calling user callbacks. */
#ifndef HSASIM_LOADER_H
#define HSASIM_LOADER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hsasim.h"

/* --- objects ------------------------------------------------------------------------ */

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

/* --- the registry of live objects (executable.c) ------------------------------------ */

/* What a handle designates, for checking it without dereferencing it. */
enum { SIM_OBJ_READER = 1, SIM_OBJ_EXECUTABLE, SIM_OBJ_SYMBOL };

extern pthread_rwlock_t sim_loader_lock;

/* The object of that kind behind a handle, or NULL.  Callers hold
 * sim_loader_lock (shared is enough). */
void *sim_live_get(uint64_t handle, int kind);
/* Room for more objects; callers hold sim_loader_lock exclusively.  Only
 * fails for lack of memory. */
bool sim_live_reserve(size_t more);
/* After sim_live_reserve, sim_loader_lock held exclusively. */
void sim_live_add(const void *p, int kind);
void sim_live_remove(const void *p);

/* A message on stderr when ROCHP_LOG is set, as ROCR's loader logs. */
void sim_loader_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* --- symbols (executable.c) ----------------------------------------------------------- */

/* qsort order of sim_executable.symbols. */
int sim_symbol_cmp(const void *pa, const void *pb);
/* The program symbol (agent NULL) or agent symbol of that name, by binary
 * search; callers hold sim_loader_lock. */
sim_symbol *sim_symbol_find(const sim_executable *ex, const char *name, const hsa_agent_t *agent);
void sim_symbol_free(sim_symbol *s);
/* dlclose's a loaded copy and frees it (NULL is fine). */
void sim_loaded_unload(sim_loaded *l);

/* ROCR's Isa::IsCompatible of a code object's amdhsa.target and an agent's ISA
 * name (executable_load.c). */
bool sim_target_compatible(const char *code, const char *agent);

/* --- wrapped host code objects (code_object_wrapper.c) ------------------------------ */

/* An EM_AMDGPU image carrying a host code object for machine (its marker:
 * include/hsasim/code_object_wrapper.h): 1 with *inner, *inner_size the host
 * object (inside data), 0 no marker (a real AMDGPU code object), -1 a marked
 * image that is not a valid wrapper (said on stderr, naming uri). */
int sim_unwrap_host_object(const uint8_t *data, size_t size, const char *uri, uint16_t machine,
                           const uint8_t **inner, size_t *inner_size);

/* --- what the packet processors see (code_index.c) --------------------------------- */

/* Callers hold sim_loader_lock exclusively.  Only fails for lack of memory. */
bool sim_code_index_reserve(size_t kernels, size_t segments);
/* After sim_code_index_reserve: a loaded copy's segments and its kernels. */
void sim_code_index_add(const sim_executable *ex, const sim_loaded *l, sim_symbol *const *syms,
                        size_t n_syms);
/* Callers hold sim_loader_lock exclusively: everything of ex leaves both
 * indexes, and the processors' caches with them. */
void sim_code_index_remove(const sim_executable *ex);

#endif
