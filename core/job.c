#include "config.h"

#include "job.h"
#include "progress.h"
#include "signals.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

/* A task directory name: the id with anything but [A-Za-z0-9._-] made
 * '_', cut to a length every file system takes. */
static char *safe_name(const char *id)
{
	size_t n = strlen(id);
	if (n > 120)
		n = 120;
	char *s = nrc_xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		s[i] = ok ? c : '_';
	}
	s[n] = '\0';
	return s;
}

nrc_job *nrc_job_new(nrc_registry *reg, nrc_runnable_list *list,
		   const nrc_job_opts *opts, char *err, size_t errlen)
{
	/* Every kind is found before anything starts. */
	const nr_kind **kinds = nrc_xcalloc(list->n, sizeof *kinds);
	const nrc_plugin_rec **plugins = nrc_xcalloc(list->n, sizeof *plugins);
	for (size_t i = 0; i < list->n; i++) {
		char e[2048];
		kinds[i] = nrc_registry_find(reg, list->items[i]->kind, &plugins[i],
					    e, sizeof e);
		if (!kinds[i]) {
			snprintf(err, errlen, "%s: %s",
				 list->items[i]->source ? list->items[i]->source
							: nrc_runnable_identifier(list->items[i]),
				 e);
			free(kinds);
			free(plugins);
			return NULL;
		}
	}
	nrc_job *job = nrc_xcalloc(1, sizeof *job);
	job->opts = *opts;
	job->n = list->n;
	job->tasks = nrc_xcalloc(list->n, sizeof *job->tasks);
	job->order = nrc_xcalloc(list->n, sizeof *job->order);
	for (size_t i = 0; i < list->n; i++) {
		nrc_job_task *t = &job->tasks[i];
		t->job = job;
		t->runnable = list->items[i];
		t->index = i + 1;
		t->kind = kinds[i];
		t->plugin = plugins[i];
		t->log_fd = -1;
		job->order[i] = i;
	}
	free(kinds);
	free(plugins);
	free(list->items);
	list->items = NULL;
	list->n = 0;
	return job;
}

void nrc_job_free(nrc_job *job)
{
	if (!job)
		return;
	for (size_t i = 0; i < job->n; i++) {
		nrc_job_task *t = &job->tasks[i];
		nrc_runnable_free(t->runnable);
		free(t->id);
		free(t->dir);
		free(t->result);
		free(t->fail_reason);
		free(t->stop_reason_buf);
		free(t->settled_log);
		cJSON_Delete(t->finished);
		cJSON_Delete(t->tries);
		nrc_task_free(t->proc);
		if (t->log_fd >= 0)
			close(t->log_fd);
	}
	free(job->tasks);
	free(job->order);
	free(job->id);
	free(job->dir);
	free(job->interrupt_reason);
	cJSON_Delete(job->results_extra);
	free(job);
}

/* splitmix64: a small generator whose sequence is the same everywhere, so
 * that a seed repeats a shuffle on any machine. */
static unsigned long long next_rand(unsigned long long *s)
{
	unsigned long long z = (*s += 0x9E3779B97F4A7C15ULL);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
	return z ^ (z >> 31);
}

void nrc_job_shuffle(nrc_job *job, unsigned long long seed)
{
	unsigned long long s = seed;
	for (size_t i = job->n; i > 1; i--) {
		size_t j = (size_t)(next_rand(&s) % i);
		size_t tmp = job->order[i - 1];
		job->order[i - 1] = job->order[j];
		job->order[j] = tmp;
	}
}

/* --- the results directory ------------------------------------------- */

static const char *tasks_subdir(const nrc_job *job)
{
	return job->opts.tasks_subdir ? job->opts.tasks_subdir : "tasks";
}

static int make_job_dir(nrc_job *job, char *err, size_t errlen)
{
	const char *base = job->opts.results_base;
	job->dir = NULL;
	if (nrc_mkdir_p(base, 0755) < 0) {
		snprintf(err, errlen, "%s: cannot create the results directory: %s",
			 base, strerror(errno));
		return -1;
	}
	char absbase[PATH_MAX];
	if (!realpath(base, absbase)) {
		snprintf(err, errlen, "%s: %s", base, strerror(errno));
		return -1;
	}
	unsigned char rnd[4] = {0};
	if (getrandom(rnd, sizeof rnd, 0) != sizeof rnd) {
		unsigned v = (unsigned)getpid() ^ (unsigned)nrc_monotonic_ms();
		memcpy(rnd, &v, sizeof rnd);
	}
	time_t now = time(NULL);
	struct tm tm;
	localtime_r(&now, &tm);
	char stamp[32];
	strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%S", &tm);
	job->id = nrc_xasprintf("%s-%02x%02x%02x%02x", stamp, rnd[0], rnd[1],
			       rnd[2], rnd[3]);
	job->dir = nrc_xasprintf("%s/job-%s", absbase, job->id);
	char *tasks = nrc_xasprintf("%s/%s", job->dir, tasks_subdir(job));
	int rc = nrc_mkdir_p(tasks, 0755);
	free(tasks);
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot create: %s", job->dir,
			 strerror(errno));
		free(job->dir);
		job->dir = NULL;
		return -1;
	}
	/* "latest" points at the newest job; replaced atomically. */
	char *link = nrc_xasprintf("%s/latest", absbase);
	char *tmp = nrc_xasprintf("%s/.latest.%ld", absbase, (long)getpid());
	char *target = nrc_xasprintf("job-%s", job->id);
	unlink(tmp);
	if (symlink(target, tmp) == 0 && rename(tmp, link) < 0)
		unlink(tmp);
	free(link);
	free(tmp);
	free(target);
	return 0;
}

