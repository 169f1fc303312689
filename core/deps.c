#include "config.h"

#include "deps.h"
#include "progress.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOT_FULFILLED "Dependency was not fulfilled."

typedef struct dep {
	cJSON *canon;        /* {"kind", "uri", "args", "kwargs"}, keys sorted */
	char *text;          /* canon as compact JSON: its identity */
	char key[17];        /* hash of text: its name in the cache */
	char *label;         /* "package name=bash", for people */
	nrc_runnable *runnable;
	size_t ntests;
	int cached;
	const nrc_job_task *task; /* its task in the dependency job */
} dep;

struct nrc_deps {
	dep *deps;
	size_t n;
	size_t **of;    /* of[i]: the dependencies of the job's task i */
	size_t *nof;
	size_t ntasks;
	nrc_runnable **pending;
	size_t npending;
	nrc_registry *reg;
	int quiet;
	double duration;
};

/* --- reading ------------------------------------------------------------ */

/* A copy of v with the members of every object sorted by key, so that a
 * dependency written in another order is the same one. */
static int cmp_members(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a, *y = *(const cJSON *const *)b;
	return strcmp(x->string, y->string);
}

static cJSON *sorted_copy(const cJSON *v)
{
	if (!cJSON_IsObject(v) && !cJSON_IsArray(v))
		return cJSON_Duplicate(v, 1);
	size_t n = (size_t)cJSON_GetArraySize(v), k = 0;
	const cJSON **items = nrc_xcalloc(n + 1, sizeof *items);
	const cJSON *c;
	cJSON_ArrayForEach(c, v) items[k++] = c;
	cJSON *out;
	if (cJSON_IsObject(v)) {
		qsort(items, n, sizeof *items, cmp_members);
		out = cJSON_CreateObject();
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToObject(out, items[i]->string, sorted_copy(items[i]));
	} else {
		out = cJSON_CreateArray();
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(out, sorted_copy(items[i]));
	}
	free(items);
	return out;
}

/* FNV-1a, 64 bits: a file name for the cache, not a security measure
 * (an entry holds the whole dependency, compared on reading). */
static void hash_key(const char *s, char out[17])
{
	unsigned long long h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	snprintf(out, 17, "%016llx", h);
}

static char *make_label(const cJSON *canon)
{
	nrc_buf b = {0};
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(canon, "kind");
	nrc_buf_append(&b, kind->valuestring, strlen(kind->valuestring));
	const cJSON *uri = cJSON_GetObjectItemCaseSensitive(canon, "uri");
	if (cJSON_IsString(uri)) {
		nrc_buf_append(&b, " ", 1);
		nrc_buf_append(&b, uri->valuestring, strlen(uri->valuestring));
	}
	const cJSON *kv;
	cJSON_ArrayForEach(kv, cJSON_GetObjectItemCaseSensitive(canon, "kwargs"))
	{
		char *val = cJSON_IsString(kv) ? nrc_xstrdup(kv->valuestring)
					       : cJSON_PrintUnformatted(kv);
		char *item = nrc_xasprintf(" %s=%s", kv->string, val);
		nrc_buf_append(&b, item, strlen(item));
		free(item);
		free(val);
	}
	nrc_buf_append(&b, "", 1);
	return b.data;
}

/* One dependency object, Avocado's shape: "type" (the kind), "uri" and
 * "args" when given, every other key a kwarg.  Returns the index of the
 * (distinct) dependency, or -1 with one line in err. */
