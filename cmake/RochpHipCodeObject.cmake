# Host code objects for HIP programs (docs/simulator.md, "Host code objects
# for HIP").  Included by RochpHostCodeObject.cmake; needs no HIP to build
# wrapped code objects, and hipcc only for fat binaries.
#
#   rochp_add_hip_host_code_object(<target> SOURCES <c files>... TARGET <gfx>[:<feature>+|-]...
#                                  [OUTPUT_NAME <file name>] [CODE_OBJECT_VERSION 4|5])
#
# Builds the C host kernels (HSASIM_KERNEL) with rochp_add_host_code_object
# for TARGET_ID amdgcn-amd-amdhsa--<TARGET> (e.g. TARGET gfx90a, or
# gfx90a:xnack-) and wraps the result with rochp-hostco-wrap: an EM_AMDGPU
# file with that target's e_flags, which HIP takes for a GPU code object and
# hsasim runs as the host object it carries.  hipModuleLoad/hipModuleLoadData
# take it as it is; rochp_add_hip_fat_binary puts it in a fat binary.
# CODE_OBJECT_VERSION (default 4) must be what the HIP compiler emits: HIP
# 5.2's clang 15 writes code object v4, and its COMGR reads no v5 header.
#
# A HIP kernel's host stand-in is named by the kernel's symbol, mangled as
# clang mangles it (`_Z5scalePfPKfif`, or `scale` for an extern "C"
# kernel), and its kernarg struct must be laid out as clang lays out the
# __global__ function's arguments, explicit and hidden (clang 15 gives a
# kernel that uses no implicit argument none): HIP copies each launch
# argument to the offset the metadata gives.  rochp_add_hip_fat_binary checks
# this at build time.
#
# <target> is a custom target (in ALL) with the properties
#   ROCHP_HOSTCO_FILE            the wrapped code object (<OUTPUT_NAME>, default <target>.co)
#   ROCHP_HOSTCO_HOST_FILE       the host code object inside it
#   ROCHP_HOSTCO_TARGET_ID       amdgcn-amd-amdhsa--<TARGET>
#   ROCHP_HOSTCO_KERNELS_TARGET  the shared library target compiling SOURCES
#
#   rochp_add_hip_fat_binary(<target> HIP_SOURCE <file.hip>
#                            CODE_OBJECTS <rochp_add_hip_host_code_object target>...
#                            [HIP_FLAGS <flag>...] [LAYOUT_CHECK_ARCH <gfx>] [NO_LAYOUT_CHECK])
#
# Makes the fat binary of the wrapped code objects (clang-offload-bundler,
# entries hipv4-amdgcn-amd-amdhsa--<TARGET>, as hipcc makes them) and
# compiles HIP_SOURCE for the host with it in place of the device code
# (hipcc --offload-arch=<gfx> --cuda-host-only -Xclang
# -fcuda-include-gpubinary -Xclang <fat binary>): its kernel launches
# (hipLaunchKernelGGL, <<<>>>) run the host kernels.  A host-only compile
# uses its --offload-arch for nothing but naming a GPU hipcc accepts (else
# hipcc asks rocm_agent_enumerator): LAYOUT_CHECK_ARCH when given, else the
# first code object's target.  One HIP source per fat
# binary (each translation unit registers its own); the code objects must
# hold exactly its kernels.  <target> is an INTERFACE library carrying the
# compiled object and libamdhip64: target_link_libraries(<exe> PRIVATE
# <target>) (an executable with no other sources needs LINKER_LANGUAGE CXX).
# Its property ROCHP_HIP_FATBIN is the fat binary.
#
# Unless NO_LAYOUT_CHECK, HIP_SOURCE is also compiled for each code object's
# GPU (hipcc --offload-arch=<TARGET> --cuda-device-only
# --no-gpu-bundle-output, with HIP_FLAGS) and rochp-hostco-check compares that
# code object's metadata with the wrapped one's: the same kernels, each with
# the same kernarg size, alignment and arguments (kind, offset, size).  A
# difference fails the build and lists both layouts.  LAYOUT_CHECK_ARCH
# compiles for that GPU only and checks every code object against it, for
# targets the HIP compiler does not know (clang 15 has no gfx942): argument
# layouts do not depend on the GPU.  (The check follows the HIP source
# itself, not the headers it includes.)
#
# rochp_find_hip() sets ROCHP_HIP_FOUND (libamdhip64 and its headers),
# ROCHP_HIPCC_FOUND (hipcc and clang-offload-bundler too), ROCHP_HIPCC,
# ROCHP_CLANG_OFFLOAD_BUNDLER, ROCHP_AMDHIP64_LIBRARY, ROCHP_HIP_INCLUDE_DIR.

