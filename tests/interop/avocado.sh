#!/bin/sh
# Avocado's own jobs on nrunner's runners.  Not part of make check (Debian
# does not ship Avocado); run it before a release:
#
#   tests/interop/avocado.sh AVOCADO_SRC_DIR [--bench]
#
# Installs Avocado from its source tree into a throwaway venv (offline:
# its install_requires is empty), then
#  1. runs Avocado's own runner-interface selftest
#     (selftests/functional/nrunner_interface.py) against nrunner's
#     avocado-runner-KIND for every kind both have;
#     and its selftests/functional/runner_asset.py and runner_package.py
#     with their RUNNER set to nrunner's avocado-runner-asset and -package;
#  2. runs one Avocado job over exec-test, python-unittest and tap tests
#     twice, with Avocado's runners and with nrunner's first in PATH, and
#     compares the per-test results, which must be identical;
#  3. runs an Avocado job with --dry-run, and one with per-test sysinfo,
#     both ways, and compares the results and the sysinfo files;
#  4. with --bench, tests/bench/avocado-job.sh: 200 exec-tests of
#     /bin/true in an Avocado job, with either runners, and nrunner run.
# NRUNNER and NRUNNER_PLUGIN_PATH name the nrunner to use (default: this
# build tree).  Exit status 0 when everything matched.
set -eu
[ $# -ge 1 ] && [ -d "$1/avocado/core/nrunner" ] || {
	echo "usage: $0 AVOCADO_SRC_DIR [--bench]  (a checkout of github.com/avocado-framework/avocado)" >&2
	exit 2
}
SRC=$(cd "$1" && pwd)
BENCH=${2:-}
top=$(cd "$(dirname "$0")/../.." && pwd)
NRUNNER=${NRUNNER:-$top/nrunner}
NRUNNER_PLUGIN_PATH=${NRUNNER_PLUGIN_PATH:-$top/plugins}
NRUNNER_PLUGIN_CACHE=off
export NRUNNER_PLUGIN_PATH NRUNNER_PLUGIN_CACHE
W=$(mktemp -d "${TMPDIR:-/tmp}/nrunner-interop.XXXXXX")
trap 'rm -rf "$W"' EXIT
export TMPDIR=$W HOME=$W/home
mkdir -p "$HOME"
failed=0

# --- Avocado, from source, in a venv ----------------------------------------
cp -a "$SRC" "$W/src"
python3 -m venv --system-site-packages "$W/venv"
# setup.py develop needs no wheel package; the optional plugins need
# dependencies from the network.
( cd "$W/src" && "$W/venv/bin/python" setup.py develop --skip-optional-plugins \
	--skip-examples-plugins-tests ) >"$W/install.log" 2>&1 || {
	tail -20 "$W/install.log"
	echo "interop: cannot install Avocado from $SRC" >&2
	exit 1
}
AVOCADO=$W/venv/bin/avocado
echo "Avocado: $("$AVOCADO" --version 2>/dev/null | tail -1) from $SRC"
echo "nrunner: $("$NRUNNER" --version)"

# --- nrunner's runners: avocado-runner-KIND for every kind it has ------------
# Each is a wrapper that records Avocado's exact command line, then runs
# nrunner under the runner's name.
mkdir "$W/runners"
kinds=$("$NRUNNER" capabilities | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["runnables"]))')
for k in $kinds; do
	cat >"$W/runners/avocado-runner-$k" <<W
#!/bin/bash
printf '%s\n' "avocado-runner-$k \$*" >>"$W/calls"
exec -a "\$0" "$NRUNNER" "\$@"
W
	chmod +x "$W/runners/avocado-runner-$k"
done
OURS=$W/runners:$W/venv/bin:$PATH
THEIRS=$W/venv/bin:$PATH

# --- 1. Avocado's runner-interface selftest ----------------------------------
echo
echo "== Avocado's selftests/functional/nrunner_interface.py against nrunner's runners"
for k in noop exec-test python-unittest tap; do
	case " $kinds " in *" $k "*) ;; *) continue ;; esac
	rm -f "$W/calls"
	( cd "$W/src" && PATH=$OURS "$AVOCADO" run --disable-sysinfo \
		--job-results-dir "$W/selftest-$k" -p runner="avocado-runner-$k" \
		selftests/functional/nrunner_interface.py ) >"$W/selftest-$k.log" 2>&1 || true
	python3 - "$W/selftest-$k"/latest/results.json "$k" "$W/calls" <<'P' || failed=1
