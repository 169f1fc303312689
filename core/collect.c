#include "config.h"

#include "collect.h"
#include "job.h"
#include "status.h"
#include "util.h"

#include <nrunner/plugin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct rec {
	char *key;  /* job_id, '\x1f', id: the task as its messages name it */
	char *id;   /* as reported: the id, or "ID#2" for a duplicate */
	char *job_id;
	size_t seq; /* order of first appearance */
	long index; /* from an id "N-...", or -1 */
	double start;
	int has_start, finished;
	char *kind, *uri, *logs;
	cJSON *task; /* the results.json task, once finished */
} rec;

struct nrc_collector {
	rec **recs;
	size_t n, cap;
	/* key -> the newest rec with that key: open addressing */
	rec **slots;
	size_t nslots, used;
	size_t nfinished, dups;
	const rec *last;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static rec **slot(nrc_collector *c, const char *key)
{
	size_t i = (size_t)hash(key) & (c->nslots - 1);
	while (c->slots[i] && strcmp(c->slots[i]->key, key))
		i = (i + 1) & (c->nslots - 1);
	return &c->slots[i];
}

static void put(nrc_collector *c, rec *r)
{
	if ((c->used + 1) * 2 > c->nslots) {
		rec **old = c->slots;
		size_t n = c->nslots;
		c->nslots = n ? n * 2 : 64;
		c->slots = nrc_xcalloc(c->nslots, sizeof *c->slots);
		for (size_t i = 0; i < n; i++)
			if (old[i])
				*slot(c, old[i]->key) = old[i];
		free(old);
	}
	rec **s = slot(c, r->key);
	if (!*s)
		c->used++;
	*s = r;
}

nrc_collector *nrc_collector_new(void) { return nrc_xcalloc(1, sizeof(nrc_collector)); }

void nrc_collector_free(nrc_collector *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++) {
		rec *r = c->recs[i];
		free(r->key);
		free(r->id);
		free(r->job_id);
		free(r->kind);
		free(r->uri);
		free(r->logs);
		cJSON_Delete(r->task);
		free(r);
	}
	free(c->recs);
	free(c->slots);
	free(c);
}

static const char *get_str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void set_str(char **field, const char *v)
{
	if (!v)
		return;
	free(*field);
	*field = nrc_xstrdup(v);
}

static rec *new_rec(nrc_collector *c, const char *key, const char *id,
		    const char *job_id)
{
	rec *r = nrc_xcalloc(1, sizeof *r);
	r->key = nrc_xstrdup(key);
	r->id = nrc_xstrdup(id);
	r->job_id = nrc_xstrdup(job_id);
	r->seq = c->n;
	r->index = -1;
	/* "<index>-<identifier>", as nrunner run numbers its tasks */
	const char *p = id;
	while (*p >= '0' && *p <= '9')
		p++;
	if (p > id && p - id < 10 && *p == '-')
		r->index = strtol(id, NULL, 10);
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->recs = nrc_xrealloc(c->recs, c->cap * sizeof *c->recs);
	}
	c->recs[c->n++] = r;
	put(c, r);
	return r;
}

/* Builds the results.json task of a record; msg is its finished message,
 * or NULL for a task whose log was cut short. */
static void finish_rec(nrc_collector *c, rec *r, const cJSON *msg)
{
	cJSON *t = cJSON_CreateObject();
	cJSON_AddNumberToObject(t, "index", (double)(r->index >= 0 ? r->index : 0));
	cJSON_AddStringToObject(t, "id", r->id);
	const char *ident = r->id;
	if (r->index >= 0)
		ident = strchr(r->id, '-') + 1;
	cJSON_AddStringToObject(t, "identifier", ident);
	cJSON_AddStringToObject(t, "kind", r->kind ? r->kind : "");
	if (r->uri)
		cJSON_AddStringToObject(t, "uri", r->uri);
	const char *result = msg ? get_str(msg, "result") : NR_RESULT_INTERRUPTED;
	const char *why = msg ? get_str(msg, "fail_reason") : "no finished message";
	/* Nothing is counted or reported that breaks the status contract. */
	char *breach = NULL;
	if (!nrc_result_known(result)) {
		char *shown = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(msg, "result"));
		breach = nrc_xasprintf("the task broke the status contract: \"result\": "
				      "%.40s is not " NR_RESULTS_KNOWN, shown);
		free(shown);
		result = NR_RESULT_ERROR;
		why = breach;
	}
	cJSON_AddStringToObject(t, "result", result);
	if (why)
		cJSON_AddStringToObject(t, "fail_reason", why);
	else
		cJSON_AddNullToObject(t, "fail_reason");
	const cJSON *tm = cJSON_GetObjectItemCaseSensitive(msg, "time");
	double end = cJSON_IsNumber(tm) ? tm->valuedouble : 0;
	cJSON_AddNumberToObject(t, "start", r->has_start ? r->start : end);
	cJSON_AddNumberToObject(t, "duration",
				r->has_start && end >= r->start ? end - r->start : 0);
	const cJSON *rc = cJSON_GetObjectItemCaseSensitive(msg, "returncode");
	if (cJSON_IsNumber(rc))
		cJSON_AddNumberToObject(t, "returncode", rc->valuedouble);
	if (r->logs)
		cJSON_AddStringToObject(t, "logs", r->logs);
	if (*r->job_id)
		cJSON_AddStringToObject(t, "job_id", r->job_id);
	if (breach)
		cJSON_AddTrueToObject(t, "runner_failed");
	free(breach);
	r->task = t;
	r->finished = 1;
	c->nfinished++;
	c->last = r;
}

