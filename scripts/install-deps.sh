#!/bin/sh
# Installs what rochp needs from Debian 12's archive, and only what is missing
# (safe to run again).  Run as root.
set -eu

PACKAGES="
build-essential
cmake
pkg-config
clang
llvm
clang-15
lld-15
libclang-rt-14-dev
python3
libhsa-runtime-dev
libhsakmt-dev
libnuma-dev
libelf-dev
libmsgpack-dev
libxxhash-dev
rocminfo
libamdhip64-dev
hipcc
libamd-comgr-dev
rocm-device-libs
openmpi-bin
libopenmpi-dev
"

missing=""
for p in $PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
if [ -z "$missing" ]; then
    echo "install-deps: everything is installed"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing:$missing -- run this script as root to install them" >&2
    exit 1
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
