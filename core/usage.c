/* nrunner's usage texts: what `nrunner --help` and `nrunner COMMAND
 * --help` print.  tests/usage-man.test checks that they and nrunner(1)
 * name the same options. */
#include "config.h"

#include "usage.h"

/* The commands of Avocado's runner interface. */
#define RUNNER_COMMANDS                                                        \
	"  runnable-run         run one runnable given by options\n"           \
	"  runnable-run-recipe  run the runnable(s) in a recipe file\n"        \
	"  task-run             run a runnable as a task, reporting to status\n" \
	"                       servers\n"                                      \
	"  task-run-recipe      run a task from a task recipe file\n"

const char nrc_usage_main[] =
	"Usage: nrunner [-V|--version] [--help] COMMAND [OPTION]...\n"
	"       nrunner --list-kinds [--json]\n"
	"\n"
	"A fast, native test runner: every kind of test is a plugin.\n"
	"\n"
	"Commands:\n"
	"  run                  run tests (recipes, files a kind claims,\n"
	"                       directories of them) in parallel, with\n"
	"                       results and reports\n"
	"  report merge         merge the results.json of several shards\n"
	"  report collect       build results from saved status logs\n"
	"  status-server        collect tasks' status streams over TCP and\n"
	"                       Unix sockets into results\n"
	"  clean                remove what jobs left behind (databases)\n"
	"  cache list|clear     list or forget the dependencies that earlier\n"
	"                       jobs fulfilled\n"
	"  list-kinds           list the kinds found, their plugins, and the\n"
	"                       plugins that were refused or shadowed\n"
	"  capabilities         print the runnable kinds, commands and config\n"
	"                       keys, as JSON (Avocado's runner shape)\n"
	RUNNER_COMMANDS
	"\n"
	"'nrunner COMMAND --help' describes a command.  Plugins are searched\n"
	"in $NRUNNER_PLUGIN_PATH (colon-separated), then in " NR_PLUGINDIR ".\n"
	"\n"
	"Exit status: 0 passed (or skipped), 1 a test failed or errored,\n"
	"2 bad input, 4 a runner crashed, 8 interrupted (bits may combine).\n"
	"See nrunner(1), nrunner-recipe(5) and nrunner-plugin(7).\n";

/* Under the name avocado-runner-KIND (printf: name, kind, kind). */
const char nrc_usage_runner[] =
	"Usage: %s COMMAND [OPTION]...\n"
	"\n"
	"Avocado's standalone runner of kind '%s', run by nrunner: Avocado\n"
	"finds it on PATH, asks for its capabilities, then runs task-run.\n"
	"\n"
	"Commands:\n"
	"  capabilities         print the kind, commands and config keys, as\n"
	"                       JSON\n"
	RUNNER_COMMANDS
	"\n"
	"Without -k the kind is %s.  Exit status: 0 the task ran (its result\n"
	"is in its messages), 2 bad input, 4 the runner crashed, 8\n"
	"interrupted.  See nrunner(1).\n";

const char nrc_usage_list_kinds[] =
	"Usage: nrunner list-kinds [--json]\n"
	"       nrunner --list-kinds [--json]\n"
	"\n"
	"Loads every plugin on the search path and prints a table of kind,\n"
	"summary, plugin, version, ABI and path, then the plugins that were\n"
	"refused (and why) and the kinds shadowed by an earlier plugin.\n"
	"\n"
	"  --json      the same data as one JSON object\n"
	"  -h, --help  show this help\n";

const char nrc_usage_capabilities[] =
	"Usage: nrunner capabilities\n"
	"\n"
	"Prints {\"runnables\":[...],\"commands\":[...],"
	"\"configuration_used\":[...]}\n"
	"as Avocado's runners do.\n";

