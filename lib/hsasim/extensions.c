/* Extension function tables (hsa_system_get_major_extension_table,
 * hsa_system_get_extension_table) for the one extension hsasim has a table
 * for: the AMD loader's (hsa_ven_amd_loader.h).
 *
 * HIP 5.7.1 asks for it at start (clr rocm-5.7.1 rocclr/device/rocm/
 * rocdevice.cpp Device::init, hsa_system_get_major_extension_table(
 * HSA_EXTENSION_AMD_LOADER, 1, sizeof(hsa_ven_amd_loader_1_00_pfn_t), ...),
 * and rocurilocator.cpp for the 1.03 table) and keeps the function pointers.
 *
 * ROCR 6.1.2 (src/core/runtime/hsa.cpp): not open, NOT_INITIALIZED; a null
 * table or a length of 0, INVALID_ARGUMENT; for the loader any major version
 * but 1 is HSA_STATUS_ERROR, else the 1.03 table (seven functions) is copied
 * up to table_length bytes, so a caller with an older, shorter table gets its
 * prefix.  hsa_system_get_extension_table(ext, major, minor, table) is the
 * same with the length of the named table (get_extension_table_length: the
 * loader's 1.00 to 1.03), and a minor version with no table gives length 0,
 * INVALID_ARGUMENT.
 *
 * ROCR does not export the loader's functions (src/hsacore.so.def): the
 * table is their only way in.  hsasim has no loaded-segment bookkeeping of
 * ROCR's kind (its code objects are host shared objects), so the table's
 * functions answer HSA_STATUS_ERROR, after one line on stderr per process, as
 * every export hsasim does not implement does (gen_api.py's stubs).  HIP
 * 5.7.1 only keeps them (Device::loaderQueryHostAddress has no caller in clr
 * rocm-5.7.1).  The images, finalizer and AQL profiling extensions have no
 * table here: hsasim implements none of them (ROCR too answers
 * HSA_STATUS_ERROR for AQL profiling when its library does not load). */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include <hsa/hsa_ven_amd_loader.h>

#include "hsasim.h"

static hsa_status_t not_simulated(const char *name)
{
    static atomic_flag told = ATOMIC_FLAG_INIT;
    if (!atomic_flag_test_and_set(&told))
        fprintf(stderr, "hsasim: %s (AMD loader extension) is not supported by the simulated "
                        "runtime\n", name);
    return HSA_STATUS_ERROR;
}

static hsa_status_t query_host_address(const void *device_address, const void **host_address)
{
    (void)device_address;
    (void)host_address;
    return not_simulated("hsa_ven_amd_loader_query_host_address");
}

static hsa_status_t query_segment_descriptors(hsa_ven_amd_loader_segment_descriptor_t *descriptors,
                                              size_t *num_segment_descriptors)
{
    (void)descriptors;
    (void)num_segment_descriptors;
    return not_simulated("hsa_ven_amd_loader_query_segment_descriptors");
}

static hsa_status_t query_executable(const void *device_address, hsa_executable_t *executable)
{
    (void)device_address;
    (void)executable;
    return not_simulated("hsa_ven_amd_loader_query_executable");
}

static hsa_status_t iterate_loaded_code_objects(
    hsa_executable_t executable,
    hsa_status_t (*callback)(hsa_executable_t, hsa_loaded_code_object_t, void *), void *data)
{
    (void)executable;
    (void)callback;
    (void)data;
    return not_simulated("hsa_ven_amd_loader_executable_iterate_loaded_code_objects");
}

static hsa_status_t loaded_code_object_get_info(hsa_loaded_code_object_t loaded_code_object,
                                                hsa_ven_amd_loader_loaded_code_object_info_t
                                                    attribute,
                                                void *value)
{
    (void)loaded_code_object;
    (void)attribute;
    (void)value;
    return not_simulated("hsa_ven_amd_loader_loaded_code_object_get_info");
}

static hsa_status_t reader_create_from_file_with_offset_size(
    hsa_file_t file, size_t offset, size_t size, hsa_code_object_reader_t *code_object_reader)
{
    (void)file;
    (void)offset;
    (void)size;
    (void)code_object_reader;
    return not_simulated("hsa_ven_amd_loader_code_object_reader_create_from_file_with_offset_size");
}

static hsa_status_t iterate_executables(hsa_status_t (*callback)(hsa_executable_t, void *),
                                        void *data)
{
    (void)callback;
    (void)data;
    return not_simulated("hsa_ven_amd_loader_iterate_executables");
}

static size_t loader_table_size(uint16_t minor)
{
    switch (minor) {
    case 0: return sizeof(hsa_ven_amd_loader_1_00_pfn_t);
    case 1: return sizeof(hsa_ven_amd_loader_1_01_pfn_t);
    case 2: return sizeof(hsa_ven_amd_loader_1_02_pfn_t);
    case 3: return sizeof(hsa_ven_amd_loader_1_03_pfn_t);
    default: return 0;
    }
}

SIM_API hsa_status_t hsa_system_get_major_extension_table(uint16_t extension,
                                                          uint16_t version_major,
                                                          size_t table_length, void *table)
{
    if (!sim_is_initialized())
        return HSA_STATUS_ERROR_NOT_INITIALIZED;
    if (!table || table_length == 0)
        return HSA_STATUS_ERROR_INVALID_ARGUMENT;
    if (extension != HSA_EXTENSION_AMD_LOADER || version_major != 1)
        return HSA_STATUS_ERROR;
    hsa_ven_amd_loader_1_03_pfn_t t = {
        .hsa_ven_amd_loader_query_host_address = query_host_address,
        .hsa_ven_amd_loader_query_segment_descriptors = query_segment_descriptors,
        .hsa_ven_amd_loader_query_executable = query_executable,
        .hsa_ven_amd_loader_executable_iterate_loaded_code_objects = iterate_loaded_code_objects,
        .hsa_ven_amd_loader_loaded_code_object_get_info = loaded_code_object_get_info,
        .hsa_ven_amd_loader_code_object_reader_create_from_file_with_offset_size =
            reader_create_from_file_with_offset_size,
        .hsa_ven_amd_loader_iterate_executables = iterate_executables,
    };
    memcpy(table, &t, table_length < sizeof t ? table_length : sizeof t);
    return HSA_STATUS_SUCCESS;
}

SIM_API hsa_status_t hsa_system_get_extension_table(uint16_t extension, uint16_t version_major,
                                                    uint16_t version_minor, void *table)
{
    size_t length = extension == HSA_EXTENSION_AMD_LOADER && version_major == 1
                        ? loader_table_size(version_minor)
                        : 0;
    return hsa_system_get_major_extension_table(extension, version_major, length, table);
}
