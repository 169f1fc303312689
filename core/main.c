/* nrunner: the command line.  Argument handling and output only; the work
 * is in the rest of core/. */
#include "config.h"

#include "collect.h"
#include "job.h"
#include "progress.h"
#include "registry.h"
#include "report.h"
#include "html.h"
#include "compare.h"
#include "deps.h"
#include "resolve.h"
#include "runnable.h"
#include "select.h"
#include "shard.h"
#include "statusserver.h"
#include "signals.h"
#include "spawner.h"
#include "status.h"
#include "task.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#define ERRLEN 4096
#define STATUS_CONNECT_MS 5000

/* The commands of Avocado's runner interface. */
#define RUNNER_COMMANDS                                                        \
	"  runnable-run         run one runnable given by options\n"           \
	"  runnable-run-recipe  run the runnable(s) in a recipe file\n"        \
	"  task-run             run a runnable as a task, reporting to status\n" \
	"                       servers\n"                                      \
	"  task-run-recipe      run a task from a task recipe file\n"

static const char usage_main[] =
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
static const char usage_runner[] =
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

static const char usage_list_kinds[] =
	"Usage: nrunner list-kinds [--json]\n"
	"       nrunner --list-kinds [--json]\n"
	"\n"
	"Loads every plugin on the search path and prints a table of kind,\n"
	"summary, plugin, version, ABI and path, then the plugins that were\n"
	"refused (and why) and the kinds shadowed by an earlier plugin.\n"
	"\n"
	"  --json      the same data as one JSON object\n"
	"  -h, --help  show this help\n";

static const char usage_capabilities[] =
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

static const char usage_runnable_run[] =
	"Usage: nrunner runnable-run [-k] KIND [[-u] URI] [-a ARG]... [-c JSON]\n"
	"                            [-o DIR] [KEY=VALUE]...\n"
	"\n"
	"Runs one runnable and prints its status messages on stdout, one JSON\n"
	"object per line: started, running..., finished.\n"
	"\n" RUNNABLE_OPTIONS;

static const char usage_runnable_run_recipe[] =
	"Usage: nrunner runnable-run-recipe [-o DIR] RECIPE\n"
	"\n"
	"Runs the runnable in a recipe file (an Avocado recipe runs as is), or\n"
	"each runnable in turn when the file holds a JSON array, printing\n"
	"their status messages on stdout.  See nrunner-recipe(5).\n"
	"\n"
	"  -o, --output-dir DIR   write stdout and stderr to files in DIR\n"
	JOB_CONTROL_HELP
	"  -h, --help             show this help\n";

static const char usage_task_run[] =
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

static const char usage_task_run_recipe[] =
	"Usage: nrunner task-run-recipe [-o DIR] RECIPE\n"
	"\n"
	"Runs a task from a task recipe: a JSON object with \"id\",\n"
	"\"runnable\" (a runnable recipe), and optionally \"status_uris\",\n"
	"\"job_id\" and \"category\".\n"
	"\n"
	"  -o, --output-dir DIR   write stdout and stderr to files in DIR\n"
	JOB_CONTROL_HELP
	"  -h, --help             show this help\n";

static const char usage_run[] =
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

static const char usage_report[] =
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

static const char usage_status_server[] =
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

static const char usage_clean[] =
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

static const char usage_cache[] =
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

static const char *const commands[] = {
	"capabilities", "list-kinds",      "runnable-run",
	"runnable-run-recipe", "task-run", "task-run-recipe", NULL};

/* --- option parsing -------------------------------------------------- */

/* Set when nrunner runs as Avocado's standalone runner of one kind, under
 * the name avocado-runner-<kind> (DESIGN.md, "Avocado interoperability"):
 * that kind is the default, the only one it runs, and the exit status
 * says whether the runner worked, not how the test went. */
static const char *runner_kind;
static const char *runner_name;

static int usage_error(const char *cmd, const char *fmt, ...)
	NR_PRINTF_ATTR(2, 3);
static int usage_error(const char *cmd, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	const char *prog = runner_name ? runner_name : "nrunner";
	if (cmd)
		nrc_error("%s: %s; see '%s %s --help'", cmd, msg, prog, cmd);
	else
		nrc_error("%s; see '%s --help'", msg, prog);
	return NR_EXIT_JOB_ERROR;
}

/* getopt's message names the option; ours also says where to look. */
static int bad_option(const char *cmd, char **argv)
{
	if (optopt)
		return usage_error(cmd, "option -%c %s", optopt,
				   strchr("kuacoisjtf", optopt)
					   ? "needs a value"
					   : "is not known");
	return usage_error(cmd, "option %s is not known or needs a value",
			   argv[optind - 1]);
}

static int parse_seconds(const char *cmd, const char *opt, const char *s,
			 double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || v < 0 || v > 1e9)
		return usage_error(cmd, "%s %s: give a number of seconds, e.g. "
				   "30 or 0.5", opt, s);
	*out = v;
	return -1;
}

/* What the one-task commands share with `nrunner run`. */
enum { JC_TIMEOUT = 512, JC_GRACE, JC_STATUS_URI };

typedef struct job_control {
	nrc_job_opts opts;
	const char **uris; /* status servers */
	size_t nuris;
} job_control;

/* Handles a job-control option; returns -1 if it was one and is fine, an
 * exit status if it is wrong, -2 if c is not one. */
static int job_control_opt(const char *cmd, int c, job_control *jc)
{
	switch (c) {
	case JC_TIMEOUT:
		return parse_seconds(cmd, "--timeout", optarg, &jc->opts.timeout);
	case JC_GRACE:
		return parse_seconds(cmd, "--grace", optarg, &jc->opts.grace);
	case JC_STATUS_URI:
		jc->uris = nrc_xrealloc(jc->uris, (jc->nuris + 1) * sizeof *jc->uris);
		jc->uris[jc->nuris++] = optarg;
		return -1;
	default:
		return -2;
	}
}

#define JOB_CONTROL_LONGOPTS                                                   \
	{"timeout", required_argument, NULL, JC_TIMEOUT},                       \
	{"grace", required_argument, NULL, JC_GRACE},                           \
	{"status-uri", required_argument, NULL, JC_STATUS_URI}

/* --- one task: runnable-run, task-run and their recipe forms ---------- */

typedef struct one_opts {
	job_control jc;
	const char *output_dir; /* -o */
	int task;               /* task-run: an Avocado task */
	const char *id;
	const char *job_id;
} one_opts;