#define RUNNABLE_OPTIONS                                                       \
	"  -k, --kind KIND        the kind of runnable (required; or the first\n" \
	"                         word that is not KEY=VALUE)\n"               \
	"  -u, --uri URI          what to run, e.g. a program's path (or the\n" \
	"                         word after the kind)\n"                       \
	"  -a, --arg, --args ARG  an argument (repeatable); \"base64:DATA\" is\n" \
	"                         decoded first\n"                              \
	"  -c, --config JSON      config as a JSON object, e.g.\n"              \
	"                         '{\"runner.exectest.exitcodes.skip\":[77]}';\n" \
	"                         keys no kind reads are accepted\n"           \
	"  -o, --output-dir DIR   write the task's stdout and stderr to files\n" \
	"                         in DIR instead of streaming them (as the\n"  \
	"                         kwarg output_dir=DIR does)\n"                 \
	"  KEY=VALUE              a keyword argument; \"json:TEXT\" is parsed\n" \
	"                         as JSON.  exec and exec-test make them\n"     \
	"                         environment variables, except Avocado's\n"    \
	"                         output_dir, tags, variant, dependencies and\n" \
	"                         assets\n"                                     \
	JOB_CONTROL_HELP                                                        \
	"  -h, --help             show this help\n"                             \
	"Options and KEY=VALUE arguments may come in any order.\n"

#define JOB_CONTROL_HELP                                                       \
	"      --timeout SECONDS  stop the task after this long (SIGTERM to\n"  \
	"                         its process group, SIGKILL after the grace)\n" \
	"      --grace SECONDS    between SIGTERM and SIGKILL (default 5)\n"

const char nrc_usage_runnable_run[] =
	"Usage: nrunner runnable-run [-k] KIND [[-u] URI] [-a ARG]... [-c JSON]\n"
	"                            [-o DIR] [KEY=VALUE]...\n"
	"\n"
	"Runs one runnable and prints its status messages on stdout, one JSON\n"
	"object per line: started, running..., finished.\n"
	"\n" RUNNABLE_OPTIONS;

const char nrc_usage_runnable_run_recipe[] =
	"Usage: nrunner runnable-run-recipe [-o DIR] RECIPE\n"
	"\n"
	"Runs the runnable in a recipe file (an Avocado recipe runs as is), or\n"
	"each runnable in turn when the file holds a JSON array, printing\n"
	"their status messages on stdout.  See nrunner-recipe(5).\n"
	"\n"
	"  -o, --output-dir DIR   write stdout and stderr to files in DIR\n"
	JOB_CONTROL_HELP
	"  -h, --help             show this help\n";

const char nrc_usage_task_run[] =
	"Usage: nrunner task-run -i ID [-s STATUS_URI]... [-j JOB_ID]\n"
	"                        [-t CATEGORY] -k KIND [-u URI] [-a ARG]...\n"
	"                        [-c JSON] [-o DIR] [KEY=VALUE]...\n"
	"\n"
	"Runs one runnable as an Avocado task: every status message gets \"id\"\n"
	"(and \"job_id\") and goes to stdout and to each status server, which\n"
	"gets Avocado's form (output as {\"__base64_encoded__\": ...}).  The\n"
	"task's files go to its output directory (-o, output_dir=, or a new\n"
	"$TMPDIR/.nrunner-task-XXXXXX), which \"started\" names.\n"
	"\n"
	"  -i, --identifier ID    the task's identifier (required)\n"
	"  -s, --status-uri URI   a status server: HOST:PORT for TCP, or the\n"
	"                         path of a Unix socket (repeatable); one that\n"
	"                         cannot be reached is reported and dropped\n"
	"  -j, --job-id JOB_ID    the job the task belongs to\n"
	"  -t, --category CAT     the task's category (default \"test\")\n" RUNNABLE_OPTIONS;

const char nrc_usage_task_run_recipe[] =
	"Usage: nrunner task-run-recipe [-o DIR] RECIPE\n"
	"\n"
	"Runs a task from a task recipe: a JSON object with \"id\",\n"
	"\"runnable\" (a runnable recipe), and optionally \"status_uris\",\n"
	"\"job_id\" and \"category\".\n"
	"\n"
	"  -o, --output-dir DIR   write stdout and stderr to files in DIR\n"
	JOB_CONTROL_HELP
	"  -h, --help             show this help\n";

