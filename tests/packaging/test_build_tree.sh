#!/bin/sh
# shellcheck disable=SC2154 # consumer-paths.sh's variables, read by consumer_build
# The consumer project (tests/packaging/consumer) against the build tree,
# nothing installed: through find_package(rochp COMPONENTS sim) with
# rochp_DIR=BUILD_DIR, through CMake's pkg_check_modules and through the
# compiler alone with PKG_CONFIG_PATH=BUILD_DIR (rochp-uninstalled.pc).  Each
# time version.c and the dispatch of its host kernel run, the dispatch on the
# build's hsasim over a tree made by the build's rochp-sim, checked exactly.
# Usage: test_build_tree.sh SOURCE_DIR BUILD_DIR C_COMPILER
set -eu
src=$1 build=$2 cc=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rochp-build-tree-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
# shellcheck source=consumer.sh
. "$src/tests/packaging/consumer.sh"
unset CMAKE_PREFIX_PATH

# find_package(rochp COMPONENTS sim) with rochp_DIR
consumer_build "$scratch/cmake" cmake -Drochp_DIR="$build"
[ "$rochp_dir" = "$build" ] || fail "find_package took rochp from $rochp_dir"
libdir=$(dirname "$rochp_library")
case $rochp_library in "$build"/*) ;; *) fail "rochp::rochp is $rochp_library" ;; esac
case $hsa_runtime in "$build"/*/libhsa-runtime64.so.1.5.0) ;; *) fail "rochp::hsasim is $hsa_runtime" ;; esac
case $rochp_sim in "$build"/*/rochp-sim) ;; *) fail "rochp::rochp-sim is $rochp_sim" ;; esac
consumer_run "find_package consumer (build tree)" "$scratch/cmake/consumer" \
    "$scratch/cmake/consumer_dispatch" "$code_object"

# pkg-config: rochp-uninstalled.pc names the source tree's headers and the
# library where it is built
export PKG_CONFIG_PATH="$build"
flags=$(pkg-config --cflags --libs rochp | sed "s/ *$//")
[ "$flags" = "-I$src/include -L$libdir -lrochp" ] || fail "pkg-config rochp gives '$flags'"
consumer_build "$scratch/pkg-config" pkg-config -Drochp_DIR="$build"
consumer_run "pkg-config (CMake) consumer (build tree)" "$scratch/pkg-config/consumer" \
    "$scratch/pkg-config/consumer_dispatch" "$code_object"
pc_build_run "pkg-config (compiler) consumer (build tree)" "$libdir"
echo "build tree: find_package and pkg-config checks passed"
