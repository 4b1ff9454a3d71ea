#!/bin/sh
# The public headers compile clean: include/rochp/*.h and the hsasim kernel
# headers (lib/hsasim/include/hsasim/*.h, installed with the sim component),
# each alone and all together in headers/use_headers.c, which calls the
# inline dispatch functions the ways an application does (so that warnings
# that appear only once they are inlined show), at -O0 -O1 -O2 -O3 -Os with
# -Wall -Wextra -Werror -pedantic.  The hsasim kernel declarations
# (kernel_decl.h: host kernels are C) are compiled as C only.
# Usage: test_headers.sh SOURCE_DIR c11|c++17 COMPILER
# Exit 0: every compilation clean; 1: the failing ones are listed at the end;
# 77: COMPILER is not installed.
set -u
src=$1 std=$2 cc=$3
if ! command -v "$cc" >/dev/null 2>&1; then
    echo "SKIP: $cc is not installed"
    exit 77
fi
case $std in
    c11) lang="-x c -std=c11" ;;
    c++17) lang="-x c++ -std=c++17" ;;
    *) echo "usage: test_headers.sh SOURCE_DIR c11|c++17 COMPILER" >&2; exit 2 ;;
esac
c_only="hsasim/kernel_decl.h"
flags="-pedantic -Wall -Wextra -Werror"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/rochp-headers-XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# One translation unit per header, named after it.
units=""
for h in "$src"/include/rochp/*.h "$src"/lib/hsasim/include/hsasim/*.h; do
    name=$(basename "$(dirname "$h")")/$(basename "$h")
    case " $c_only " in *" $name "*) [ "$std" = c11 ] || continue ;; esac
    unit=$scratch/$(echo "$name" | tr / _).c
    printf '#include <%s>\n' "$name" >"$unit"
    units="$units $unit"
done
units="$units $src/tests/packaging/headers/use_headers.c"

echo "$("$cc" --version | head -n 1); $std $flags"
total=0 failed=""
for opt in -O0 -O1 -O2 -O3 -Os; do
    for unit in $units; do
        total=$((total + 1))
        # shellcheck disable=SC2086
        if ! "$cc" $lang $opt $flags -I"$src/include" -I"$src/lib/hsasim/include" \
            -c "$unit" -o /dev/null >"$scratch/out" 2>&1; then
            what="$cc $lang $opt $flags: $(basename "$unit")"
            failed="$failed
  $what"
            echo "FAIL: $what"
            sed 's/^/    /' "$scratch/out"
            # The diagnostics themselves, for the summary.
            grep -E '(error|warning):' "$scratch/out" >>"$scratch/diagnostics"
        fi
    done
done
if [ -n "$failed" ]; then
    echo
    echo "FAIL: $(echo "$failed" | grep -c .) of $total compilations warn or fail:$failed"
    echo "distinct diagnostics:"
    sed "s|$src/||" "$scratch/diagnostics" | sort | uniq -c | sed 's/^/  /'
    exit 1
fi
echo "$total compilations clean"
