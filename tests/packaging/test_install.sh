#!/bin/sh
# shellcheck disable=SC2154 # consumer-paths.sh's variables, read by consumer_build
# Installs rochp (every component) into a scratch prefix: exactly the files
# it must, librochp.so exporting only rochp_* (versioned ROCHP_0.1), the
# tool library only OnLoad/OnUnload.  Then the
# consumer project (tests/packaging/consumer: examples/version.c, a host
# kernel built with the installed rochp_add_host_code_object and a program
# that dispatches it) builds against it through find_package(rochp COMPONENTS
# sim) and through pkg-config (CMake's and the compiler alone), and its
# dispatch runs on the installed hsasim over a tree made by the installed
# rochp-sim, its result checked exactly.  Last, an install without the sim
# component: find_package(rochp) works, COMPONENTS sim says it is missing.
# Usage: test_install.sh SOURCE_DIR BUILD_DIR C_COMPILER BINDIR LIBDIR INCLUDEDIR DATADIR
#   (the build's CMAKE_INSTALL_*DIR)
set -eu
src=$1 build=$2 cc=$3 bin=$4 lib=$5 inc=$6 share=$7
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rochp-install-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# shellcheck source=consumer.sh
. "$src/tests/packaging/consumer.sh"

# installed: PREFIX -> its files and links, sorted
installed() { (cd "$1" && find . ! -type d | sed 's|^\./||' | LC_ALL=C sort); }
runtime_files="$bin/rochp-info
$bin/rochp-monitor
$bin/rochp-run
$lib/librochp.so.0
$lib/librochp.so.0.1.0
$lib/librochp_tool.so"
dev_files="$inc/rochp/rochp.h
$inc/rochp/rochp_dispatch.h
$inc/rochp/rochp_hip.h
$lib/cmake/rochp/rochpConfig.cmake
$lib/cmake/rochp/rochpConfigVersion.cmake
$lib/cmake/rochp/rochpTargets-*.cmake
$lib/cmake/rochp/rochpTargets.cmake
$lib/librochp.so
$lib/pkgconfig/rochp.pc"
# librochp_hip is built only where HIP is installed.
if [ -e "$build/lib/librochp_hip.so" ]; then
    runtime_files="$runtime_files
$lib/librochp_hip.so.0
$lib/librochp_hip.so.0.1.0"
    dev_files="$dev_files
$lib/librochp_hip.so"
fi
sim_files="$bin/rochp-hostco-check
$bin/rochp-hostco-gen
$bin/rochp-hostco-wrap
$bin/rochp-sim
$inc/hsasim/code_object_wrapper.h
$inc/hsasim/kernel.h
$inc/hsasim/kernel_decl.h
$lib/cmake/rochp/RochpHipCodeObject.cmake
$lib/cmake/rochp/RochpHostCodeObject.cmake
$lib/cmake/rochp/rochpSimTargets-*.cmake
$lib/cmake/rochp/rochpSimTargets.cmake
$lib/rochp/hsasim/libhsa-runtime64.so.1
$lib/rochp/hsasim/libhsa-runtime64.so.1.5.0
$share/rochp/hostco_registry.c"
# expect FILES PREFIX: the installed files match the list (globs allowed for
# the per-configuration target files), one for one.
expect() {
    got=$(installed "$2")
    root=$2
    missing=$(echo "$1" | while read -r f; do
        # shellcheck disable=SC2086 # the glob is expanded
        set -- "$root"/$f
        [ -e "$1" ] || echo "$f"
    done)
    [ -z "$missing" ] || fail "not installed: $missing (installed: $got)"
    n_want=$(echo "$1" | grep -c .)
    n_got=$(echo "$got" | grep -c .)
    [ "$n_want" = "$n_got" ] || fail "installed $n_got files, not $n_want: $got"
}

prefix=$scratch/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
expect "$runtime_files
$dev_files
$sim_files" "$prefix"
echo "ok: install (components runtime, dev, sim)"

# Only the API: every defined dynamic symbol is rochp_* (or the version node).
so=$prefix/$lib/librochp.so.0.1.0
extra=$(nm -D --defined-only "$so" | awk '{print $3}' | grep -v '^rochp_' | grep -v '^ROCHP_' || true)
[ -z "$extra" ] || fail "librochp exports non-API symbols: $extra"
nm -D --defined-only "$so" | grep -q ' rochp_status_string@@ROCHP_0.1$' ||
    fail "rochp_status_string is not versioned ROCHP_0.1"
