#!/bin/sh
# The main demo, in three parts, on hsasim (the simulated HSA runtime) and
# virtual KFD trees; builds into ./build-demo first.
#  1. An application (examples/device_events) learns that GPUs leave and
#     arrive while rochp-sim unplugs and plugs boards of a 4-GPU MI300X.
#  2. A job (examples/resilient_training) loses its GPU mid-run under the
#     current kernel's behaviour (SIGBUS: the process must let go); this
#     script, as its supervisor, starts it again and it resumes from its
#     last checkpoint on the other GPU -- with the same final checksum as
#     a run that lost nothing.
#  3. An unmodified HSA program (it knows nothing of rochp) survives its GPU's
#     loss with transparent mode (HSA_TOOLS_LIB=librochp_tool.so).
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

# --- 2. a job that loses its GPU and goes on ---------------------------------------------------
co=$build/examples/pipeline.co
train() { # tree state args...
    t=$1 state=$2
    shift 2
    ROCHP_SYSFS_ROOT=$t ROCHP_HSA_RUNTIME=$build/hsasim/libhsa-runtime64.so.1 \
        "$build/examples/resilient_training" "$co" "$state" --steps 200 --every 25 "$@"
}
jobs=$(mktemp -d "${TMPDIR:-/tmp}/rochp-demo-job-XXXXXX")
trap 'rm -rf "$tree" "$out" "$jobs"' EXIT
printf '\n\033[1m# a run that loses nothing (2 x MI210)\033[0m\n'
"$sim" create "$jobs/calm" --model mi210 --gpus 2 >/dev/null
ROCHP_SIM_KERNEL=silent train "$jobs/calm" "$jobs/calm.state" | tail -n 1

printf '\n\033[1m# the same job under rochp-run, the supervisor; its GPU is unplugged at\033[0m\n'
printf '\033[1m# step 80 and the kernel sends SIGBUS: the job must let go and is started again\033[0m\n'
# The current kernel's behaviour, for the job and for the unplug alike.
export ROCHP_SIM_KERNEL=sigbus
"$sim" create "$jobs/hot" --model mi210 --gpus 2 >/dev/null
mkfifo "$jobs/in"
ROCHP_SYSFS_ROOT=$jobs/hot ROCHP_HSA_RUNTIME=$build/hsasim/libhsa-runtime64.so.1 \
    "$build/tools/rochp-run" --events "$jobs/run.events" -- \
    "$build/examples/resilient_training" "$co" "$jobs/hot.state" --steps 200 --every 25 \
    --pause-at 80 <"$jobs/in" >"$jobs/job.out" 2>&1 &
job=$!
exec 3>"$jobs/in"
i=0
until grep -q paused "$jobs/job.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "the job never reached step 80:"; cat "$jobs/job.out"; exit 1; }
    sleep 0.1
done
pci=$(sed -n 's/^started on device [0-9]* \(.*\)$/\1/p' "$jobs/job.out")
step "$sim" unplug "$jobs/hot" "$pci" --wait
# rochp-run restarts the job, which resumes from the checkpoint in
# rochp-run's memory (no file); a watchdog keeps the demo from hanging.
(sleep 60 && kill "$job" 2>/dev/null) &
dog=$!
status=0
wait "$job" || status=$?
kill "$dog" 2>/dev/null || true
exec 3>&-
printf '\n\033[1m# what the job printed (both processes)\033[0m\n'
grep -v '^hsasim' "$jobs/job.out"
printf '\n\033[1m# what rochp-run saw\033[0m\n'
grep -v '"checkpoint"' "$jobs/run.events"
[ "$status" -eq 0 ] || { echo "rochp-run ended with status $status"; exit 1; }
[ ! -e "$jobs/hot.state" ] || { echo "a checkpoint file was written"; exit 1; }

# --- 3. an unmodified program in transparent mode ---------------------------------------------
# examples/hsa_stream knows nothing of rochp: its queue callback aborts and
# its waits are unbounded, as HIP's are.  With HSA_TOOLS_LIB naming
# librochp_tool.so it survives GPU 0's unplug and goes on with GPU 1.
printf '\n\033[1m# 3. an unmodified HSA program with HSA_TOOLS_LIB=librochp_tool.so;\033[0m\n'
printf '\033[1m#    GPU 0 goes dead at step 20 (silent kernel behaviour)\033[0m\n'
"$sim" create "$jobs/plain" --model mi210 --gpus 2 >/dev/null
HSA_TOOLS_LIB=$build/lib/librochp_tool.so ROCHP_TOOL_EVENTS=- ROCHP_TOOL_POLL_MS=20 \
    ROCHP_SYSFS_ROOT=$jobs/plain ROCHP_SIM_KERNEL=silent \
    "$build/examples/hsa_stream" "$build/examples/stream.co" 200 3000 \
    >"$jobs/plain.out" 2>"$jobs/plain.err" &
plain=$!
i=0
until grep -q '^step 20$' "$jobs/plain.out" 2>/dev/null; do
    i=$((i + 1))
    [ $i -lt 600 ] || { echo "the program never reached step 20:"; cat "$jobs/plain.err"; exit 1; }
    sleep 0.1
done
ROCHP_SIM_KERNEL=silent step "$sim" unplug "$jobs/plain" 0000:63:00.0
(sleep 60 && kill "$plain" 2>/dev/null) &
dog=$!
status=0
wait "$plain" || status=$?
kill "$dog" 2>/dev/null || true
printf '\n\033[1m# the event line the tool wrote (stderr), and the program'"'"'s own summary\033[0m\n'
cat "$jobs/plain.err"
tail -n 1 "$jobs/plain.out"
[ "$status" -eq 0 ] || { echo "the program ended with status $status"; exit 1; }
printf '(exit status 0: GPU 1 exact at every step; GPU 0'"'"'s steps after the loss failed, none hung)\n'