const char nrc_usage_run[] =
	"Usage: nrunner run [OPTION]... TARGET...\n"
	"\n"
	"Runs every test found in the targets, each in its own process and\n"
	"process group, several at a time.  A target is a recipe file, a file\n"
	"that a kind claims (an executable file is an exec-test), or a\n"
	"directory searched recursively for both.\n"
	"\n"
	"  -j, --jobs N            run N tasks at a time (default: CPUs)\n"
	"      --serial            one at a time (-j 1)\n"
	"      --timeout SECONDS   stop a task after this long (SIGTERM to its\n"
	"                          process group, SIGKILL after the grace)\n"
	"      --job-timeout SECONDS  stop the whole job after this long\n"
	"      --grace SECONDS     between SIGTERM and SIGKILL (default 5)\n"
	"      --failfast          start nothing more after a failure\n"
	"      --retries N         run a failed or errored test again, up to N\n"
	"                          times; one that passes then is \"flaky\"\n"
	"      --fail-on-flaky     exit 1 when a test was flaky\n"
	"      --shuffle[=SEED]    run in a random order; the seed is printed\n"
	"  -f, --filter TEXT       only tasks whose identifier contains TEXT\n"
	"                          (repeatable: any of them)\n"
	"  -t, --tag EXPR          only tasks with these tags (config \"tags\"):\n"
	"                          \"a,b\" both, \"-a\" not a; repeatable: any\n"
	"      --shard K/N|auto    only the K-th of N deterministic shares;\n"
	"                          auto: from the CI's variables (Bazel,\n"
	"                          Kubernetes, GitLab, CircleCI, Buildkite)\n"
	"      --balance RESULTS.json  cut shards by that run's durations\n"
	"      --list              print what would run, run nothing\n"
	"      --environment FILE  the environment file for every test (config\n"
	"                          run.environment_file: flows read it instead\n"
	"                          of the nrunner-env.json found from them)\n"
	"      --dry-run[=KIND]    run nothing: every test becomes a runnable\n"
	"                          of KIND (default " NR_DRY_RUN_KIND "), cancelled\n"
	"                          with Avocado's reason; no set-up, no\n"
	"                          dependencies (Avocado's --dry-run)\n"
	"      --sysinfo[=KIND]    record the system before and after the job:\n"
	"                          KIND (default " NR_SYSINFO_KIND ") with uri pre, then\n"
	"                          post, into sysinfo/pre and sysinfo/post\n"
	"      --job-dependency FILE  a list of dependencies ([{\"type\": KIND,\n"
	"                          ...}]) for every test, beside each test's\n"
	"                          kwargs \"dependencies\"; each distinct one\n"
	"                          runs once, before the tests that need it\n"
	"  -s, --status-uri URI    also send every task's messages to this\n"
	"                          status server: HOST:PORT or a Unix socket\n"
	"                          (repeatable; see nrunner status-server)\n"
	"      --spawner S         how tasks are isolated: process (a process\n"
	"                          group; default), namespace (PID and mount\n"
	"                          namespaces, private /tmp and /dev/shm), or\n"
	"                          namespace:net (also a network of its own)\n"
	"      --results-dir DIR   where job results go (default\n"
	"                          ./nrunner-results)\n"
	"      --report-junit FILE also write the JUnit XML report to FILE\n"
	"      --report-tap FILE   also write the TAP 13 report to FILE\n"
	"      --report-html FILE  also write the HTML report to FILE\n"
	"  -q, --quiet             show only failures and the summary\n"
	"  -h, --help              show this help\n"
	"\n"
	"Each job writes results.json, junit.xml, results.tap and results.html into\n"
	"DIR/job-<time>-<id>/, with a folder per task (stdout, stderr,\n"
	"status.jsonl); DIR/latest points at the newest job.\n"
	"Exit status: 0 all passed, 1 a test failed, 2 bad input, 4 a runner\n"
	"crashed, 8 interrupted (bits combine).\n";

