/* --sysinfo's runnables around a job (around.h). */
#include "config.h"

#include "around.h"
#include "util.h"

#include <stdlib.h>

#define ERRLEN 4096

struct nrc_around {
	nrc_registry *reg;
	nrc_runnable *r[2]; /* pre, post: not run yet */
	cJSON *records;     /* what ran, for results.json */
	int (*next)(void *ctx, nrc_job *job, nrc_progress *progress);
	void *next_ctx;
};

nrc_around *nrc_around_new(nrc_registry *reg, const char *kind)
{
	static const char *const when[] = {"pre", "post"};
	nrc_around *a = nrc_xcalloc(1, sizeof *a);
	a->reg = reg;
	a->records = cJSON_CreateArray();
	for (int i = 0; i < 2; i++) {
		a->r[i] = nrc_runnable_new(kind);
		a->r[i]->uri = nrc_xstrdup(when[i]);
		a->r[i]->identifier = nrc_xasprintf("%s-%s", when[i], kind);
	}
	return a;
}

void nrc_around_free(nrc_around *a)
{
	if (!a)
		return;
	for (int i = 0; i < 2; i++)
		nrc_runnable_free(a->r[i]);
	cJSON_Delete(a->records);
	free(a);
}

size_t nrc_around_pending(const nrc_around *a, nrc_runnable **items)
{
	size_t n = 0;
	for (int i = 0; a && i < 2; i++)
		if (a->r[i])
			items[n++] = a->r[i];
	return n;
}

static int run(nrc_around *a, nrc_job *job, nrc_progress *progress, int i)
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
static int pre(void *ctx, nrc_job *job, nrc_progress *progress)
{
	nrc_around *a = ctx;
	int bits = run(a, job, progress, 0);
	job->extra_bits |= bits & NR_EXIT_RUNNER_FAIL;
	if (bits & NR_EXIT_INTERRUPTED)
		return -1;
	return a->next ? a->next(a->next_ctx, job, progress) : 0;
}

void nrc_around_attach(nrc_around *a, nrc_job *job)
{
	if (!a || !a->r[0])
		return;
	a->next = job->opts.before_tasks;
	a->next_ctx = job->opts.before_ctx;
	job->opts.before_tasks = pre;
	job->opts.before_ctx = a;
}

int nrc_around_finish(nrc_around *a, nrc_job *job, nrc_progress *progress)
{
	if (!a)
		return 0;
	int bits = 0;
	if (a->r[1] && job->prepared && !job->interrupted)
		bits = run(a, job, progress, 1);
	if (a->records && cJSON_GetArraySize(a->records)) {
		if (!job->results_extra)
			job->results_extra = cJSON_CreateObject();
		cJSON_AddItemToObject(job->results_extra, "pre_post", a->records);
		a->records = NULL;
	}
	return bits;
}
