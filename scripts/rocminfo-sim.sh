#!/bin/sh
# Runs Debian's unmodified rocminfo on hsasim over a virtual KFD tree.
# rocminfo checks `lsmod | grep amdgpu` (5.2.3; 6.1.2 reads
# /sys/module/amdgpu/initstate) and opens /dev/kfd before it calls HSA, so
# it runs in a private mount namespace where both exist: a module list
# naming amdgpu over /proc/modules (and an initstate saying "live" on a
# tmpfs over /sys/module), and /dev/kfd as a plain file on a fresh /dev
# (the real /dev's null, zero, urandom and shm bound back in).
# A kernel built without modules has no /proc/modules to cover (procfs takes
# no new files), and a minimal system may have no lsmod: so an lsmod that
# prints the same line also comes first on PATH.  Nothing outside the
# namespace changes.
# Usage: rocminfo-sim.sh TREE [HSASIM_DIR]   (root, or unprivileged user namespaces)
set -eu
tree=$1
here=$(cd "$(dirname "$0")/.." && pwd)
hsasim=${2:-$here/build/hsasim}
[ -f "$hsasim/libhsa-runtime64.so.1" ] || { echo "rocminfo-sim: no hsasim in $hsasim" >&2; exit 1; }
[ -d "$tree/topology" ] || { echo "rocminfo-sim: no KFD tree in $tree" >&2; exit 1; }
command -v rocminfo >/dev/null || { echo "rocminfo-sim: rocminfo is not installed" >&2; exit 1; }
tree=$(cd "$tree" && pwd)
hsasim=$(cd "$hsasim" && pwd)

# shellcheck disable=SC2016 # expanded by the inner shell
inner='
set -eu
scratch=$SCRATCH
echo "amdgpu 9859072 0 - Live 0x0000000000000000" > "$scratch/modules"
if [ -e /proc/modules ]; then
    mount --bind "$scratch/modules" /proc/modules
fi
mkdir "$scratch/bin"
printf "#!/bin/sh\necho \"Module Size Used by\"\necho \"amdgpu 9859072 0\"\n" > "$scratch/bin/lsmod"
chmod +x "$scratch/bin/lsmod"
PATH=$scratch/bin:$PATH
export PATH
# rocminfo 6.1.2 (Debian 13) asks /sys/module/amdgpu/initstate ("live")
# instead of lsmod: without the module, a tmpfs over /sys/module has it.
if [ ! -e /sys/module/amdgpu/initstate ]; then
    mount -t tmpfs -o mode=755 rochp-sim-module /sys/module
    mkdir /sys/module/amdgpu
    echo live > /sys/module/amdgpu/initstate
fi
mkdir "$scratch/hostdev"
mount --rbind /dev "$scratch/hostdev"
mount -t tmpfs -o mode=755 rochp-sim-dev /dev
for n in null zero full random urandom tty; do
    touch "/dev/$n"
    mount --bind "$scratch/hostdev/$n" "/dev/$n"
done
mkdir /dev/shm
mount --bind "$scratch/hostdev/shm" /dev/shm
touch /dev/kfd
exec env ROCHP_LOG=${ROCHP_LOG:-} ROCHP_SYSFS_ROOT="$TREE" LD_LIBRARY_PATH="$HSASIM${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" rocminfo
'
# The scratch directory is made and removed out here: the mounts on its
# entries exist only in the namespace, which is gone by the time it is
# removed.  rmdir, not rm -r: should a mount ever be there after all, the
# removal fails instead of reaching into the real /dev.
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rocminfo-sim.XXXXXX")
# shellcheck disable=SC2317 # run by the trap
cleanup() {
    rm -f "$scratch/modules" "$scratch/bin/lsmod"
    rmdir "$scratch/bin" "$scratch/hostdev" 2>/dev/null || true
    rmdir "$scratch" 2>/dev/null || echo "rocminfo-sim: $scratch is left: something is mounted in it" >&2
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
map=""
[ "$(id -u)" = 0 ] || map=--map-root-user
status=0
# shellcheck disable=SC2086 # $map: one option or none
TREE=$tree HSASIM=$hsasim SCRATCH=$scratch unshare --mount $map --propagation private \
    sh -c "$inner" || status=$?
exit "$status"