/* A standalone runner runs its own kind only. */
static int check_runner_kind(const nrc_runnable *r)
{
	if (!runner_kind || !strcmp(r->kind, runner_kind))
		return -1;
	nrc_error("%s: kind '%s' is not this runner's; it runs: %s", runner_name,
		 r->kind, runner_kind);
	return NR_EXIT_JOB_ERROR;
}

/* Lets the plugins set up what the job's tasks share (ABI 1.2), in the
 * job helper (core/jobhooks.h).  Returns -1 when the job may run, else its
 * exit status. */
static int begin_job(nrc_registry *reg, nrc_runnable *const *items, size_t n,
		     const nrc_job_opts *opts)
{
	/* A Ctrl-C during the set-up interrupts it: the job then ends as
	 * interrupted, through the plugins' job_end, not by a default death
	 * that would leave what job_begin made. */
	nrc_signals_fd();
	char err[ERRLEN];
	nrc_setup_limits limits = {.timeout = opts->job_timeout, .grace = opts->grace};
	int r = nrc_registry_job_begin(reg, items, n, &limits, err, sizeof err);
	if (r == NR_SETUP_OK)
		return -1;
	nrc_error("%s", err);
	return r == NR_SETUP_INTERRUPTED ? NR_EXIT_INTERRUPTED : NR_EXIT_JOB_ERROR;
}

/* The plugins' job_end; a hook that crashed there is the runner's
 * failure. */
static int end_job(nrc_registry *reg)
{
	char err[ERRLEN];
	if (nrc_registry_job_end(reg, err, sizeof err) == 0)
		return 0;
	nrc_error("%s", err);
	return NR_EXIT_RUNNER_FAIL;
}

/* An Avocado task always has an output directory: one made for it when
 * none is given, as Avocado's Task.setup_output_dir does. */
static char *task_dir(void)
{
	const char *tmp = getenv("TMPDIR");
	char *t = nrc_xasprintf("%s/.nrunner-task-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t)) {
		nrc_error("%s: cannot create a task directory: %s", t, strerror(errno));
		free(t);
		return NULL;
	}
	return t;
}

static void send_message(void *ctx, const nrc_job_task *t, cJSON *msg)
{
	(void)t;
	nrc_status_out_send(ctx, msg);
}

/* Runs the runnables one at a time, as a job without a results
 * directory, whose messages go to stdout and the status servers. */
static int run_one(nrc_runnable_list *list, one_opts *o)
{
	char err[ERRLEN];
	int rc = -1;
	nrc_registry *reg = nrc_registry_new();
	for (size_t i = 0; rc < 0 && i < list->n; i++) {
		const nrc_plugin_rec *p;
		rc = check_runner_kind(list->items[i]);
		if (rc < 0 && !nrc_registry_find(reg, list->items[i]->kind, &p,
						err, sizeof err)) {
			const char *src = list->items[i]->source;
			if (src)
				nrc_error("%s: %s", src, err);
			else
				nrc_error("%s", err);
			rc = NR_EXIT_JOB_ERROR;
		}
	}
	if (rc >= 0) {
		nrc_registry_free(reg);
		return rc;
	}
	/* Messages go to stdout and the status servers, as they come. */
	nrc_status_out *out = nrc_status_out_new(o->id, o->job_id);
	if (runner_kind)
		nrc_status_out_python(out);
	for (size_t i = 0; i < o->jc.nuris; i++)
		nrc_status_out_connect(out, o->jc.uris[i], STATUS_CONNECT_MS);
	nrc_job_opts opts = o->jc.opts;
	opts.jobs = 1;
	opts.job_id = o->job_id;
	opts.observe = send_message;
	opts.observe_ctx = out;
	size_t n = list->n;
	nrc_job *job = nrc_job_new(reg, list, &opts, err, sizeof err);
	for (size_t i = 0; i < n; i++) {
		nrc_job_task *t = &job->tasks[i];
		const char *dir = nrc_runnable_output_dir(t->runnable);
		if (dir)
			t->dir = nrc_xstrdup(dir);
		else if (o->output_dir && n > 1)
			t->dir = nrc_xasprintf("%s/%zu", o->output_dir, i + 1);
		else if (o->output_dir)
			t->dir = nrc_xstrdup(o->output_dir);
		else if (o->task && !(t->dir = task_dir()))
			rc = NR_EXIT_JOB_ERROR;
		if (o->id)
			t->id = nrc_xstrdup(o->id);
	}
	nrc_runnable **items = nrc_xcalloc(n + 1, sizeof *items);
	for (size_t i = 0; i < n; i++)
		items[i] = job->tasks[i].runnable;
	if (rc < 0)
		rc = begin_job(reg, items, n, &opts);
	free(items);
	if (rc < 0) {
		nrc_progress *quiet = nrc_progress_new(stderr, 0, 0, NR_SHOW_NONE);
		rc = nrc_job_run(job, quiet, err, sizeof err);
		if (rc == NR_EXIT_JOB_ERROR)
			nrc_error("%s", err);
		nrc_progress_free(quiet);
		rc |= end_job(reg);
	}
	/* Avocado's runner says how the test went in its messages only. */
	if (runner_kind && rc != NR_EXIT_JOB_ERROR)
		rc &= ~NR_EXIT_FAIL;
	nrc_job_free(job);
	nrc_status_out_free(out);
	nrc_registry_free(reg);
	return rc;
}

/* Parses runnable-run's options, and task-run's when o->task is set.
 * Options and KEY=VALUE arguments come in any order; without -k, the
 * first other word is the kind and the second the uri, as in Avocado's
 * `runnable-run KIND [URI]`. */