static long add_dep(nrc_deps *d, const cJSON *obj, const char *where,
		    const char *whose, char *err, size_t errlen)
{
	if (!cJSON_IsObject(obj)) {
		snprintf(err, errlen, "%s: a dependency is an object with a "
			 "\"type\" (a kind) and that kind's keyword arguments",
			 where);
		return -1;
	}
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	if (!cJSON_IsString(type) || !type->valuestring[0]) {
		snprintf(err, errlen, "%s: \"type\": %s; give the kind that "
			 "fulfils the dependency", where,
			 type ? "must be a kind's name" : "missing");
		return -1;
	}
	/* Known, not opened: a job whose dependencies are all cached never
	 * maps their plugins' libraries, which would slow every fork. */
	char e[2048];
	if (!nrc_registry_knows(d->reg, type->valuestring, e, sizeof e)) {
		snprintf(err, errlen, "%s: dependency type '%s' of %s is not a "
			 "known kind; 'nrunner --list-kinds' shows the kinds that "
			 "were found", where, type->valuestring, whose);
		return -1;
	}
	cJSON *r = cJSON_CreateObject();
	cJSON_AddStringToObject(r, "kind", type->valuestring);
	cJSON *kwargs = cJSON_CreateObject();
	const cJSON *f;
	cJSON_ArrayForEach(f, obj)
	{
		if (!strcmp(f->string, "type"))
			continue;
		if (!strcmp(f->string, "uri") || !strcmp(f->string, "args"))
			cJSON_AddItemToObject(r, f->string, cJSON_Duplicate(f, 1));
		else
			cJSON_AddItemToObject(kwargs, f->string, cJSON_Duplicate(f, 1));
	}
	cJSON_AddItemToObject(r, "kwargs", kwargs);
	/* Checked as any recipe is (uri a string, args strings...). */
	nrc_runnable *run = nrc_runnable_from_json(r, where, err, errlen);
	if (!run) {
		cJSON_Delete(r);
		return -1;
	}
	cJSON *canon = sorted_copy(r);
	cJSON_Delete(r);
	char *text = cJSON_PrintUnformatted(canon);
	char key[17];
	hash_key(text, key);
	for (size_t i = 0; i < d->n; i++)
		if (!strcmp(d->deps[i].key, key) && !strcmp(d->deps[i].text, text)) {
			cJSON_Delete(canon);
			free(text);
			nrc_runnable_free(run);
			return (long)i;
		}
	d->deps = nrc_xrealloc(d->deps, (d->n + 1) * sizeof *d->deps);
	dep *x = &d->deps[d->n];
	memset(x, 0, sizeof *x);
	x->canon = canon;
	x->text = text;
	memcpy(x->key, key, sizeof key);
	x->label = make_label(canon);
	free(run->identifier);
	run->identifier = nrc_xstrdup(x->label);
	x->runnable = run;
	return (long)d->n++;
}

static int add_list(nrc_deps *d, size_t task, const cJSON *list,
		    const char *where, const char *whose, char *err,
		    size_t errlen)
{
	size_t i = 0;
	const cJSON *item;
	cJSON_ArrayForEach(item, list)
	{
		char *w = nrc_xasprintf("%s[%zu]", where, i++);
		long k = add_dep(d, item, w, whose, err, errlen);
		free(w);
		if (k < 0)
			return -1;
		/* A test lists a dependency once, however often it is given. */
		int seen = 0;
		for (size_t j = 0; j < d->nof[task]; j++)
			seen |= d->of[task][j] == (size_t)k;
		if (seen)
			continue;
		d->of[task] = nrc_xrealloc(d->of[task], (d->nof[task] + 1) * sizeof **d->of);
		d->of[task][d->nof[task]++] = (size_t)k;
		d->deps[k].ntests++;
	}
	return 0;
}

static cJSON *read_job_file(const char *path, char *err, size_t errlen)
{
	char *text = nrc_read_file(path, NULL);
	if (!text) {
		snprintf(err, errlen, "--job-dependency %s: cannot read it: %s",
			 path, strerror(errno));
		return NULL;
	}
	char e[2048];
	cJSON *j = nrc_json_parse(text, path, e, sizeof e);
	free(text);
	if (!j) {
		snprintf(err, errlen, "--job-dependency %s", e);
		return NULL;
	}
	if (!cJSON_IsArray(j)) {
		snprintf(err, errlen, "--job-dependency %s: must be a list of "
			 "dependencies, [{\"type\": KIND, ...}, ...]", path);
		cJSON_Delete(j);
		return NULL;
	}
	return j;
}

