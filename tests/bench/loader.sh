#!/bin/sh
# The plugin scan: `--list-kinds` with a cold kind cache (every plugin
# described, since nrunner 0.2 in a helper child) and a warm one, and one
# runnable with a warm cache, against /bin/true measured in the same run.
# Run with `make bench-loader`; RUNS=N to change the number of runs.
set -eu
RUNS=${RUNS:-300}
: "${NRUNNER:?}" "${BENCH_EXEC:?}"
cache=$(mktemp -d)
trap 'rm -rf "$cache"' EXIT
export NRUNNER_PLUGIN_CACHE="$cache/plugins.json"

echo "nrunner plugin-scan benchmark: $RUNS sequential runs each ($(nproc) CPUs, $(uname -r))"
printf '%-40s %8s %8s %8s\n' "command" "median" "min" "p90"
out=$(mktemp)
"$BENCH_EXEC" "/bin/true" "$RUNS" /bin/true | tee -a "$out"
NRUNNER_PLUGIN_CACHE=off "$BENCH_EXEC" "--list-kinds, cold cache" "$RUNS" \
	"$NRUNNER" --list-kinds | tee -a "$out"
"$NRUNNER" --list-kinds >/dev/null   # fill the kind cache
"$BENCH_EXEC" "--list-kinds, warm cache" "$RUNS" \
	"$NRUNNER" --list-kinds | tee -a "$out"
"$BENCH_EXEC" "runnable-run -k noop, warm cache" "$RUNS" \
	"$NRUNNER" runnable-run -k noop | tee -a "$out"
awk 'NR == 1 { base = $(NF - 5) }
     { name = $0; sub(/ +[0-9.]+ +[0-9.]+ +[0-9.]+ +\(ms.*$/, "", name)
       printf "ratio to /bin/true: %-40s %6.2fx\n", name, $(NF - 5) / base }' "$out"
rm -f "$out"
