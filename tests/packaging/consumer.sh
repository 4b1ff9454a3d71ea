# shellcheck shell=sh disable=SC2154 # $src, $cc, $scratch and consumer-paths.sh's variables
# Shared by test_install.sh and test_build_tree.sh (sourced): building the
# consumer project (tests/packaging/consumer) and running what it built.
# Needs $src (rochp's source tree), $cc and $scratch.  $ROCHP_CONSUMER_CFLAGS
# (may be empty) are added to every compilation and link: a sanitizer build's
# -fsanitize flags.
cflags=${ROCHP_CONSUMER_CFLAGS:-}

fail() {
    echo "FAIL: $*"
    exit 1
}

# consumer_build DIR cmake|pkg-config [CMAKE ARGS...]: configures and builds
# the consumer in DIR, then reads DIR/consumer-paths.sh (code_object,
# hsa_runtime, rochp_sim, rochp_library, rochp_dir).
consumer_build() {
    dir=$1 with=$2
    shift 2
    cmake -S "$src/tests/packaging/consumer" -B "$dir" -DCMAKE_C_COMPILER="$cc" \
        -DCMAKE_C_FLAGS="$cflags" -DCONSUMER_LIBRARY="$with" -DEXAMPLE_SOURCE="$src/examples/version.c" "$@" \
        >"$dir.log" 2>&1 || { cat "$dir.log"; fail "consumer ($with) did not configure"; }
    cmake --build "$dir" >>"$dir.log" 2>&1 || { cat "$dir.log"; fail "consumer ($with) did not build"; }
    # shellcheck disable=SC1091
    . "$dir/consumer-paths.sh"
}

# consumer_run WHAT VERSION_EXE DISPATCH_EXE CODE_OBJECT: both programs must
# run (the dispatch on hsasim, $hsa_runtime, over a new virtual MI210 tree
# made by $rochp_sim, with CODE_OBJECT and with $wrapped_code_object, the
# same kernel wrapped for HIP) and print exactly what they must.
consumer_run() {
    what=$1 version=$2 dispatch=$3 co=$4
    out=$("$version") || fail "$what: $version exited $?"
    [ "$out" = "rochp 0.1.0 (success)" ] || fail "$what: $version printed '$out'"
    tree=$(mktemp -d "$scratch/tree-XXXXXX")
    "$rochp_sim" create "$tree" --model mi210 --gpus 1 >/dev/null ||
        fail "$what: $rochp_sim create failed"
    for object in "$co" "$wrapped_code_object"; do
        out=$(ROCHP_SYSFS_ROOT=$tree ROCHP_HSA_RUNTIME=$hsa_runtime "$dispatch" "$object") ||
            fail "$what: $dispatch $object exited $?: $out"
        # out[x] = 5 * (x + 1) + x over 1,000 elements: 6 * 499500 + 5000
        [ "$out" = "affine: 1000 elements exact, sum 3002000" ] ||
            fail "$what: $dispatch $object printed '$out'"
    done
    echo "ok: $what"
}

# pc_build_run WHAT LIBDIR: the two programs built by the compiler alone with
# `pkg-config --cflags --libs rochp` (PKG_CONFIG_PATH set by the caller),
# run with LD_LIBRARY_PATH=LIBDIR on the code object built before.
pc_build_run() {
    what=$1 libdir=$2
    flags=$(pkg-config --cflags --libs rochp) || fail "$what: pkg-config rochp failed"
    # shellcheck disable=SC2086
    "$cc" $cflags -o "$scratch/pc-version" "$src/examples/version.c" $flags ||
        fail "$what: version.c did not build with $flags"
    # shellcheck disable=SC2086
    "$cc" $cflags -Wall -Wextra -Werror -I"$src/tests/packaging/consumer" -o "$scratch/pc-dispatch" \
        "$src/tests/packaging/consumer/dispatch.c" $flags ||
        fail "$what: dispatch.c did not build with $flags"
    LD_LIBRARY_PATH=$libdir consumer_run "$what" "$scratch/pc-version" "$scratch/pc-dispatch" \
        "$code_object"
}
