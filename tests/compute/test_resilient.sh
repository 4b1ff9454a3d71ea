#!/bin/sh
# examples/resilient_training across a killed process and across an unplug
# under the current kernel's behaviour (SIGBUS: the process must go): the
# resumed run's checksum is the uninterrupted run's.
#   test_resilient.sh ROCHP_SIM HSASIM EXAMPLE CODE_OBJECT
set -eu
sim=$1 hsasim=$2 example=$3 co=$4
work=$(mktemp -d "${TMPDIR:-/tmp}/rochp-resilient-XXXXXX")
trap 'rm -rf "$work"' EXIT
export ROCHP_HSA_RUNTIME="$hsasim"
run() { # tree state args...
    tree=$1 state=$2
    shift 2
    ROCHP_SYSFS_ROOT="$tree" "$example" "$co" "$state" "$@"
}
checksum() { sed -n 's/^steps [0-9]* checksum //p'; }

# Uninterrupted.
"$sim" create "$work/t1" --model mi210 --gpus 2 >/dev/null
export ROCHP_SIM_KERNEL=silent
want=$(run "$work/t1" "$work/s1" --steps 200 --every 25 | checksum)
[ -n "$want" ] || { echo "no checksum from the uninterrupted run"; exit 1; }

# Killed at step 130 (last checkpoint: 125), then resumed.
"$sim" create "$work/t2" --model mi210 --gpus 2 >/dev/null
if run "$work/t2" "$work/s2" --steps 200 --every 25 --die-at 130 >"$work/killed.out"; then
    echo "the run to be killed finished"; exit 1
fi
out=$(run "$work/t2" "$work/s2" --steps 200 --every 25)
echo "$out" | grep -q "^resumed at step 125 " || { echo "did not resume at 125: $out"; exit 1; }
got=$(echo "$out" | checksum)
[ "$got" = "$want" ] || { echo "after a kill: $got, want $want"; exit 1; }

# Its GPU unplugged at step 80 under the sigbus behaviour: the process gets
# SIGBUS and goes; a new one resumes on the other GPU.
"$sim" create "$work/t3" --model mi210 --gpus 2 >/dev/null
export ROCHP_SIM_KERNEL=sigbus
mkfifo "$work/in"
ROCHP_SYSFS_ROOT="$work/t3" "$example" "$co" "$work/s3" --steps 200 --every 25 --pause-at 80 \
    <"$work/in" >"$work/paused.out" 2>&1 &
app=$!
exec 3>"$work/in"
i=0
until grep -q paused "$work/paused.out"; do
    i=$((i + 1)); [ $i -lt 600 ] || { echo "never paused"; cat "$work/paused.out"; exit 1; }
    sleep 0.1
done
pci=$(sed -n 's/^started on device [0-9]* \(.*\)$/\1/p' "$work/paused.out")
"$sim" unplug "$work/t3" "$pci" --wait >/dev/null
status=0
wait "$app" || status=$?
exec 3>&-
# 135: killed by SIGBUS (a sanitizer's own SIGBUS report exits 1 instead).
[ "$status" -ne 0 ] || { echo "the holder outlived the unplug"; cat "$work/paused.out"; exit 1; }
if grep -q "^steps" "$work/paused.out"; then echo "the holder finished"; exit 1; fi
out=$(run "$work/t3" "$work/s3" --steps 200 --every 25)
echo "$out" | grep -q "^resumed at step 75 " || { echo "did not resume at 75: $out"; exit 1; }
got=$(echo "$out" | checksum)
[ "$got" = "$want" ] || { echo "after an unplug: $got, want $want"; exit 1; }
echo "checksum $want: uninterrupted, after a kill at 130, after an unplug of $pci (SIGBUS) at 80"
