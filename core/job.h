/* A job: the tasks of one `nrunner run`, the scheduler that runs them in
 * parallel (DESIGN.md, "Isolation"), and their outcomes. */
#ifndef NR_JOB_H
#define NR_JOB_H

#include "registry.h"
#include "runnable.h"
#include "task.h"

#include <cjson/cJSON.h>

typedef enum { NR_JT_PENDING, NR_JT_RUNNING, NR_JT_DONE } nrc_jt_state;

struct nrc_job;
struct nrc_progress;

typedef struct nrc_job_task {
	struct nrc_job *job;
	size_t index;           /* 1-based position in the whole input */
	nrc_runnable *runnable;
	char *id;               /* "<index>-<identifier>" unless set before */
	char *dir;              /* absolute: <job dir>/tasks/<safe id>, or
				 * set before nrc_job_run (or NULL) when the
				 * job has no results directory */
	const nr_kind *kind;
	const nrc_plugin_rec *plugin;

	nrc_jt_state state;
	char *result;
	char *fail_reason;
	double start, duration; /* epoch seconds; seconds */
	cJSON *finished;        /* of the kind's finished message, the keys
				 * the reports read (returncode, phases,
				 * timings, notice); NULL when none */
	int runner_failed;
	int worker;             /* 1-based slot it ran in (a timeline lane) */

	/* --retries: each try is a new task run (a new process, so a fresh
	 * environment); the tries before the last are kept here. */
	int attempts;           /* tries made so far */
	int flaky;              /* failed, then passed on a later try */
	cJSON *tries;           /* array: result, fail_reason, start,
				 * duration, worker, logs of earlier tries */

	/* while running */
	nrc_task_proc *proc;
	int log_fd;             /* the task's status log */
	int log_failed;         /* an errno: status.jsonl could not be written */
	long long started_ms, deadline_ms, kill_at_ms;
	const char *stop_reason; /* why we interrupted it, if we did */
	char *stop_reason_buf;
	int timed_out;
	int was_running;
	char *settled_log;      /* nrc_job_task_settle's log line */
} nrc_job_task;

typedef struct nrc_job_opts {
	int jobs;
	double timeout;      /* per task, seconds; 0: none */
	double job_timeout;  /* seconds; 0: none */
	double grace;        /* SIGTERM to SIGKILL, seconds */
	int failfast;
	int retries;         /* run a failed or errored task again, N times */
	int fail_on_flaky;   /* a flaky task makes the exit status 1 */
	/* Where job results go, e.g. "nrunner-results".  NULL: no results
	 * directory (runnable-run, task-run); a task's files then go to the
	 * dir set on it before nrc_job_run, or become messages. */
	const char *results_base;
	const char *job_id;       /* with no results directory; may be NULL */
	const char *shard;        /* "K/N", for the record */
	unsigned long long seed;  /* shuffle seed, 0: input order */
	int shuffled;
	int spawner;              /* nrc_spawner: how tasks are isolated */
	/* Sees every message of every task, after the task's log (run -s
	 * sends them on to status servers, the one-task commands print them
	 * too); may be NULL. */
	void (*observe)(void *ctx, const nrc_job_task *t, cJSON *msg);
	void *observe_ctx;
	/* The folder of the job's directory that holds the tasks' folders
	 * (NULL: "tasks"). */
	const char *tasks_subdir;
	/* Called once the results directory exists and before any task
	 * starts (the job's dependencies run there; it may settle tasks
	 * with nrc_job_task_settle).  Returns 0, or -1 when the job was
	 * interrupted meanwhile (having set job->interrupt_reason): then no
	 * task starts.  May be NULL. */
	int (*before_tasks)(void *ctx, struct nrc_job *job,
			    struct nrc_progress *progress);
	void *before_ctx;
} nrc_job_opts;

typedef struct nrc_progress nrc_progress;

typedef struct nrc_job {
	nrc_job_task *tasks;
	size_t n;
	size_t *order;      /* run order: indexes into tasks */
	char *id;
	char *dir;          /* absolute path of this job's results */
	double start, duration;
	double setup_duration; /* the plugins' job_begin, before the tasks */
	int interrupted;    /* by a signal or the job timeout */
	char *interrupt_reason;
	nrc_job_opts opts;
	long max_rss_kb;
	size_t write_failures; /* files of the results not (fully) written */
	int prepared;         /* its directories exist (nrc_job_prepare) */
	int extra_bits;       /* exit bits of work outside the tasks */
	cJSON *results_extra; /* members added to results.json, or NULL */
} nrc_job;

/* Takes the runnables (the list is emptied).  Every kind must be known:
 * on an unknown kind returns NULL with one line in err. */
nrc_job *nrc_job_new(nrc_registry *reg, nrc_runnable_list *runnables,
		   const nrc_job_opts *opts, char *err, size_t errlen);
void nrc_job_free(nrc_job *job);

/* Makes the job's results directory (or, without one, the tasks' own
 * directories), unless it exists already; nrc_job_run does it when it was
 * not done.  A job whose dir was set before (another job's) gets its
 * tasks' folder made there. */
int nrc_job_prepare(nrc_job *job, char *err, size_t errlen);

/* Runs one runnable beside the job's tests (nrunner run --sysinfo's "pre"
 * and "post"): as task `id` of a job of its own, whose task folder is
 * `subdir` of this job's directory, with this job's limits.  Takes r.
 * Returns the exit bits; a record of the task (id, kind, uri, result,
 * fail_reason, duration, logs) is appended to *records when it is set.
 * An interruption sets job->interrupt_reason and NR_EXIT_INTERRUPTED. */
int nrc_job_run_aside(nrc_job *job, nrc_registry *reg, nrc_runnable *r,
		     const char *subdir, const char *id, cJSON *records,
		     char *err, size_t errlen);

/* Settles a task that has not started: when its turn comes it does not
 * run, and its status.jsonl gets started, a log of `log` (when not NULL)
 * and finished with this result and reason. */
void nrc_job_task_settle(nrc_job_task *t, const char *result,
			const char *reason, const char *log);

/* Deterministic shuffle of the run order. */
void nrc_job_shuffle(nrc_job *job, unsigned long long seed);

/* Creates the results directory and runs every task; returns the exit
 * status bits.  Writes results.json (and nothing else) into the job dir. */
int nrc_job_run(nrc_job *job, nrc_progress *progress, char *err, size_t errlen);

/* A test that failed and then passed on a retry: a result of the job's,
 * beside the kinds' results (a kind never reports it). */
#define NR_RESULT_FLAKY "flaky"

/* The exit status bits one task's outcome contributes (nrunner(1)):
 * the one rule for `run`, the one-task commands and `report merge`. */
int nrc_job_task_bits(const char *result, int timed_out, int runner_failed);

/* The job's results as results.json holds them (tasks in input order). */
cJSON *nrc_job_results(const nrc_job *job);

#endif
