/* The commands that run tests (run.h): `nrunner run` and the one-task
 * commands, from parsed options to exit bits. */
#include "config.h"

#include "run.h"
#include "around.h"
#include "deps.h"
#include "registry.h"
#include "report.h"
#include "resolve.h"
#include "select.h"
#include "signals.h"
#include "status.h"
#include "statusserver.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define ERRLEN 4096
#define STATUS_CONNECT_MS 5000

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

static int job_error(const char *err)
{
	nrc_error("%s", err);
	return NR_EXIT_JOB_ERROR;
}

/* --- nrunner run --------------------------------------------------------- */

/* What nrc_run builds, freed in one place. */
typedef struct run_state {
	nrc_registry *reg;
	nrc_runnable_list all, sel;
	size_t *indexes;
	nrc_job *job;
	nrc_deps *deps;
	nrc_around *around;
	nrc_status_out *fanout;
} run_state;

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

/* --environment: a config key every runnable gets, for the kinds that
 * read one (config keys no kind reads are accepted).  Returns -1, or the
 * exit status. */
static int set_environment(nrc_runnable_list *sel, const char *file)
{
	char *abs = realpath(file, NULL);
	if (!abs || access(abs, R_OK) < 0) {
		nrc_error("--environment %s: cannot read it: %s", file, strerror(errno));
		free(abs);
		return NR_EXIT_JOB_ERROR;
	}
	for (size_t i = 0; i < sel->n; i++) {
		cJSON_DeleteItemFromObjectCaseSensitive(sel->items[i]->config,
							"run.environment_file");
		cJSON_AddStringToObject(sel->items[i]->config, "run.environment_file", abs);
	}
	free(abs);
	return -1;
}

/* The selected tests, changed as the options say.  Returns -1, or the
 * exit status. */
static int select_tests(const nrc_run_opts *o, run_state *s)
{
	char err[ERRLEN];
	if (nrc_resolve_targets(s->reg, o->targets, o->ntargets, &s->all, err,
				sizeof err) < 0)
		return job_error(err);
	nrc_select_opts so = {.filters = o->filters, .nf = o->nf, .tags = o->tags,
			      .nt = o->nt, .shard = o->shard, .balance = o->balance};
	if (nrc_select(&s->all, &so, &s->sel, &s->indexes, err, sizeof err) < 0)
		return job_error(err);
	if (!s->sel.n) {
		nrc_error("nothing to run: %s",
			 o->nf || o->nt ? "no test matches the --filter/--tag selection"
			 : o->shard->n ? "this shard is empty" : "no tests found");
		return NR_EXIT_JOB_ERROR;
	}
	int rc;
	if (o->environment && (rc = set_environment(&s->sel, o->environment)) >= 0)
		return rc;
	/* --dry-run: every test becomes a runnable of the option's kind,
	 * keeping its identifier and all the rest, as Avocado's suite does;
	 * so nothing of the tests runs, nor their plugins' set-up, nor
	 * their dependencies, nor --sysinfo (off in Avocado's dry runs). */
	if (o->dry_kind) {
		if ((rc = check_option_kind(s->reg, "--dry-run", o->dry_kind)) >= 0)
			return rc;
		for (size_t i = 0; i < s->sel.n; i++)
			nrc_runnable_set_kind(s->sel.items[i], o->dry_kind);
	} else if (o->sysinfo_kind) {
		if ((rc = check_option_kind(s->reg, "--sysinfo", o->sysinfo_kind)) >= 0)
			return rc;
		s->around = nrc_around_new(s->reg, o->sysinfo_kind);
	}
	return -1;
}

/* The job of the selected tests and its dependencies.  Returns -1, or
 * the exit status. */
static int assemble(const nrc_run_opts *o, run_state *s)
{
	char err[ERRLEN];
	int rc = select_tests(o, s);
	if (rc >= 0)
		return rc;
	s->job = nrc_job_new(s->reg, &s->sel, &o->job, err, sizeof err);
	if (!s->job)
		return job_error(err);
	for (size_t i = 0; i < s->job->n; i++)
		s->job->tasks[i].index = s->indexes[i];
	s->deps = nrc_deps_collect(s->reg, s->job, o->dry_kind ? NULL : o->job_dep,
				   err, sizeof err);
	if (!s->deps)
		return job_error(err);
	if (o->job.shuffled)
		nrc_job_shuffle(s->job, o->job.seed);
	return -1;
}

/* The plugins' job_begin for the tests, the dependencies to run (their
 * plugins set up as the tests' do) and --sysinfo's runnables.  Returns
 * -1, or the exit status. */
static int begin_run(const nrc_run_opts *o, run_state *s)
{
	nrc_job *job = s->job;
	size_t ndeps = 0, n = job->n;
	nrc_runnable *const *pending = nrc_deps_pending(s->deps, &ndeps);
	if (o->dry_kind)
		ndeps = 0;
	nrc_runnable **items = nrc_xcalloc(job->n + ndeps + 3, sizeof *items);
	for (size_t i = 0; i < job->n; i++)
		items[i] = job->tasks[i].runnable;
	for (size_t i = 0; i < ndeps; i++)
		items[n++] = pending[i];
	n += nrc_around_pending(s->around, items + n);
	long long setup0 = nrc_monotonic_ms();
	int rc = begin_job(s->reg, items, n, &job->opts);
	job->setup_duration = (double)(nrc_monotonic_ms() - setup0) / 1000.0;
	free(items);
	return rc;
}