static int parse_run_opts(int argc, char **argv, one_opts *o,
			  nrc_runnable **out)
{
	const char *cmd = o->task ? "task-run" : "runnable-run";
	static const struct option longopts[] = {
		{"kind", required_argument, NULL, 'k'},
		{"uri", required_argument, NULL, 'u'},
		{"arg", required_argument, NULL, 'a'},
		{"args", required_argument, NULL, 'a'},
		{"config", required_argument, NULL, 'c'},
		{"output-dir", required_argument, NULL, 'o'},
		{"identifier", required_argument, NULL, 'i'},
		{"job-id", required_argument, NULL, 'j'},
		{"category", required_argument, NULL, 't'},
		{"help", no_argument, NULL, 'h'},
		JOB_CONTROL_LONGOPTS,
		{NULL, 0, NULL, 0}};
	const char *kind = NULL, *uri = NULL, *config = NULL;
	const char **args = nrc_xcalloc((size_t)argc, sizeof *args);
	size_t nargs = 0;
	int c, rc = -1;
	optind = 1;
	opterr = 0;
	const char *optstring = o->task ? "k:u:a:c:o:i:s:j:t:h" : "k:u:a:c:o:h";
	while (rc < 0 && (c = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		switch (c) {
		case 'k': kind = optarg; break;
		case 'u': uri = optarg; break;
		case 'a': args[nargs++] = optarg; break;
		case 'c': config = optarg; break;
		case 'o': o->output_dir = optarg; break;
		case 'i': o->id = optarg; break;
		case 's': rc = job_control_opt(cmd, JC_STATUS_URI, &o->jc); break;
		case 'j': o->job_id = optarg; break;
		case 't': break; /* the category: every task here reports */
		case 'h':
			fputs(o->task ? usage_task_run : usage_runnable_run, stdout);
			rc = NR_EXIT_OK;
			break;
		default:
			rc = job_control_opt(cmd, c, &o->jc);
			if (rc == -2)
				rc = bad_option(cmd, argv);
		}
	}
	/* Words that are not KEY=VALUE: the positional KIND [URI]. */
	int first_kw = optind, positional = !kind;
	for (int i = optind; rc < 0 && positional && i < argc; i++) {
		if (strchr(argv[i], '=') && argv[i][0] != '=')
			continue;
		if (!kind)
			kind = argv[i];
		else if (!uri)
			uri = argv[i];
		else
			break;
		argv[i] = NULL;
	}
	if (rc < 0 && !kind)
		kind = runner_kind;
	if (rc < 0 && (!kind || !*kind))
		rc = usage_error(cmd, "-k KIND is required ('nrunner "
				      "--list-kinds' lists them)");
	if (rc < 0 && o->task && (!o->id || !*o->id))
		rc = usage_error(cmd, "-i ID is required");
	char err[ERRLEN];
	nrc_runnable *r = rc < 0 ? nrc_runnable_new(kind) : NULL;
	if (r && uri)
		r->uri = nrc_xstrdup(uri);
	for (size_t i = 0; rc < 0 && i < nargs; i++)
		if (nrc_runnable_add_arg(r, args[i], err, sizeof err) < 0)
			rc = usage_error(cmd, "%s", err);
	if (rc < 0 && config && nrc_runnable_set_config(r, config, err, sizeof err) < 0)
		rc = usage_error(cmd, "%s", err);
	for (int i = first_kw; rc < 0 && i < argc; i++)
		if (argv[i] && nrc_runnable_add_kwarg(r, argv[i], err, sizeof err) < 0)
			rc = usage_error(cmd, "%s", err);
	free(args);
	if (rc >= 0)
		nrc_runnable_free(r);
	else
		*out = r;
	return rc;
}

static int cmd_runnable_run(int argc, char **argv, int task)
{
	one_opts o = {.task = task, .jc.opts.grace = 5};
	nrc_runnable *r = NULL;
	int rc = parse_run_opts(argc, argv, &o, &r);
	if (rc < 0) {
		nrc_runnable_list list = {nrc_xcalloc(1, sizeof *list.items), 1};
		list.items[0] = r;
		rc = run_one(&list, &o);
		nrc_runnable_list_free(&list);
	}
	free(o.jc.uris);
	return rc;
}

/* Parses "[-o DIR] [--timeout S] [--grace S] FILE" for the two recipe
 * commands. */
static int parse_recipe_opts(int argc, char **argv, const char *cmd,
			     const char *usage, const char **file, one_opts *o)
{
	static const struct option longopts[] = {
		{"output-dir", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		JOB_CONTROL_LONGOPTS,
		{NULL, 0, NULL, 0}};
	int c, rc;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': o->output_dir = optarg; break;
		case 'h': fputs(usage, stdout); return NR_EXIT_OK;
		default:
			rc = job_control_opt(cmd, c, &o->jc);
			if (rc == -2)
				return bad_option(cmd, argv);
			if (rc >= 0)
				return rc;
		}
	}
	if (argc - optind != 1)
		return usage_error(cmd, argc == optind
						? "a recipe file is required"
						: "give exactly one recipe file");
	*file = argv[optind];
	return -1;
}

static int cmd_runnable_run_recipe(int argc, char **argv)
{
	const char *file = NULL;
	one_opts o = {.jc.opts.grace = 5};
	int rc = parse_recipe_opts(argc, argv, "runnable-run-recipe",
				   usage_runnable_run_recipe, &file, &o);
	if (rc < 0) {
		char err[ERRLEN];
		nrc_runnable_list list = {0};
		if (nrc_recipe_read(file, &list, err, sizeof err) < 0) {
			nrc_error("%s", err);
			rc = NR_EXIT_JOB_ERROR;
		} else {
			rc = run_one(&list, &o);
		}
		nrc_runnable_list_free(&list);
	}
	free(o.jc.uris);
	return rc;
}

static int cmd_task_run_recipe(int argc, char **argv)
{
	const char *file = NULL;
	one_opts o = {.task = 1, .jc.opts.grace = 5};
	int rc = parse_recipe_opts(argc, argv, "task-run-recipe",
				   usage_task_run_recipe, &file, &o);
	if (rc < 0) {
		char err[ERRLEN];
		nrc_task_recipe tr;
		if (nrc_task_recipe_read(file, &tr, err, sizeof err) < 0) {
			nrc_error("%s", err);
			rc = NR_EXIT_JOB_ERROR;
		} else {
			free(o.jc.uris);
			o.jc.uris = (const char **)tr.uris;
			o.jc.nuris = tr.nuris;
			tr.uris = NULL;
			tr.nuris = 0;
			o.id = tr.id;
			o.job_id = tr.job_id;
			nrc_runnable_list list = {nrc_xcalloc(1, sizeof *list.items), 1};
			list.items[0] = tr.runnable;
			tr.runnable = NULL;
			rc = run_one(&list, &o);
			nrc_runnable_list_free(&list);
			for (size_t i = 0; i < o.jc.nuris; i++)
				free((char *)o.jc.uris[i]);
			nrc_task_recipe_free(&tr);
		}
	}
	free(o.jc.uris);
	return rc;
}

