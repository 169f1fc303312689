#!/bin/sh
# Teardown of isolated flows (nrunner-flow(5), environment.app.stop): the
# median teardown_ms (app stopped, database dropped, app log redacted) of
# the shipped flows (flows/, the example Django app) and of the FastAPI
# app run by uvicorn (tests/fastapi/flows), with the default stop (SIGKILL
# at once: the database is dropped next) and with "graceful" (SIGTERM and
# a wait for the app's own shutdown, as before).  RUNS rounds (default 3)
# of each, taking turns.  Measures; judges nothing.
set -eu
: "${NRUNNER:?}"
RUNS=${RUNS:-3}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE NRUNNER_BASE_URL
for mode in kill graceful; do
	mkdir -p "$work/$mode"
	cp -R "$here/flows" "$here/tests/fastapi" "$work/$mode/"
	for env in "$work/$mode/flows/nrunner-env.json" "$work/$mode/fastapi/nrunner-env.json"; do
		"$PYTHON" - "$env" "$mode" <<'PY'
import json, sys
path, mode = sys.argv[1], sys.argv[2]
env = json.load(open(path))
env["app"]["stop"] = mode
json.dump(env, open(path, "w"), indent=1)
PY
	done
done
for i in $(seq "$RUNS"); do
	for mode in kill graceful; do
		for app in flows fastapi; do
			target="$work/$mode/$app"
			[ "$app" = fastapi ] && target="$target/flows"
			(cd "$work/$mode" && "$NRUNNER" run -q --results-dir "$work/res-$app-$mode-$i" "$target" >/dev/null 2>&1) ||
				echo "teardown.sh: a job of $app ($mode) failed" >&2
		done
	done
done
"$PYTHON" - "$work" <<'PY'
import glob, json, statistics, sys
work = sys.argv[1]
for app, what in (("flows", "shipped flows (Django, manage.py serve)"),
                  ("fastapi", "FastAPI app (python3 -m uvicorn)")):
    med = {}
    for mode in ("kill", "graceful"):
        ms = []
        for f in glob.glob("%s/res-%s-%s-*/latest/tasks/*/status.jsonl" % (work, app, mode)):
            last = json.loads(open(f).read().splitlines()[-1])
            if "phases" in last:
                ms.append(last["phases"]["teardown_ms"])
        med[mode] = statistics.median(ms) if ms else float("nan")
        print("teardown %-40s stop=%-8s median %7.1f ms over %d flows" % (what, mode, med[mode], len(ms)))
    print("teardown %-40s graceful/kill %.1fx" % (what, med["graceful"] / med["kill"]))
PY