/* --- one task -------------------------------------------------------- */

typedef struct sched {
	nrc_job *job;
	nrc_progress *progress;
	size_t next;     /* next position in job->order to start */
	size_t running;
	int stop_starting;
	int sigints;
	long long job_deadline_ms;
	nrc_job_task **live; /* the running tasks */
	char *busy;         /* busy[w]: worker slot w+1 runs a task */
	nrc_job_task **retry; /* failed tasks waiting for another try */
	size_t nretry;
} sched;

/* The task's status.jsonl in the job's results: the task process makes
 * it (nrc_task_spec.log_name), the runner writes it. */
#define STATUS_LOG "status.jsonl"

static void log_message(nrc_job_task *t, const cJSON *msg)
{
	/* Opened at the first message: by then the task process has made
	 * the task's directory. */
	if (t->log_fd < 0 && !t->log_failed) {
		char *log = nrc_xasprintf("%s/" STATUS_LOG, t->dir);
		int flags = O_WRONLY | O_CLOEXEC | O_APPEND;
		/* A task process made it empty; a settled task has none. */
		t->log_fd = t->proc ? open(log, flags) : -1;
		if (t->log_fd < 0)
			t->log_fd = open(log, flags | O_CREAT | O_TRUNC, 0644);
		if (t->log_fd < 0 && mkdir(t->dir, 0755) == 0)
			t->log_fd = open(log, flags | O_CREAT | O_TRUNC, 0644);
		if (t->log_fd < 0)
			t->log_failed = errno;
		free(log);
	}
	char *line = cJSON_PrintUnformatted(msg);
	size_t n = strlen(line);
	line[n] = '\n';
	if (t->log_fd >= 0 && nrc_write_all(t->log_fd, line, n + 1) < 0) {
		t->log_failed = errno;
		close(t->log_fd);
		t->log_fd = -1;
	}
	free(line);
}

static void on_message(void *ctx, cJSON *msg)
{
	nrc_job_task *t = ctx;
	if (t->job->dir)
		log_message(t, msg);
	if (t->job->opts.observe)
		t->job->opts.observe(t->job->opts.observe_ctx, t, msg);
}

/* Files of the results that could not be written: one line each, for the
 * first few, and the job's exit status says so. */
#define WRITE_FAILURES_SHOWN 5

static int disk_full(const char *dir)
{
	struct statvfs st;
	if (statvfs(dir, &st) < 0)
		return 0;
	/* Some file systems report no sizes at all (0 blocks, 0 inodes). */
	return (st.f_blocks && (geteuid() == 0 ? st.f_bfree : st.f_bavail) == 0) ||
	       (st.f_files && st.f_favail == 0);
}

static void check_written(sched *s, nrc_job_task *t)
{
	/* A task writes its stdout and stderr files itself; on a full disk
	 * they end short and nobody hears of it but the task. */
	int full = t->dir && disk_full(t->dir);
	if (!t->log_failed && !full)
		return;
	if (s->job->write_failures++ >= WRITE_FAILURES_SHOWN)
		return;
	if (t->log_failed)
		nrc_progress_error(s->progress, "%s/status.jsonl: cannot write: %s%s",
				  t->dir, strerror(t->log_failed),
				  full ? "; the task's stdout and stderr may be cut short too" : "");
	else
		nrc_progress_error(s->progress, "%s: the file system of the results "
				  "is full: the task's stdout and stderr may be cut short",
				  t->dir);
}

/* What the job keeps of a kind's finished message: the keys its results
 * and summary read, or NULL when it has none.  The whole message is in
 * the task's status.jsonl; held for every task it would be most of the
 * runner's memory in a long job, and a fork copies the page tables of all
 * of it, once per task. */
