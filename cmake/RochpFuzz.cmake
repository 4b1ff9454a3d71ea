# Fuzz targets as CTest tests.  With clang (and not under TSan, whose
# instrumentation libFuzzer does not mix with) a target links libFuzzer;
# otherwise tests/fuzz/standalone_main.c replays the seeds and mutates them
# deterministically.  Either way CTest runs a short, bounded session.
#
#   rochp_add_fuzz_test(<name> LABEL <label> SEEDS <dir> RUNS <n>
#                       [STANDALONE_RUNS <n>] [MAX_TOTAL_TIME <s>]
#                       [LIBFUZZER_ARGS <arg>...] SOURCES <file>...)
#
# The code under test must be among SOURCES (not linked from a library), so
# that it carries libFuzzer's coverage counters.
# Included by each directory that fuzzes: the check is cached, the flag below
# is a directory-scope variable.
include(CheckCSourceCompiles)

set(CMAKE_REQUIRED_FLAGS -fsanitize=fuzzer)
set(CMAKE_REQUIRED_LINK_OPTIONS -fsanitize=fuzzer)
check_c_source_compiles("
#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);
int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }"
  ROCHP_HAVE_LIBFUZZER)
unset(CMAKE_REQUIRED_FLAGS)
unset(CMAKE_REQUIRED_LINK_OPTIONS)

set(ROCHP_FUZZ_WITH_LIBFUZZER OFF)
if(ROCHP_HAVE_LIBFUZZER AND CMAKE_C_COMPILER_ID MATCHES "Clang"
   AND NOT ROCHP_SANITIZE STREQUAL "thread")
  set(ROCHP_FUZZ_WITH_LIBFUZZER ON)
endif()

function(rochp_add_fuzz_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg ""
    "LABEL;SEEDS;RUNS;STANDALONE_RUNS;MAX_TOTAL_TIME" "SOURCES;LIBFUZZER_ARGS")
  if(NOT arg_LABEL OR NOT arg_SEEDS OR NOT arg_RUNS OR NOT arg_SOURCES)
    message(FATAL_ERROR "rochp_add_fuzz_test(${name}): LABEL, SEEDS, RUNS and SOURCES are required")
  endif()
  if(NOT arg_STANDALONE_RUNS)
    set(arg_STANDALONE_RUNS ${arg_RUNS})
  endif()
  if(NOT arg_MAX_TOTAL_TIME)
    set(arg_MAX_TOTAL_TIME 15)
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} PRIVATE rochp_warnings)
  if(ROCHP_FUZZ_WITH_LIBFUZZER)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    # libFuzzer writes new inputs into the first directory: keep the seeds clean.
    set(found ${CMAKE_CURRENT_BINARY_DIR}/${name}-found)
    file(MAKE_DIRECTORY ${found})
    set(args ${found} ${arg_SEEDS} -runs=${arg_RUNS} -max_total_time=${arg_MAX_TOTAL_TIME}
        -timeout=10 -rss_limit_mb=1024 ${arg_LIBFUZZER_ARGS})
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/fuzz/standalone_main.c)
    set(args ${arg_SEEDS} -runs=${arg_STANDALONE_RUNS})
  endif()
  add_test(NAME ${name} COMMAND ${name} ${args})
  set_tests_properties(${name} PROPERTIES LABELS ${arg_LABEL} TIMEOUT 300)
endfunction()
