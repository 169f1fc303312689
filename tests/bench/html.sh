#!/bin/sh
# The HTML report for 10,000 tests (issue 15):
#  - the size of results.html and the time to write it (bench-html,
#    median over RUNS), against the time to write junit.xml for the same
#    tasks (the floor: a report nrunner already wrote);
#  - the time headless Chromium takes to load and render it (--dump-dom,
#    and a screenshot), median over 3, against the same for an empty page.
# The job: 9,900 noop tasks and 100 exec-tests that fail with output,
# -j 2, so that the page has failures to open and a two-lane timeline.
set -eu
RUNS=${RUNS:-5}
: "${NRUNNER:?}" "${BENCH_HTML:?}"
PYTHON=${PYTHON:-/usr/bin/python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
"$PYTHON" - <<'PY'
import json
fail = {"kind": "exec-test", "uri": "/bin/sh",
        "args": ["-c", "echo 'some output of a failing test'; echo 'an error' >&2; exit 1"]}
items = [{"kind": "noop"}] * 9900 + [fail] * 100
json.dump(items, open("tests.json", "w"))
PY
"$NRUNNER" run -q -j 2 tests.json >job.out 2>&1 || true
R=nrunner-results/latest
mkdir out
"$BENCH_HTML" $R/results.json "$RUNS" out >bench.out
cat bench.out
"$PYTHON" - bench.out <<'PY'
import sys
v = dict(l.split() for l in open(sys.argv[1]))
print("results.html: %.2f MB for %s tests, written in %s ms (median); junit.xml %s ms: %.2fx the floor"
      % (int(v["html_bytes"]) / 1e6, v["tasks"], v["html_ms"], v["junit_ms"],
         float(v["html_ms"]) / float(v["junit_ms"])))
PY
echo '<!DOCTYPE html><html><body>empty</body></html>' >empty.html
"$PYTHON" - "$work" <<'PY'
import os, statistics, subprocess, sys, time
work = sys.argv[1]
def chrome(*args):
    ud = subprocess.check_output(["mktemp", "-d", work + "/chrome.XXXXXX"]).decode().strip()
    t0 = time.monotonic()
    out = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                          "--no-first-run", "--disable-background-networking",
                          "--disable-component-update", "--disable-sync", "--user-data-dir=" + ud] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0, out.stdout
page = "file://" + work + "/out/results.html"
empty = "file://" + work + "/empty.html"
res = {}
for name, args in (("dump-dom", ["--dump-dom"]), ("screenshot", ["--screenshot=" + work + "/shot.png", "--window-size=1200,900"])):
    for label, url in (("report", page), ("empty", empty)):
        times = []
        for _ in range(3):
            t, out = chrome(*(args + [url]))
            times.append(t)
            if label == "report" and name == "dump-dom":
                assert b'data-rendered="10000"' in out, "the page's script did not finish"
                import re
                script = re.search(rb'data-script-ms="([^"]*)"', out).group(1).decode()
        res[(name, label)] = statistics.median(times)
print("the page's script, in ms since the page began to load (last run): " + script)
for name in ("dump-dom", "screenshot"):
    r, e = res[(name, "report")], res[(name, "empty")]
    print("chromium %s: the 10,000-test report %.2f s, an empty page %.2f s: %.2f s to render the report (%.1fx)"
          % (name, r, e, r - e, r / e))
PY