static cJSON *kept_of_finished(const cJSON *f)
{
	static const char *const keys[] = {"returncode", "phases", "timings",
					   "notice", NULL};
	cJSON *o = NULL;
	for (const char *const *k = keys; *k; k++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(f, *k);
		if (!v)
			continue;
		if (!o)
			o = cJSON_CreateObject();
		cJSON_AddItemToObject(o, *k, cJSON_Duplicate(v, 1));
	}
	return o;
}

static void set_result(nrc_job_task *t, const char *result, const char *reason)
{
	free(t->result);
	free(t->fail_reason);
	t->result = nrc_xstrdup(result);
	t->fail_reason = reason ? nrc_xstrdup(reason) : NULL;
}

static int start_task(sched *s, nrc_job_task *t)
{
	nrc_job *job = s->job;
	if (job->dir) {
		char *name = safe_name(t->id);
		free(t->dir);
		/* A retry writes beside the first try, which stays for the
		 * report. */
		t->dir = t->attempts ? nrc_xasprintf("%s/%s/%s.try%d", job->dir,
						    tasks_subdir(job), name, t->attempts + 1)
				     : nrc_xasprintf("%s/%s/%s", job->dir, tasks_subdir(job), name);
		free(name);
	}
	t->attempts++;
	t->worker = 0;
	for (int w = 0; w < job->opts.jobs && !t->worker; w++)
		if (!s->busy[w]) {
			s->busy[w] = 1;
			t->worker = w + 1;
		}
	char err[2048];
	nrc_task_spec spec = {.runnable = t->runnable,
			     .kind = t->kind,
			     .plugin_file = t->plugin->file,
			     .output_dir = t->dir,
			     .spawner = job->opts.spawner,
			     .log_name = STATUS_LOG};
	t->start = nrc_now();
	t->started_ms = nrc_monotonic_ms();
	t->proc = nrc_task_start(&spec, on_message, t, err, sizeof err);
	if (!t->proc)
		goto failed;
	t->state = NR_JT_RUNNING;
	t->was_running = 1;
	t->deadline_ms = job->opts.timeout > 0
				 ? t->started_ms + (long long)(job->opts.timeout * 1000)
				 : -1;
	t->kill_at_ms = -1;
	s->live[s->running++] = t;
	nrc_progress_started(s->progress, t);
	return 0;
failed:
	/* The runner could not start the task (out of processes, disk
	 * full): an error of this task, and the job goes on. */
	if (t->worker)
		s->busy[t->worker - 1] = 0;
	t->state = NR_JT_DONE;
	t->runner_failed = 1;
	set_result(t, NR_RESULT_ERROR, err);
	nrc_progress_finished(s->progress, t);
	return -1;
}

void nrc_job_task_settle(nrc_job_task *t, const char *result,
			const char *reason, const char *log)
{
	set_result(t, result, reason);
	free(t->settled_log);
	t->settled_log = log ? nrc_xstrdup(log) : NULL;
	t->state = NR_JT_DONE;
}

/* A settled task's turn: its messages are what a kind would have sent,
 * in its status.jsonl and to the observer, and it is shown as done. */
static void record_settled(sched *s, nrc_job_task *t)
{
	nrc_job *job = s->job;
	if (job->dir) {
		char *name = safe_name(t->id);
		free(t->dir);
		t->dir = nrc_xasprintf("%s/%s/%s", job->dir, tasks_subdir(job), name);
		free(name);
	}
	t->start = nrc_now();
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "status", "started");
	cJSON_AddNumberToObject(m, "time", t->start);
	on_message(t, m);
	cJSON_Delete(m);
	if (t->settled_log) {
		m = cJSON_CreateObject();
		cJSON_AddStringToObject(m, "status", "running");
		cJSON_AddStringToObject(m, "type", "log");
		cJSON_AddStringToObject(m, "log", t->settled_log);
		cJSON_AddNumberToObject(m, "time", t->start);
		on_message(t, m);
		cJSON_Delete(m);
	}
	m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "status", "finished");
	cJSON_AddStringToObject(m, "result", t->result);
	if (t->fail_reason)
		cJSON_AddStringToObject(m, "fail_reason", t->fail_reason);
	cJSON_AddNumberToObject(m, "time", t->start);
	on_message(t, m);
	cJSON_Delete(t->finished);
	t->finished = kept_of_finished(m);
	cJSON_Delete(m);
	if (t->log_fd >= 0)
		close(t->log_fd);
	t->log_fd = -1;
	check_written(s, t);
	t->log_failed = 0;
	nrc_progress_finished(s->progress, t);
}

