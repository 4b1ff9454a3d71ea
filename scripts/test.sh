#!/bin/sh
# Builds rochp three ways and runs the whole test suite in each: a normal
# build with gcc, then ASan+UBSan and TSan with clang (which also brings
# libFuzzer, so the fuzz targets get a real bounded fuzzing session there);
# then the gcc build and the whole suite again in a Debian 13 root (ROCm
# 6.1.2, HIP 5.7.1: scripts/trixie-root.sh, which makes the root with
# debootstrap the first time, ~4 min, and needs root).
# Usage: scripts/test.sh [build-root]   (default: ./build-test)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$here/build-test}
jobs=$(nproc 2>/dev/null || echo 2)

run() {
    name=$1
    cc=$2
    shift 2
    echo "=== $name build ($cc) ==="
    cmake -S "$here" -B "$root/$name" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$root/$name" -j "$jobs"
    echo "=== $name tests ==="
    (cd "$root/$name" && ctest --output-on-failure -j "$jobs")
}

run release gcc
run asan clang -DROCHP_SANITIZE=address
run tsan clang -DROCHP_SANITIZE=thread
echo "=== Debian 13 root (ROCm 6.1.2): gcc build and tests ==="
start=$(date +%s)
"$here/scripts/trixie-root.sh" test
echo "=== Debian 13 root: $(($(date +%s) - start)) s ==="
echo "=== all test builds passed ==="
