#!/bin/sh
# Whole-process time of one runnable, against /bin/true run directly.
# Prints medians over many runs and the ratio to /bin/true.
# Run with `make bench`; RUNS=N to change the number of runs.
set -eu
RUNS=${RUNS:-500}
: "${NRUNNER:?}" "${BENCH_EXEC:?}"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export NRUNNER_PLUGIN_CACHE="$cache/plugins.json"
"$NRUNNER" --list-kinds >/dev/null   # fill the kind cache, as a user's first run does

echo "nrunner startup benchmark: $RUNS sequential runs each ($(nproc) CPUs, $(uname -r))"
printf '%-40s %8s %8s %8s\n' "command" "median" "min" "p90"
out=$(mktemp)
"$BENCH_EXEC" "/bin/true" "$RUNS" /bin/true | tee -a "$out"
"$BENCH_EXEC" "nrunner runnable-run -k noop" "$RUNS" "$NRUNNER" runnable-run -k noop | tee -a "$out"
"$BENCH_EXEC" "nrunner runnable-run -k exec-test -u /bin/true" "$RUNS" \
	"$NRUNNER" runnable-run -k exec-test -u /bin/true | tee -a "$out"
NRUNNER_PLUGIN_CACHE=off "$BENCH_EXEC" "  same, kind cache off" "$RUNS" \
	"$NRUNNER" runnable-run -k exec-test -u /bin/true | tee -a "$out"
awk 'NR == 1 { base = $(NF - 5) }
     { name = $0; sub(/ +[0-9.]+ +[0-9.]+ +[0-9.]+ +\(ms.*$/, "", name)
       printf "ratio to /bin/true: %-40s %6.2fx\n", name, $(NF - 5) / base }' "$out"
rm -f "$out"
