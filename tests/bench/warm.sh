#!/bin/sh
# The generic warm start (nrunner-flow(5), "Warm start"): the example flows,
# isolated, -j 2, on the private server, with the app started four ways:
#   serve-own       manage.py serve, forked by the app's own preloader
#                   (flows/nrunner-env.json as shipped): the floor;
#   serve-warm      the same with "preload" removed: the generic warm start;
#   serve-cold      the same with "warm": false: every app executed afresh;
#   runserver-warm  plain `manage.py runserver --noreload`, generic warm start;
#   runserver-cold  the same, "warm": false.
# For each: the job's wall time and the median app start (start to ready)
# per flow, over RUNS jobs, after one job that fills the warm start's cache
# (in a cache directory of its own), and the ratios to the floor.
set -eu
: "${NRUNNER:?}"
RUNS=${RUNS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")/../.." && pwd)
APP=$here/flows/example_app
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
unset PGHOST PGPORT PGUSER PGDATABASE PGSERVICE NRUNNER_BASE_URL NRUNNER_WARM
mkdir -m 700 cache
export XDG_CACHE_HOME="$work/cache" NRUNNER_PLUGIN_CACHE="$work/plugins.json"
suite() { # suite NAME COMMAND-JSON APP-EXTRA-JSON
	mkdir -p "$1"
	cp "$here"/flows/*.json "$1/"
	cp -R "$here/flows/lib" "$1/lib"
	cat >"$1/nrunner-env.json" <<J
{"app": {"command": $2, "cwd": "$APP", $3
         "env": {"PORT": "{{port}}", "DB_NAME": "{{db.name}}", "DB_HOST": "{{db.host}}",
                 "DB_PORT": "{{db.port}}", "DB_USER": "{{db.user}}"}},
 "ready": {"path": "/api/health/", "status": 200, "timeout_s": 30},
 "provision": {"kind": "provision-template", "uri": "$APP/schema.sql"}}
J
}
serve='["/usr/bin/python3", "manage.py", "serve"]'
runserver='["/usr/bin/python3", "manage.py", "runserver", "--noreload", "127.0.0.1:{{port}}"]'
suite serve-own "$serve" '"preload": {"command": ["/usr/bin/python3", "manage.py", "preload"]},'
suite serve-warm "$serve" ""
suite serve-cold "$serve" '"warm": false,'
suite runserver-warm "$runserver" ""
suite runserver-cold "$runserver" '"warm": false,'
"$PYTHON" - "$NRUNNER" "$RUNS" <<'PY'
import glob, json, os, statistics, subprocess, sys, time
nrunner, runs = sys.argv[1], int(sys.argv[2])
def job(m):
    t = time.monotonic()
    subprocess.run([nrunner, "run", "-q", "-j", "2", "--results-dir", "r-" + m, m],
                   check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - t
print("warm start benchmark: the example flows, isolated, -j 2, private server, %d CPUs; "
      "medians of %d jobs (after one that fills the cache)" % (os.cpu_count(), runs))
print("%-15s %9s %15s %12s %12s" % ("app started", "job wall", "app to ready", "job / floor",
                                     "start / floor"))
walls, starts = {}, {}
for m in ("serve-own", "serve-warm", "serve-cold", "runserver-warm", "runserver-cold"):
    job(m)  # learns, for the warm ones
    w, s = [], []
    for _ in range(runs):
        w.append(job(m))
        for f in glob.glob("r-%s/latest/tasks/*/status.jsonl" % m):
            fin = [json.loads(l) for l in open(f)][-1]
            assert fin["result"] == "pass", (f, fin.get("fail_reason"))
            s.append(fin["phases"]["app_start_ms"])
    walls[m], starts[m] = statistics.median(w), statistics.median(s)
    print("%-15s %7.2f s %12.1f ms %11.2fx %12.2fx" % (
        m, walls[m], starts[m], walls[m] / walls["serve-own"], starts[m] / starts["serve-own"]))
print("cold / warm app start: serve %.2fx, runserver %.2fx" % (
    starts["serve-cold"] / starts["serve-warm"], starts["runserver-cold"] / starts["runserver-warm"]))
PY