const char nrc_usage_report[] =
	"Usage: nrunner report merge [-o|--output-dir DIR] [--report-junit FILE]\n"
	"                            [--report-tap FILE] [--report-html FILE]\n"
	"                            RESULTS.json...\n"
	"       nrunner report collect [-o|--output-dir DIR] [--report-junit FILE]\n"
	"                            [--report-tap FILE] [-q] FILE_OR_DIR...\n"
	"       nrunner report compare [--threshold PCT] [--min-count N]\n"
	"                            [--format text|markdown] BASE NEW\n"
	"\n"
	"merge: merges the results.json of several shards (nrunner run --shard\n"
	"K/N) into one results.json, junit.xml, results.tap and results.html in\n"
	"DIR (default ./nrunner-results/merged), tasks in input order.\n"
	"collect: builds the same from status logs saved anywhere: the output\n"
	"of task-run or runnable-run redirected to a file, or tasks'\n"
	"status.jsonl (directories are searched for *.jsonl and *.log).  A log\n"
	"cut short is an interrupted task; invalid lines are skipped and\n"
	"counted (default DIR: ./nrunner-results/collected).\n"
	"Both exit as the jobs would have: 1 a test failed, 4 a runner\n"
	"crashed, 8 a job was interrupted.\n"
	"compare: prints per-endpoint p50 and p95 and per-test durations of NEW\n"
	"beside BASE, with the change.  BASE and NEW are a results.json or a\n"
	"directory of them (the median is taken per key).  Exits 1 when an\n"
	"endpoint or a test got slower by more than PCT percent (default 20),\n"
	"counting only endpoints with at least N samples on both sides\n"
	"(default 1); keys that are not in both are listed apart.\n"
	"\n"
	"  -h, --help   show this help\n";

const char nrc_usage_status_server[] =
	"Usage: nrunner status-server --listen URI... [--results-dir DIR]\n"
	"                             [--tasks N] [--port-file FILE] [-q]\n"
	"\n"
	"Collects the status messages of tasks (task-run -s, run -s, or\n"
	"Avocado's task-run) from any number of tasks and jobs at once, prints\n"
	"a line per finished task, and writes results.json, junit.xml and\n"
	"results.tap into DIR as they finish (at most once a second).\n"
	"\n"
	"  -l, --listen URI      HOST:PORT for TCP (port 0 picks one), or the\n"
	"                        path of a Unix socket (repeatable)\n"
	"      --results-dir DIR where the results go (default\n"
	"                        ./nrunner-results/status-server)\n"
	"  -n, --tasks N         end after N tasks have finished (default: on\n"
	"                        Ctrl-C or SIGTERM)\n"
	"      --port-file FILE  write the URIs listened on, one a line\n"
	"  -q, --quiet           lines only for the tasks that did not pass\n"
	"  -h, --help            show this help\n"
	"\n"
	"Lines that are not status messages, and lines cut by a closed\n"
	"connection, are dropped and counted.  Exits as a job would: 1 a test\n"
	"failed, 8 tasks were left unfinished.\n";

const char nrc_usage_clean[] =
	"Usage: nrunner clean [--dry-run] [--all] [KEY=VALUE]...\n"
	"\n"
	"Asks every plugin to remove what jobs left behind, and lists it: for\n"
	"the provision kinds, per-flow databases (prefix nr_, or prefix=...)\n"
	"and stale or half-built templates, on the server named by dsn=... or\n"
	"the PG* variables.  KEY=VALUE arguments go to the plugins.\n"
	"\n"
	"  -n, --dry-run  list what would be removed, remove nothing\n"
	"  -a, --all      also what is kept for later jobs (the plugins get\n"
	"                 all=true): the newest templates and their caches\n"
	"  -h, --help     show this help\n";

const char nrc_usage_cache[] =
	"Usage: nrunner cache list\n"
	"       nrunner cache clear\n"
	"\n"
	"The dependencies (a runnable's kwargs \"dependencies\", nrunner run\n"
	"--job-dependency) that earlier jobs fulfilled are recorded, and later\n"
	"jobs trust the record instead of running them again.  list shows\n"
	"them; clear forgets them all, naming each (a package stays installed,\n"
	"an asset stays in its own cache).\n"
	"\n"
	"  -h, --help   show this help\n";
