#!/bin/sh
# The main demo: a virtual 4-GPU MI300X machine, what rochp-info sees, one
# board unplugged (the diff the reader computes), then plugged back
# (`returned`: same unique_id).  Builds into ./build-demo first.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build-demo
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROCHP_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
info=$build/tools/rochp-info
sim=$build/tools/rochp-sim/rochp-sim

tree=$(mktemp -d "${TMPDIR:-/tmp}/rochp-demo-XXXXXX")
trap 'rm -rf "$tree"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$sim" create "$tree" --model mi300x --gpus 4
step "$info" --sysfs-root "$tree"
step "$sim" unplug "$tree" 0000:27:00.0
step "$info" --sysfs-root "$tree"
step "$sim" list "$tree"
step "$sim" plug "$tree" 0000:27:00.0
step "$sim" plug "$tree" --model mi300x --partitions 8
printf '\n\033[1m$ %s\033[0m\n' "ROCHP_SYSFS_ROOT=$tree $info --json"
ROCHP_SYSFS_ROOT=$tree "$info" --json | cut -c1-400
echo "..."
