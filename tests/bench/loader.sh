#!/bin/sh
# The plugin scan: `--list-kinds` with a cold kind cache (every plugin
# described by the scanner, in a helper child) and a warm one (no child),
# and one runnable with a warm cache, against /bin/true measured in the
# same run.  The commands take turns, ROUNDS times, so that a noisy machine
# weighs on all of them alike; each figure is the median of the rounds'
# medians.  With BEFORE=/path/to/an/older/nrunner and BEFORE_PLUGINS=its
# plugin directory, the same commands of that build take their turns too.
# Run with `make bench-loader`; RUNS=N (per command, over all rounds).
set -eu
RUNS=${RUNS:-300}
ROUNDS=${ROUNDS:-6}
: "${NRUNNER:?}" "${BENCH_EXEC:?}" "${NRUNNER_PLUGIN_PATH:?}"
per=$(( (RUNS + ROUNDS - 1) / ROUNDS ))
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

builds="now"
[ -n "${BEFORE:-}" ] && builds="before now"
bin() { if [ "$1" = now ]; then echo "$NRUNNER"; else echo "$BEFORE"; fi; }
plugins() { if [ "$1" = now ]; then echo "$NRUNNER_PLUGIN_PATH"; else echo "$BEFORE_PLUGINS"; fi; }
for b in $builds; do   # fill each build's kind cache, as a first run does
	NRUNNER_PLUGIN_PATH=$(plugins "$b") NRUNNER_PLUGIN_CACHE="$tmp/$b.json" \
		"$(bin "$b")" --list-kinds >/dev/null
done

echo "nrunner plugin-scan benchmark: $ROUNDS rounds of $per runs per command ($(nproc) CPUs, $(uname -r))"
for r in $(seq "$ROUNDS"); do
	"$BENCH_EXEC" "/bin/true" "$per" /bin/true >>"$tmp/out"
	for b in $builds; do
		export NRUNNER_PLUGIN_PATH="$(plugins "$b")"
		NRUNNER_PLUGIN_CACHE=off "$BENCH_EXEC" "$b: --list-kinds, cold cache" \
			"$per" "$(bin "$b")" --list-kinds >>"$tmp/out"
		NRUNNER_PLUGIN_CACHE="$tmp/$b.json" "$BENCH_EXEC" "$b: --list-kinds, warm cache" \
			"$per" "$(bin "$b")" --list-kinds >>"$tmp/out"
		NRUNNER_PLUGIN_CACHE="$tmp/$b.json" "$BENCH_EXEC" "$b: runnable-run -k noop, warm" \
			"$per" "$(bin "$b")" runnable-run -k noop >>"$tmp/out"
	done
done
# Lines: NAME median min p90 (ms, over N runs).  Median of the medians.
awk '{ name = $0; sub(/ +[0-9.]+ +[0-9.]+ +[0-9.]+ +\(ms.*$/, "", name)
       if (!(name in n)) order[++k] = name
       v[name, ++n[name]] = $(NF - 5)
       if (n[name] == 1 || $(NF - 4) < mn[name]) mn[name] = $(NF - 4) }
     END {
       printf "%-40s %10s %8s   %s\n", "command", "median ms", "min ms", "ratio to /bin/true"
       for (i = 1; i <= k; i++) {
         name = order[i]; c = n[name]
         for (a = 1; a <= c; a++) s[a] = v[name, a]
         for (a = 1; a <= c; a++) for (b = a + 1; b <= c; b++) if (s[b] < s[a]) { t = s[a]; s[a] = s[b]; s[b] = t }
         med = c % 2 ? s[(c + 1) / 2] : (s[c / 2] + s[c / 2 + 1]) / 2
         if (i == 1) base = med
         printf "%-40s %10.3f %8.3f   %6.2fx\n", name, med, mn[name], med / base
       } }' "$tmp/out"
