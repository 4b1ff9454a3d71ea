#!/bin/sh
# hsasim must export the same names, with the same ROCR_1 version, as the
# real libhsa-runtime64.so.1 (ROCm 5.2.3 in Debian 12, 6.1.2 in Debian 13: hsasim
# exports the list of the runtime whose headers it was built against,
# lib/hsasim/rocr_exports_*.txt): programs built against
# one load the other.
set -eu
sim=$1
real=$(ldconfig -p 2>/dev/null | awk '/libhsa-runtime64.so.1 /{print $NF; exit}')
[ -n "$real" ] && [ -f "$real" ] || { echo "the real libhsa-runtime64.so.1 is not installed: skipped"; exit 77; }
case "$(readlink -f "$real")" in "$(readlink -f "$sim")") echo "ldconfig finds hsasim itself: skipped"; exit 77;; esac
nm -D --defined-only "$real" | awk '{print $3}' | sort > "${TMPDIR:-/tmp}/exports.real.$$"
nm -D --defined-only "$sim" | awk '{print $3}' | sort > "${TMPDIR:-/tmp}/exports.sim.$$"
status=0
diff "${TMPDIR:-/tmp}/exports.real.$$" "${TMPDIR:-/tmp}/exports.sim.$$" || status=1
echo "$(wc -l < "${TMPDIR:-/tmp}/exports.real.$$") exported names compared with $real"
rm -f "${TMPDIR:-/tmp}/exports.real.$$" "${TMPDIR:-/tmp}/exports.sim.$$"
exit $status