import json, os, sys
r = json.load(open(sys.argv[1]))
calls = os.path.exists(sys.argv[3]) and sum(1 for _ in open(sys.argv[3]))
bad = [t for t in r["tests"] if t["status"] not in ("PASS", "SKIP", "CANCEL")]
print("avocado-runner-%-16s %d/%d pass, %d skip, %d cancel; nrunner ran %d times"
      % (sys.argv[2], r["pass"], r["total"], r["skip"], r["cancel"], calls))
for t in bad:
    print("   %s %s: %s" % (t["status"], t["name"], t.get("fail_reason")))
sys.exit(1 if bad or not calls else 0)
P
done

# --- 1b. Avocado's own selftests of its asset and package runners -------------
# selftests/functional/runner_asset.py and runner_package.py run Avocado's
# runner as RUNNER = "python3 -m avocado.plugins.runners.KIND"; a copy with
# RUNNER naming nrunner's avocado-runner-KIND runs them unchanged otherwise.
# CI=1 for the package runner turns on its test_recipe (a dpkg-query check,
# offline); the asset runner's CI-only tests fetch from the internet, so
# they stay skipped, as they are off CI in Avocado.
echo
echo "== Avocado's selftests/functional/runner_KIND.py against nrunner's runners"
for k in asset package; do
	case " $kinds " in *" $k "*) ;; *) continue ;; esac
	t=selftests/functional/runner_$k.py
	[ -f "$W/src/$t" ] || { echo "avocado's $t: not in this Avocado"; continue; }
	sed "s|^RUNNER = .*|RUNNER = \"$W/runners/avocado-runner-$k\"|" "$W/src/$t" \
		>"$W/src/selftests/functional/nrunner_runner_$k.py"
	rm -f "$W/calls"
	ci=; [ "$k" = package ] && ci=1
	rc=0
	( cd "$W/src" && CI=$ci PATH=$OURS "$W/venv/bin/python3" -m unittest -v \
		"selftests.functional.nrunner_runner_$k" ) >"$W/runner-$k.log" 2>&1 || rc=$?
	calls=$(wc -l <"$W/calls" 2>/dev/null || echo 0)
	summary=$(grep -E '^(Ran|OK|FAILED)' "$W/runner-$k.log" | tr '\n' ' ')
	printf 'avocado-runner-%-16s %s; nrunner ran %s times\n' "$k" "$summary" "$calls"
	if [ "$rc" != 0 ] || [ "$calls" = 0 ]; then
		grep -E '^(FAIL|ERROR):|Error' "$W/runner-$k.log" | head -5 | sed 's/^/   /'
		failed=1
	fi
done

# --- 2. One job, Avocado's runners and nrunner's: identical results ----------
echo
echo "== An Avocado job with Avocado's runners, then with nrunner's"
S=$W/suite
mkdir -p "$S"
cp "$top/tests/unittest/test_sample.py" "$S/"
printf '#!/bin/sh\nexit 77\n' >"$S/exit77.sh"
printf '#!/bin/sh\necho "out: $AVOCADO_TEST_OUTPUTDIR" >/dev/null; echo hello; echo oops >&2; exit 3\n' >"$S/fails.sh"
printf '#!/bin/sh\ntest "$SLEEP" = 0.1\n' >"$S/env.sh"
chmod +x "$S"/*.sh
i=0
for c in pass fail todo-not-ok todo-ok all-skipped empty-plan bail-out too-few not-tap yaml; do
	i=$((i + 1))
	sed '1,/^---$/d' "$top/tests/tap-cases/$c.case" >"$S/tap-$c.txt"
	printf '{"kind": "tap", "uri": "/bin/cat", "args": ["%s"], "identifier": "tap-%s"}\n' \
		"$S/tap-$c.txt" "$c" >"$S/tap-$c.json"
done
printf '{"kind": "exec-test", "uri": "%s", "kwargs": {"SLEEP": "0.1"}}\n' "$S/env.sh" >"$S/exec-kwargs.json"
printf '{"kind": "python-unittest", "uri": "unittest.TestCase"}\n' >"$S/unittest-invalid.json"
refs="/bin/true /bin/false $S/exit77.sh $S/fails.sh $S/exec-kwargs.json $S/test_sample.py $S/unittest-invalid.json"
for f in "$S"/tap-*.json; do refs="$refs $f"; done
job() { # job NAME PATH
	rm -f "$W/calls"
	# shellcheck disable=SC2086 # the references are words
	( cd "$S" && PATH=$2 "$AVOCADO" run --disable-sysinfo --job-results-dir "$W/$1" $refs ) \
		>"$W/$1.log" 2>&1 || true
	python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
for t in sorted(r["tests"], key=lambda t: t["id"]):
    print("%-11s %s" % (t["status"], t["id"].replace(sys.argv[2] + "/", "")))' \
		"$W/$1/latest/results.json" "$S" >"$W/$1.results"
}
job theirs "$THEIRS"
job ours "$OURS"
n=$(wc -l <"$W/ours.results")
calls=$(grep -c ' task-run ' "$W/calls" 2>/dev/null || :)
paste -d'|' "$W/theirs.results" "$W/ours.results" | awk -F'|' '
	{ a = $1; b = $2; sub(/ .*/, "", a); sub(/ .*/, "", b);
	  name = $1; sub(/^[^ ]* +/, "", name);
	  printf "%-11s %-11s %s%s\n", a, b, name, (a == b && $1 == $2) ? "" : "   <-- DIFFERENT" }' |
	sed '1i\AVOCADO     NRUNNER     TEST'
