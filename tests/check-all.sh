#!/bin/sh
# The whole test suite, as CI runs it (`make check-all`):
#   1. make check in this tree (-Wall -Wextra -Werror, valgrind test);
#   2. make distcheck: from the tarball, VPATH, install, installcheck;
#   3. make distcheck with --enable-sanitizers: the suite under
#      AddressSanitizer and UndefinedBehaviorSanitizer.
# Ends with one line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.." || exit 2
make="${MAKE:-make}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
run() { # run DESCRIPTION COMMAND...
	echo "=== $1"
	shift
	if ! ( "$@" ) >"$log.step" 2>&1; then
		status=1
		echo "*** FAILED: $*; its last lines:"
		grep -vE '^(PASS|ok) ' "$log.step" | tail -40
	fi
	cat "$log.step" | tee -a "$log" | grep -E '^(# (TOTAL|PASS|SKIP|XFAIL|FAIL|XPASS|ERROR):|FAIL:|ERROR:|=+$|Testsuite summary|nrunner-.*archives ready)' || true
	rm -f "$log.step"
}
run "make check" $make -j2 check
run "make distcheck" $make -j2 distcheck
run "make distcheck (AddressSanitizer + UndefinedBehaviorSanitizer)" \
	$make -j2 distcheck DISTCHECK_CONFIGURE_FLAGS=--enable-sanitizers
sum() { awk -v k="$1" '$1 == "#" && $2 == k":" { n += $3 } END { print n + 0 }' "$log"; }
pass=$(sum PASS)
failed=$(( $(sum FAIL) + $(sum ERROR) + $(sum XPASS) ))
skipped=$(sum SKIP)
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
	failed=1 # a build or distcheck step failed outside the harness
fi
echo "$pass passed, $failed failed, $skipped skipped"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