echo "ok: librochp exports only rochp_*"

# Transparent mode's tool: OnLoad and OnUnload only, and it finds the
# librochp installed beside it wherever the prefix is ($ORIGIN).
tool=$prefix/$lib/librochp_tool.so
exports=$(nm -D --defined-only "$tool" | awk '{print $3}' | LC_ALL=C sort | tr '\n' ' ')
[ "$exports" = "OnLoad OnUnload " ] || fail "librochp_tool exports '$exports', not OnLoad OnUnload"
resolved=$(ldd "$tool" | awk '/librochp.so/ {print $3}')
[ "$resolved" = "$prefix/$lib/librochp.so.0" ] ||
    fail "the installed librochp_tool takes librochp from '$resolved'"
echo "ok: librochp_tool exports OnLoad and OnUnload and finds its librochp"

# find_package(rochp COMPONENTS sim)
consumer_build "$scratch/cmake" cmake -DCMAKE_PREFIX_PATH="$prefix"
[ "$rochp_dir" = "$prefix/$lib/cmake/rochp" ] || fail "find_package took rochp from $rochp_dir"
[ "$rochp_library" = "$so" ] || fail "rochp::rochp is $rochp_library"
[ "$hsa_runtime" = "$prefix/$lib/rochp/hsasim/libhsa-runtime64.so.1.5.0" ] ||
    fail "rochp::hsasim is $hsa_runtime"
[ "$rochp_sim" = "$prefix/$bin/rochp-sim" ] || fail "rochp::rochp-sim is $rochp_sim"
consumer_run "find_package consumer" "$scratch/cmake/consumer" "$scratch/cmake/consumer_dispatch" \
    "$code_object"

# pkg-config: through CMake's pkg_check_modules, then the compiler alone
export PKG_CONFIG_PATH="$prefix/$lib/pkgconfig"
flags=$(pkg-config --cflags --libs rochp | sed "s/ *$//")
[ "$flags" = "-I$prefix/$lib/pkgconfig/../../$inc -L$prefix/$lib/pkgconfig/../../$lib -lrochp" ] ||
    fail "pkg-config rochp gives '$flags'"
consumer_build "$scratch/pkg-config" pkg-config -DCMAKE_PREFIX_PATH="$prefix"
consumer_run "pkg-config (CMake) consumer" "$scratch/pkg-config/consumer" \
    "$scratch/pkg-config/consumer_dispatch" "$code_object"
pc_build_run "pkg-config (compiler) consumer" "$prefix/$lib"

# Without the sim component
prefix2=$scratch/prefix-nosim
cmake --install "$build" --prefix "$prefix2" --component runtime >/dev/null
cmake --install "$build" --prefix "$prefix2" --component dev >/dev/null
expect "$runtime_files
$dev_files" "$prefix2"
mkdir "$scratch/nosim"
cat >"$scratch/nosim/CMakeLists.txt" <<CMAKE
cmake_minimum_required(VERSION 3.25)
project(nosim C)
find_package(rochp REQUIRED)
add_executable(version "$src/examples/version.c")
target_link_libraries(version PRIVATE rochp::rochp)
find_package(rochp COMPONENTS sim)
message(STATUS "rochp_FOUND with sim: [\${rochp_FOUND}] [\${rochp_NOT_FOUND_MESSAGE}]")
CMAKE
cmake -S "$scratch/nosim" -B "$scratch/nosim/build" -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$cflags" \
    -DCMAKE_PREFIX_PATH="$prefix2" >"$scratch/nosim.log" 2>&1 ||
    { cat "$scratch/nosim.log"; fail "find_package(rochp) without sim did not configure"; }
grep -q "^-- rochp_FOUND with sim: \[0\] \[component sim is not installed (install rochp with it: cmake --install BUILD --component sim)\]$" "$scratch/nosim.log" ||
    { cat "$scratch/nosim.log"; fail "find_package(rochp COMPONENTS sim) without sim"; }
cmake --build "$scratch/nosim/build" >>"$scratch/nosim.log" 2>&1 ||
    { cat "$scratch/nosim.log"; fail "find_package(rochp) without sim did not build"; }
[ "$("$scratch/nosim/build/version")" = "rochp 0.1.0 (success)" ] || fail "version without sim"
echo "ok: install without sim: find_package(rochp) works, COMPONENTS sim reports it missing"
echo "install, find_package, pkg-config and export checks passed"