include_guard(GLOBAL)

function(rochp_find_hip)
  find_program(ROCHP_HIPCC NAMES hipcc PATHS /opt/rocm/bin)
  find_library(ROCHP_AMDHIP64_LIBRARY NAMES amdhip64 PATHS /opt/rocm/lib)
  find_path(ROCHP_HIP_INCLUDE_DIR hip/hip_runtime_api.h PATHS /opt/rocm/include)
  if(ROCHP_HIPCC AND NOT ROCHP_CLANG_OFFLOAD_BUNDLER)
    # The bundler of the clang hipcc runs (Debian: clang-15's).
    execute_process(COMMAND ${ROCHP_HIPCC} --version OUTPUT_VARIABLE version ERROR_QUIET)
    set(names clang-offload-bundler)
    set(hints)
    if(version MATCHES "clang version ([0-9]+)")
      set(names clang-offload-bundler-${CMAKE_MATCH_1} clang-offload-bundler)
      set(hints /usr/lib/llvm-${CMAKE_MATCH_1}/bin)
    endif()
    find_program(ROCHP_CLANG_OFFLOAD_BUNDLER NAMES ${names} HINTS ${hints}
      PATHS /opt/rocm/llvm/bin)
  endif()
  set(found FALSE)
  if(ROCHP_AMDHIP64_LIBRARY AND ROCHP_HIP_INCLUDE_DIR)
    set(found TRUE)
  endif()
  set(ROCHP_HIP_FOUND ${found} PARENT_SCOPE)
  if(found AND ROCHP_HIPCC AND ROCHP_CLANG_OFFLOAD_BUNDLER)
    set(ROCHP_HIPCC_FOUND TRUE PARENT_SCOPE)
  else()
    set(ROCHP_HIPCC_FOUND FALSE PARENT_SCOPE)
  endif()
endfunction()

