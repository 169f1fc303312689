#!/bin/sh
# crud-flow's overhead per step: one flow client making N keep-alive GETs
# (each checked: status, a header, a JSON assertion) against nginx serving
# a static JSON file on loopback, beside curl making the same N requests in
# one process over one connection.  Medians over RUNS repetitions.
set -eu
: "${NRUNNER:?}"
N=${N:-2000}
RUNS=${RUNS:-5}
PYTHON=${PYTHON:-/usr/bin/python3}
command -v nginx >/dev/null || { echo "flow.sh: needs nginx (apt-get install nginx-light)" >&2; exit 1; }
work=$(mktemp -d)
chmod 755 "$work"
cd "$work"
mkdir -p www logs
printf '{"status":"ok","items":[1,2,3]}\n' >www/item.json
port=$("$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >nginx.conf <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  keepalive_requests 1000000;
  types { application/json json; }
  server { listen 127.0.0.1:$port; root $work/www; }
}
CONF
nginx -p "$work" -c "$work/nginx.conf" -g 'daemon off;' &
ngx=$!
trap 'kill $ngx 2>/dev/null; wait $ngx 2>/dev/null; rm -rf "$work"' EXIT
i=0
until curl -sf "http://127.0.0.1:$port/item.json" >/dev/null || [ $i -ge 50 ]; do sleep 0.1; i=$((i + 1)); done
export NRUNNER_PLUGIN_CACHE="$work/plugins.json"
"$PYTHON" - "$N" "$port" <<'PY'
import json, sys
n, port = int(sys.argv[1]), sys.argv[2]
step = {"path": "/item.json", "expect": {"status": 200,
        "headers": {"Content-Type": "application/json"},
        "assert": [{"path": "/items", "op": "count", "value": 3}]}}
json.dump({"name": "bench", "base_url": "http://127.0.0.1:" + port,
           "steps": [dict(step, name="get %d" % i) for i in range(n)]}, open("flow.json", "w"))
open("curl.cfg", "w").write("".join('url = "http://127.0.0.1:%s/item.json"\noutput = "/dev/null"\n' % port
                                    for _ in range(n)))
PY
"$PYTHON" - "$NRUNNER" "$N" "$RUNS" <<'PY'
import json, statistics, subprocess, sys, time
nrunner, n, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def wall(cmd):
    t = time.monotonic()
    out = subprocess.run(cmd, check=True, capture_output=True).stdout
    return time.monotonic() - t, out
flow, curl = [], []
for _ in range(runs):
    w, out = wall([nrunner, "runnable-run", "-k", "crud-flow", "-u", "flow.json"])
    last = json.loads(out.splitlines()[-1])
    assert last["result"] == "pass", last
    flow.append(w)
    w, _ = wall(["curl", "-s", "--parallel-max", "1", "-K", "curl.cfg"])
    curl.append(w)
f, c = statistics.median(flow), statistics.median(curl)
print("flow benchmark: %d keep-alive GETs of a static JSON file (nginx, loopback), medians of %d runs" % (n, runs))
print("%-52s %8.3f s  %8.0f req/s  %6.1f us/req" % ("curl, one process, one connection", c, n / c, c / n * 1e6))
print("%-52s %8.3f s  %8.0f steps/s %6.1f us/step" % ("nrunner crud-flow (each step checked, one message each)", f, n / f, f / n * 1e6))
print("ratio crud-flow / curl: %.2fx; overhead per step beside libcurl: %.1f us" % (f / c, (f - c) / n * 1e6))
PY
