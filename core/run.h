/* The commands that run tests, as the core sees them: `nrunner run` (a
 * job assembled from targets: selection, --environment, --dry-run,
 * --sysinfo, dependencies, status servers, reports) and the one-task
 * commands (runnable-run, task-run and their recipe forms: a job of one
 * runnable at a time, its messages on stdout and to status servers).
 * main.c parses the arguments into these options; each function returns
 * the exit status bits (nrunner(1)), having said what went wrong on
 * stderr. */
#ifndef NR_RUN_H
#define NR_RUN_H

#include "job.h"
#include "progress.h"
#include "shard.h"

#include <stddef.h>

typedef struct nrc_run_opts {
	nrc_job_opts job;           /* -j, timeouts, retries, shuffle, ... */
	char *const *targets;       /* recipes, files, directories */
	size_t ntargets;
	const char **filters;       /* --filter */
	size_t nf;
	const char **tags;          /* --tag */
	size_t nt;
	const nrc_shard *shard;     /* --shard (n == 0: none) */
	const char *balance;        /* --balance RESULTS.json */
	const char **uris;          /* --status-uri */
	size_t nuris;
	const char *environment;    /* --environment FILE */
	const char *dry_kind;       /* --dry-run's kind, or NULL */
	const char *sysinfo_kind;   /* --sysinfo's kind, or NULL */
	const char *job_dep;        /* --job-dependency FILE */
	const char *junit, *tap, *html; /* --report-* copies */
	int quiet;                  /* dependencies: only the failing ones */
	nrc_progress *progress;     /* what the person sees */
	/* --list: called with the assembled job instead of running it. */
	void (*list)(const nrc_job *job);
} nrc_run_opts;

/* `nrunner run`: resolves the targets, selects, assembles the job and its
 * dependencies, runs it between the plugins' job_begin and job_end, and
 * writes the reports and the summary. */
int nrc_run(const nrc_run_opts *o);

/* A seed for --shuffle without one: random, and short enough to type. */
unsigned long long nrc_run_random_seed(void);

typedef struct nrc_run_one_opts {
	nrc_job_opts job;           /* --timeout, --grace */
	const char **uris;          /* status servers (-s) */
	size_t nuris;
	const char *output_dir;     /* -o */
	int task;                   /* an Avocado task (task-run) */
	const char *id, *job_id;
	/* avocado-runner-KIND: runs KIND only, and the exit status says
	 * whether the runner worked, not how the test went.  NULL: nrunner. */
	const char *runner_kind, *runner_name;
} nrc_run_one_opts;

/* The one-task commands: runs the runnables of list one at a time, as a
 * job without a results directory. */
int nrc_run_one(nrc_runnable_list *list, const nrc_run_one_opts *o);

#endif