/* --- nrunner run ------------------------------------------------------- */

static int write_reports(nrc_job *job, const char *junit, const char *tap,
			 const char *html, nrc_progress *progress)
{
	char err[ERRLEN], *paths[3], *hpath = NULL;
	cJSON *res = nrc_job_results(job);
	int rc = 0;
	if (nrc_report_write_set(res, job->dir, junit, tap, paths))
		rc = NR_EXIT_RUNNER_FAIL;
	if (nrc_report_html_set(res, job->dir, html, &hpath, err, sizeof err) < 0) {
		nrc_error("%s", err);
		rc = NR_EXIT_RUNNER_FAIL;
	}
	const char *files[] = {"RESULTS", paths[0], "JUNIT", paths[1],
			       "TAP", paths[2], "HTML", hpath, NULL, NULL};
	if (nrc_progress_summary(progress, job, files) < 0)
		rc = NR_EXIT_RUNNER_FAIL;
	for (int i = 0; i < 3; i++)
		free(paths[i]);
	free(hpath);
	cJSON_Delete(res);
	return rc;
}

/* A kind that an option of nrunner run names must be there before
 * anything runs.  Returns -1 when it is, else the exit status. */
static int check_option_kind(nrc_registry *reg, const char *opt, const char *kind)
{
	const nrc_plugin_rec *p;
	char err[ERRLEN];
	if (nrc_registry_find(reg, kind, &p, err, sizeof err))
		return -1;
	nrc_error("%s: %s", opt, err);
	return NR_EXIT_JOB_ERROR;
}

/* nrunner run --sysinfo: a runnable of the option's kind with uri "pre"
 * runs once the job's directory exists and before the tests (and the
 * dependencies), one with "post" after them; each gets Avocado's kwarg
 * output_dir, the job's directory (as Avocado's pre- and post-test
 * runnables get the test's), and keeps its own logs in pre-post/ there. */
typedef struct around_ctx {
	nrc_registry *reg;
	nrc_runnable *r[2];  /* pre, post: not run yet */
	cJSON *records;     /* what ran, for results.json */
	int (*next)(void *ctx, nrc_job *job, nrc_progress *progress);
	void *next_ctx;
} around_ctx;

static int around_new(around_ctx *a, nrc_registry *reg, const char *kind)
{
	int rc = check_option_kind(reg, "--sysinfo", kind);
	if (rc >= 0)
		return rc;
	static const char *const when[] = {"pre", "post"};
	a->reg = reg;
	a->records = cJSON_CreateArray();
	for (int i = 0; i < 2; i++) {
		a->r[i] = nrc_runnable_new(kind);
		a->r[i]->uri = nrc_xstrdup(when[i]);
		a->r[i]->identifier = nrc_xasprintf("%s-%s", when[i], kind);
	}
	return -1;
}

static int around_run(around_ctx *a, nrc_job *job, nrc_progress *progress, int i)
{
	nrc_runnable *r = a->r[i];
	a->r[i] = NULL;
	cJSON_AddStringToObject(r->kwargs, "output_dir", job->dir);
	char err[ERRLEN], *id = nrc_xstrdup(r->identifier);
	int before = cJSON_GetArraySize(a->records);
	int bits = nrc_job_run_aside(job, a->reg, r, "pre-post", id, a->records,
				    err, sizeof err);
	const cJSON *x = cJSON_GetArrayItem(a->records, before);
	if (x) {
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(x, "fail_reason");
		char *line = nrc_xasprintf(
			"%s: %s (%.2f s)%s%s", id,
			cJSON_GetObjectItemCaseSensitive(x, "result")->valuestring,
			cJSON_GetObjectItemCaseSensitive(x, "duration")->valuedouble,
			cJSON_IsString(why) ? ": " : "",
			cJSON_IsString(why) ? why->valuestring : "");
		nrc_progress_note(progress, line);
		free(line);
	} else if (bits == NR_EXIT_JOB_ERROR) {
		nrc_progress_error(progress, "%s: %s", id, err);
		bits = NR_EXIT_RUNNER_FAIL;
	}
	free(id);
	/* Like Avocado's sysinfo, a failure there fails no test; a crash is
	 * the runner's, an interruption the job's. */
	return bits & (NR_EXIT_RUNNER_FAIL | NR_EXIT_INTERRUPTED);
}

/* The job's before_tasks: "pre", then whatever was there before. */
static int around_pre(void *ctx, nrc_job *job, nrc_progress *progress)
{
	around_ctx *a = ctx;
	int bits = around_run(a, job, progress, 0);
	job->extra_bits |= bits & NR_EXIT_RUNNER_FAIL;
	if (bits & NR_EXIT_INTERRUPTED)
		return -1;
	return a->next ? a->next(a->next_ctx, job, progress) : 0;
}

static void around_attach(around_ctx *a, nrc_job *job)
{
	a->next = job->opts.before_tasks;
	a->next_ctx = job->opts.before_ctx;
	job->opts.before_tasks = around_pre;
	job->opts.before_ctx = a;
}

static void around_record(around_ctx *a, nrc_job *job)
{
	if (!a->records || !cJSON_GetArraySize(a->records))
		return;
	if (!job->results_extra)
		job->results_extra = cJSON_CreateObject();
	cJSON_AddItemToObject(job->results_extra, "pre_post", a->records);
	a->records = NULL;
}

static void around_free(around_ctx *a)
{
	for (int i = 0; i < 2; i++)
		nrc_runnable_free(a->r[i]);
	cJSON_Delete(a->records);
}