static void stop_task(sched *s, nrc_job_task *t, const char *reason,
		      int timed_out)
{
	if (t->stop_reason)
		return;
	t->stop_reason_buf = nrc_xstrdup(reason);
	t->stop_reason = t->stop_reason_buf;
	t->timed_out = timed_out;
	nrc_task_interrupt(t->proc, reason);
	long long grace = (long long)(s->job->opts.grace * 1000);
	t->kill_at_ms = nrc_monotonic_ms() + grace;
}

/* After a try: a failed or errored one (or one that hit --timeout) runs
 * again while tries are left and the job goes on; it then waits in
 * s->retry, and starts before any task not started yet.  A pass after a
 * failure makes the task flaky.  Returns 1 when the task runs again. */
static int retry_or_settle(sched *s, nrc_job_task *t)
{
	int failed = !strcmp(t->result, NR_RESULT_FAIL) ||
		     !strcmp(t->result, NR_RESULT_ERROR) || t->timed_out;
	if (t->attempts > 1 && !strcmp(t->result, NR_RESULT_PASS)) {
		t->flaky = 1;
		set_result(t, NR_RESULT_FLAKY, t->fail_reason);
	}
	if (!failed || t->attempts > s->job->opts.retries || s->job->interrupted ||
	    t->runner_failed)
		return 0;
	if (!t->tries)
		t->tries = cJSON_CreateArray();
	cJSON *o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "attempt", t->attempts);
	cJSON_AddStringToObject(o, "result", t->result);
	if (t->fail_reason)
		cJSON_AddStringToObject(o, "fail_reason", t->fail_reason);
	else
		cJSON_AddNullToObject(o, "fail_reason");
	cJSON_AddNumberToObject(o, "start", t->start);
	cJSON_AddNumberToObject(o, "duration", t->duration);
	cJSON_AddNumberToObject(o, "worker", t->worker);
	if (t->timed_out)
		cJSON_AddTrueToObject(o, "timed_out");
	cJSON_AddStringToObject(o, "logs", t->dir);
	cJSON_AddItemToArray(t->tries, o);
	nrc_progress_retry(s->progress, t);
	free(t->stop_reason_buf);
	t->stop_reason_buf = NULL;
	t->stop_reason = NULL;
	t->timed_out = 0;
	t->state = NR_JT_PENDING;
	s->retry[s->nretry++] = t;
	return 1;
}

static void finish_task(sched *s, nrc_job_task *t)
{
	const cJSON *f = nrc_task_finished(t->proc);
	const cJSON *res = cJSON_GetObjectItemCaseSensitive(f, "result");
	const cJSON *why = cJSON_GetObjectItemCaseSensitive(f, "fail_reason");
	const char *result = cJSON_IsString(res) ? res->valuestring : NR_RESULT_ERROR;
	const char *reason = cJSON_IsString(why) ? why->valuestring : NULL;
	/* A task we stopped is interrupted, with our reason, unless it got
	 * to pass or skip before the signal landed. */
	if (t->stop_reason && strcmp(result, NR_RESULT_PASS) &&
	    strcmp(result, NR_RESULT_SKIP)) {
		result = NR_RESULT_INTERRUPTED;
		reason = t->stop_reason;
	}
	set_result(t, result, reason);
	cJSON_Delete(t->finished);
	t->finished = kept_of_finished(f);
	t->runner_failed = nrc_task_runner_failed(t->proc);
	t->duration = (double)(nrc_monotonic_ms() - t->started_ms) / 1000.0;
	check_written(s, t);
	t->state = NR_JT_DONE;
	nrc_task_free(t->proc);
	t->proc = NULL;
	if (t->log_fd >= 0)
		close(t->log_fd);
	t->log_fd = -1;
	t->log_failed = 0;
	if (t->worker)
		s->busy[t->worker - 1] = 0;
	for (size_t i = 0; i < s->running; i++)
		if (s->live[i] == t) {
			s->live[i] = s->live[--s->running];
			break;
		}
	if (retry_or_settle(s, t))
		return;
	nrc_progress_finished(s->progress, t);
	if (s->job->opts.failfast && !s->stop_starting &&
	    (!strcmp(t->result, NR_RESULT_FAIL) ||
	     !strcmp(t->result, NR_RESULT_ERROR)))
		s->stop_starting = 1;
}

static void stop_all(sched *s, const char *reason)
{
	s->stop_starting = 1;
	for (size_t i = 0; i < s->running; i++)
		stop_task(s, s->live[i], reason, 0);
}

