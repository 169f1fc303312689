# TAP helpers for the shell tests.  Source it; call plan-less checks and
# end with done_testing.
set -u
tap_n=0
tap_failed=0

ok() { # ok CONDITION-STATUS DESCRIPTION
	tap_n=$((tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $tap_n - $2"
	else
		echo "not ok $tap_n - $2"
		tap_failed=$((tap_failed + 1))
	fi
}

is() { # is GOT EXPECTED DESCRIPTION
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:      %s\n#   expected: %s\n' "$1" "$2"
	fi
}

like() { # like GOT GREP-PATTERN DESCRIPTION
	if printf '%s\n' "$1" | grep -qE -- "$2"; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:      %s\n#   expected to match: %s\n' "$1" "$2"
	fi
}

unlike() {
	if printf '%s\n' "$1" | grep -qE -- "$2"; then
		ok 1 "$3"
		printf '#   got:      %s\n#   must not match: %s\n' "$1" "$2"
	else
		ok 0 "$3"
	fi
}

diag() { printf '# %s\n' "$*"; }

done_testing() {
	echo "1..$tap_n"
	[ "$tap_failed" -eq 0 ]
}

# Files the tests make are writable by their owner only, whatever the
# caller's umask: nrunner refuses plugins that others can write to.
umask 022

# A scratch directory for the test, removed at exit.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nrunner-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# check_stream FILE [check-stream.py options]: validates a message stream.
check_stream() {
	f=$1
	shift
	"$PYTHON" "$top_srcdir/tests/check-stream.py" "$@" <"$f"
}