static int cmd_run(int argc, char **argv)
{
	const char *cmd = "run";
	enum { O_SERIAL = 256, O_TIMEOUT, O_JOB_TIMEOUT, O_GRACE, O_FAILFAST,
	       O_SHUFFLE, O_SHARD, O_LIST, O_RESULTS, O_JUNIT, O_TAP,
	       O_BALANCE, O_SPAWNER, O_RETRIES, O_FAIL_FLAKY, O_HTML,
	       O_JOB_DEP, O_ENVIRONMENT, O_DRY_RUN, O_SYSINFO };
	static const struct option longopts[] = {
		{"environment", required_argument, NULL, O_ENVIRONMENT},
		{"jobs", required_argument, NULL, 'j'},
		{"dry-run", optional_argument, NULL, O_DRY_RUN},
		{"sysinfo", optional_argument, NULL, O_SYSINFO},
		{"serial", no_argument, NULL, O_SERIAL},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"job-timeout", required_argument, NULL, O_JOB_TIMEOUT},
		{"grace", required_argument, NULL, O_GRACE},
		{"failfast", no_argument, NULL, O_FAILFAST},
		{"retries", required_argument, NULL, O_RETRIES},
		{"fail-on-flaky", no_argument, NULL, O_FAIL_FLAKY},
		{"shuffle", optional_argument, NULL, O_SHUFFLE},
		{"filter", required_argument, NULL, 'f'},
		{"tag", required_argument, NULL, 't'},
		{"shard", required_argument, NULL, O_SHARD},
		{"balance", required_argument, NULL, O_BALANCE},
		{"status-uri", required_argument, NULL, 's'},
		{"spawner", required_argument, NULL, O_SPAWNER},
		{"list", no_argument, NULL, O_LIST},
		{"job-dependency", required_argument, NULL, O_JOB_DEP},
		{"results-dir", required_argument, NULL, O_RESULTS},
		{"report-junit", required_argument, NULL, O_JUNIT},
		{"report-tap", required_argument, NULL, O_TAP},
		{"report-html", required_argument, NULL, O_HTML},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	char err[ERRLEN];
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	nrc_job_opts opts = {.jobs = ncpu > 0 ? (int)ncpu : 1,
			    .grace = 5,
			    .results_base = "nrunner-results"};
	const char **filters = nrc_xcalloc((size_t)argc, sizeof *filters);
	const char **tags = nrc_xcalloc((size_t)argc, sizeof *tags);
	const char **uris = nrc_xcalloc((size_t)argc, sizeof *uris);
	size_t nf = 0, nt = 0, nuris = 0;
	const char *shard_arg = NULL, *balance = NULL, *spawner = NULL;
	nrc_shard shard = {0};
	int list_only = 0, quiet = 0, rc = -1, c;
	const char *junit = NULL, *tap = NULL, *html = NULL, *job_dep = NULL;
	const char *environment = NULL;
	nrc_deps *deps = NULL;
	/* The kinds --dry-run and --sysinfo name (config.h has the defaults:
	 * the core itself names no kind). */
	const char *dry_kind = NULL, *around_kind = NULL;
	around_ctx around = {0};
	optind = 1;
	opterr = 0;
	while (rc < 0 && (c = getopt_long(argc, argv, "+j:f:t:s:qh", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'j':
			errno = 0;
			opts.jobs = (int)strtol(optarg, &end, 10);
			if (errno || *end || opts.jobs < 1 || opts.jobs > 4096)
				rc = usage_error(cmd, "-j %s: give a number of tasks "
						 "from 1 to 4096", optarg);
			break;
		case O_SERIAL: opts.jobs = 1; break;
		case O_TIMEOUT: rc = parse_seconds(cmd, "--timeout", optarg, &opts.timeout); break;
		case O_JOB_TIMEOUT: rc = parse_seconds(cmd, "--job-timeout", optarg, &opts.job_timeout); break;
		case O_GRACE: rc = parse_seconds(cmd, "--grace", optarg, &opts.grace); break;
		case O_FAILFAST: opts.failfast = 1; break;
		case O_RETRIES:
			errno = 0;
			opts.retries = (int)strtol(optarg, &end, 10);
			if (errno || *end || !*optarg || opts.retries < 0 || opts.retries > 100)
				rc = usage_error(cmd, "--retries %s: give a number of "
						 "tries from 0 to 100", optarg);
			break;
		case O_FAIL_FLAKY: opts.fail_on_flaky = 1; break;
		case O_SHUFFLE:
			opts.shuffled = 1;
			if (optarg) {
				errno = 0;
				opts.seed = strtoull(optarg, &end, 10);
				if (errno || *end || !*optarg)
					rc = usage_error(cmd, "--shuffle=%s: the seed is "
							 "a whole number", optarg);
			} else {
				unsigned char b[8];
				if (getrandom(b, sizeof b, 0) == sizeof b)
					memcpy(&opts.seed, b, sizeof b);
				else
					opts.seed = (unsigned long long)nrc_monotonic_ms() ^
						    (unsigned long long)getpid();
				opts.seed %= 1000000000ULL; /* easy to type back */
			}
			break;
		case 'f': filters[nf++] = optarg; break;
		case 't': tags[nt++] = optarg; break;
		case 's': uris[nuris++] = optarg; break;
		case O_SHARD: shard_arg = optarg; break;
		case O_BALANCE: balance = optarg; break;
		case O_SPAWNER: spawner = optarg; break;
		case O_LIST: list_only = 1; break;
		case O_JOB_DEP: job_dep = optarg; break;
		case O_ENVIRONMENT: environment = optarg; break;
		case O_DRY_RUN: dry_kind = optarg ? optarg : NR_DRY_RUN_KIND; break;
		case O_SYSINFO: around_kind = optarg ? optarg : NR_SYSINFO_KIND; break;
		case O_RESULTS: opts.results_base = optarg; break;
		case O_JUNIT: junit = optarg; break;
		case O_TAP: tap = optarg; break;
		case O_HTML: html = optarg; break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_run, stdout); rc = NR_EXIT_OK; break;
		default: rc = bad_option(cmd, argv); break;
		}
	}
	if (rc < 0 && optind >= argc)
		rc = usage_error(cmd, "give at least one target: a recipe, a "
				      "test file or a directory");
	if (rc < 0 && nrc_shard_parse(shard_arg, &shard, err, sizeof err) < 0)
		rc = usage_error(cmd, "%s", err);
	if (rc < 0 && balance && !shard.n)
		rc = usage_error(cmd, "--balance needs --shard");
	if (rc < 0 && shard.n)
		opts.shard = shard.label;
	if (rc < 0 && spawner) {
		nrc_spawner sp = NR_SPAWN_PROCESS;
		if (nrc_spawner_parse(spawner, &sp, err, sizeof err) < 0)
			rc = usage_error(cmd, "%s", err);
		else if (!list_only && nrc_spawner_check(sp, err, sizeof err) < 0)
			rc = (nrc_error("%s", err), NR_EXIT_JOB_ERROR);
		opts.spawner = (int)sp;
	}
	if (rc >= 0) {
		free(filters);
		free(tags);
		free(uris);
		return rc;
	}
	nrc_status_out *fanout = NULL;

	nrc_registry *reg = nrc_registry_new();
	nrc_runnable_list all = {0}, sel = {0};
	nrc_job *job = NULL;
	size_t *indexes = NULL;
	if (nrc_resolve_targets(reg, argv + optind, (size_t)(argc - optind), &all,
			       err, sizeof err) < 0) {
		nrc_error("%s", err);
		rc = NR_EXIT_JOB_ERROR;
		goto out;
	}
	nrc_select_opts so = {.filters = filters, .nf = nf, .tags = tags, .nt = nt,
			      .shard = &shard, .balance = balance};
	if (nrc_select(&all, &so, &sel, &indexes, err, sizeof err) < 0) {
		nrc_error("%s", err);
		rc = NR_EXIT_JOB_ERROR;
		goto out;
	}
	if (!sel.n) {
		nrc_error("nothing to run: %s",
			 nf || nt ? "no test matches the --filter/--tag selection"
				  : shard.n ? "this shard is empty" : "no tests found");
		rc = NR_EXIT_JOB_ERROR;
		goto out;
	}
	/* --environment: a config key every runnable gets, for the kinds
	 * that read one (config keys no kind reads are accepted). */
	if (environment) {
		char *abs = realpath(environment, NULL);
		if (!abs || access(abs, R_OK) < 0) {
			nrc_error("--environment %s: cannot read it: %s", environment,
				 strerror(errno));
			free(abs);
			rc = NR_EXIT_JOB_ERROR;
			goto out;
		}
		for (size_t i = 0; i < sel.n; i++) {
			cJSON_DeleteItemFromObjectCaseSensitive(sel.items[i]->config,
								"run.environment_file");
			cJSON_AddStringToObject(sel.items[i]->config, "run.environment_file", abs);
		}
		free(abs);
	}
	/* --dry-run: every test becomes a runnable of the option's kind,
	 * keeping its identifier and all the rest, as Avocado's suite does;
	 * so nothing of the tests runs, nor their plugins' set-up, nor
	 * their dependencies, nor --sysinfo (off in Avocado's dry runs). */
	if (dry_kind) {
		if ((rc = check_option_kind(reg, "--dry-run", dry_kind)) >= 0)
			goto out;
		for (size_t i = 0; i < sel.n; i++)
			nrc_runnable_set_kind(sel.items[i], dry_kind);
		around_kind = NULL;
	}
	if (around_kind && (rc = around_new(&around, reg, around_kind)) >= 0)
		goto out;
	job = nrc_job_new(reg, &sel, &opts, err, sizeof err);
	if (!job) {
		nrc_error("%s", err);
		rc = NR_EXIT_JOB_ERROR;
		goto out;
	}
	for (size_t i = 0; i < job->n; i++)
		job->tasks[i].index = indexes[i];
	deps = nrc_deps_collect(reg, job, dry_kind ? NULL : job_dep, err, sizeof err);
	if (!deps) {
		nrc_error("%s", err);
		rc = NR_EXIT_JOB_ERROR;
		goto out;
	}
	if (opts.shuffled)
		nrc_job_shuffle(job, opts.seed);
	if (list_only) {
		if (opts.shuffled)
			fprintf(stderr, "nrunner: shuffle seed %llu (repeat with "
				"--shuffle=%llu)\n", opts.seed, opts.seed);
		for (size_t i = 0; i < job->n; i++) {
			const nrc_job_task *t = &job->tasks[job->order[i]];
			printf("%zu-", t->index);
			nrc_fputs_safe(stdout, nrc_runnable_identifier(t->runnable), NULL);
			printf("\t%s\n", t->runnable->kind);
		}
		rc = NR_EXIT_OK;
		goto out;
	}
	{
		/* The dependencies to run are the job's too: their plugins
		 * set up as the tests' do. */
		size_t ndeps = 0, n = job->n;
		nrc_runnable *const *pending = nrc_deps_pending(deps, &ndeps);
		if (dry_kind)
			ndeps = 0;
		nrc_runnable **items = nrc_xcalloc(job->n + ndeps + 3, sizeof *items);
		for (size_t i = 0; i < job->n; i++)
			items[i] = job->tasks[i].runnable;
		for (size_t i = 0; i < ndeps; i++)
			items[n++] = pending[i];
		/* And so are --sysinfo's. */
		for (size_t i = 0; i < 2; i++)
			if (around.r[i])
				items[n++] = around.r[i];
		long long setup0 = nrc_monotonic_ms();
		rc = begin_job(reg, items, n, &job->opts);
		job->setup_duration = (double)(nrc_monotonic_ms() - setup0) / 1000.0;
		free(items);
		if (rc >= 0)
			goto out;
	}
	int tty = isatty(STDOUT_FILENO);
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	int color = tty && !(no_color && *no_color) && !(term && !strcmp(term, "dumb"));
	nrc_progress *progress = nrc_progress_new(stdout, tty, color,
						quiet ? NR_SHOW_FAILURES : NR_SHOW_ALL);
	if (nuris) {
		fanout = nrc_status_fanout_new(uris, nuris);
		job->opts.observe = nrc_status_fanout_observe;
		job->opts.observe_ctx = fanout;
	}
	if (nrc_deps_count(deps) && !dry_kind)
		nrc_deps_attach(deps, job, reg, quiet);
	if (around.r[0])
		around_attach(&around, job);
	rc = nrc_job_run(job, progress, err, sizeof err);
	if (around.r[1] && job->prepared && !job->interrupted)
		rc |= around_run(&around, job, progress, 1);
	around_record(&around, job);
	if (rc == NR_EXIT_JOB_ERROR && job->dir == NULL) {
		nrc_error("%s", err);
	} else {
		rc |= write_reports(job, junit, tap, html, progress);
	}
	nrc_progress_free(progress);
	rc |= end_job(reg);
out:
	around_free(&around);
	nrc_job_free(job);
	nrc_deps_free(deps);
	nrc_runnable_list_free(&all);
	nrc_runnable_list_free(&sel);
	free(indexes);
	nrc_registry_free(reg);
	nrc_status_out_free(fanout);
	free(filters);
	free(tags);
	free(uris);
	return rc;
}

