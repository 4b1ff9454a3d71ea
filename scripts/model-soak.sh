#!/bin/sh
# The model test's soak: TOTAL random sequences (default 100000) split evenly
# over the three simulated kernel behaviours, in chunks of 1000 run JOBS at a
# time.  Every chunk has its own seed range, so a failure's printed seed
# replays it alone.  Prints one JSON object on stdout (like the benchmarks);
# the chunks' own lines, and any failure's seed, go to stderr.
# Usage: scripts/model-soak.sh MODEL_BINARY [TOTAL] [FIRST_SEED] [JOBS]
# (cmake --build BUILD --target model_soak runs it with the defaults.)
set -eu
model=${1:?usage: model-soak.sh MODEL_BINARY [TOTAL] [FIRST_SEED] [JOBS]}
total=${2:-100000}
seed=${3:-1000000}
jobs=${4:-$(nproc 2>/dev/null || echo 2)}
chunk=1000
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

per_mode=$(( (total + 2) / 3 ))
for mode in silent reset sigbus; do
    left=$per_mode
    s=$seed
    while [ "$left" -gt 0 ]; do
        n=$chunk
        [ "$left" -lt "$n" ] && n=$left
        echo "$mode $s $n"
        s=$((s + n))
        left=$((left - n))
    done
    seed=$((seed + per_mode))
done >"$work/chunks"

start=$(date +%s)
# Each chunk writes its summary line to its own file; a chunk's exit status
# is kept beside it so a crash (no summary line) still counts as a failure.
xargs -P "$jobs" -L 1 sh -c '
    out="$0/$2-$3"
    "$1" --mode "$2" --seed "$3" --sequences "$4" 2>"$out.log"
    echo $? >"$out.rc"
    tail -n 1 "$out.log" >&2
' "$work" "$model" <"$work/chunks" || true
end=$(date +%s)

sequences=0 failed=0 ops=0 crashed=0
while read -r mode s n; do
    f="$work/$mode-$s"
    rc=$(cat "$f.rc" 2>/dev/null || echo 127)
    line=$(grep '^model: mode' "$f.log" || true)
    if [ -z "$line" ]; then
        crashed=$((crashed + 1))
        failed=$((failed + n))
        echo "model-soak: chunk $mode seed $s ($n sequences) ended without a summary (exit $rc):" >&2
        tail -n 20 "$f.log" >&2
        continue
    fi
    sequences=$((sequences + n))
    o=$(echo "$line" | sed -n 's/.* \([0-9]*\) operations, \([0-9]*\) failed.*/\1 \2/p')
    ops=$((ops + ${o% *}))
    failed=$((failed + ${o#* }))
    [ "$rc" -eq 0 ] || grep -i 'seed' "$f.log" | grep -v '^model: mode' >&2 || true
done <"$work/chunks"

printf '{"benchmark":"model_soak","sequences":%d,"operations":%d,"failed":%d,"crashed_chunks":%d,"seconds":%d,"jobs":%d}\n' \
    "$sequences" "$ops" "$failed" "$crashed" "$((end - start))" "$jobs"
[ "$failed" -eq 0 ]
