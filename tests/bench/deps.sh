#!/bin/sh
# Dependencies (issue 16): a job of 100 exec-test /bin/true tests that all
# need one package (check bash) and one asset (1 MiB, file://, sha256),
# with -j 2.  Three jobs take turns, RUNS times (default 5): without
# dependencies (the floor), with an empty dependency and asset cache (the
# two dependencies run, once), and with the cache from an earlier job
# (they run not at all); and, for what sharing saves, a job where every
# test fulfils its own two as tasks (300 tasks).  Prints the medians of the job's wall time and of
# the dependency phase (results.json's dependencies_duration), and how
# many dependency tasks ran for the 100 tests.
set -eu
RUNS=${RUNS:-5}
: "${NRUNNER:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export NRUNNER_PLUGIN_CACHE="$work/plugins.json"
export XDG_CACHE_HOME="$work/cache"
cd "$work"
"$PYTHON" - "$NRUNNER" "$RUNS" "$work" <<'PY'
import glob, hashlib, json, os, shutil, statistics, subprocess, sys, time
nrunner, runs, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = os.urandom(1 << 20)
open("asset.bin", "wb").write(data)
deps = [{"type": "package", "action": "check", "name": "bash"},
        {"type": "asset", "name": "bench-asset.bin", "algorithm": "sha256",
         "asset_hash": hashlib.sha256(data).hexdigest(),
         "locations": "file://%s/asset.bin" % work}]
plain = [{"kind": "exec-test", "uri": "/bin/true", "identifier": "t%d" % i}
         for i in range(100)]
json.dump(plain, open("plain.json", "w"))
json.dump([dict(t, kwargs={"dependencies": deps}) for t in plain],
          open("deps.json", "w"))
# What sharing saves: every test fulfils its own two, as tasks of the job.
each = []
for t in plain:
    for d in deps:
        k = dict(d)
        each.append({"kind": k.pop("type"), "kwargs": k})
    each.append(t)
json.dump(each, open("each.json", "w"))
cache = os.environ["XDG_CACHE_HOME"] + "/nrunner"

def job(recipe):
    t = time.monotonic()
    subprocess.run([nrunner, "run", "-q", "-j", "2", "--results-dir", "r", recipe],
                   check=True, stdout=subprocess.DEVNULL)
    wall = time.monotonic() - t
    res = json.load(open("r/latest/results.json"))
    assert all(x["result"] == "pass" for x in res["tasks"]), res["tasks"]
    ran = len(glob.glob("r/latest/dependencies/*/status.jsonl"))
    return wall, res.get("dependencies_duration", 0.0), ran, res.get("dependencies", [])

times = {"floor": [], "cold": [], "cached": [], "each": []}
phase = {"cold": [], "cached": []}
ran = {}
for _ in range(runs):  # interleaved, so that load elsewhere hits all alike
    w, _, _, _ = job("plain.json")
    times["floor"].append(w)
    shutil.rmtree(cache, ignore_errors=True)
    w, d, n, listed = job("deps.json")
    times["cold"].append(w)
    phase["cold"].append(d)
    ran["cold"] = (n, [x["tests"] for x in listed])
    w, d, n, listed = job("deps.json")
    times["cached"].append(w)
    phase["cached"].append(d)
    ran["cached"] = (n, [x["cached"] for x in listed])
    shutil.rmtree(cache, ignore_errors=True)
    w, _, _, _ = job("each.json")
    times["each"].append(w)
    shutil.rmtree("r")
floor = statistics.median(times["floor"])
print(f"dependencies benchmark: 100 exec-test /bin/true, -j 2, one package "
      f"(check bash) and one 1 MiB asset (file://, sha256) shared by all; "
      f"medians of {runs} runs, {os.cpu_count()} CPUs")
print(f"  without dependencies (floor)  job {floor:7.3f} s")
for k in ("cold", "cached"):
    m = statistics.median(times[k])
    p = statistics.median(phase[k])
    what = (f"{ran['cold'][0]} dependency tasks ran for {ran['cold'][1]} tests"
            if k == "cold" else
            f"{ran['cached'][0]} dependency tasks ran, cached: {ran['cached'][1]}")
    print(f"  {'empty cache' if k == 'cold' else 'from the cache':28s}  job {m:7.3f} s "
          f"({m / floor:4.2f}x floor, {(m - floor) * 1000:+6.1f} ms); "
          f"dependencies {p * 1000:6.1f} ms: {what}")
m = statistics.median(times["each"])
print(f"  {'every test its own (300 tasks)':28s}  job {m:7.3f} s ({m / floor:4.2f}x floor, "
      f"{(m - floor) * 1000:+6.1f} ms): what running the two once saves")
PY