static int cmd_compare(int argc, char **argv)
{
	const char *cmd = "report compare";
	static const struct option longopts[] = {
		{"threshold", required_argument, NULL, 't'},
		{"min-count", required_argument, NULL, 'm'},
		{"format", required_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	nrc_compare_opts o = {.threshold = 20, .min_count = 1};
	int c;
	char *end;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			o.threshold = strtod(optarg, &end);
			if (*end || !*optarg || !(o.threshold >= 0))
				return usage_error(cmd, "--threshold %s: give a percentage, "
						   "e.g. 20", optarg);
			break;
		case 'm':
			o.min_count = strtod(optarg, &end);
			if (*end || !*optarg || !(o.min_count >= 0))
				return usage_error(cmd, "--min-count %s: give a number of "
						   "samples, e.g. 5", optarg);
			break;
		case 'f':
			if (strcmp(optarg, "markdown") && strcmp(optarg, "text"))
				return usage_error(cmd, "--format %s: give text or markdown",
						   optarg);
			o.markdown = !strcmp(optarg, "markdown");
			break;
		case 'h': fputs(usage_report, stdout); return NR_EXIT_OK;
		default: return bad_option(cmd, argv);
		}
	}
	if (argc - optind != 2)
		return usage_error(cmd, "give BASE and NEW: two results.json files "
				   "or directories of them");
	char err[ERRLEN];
	int rc = nrc_report_compare(argv[optind], argv[optind + 1], &o, stdout, err,
				   sizeof err);
	if (rc < 0) {
		nrc_error("%s", err);
		return NR_EXIT_JOB_ERROR;
	}
	return rc ? NR_EXIT_FAIL : NR_EXIT_OK;
}

