#!/bin/sh
# The example flows, isolated and parallel (-j 2) on the private server,
# with each provisioning method: the job's wall time (median of RUNS), and
# per method the median of each phase per flow (provision, app start until
# ready, steps, teardown), the share of provisioning in a flow's time, and
# the ratio of the migrate job to the template job.  The apps are started by
# the example app's preloader (nrunner-flow(5), "Preload"), as in flows/; the
# last row is the template job with every app started afresh.
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
unset PGHOST PGPORT PGUSER PGDATABASE PGSERVICE NRUNNER_BASE_URL
export NRUNNER_PLUGIN_CACHE="$work/plugins.json" NRUNNER_PG_TMPDIR="${NRUNNER_PG_TMPDIR:-}"
suite() { # suite NAME PROVISION-JSON [PRELOAD-JSON]
	mkdir -p "$1"
	cp "$here"/flows/*.json "$1/"
	cp -R "$here/flows/lib" "$1/lib"
	cat >"$1/nrunner-env.json" <<J
{"app": {"command": ["/usr/bin/python3", "manage.py", "serve"], "cwd": "$APP",
         ${3:+"\"preload\": $3,"}
         "env": {"PORT": "{{port}}", "DB_NAME": "{{db.name}}", "DB_HOST": "{{db.host}}",
                 "DB_PORT": "{{db.port}}", "DB_USER": "{{db.user}}"}},
 "ready": {"path": "/api/health/", "status": 200, "timeout_s": 30},
 "provision": $2}
J
}
preload='{"command": ["/usr/bin/python3", "manage.py", "preload"]}'
template='{"kind": "provision-template", "uri": "'"$APP"'/schema.sql"}'
suite template "$template" "$preload"
suite sql '{"kind": "provision-sql", "uri": "'"$APP"'/schema.sql"}' "$preload"
suite migrate '{"kind": "provision-migrate", "kwargs": {"command": ["/usr/bin/python3", "manage.py", "migrate", "-v0"], "cwd": "'"$APP"'"}}' "$preload"
# The same template job, with each app started afresh (no preloader).
suite template-exec "$template"
"$PYTHON" - "$NRUNNER" "$RUNS" <<'PY'
import glob, json, os, statistics, subprocess, sys, time
nrunner, runs = sys.argv[1], int(sys.argv[2])
print("isolated flows benchmark: every example flow with its own database and app, -j 2, "
      "private server, %d CPUs; medians of %d jobs" % (os.cpu_count(), runs))
print("%-13s %9s %11s %13s %9s %11s %10s" % ("method", "job wall", "provision", "app to ready",
                                             "steps", "teardown", "prov share"))
walls = {}
for m in ("template", "sql", "migrate", "template-exec"):
    w, phases, shares = [], {k: [] for k in ("provision_ms", "app_start_ms", "steps_ms", "teardown_ms")}, []
    for _ in range(runs):
        t = time.monotonic()
        subprocess.run([nrunner, "run", "-q", "-j", "2", "--results-dir", "r-" + m, m],
                       check=True, stdout=subprocess.DEVNULL)
        w.append(time.monotonic() - t)
        for f in glob.glob("r-%s/latest/tasks/*/status.jsonl" % m):
            fin = [json.loads(l) for l in open(f)][-1]
            assert fin["result"] == "pass", (f, fin.get("fail_reason"))
            p = fin["phases"]
            for k in phases:
                phases[k].append(p[k])
            shares.append(p["provision_ms"] / p["total_ms"])
    walls[m] = statistics.median(w)
    med = {k: statistics.median(v) for k, v in phases.items()}
    print("%-13s %7.2f s %8.1f ms %10.1f ms %6.1f ms %8.1f ms %9.1f %%" % (
        m, walls[m], med["provision_ms"], med["app_start_ms"], med["steps_ms"],
        med["teardown_ms"], 100 * statistics.median(shares)))
print("migrate job / template job: %.2fx;  sql job / template job: %.2fx" % (
    walls["migrate"] / walls["template"], walls["sql"] / walls["template"]))
print("template job without / with the preloader: %.2fx" % (walls["template-exec"] / walls["template"]))
PY