static void handle_signals(sched *s)
{
	int sigs[64];
	size_t n = nrc_signals_read(sigs, 64);
	for (size_t i = 0; i < n; i++) {
		if (sigs[i] == SIGCHLD)
			continue;
		if (++s->sigints > 1) {
			/* The second Ctrl-C: no more waiting. */
			for (size_t k = 0; k < s->running; k++)
				nrc_task_kill(s->live[k]->proc);
			continue;
		}
		s->job->interrupted = 1;
		free(s->job->interrupt_reason);
		s->job->interrupt_reason =
			nrc_xasprintf("interrupted by %s", nrc_signal_name(sigs[i]));
		nrc_progress_note(s->progress, sigs[i] == SIGINT
			? "Ctrl-C: stopping the running tasks (Ctrl-C again to kill them now)"
			: "signal: stopping the running tasks");
		stop_all(s, s->job->interrupt_reason);
	}
}

/* Deadlines: task timeouts, kill after grace, the job timeout. */
static int handle_deadlines(sched *s, long long now)
{
	long long next = -1;
#define EARLIER(x) (next < 0 || (x) < next ? (next = (x)) : 0)
	if (s->job_deadline_ms >= 0) {
		if (now >= s->job_deadline_ms && !s->job->interrupted) {
			s->job->interrupted = 1;
			s->job->interrupt_reason = nrc_xasprintf(
				"job timeout after %g s", s->job->opts.job_timeout);
			stop_all(s, s->job->interrupt_reason);
		} else if (!s->job->interrupted) {
			EARLIER(s->job_deadline_ms);
		}
	}
	for (size_t i = 0; i < s->running; i++) {
		nrc_job_task *t = s->live[i];
		if (t->deadline_ms >= 0 && !t->stop_reason) {
			if (now >= t->deadline_ms) {
				char *why = nrc_xasprintf("timeout after %g s",
							 s->job->opts.timeout);
				stop_task(s, t, why, 1);
				free(why);
			} else {
				EARLIER(t->deadline_ms);
			}
		}
		if (t->kill_at_ms >= 0) {
			if (now >= t->kill_at_ms) {
				nrc_task_kill(t->proc);
				t->kill_at_ms = -1;
			} else {
				EARLIER(t->kill_at_ms);
			}
		}
	}
#undef EARLIER
	if (next < 0)
		return -1;
	return next > now ? (int)(next - now) : 0;
}

int nrc_job_task_bits(const char *result, int timed_out, int runner_failed)
{
	int bits = runner_failed ? NR_EXIT_RUNNER_FAIL : 0;
	if (result && (!strcmp(result, NR_RESULT_FAIL) ||
		       !strcmp(result, NR_RESULT_ERROR) ||
		       (!strcmp(result, NR_RESULT_INTERRUPTED) && timed_out)))
		bits |= NR_EXIT_FAIL;
	return bits;
}

static int exit_bits(const nrc_job *job)
{
	int bits = 0;
	for (size_t i = 0; i < job->n; i++) {
		const nrc_job_task *t = &job->tasks[i];
		bits |= nrc_job_task_bits(t->result, t->timed_out, t->runner_failed);
		if (t->flaky && job->opts.fail_on_flaky)
			bits |= NR_EXIT_FAIL;
	}
	if (job->interrupted)
		bits |= NR_EXIT_INTERRUPTED;
	if (job->write_failures)
		bits |= NR_EXIT_RUNNER_FAIL;
	return bits | job->extra_bits;
}

/* Without a results directory, the dirs set on the tasks are made here
 * (and made absolute: a task may change directory). */
static int make_task_dirs(nrc_job *job, char *err, size_t errlen)
{
	job->id = job->opts.job_id ? nrc_xstrdup(job->opts.job_id) : NULL;
	for (size_t i = 0; i < job->n; i++) {
		nrc_job_task *t = &job->tasks[i];
		char abs[PATH_MAX];
		if (!t->dir)
			continue;
		if (nrc_mkdir_p(t->dir, 0755) < 0 || !realpath(t->dir, abs)) {
			snprintf(err, errlen, "%s: cannot create the output "
				 "directory: %s", t->dir, strerror(errno));
			return -1;
		}
		free(t->dir);
		t->dir = nrc_xstrdup(abs);
	}
	return 0;
}

int nrc_job_prepare(nrc_job *job, char *err, size_t errlen)
{
	if (job->prepared)
		return 0;
	if (job->dir) {
		/* Another job's directory: this job's tasks go into a folder
		 * of their own there. */
		char *tasks = nrc_xasprintf("%s/%s", job->dir, tasks_subdir(job));
		int rc = nrc_mkdir_p(tasks, 0755);
		if (rc < 0)
			snprintf(err, errlen, "%s: cannot create: %s", tasks,
				 strerror(errno));
		free(tasks);
		if (rc < 0)
			return -1;
		if (!job->id && job->opts.job_id)
			job->id = nrc_xstrdup(job->opts.job_id);
	} else if (job->opts.results_base ? make_job_dir(job, err, errlen)
					  : make_task_dirs(job, err, errlen)) {
		return -1;
	}
	job->prepared = 1;
	return 0;
}