static int cmd_report(int argc, char **argv)
{
	const char *cmd = "report";
	if (argc >= 2 && !strcmp(argv[1], "compare"))
		return cmd_compare(argc - 1, argv + 1);
	int collect = argc >= 2 && !strcmp(argv[1], "collect");
	if (argc < 2 || (strcmp(argv[1], "merge") && !collect)) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
			return fputs(usage_report, stdout), NR_EXIT_OK;
		return usage_error(cmd, "the report commands are 'nrunner report "
				   "merge RESULTS.json...', 'nrunner report "
				   "collect FILE_OR_DIR...' and 'nrunner report "
				   "compare BASE NEW'");
	}
	const char *sub = collect ? "report collect" : "report merge";
	argc--, argv++;
	enum { O_JUNIT = 256, O_TAP, O_HTML };
	static const struct option longopts[] = {
		{"output-dir", required_argument, NULL, 'o'},
		{"report-junit", required_argument, NULL, O_JUNIT},
		{"report-tap", required_argument, NULL, O_TAP},
		{"report-html", required_argument, NULL, O_HTML},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char *dir = collect ? "nrunner-results/collected"
				  : "nrunner-results/merged";
	const char *junit = NULL, *tap = NULL, *html = NULL;
	int c, quiet = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': dir = optarg; break;
		case O_JUNIT: junit = optarg; break;
		case O_TAP: tap = optarg; break;
		case 'q': quiet = 1; break;
		case O_HTML: html = optarg; break;
		case 'h': fputs(usage_report, stdout); return NR_EXIT_OK;
		default: return bad_option(sub, argv);
		}
	}
	if (optind >= argc)
		return usage_error(sub, collect ? "give the status logs to collect, "
				   "or directories that hold them"
				   : "give the results.json files to merge");
	if (collect)
		return nrc_report_collect(argv + optind, (size_t)(argc - optind), dir,
					 junit, tap, quiet);
	char err[ERRLEN];
	cJSON *m = nrc_report_merge(argv + optind, (size_t)(argc - optind), err,
				   sizeof err);
	if (!m) {
		nrc_error("%s", err);
		return NR_EXIT_JOB_ERROR;
	}
	int rc = NR_EXIT_OK;
	if (nrc_mkdir_p(dir, 0755) < 0) {
		nrc_error("%s: cannot create: %s", dir, strerror(errno));
		cJSON_Delete(m);
		return NR_EXIT_JOB_ERROR;
	}
	char *paths[3], *hpath = NULL;
	if (nrc_report_write_set(m, dir, junit, tap, paths))
		rc = NR_EXIT_RUNNER_FAIL;
	if (nrc_report_html_set(m, dir, html, &hpath, err, sizeof err) < 0) {
		nrc_error("%s", err);
		rc = NR_EXIT_RUNNER_FAIL;
	}
	/* The same exit bits as the jobs that were merged. */
	size_t n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "tasks"));
	size_t bad = 0;
	rc |= nrc_results_exit_bits(m, &bad);
	static const char *const unwritten = "(not written: see the error above)";
	printf("Merged %zu tasks from %d results: %zu failed\nRESULTS    : %s\n"
	       "JUNIT      : %s\nTAP        : %s\nHTML       : %s\n",
	       n, argc - optind, bad, paths[0] ? paths[0] : unwritten,
	       paths[1] ? paths[1] : unwritten, paths[2] ? paths[2] : unwritten,
	       hpath ? hpath : unwritten);
	free(hpath);
	for (int i = 0; i < 3; i++)
		free(paths[i]);
	cJSON_Delete(m);
	return rc;
}

static int cmd_status_server(int argc, char **argv)
{
	const char *cmd = "status-server";
	enum { O_RESULTS = 256, O_PORT_FILE };
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"results-dir", required_argument, NULL, O_RESULTS},
		{"tasks", required_argument, NULL, 'n'},
		{"port-file", required_argument, NULL, O_PORT_FILE},
		{"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	const char **listen = nrc_xcalloc((size_t)argc, sizeof *listen);
	nrc_status_server_opts o = {.listen = listen};
	int c, rc = -1;
	optind = 1;
	opterr = 0;
	while (rc < 0 && (c = getopt_long(argc, argv, "+l:n:qh", longopts, NULL)) != -1) {
		char *end;
		switch (c) {
		case 'l': listen[o.nlisten++] = optarg; break;
		case O_RESULTS: o.results_dir = optarg; break;
		case 'n':
			errno = 0;
			o.tasks = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-' || !o.tasks)
				rc = usage_error(cmd, "--tasks %s: give a number of "
						 "tasks from 1", optarg);
			break;
		case O_PORT_FILE: o.port_file = optarg; break;
		case 'q': o.quiet = 1; break;
		case 'h': fputs(usage_status_server, stdout); rc = NR_EXIT_OK; break;
		default: rc = bad_option(cmd, argv); break;
		}
	}
	if (rc < 0 && optind < argc)
		rc = usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (rc < 0 && !o.nlisten)
		rc = usage_error(cmd, "give --listen HOST:PORT or --listen "
				 "SOCKET-PATH");
	if (rc < 0)
		rc = nrc_status_server_run(&o);
	free(listen);
	return rc;
}

