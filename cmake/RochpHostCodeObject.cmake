# Host code objects for hsasim (DESIGN.md section 4).
#
#   rochp_add_host_code_object(<target> SOURCES <c files>...
#                              [OUTPUT_NAME <file name>] [TARGET_ID <id>]
#                              [CODE_OBJECT_VERSION 4|5])
#
# Builds the C kernels (declared with HSASIM_KERNEL, hsasim/kernel_decl.h) into
# an ELF shared object, runs rochp-hostco-gen on it to obtain the
# NT_AMDGPU_METADATA note clang would emit for the same kernels (code object
# v5 unless CODE_OBJECT_VERSION says 4), and writes a copy carrying that note
# in a SHT_NOTE section
# ".note.AMDGPU" to ${CMAKE_CURRENT_BINARY_DIR}/<OUTPUT_NAME> (default
# <target>.co).  The result is loaded with hsa_code_object_reader_create_* and
# hsa_executable_load_agent_code_object like any code object.
#
# TARGET_ID (e.g. amdgcn-amd-amdhsa--gfx942) is written as amdhsa.target and
# then the simulated runtime loads the object only on agents of that ISA;
# without it the object runs on every simulated GPU.
#
# <target> is a custom target (in ALL) whose ROCHP_HOSTCO_FILE property is the
# path of the code object (ROCHP_HOSTCO_METADATA: the bare msgpack metadata,
# for tests and fuzz seeds); the kernels are compiled by the shared library
# target <target>_kernels, to which include directories, definitions or
# libraries may be added.
#
# Two ways in:
# - In rochp's own build (or a project that adds rochp's source), including
#   this file also defines rochp-hostco-gen (tools/hostco, alias
#   rochp::rochp-hostco-gen), the interface target rochp_hostco (alias
#   rochp::hostco: the kernel headers and hostco_registry.c) and the
#   interface target rochp_msgpack (msgpack-c, Debian's libmsgpack-dev).
# - In another project, find_package(rochp COMPONENTS sim) imports
#   rochp::rochp-hostco-gen and rochp::hostco from an install or a build tree
#   and then includes this file: nothing is built but the kernels.
#
# Host code objects for HIP programs (rochp_add_hip_host_code_object,
# rochp_add_hip_fat_binary) are in RochpHipCodeObject.cmake, included at the
# end of this file.

include_guard(GLOBAL)


# msgpack-c (C API, msgpack.h), as a target every directory sees:
# rochp_msgpack.  msgpack-c 4 (Debian 12) is pkg-config's "msgpack" and
# libmsgpackc; 6 (Debian 13) renamed both msgpack-c, and its msgpack-c.pc says
# includedir=include (relative, which CMake refuses), so there its CMake
# package is used.  ROCHP_MSGPACK_LINK is the -l flag for rochp.pc.
macro(rochp_hostco_find_msgpack)
  if(NOT TARGET rochp_msgpack)
    add_library(rochp_msgpack INTERFACE IMPORTED GLOBAL)
    find_package(PkgConfig QUIET)
    if(PKG_CONFIG_FOUND)
      pkg_check_modules(ROCHP_MSGPACK QUIET IMPORTED_TARGET GLOBAL msgpack)
    endif()
    if(TARGET PkgConfig::ROCHP_MSGPACK)
      target_link_libraries(rochp_msgpack INTERFACE PkgConfig::ROCHP_MSGPACK)
      set(ROCHP_MSGPACK_LINK -lmsgpackc CACHE INTERNAL "msgpack-c's link flag")
    else()
      find_package(msgpack-c CONFIG QUIET)
      if(TARGET msgpack-c)
        set_property(TARGET msgpack-c PROPERTY IMPORTED_GLOBAL TRUE)
        target_link_libraries(rochp_msgpack INTERFACE msgpack-c)
        set(ROCHP_MSGPACK_LINK -lmsgpack-c CACHE INTERNAL "msgpack-c's link flag")
      else()
        find_package(msgpack CONFIG REQUIRED)
        set_property(TARGET msgpackc PROPERTY IMPORTED_GLOBAL TRUE)
        target_link_libraries(rochp_msgpack INTERFACE msgpackc)
        set(ROCHP_MSGPACK_LINK -lmsgpackc CACHE INTERNAL "msgpack-c's link flag")
      endif()
    endif()
  endif()
endmacro()
if(NOT TARGET rochp::rochp-hostco-gen)
  rochp_hostco_find_msgpack()
endif()

if(CMAKE_OBJCOPY)
  set(ROCHP_OBJCOPY "${CMAKE_OBJCOPY}" CACHE FILEPATH "objcopy used for host code objects")
else()
  find_program(ROCHP_OBJCOPY NAMES objcopy llvm-objcopy REQUIRED)
endif()

