/* hsasim: init/shut_down, system information, status strings.
 *
 * As in ROCR, agents are enumerated when the init count goes 0 -> 1 and live
 * until it returns to 0; there is no other way to see a new GPU.  The tools
 * of HSA_TOOLS_LIB load last at that init and unload first at the last
 * shut_down (tools.c). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hsasim.h"

sim_runtime sim_rt = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool sim_is_initialized(void)
{
    pthread_mutex_lock(&sim_rt.lock);
    bool up = sim_rt.refcount > 0;
    pthread_mutex_unlock(&sim_rt.lock);
    return up;
}

/* hsa.h declares these as f(), which in C is no prototype. */
SIM_API hsa_status_t hsa_init(void);
SIM_API hsa_status_t hsa_shut_down(void);

/* ROCR's Runtime::bootstrap_lock_ (runtime.cpp, Acquire and Release): one
 * hsa_init or hsa_shut_down at a time, held while the tools load and unload,
 * so that a concurrent hsa_init returns once they have.  sim_rt.lock is not
 * held then: a tool's OnLoad or OnUnload may call the API. */
static pthread_mutex_t boot_lock = PTHREAD_MUTEX_INITIALIZER;

/* A tool's OnLoad or OnUnload runs under the bootstrap lock, which ROCR 5.2.3
 * does not take recursively: hsa_init or hsa_shut_down called from there
 * deadlocks in ROCR (Runtime::Acquire/Release lock bootstrap_lock_ again).
 * hsasim returns HSA_STATUS_ERROR instead and says why. */
static bool called_from_tool(const char *fn)
{
    if (!sim_tools_in_callback())
        return false;
    fprintf(stderr,
            "hsasim: %s called from a tool's OnLoad or OnUnload: HSA_STATUS_ERROR "
            "(ROCR would deadlock on its bootstrap lock)\n",
            fn);
    return true;
}

SIM_API hsa_status_t hsa_init(void)
{
    if (called_from_tool("hsa_init"))
        return HSA_STATUS_ERROR;
    hsa_status_t st = HSA_STATUS_SUCCESS;
    pthread_mutex_lock(&boot_lock);
    pthread_mutex_lock(&sim_rt.lock);
    if (sim_rt.refcount == INT_MAX) {
        st = HSA_STATUS_ERROR_REFCOUNT_OVERFLOW;
    } else if (sim_rt.refcount == 0) {
        /* ROCR reads the topology through libhsakmt once, here. */
        topo_snapshot *snap = NULL;
        rochp__error err = {0};
        if (topo_snapshot_read_parts(NULL, TOPO_READ_ALL | TOPO_READ_CACHE_PROPS, &snap, &err) !=
            ROCHP_OK) {
            if (getenv("ROCHP_LOG"))
                fprintf(stderr, "hsasim: hsa_init: %s\n", err.message);
            st = HSA_STATUS_ERROR_OUT_OF_RESOURCES; /* what ROCR returns when KFD cannot open */
        } else {
            sim_rt.snapshot = snap;
            st = sim_agents_build();
            if (st != HSA_STATUS_SUCCESS) {
                topo_snapshot_free(snap);
                sim_rt.snapshot = NULL;
            }
        }
    }
    bool first = st == HSA_STATUS_SUCCESS && ++sim_rt.refcount == 1;
    pthread_mutex_unlock(&sim_rt.lock);
    if (first) {
        sim_events_start();
        /* The last step of ROCR's Runtime::Load, the runtime usable. */
        sim_tools_load();
    }
    pthread_mutex_unlock(&boot_lock);
    return st;
}

