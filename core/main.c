/* nrunner: the command line.  Argument handling and output only; the work
 * is in the rest of core/. */
#include "config.h"

#include "collect.h"
#include "compare.h"
#include "deps.h"
#include "job.h"
#include "progress.h"
#include "registry.h"
#include "report.h"
#include "run.h"
#include "runnable.h"
#include "shard.h"
#include "spawner.h"
#include "statusserver.h"
#include "usage.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#define ERRLEN 4096

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

/* A whole number from lo to hi: "OPT S: give a number of WHAT from LO to
 * HI" when it is not. */
static int parse_count(const char *cmd, const char *opt, const char *s,
		       int lo, int hi, const char *what, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < lo || v > hi)
		return usage_error(cmd, "%s %s: give a number of %s from %d to %d",
				   opt, s, what, lo, hi);
	*out = (int)v;
	return -1;
}

/* What the one-task commands share with `nrunner run`. */
enum { JC_TIMEOUT = 512, JC_GRACE, JC_STATUS_URI };

/* Handles a job-control option; returns -1 if it was one and is fine, an
 * exit status if it is wrong, -2 if c is not one. */
static int job_control_opt(const char *cmd, int c, nrc_run_one_opts *o)
{
	switch (c) {
	case JC_TIMEOUT:
		return parse_seconds(cmd, "--timeout", optarg, &o->job.timeout);
	case JC_GRACE:
		return parse_seconds(cmd, "--grace", optarg, &o->job.grace);
	case JC_STATUS_URI:
		o->uris = nrc_xrealloc(o->uris, (o->nuris + 1) * sizeof *o->uris);
		o->uris[o->nuris++] = optarg;
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

/* The options of the one-task commands, before their own. */
static nrc_run_one_opts one_opts(int task)
{
	return (nrc_run_one_opts){.task = task, .job.grace = 5,
				  .runner_kind = runner_kind,
				  .runner_name = runner_name};
}

/* Runs the one runnable r (taken). */
static int run_runnable(nrc_runnable *r, const nrc_run_one_opts *o)
{
	nrc_runnable_list list = {nrc_xcalloc(1, sizeof *list.items), 1};
	list.items[0] = r;
	int rc = nrc_run_one(&list, o);
	nrc_runnable_list_free(&list);
	return rc;
}

/* Parses runnable-run's options, and task-run's when o->task is set.
 * Options and KEY=VALUE arguments come in any order; without -k, the
 * first other word is the kind and the second the uri, as in Avocado's
 * `runnable-run KIND [URI]`. */
static int parse_run_opts(int argc, char **argv, nrc_run_one_opts *o,
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
		case 's': rc = job_control_opt(cmd, JC_STATUS_URI, o); break;
		case 'j': o->job_id = optarg; break;
		case 't': break; /* the category: every task here reports */
		case 'h':
			fputs(o->task ? nrc_usage_task_run : nrc_usage_runnable_run, stdout);
			rc = NR_EXIT_OK;
			break;
		default:
			rc = job_control_opt(cmd, c, o);
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
	nrc_run_one_opts o = one_opts(task);
	nrc_runnable *r = NULL;
	int rc = parse_run_opts(argc, argv, &o, &r);
	if (rc < 0)
		rc = run_runnable(r, &o);
	free(o.uris);
	return rc;
}

/* Parses "[-o DIR] [--timeout S] [--grace S] FILE" for the two recipe
 * commands. */
static int parse_recipe_opts(int argc, char **argv, const char *cmd,
			     const char *usage, const char **file,
			     nrc_run_one_opts *o)
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
			rc = job_control_opt(cmd, c, o);
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
	nrc_run_one_opts o = one_opts(0);
	int rc = parse_recipe_opts(argc, argv, "runnable-run-recipe",
				   nrc_usage_runnable_run_recipe, &file, &o);
	if (rc < 0) {
		char err[ERRLEN];
		nrc_runnable_list list = {0};
		if (nrc_recipe_read(file, &list, err, sizeof err) < 0) {
			nrc_error("%s", err);
			rc = NR_EXIT_JOB_ERROR;
		} else {
			rc = nrc_run_one(&list, &o);
		}
		nrc_runnable_list_free(&list);
	}
	free(o.uris);
	return rc;
}

static int cmd_task_run_recipe(int argc, char **argv)
{
	const char *file = NULL;
	nrc_run_one_opts o = one_opts(1);
	int rc = parse_recipe_opts(argc, argv, "task-run-recipe",
				   nrc_usage_task_run_recipe, &file, &o);
	if (rc < 0) {
		char err[ERRLEN];
		nrc_task_recipe tr;
		if (nrc_task_recipe_read(file, &tr, err, sizeof err) < 0) {
			nrc_error("%s", err);
			rc = NR_EXIT_JOB_ERROR;
		} else {
			free(o.uris);
			o.uris = (const char **)tr.uris;
			o.nuris = tr.nuris;
			tr.uris = NULL;
			tr.nuris = 0;
			o.id = tr.id;
			o.job_id = tr.job_id;
			rc = run_runnable(tr.runnable, &o);
			tr.runnable = NULL;
			for (size_t i = 0; i < o.nuris; i++)
				free((char *)o.uris[i]);
			nrc_task_recipe_free(&tr);
		}
	}
	free(o.uris);
	return rc;
}

/* --- nrunner run ------------------------------------------------------- */

enum { O_SERIAL = 256, O_TIMEOUT, O_JOB_TIMEOUT, O_GRACE, O_FAILFAST,
       O_SHUFFLE, O_SHARD, O_LIST, O_RESULTS, O_JUNIT, O_TAP,
       O_BALANCE, O_SPAWNER, O_RETRIES, O_FAIL_FLAKY, O_HTML,
       O_JOB_DEP, O_ENVIRONMENT, O_DRY_RUN, O_SYSINFO };

static const struct option run_longopts[] = {
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

/* nrunner run's arguments: the core's options, and what main.c checks
 * before handing them over. */
typedef struct run_args {
	nrc_run_opts o;
	nrc_shard shard;
	const char *shard_arg, *spawner;
	int list_only;
	char **argv;
} run_args;

static int parse_shuffle(const char *s, nrc_job_opts *j)
{
	j->shuffled = 1;
	if (!s) {
		j->seed = nrc_run_random_seed();
		return -1;
	}
	char *end;
	errno = 0;
	j->seed = strtoull(s, &end, 10);
	if (errno || *end || !*s)
		return usage_error("run", "--shuffle=%s: the seed is a whole number", s);
	return -1;
}

/* One option of nrunner run; returns -1 when it is fine, else the exit
 * status. */
static int run_option(int c, run_args *a)
{
	const char *cmd = "run";
	nrc_run_opts *o = &a->o;
	nrc_job_opts *j = &o->job;
	switch (c) {
	case 'j': return parse_count(cmd, "-j", optarg, 1, 4096, "tasks", &j->jobs);
	case O_SERIAL: j->jobs = 1; break;
	case O_TIMEOUT: return parse_seconds(cmd, "--timeout", optarg, &j->timeout);
	case O_JOB_TIMEOUT: return parse_seconds(cmd, "--job-timeout", optarg, &j->job_timeout);
	case O_GRACE: return parse_seconds(cmd, "--grace", optarg, &j->grace);
	case O_FAILFAST: j->failfast = 1; break;
	case O_RETRIES:
		return parse_count(cmd, "--retries", optarg, 0, 100, "tries", &j->retries);
	case O_FAIL_FLAKY: j->fail_on_flaky = 1; break;
	case O_SHUFFLE: return parse_shuffle(optarg, j);
	case 'f': o->filters[o->nf++] = optarg; break;
	case 't': o->tags[o->nt++] = optarg; break;
	case 's': o->uris[o->nuris++] = optarg; break;
	case O_SHARD: a->shard_arg = optarg; break;
	case O_BALANCE: o->balance = optarg; break;
	case O_SPAWNER: a->spawner = optarg; break;
	case O_LIST: a->list_only = 1; break;
	case O_JOB_DEP: o->job_dep = optarg; break;
	case O_ENVIRONMENT: o->environment = optarg; break;
	/* The kinds --dry-run and --sysinfo name (config.h has the defaults:
	 * the core itself names no kind). */
	case O_DRY_RUN: o->dry_kind = optarg ? optarg : NR_DRY_RUN_KIND; break;
	case O_SYSINFO: o->sysinfo_kind = optarg ? optarg : NR_SYSINFO_KIND; break;
	case O_RESULTS: j->results_base = optarg; break;
	case O_JUNIT: o->junit = optarg; break;
	case O_TAP: o->tap = optarg; break;
	case O_HTML: o->html = optarg; break;
	case 'q': o->quiet = 1; break;
	case 'h': fputs(nrc_usage_run, stdout); return NR_EXIT_OK;
	default: return bad_option(cmd, a->argv);
	}
	return -1;
}

/* Parses nrunner run's arguments into a.  Returns -1, or the exit
 * status. */
static int parse_run_args(int argc, char **argv, run_args *a)
{
	const char *cmd = "run";
	char err[ERRLEN];
	int rc = -1, c;
	a->argv = argv;
	optind = 1;
	opterr = 0;
	while (rc < 0 && (c = getopt_long(argc, argv, "+j:f:t:s:qh", run_longopts,
					  NULL)) != -1)
		rc = run_option(c, a);
	if (rc < 0 && optind >= argc)
		rc = usage_error(cmd, "give at least one target: a recipe, a "
				      "test file or a directory");
	if (rc < 0 && nrc_shard_parse(a->shard_arg, &a->shard, err, sizeof err) < 0)
		rc = usage_error(cmd, "%s", err);
	if (rc < 0 && a->o.balance && !a->shard.n)
		rc = usage_error(cmd, "--balance needs --shard");
	if (rc < 0 && a->shard.n)
		a->o.job.shard = a->shard.label;
	if (rc < 0 && a->spawner) {
		nrc_spawner sp = NR_SPAWN_PROCESS;
		if (nrc_spawner_parse(a->spawner, &sp, err, sizeof err) < 0)
			rc = usage_error(cmd, "%s", err);
		else if (!a->list_only && nrc_spawner_check(sp, err, sizeof err) < 0)
			rc = (nrc_error("%s", err), NR_EXIT_JOB_ERROR);
		a->o.job.spawner = (int)sp;
	}
	a->o.targets = argv + optind;
	a->o.ntargets = (size_t)(argc - optind);
	a->o.shard = &a->shard;
	return rc;
}

/* --list: what would run, in the order it would run. */
static void print_list(const nrc_job *job)
{
	if (job->opts.shuffled)
		fprintf(stderr, "nrunner: shuffle seed %llu (repeat with "
			"--shuffle=%llu)\n", job->opts.seed, job->opts.seed);
	for (size_t i = 0; i < job->n; i++) {
		const nrc_job_task *t = &job->tasks[job->order[i]];
		printf("%zu-", t->index);
		nrc_fputs_safe(stdout, nrc_runnable_identifier(t->runnable), NULL);
		printf("\t%s\n", t->runnable->kind);
	}
}

/* A live status line on a terminal, colours unless NO_COLOR or a dumb
 * terminal says otherwise. */
static nrc_progress *run_progress(int quiet)
{
	int tty = isatty(STDOUT_FILENO);
	const char *no_color = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	int color = tty && !(no_color && *no_color) && !(term && !strcmp(term, "dumb"));
	return nrc_progress_new(stdout, tty, color,
				quiet ? NR_SHOW_FAILURES : NR_SHOW_ALL);
}

static int cmd_run(int argc, char **argv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	run_args a = {.o.job = {.jobs = ncpu > 0 ? (int)ncpu : 1,
				.grace = 5,
				.results_base = "nrunner-results"}};
	a.o.filters = nrc_xcalloc((size_t)argc, sizeof *a.o.filters);
	a.o.tags = nrc_xcalloc((size_t)argc, sizeof *a.o.tags);
	a.o.uris = nrc_xcalloc((size_t)argc, sizeof *a.o.uris);
	int rc = parse_run_args(argc, argv, &a);
	if (rc < 0) {
		a.o.list = a.list_only ? print_list : NULL;
		a.o.progress = run_progress(a.o.quiet);
		rc = nrc_run(&a.o);
		nrc_progress_free(a.o.progress);
	}
	free(a.o.filters);
	free(a.o.tags);
	free(a.o.uris);
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
		case 'h': fputs(nrc_usage_report, stdout); return NR_EXIT_OK;
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
			return fputs(nrc_usage_report, stdout), NR_EXIT_OK;
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
		case 'h': fputs(nrc_usage_report, stdout); return NR_EXIT_OK;
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
	char *paths[4];
	if (nrc_report_write_all(m, dir, junit, tap, html, paths))
		rc = NR_EXIT_RUNNER_FAIL;
	/* The same exit bits as the jobs that were merged. */
	size_t n = (size_t)cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(m, "tasks"));
	size_t bad = 0;
	rc |= nrc_results_exit_bits(m, &bad);
	static const char *const unwritten = "(not written: see the error above)";
	printf("Merged %zu tasks from %d results: %zu failed\nRESULTS    : %s\n"
	       "JUNIT      : %s\nTAP        : %s\nHTML       : %s\n",
	       n, argc - optind, bad, paths[0] ? paths[0] : unwritten,
	       paths[1] ? paths[1] : unwritten, paths[2] ? paths[2] : unwritten,
	       paths[3] ? paths[3] : unwritten);
	for (int i = 0; i < 4; i++)
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
		case 'h': fputs(nrc_usage_status_server, stdout); rc = NR_EXIT_OK; break;
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
		case 'h': fputs(nrc_usage_clean, stdout); return NR_EXIT_OK;
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
		return fputs(nrc_usage_cache, stdout), NR_EXIT_OK;
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
			return fputs(nrc_usage_list_kinds, stdout), NR_EXIT_OK;
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
			return fputs(nrc_usage_capabilities, stdout), NR_EXIT_OK;
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
			fprintf(stderr, nrc_usage_runner, runner_name, runner_kind, runner_kind);
		else
			fputs(nrc_usage_main, stderr);
		return NR_EXIT_JOB_ERROR;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
		if (runner_kind)
			printf(nrc_usage_runner, runner_name, runner_kind, runner_kind);
		else
			fputs(nrc_usage_main, stdout);
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