static int cmd_clean(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"dry-run", no_argument, NULL, 'n'},
		{"all", no_argument, NULL, 'a'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	int c, dry = 0, all = 0;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+nah", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': dry = 1; break;
		case 'a': all = 1; break;
		case 'h': fputs(usage_clean, stdout); return NR_EXIT_OK;
		default: return bad_option("clean", argv);
		}
	}
	char err[ERRLEN];
	nrc_runnable *args = nrc_runnable_new("clean");
	for (int i = optind; i < argc; i++)
		if (nrc_runnable_add_kwarg(args, argv[i], err, sizeof err) < 0) {
			nrc_runnable_free(args);
			return usage_error("clean", "%s", err);
		}
	/* --all reaches every plugin as a keyword argument, as any other. */
	if (all && nrc_runnable_add_kwarg(args, "all=json:true", err, sizeof err) < 0) {
		nrc_runnable_free(args);
		return usage_error("clean", "%s", err);
	}
	nrc_registry *reg = nrc_registry_new();
	int n = nrc_registry_clean(reg, args->kwargs, dry);
	nrc_registry_free(reg);
	nrc_runnable_free(args);
	if (n == 0)
		printf("Nothing to clean.\n");
	else if (n > 0)
		printf("%s %d.\n", dry ? "Would remove" : "Removed", n);
	return n < 0 ? NR_EXIT_RUNNER_FAIL : NR_EXIT_OK;
}

static int cmd_cache(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "list"))
		return nrc_deps_cache_list(stdout);
	if (argc == 2 && !strcmp(argv[1], "clear"))
		return nrc_deps_cache_clear(stdout);
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")))
		return fputs(usage_cache, stdout), NR_EXIT_OK;
	if (argc < 2)
		return usage_error("cache", "give list or clear");
	if (argc > 2)
		return usage_error("cache", "unexpected argument '%s'", argv[2]);
	return usage_error("cache", "'%s' is not a cache command; give list or "
			   "clear", argv[1]);
}

static int print_json(cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);
	puts(s);
	free(s);
	cJSON_Delete(o);
	return NR_EXIT_OK;
}

static int cmd_list_kinds(int argc, char **argv, int first)
{
	int json = 0;
	for (int i = first; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return fputs(usage_list_kinds, stdout), NR_EXIT_OK;
		else
			return usage_error("list-kinds", "unexpected argument '%s'",
					   argv[i]);
	}
	nrc_registry *reg = nrc_registry_new();
	if (json)
		print_json(nrc_registry_to_json(reg));
	else
		nrc_registry_print_table(reg, stdout);
	nrc_registry_free(reg);
	return NR_EXIT_OK;
}

static int cmd_capabilities(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return fputs(usage_capabilities, stdout), NR_EXIT_OK;
		return usage_error("capabilities", "unexpected argument '%s'",
				   argv[i]);
	}
	nrc_registry *reg = nrc_registry_new();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "runnables", nrc_registry_kind_names(reg, runner_kind));
	cJSON *cmds = cJSON_AddArrayToObject(o, "commands");
	for (const char *const *c = commands; *c; c++)
		cJSON_AddItemToArray(cmds, cJSON_CreateString(*c));
	cJSON *used = nrc_registry_config_used(reg, runner_kind);
	/* The core honours it for every kind. */
	cJSON_AddItemToArray(used, cJSON_CreateString("runner.identifier_format"));
	cJSON_AddItemToObject(o, "configuration_used", used);
	nrc_registry_free(reg);
	return print_json(o);
}

/* Under the name avocado-runner-<kind>: Avocado's standalone runner. */
static void detect_runner(const char *argv0)
{
	static const char prefix[] = "avocado-runner-";
	const char *base = strrchr(argv0, '/');
	base = base ? base + 1 : argv0;
	if (!strncmp(base, prefix, sizeof prefix - 1) && base[sizeof prefix - 1]) {
		runner_name = base;
		runner_kind = base + sizeof prefix - 1;
	}
}

int main(int argc, char **argv)
{
	/* Each running task holds file descriptors here: a large -j must
	 * not run out of them at the default soft limit. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	detect_runner(argv[0]);
	if (argc < 2) {
		if (runner_kind)
			fprintf(stderr, usage_runner, runner_name, runner_kind, runner_kind);
		else
			fputs(usage_main, stderr);
		return NR_EXIT_JOB_ERROR;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		if (runner_kind)
			printf(usage_runner, runner_name, runner_kind, runner_kind);
		else
			fputs(usage_main, stdout);
		return NR_EXIT_OK;
	}
	if (!strcmp(cmd, "--version") || !strcmp(cmd, "-V")) {
		printf("nrunner %s (plugin ABI %d.%d)\n", PACKAGE_VERSION,
		       NR_ABI_MAJOR, NR_ABI_MINOR);
		return NR_EXIT_OK;
	}
	if (!strcmp(cmd, "--list-kinds") || !strcmp(cmd, "list-kinds"))
		return cmd_list_kinds(argc, argv, 2);
	argc--, argv++;
	if (!strcmp(cmd, "run"))
		return cmd_run(argc, argv);
	if (!strcmp(cmd, "report"))
		return cmd_report(argc, argv);
	if (!strcmp(cmd, "clean"))
		return cmd_clean(argc, argv);
	if (!strcmp(cmd, "cache"))
		return cmd_cache(argc, argv);
	if (!strcmp(cmd, "status-server"))
		return cmd_status_server(argc, argv);
	if (!strcmp(cmd, "capabilities"))
		return cmd_capabilities(argc, argv);
	if (!strcmp(cmd, "runnable-run"))
		return cmd_runnable_run(argc, argv, 0);
	if (!strcmp(cmd, "task-run"))
		return cmd_runnable_run(argc, argv, 1);
	if (!strcmp(cmd, "runnable-run-recipe"))
		return cmd_runnable_run_recipe(argc, argv);
	if (!strcmp(cmd, "task-run-recipe"))
		return cmd_task_run_recipe(argc, argv);
	return usage_error(NULL, "'%s' is not a command", cmd);
}