SIM_API hsa_status_t hsa_shut_down(void)
{
    if (called_from_tool("hsa_shut_down"))
        return HSA_STATUS_ERROR;
    pthread_mutex_lock(&boot_lock);
    pthread_mutex_lock(&sim_rt.lock);
    int count = sim_rt.refcount;
    pthread_mutex_unlock(&sim_rt.lock);
    if (count == 0) {
        pthread_mutex_unlock(&boot_lock);
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    }
    /* ROCR's Runtime::Release unloads the tools first, the count still 1. */
    if (count == 1)
        sim_tools_unload();
    pthread_mutex_lock(&sim_rt.lock);
    --sim_rt.refcount;
    pthread_mutex_unlock(&sim_rt.lock);
    if (count == 1) {
        /* The watcher calls back into the runtime: stop it outside the lock. */
        sim_events_stop();
        pthread_mutex_lock(&sim_rt.lock);
        /* Everything the runtime made goes, users of signals first (the
         * bootstrap lock keeps a new hsa_init out until it has). */
        sim_copies_stop();
        sim_queues_shutdown();
        sim_signals_shutdown();
        sim_executables_release_all();
        sim_memory_release_all();
        sim_agents_release();
        topo_snapshot_free(sim_rt.snapshot);
        sim_rt.snapshot = NULL;
        pthread_mutex_unlock(&sim_rt.lock);
        sim_tools_close();
    }
    pthread_mutex_unlock(&boot_lock);
    return HSA_STATUS_SUCCESS;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

SIM_API hsa_status_t hsa_system_get_info(hsa_system_info_t attribute, void *value)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!value)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    switch ((int)attribute) {
    case HSA_SYSTEM_INFO_VERSION_MAJOR: *(uint16_t *)value = 1; break;
    case HSA_SYSTEM_INFO_VERSION_MINOR: *(uint16_t *)value = 1; break;
    case HSA_SYSTEM_INFO_TIMESTAMP: *(uint64_t *)value = now_ns(); break;
    /* Signal timeouts and timestamps are in nanoseconds. */
    case HSA_SYSTEM_INFO_TIMESTAMP_FREQUENCY: *(uint64_t *)value = 1000000000ull; break;
    case HSA_SYSTEM_INFO_SIGNAL_MAX_WAIT: *(uint64_t *)value = UINT64_MAX; break;
    case HSA_SYSTEM_INFO_ENDIANNESS: *(hsa_endianness_t *)value = HSA_ENDIANNESS_LITTLE; break;
    case HSA_SYSTEM_INFO_MACHINE_MODEL:
        *(hsa_machine_model_t *)value = HSA_MACHINE_MODEL_LARGE;
        break;
    case HSA_SYSTEM_INFO_EXTENSIONS:
        /* No finalizer, images or loader extension tables in the simulator. */
        memset(value, 0, 128);
        break;
    case HSA_AMD_SYSTEM_INFO_BUILD_VERSION: *(const char **)value = "hsasim (rochp)"; break;
    case HSA_AMD_SYSTEM_INFO_SVM_SUPPORTED: *(bool *)value = false; break;
    case HSA_AMD_SYSTEM_INFO_SVM_ACCESSIBLE_BY_DEFAULT: *(bool *)value = false; break;
#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
    /* ROCm 6.1.2's hsa.h adds these (rocminfo 6.1.2 asks for them); hsasim
     * has no mwaitx, dmabuf, virtual memory API or XNACK. */
    case HSA_AMD_SYSTEM_INFO_MWAITX_ENABLED: *(bool *)value = false; break;
    case HSA_AMD_SYSTEM_INFO_DMABUF_SUPPORTED: *(bool *)value = false; break;
    case HSA_AMD_SYSTEM_INFO_VIRTUAL_MEM_API_SUPPORTED: *(bool *)value = false; break;
    case HSA_AMD_SYSTEM_INFO_XNACK_ENABLED: *(bool *)value = false; break;
    case HSA_AMD_SYSTEM_INFO_EXT_VERSION_MAJOR:
        *(uint16_t *)value = HSA_AMD_INTERFACE_VERSION_MAJOR;
        break;
    case HSA_AMD_SYSTEM_INFO_EXT_VERSION_MINOR:
        *(uint16_t *)value = HSA_AMD_INTERFACE_VERSION_MINOR;
        break;
#endif
    default: return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    }
    return HSA_STATUS_SUCCESS;
}

/* The strings follow the documentation of each code in hsa.h and
 * hsa_ext_amd.h, prefixed with the code's name as ROCR does. */
