#!/bin/sh
# The cost of a step per connection policy (nrunner-flow(5), CLIENTS,
# connection), against the example app served two ways on a private
# PostgreSQL:
#   runserver  plain `manage.py runserver --noreload`: Django's development
#              server, which writes a response in pieces without TCP_NODELAY
#              (the delayed-ACK trap);
#   serve      the example app's `manage.py serve`, which sets TCP_NODELAY.
# For each: N GETs of /api/health/ by curl, one process and one fresh
# connection per request (the floor), and by one flow of N steps per policy:
# the default (a kept connection whose responses are acknowledged at once),
# "keep-alive" (a kept connection, the kernel's delayed ACKs: the trap) and
# "fresh".  Medians of the per-request times (libcurl's total time, as the
# flow's timings and curl's -w %{time_total} give it) over RUNS rounds, and
# the ratio of each to the floor of the same server in the same run.
set -eu
: "${NRUNNER:?}"
N=${N:-100}
RUNS=${RUNS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")/../.." && pwd)
APP=$here/flows/example_app
command -v curl >/dev/null || { echo "connection.sh: needs curl (apt-get install curl)" >&2; exit 1; }
"$PYTHON" -c 'import django, rest_framework, psycopg2' 2>/dev/null ||
	{ echo "connection.sh: the example app needs python3-django, python3-djangorestframework and python3-psycopg2" >&2; exit 1; }
TMP=$(mktemp -d)
. "$here/tests/pg-server.sh"
apps=
cleanup() {
	for p in $apps; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	stop_pg
}
trap cleanup EXIT
cd "$TMP"
unset NRUNNER_BASE_URL
export NRUNNER_PLUGIN_CACHE="$TMP/plugins.json"
as_pg "createdb -h '$PGHOST' -p $PGPORT -U postgres bench && psql -X -q -v ON_ERROR_STOP=1 -h '$PGHOST' -p $PGPORT -U postgres -d bench -f '$APP/schema.sql'" >/dev/null
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # start NAME PORT ARGS...: the app, until it answers
	name=$1 port=$2
	shift 2
	(cd "$APP" && exec env DB_NAME=bench DB_HOST="$PGHOST" DB_PORT="$PGPORT" DB_USER=postgres \
		PORT="$port" "$PYTHON" manage.py "$@" >"$TMP/$name.log" 2>&1) &
	apps="$apps $!"
	i=0
	until curl -sf -o /dev/null "http://127.0.0.1:$port/api/health/"; do
		i=$((i + 1))
		[ $i -lt 300 ] || { echo "connection.sh: $name did not start: $(tail -3 "$TMP/$name.log")" >&2; exit 1; }
		sleep 0.1
	done
}
rport=$(free_port)
start runserver "$rport" runserver --noreload "127.0.0.1:$rport"
sport=$(free_port)
start serve "$sport" serve
"$PYTHON" - "$NRUNNER" "$N" "$RUNS" "$rport" "$sport" <<'PY'
import json, os, statistics, subprocess, sys
nrunner, n, runs, rport, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
policies = [("default", None), ("keep-alive", "keep-alive"), ("fresh", "fresh")]
for name, conn in policies:
    client = {"connection": conn} if conn else {}
    json.dump({"name": "bench-" + name, "clients": {"default": client},
               "steps": [{"name": "health %d" % i, "path": "/api/health/",
                          "expect": {"status": 200}} for i in range(n)]},
              open("flow-%s.json" % name, "w"))
def curl_fresh(url):
    ms = []
    for _ in range(n):
        out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}", url],
                             check=True, capture_output=True, text=True).stdout
        ms.append(float(out) * 1000)
    return ms
def flow(name, url):
    out = subprocess.run([nrunner, "runnable-run", "-k", "crud-flow", "-u", "flow-%s.json" % name,
                          "base_url=" + url], check=True, capture_output=True, text=True).stdout
    fin = json.loads(out.splitlines()[-1])
    assert fin["result"] == "pass", fin.get("fail_reason")
    return [t["ms"] for t in fin["timings"]]
print("connection benchmark: %d GETs of /api/health/ per row and round, %d rounds, %d CPUs; "
      "median per request (libcurl's total time)" % (n, runs, os.cpu_count()))
for server, port in (("manage.py runserver --noreload (delayed-ACK trap)", rport),
                     ("manage.py serve (TCP_NODELAY)", sport)):
    url = "http://127.0.0.1:%s" % port
    rows = [("curl, a fresh connection per request (floor)", "curl")] + \
           [("nrunner, connection %s" % (n_ if c else "default"), n_) for n_, c in policies]
    ms = {k: [] for _, k in rows}
    for _ in range(runs):
        ms["curl"] += curl_fresh(url)
        for name, _ in policies:
            ms[name] += flow(name, url)
    floor = statistics.median(ms["curl"])
    print(server)
    for label, k in rows:
        m = statistics.median(ms[k])
        print("  %-50s %8.2f ms  %6.2fx" % (label, m, m / floor))
PY
