#!/bin/sh
# An Avocado job of 200 exec-tests of /bin/true, with Avocado's own
# runners and with nrunner's (first in PATH), and `nrunner run` over the
# same 200: what Avocado's job costs besides its runners.  Called by
# tests/interop/avocado.sh --bench, which sets AVOCADO (the avocado
# command), THEIRS and OURS (the PATH for each), and NRUNNER.  Prints the
# median of RUNS runs (default 3) of each, and each against a floor
# measured in the same run: the 200 programs run one after the other by sh.
set -eu
N=${N:-200}
RUNS=${RUNS:-3}
W=$(mktemp -d "${TMPDIR:-/tmp}/nrunner-avocado-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir "$W/t"
i=0
while [ $i -lt "$N" ]; do
	i=$((i + 1))
	ln -s /bin/true "$W/t/true-$(printf %03d $i)"
done

now() { date +%s.%N; }
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
measure() { # measure NAME COMMAND...: RUNS timings of the command, in seconds
	name=$1
	shift
	: >"$W/$name.times"
	r=0
	while [ $r -lt "$RUNS" ]; do
		r=$((r + 1))
		t0=$(now)
		"$@" >"$W/$name.log" 2>&1 || { echo "$name failed:"; tail -5 "$W/$name.log"; exit 1; }
		t1=$(now)
		echo "$t1 - $t0" | bc >>"$W/$name.times"
	done
	median <"$W/$name.times"
}

floor() { for f in "$W"/t/*; do "$f"; done; }
avocado_job() { # avocado_job PATH
	PATH=$1 "$AVOCADO" run --disable-sysinfo --job-results-dir "$W/res" "$W"/t/*
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(r["pass"] != int(sys.argv[2]))' \
		"$W/res/latest/results.json" "$N"
}
theirs() { avocado_job "$THEIRS"; }
ours() { avocado_job "$OURS"; }
nr() { "$NRUNNER" run -q --results-dir "$W/nr" "$W/t"; }

f=$(measure floor floor)
a=$(measure avocado theirs)
o=$(measure avocado-nrunner ours)
n=$(measure nrunner-run nr)
printf '%d exec-tests of /bin/true, median of %d runs (floor: sh runs them one by one, %.3f s)\n' "$N" "$RUNS" "$f"
printf '  %-44s %8.2f s  %7.0fx floor\n' "avocado run, Avocado's runners" "$a" "$(echo "$a / $f" | bc -l)"
printf '  %-44s %8.2f s  %7.0fx floor\n' "avocado run, nrunner's runners" "$o" "$(echo "$o / $f" | bc -l)"
printf '  %-44s %8.3f s  %7.1fx floor\n' "nrunner run" "$n" "$(echo "$n / $f" | bc -l)"
printf '  Avocado job speed-up with nrunner'"'"'s runners: %.2fx\n' "$(echo "$a / $o" | bc -l)"