function(rochp_add_hip_host_code_object target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_NAME;TARGET;CODE_OBJECT_VERSION" "SOURCES")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_SOURCES OR NOT arg_TARGET)
    message(FATAL_ERROR "rochp_add_hip_host_code_object(${target} SOURCES ... TARGET <gfx> "
      "[OUTPUT_NAME f] [CODE_OBJECT_VERSION 4|5]): got ${ARGN}")
  endif()
  if(NOT arg_OUTPUT_NAME)
    set(arg_OUTPUT_NAME ${target}.co)
  endif()
  if(NOT arg_CODE_OBJECT_VERSION)
    set(arg_CODE_OBJECT_VERSION 4)
  endif()
  set(target_id amdgcn-amd-amdhsa--${arg_TARGET})
  rochp_add_host_code_object(${target}_host SOURCES ${arg_SOURCES}
    OUTPUT_NAME ${target}.host.co TARGET_ID ${target_id}
    CODE_OBJECT_VERSION ${arg_CODE_OBJECT_VERSION})
  get_target_property(host ${target}_host ROCHP_HOSTCO_FILE)
  set(out ${CMAKE_CURRENT_BINARY_DIR}/${arg_OUTPUT_NAME})
  add_custom_command(OUTPUT ${out}
    COMMAND rochp::rochp-hostco-wrap ${host} ${out}
    DEPENDS ${target}_host ${host} rochp::rochp-hostco-wrap
    COMMENT "HIP host code object ${arg_OUTPUT_NAME} (${arg_TARGET})"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${out})
  set_target_properties(${target} PROPERTIES ROCHP_HOSTCO_FILE ${out}
    ROCHP_HOSTCO_HOST_FILE ${host} ROCHP_HOSTCO_TARGET_ID ${target_id}
    ROCHP_HOSTCO_KERNELS_TARGET ${target}_host_kernels)
endfunction()

function(rochp_add_hip_fat_binary target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "NO_LAYOUT_CHECK" "HIP_SOURCE;LAYOUT_CHECK_ARCH"
    "CODE_OBJECTS;HIP_FLAGS")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_HIP_SOURCE OR NOT arg_CODE_OBJECTS)
    message(FATAL_ERROR "rochp_add_hip_fat_binary(${target} HIP_SOURCE f.hip CODE_OBJECTS ... "
      "[HIP_FLAGS ...] [NO_LAYOUT_CHECK]): got ${ARGN}")
  endif()
  rochp_find_hip()
  if(NOT ROCHP_HIPCC_FOUND)
    message(FATAL_ERROR "rochp_add_hip_fat_binary(${target}): needs hipcc, clang-offload-bundler "
      "and libamdhip64 (hipcc=${ROCHP_HIPCC} bundler=${ROCHP_CLANG_OFFLOAD_BUNDLER} "
      "library=${ROCHP_AMDHIP64_LIBRARY}); test ROCHP_HIPCC_FOUND after rochp_find_hip() first")
  endif()
  get_filename_component(hip ${arg_HIP_SOURCE} ABSOLUTE)
  set(dir ${CMAKE_CURRENT_BINARY_DIR}/${target}.hip)
  file(MAKE_DIRECTORY ${dir})
  set(entries host-${CMAKE_SYSTEM_PROCESSOR}-unknown-linux)
  set(inputs --input=/dev/null)
  set(host_arch ${arg_LAYOUT_CHECK_ARCH})
  set(depends)
  set(reals)
  foreach(co IN LISTS arg_CODE_OBJECTS)
    get_target_property(file ${co} ROCHP_HOSTCO_FILE)
    get_target_property(id ${co} ROCHP_HOSTCO_TARGET_ID)
    if(NOT file OR NOT id)
      message(FATAL_ERROR "rochp_add_hip_fat_binary(${target}): ${co} is not a "
        "rochp_add_hip_host_code_object target")
    endif()
    string(REPLACE "amdgcn-amd-amdhsa--" "" arch ${id})
    list(APPEND entries hipv4-${id})
    list(APPEND inputs --input=${file})
    if(NOT host_arch)
      set(host_arch ${arch})
    endif()
    list(APPEND depends ${co} ${file})
    if(NOT arg_NO_LAYOUT_CHECK)
      # What clang makes of the HIP source for that GPU, and the comparison.
      set(real_arch ${arch})
      if(arg_LAYOUT_CHECK_ARCH)
        set(real_arch ${arg_LAYOUT_CHECK_ARCH})
      endif()
      string(MAKE_C_IDENTIFIER ${real_arch} real_tag)
      string(MAKE_C_IDENTIFIER ${co} tag)
      set(real ${dir}/clang-${real_tag}.co)
      set(stamp ${dir}/layout-${tag}.ok)
      if(NOT real IN_LIST reals)
        list(APPEND reals ${real})
        add_custom_command(OUTPUT ${real}
          COMMAND ${ROCHP_HIPCC} --offload-arch=${real_arch} --cuda-device-only
                  --no-gpu-bundle-output ${arg_HIP_FLAGS} -c ${hip} -o ${real}
          DEPENDS ${hip}
          COMMENT "HIP ${arg_HIP_SOURCE}: clang's code object for ${real_arch} (layout check)"
          VERBATIM)
      endif()
      add_custom_command(OUTPUT ${stamp}
        COMMAND rochp::rochp-hostco-check ${real} ${file}
        COMMAND ${CMAKE_COMMAND} -E touch ${stamp}
        DEPENDS ${real} ${co} ${file} rochp::rochp-hostco-check
        COMMENT "HIP ${arg_HIP_SOURCE}: ${co}'s kernel arguments against clang's (${real_arch})"
        VERBATIM)
      list(APPEND depends ${stamp})
    endif()
  endforeach()
  string(REPLACE ";" "," entries "${entries}")
  set(fatbin ${dir}/${target}.hipfb)
  set(obj ${dir}/${target}.o)
  add_custom_command(OUTPUT ${fatbin}
    COMMAND ${ROCHP_CLANG_OFFLOAD_BUNDLER} --type=o --bundle-align=4096 --targets=${entries}
            ${inputs} --output=${fatbin}
    DEPENDS ${depends}
    COMMENT "HIP fat binary ${target}.hipfb"
    VERBATIM)
  add_custom_command(OUTPUT ${obj}
    COMMAND ${ROCHP_HIPCC} --offload-arch=${host_arch} --cuda-host-only ${arg_HIP_FLAGS}
            -Xclang -fcuda-include-gpubinary -Xclang ${fatbin} -c ${hip} -o ${obj}
    DEPENDS ${hip} ${fatbin}
    COMMENT "HIP ${arg_HIP_SOURCE} for the host, with the fat binary ${target}.hipfb"
    VERBATIM)
  add_custom_target(${target}_build DEPENDS ${obj})
  add_library(${target} INTERFACE)
  target_sources(${target} INTERFACE ${obj})
  target_link_libraries(${target} INTERFACE ${ROCHP_AMDHIP64_LIBRARY})
  add_dependencies(${target} ${target}_build)
  set_target_properties(${target} PROPERTIES ROCHP_HIP_FATBIN ${fatbin})
endfunction()