if cmp -s "$W/theirs.results" "$W/ours.results" && [ "$calls" -ge "$n" ]; then
	echo "identical: $n tests; nrunner's runners ran $calls tasks of the second job"
else
	echo "DIFFERENT results (or nrunner's runners were not used: $calls calls)"
	failed=1
fi
echo "Avocado's command line, as nrunner received it:"
grep -m1 ' task-run ' "$W/calls" | cut -c1-400 | sed 's/^/  /'

# --- 3. Avocado's job options that use the other kinds ----------------------
# --dry-run turns every test into a dry-run runnable; sysinfo.collect.per_test
# runs a sysinfo runnable before and after each test into its directory.
# Both jobs run with Avocado's runners and with nrunner's: the same results,
# and the same files under each test's sysinfo/pre and sysinfo/post.
echo
echo "== Avocado's --dry-run and per-test sysinfo, with Avocado's runners and nrunner's"
printf '[sysinfo.collect]\nper_test = True\n' >"$W/per-test.conf"
extra_job() { # extra_job NAME PATH KIND [avocado run options...]
	name=$1 path=$2 kind=$3
	shift 3
	rm -f "$W/calls"
	# --json: a --dry-run job keeps no results directory.
	( cd "$S" && PATH=$path "$AVOCADO" --config "$W/per-test.conf" run \
		--job-results-dir "$W/$name" --json "$W/$name.json" "$@" /bin/true /bin/false ) \
		>"$W/$name.log" 2>&1 || true
	python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))
for t in sorted(r["tests"], key=lambda t: t["id"]):
    print(t["status"], t["id"])
    print(t["id"], t.get("fail_reason"), file=sys.stderr)' \
		"$W/$name.json" >"$W/$name.results" 2>"$W/$name.reasons" || true
	if [ -d "$W/$name/latest/test-results" ]; then
		( cd "$W/$name/latest/test-results" && find . -path '*/sysinfo/*' -type f | sort ) \
			>>"$W/$name.results"
	fi
	grep -c " task-run .* -k $kind " "$W/calls" 2>/dev/null || echo 0
}
for opt in dry-run sysinfo; do
	if [ "$opt" = dry-run ]; then kind=dry-run; set -- --dry-run; else kind=sysinfo; set --; fi
	case " $kinds " in *" $kind "*) ;; *) continue ;; esac
	extra_job "theirs-$opt" "$THEIRS" "$kind" "$@" >/dev/null
	calls=$(extra_job "ours-$opt" "$OURS" "$kind" "$@")
	files=$(grep -c '/sysinfo/' "$W/ours-$opt.results" || :)
	if cmp -s "$W/theirs-$opt.results" "$W/ours-$opt.results" && [ "$calls" -gt 0 ]; then
		printf '%-9s identical: %s; %s sysinfo files; nrunner ran %s %s tasks\n' "$opt" \
			"$(grep -v /sysinfo/ "$W/ours-$opt.results" | cut -d' ' -f1-2 | tr '\n' ' ')" \
			"$files" "$calls" "$kind"
		# exec-test's reasons are nrunner's own ("exited with status 1"
		# where Avocado's job says "<unknown>"): shown, not compared.
		if ! cmp -s "$W/theirs-$opt.reasons" "$W/ours-$opt.reasons"; then
			paste -d'|' "$W/theirs-$opt.reasons" "$W/ours-$opt.reasons" |
				awk -F'|' '$1 != $2 { printf "          fail_reason: Avocado %s, nrunner %s\n", $1, $2 }'
		fi
	else
		echo "$opt: DIFFERENT (nrunner's $kind runner ran $calls times)"
		diff "$W/theirs-$opt.results" "$W/ours-$opt.results" | head -10 | sed 's/^/   /'
		failed=1
	fi
done

if [ "$BENCH" = --bench ]; then
	echo
	AVOCADO=$AVOCADO OURS=$OURS THEIRS=$THEIRS NRUNNER=$NRUNNER \
		sh "$top/tests/bench/avocado-job.sh"
fi
exit $failed
