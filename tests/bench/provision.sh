#!/bin/sh
# Provisioning 50 databases with each method, on the private server, for
# a schema like the example app's (tests/bench/app-schema.sql): median and
# p95 of each database's provision_ms as the plugin reports it (connection
# included).  The template method clones only; its one-time build, done in
# job_begin before the tasks fork, is shown separately.  It runs twice: each
# task cloning (NRUNNER_PG_POOL=off), and taking a clone that the job's pool
# made ahead.
set -eu
: "${NRUNNER:?}"
N=${N:-50}
PYTHON=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
cd "$work"
unset PGHOST PGPORT PGUSER PGDATABASE PGSERVICE
export NRUNNER_PLUGIN_CACHE="$work/plugins.json"
cp "$here/app-schema.sql" schema.sql
# The same schema as migrations: one file per table group.
mkdir migrations
"$PYTHON" - <<'PY'
import re
stmts = [s.strip() for s in open("schema.sql").read().split(";") if s.strip()]
stmts = [re.sub(r"^(--[^\n]*\n)+", "", s) for s in stmts]
for i in range(0, len(stmts), 3):
    open("migrations/%04d.sql" % (i // 3 + 1), "w").write(";\n".join(stmts[i:i + 3]) + ";\n")
PY
"$PYTHON" - "$N" "$work" <<'PY'
import json, sys
n, work = int(sys.argv[1]), sys.argv[2]
def job(name, r):
    json.dump([dict(r, identifier="db%d" % i) for i in range(n)], open(name, "w"))
job("sql.json", {"kind": "provision-sql", "uri": work + "/schema.sql"})
job("migrate-dir.json", {"kind": "provision-migrate", "uri": work + "/migrations"})
job("migrate-cmd.json", {"kind": "provision-migrate", "kwargs": {"command": [
    "sh", "-c", "for f in " + work + "/migrations/*.sql; do psql -X -q -v ON_ERROR_STOP=1 -f $f || exit 1; done"]}})
job("template.json", {"kind": "provision-template", "uri": work + "/schema.sql"})
PY
for m in sql migrate-dir migrate-cmd; do
	"$NRUNNER" run -q -j 1 --results-dir "r-$m" "$m.json" >/dev/null
done
NRUNNER_PG_POOL=off "$NRUNNER" run -q -j 1 --results-dir r-template template.json >/dev/null
"$NRUNNER" run -q -j 1 --results-dir r-pool template.json >/dev/null
"$PYTHON" - "$N" <<'PY'
import json, statistics, sys
n = int(sys.argv[1])
def figures(m):
    d = json.load(open("r-%s/latest/results.json" % m))
    ms, build = [], None
    for t in d["tasks"]:
        assert t["result"] == "pass", t
        for line in open(t["logs"] + "/status.jsonl"):
            msg = json.loads(line)
            if msg["status"] == "finished":
                ms.append(msg["provision_ms"])
                build = msg.get("template_build_ms_by_job", build)
    ms.sort()
    return statistics.median(ms), ms[max(0, int(len(ms) * 0.95) - 1)], build
print("provisioning benchmark: %d databases per method, one at a time, private server" % n)
print("%-44s %9s %9s" % ("method", "median", "p95"))
res = {}
for m, label in (("sql", "provision-sql (schema file)"),
                 ("migrate-dir", "provision-migrate (*.sql directory)"),
                 ("migrate-cmd", "provision-migrate (command: psql per file)"),
                 ("template", "provision-template (clone only, pool off)"),
                 ("pool", "provision-template (a ready clone, pool)")):
    med, p95, build = figures(m)
    res[m] = med
    print("%-44s %7.1f ms %6.1f ms" % (label, med, p95))
    if build is not None:
        print("%-44s %7.1f ms (once per job, before the tasks fork)" % ("  template build", build))
print("ratio migrate (command) / template: %.1fx;  migrate (directory) / template: %.1fx;  sql / template: %.1fx"
      % (res["migrate-cmd"] / res["template"], res["migrate-dir"] / res["template"], res["sql"] / res["template"]))
print("template clone / a ready clone from the pool: %.1fx" % (res["template"] / res["pool"]))
PY
