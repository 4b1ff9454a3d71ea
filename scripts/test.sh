#!/bin/sh
# Builds rochp three ways and runs the whole test suite in each: a normal
# build, ASan+UBSan and TSan (all with clang, which also brings libFuzzer).
# Usage: scripts/test.sh [build-root]   (default: ./build-test)
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-$here/build-test}
jobs=$(nproc 2>/dev/null || echo 2)

run() {
    name=$1
    shift
    echo "=== $name build ==="
    cmake -S "$here" -B "$root/$name" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
    cmake --build "$root/$name" -j "$jobs"
    echo "=== $name tests ==="
    (cd "$root/$name" && ctest --output-on-failure -j "$jobs")
}

run release
run asan -DROCHP_SANITIZE=address
run tsan -DROCHP_SANITIZE=thread
echo "=== all test builds passed ==="
