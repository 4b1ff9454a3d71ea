#!/bin/sh
# mpi-job.sh: runs an MPI job with mpirun and, when a rank had to leave (it
# exited with 75, or died of a signal such as SIGBUS), starts the whole job
# again; its ranks resume from their last committed checkpoint
# (examples/mpi_training, docs/mpi-and-slurm.md).  Open MPI 4.1 has no ULFM:
# one rank's exit ends the job, so the way back is a new job.
#
#   mpi-job.sh [--ulfm] [--np N] [--restarts R] [--timeout SEC] [--settle SEC]
#              [--placement FILE] [--events FILE] [--mpirun-args 'ARGS']
#              -- PROGRAM ARGS...
#
#   --ulfm         Open MPI >= 5: mpirun --with-ft ulfm, so that a rank's
#                  death does not end the job (the program must handle it:
#                  pass it its own option, mpi_training's --ulfm; the script
#                  runs any program and does not add it).  A run that exits
#                  0 is done, however many ranks it lost on the way; a run
#                  that ends otherwise (every rank gone, a rank that exited
#                  instead of dying, mpirun's --timeout) is restarted by the
#                  same rules as without --ulfm, with all N ranks
#   --np N         ranks (default 4)
#   --restarts R   at most R restarts (default 3)
#   --timeout SEC  each run's bound: mpirun --timeout SEC, and the run killed
#                  15 s after that if mpirun is still there (default 600)
#   --settle SEC   after a run that ended for a restart, wait until the KFD
#                  topology of a placed node changed since the run started, at
#                  most SEC seconds (default 5): under the current kernel the
#                  unplug completes only once the rank let go, and a rank
#                  started earlier could still see the dying GPU
#   --placement FILE  nodes for the ranks, lines "RANK TREE" (a KFD root:
#                  TREE/topology) and "spare TREE"; '#' starts a comment.
#                  Before each run a rank whose node has no GPU left gets the
#                  first unused spare that has one (the health check that
#                  drains a node under Slurm); the result goes to the ranks
#                  as ROCHP_MPI_PLACEMENT (mpirun -x), which mpi_training
#                  reads
#   --events FILE  JSON lines (default stderr): started (run, t), exited (run,
#                  status, t), replaced (rank, node, by), restarted (run),
#                  done (status, runs)
#   --mpirun-args  more mpirun options, split at spaces (e.g.
#                  '--oversubscribe --allow-run-as-root')
#
# Exit: the job's status; 1 when a node has no GPU and no spare is left; 2
# usage.  A run that exits 0 or with any other status ends the script.
set -eu

np=4 restarts=3 timeout_s=600 settle=5 placement="" events="" mpirun_args="" ft=""
usage() {
    echo "usage: mpi-job.sh [--ulfm] [--np N] [--restarts R] [--timeout SEC] [--settle SEC]" \
         "[--placement FILE] [--events FILE] [--mpirun-args 'ARGS'] -- PROGRAM ARGS..." >&2
    exit 2
}
while [ $# -gt 0 ]; do
    case $1 in
    --) shift; break ;;
    --ulfm) ft="--with-ft ulfm"; shift ;;
    --np|--restarts|--timeout|--settle|--placement|--events|--mpirun-args)
        [ $# -ge 2 ] || usage
        case $1 in
        --np) np=$2 ;;
        --restarts) restarts=$2 ;;
        --timeout) timeout_s=$2 ;;
        --settle) settle=$2 ;;
        --placement) placement=$2 ;;
        --events) events=$2 ;;
        --mpirun-args) mpirun_args=$2 ;;
        esac
        shift 2 ;;
    *) usage ;;
    esac
done
[ $# -ge 1 ] || usage

event() {
    if [ -n "$events" ]; then echo "$1" >>"$events"; else echo "$1" >&2; fi
}
now() { date +%s.%N | cut -c1-14; }

# GPUs in a KFD tree: nodes whose gpu_id is not 0.
gpus() {
    n=0
    for node in "$1"/topology/nodes/*; do
        [ -r "$node/gpu_id" ] || continue
        id=$(cat "$node/gpu_id" 2>/dev/null || echo 0)
        [ "$id" = 0 ] || n=$((n + 1))
    done
    echo $n
}
generations() {
    for t in $trees; do cat "$t/topology/generation_id" 2>/dev/null || echo none; done
}

work=$(mktemp -d "${TMPDIR:-/tmp}/mpi-job-XXXXXX")
trap 'rm -rf "$work"' EXIT
cur=""
trees=""
if [ -n "$placement" ]; then
    cur=$work/placement
    sed 's/#.*//' "$placement" | awk 'NF == 2' >"$cur"
fi

# Gives every rank a node with a GPU (the spares take over drained nodes).
health_check() {
    [ -n "$cur" ] || return 0
    : >"$cur.new"
    used=""
    while read -r who tree; do
        [ "$who" != spare ] || continue
        if [ "$(gpus "$tree")" -eq 0 ]; then
            by=""
            while read -r w2 t2; do
                [ "$w2" = spare ] || continue
                case " $used " in *" $t2 "*) continue ;; esac
                if [ "$(gpus "$t2")" -gt 0 ]; then by=$t2; break; fi
            done <"$cur"
            if [ -z "$by" ]; then
                echo "mpi-job: rank $who: no GPU on $tree and no spare node left" >&2
                return 1
            fi
            used="$used $by"
            event "{\"event\":\"replaced\",\"rank\":$who,\"node\":\"$tree\",\"by\":\"$by\"}"
            tree=$by
        fi
        echo "$who $tree" >>"$cur.new"
    done <"$cur"
    # Spares not taken stay spares.
    while read -r who tree; do
        [ "$who" = spare ] || continue
        case " $used " in *" $tree "*) ;; *) echo "spare $tree" >>"$cur.new" ;; esac
    done <"$cur"
    mv "$cur.new" "$cur"
    trees=$(awk '$1 != "spare" { print $2 }' "$cur")
    export ROCHP_MPI_PLACEMENT="$cur"
}

# When a rank exits, mpirun sends the others SIGTERM and waits a second
# before SIGKILL (odls_base_sigkill_timeout): nothing is lost by not waiting
# (the job resumes from its committed checkpoint, whose files are written
# aside and renamed), and it is a second off every restart.
: "${OMPI_MCA_odls_base_sigkill_timeout:=0}"
export OMPI_MCA_odls_base_sigkill_timeout

run=1
while :; do
    health_check || exit 1
    before=$(generations)
    event "{\"event\":\"started\",\"run\":$run,\"t\":$(now)}"
    status=0
    # shellcheck disable=SC2086
    timeout -k 5 $((timeout_s + 15)) mpirun $ft --timeout "$timeout_s" -np "$np" $mpirun_args \
        ${cur:+-x ROCHP_MPI_PLACEMENT} "$@" || status=$?
    event "{\"event\":\"exited\",\"run\":$run,\"status\":$status,\"t\":$(now)}"
    case $status in
    75) ;;
    130|143) break ;; # SIGINT, SIGTERM: asked to stop
    129|13[1-9]|14[0-9]|15[0-9]) ;; # a rank died of a signal (mpirun: 128 + N)
    *) break ;;
    esac
    [ "$run" -le "$restarts" ] || break
    i=0
    while [ -n "$trees" ] && [ "$(generations)" = "$before" ] && [ $i -lt $((settle * 20)) ]; do
        sleep 0.05
        i=$((i + 1))
    done
    run=$((run + 1))
    event "{\"event\":\"restarted\",\"run\":$run}"
done
event "{\"event\":\"done\",\"status\":$status,\"runs\":$run}"
exit "$status"
