#!/bin/sh
# Runs a HIP program on hsasim over a fresh virtual tree.
# usage: run_on_tree.sh ROCHP_SIM HSASIM_DIR MODEL GPUS PROGRAM [ARG...]
# The tree (rochp-sim create --model MODEL --gpus GPUS) is made under
# ROCHP_TEST_TMPDIR, /dev/shm or TMPDIR and removed after; libamdhip64 finds
# hsasim's libhsa-runtime64.so.1 in HSASIM_DIR through LD_LIBRARY_PATH (it
# links the runtime, it does not dlopen it).  Exit status: the program's.
set -u
sim=$1 hsasim=$2 model=$3 gpus=$4
shift 4
base=${ROCHP_TEST_TMPDIR:-}
if [ -z "$base" ]; then
    if [ -w /dev/shm ]; then base=/dev/shm; else base=${TMPDIR:-/tmp}; fi
fi
tree=$(mktemp -d "$base/rochp-hip-XXXXXX") || exit 1
trap 'rm -rf "$tree"' EXIT
"$sim" create "$tree/sys" --model "$model" --gpus "$gpus" >/dev/null || exit 1
ROCHP_SYSFS_ROOT=$tree/sys LD_LIBRARY_PATH=$hsasim${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "$@"