static int known_status(const char *s)
{
	return s && (!strcmp(s, "started") || !strcmp(s, "running") ||
		     !strcmp(s, "finished"));
}

nrc_line_kind nrc_collector_line(nrc_collector *c, const char *line, size_t len,
			       const char *default_id, const char *default_job)
{
	cJSON *m = cJSON_ParseWithLength(line, len);
	const char *status = get_str(m, "status");
	const char *id = get_str(m, "id");
	const char *job = get_str(m, "job_id");
	if (!id)
		id = default_id;
	if (!job)
		job = default_job ? default_job : "";
	if (!cJSON_IsObject(m) || !known_status(status) || !id || !*id ||
	    (!strcmp(status, "finished") && !get_str(m, "result"))) {
		cJSON_Delete(m);
		return NR_LINE_INVALID;
	}
	char *key = nrc_xasprintf("%s\x1f%s", job, id);
	rec *r = c->nslots ? *slot(c, key) : NULL;
	if (r && r->finished) {
		if (!strcmp(status, "running")) {
			/* Output after the end: nothing to record. */
			free(key);
			cJSON_Delete(m);
			return NR_LINE_OK;
		}
		/* The same task id again: a rerun, or the same log twice.
		 * Nothing is lost: it is kept apart, under "ID#k". */
		size_t k = 2;
		for (size_t i = 0; i < c->n; i++)
			k += !strcmp(c->recs[i]->key, key) && c->recs[i] != r &&
			     c->recs[i]->finished;
		char *dup_id = nrc_xasprintf("%s#%zu", id, k);
		r = new_rec(c, key, dup_id, job);
		free(dup_id);
		c->dups++;
	} else if (!r) {
		r = new_rec(c, key, id, job);
	}
	free(key);
	const cJSON *tm = cJSON_GetObjectItemCaseSensitive(m, "time");
	if (!strcmp(status, "started") || !r->has_start) {
		if (cJSON_IsNumber(tm)) {
			r->start = tm->valuedouble;
			r->has_start = 1;
		}
	}
	if (!strcmp(status, "started")) {
		set_str(&r->kind, get_str(m, "kind"));
		set_str(&r->uri, get_str(m, "uri"));
		set_str(&r->logs, get_str(m, "output_dir"));
	}
	nrc_line_kind kind = NR_LINE_OK;
	if (!strcmp(status, "finished")) {
		finish_rec(c, r, m);
		kind = NR_LINE_FINISHED;
	}
	cJSON_Delete(m);
	return kind;
}

const cJSON *nrc_collector_last(const nrc_collector *c)
{
	return c->last ? c->last->task : NULL;
}

size_t nrc_collector_close(nrc_collector *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		if (!c->recs[i]->finished) {
			finish_rec(c, c->recs[i], NULL);
			n++;
		}
	return n;
}

size_t nrc_collector_finished(const nrc_collector *c) { return c->nfinished; }
size_t nrc_collector_duplicates(const nrc_collector *c) { return c->dups; }

static int in_input_order(const void *a, const void *b)
{
	const rec *x = *(rec *const *)a, *y = *(rec *const *)b;
	if ((x->index < 0) != (y->index < 0))
		return x->index < 0 ? 1 : -1;
	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	int c = strcmp(x->job_id, y->job_id);
	if (c)
		return c;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

cJSON *nrc_collector_results(const nrc_collector *c, const char *job_id,
			    const char *results_dir, double start,
			    double duration, int interrupted)
{
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "nrunner", PACKAGE_VERSION);
	cJSON_AddStringToObject(o, "job_id", job_id);
	cJSON_AddStringToObject(o, "results_dir", results_dir ? results_dir : "");
	cJSON_AddNumberToObject(o, "start", start);
	cJSON_AddNumberToObject(o, "duration", duration);
	cJSON_AddBoolToObject(o, "interrupted", interrupted);
	cJSON_AddNumberToObject(o, "duplicates", (double)c->dups);
	cJSON *jobs = cJSON_AddArrayToObject(o, "job_ids");
	cJSON *tasks = cJSON_AddArrayToObject(o, "tasks");
	rec **sorted = nrc_xcalloc(c->n + 1, sizeof *sorted);
	size_t n = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->recs[i]->finished)
			sorted[n++] = c->recs[i];
	if (n)
		qsort(sorted, n, sizeof *sorted, in_input_order);
	for (size_t i = 0; i < n; i++) {
		cJSON *t = cJSON_Duplicate(sorted[i]->task, 1);
		/* A task whose id carries no number gets its place. */
		if (sorted[i]->index < 0)
			cJSON_SetNumberValue(cJSON_GetObjectItemCaseSensitive(t, "index"),
					     (double)(i + 1));
		cJSON_AddItemToArray(tasks, t);
		const char *j = sorted[i]->job_id;
		int seen = 0;
		const cJSON *e;
		cJSON_ArrayForEach(e, jobs) seen |= !strcmp(e->valuestring, j);
		if (*j && !seen)
			cJSON_AddItemToArray(jobs, cJSON_CreateString(j));
	}
	free(sorted);
	return o;
}

int nrc_results_exit_bits(const cJSON *results, size_t *failed)
{
	int rc = 0;
	size_t bad = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(results, "tasks"))
	{
		/* The rule nrunner run applied when it wrote these results. */
		int bits = nrc_job_task_bits(
			get_str(t, "result"),
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "timed_out")),
			cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(t, "runner_failed")));
		rc |= bits;
		if (bits & NR_EXIT_FAIL)
			bad++;
	}
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(results, "interrupted")))
		rc |= NR_EXIT_INTERRUPTED;
	if (failed)
		*failed = bad;
	return rc;
}