nrc_deps *nrc_deps_collect(nrc_registry *reg, const nrc_job *job,
			 const char *job_file, char *err, size_t errlen)
{
	nrc_deps *d = nrc_xcalloc(1, sizeof *d);
	d->reg = reg;
	d->ntasks = job->n;
	d->of = nrc_xcalloc(job->n + 1, sizeof *d->of);
	d->nof = nrc_xcalloc(job->n + 1, sizeof *d->nof);
	cJSON *common = NULL;
	if (job_file && !(common = read_job_file(job_file, err, errlen)))
		goto bad;
	for (size_t i = 0; i < job->n; i++) {
		const nrc_runnable *r = job->tasks[i].runnable;
		const char *src = r->source ? r->source : nrc_runnable_identifier(r);
		char *whose = nrc_xasprintf("runnable '%s'", nrc_runnable_identifier(r));
		const cJSON *own = cJSON_GetObjectItemCaseSensitive(r->kwargs, "dependencies");
		int rc = 0;
		if (own && !cJSON_IsArray(own) && !cJSON_IsNull(own)) {
			snprintf(err, errlen, "%s: \"kwargs\".\"dependencies\": must "
				 "be a list of dependencies, [{\"type\": KIND, ...}, ...]",
				 src);
			rc = -1;
		}
		if (rc == 0 && cJSON_IsArray(own)) {
			char *where = nrc_xasprintf("%s: \"kwargs\".\"dependencies\"", src);
			rc = add_list(d, i, own, where, whose, err, errlen);
			free(where);
		}
		if (rc == 0 && common) {
			char *where = nrc_xasprintf("--job-dependency %s: ", job_file);
			rc = add_list(d, i, common, where, "every test", err, errlen);
			free(where);
		}
		free(whose);
		if (rc < 0)
			goto bad;
	}
	cJSON_Delete(common);
	return d;
bad:
	cJSON_Delete(common);
	nrc_deps_free(d);
	return NULL;
}

void nrc_deps_free(nrc_deps *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n; i++) {
		cJSON_Delete(d->deps[i].canon);
		free(d->deps[i].text);
		free(d->deps[i].label);
		nrc_runnable_free(d->deps[i].runnable);
	}
	for (size_t i = 0; i < d->ntasks; i++)
		free(d->of[i]);
	free(d->of);
	free(d->nof);
	free(d->deps);
	free(d->pending);
	free(d);
}

size_t nrc_deps_count(const nrc_deps *d) { return d ? d->n : 0; }

/* --- the cache ------------------------------------------------------------ */

static char *cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME");
	if (xdg && xdg[0] == '/')
		return nrc_xasprintf("%s/nrunner/dependencies", xdg);
	const char *home = getenv("HOME");
	if (home && home[0] == '/')
		return nrc_xasprintf("%s/.cache/nrunner/dependencies", home);
	return NULL;
}

/* An entry: {"dependency": {...}, "label", "fulfilled", "job_id"}. */
static cJSON *cache_read(const char *dir, const char *file)
{
	char *path = nrc_xasprintf("%s/%s", dir, file);
	char *text = nrc_read_file(path, NULL);
	free(path);
	cJSON *j = text ? cJSON_Parse(text) : NULL;
	free(text);
	if (j && !cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(j, "dependency"))) {
		cJSON_Delete(j);
		j = NULL;
	}
	return j;
}

static int in_cache(const char *dir, const dep *x)
{
	char *file = nrc_xasprintf("%s.json", x->key);
	cJSON *j = cache_read(dir, file);
	free(file);
	if (!j)
		return 0;
	char *text = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(j, "dependency"));
	int same = !strcmp(text, x->text);
	free(text);
	cJSON_Delete(j);
	return same;
}

