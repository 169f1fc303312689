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
# LeakSanitizer's own tracer crashes now and then on this kernel ("Tracer
# caught signal 11" at exit) and then replaces the exit status with its
# own, which fails tests at random.  So here ASan and UBSan check memory
# errors and undefined behaviour, and leaks are checked by valgrind
# (tests/valgrind.test, in the plain build above).
run "make distcheck (AddressSanitizer + UndefinedBehaviorSanitizer)" \
	env ASAN_OPTIONS=detect_leaks=0 \
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
