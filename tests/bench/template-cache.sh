#!/bin/sh
# The template cache (nrunner(1), "The template cache"): set-up (private
# server and template; results.json setup_duration) of the first job, which
# builds the template with a migrate command that sleeps SLEEP seconds
# (default 2), and of the second job, which starts from the cached cluster.
# The floor: the set-up of a job whose server needs no template (a
# provision-sql runnable).  Medians over RUNS rounds (default 5); each
# round empties the template cache first.
set -eu
: "${NRUNNER:?}"
RUNS=${RUNS:-5}
SLEEP=${SLEEP:-2}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
unset PGHOST PGHOSTADDR PGPORT PGUSER PGDATABASE PGSERVICE NRUNNER_PG_TEMPLATE_CACHE
mkdir -m 700 cache
export XDG_CACHE_HOME="$work/cache" NRUNNER_PLUGIN_CACHE="$work/plugins.json"
cp "$here/flows/example_app/schema.sql" .
cat >migrate.sh <<SH
#!/bin/sh
sleep $SLEEP
exec psql -X -q -v ON_ERROR_STOP=1 -f schema.sql >/dev/null
SH
chmod +x migrate.sh
cat >job.json <<J
[$(for i in 1 2 3 4; do printf '{"kind": "provision-template", "uri": "%s", "identifier": "t%s", "kwargs": {"command": ["%s/migrate.sh"], "inputs": ["schema.sql"]}}%s' \
	"$work" "$i" "$work" "$([ $i = 4 ] || echo ,)"; done)]
J
cat >floor.json <<J
[{"kind": "provision-sql", "uri": "$work/schema.sql"}]
J
"$PYTHON" - "$NRUNNER" "$RUNS" "$SLEEP" <<'PY'
import json, os, shutil, statistics, subprocess, sys
nrunner, runs, sleep = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def setup(recipe):
    subprocess.run([nrunner, "run", "-q", "--results-dir", "r", recipe], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return json.load(open("r/latest/results.json"))["setup_duration"]

setup("floor.json")  # fills the initdb cache
first, second, floor = [], [], []
for _ in range(runs):
    shutil.rmtree("cache/nrunner/pg-templates", ignore_errors=True)
    floor.append(setup("floor.json"))
    first.append(setup("job.json"))
    second.append(setup("job.json"))
f, a, b = (statistics.median(x) for x in (floor, first, second))
print(f"template cache: set-up medians of {runs} rounds, migrate sleeps {sleep} s, "
      f"{os.cpu_count()} CPUs")
print(f"{'job with no template (floor)':40s} {f:7.3f} s")
print(f"{'first job: builds the template':40s} {a:7.3f} s   {a / f:5.2f}x floor")
print(f"{'second job: from the template cache':40s} {b:7.3f} s   {b / f:5.2f}x floor")
PY