/* Written aside and renamed: a reader never sees half an entry. */
static void cache_record(const char *dir, const dep *x, const char *job_id)
{
	if (nrc_mkdir_p(dir, 0755) < 0)
		return;
	cJSON *j = cJSON_CreateObject();
	cJSON_AddItemToObject(j, "dependency", cJSON_Duplicate(x->canon, 1));
	cJSON_AddStringToObject(j, "label", x->label);
	cJSON_AddNumberToObject(j, "fulfilled", nrc_now());
	if (job_id)
		cJSON_AddStringToObject(j, "job_id", job_id);
	char *text = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	char *tmp = nrc_xasprintf("%s/.%s.%ld", dir, x->key, (long)getpid());
	char *path = nrc_xasprintf("%s/%s.json", dir, x->key);
	FILE *f = fopen(tmp, "we");
	int ok = f && fputs(text, f) >= 0 && fputc('\n', f) != EOF;
	if (f && fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) < 0)
		unlink(tmp);
	free(tmp);
	free(path);
	free(text);
}

nrc_runnable *const *nrc_deps_pending(nrc_deps *d, size_t *n)
{
	char *dir = cache_dir();
	free(d->pending);
	d->pending = nrc_xcalloc(d->n + 1, sizeof *d->pending);
	d->npending = 0;
	for (size_t i = 0; i < d->n; i++) {
		d->deps[i].cached = dir && in_cache(dir, &d->deps[i]);
		if (!d->deps[i].cached)
			d->pending[d->npending++] = d->deps[i].runnable;
	}
	free(dir);
	*n = d->npending;
	return d->pending;
}

/* --- running -------------------------------------------------------------- */

