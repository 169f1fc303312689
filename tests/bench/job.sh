#!/bin/sh
# Job throughput and memory (issue: the job engine).
#  - 1000 exec-test tasks of /bin/true with -j 2, against the floor:
#    `xargs -P 2 -n 1 /bin/true` over the same 1000 runs;
#  - 1000 noop tasks with -j 2, against the same floor;
#  - scaling: 10,000 and 20,000 noop tasks with -j 2, their cost per task
#    against the 1000's per-task cost from the same run (1.00x: linear);
#    SCALE_RUNS repetitions (default 3), as they are long;
#  - nrunner's own peak memory (results.json runner_max_rss_kb) for 10,000
#    noop tasks, and for 200 tasks that each print 1 MiB: it must not grow
#    with the tasks' output.
# Medians over RUNS repetitions (default 7); ratios are nrunner / floor.
set -eu
RUNS=${RUNS:-7}
: "${NRUNNER:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NRUNNER_PLUGIN_CACHE="$work/plugins.json"
cd "$work"
"$PYTHON" - <<'PY'
import json
json.dump([{"kind": "exec-test", "uri": "/bin/true"}] * 1000, open("true1000.json", "w"))
json.dump([{"kind": "noop"}] * 1000, open("noop1000.json", "w"))
json.dump([{"kind": "noop"}] * 10000, open("noop10000.json", "w"))
json.dump([{"kind": "noop"}] * 20000, open("noop20000.json", "w"))
json.dump([{"kind": "exec-test", "uri": "/bin/sh",
            "args": ["-c", "head -c 1048576 /dev/zero"]}] * 200,
          open("out200.json", "w"))
PY
"$PYTHON" - "$NRUNNER" "$RUNS" "${SCALE_RUNS:-3}" <<'PY'
import json, os, statistics, subprocess, sys, time
nrunner, runs, scale_runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def wall(cmd, **kw):
    t = time.monotonic()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.monotonic() - t

def median(cmd, **kw):
    return statistics.median(wall(cmd, **kw) for _ in range(runs))

floor = median("seq 1000 | xargs -P 2 -n 1 /bin/true", shell=True)
ex = median([nrunner, "run", "-q", "-j", "2", "--results-dir", "r", "true1000.json"])
noop = median([nrunner, "run", "-q", "-j", "2", "--results-dir", "r", "noop1000.json"])
print(f"job benchmark: medians of {runs} runs, {os.cpu_count()} CPUs")
print(f"{'xargs -P 2 -n 1 /bin/true x1000 (floor)':48s} {floor:7.3f} s")
print(f"{'nrunner run -j 2: 1000 exec-test /bin/true':48s} {ex:7.3f} s   {ex / floor:5.2f}x floor")
print(f"{'nrunner run -j 2: 1000 noop':48s} {noop:7.3f} s   {noop / floor:5.2f}x floor")

# Each run in a results directory of its own, all removed at the end, not
# between runs: ext4 skips inodes freed in the last minutes when it hands
# out new ones, so a run right after 40,000 files were deleted would pay
# for the deletion (mkdir and create up to 100 times slower than on tmpfs).
seq = iter(range(1 << 30))
def scaled(n):
    def once():
        return wall([nrunner, "run", "-q", "-j", "2", "--results-dir",
                     f"s{next(seq)}", f"noop{n}.json"])
    return statistics.median(once() for _ in range(scale_runs))

per1k = noop / 1000
for n in (10000, 20000):
    w = scaled(n)
    print(f"{f'nrunner run -j 2: {n:,} noop':48s} {w:7.3f} s   "
          f"{w / n * 1000:.3f} ms/task, {w / n / per1k:5.2f}x the 1000's per task")

def rss(recipe):
    subprocess.run([nrunner, "run", "-q", "-j", "2", "--results-dir", "m", recipe],
                   check=True, stdout=subprocess.DEVNULL)
    d = json.load(open("m/latest/results.json"))
    return d["runner_max_rss_kb"], len(d["tasks"]), d["duration"]

for recipe, what in (("noop1000.json", "1000 noop"), ("noop10000.json", "10,000 noop"),
                     ("out200.json", "200 tasks x 1 MiB of output")):
    kb, n, dur = rss(recipe)
    print(f"{'peak RSS of nrunner, ' + what:48s} {kb:7d} KB  ({n} tasks in {dur:.2f} s)")
PY
