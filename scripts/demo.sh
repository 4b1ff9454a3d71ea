#!/bin/sh
# The main demo: an application (examples/device_events) learns that GPUs
# leave and arrive while rochp-sim unplugs and plugs boards of a virtual
# 4-GPU MI300X machine, on hsasim (the simulated HSA runtime).  Builds into
# ./build-demo first.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
build=$here/build-demo
cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROCHP_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
sim=$build/tools/rochp-sim/rochp-sim
tree=$(mktemp -d "${TMPDIR:-/tmp}/rochp-demo-XXXXXX")
out=$tree.events
trap 'rm -rf "$tree" "$out"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step "$sim" create "$tree" --model mi300x --gpus 4
step "$build/tools/rochp-info" --sysfs-root "$tree"

printf '\n\033[1m$ device_events --count 10 &   (rochp + hsasim; output below)\033[0m\n'
ROCHP_SYSFS_ROOT=$tree ROCHP_HSA_RUNTIME=$build/hsasim/libhsa-runtime64.so.1 \
    "$build/examples/device_events" --count 10 --timeout 60 > "$out" 2>&1 &
app=$!
while ! grep -q "present" "$out" 2>/dev/null; do sleep 0.1; done
sleep 0.3
# The example holds the runtime: under the default (sigbus) kernel behaviour
# the unplug would SIGBUS it; here the device just goes dead.
export ROCHP_SIM_KERNEL=silent
step "$sim" unplug "$tree" 0000:27:00.0
sleep 0.5
step "$sim" plug "$tree" 0000:27:00.0
sleep 0.5
step "$sim" plug "$tree" --model mi300x --partitions 8
wait "$app" || true
printf '\n\033[1m# what device_events printed\033[0m\n'
cat "$out"