static cJSON *results_of(const nrc_deps *d)
{
	cJSON *arr = cJSON_CreateArray();
	for (size_t i = 0; i < d->n; i++) {
		const dep *x = &d->deps[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", x->key);
		cJSON_AddStringToObject(o, "label", x->label);
		cJSON_AddItemToObject(o, "dependency", cJSON_Duplicate(x->canon, 1));
		cJSON_AddBoolToObject(o, "cached", x->cached);
		const nrc_job_task *t = x->task;
		const char *result = x->cached ? NR_RESULT_PASS
				     : t && t->result ? t->result : NR_RESULT_CANCEL;
		cJSON_AddStringToObject(o, "result", result);
		if (t && t->fail_reason)
			cJSON_AddStringToObject(o, "fail_reason", t->fail_reason);
		if (t) {
			cJSON_AddNumberToObject(o, "duration", t->duration);
			if (t->dir)
				cJSON_AddStringToObject(o, "logs", t->dir);
		}
		cJSON_AddNumberToObject(o, "tests", (double)x->ntests);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

/* A line for the terminal: names and reasons come from recipes and
 * kinds, so their control characters are escaped (nrc_fputs_safe). */
static void note(nrc_progress *p, const char *tag, const dep *x, double secs,
		 const char *why)
{
	char *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);
	if (!f)
		return;
	fprintf(f, "%-11s dependency ", tag);
	nrc_fputs_safe(f, x->label, NULL);
	if (secs >= 0)
		fprintf(f, " (%.3f s)", secs);
	if (why) {
		fputs(": ", f);
		nrc_fputs_safe(f, why, "    ");
	}
	fclose(f);
	nrc_progress_note(p, line);
	free(line);
}

static int fulfilled(const dep *x)
{
	return x->cached || (x->task && x->task->result &&
			     !strcmp(x->task->result, NR_RESULT_PASS));
}

/* opts.before_tasks of the test job: the pending dependencies run as a job
 * of their own, in the test job's directory (dependencies/), with its
 * limits; then the tests whose dependencies did not pass are settled. */
static int run_deps(void *ctx, nrc_job *job, nrc_progress *progress)
{
	nrc_deps *d = ctx;
	long long t0 = nrc_monotonic_ms();
	int rc = 0;
	if (!d->quiet) {
		char *head = nrc_xasprintf("DEPENDENCIES: %zu, %zu of them fulfilled "
					  "by earlier jobs", d->n, d->n - d->npending);
		nrc_progress_note(progress, head);
		free(head);
	}
	for (size_t i = 0; i < d->n && !d->quiet; i++)
		if (d->deps[i].cached)
			note(progress, "CACHED", &d->deps[i], -1, NULL);
	nrc_job *dj = NULL;
	if (d->npending) {
		nrc_runnable_list list = {.items = nrc_xcalloc(d->npending, sizeof *list.items),
					 .n = d->npending};
		/* The dependency job owns copies; the set keeps its own. */
		for (size_t i = 0; i < d->npending; i++) {
			cJSON *j = nrc_runnable_to_json(d->pending[i]);
			char e[256];
			list.items[i] = nrc_runnable_from_json(j, "dependency", e, sizeof e);
			cJSON_Delete(j);
		}
		nrc_job_opts o = job->opts;
		o.results_base = NULL;
		o.tasks_subdir = "dependencies";
		o.before_tasks = NULL;
		o.retries = 0;
		o.failfast = 0;
		o.shuffled = 0;
		o.observe = NULL;
		char err[2048];
		dj = nrc_job_new(d->reg, &list, &o, err, sizeof err);
		free(list.items);
		if (!dj) {
			nrc_error("%s", err);
			job->extra_bits |= NR_EXIT_RUNNER_FAIL;
			return 0;
		}
		dj->dir = nrc_xstrdup(job->dir);
		dj->id = job->id ? nrc_xstrdup(job->id) : NULL;
		size_t k = 0;
		for (size_t i = 0; i < d->n; i++) {
			if (d->deps[i].cached)
				continue;
			nrc_job_task *t = &dj->tasks[k++];
			t->id = nrc_xasprintf("%zu-%s", k, d->deps[i].label);
			d->deps[i].task = t;
		}
		/* The lines are the test job's, once they are done. */
		nrc_progress *dp = nrc_progress_new(stdout, 0, 0, NR_SHOW_NONE);
		int bits = nrc_job_run(dj, dp, err, sizeof err);
		nrc_progress_free(dp);
		if (bits == NR_EXIT_JOB_ERROR && !dj->prepared)
			nrc_error("%s", err);
		for (size_t i = 0; i < d->n; i++) {
			const nrc_job_task *t = d->deps[i].task;
			if (!t || !t->result || (d->quiet && fulfilled(&d->deps[i])))
				continue;
			char tag[16];
			size_t n = 0;
			for (; t->result[n] && n < sizeof tag - 1; n++)
				tag[n] = (char)(t->result[n] >= 'a' && t->result[n] <= 'z'
						? t->result[n] - 32 : t->result[n]);
			tag[n] = '\0';
			note(progress, tag, &d->deps[i], t->duration,
			     fulfilled(&d->deps[i]) ? NULL : t->fail_reason);
		}
		job->extra_bits |= bits & NR_EXIT_RUNNER_FAIL;
		if (dj->interrupted) {
			job->interrupt_reason = nrc_xstrdup(dj->interrupt_reason
				? dj->interrupt_reason : "interrupted");
			rc = -1;
		}
		char *dir = cache_dir();
		for (size_t i = 0; dir && i < d->n; i++)
			if (!d->deps[i].cached && fulfilled(&d->deps[i]))
				cache_record(dir, &d->deps[i], job->id);
		free(dir);
	}
	for (size_t i = 0; rc == 0 && i < d->ntasks; i++) {
		nrc_buf why = {0};
		for (size_t j = 0; j < d->nof[i]; j++) {
			const dep *x = &d->deps[d->of[i][j]];
			if (fulfilled(x))
				continue;
			char *line = nrc_xasprintf("%s%s: %s%s%s", why.len ? "; " : "",
				x->label, x->task && x->task->result ? x->task->result : "not run",
				x->task && x->task->fail_reason ? ": " : "",
				x->task && x->task->fail_reason ? x->task->fail_reason : "");
			nrc_buf_append(&why, line, strlen(line));
			free(line);
		}
		if (why.len) {
			nrc_buf_append(&why, "", 1);
			char *log = nrc_xasprintf(NOT_FULFILLED " %s", why.data);
			nrc_job_task_settle(&job->tasks[i], NR_RESULT_SKIP, NOT_FULFILLED, log);
			free(log);
		}
		nrc_buf_free(&why);
	}
	d->duration = (double)(nrc_monotonic_ms() - t0) / 1000.0;
	cJSON_Delete(job->results_extra);
	job->results_extra = cJSON_CreateObject();
	cJSON_AddItemToObject(job->results_extra, "dependencies", results_of(d));
	cJSON_AddNumberToObject(job->results_extra, "dependencies_duration", d->duration);
	/* The dependency tasks' records stay with the set, which the caller
	 * frees after the results are written; the job itself goes now. */
	if (dj) {
		for (size_t i = 0; i < d->n; i++)
			d->deps[i].task = NULL;
		nrc_job_free(dj);
	}
	fflush(stdout);
	return rc;
}

void nrc_deps_attach(nrc_deps *d, nrc_job *job, nrc_registry *reg, int quiet)
{
	d->reg = reg;
	d->quiet = quiet;
	job->opts.before_tasks = run_deps;
	job->opts.before_ctx = d;
}

/* --- nrunner cache -------------------------------------------------------- */

static int entry_name(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return n == 21 && !strcmp(e->d_name + 16, ".json");
}

/* The cache's directory and its entries, sorted (n is -1 when the
 * directory is not there yet); NULL, said on stderr, without one. */
static char *cache_entries(struct dirent ***names, int *n)
{
	char *dir = cache_dir();
	*names = NULL;
	*n = 0;
	if (!dir)
		nrc_error("cache: no cache directory: set XDG_CACHE_HOME or HOME");
	else
		*n = scandir(dir, names, entry_name, alphasort);
	return dir;
}

int nrc_deps_cache_list(FILE *out)
{
	struct dirent **names;
	int n, shown = 0;
	char *dir = cache_entries(&names, &n);
	if (!dir)
		return NR_EXIT_JOB_ERROR;
	for (int i = 0; i < n; i++) {
		cJSON *j = cache_read(dir, names[i]->d_name);
		free(names[i]);
		if (!j)
			continue;
		const cJSON *label = cJSON_GetObjectItemCaseSensitive(j, "label");
		const cJSON *when = cJSON_GetObjectItemCaseSensitive(j, "fulfilled");
		char stamp[32] = "?";
		if (cJSON_IsNumber(when)) {
			time_t t = (time_t)when->valuedouble;
			struct tm tm;
			localtime_r(&t, &tm);
			strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &tm);
		}
		if (!shown++)
			fprintf(out, "Dependencies fulfilled by earlier jobs (%s):\n", dir);
		fprintf(out, "  %s  ", stamp);
		nrc_fputs_safe(out, cJSON_IsString(label) ? label->valuestring : "?", NULL);
		fputc('\n', out);
		cJSON_Delete(j);
	}
	free(names);
	if (!shown)
		fprintf(out, "The dependency cache is empty (%s).\n", dir);
	free(dir);
	return NR_EXIT_OK;
}

int nrc_deps_cache_clear(FILE *out)
{
	struct dirent **names;
	int n, removed = 0, rc = NR_EXIT_OK;
	char *dir = cache_entries(&names, &n);
	if (!dir)
		return NR_EXIT_JOB_ERROR;
	for (int i = 0; i < n; i++) {
		cJSON *j = cache_read(dir, names[i]->d_name);
		const cJSON *label = cJSON_GetObjectItemCaseSensitive(j, "label");
		char *path = nrc_xasprintf("%s/%s", dir, names[i]->d_name);
		if (unlink(path) == 0) {
			fputs("removed: ", out);
			nrc_fputs_safe(out, cJSON_IsString(label) ? label->valuestring
								 : names[i]->d_name, NULL);
			fputc('\n', out);
			removed++;
		} else if (errno != ENOENT) {
			nrc_error("%s: cannot remove: %s", path, strerror(errno));
			rc = NR_EXIT_RUNNER_FAIL;
		}
		free(path);
		cJSON_Delete(j);
		free(names[i]);
	}
	free(names);
	fprintf(out, "Removed %d %s from the dependency cache (%s).\n", removed,
		removed == 1 ? "dependency" : "dependencies", dir);
	free(dir);
	return rc;
}
