/* A GPU reset (hang, SRAM ECC) as the runtime reports it: ROCm >= 6 sends
 * HSA_AMD_GPU_HW_EXCEPTION_EVENT with hsa_amd_gpu_hw_exception_info_t
 * {agent, reset_type, reset_cause}.  ROCm 5.2.3's hsa_ext_amd.h
 * (HSA_AMD_INTERFACE_VERSION 1.0) has neither and its runtime never sends
 * one; 6.1.2's is 1.4.  hsasim sends it (as 1, the agent first) over either
 * header.  Header-only: librochp and the tool both read it. */
#ifndef ROCHP_HSA_HW_EXCEPTION_H
#define ROCHP_HSA_HW_EXCEPTION_H

#include <hsa/hsa_ext_amd.h>

#if HSA_AMD_INTERFACE_VERSION_MAJOR > 1 || HSA_AMD_INTERFACE_VERSION_MINOR >= 4
#define HW_RESET_EVENT HSA_AMD_GPU_HW_EXCEPTION_EVENT
#define HW_RESET_AGENT(event) ((event)->hw_exception.agent)
#else
#define HW_RESET_EVENT 1
#define HW_RESET_AGENT(event) ((event)->memory_fault.agent)
#endif

#endif