/* results.json, the reports, and the summary. */
static int write_reports(const nrc_run_opts *o, nrc_job *job)
{
	char *paths[4];
	cJSON *res = nrc_job_results(job);
	int rc = 0;
	if (nrc_report_write_all(res, job->dir, o->junit, o->tap, o->html, paths))
		rc = NR_EXIT_RUNNER_FAIL;
	const char *files[] = {"RESULTS", paths[0], "JUNIT", paths[1],
			       "TAP", paths[2], "HTML", paths[3], NULL, NULL};
	if (nrc_progress_summary(o->progress, job, files) < 0)
		rc = NR_EXIT_RUNNER_FAIL;
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	cJSON_Delete(res);
	return rc;
}

static int run_job(const nrc_run_opts *o, run_state *s)
{
	int rc = begin_run(o, s);
	if (rc >= 0)
		return rc;
	nrc_job *job = s->job;
	if (o->nuris) {
		s->fanout = nrc_status_fanout_new(o->uris, o->nuris);
		job->opts.observe = nrc_status_fanout_observe;
		job->opts.observe_ctx = s->fanout;
	}
	if (nrc_deps_count(s->deps) && !o->dry_kind)
		nrc_deps_attach(s->deps, job, s->reg, o->quiet);
	nrc_around_attach(s->around, job);
	char err[ERRLEN];
	rc = nrc_job_run(job, o->progress, err, sizeof err);
	rc |= nrc_around_finish(s->around, job, o->progress);
	if (rc == NR_EXIT_JOB_ERROR && job->dir == NULL)
		nrc_error("%s", err);
	else
		rc |= write_reports(o, job);
	return rc | end_job(s->reg);
}

int nrc_run(const nrc_run_opts *o)
{
	run_state s = {.reg = nrc_registry_new()};
	int rc = assemble(o, &s);
	if (rc < 0 && o->list) {
		o->list(s.job);
		rc = NR_EXIT_OK;
	} else if (rc < 0) {
		rc = run_job(o, &s);
	}
	nrc_around_free(s.around);
	nrc_job_free(s.job);
	nrc_deps_free(s.deps);
	nrc_runnable_list_free(&s.all);
	nrc_runnable_list_free(&s.sel);
	free(s.indexes);
	nrc_registry_free(s.reg);
	nrc_status_out_free(s.fanout);
	return rc;
}

unsigned long long nrc_run_random_seed(void)
{
	unsigned long long seed;
	unsigned char b[8];
	if (getrandom(b, sizeof b, 0) == sizeof b)
		memcpy(&seed, b, sizeof b);
	else
		seed = (unsigned long long)nrc_monotonic_ms() ^ (unsigned long long)getpid();
	return seed % 1000000000ULL; /* easy to type back */
}

/* --- one task: runnable-run, task-run and their recipe forms ------------- */

/* Every kind must be there, and a standalone runner runs its own kind
 * only.  Returns -1, or the exit status. */
static int check_kinds(nrc_registry *reg, const nrc_runnable_list *list,
		       const nrc_run_one_opts *o)
{
	char err[ERRLEN];
	for (size_t i = 0; i < list->n; i++) {
		const nrc_runnable *r = list->items[i];
		const nrc_plugin_rec *p;
		if (o->runner_kind && strcmp(r->kind, o->runner_kind)) {
			nrc_error("%s: kind '%s' is not this runner's; it runs: %s",
				 o->runner_name, r->kind, o->runner_kind);
			return NR_EXIT_JOB_ERROR;
		}
		if (!nrc_registry_find(reg, r->kind, &p, err, sizeof err)) {
			if (r->source)
				nrc_error("%s: %s", r->source, err);
			else
				nrc_error("%s", err);
			return NR_EXIT_JOB_ERROR;
		}
	}
	return -1;
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

/* Where each task's files go.  Returns -1, or the exit status. */
static int set_task_dirs(nrc_job *job, const nrc_run_one_opts *o)
{
	int rc = -1;
	size_t n = job->n;
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
	return rc;
}

static void send_message(void *ctx, const nrc_job_task *t, cJSON *msg)
{
	(void)t;
	nrc_status_out_send(ctx, msg);
}

int nrc_run_one(nrc_runnable_list *list, const nrc_run_one_opts *o)
{
	char err[ERRLEN];
	nrc_registry *reg = nrc_registry_new();
	int rc = check_kinds(reg, list, o);
	if (rc >= 0) {
		nrc_registry_free(reg);
		return rc;
	}
	/* Messages go to stdout and the status servers, as they come. */
	nrc_status_out *out = nrc_status_out_new(o->id, o->job_id);
	if (o->runner_kind)
		nrc_status_out_python(out);
	for (size_t i = 0; i < o->nuris; i++)
		nrc_status_out_connect(out, o->uris[i], STATUS_CONNECT_MS);
	nrc_job_opts opts = o->job;
	opts.jobs = 1;
	opts.job_id = o->job_id;
	opts.observe = send_message;
	opts.observe_ctx = out;
	nrc_job *job = nrc_job_new(reg, list, &opts, err, sizeof err);
	rc = set_task_dirs(job, o);
	nrc_runnable **items = nrc_xcalloc(job->n + 1, sizeof *items);
	for (size_t i = 0; i < job->n; i++)
		items[i] = job->tasks[i].runnable;
	if (rc < 0)
		rc = begin_job(reg, items, job->n, &opts);
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
	if (o->runner_kind && rc != NR_EXIT_JOB_ERROR)
		rc &= ~NR_EXIT_FAIL;
	nrc_job_free(job);
	nrc_status_out_free(out);
	nrc_registry_free(reg);
	return rc;
}
