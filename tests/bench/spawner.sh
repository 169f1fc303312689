#!/bin/sh
# Per-task cost of the namespace spawner (issue: beyond one machine):
# 1000 exec-test tasks of /bin/true with -j 2, under --spawner process
# (the floor), namespace and namespace:net.  Medians over RUNS
# repetitions (default 5); the overhead is per task, against the floor.
set -eu
RUNS=${RUNS:-5}
: "${NRUNNER:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NRUNNER_PLUGIN_CACHE="$work/plugins.json"
cd "$work"
"$PYTHON" - "$NRUNNER" "$RUNS" <<'PY'
import json, os, statistics, subprocess, sys, time
nrunner, runs = sys.argv[1], int(sys.argv[2])
json.dump([{"kind": "exec-test", "uri": "/bin/true"}] * 1000, open("true1000.json", "w"))

def wall(spawner):
    t = time.monotonic()
    subprocess.run([nrunner, "run", "-q", "-j", "2", "--spawner", spawner,
                    "--results-dir", "r", "true1000.json"],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t

times = {s: [] for s in ("process", "namespace", "namespace:net")}
for _ in range(runs):  # interleaved, so that load elsewhere hits all alike
    for s in times:
        times[s].append(wall(s))
floor = statistics.median(times["process"])
print(f"spawner benchmark: 1000 exec-test /bin/true, -j 2, medians of {runs} runs, "
      f"{os.cpu_count()} CPUs")
for s, v in times.items():
    m = statistics.median(v)
    extra = (m - floor) / 1000 * 1000
    print(f"  --spawner {s:14s} {m:7.3f} s  {m / 1000 * 1000:6.3f} ms/task  "
          f"{m / floor:5.2f}x floor  ({extra:+.3f} ms/task)")
PY