int nrc_job_run(nrc_job *job, nrc_progress *progress, char *err, size_t errlen)
{
	if (nrc_job_prepare(job, err, errlen) < 0)
		return NR_EXIT_JOB_ERROR;
	for (size_t i = 0; i < job->n; i++) {
		nrc_job_task *t = &job->tasks[i];
		if (!t->id)
			t->id = nrc_xasprintf("%zu-%s", t->index,
					     nrc_runnable_identifier(t->runnable));
	}
	int sigfd = nrc_signals_fd();
	int jobs = job->opts.jobs > 0 ? job->opts.jobs : 1;
	sched s = {.job = job, .progress = progress, .job_deadline_ms = -1};
	s.live = nrc_xcalloc((size_t)jobs, sizeof *s.live);
	s.busy = nrc_xcalloc((size_t)jobs, 1);
	s.retry = nrc_xcalloc(job->n + 1, sizeof *s.retry);
	struct pollfd *fds = nrc_xcalloc(1 + 3 * (size_t)jobs, sizeof *fds);
	nrc_job_task **owner = nrc_xcalloc(1 + 3 * (size_t)jobs, sizeof *owner);
	job->start = nrc_now();
	long long t0 = nrc_monotonic_ms();
	if (job->opts.job_timeout > 0)
		s.job_deadline_ms = t0 + (long long)(job->opts.job_timeout * 1000);
	nrc_progress_begin(progress, job);
	fflush(NULL); /* nothing buffered may be duplicated by fork() */
	if (job->opts.before_tasks &&
	    job->opts.before_tasks(job->opts.before_ctx, job, progress) < 0) {
		job->interrupted = 1;
		s.stop_starting = 1;
	}
	/* Each task is a fork, whose cost grows with the pages nrunner has
	 * mapped: the heap's free pages (the parse of the recipes, the
	 * set-up) go back to the system before the first. */
	malloc_trim(0);

	for (;;) {
		/* Retries first: with --failfast, only a task's last try
		 * stops the job. */
		while (!job->interrupted && s.running < (size_t)jobs && s.nretry) {
			nrc_job_task *t = s.retry[0];
			memmove(s.retry, s.retry + 1, --s.nretry * sizeof *s.retry);
			start_task(&s, t);
		}
		while (!s.stop_starting && s.running < (size_t)jobs &&
		       s.next < job->n) {
			nrc_job_task *t = &job->tasks[job->order[s.next++]];
			if (t->state == NR_JT_DONE)
				record_settled(&s, t);
			else
				start_task(&s, t);
		}
		if (!s.running && (job->interrupted || !s.nretry) &&
		    (s.stop_starting || s.next >= job->n))
			break;

		int nfds = 0;
		fds[nfds].fd = sigfd;
		fds[nfds].events = POLLIN;
		fds[nfds].revents = 0;
		owner[nfds++] = NULL;
		for (size_t i = 0; i < s.running; i++) {
			int k = nrc_task_pollfds(s.live[i]->proc, fds + nfds);
			for (int j = 0; j < k; j++)
				owner[nfds + j] = s.live[i];
			nfds += k;
		}
		long long now = nrc_monotonic_ms();
		int timeout = handle_deadlines(&s, now);
		int tick = nrc_progress_tick_ms(progress);
		if (tick >= 0 && (timeout < 0 || tick < timeout))
			timeout = tick;
		int r = poll(fds, (nfds_t)nfds, timeout);
		if (r < 0 && errno != EINTR) {
			snprintf(err, errlen, "poll: %s", strerror(errno));
			stop_all(&s, "the runner failed");
		}
		int reap = 0;
		if (fds[0].revents) {
			handle_signals(&s);
			reap = 1;
		}
		for (int i = 1; i < nfds; i++) {
			if (!fds[i].revents)
				continue;
			nrc_task_dispatch(owner[i]->proc, &fds[i], 1);
			/* A closed pipe usually means the task ended. */
			if (fds[i].revents & (POLLHUP | POLLERR))
				reap = 1;
		}
		if (reap) {
			nrc_task_reap_orphans();
			for (size_t i = 0; i < s.running;) {
				nrc_job_task *t = s.live[i];
				if (nrc_task_check_exit(t->proc))
					finish_task(&s, t); /* removes it from live */
				else
					i++;
			}
		}
		handle_deadlines(&s, nrc_monotonic_ms());
		nrc_progress_tick(progress);
	}
	job->duration = (double)(nrc_monotonic_ms() - t0) / 1000.0;
	nrc_task_reap_orphans();
	if (job->write_failures > WRITE_FAILURES_SHOWN)
		nrc_progress_error(progress, "and %zu more tasks whose files could "
				  "not be written in full",
				  job->write_failures - WRITE_FAILURES_SHOWN);

	/* Tasks that never started: the job was interrupted or failfast. */
	const char *why = job->interrupted ? "not started: the job was interrupted"
					   : "not started: --failfast after a failure";
	/* A retry that the interruption kept from starting: the task ends
	 * as its last try did. */
	for (size_t i = 0; i < s.nretry; i++) {
		s.retry[i]->state = NR_JT_DONE;
		nrc_progress_finished(progress, s.retry[i]);
	}
	for (size_t i = 0; i < job->n; i++) {
		nrc_job_task *t = &job->tasks[i];
		if (t->state == NR_JT_PENDING) {
			t->state = NR_JT_DONE;
			set_result(t, NR_RESULT_CANCEL, why);
		}
	}
	job->max_rss_kb = nrc_peak_rss_kb();
	free(fds);
	free(owner);
	free(s.live);
	free(s.busy);
	free(s.retry);
	return exit_bits(job);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Kinds may put "timings": [{"endpoint": "...", "ms": N}, ...] in their
 * finished message (crud-flow does, one per request).  The job reports,
 * per endpoint, the count and the p50, p95 and max over all its tasks. */
static cJSON *endpoint_stats(const nrc_job *job)
{
	cJSON *by = cJSON_CreateObject(); /* endpoint -> array of ms */
	for (size_t i = 0; i < job->n; i++) {
		const cJSON *tm = cJSON_GetObjectItemCaseSensitive(job->tasks[i].finished, "timings");
		const cJSON *e;
		cJSON_ArrayForEach(e, tm)
		{
			const cJSON *ep = cJSON_GetObjectItemCaseSensitive(e, "endpoint");
			const cJSON *ms = cJSON_GetObjectItemCaseSensitive(e, "ms");
			if (!cJSON_IsString(ep) || !cJSON_IsNumber(ms))
				continue;
			cJSON *arr = cJSON_GetObjectItemCaseSensitive(by, ep->valuestring);
			if (!arr)
				arr = cJSON_AddArrayToObject(by, ep->valuestring);
			cJSON_AddItemToArray(arr, cJSON_CreateNumber(ms->valuedouble));
		}
	}
	cJSON *out = cJSON_CreateObject();
	const cJSON *arr;
	cJSON_ArrayForEach(arr, by)
	{
		size_t n = (size_t)cJSON_GetArraySize(arr), k = 0;
		double *v = nrc_xcalloc(n, sizeof *v);
		const cJSON *x;
		cJSON_ArrayForEach(x, arr) v[k++] = x->valuedouble;
		qsort(v, n, sizeof *v, cmp_double);
		/* Nearest-rank percentiles. */
		size_t r50 = (n * 50 + 99) / 100, r95 = (n * 95 + 99) / 100;
		cJSON *s = cJSON_CreateObject();
		cJSON_AddNumberToObject(s, "count", (double)n);
		cJSON_AddNumberToObject(s, "p50_ms", v[r50 ? r50 - 1 : 0]);
		cJSON_AddNumberToObject(s, "p95_ms", v[r95 ? r95 - 1 : 0]);
		cJSON_AddNumberToObject(s, "max_ms", v[n - 1]);
		cJSON_AddItemToObject(out, arr->string, s);
		free(v);
	}
	cJSON_Delete(by);
	return out;
}

int nrc_job_run_aside(nrc_job *job, nrc_registry *reg, nrc_runnable *r,
		     const char *subdir, const char *id, cJSON *records,
		     char *err, size_t errlen)
{
	nrc_runnable_list list = {.items = nrc_xcalloc(1, sizeof *list.items), .n = 1};
	list.items[0] = r;
	nrc_job_opts o = job->opts;
	o.jobs = 1;
	o.results_base = NULL;
	o.tasks_subdir = subdir;
	o.before_tasks = NULL;
	o.retries = 0;
	o.failfast = 0;
	o.shuffled = 0;
	o.observe = NULL;
	nrc_job *aj = nrc_job_new(reg, &list, &o, err, errlen);
	if (!aj) {
		nrc_runnable_list_free(&list);
		return NR_EXIT_JOB_ERROR;
	}
	aj->dir = nrc_xstrdup(job->dir);
	aj->id = job->id ? nrc_xstrdup(job->id) : NULL;
	aj->tasks[0].id = nrc_xstrdup(id);
	/* Its lines are the caller's to print. */
	nrc_progress *quiet = nrc_progress_new(stdout, 0, 0, NR_SHOW_NONE);
	int bits = nrc_job_run(aj, quiet, err, errlen);
	nrc_progress_free(quiet);
	const nrc_job_task *t = &aj->tasks[0];
	if (records && t->result) {
		cJSON *x = cJSON_CreateObject();
		cJSON_AddStringToObject(x, "id", id);
		cJSON_AddStringToObject(x, "kind", t->runnable->kind);
		if (t->runnable->uri)
			cJSON_AddStringToObject(x, "uri", t->runnable->uri);
		cJSON_AddStringToObject(x, "result", t->result);
		if (t->fail_reason)
			cJSON_AddStringToObject(x, "fail_reason", t->fail_reason);
		cJSON_AddNumberToObject(x, "duration", t->duration);
		if (t->dir)
			cJSON_AddStringToObject(x, "logs", t->dir);
		cJSON_AddItemToArray(records, x);
	}
	if (aj->interrupted && !job->interrupt_reason)
		job->interrupt_reason = nrc_xstrdup(aj->interrupt_reason
			? aj->interrupt_reason : "interrupted");
	nrc_job_free(aj);
	return bits;
}

cJSON *nrc_job_results(const nrc_job *job)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "nrunner", PACKAGE_VERSION);
	cJSON_AddStringToObject(o, "job_id", job->id ? job->id : "");
	cJSON_AddStringToObject(o, "results_dir", job->dir ? job->dir : "");
	cJSON_AddNumberToObject(o, "start", job->start);
	cJSON_AddNumberToObject(o, "duration", job->duration);
	cJSON_AddNumberToObject(o, "setup_duration", job->setup_duration);
	cJSON_AddNumberToObject(o, "jobs", job->opts.jobs);
	if (job->opts.shard)
		cJSON_AddStringToObject(o, "shard", job->opts.shard);
	if (job->opts.shuffled)
		cJSON_AddNumberToObject(o, "shuffle_seed", (double)job->opts.seed);
	cJSON_AddBoolToObject(o, "interrupted", job->interrupted);
	if (job->interrupt_reason)
		cJSON_AddStringToObject(o, "interrupt_reason", job->interrupt_reason);
	cJSON_AddNumberToObject(o, "runner_max_rss_kb", (double)job->max_rss_kb);
	cJSON *eps = endpoint_stats(job);
	if (cJSON_GetArraySize(eps))
		cJSON_AddItemToObject(o, "endpoints", eps);
	else
		cJSON_Delete(eps);
	const cJSON *x;
	cJSON_ArrayForEach(x, job->results_extra)
		cJSON_AddItemToObject(o, x->string, cJSON_Duplicate(x, 1));
	cJSON *tasks = cJSON_AddArrayToObject(o, "tasks");
	for (size_t i = 0; i < job->n; i++) {
		const nrc_job_task *t = &job->tasks[i];
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "index", (double)t->index);
		cJSON_AddStringToObject(j, "id", t->id ? t->id : "");
		cJSON_AddStringToObject(j, "identifier",
					nrc_runnable_identifier(t->runnable));
		cJSON_AddStringToObject(j, "kind", t->runnable->kind);
		if (t->runnable->uri)
			cJSON_AddStringToObject(j, "uri", t->runnable->uri);
		cJSON_AddStringToObject(j, "result", t->result ? t->result : NR_RESULT_CANCEL);
		if (t->fail_reason)
			cJSON_AddStringToObject(j, "fail_reason", t->fail_reason);
		else
			cJSON_AddNullToObject(j, "fail_reason");
		cJSON_AddNumberToObject(j, "start", t->start);
		cJSON_AddNumberToObject(j, "duration", t->duration);
		const cJSON *rc = cJSON_GetObjectItemCaseSensitive(t->finished, "returncode");
		if (cJSON_IsNumber(rc))
			cJSON_AddNumberToObject(j, "returncode", rc->valuedouble);
		if (t->timed_out)
			cJSON_AddTrueToObject(j, "timed_out");
		if (t->runner_failed)
			cJSON_AddTrueToObject(j, "runner_failed");
		if (t->worker)
			cJSON_AddNumberToObject(j, "worker", t->worker);
		if (t->attempts > 1 || t->flaky) {
			cJSON_AddBoolToObject(j, "flaky", t->flaky);
			cJSON_AddNumberToObject(j, "attempts", t->attempts);
		}
		if (t->tries)
			cJSON_AddItemToObject(j, "tries", cJSON_Duplicate(t->tries, 1));
		/* A kind's timing of its own phases (set-up, steps...), for the
		 * report's timeline: numbers only, whatever their names. */
		const cJSON *ph = cJSON_GetObjectItemCaseSensitive(t->finished, "phases");
		if (cJSON_IsObject(ph))
			cJSON_AddItemToObject(j, "phases", cJSON_Duplicate(ph, 1));
		if (t->dir)
			cJSON_AddStringToObject(j, "logs", t->dir);
		cJSON_AddItemToArray(tasks, j);
	}
	return o;
}
