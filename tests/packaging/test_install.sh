#!/bin/sh
# Installs rochp into a scratch prefix and builds examples/version.c against
# it twice, through find_package(rochp) and through pkg-config; checks that
# librochp.so exports only rochp_* symbols.
# Usage: test_install.sh SOURCE_DIR BUILD_DIR C_COMPILER
set -eu
src=$1 build=$2 cc=$3
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rochp-install-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
lib=$(ls "$prefix"/lib*/librochp.so* "$prefix"/lib/*/librochp.so* 2>/dev/null | head -n 1)
[ -n "$lib" ] || { echo "FAIL: no librochp.so installed under $prefix"; exit 1; }

# Only the API: every defined dynamic symbol is rochp_* (or the version node).
extra=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^rochp_' | grep -v '^ROCHP_' || true)
if [ -n "$extra" ]; then
    echo "FAIL: librochp exports non-API symbols:"; echo "$extra"; exit 1
fi
nm -D --defined-only "$lib" | grep -q ' rochp_status_string@@ROCHP_0.1$' ||
    { echo "FAIL: rochp_status_string is not versioned ROCHP_0.1"; exit 1; }

# find_package(rochp)
cmake -S "$src/tests/packaging/consumer" -B "$scratch/cmake-consumer" \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" \
    -DEXAMPLE_SOURCE="$src/examples/version.c" >/dev/null
cmake --build "$scratch/cmake-consumer" >/dev/null
LD_LIBRARY_PATH=$(dirname "$lib") "$scratch/cmake-consumer/consumer" | grep -q '^rochp 0\.1\.0 (success)$' ||
    { echo "FAIL: find_package consumer did not run"; exit 1; }

# pkg-config
pcdir=$(dirname "$(find "$prefix" -name rochp.pc | head -n 1)")
flags=$(PKG_CONFIG_PATH=$pcdir pkg-config --cflags --libs rochp)
# shellcheck disable=SC2086
"$cc" -o "$scratch/pc-consumer" "$src/examples/version.c" $flags
LD_LIBRARY_PATH=$(dirname "$lib") "$scratch/pc-consumer" | grep -q '^rochp 0\.1\.0 (success)$' ||
    { echo "FAIL: pkg-config consumer did not run"; exit 1; }
echo "install, find_package, pkg-config and export checks passed"