static const char *status_text(hsa_status_t status)
{
    switch ((int)status) {
    case HSA_STATUS_SUCCESS:
        return "HSA_STATUS_SUCCESS: The function has been executed successfully.";
    case HSA_STATUS_INFO_BREAK:
        return "HSA_STATUS_INFO_BREAK: A traversal over a list of elements has been interrupted by the application before completing.";
    case HSA_STATUS_ERROR:
        return "HSA_STATUS_ERROR: A generic error has occurred.";
    case HSA_STATUS_ERROR_INVALID_ARGUMENT:
        return "HSA_STATUS_ERROR_INVALID_ARGUMENT: One of the actual arguments does not meet a precondition stated in the documentation of the corresponding formal argument.";
    case HSA_STATUS_ERROR_INVALID_QUEUE_CREATION:
        return "HSA_STATUS_ERROR_INVALID_QUEUE_CREATION: The requested queue creation is not valid.";
    case HSA_STATUS_ERROR_INVALID_ALLOCATION:
        return "HSA_STATUS_ERROR_INVALID_ALLOCATION: The requested allocation is not valid.";
    case HSA_STATUS_ERROR_INVALID_AGENT:
        return "HSA_STATUS_ERROR_INVALID_AGENT: The agent is invalid.";
    case HSA_STATUS_ERROR_INVALID_REGION:
        return "HSA_STATUS_ERROR_INVALID_REGION: The memory region is invalid.";
    case HSA_STATUS_ERROR_INVALID_SIGNAL:
        return "HSA_STATUS_ERROR_INVALID_SIGNAL: The signal is invalid.";
    case HSA_STATUS_ERROR_INVALID_QUEUE:
        return "HSA_STATUS_ERROR_INVALID_QUEUE: The queue is invalid.";
    case HSA_STATUS_ERROR_OUT_OF_RESOURCES:
        return "HSA_STATUS_ERROR_OUT_OF_RESOURCES: The HSA runtime failed to allocate the necessary resources. This error may also occur when the HSA runtime needs to spawn threads or create internal OS-specific events.";
    case HSA_STATUS_ERROR_INVALID_PACKET_FORMAT:
        return "HSA_STATUS_ERROR_INVALID_PACKET_FORMAT: The AQL packet is malformed.";
    case HSA_STATUS_ERROR_RESOURCE_FREE:
        return "HSA_STATUS_ERROR_RESOURCE_FREE: An error has been detected while releasing a resource.";
    case HSA_STATUS_ERROR_NOT_INITIALIZED:
        return "HSA_STATUS_ERROR_NOT_INITIALIZED: An API other than ::hsa_init has been invoked while the reference count of the HSA runtime is 0.";
    case HSA_STATUS_ERROR_REFCOUNT_OVERFLOW:
        return "HSA_STATUS_ERROR_REFCOUNT_OVERFLOW: The maximum reference count for the object has been reached.";
    case HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS:
        return "HSA_STATUS_ERROR_INCOMPATIBLE_ARGUMENTS: The arguments passed to a functions are not compatible.";
    case HSA_STATUS_ERROR_INVALID_INDEX:
        return "HSA_STATUS_ERROR_INVALID_INDEX: The index is invalid.";
    case HSA_STATUS_ERROR_INVALID_ISA:
        return "HSA_STATUS_ERROR_INVALID_ISA: The instruction set architecture is invalid.";
    case HSA_STATUS_ERROR_INVALID_ISA_NAME:
        return "HSA_STATUS_ERROR_INVALID_ISA_NAME: The instruction set architecture name is invalid.";
    case HSA_STATUS_ERROR_INVALID_CODE_OBJECT:
        return "HSA_STATUS_ERROR_INVALID_CODE_OBJECT: The code object is invalid.";
    case HSA_STATUS_ERROR_INVALID_EXECUTABLE:
        return "HSA_STATUS_ERROR_INVALID_EXECUTABLE: The executable is invalid.";
    case HSA_STATUS_ERROR_FROZEN_EXECUTABLE:
        return "HSA_STATUS_ERROR_FROZEN_EXECUTABLE: The executable is frozen.";
    case HSA_STATUS_ERROR_INVALID_SYMBOL_NAME:
        return "HSA_STATUS_ERROR_INVALID_SYMBOL_NAME: There is no symbol with the given name.";
    case HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED:
        return "HSA_STATUS_ERROR_VARIABLE_ALREADY_DEFINED: The variable is already defined.";
    case HSA_STATUS_ERROR_VARIABLE_UNDEFINED:
        return "HSA_STATUS_ERROR_VARIABLE_UNDEFINED: The variable is undefined.";
    case HSA_STATUS_ERROR_EXCEPTION:
        return "HSA_STATUS_ERROR_EXCEPTION: An HSAIL operation resulted in a hardware exception.";
    case HSA_STATUS_ERROR_INVALID_CODE_SYMBOL:
        return "HSA_STATUS_ERROR_INVALID_CODE_SYMBOL: The code object symbol is invalid.";
    case HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL:
        return "HSA_STATUS_ERROR_INVALID_EXECUTABLE_SYMBOL: The executable symbol is invalid.";
    case HSA_STATUS_ERROR_INVALID_FILE:
        return "HSA_STATUS_ERROR_INVALID_FILE: The file descriptor is invalid.";
    case HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER:
        return "HSA_STATUS_ERROR_INVALID_CODE_OBJECT_READER: The code object reader is invalid.";
    case HSA_STATUS_ERROR_INVALID_CACHE:
        return "HSA_STATUS_ERROR_INVALID_CACHE: The cache is invalid.";
    case HSA_STATUS_ERROR_INVALID_WAVEFRONT:
        return "HSA_STATUS_ERROR_INVALID_WAVEFRONT: The wavefront is invalid.";
    case HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP:
        return "HSA_STATUS_ERROR_INVALID_SIGNAL_GROUP: The signal group is invalid.";
    case HSA_STATUS_ERROR_INVALID_RUNTIME_STATE:
        return "HSA_STATUS_ERROR_INVALID_RUNTIME_STATE: The HSA runtime is not in the configuration state.";
    case HSA_STATUS_ERROR_FATAL:
        return "HSA_STATUS_ERROR_FATAL: The queue received an error that may require process termination.";
    /* the AMD codes a queue's error callback gets (queue_processor.c), in the
     * words of ROCR 5.2.3's hsa_status_string (hsa.cpp) */
    case HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION:
        return "HSA_STATUS_ERROR_MEMORY_APERTURE_VIOLATION: The agent attempted to access memory beyond the largest legal address.";
    case HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION:
        return "HSA_STATUS_ERROR_ILLEGAL_INSTRUCTION: The agent attempted to execute an illegal shader instruction.";
    }
    return NULL;
}

SIM_API hsa_status_t hsa_status_string(hsa_status_t status, const char **status_string)
{
    if (!status_string)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    const char *text = status_text(status);
    if (!text)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    *status_string = text;
    return HSA_STATUS_SUCCESS;
}