if(NOT TARGET rochp::rochp-hostco-gen)
  include(GNUInstallDirs)
  get_filename_component(ROCHP_HOSTCO_ROOT_ ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
  if(NOT EXISTS ${ROCHP_HOSTCO_ROOT_}/tools/hostco/CMakeLists.txt)
    message(FATAL_ERROR "RochpHostCodeObject.cmake: outside rochp's source tree, use "
      "find_package(rochp COMPONENTS sim), which includes this file")
  endif()
  add_subdirectory(${ROCHP_HOSTCO_ROOT_}/tools/hostco ${PROJECT_BINARY_DIR}/tools/hostco)
  add_executable(rochp::rochp-hostco-gen ALIAS rochp-hostco-gen)
  add_executable(rochp::rochp-hostco-wrap ALIAS rochp-hostco-wrap)
  add_executable(rochp::rochp-hostco-check ALIAS rochp-hostco-check)
  # What every host code object compiles with: the kernel headers and the
  # registry the generator reads (installed with the sim component).
  add_library(rochp_hostco INTERFACE)
  target_include_directories(rochp_hostco INTERFACE
    $<BUILD_INTERFACE:${ROCHP_HOSTCO_ROOT_}/lib/hsasim/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_sources(rochp_hostco INTERFACE
    $<BUILD_INTERFACE:${ROCHP_HOSTCO_ROOT_}/tools/hostco/hostco_registry.c>
    $<INSTALL_INTERFACE:$<INSTALL_PREFIX>/${CMAKE_INSTALL_DATADIR}/rochp/hostco_registry.c>)
  set_target_properties(rochp_hostco PROPERTIES EXPORT_NAME hostco)
  add_library(rochp::hostco ALIAS rochp_hostco)
endif()

function(rochp_add_host_code_object target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_NAME;TARGET_ID;CODE_OBJECT_VERSION"
    "SOURCES")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "rochp_add_host_code_object(${target}): unknown arguments "
      "${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "rochp_add_host_code_object(${target}): SOURCES is required")
  endif()
  if(NOT arg_OUTPUT_NAME)
    set(arg_OUTPUT_NAME ${target}.co)
  endif()
  set(target_args)
  if(arg_TARGET_ID)
    set(target_args --target ${arg_TARGET_ID})
  endif()
  if(arg_CODE_OBJECT_VERSION)
    if(NOT arg_CODE_OBJECT_VERSION MATCHES "^[45]$")
      message(FATAL_ERROR "rochp_add_host_code_object(${target}): CODE_OBJECT_VERSION is 4 or 5")
    endif()
    list(APPEND target_args --code-object-version ${arg_CODE_OBJECT_VERSION})
  endif()

  set(kernels ${target}_kernels)
  add_library(${kernels} SHARED ${arg_SOURCES})
  target_link_libraries(${kernels} PRIVATE rochp::hostco)
  # Only the "<name>.kd" descriptors are exported; no soname, so that two
  # copies loaded from memory files are never taken for one library.
  set_target_properties(${kernels} PROPERTIES
    C_VISIBILITY_PRESET hidden
    NO_SONAME ON
    PREFIX ""
    OUTPUT_NAME ${target}_kernels
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_CURRENT_BINARY_DIR}/hostco_kernels)

  set(dir ${CMAKE_CURRENT_BINARY_DIR})
  set(note ${dir}/${target}.amdgpu-note)
  set(msgpack ${dir}/${target}.metadata.msgpack)
  set(out ${dir}/${arg_OUTPUT_NAME})
  add_custom_command(OUTPUT ${note} ${msgpack}
    COMMAND rochp::rochp-hostco-gen ${target_args} --msgpack ${msgpack} $<TARGET_FILE:${kernels}>
            ${note}
    DEPENDS ${kernels} rochp::rochp-hostco-gen
    COMMENT "Host code object ${arg_OUTPUT_NAME}: AMDGPU metadata note"
    VERBATIM)
  # Two steps: objcopy applies section options before it adds sections.
  add_custom_command(OUTPUT ${out}
    COMMAND ${ROCHP_OBJCOPY} --add-section .note.AMDGPU=${note} $<TARGET_FILE:${kernels}>
            ${out}.tmp
    COMMAND ${ROCHP_OBJCOPY} --set-section-alignment .note.AMDGPU=4 ${out}.tmp ${out}
    COMMAND ${CMAKE_COMMAND} -E rm -f ${out}.tmp
    DEPENDS ${note} ${kernels}
    COMMENT "Host code object ${arg_OUTPUT_NAME}"
    VERBATIM)
  add_custom_target(${target} ALL DEPENDS ${out})
  set_target_properties(${target} PROPERTIES ROCHP_HOSTCO_FILE ${out}
    ROCHP_HOSTCO_METADATA ${msgpack} ROCHP_HOSTCO_KERNELS_TARGET ${kernels})
endfunction()

include(${CMAKE_CURRENT_LIST_DIR}/RochpHipCodeObject.cmake)
