#!/bin/sh
# The sigbus behaviour, soaked: for each seed, examples/resilient_training
# (a two-queue pipeline, 2,000 steps of 5 packets: 10^4 dispatches) runs on
# 1-4 GPUs, its first GPU is unplugged at a random step (the process gets
# SIGBUS and must go), and a new process resumes from the last checkpoint
# file: with another GPU of the gfx target its checksum is the
# uninterrupted run's; with none it is told so.
#   test_resilient_soak.sh ROCHP_SIM HSASIM EXAMPLE CODE_OBJECT SEEDS
set -eu
sim=$1 hsasim=$2 example=$3 co=$4 seeds=$5
work=$(mktemp -d "${TMPDIR:-/tmp}/rochp-resilient-soak-XXXXXX")
trap 'rm -rf "$work"' EXIT
export ROCHP_HSA_RUNTIME="$hsasim"
checksum() { sed -n 's/^steps [0-9]* checksum //p'; }

"$sim" create "$work/base" --model mi210 --gpus 1 >/dev/null
want=$(ROCHP_SYSFS_ROOT="$work/base" ROCHP_SIM_KERNEL=silent \
    "$example" "$co" "$work/base.state" --steps 2000 --every 250 | checksum)
[ -n "$want" ] || { echo "no checksum from the uninterrupted run"; exit 1; }
export ROCHP_SIM_KERNEL=sigbus
resumed=0 told=0
seed=1
while [ "$seed" -le "$seeds" ]; do
    gpus=$((seed * 7 % 4 + 1))
    at=$((seed * 373 % 1999))
    t="$work/t$seed"
    "$sim" create "$t" --model mi210 --gpus "$gpus" >/dev/null
    rm -f "$work/in"
    mkfifo "$work/in"
    ROCHP_SYSFS_ROOT="$t" "$example" "$co" "$t.state" --steps 2000 --every 250 --pause-at "$at" \
        <"$work/in" >"$t.out" 2>&1 &
    app=$!
    exec 3>"$work/in"
    i=0
    until grep -q paused "$t.out"; do
        i=$((i + 1))
        [ $i -lt 600 ] || { echo "seed $seed: never paused"; cat "$t.out"; exit 1; }
        sleep 0.05
    done
    pci=$(sed -n 's/^started on device [0-9]* \(.*\)$/\1/p' "$t.out")
    "$sim" unplug "$t" "$pci" --wait >/dev/null
    status=0
    wait "$app" || status=$?
    exec 3>&-
    [ "$status" -ne 0 ] || { echo "seed $seed: the holder outlived the unplug"; exit 1; }
    if [ "$gpus" -eq 1 ]; then
        # No other GPU: resuming is refused, by name.
        if ROCHP_SYSFS_ROOT="$t" "$example" "$co" "$t.state" --steps 2000 --every 250 \
            >"$t.again" 2>&1; then
            echo "seed $seed: resumed with no GPU left"; exit 1
        fi
        if [ "$at" -ge 249 ]; then
            grep -q "no present device with gfx target gfx90a" "$t.again" ||
                { echo "seed $seed: not told why"; cat "$t.again"; exit 1; }
        fi
        told=$((told + 1))
    else
        out=$(ROCHP_SYSFS_ROOT="$t" "$example" "$co" "$t.state" --steps 2000 --every 250)
        got=$(echo "$out" | checksum)
        [ "$got" = "$want" ] || { echo "seed $seed ($gpus GPUs, step $at): $got, want $want"; exit 1; }
        resumed=$((resumed + 1))
    fi
    rm -rf "$t" "$t.state" "$t.out" "$t.again"
    seed=$((seed + 1))
done
echo "sigbus soak: $resumed runs resumed with the uninterrupted checksum, $told told there is no GPU"
