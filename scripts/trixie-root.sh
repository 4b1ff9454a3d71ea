#!/bin/sh
# A Debian 13 ("trixie", ROCm 6.1.2) root to build and test rochp in, from a
# Debian 12 machine (issue 15).  Run as root.
#   scripts/trixie-root.sh            make the root once (debootstrap), then
#                                     install what is missing from PACKAGES
#   scripts/trixie-root.sh run CMD... run CMD in it, the project at its path
#   scripts/trixie-root.sh test       gcc build in the root's /tmp, then ctest
#                                     (scripts/test.sh runs it after the
#                                     Debian 12 builds)
# The root lives in $ROCHP_TRIXIE_ROOT (default /var/cache/rochp-trixie).
# The project's directory (and ../shared beside it, when there) appear in the
# root at the same paths.
# Each run mounts in its own mount namespace (unshare), so the mounts end with
# it even when it is killed; the trap unmounts them on any exit as well.
# shellcheck disable=SC2016 # the single-quoted scripts expand in the root
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
root=${ROCHP_TRIXIE_ROOT:-/var/cache/rochp-trixie}
mirror=${ROCHP_TRIXIE_MIRROR:-http://deb.debian.org/debian}

# scripts/install-deps.sh's list, by trixie's names: its default clang/llvm/lld
# (19) and the device libraries built for it; rocm-device-libs-17 is LLVM 17's.
# Open MPI 5.0.7 for tests/mpi (with ULFM: docs/rocm-versions.md).
PACKAGES="
build-essential
cmake
pkg-config
clang
llvm
lld
libclang-rt-dev
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
rocm-device-libs-17
openmpi-bin
libopenmpi-dev
"

[ "$(id -u)" = 0 ] || { echo "trixie-root: run as root" >&2; exit 1; }

# Own mount namespace: mounts are private to this run and go with it.
if [ -z "${ROCHP_TRIXIE_NS:-}" ] && command -v unshare >/dev/null; then
    ROCHP_TRIXIE_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

mounted=""
unmount_all() {
    for m in $mounted; do umount -R "$m" 2>/dev/null || umount -l "$m" || true; done
    mounted=""
}
trap 'unmount_all' EXIT
trap 'exit 130' INT TERM HUP
bind() { # bind SRC DST: mount SRC at DST (recursively), unmounted on exit
    mkdir -p "$2"
    mount --rbind "$1" "$2"
    mount --make-rslave "$2"
    mounted="$2 $mounted"
}

in_root() { # in_root DIR CMD...: run CMD in the root, from DIR
    dir=$1
    shift
    if [ -z "$mounted" ]; then
        # The root a mount point of its own, so that unshare --mount works in
        # it (tests that mount, as rocminfo-sim.sh, need that).
        bind "$root" "$root"
        bind /proc "$root/proc"
        bind /sys "$root/sys"
        bind /dev "$root/dev"   # with /dev/shm
        bind "$here" "$root$here"
        # The real KFD captures beside the project (ROCHP_FIXTURE_DIR's default).
        shared=$(dirname "$here")/shared
        [ ! -d "$shared" ] || bind "$(cd "$shared" && pwd -P)" "$root$shared"
        cp /etc/resolv.conf "$root/etc/resolv.conf"
    fi
    chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive CI="${CI:-}" PYTHONDONTWRITEBYTECODE=1 \
        /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$dir" "$@"
}

make_root() {
    if [ ! -x "$root/usr/bin/apt-get" ] || [ ! -e "$root/.rochp-debootstrap-done" ]; then
        command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap
        echo "trixie-root: debootstrap trixie into $root (once)"
        # Never remove a tree something is mounted in (the project, /dev).
        if grep -q " ${root}[./ ]" /proc/self/mounts; then
            echo "trixie-root: something is mounted under $root; not remaking it" >&2
            exit 1
        fi
        rm -rf "$root.new"
        nice -n 10 debootstrap --variant=minbase trixie "$root.new" "$mirror"
        rm -rf "$root"
        mv "$root.new" "$root"
        touch "$root/.rochp-debootstrap-done"
    fi
    # shellcheck disable=SC2086
    in_root / sh -c 'missing=""
        for p in "$@"; do
            dpkg-query -W -f="\${Status}" "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
        done
        [ -z "$missing" ] && exit 0
        echo "trixie-root: installing:$missing"
        apt-get update -qq && nice -n 10 apt-get install -y -qq --no-install-recommends $missing' sh $PACKAGES
}

case ${1:-} in
"")
    make_root
    ;;
run)
    shift
    [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
    make_root
    case $PWD in "$here" | "$here"/*) dir=$PWD ;; *) dir=$here ;; esac
    in_root "$dir" "$@"
    ;;
test)
    make_root
    # One build directory per source tree, so that a tree at another path
    # (a CI clone) never meets another tree's CMake cache.
    b=/tmp/rochp-trixie-build-$(printf %s "$here" | cksum | cut -d" " -f1)
    in_root "$here" sh -c 'set -e
        cmake -S "$1" -B "$2" -DCMAKE_C_COMPILER=gcc -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
        nice -n 10 cmake --build "$2" -j "$(nproc)"
        cd "$2" && nice -n 10 ctest --output-on-failure -j "$(nproc)"' sh "$here" "$b"
    ;;
*)
    echo "usage: $0 [run CMD... | test]" >&2
    exit 2
    ;;
esac
