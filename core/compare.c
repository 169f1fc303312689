/* nrunner report compare: a job's timings against a baseline. */
#include "config.h"

#include "compare.h"
#include "runnable.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* One key (an endpoint or a test) and its values over the files read:
 * the median is taken per value. */
typedef struct entry {
	char *key;
	double *v[3]; /* endpoints: p50, p95, count; tests: duration */
	size_t n;
} entry;

typedef struct side {
	entry *eps, *tests;
	size_t neps, ntests;
	size_t files;
	char **notes; /* one line per file that lacks a part */
	size_t nnotes;
} side;

static entry *find(entry **list, size_t *n, const char *key)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*list)[i].key, key))
			return &(*list)[i];
	*list = nrc_xrealloc(*list, (*n + 1) * sizeof **list);
	entry *e = &(*list)[(*n)++];
	memset(e, 0, sizeof *e);
	e->key = nrc_xstrdup(key);
	return e;
}

static void add(entry *e, double a, double b, double c)
{
	for (int k = 0; k < 3; k++)
		e->v[k] = nrc_xrealloc(e->v[k], (e->n + 1) * sizeof *e->v[k]);
	e->v[0][e->n] = a;
	e->v[1][e->n] = b;
	e->v[2][e->n] = c;
	e->n++;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double num(const cJSON *o, const char *key, int *ok)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		*ok = 0;
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Reads one results.json into the side. */
static int read_one(side *s, const char *path, char *err, size_t errlen)
{
	char *text = nrc_read_file(path, NULL);
	if (!text) {
		snprintf(err, errlen, "%s: cannot read results: %s", path, strerror(errno));
		return -1;
	}
	cJSON *doc = nrc_json_parse(text, path, err, errlen);
	free(text);
	if (!doc)
		return -1;
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(doc, "tasks");
	const cJSON *eps = cJSON_GetObjectItemCaseSensitive(doc, "endpoints");
	if (!cJSON_IsArray(tasks) && !cJSON_IsObject(eps)) {
		snprintf(err, errlen, "%s: neither \"tasks\" nor \"endpoints\": not an "
			 "nrunner results.json", path);
		cJSON_Delete(doc);
		return -1;
	}
	const cJSON *e;
	cJSON_ArrayForEach(e, eps)
	{
		int ok = 1;
		double p50 = num(e, "p50_ms", &ok), p95 = num(e, "p95_ms", &ok),
		       count = num(e, "count", &ok);
		if (ok)
			add(find(&s->eps, &s->neps, e->string), p50, p95, count);
	}
	size_t untimed = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, tasks)
	{
		const cJSON *idf = cJSON_GetObjectItemCaseSensitive(t, "identifier");
		if (!cJSON_IsString(idf))
			idf = cJSON_GetObjectItemCaseSensitive(t, "id");
		int ok = 1;
		double d = num(t, "duration", &ok), start = num(t, "start", &ok);
		if (!cJSON_IsString(idf) || !ok) {
			untimed++;
			continue;
		}
		if (start <= 0) /* never started: nothing to compare */
			continue;
		add(find(&s->tests, &s->ntests, idf->valuestring), d, 0, 0);
	}
	/* An older or partial file: say once what is missing, compare the
	 * rest. */
	char *note = NULL;
	if (!cJSON_IsArray(tasks))
		note = nrc_xasprintf("%s: no \"tasks\": comparing endpoints only", path);
	else if (untimed)
		note = nrc_xasprintf("%s: %zu tasks without \"identifier\" and "
				    "\"duration\" (an older nrunner?): not compared",
				    path, untimed);
	if (note) {
		s->notes = nrc_xrealloc(s->notes, (s->nnotes + 1) * sizeof *s->notes);
		s->notes[s->nnotes++] = note;
	}
	s->files++;
	cJSON_Delete(doc);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A directory: every *.json in it and below, in name order; symbolic
 * links are not followed (nrunner-results/latest would count a job
 * twice). */
static int read_dir(side *s, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	if (!d) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.') {
			names = nrc_xrealloc(names, (n + 1) * sizeof *names);
			names[n++] = nrc_xasprintf("%s/%s", dir, de->d_name);
		}
	closedir(d);
	if (n)
		qsort(names, n, sizeof *names, by_name);
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		size_t l = strlen(names[i]);
		if (rc == 0 && lstat(names[i], &st) == 0) {
			if (S_ISDIR(st.st_mode))
				rc = read_dir(s, names[i], err, errlen);
			else if (S_ISREG(st.st_mode) && l > 5 &&
				 !strcmp(names[i] + l - 5, ".json"))
				rc = read_one(s, names[i], err, errlen);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static int read_side(side *s, const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		snprintf(err, errlen, "%s: cannot read results: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return read_one(s, path, err, errlen);
	if (read_dir(s, path, err, errlen) < 0)
		return -1;
	if (!s->files) {
		snprintf(err, errlen, "%s: no results (*.json) in this directory", path);
		return -1;
	}
	return 0;
}

static void side_free(side *s)
{
	entry *lists[2] = {s->eps, s->tests};
	size_t ns[2] = {s->neps, s->ntests};
	for (int l = 0; l < 2; l++) {
		for (size_t i = 0; i < ns[l]; i++) {
			free(lists[l][i].key);
			for (int k = 0; k < 3; k++)
				free(lists[l][i].v[k]);
		}
		free(lists[l]);
	}
	for (size_t i = 0; i < s->nnotes; i++)
		free(s->notes[i]);
	free(s->notes);
}

static const entry *lookup(const entry *list, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(list[i].key, key))
			return &list[i];
	return NULL;
}

/* The change in percent; a zero base changes by 0 % to 0 and by an
 * infinite amount to anything else. */
static double change(double base, double now)
{
	if (base == 0)
		return now == 0 ? 0 : INFINITY;
	return (now - base) / base * 100;
}

static void pct(char *out, size_t len, double c)
{
	if (isinf(c))
		snprintf(out, len, "new");
	else
		snprintf(out, len, "%+.1f%%", c);
}

/* A table cell: in markdown, '|' would end it. */
static void cell(FILE *f, const char *s, int md)
{
	for (; *s; s++) {
		if (md && *s == '|')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void only_in(FILE *f, const char *label, const entry *a, size_t na,
		    const entry *b, size_t nb, const char *what, int md)
{
	int first = 1;
	for (size_t i = 0; i < na; i++) {
		if (lookup(b, nb, a[i].key))
			continue;
		if (first)
			fprintf(f, md ? "\n**%s** (%s, not compared):\n\n" : "\n%s (%s, not compared):\n",
				label, what);
		first = 0;
		fputs(md ? "- `" : "  ", f);
		cell(f, a[i].key, 0);
		fputs(md ? "`\n" : "\n", f);
	}
}

int nrc_report_compare(const char *base_path, const char *new_path,
		      const nrc_compare_opts *o, FILE *f, char *err, size_t errlen)
{
	side b = {0}, n = {0};
	int rc = -1;
	if (read_side(&b, base_path, err, errlen) < 0 ||
	    read_side(&n, new_path, err, errlen) < 0)
		goto out;
	int md = o->markdown;
	for (size_t i = 0; i < b.nnotes; i++)
		fprintf(f, "%snote: %s\n", md ? "> " : "", b.notes[i]);
	for (size_t i = 0; i < n.nnotes; i++)
		fprintf(f, "%snote: %s\n", md ? "> " : "", n.notes[i]);
	size_t regressed = 0, compared = 0, few = 0;
	char c50[32], c95[32], line[256];
	/* Endpoints */
	int head = 0;
	for (size_t i = 0; i < n.neps; i++) {
		entry *ne = &n.eps[i];
		entry *be = (entry *)lookup(b.eps, b.neps, ne->key);
		if (!be)
			continue;
		double bp50 = median(be->v[0], be->n), bp95 = median(be->v[1], be->n),
		       bc = median(be->v[2], be->n);
		double np50 = median(ne->v[0], ne->n), np95 = median(ne->v[1], ne->n),
		       nc = median(ne->v[2], ne->n);
		double d50 = change(bp50, np50), d95 = change(bp95, np95);
		int counted = bc >= o->min_count && nc >= o->min_count;
		int bad = counted && (d50 > o->threshold || d95 > o->threshold);
		compared += counted;
		few += !counted;
		regressed += bad;
		pct(c50, sizeof c50, d50);
		pct(c95, sizeof c95, d95);
		const char *verdict = bad ? "REGRESSED" : counted ? "" : "too few samples";
		if (!head++)
			fputs(md ? "| Endpoint | p50 base | p50 new | p50 change | p95 base | "
				   "p95 new | p95 change | count base / new | |\n"
				   "|---|---:|---:|---:|---:|---:|---:|---:|---|\n"
				 : "ENDPOINT                                  p50 BASE   p50 NEW  CHANGE"
				   "   p95 BASE   p95 NEW  CHANGE   COUNT\n", f);
		if (md) {
			fputs("| `", f);
			cell(f, ne->key, 1);
			fprintf(f, "` | %.1f ms | %.1f ms | %s | %.1f ms | %.1f ms | %s | %g / %g | %s |\n",
				bp50, np50, c50, bp95, np95, c95, bc, nc,
				bad ? "**regressed**" : verdict);
		} else {
			snprintf(line, sizeof line, "%-40s %8.1f %9.1f %7s %10.1f %9.1f %7s %5g/%-5g %s",
				 ne->key, bp50, np50, c50, bp95, np95, c95, bc, nc, verdict);
			fprintf(f, "%s\n", line);
		}
	}
	/* Tests */
	head = 0;
	for (size_t i = 0; i < n.ntests; i++) {
		entry *nt = &n.tests[i];
		entry *bt = (entry *)lookup(b.tests, b.ntests, nt->key);
		if (!bt)
			continue;
		double bd = median(bt->v[0], bt->n), nd = median(nt->v[0], nt->n);
		double d = change(bd, nd);
		int bad = d > o->threshold;
		compared++;
		regressed += bad;
		pct(c50, sizeof c50, d);
		if (!head++)
			fputs(md ? "\n| Test | duration base | duration new | change | |\n"
				   "|---|---:|---:|---:|---|\n"
				 : "\nTEST                                      BASE (s)   NEW (s)  CHANGE\n", f);
		if (md) {
			fputs("| `", f);
			cell(f, nt->key, 1);
			fprintf(f, "` | %.3f | %.3f | %s | %s |\n", bd, nd, c50,
				bad ? "**regressed**" : "");
		} else {
			snprintf(line, sizeof line, "%-40s %8.3f %9.3f %7s %s", nt->key, bd, nd,
				 c50, bad ? "REGRESSED" : "");
			fprintf(f, "%s\n", line);
		}
	}
	only_in(f, "Only in BASE", b.eps, b.neps, n.eps, n.neps, "endpoints", md);
	only_in(f, "Only in BASE", b.tests, b.ntests, n.tests, n.ntests, "tests", md);
	only_in(f, "Only in NEW", n.eps, n.neps, b.eps, b.neps, "endpoints", md);
	only_in(f, "Only in NEW", n.tests, n.ntests, b.tests, b.ntests, "tests", md);
	fprintf(f, "\n%s%zu regressed beyond %g%% of %zu compared (base: %zu file%s; "
		"endpoints with fewer than %g samples not counted: %zu)\n",
		md ? "**RESULT**: " : "RESULT: ", regressed, o->threshold, compared,
		b.files, b.files == 1 ? "" : "s", o->min_count, few);
	rc = regressed ? 1 : 0;
out:
	side_free(&b);
	side_free(&n);
	return rc;
}
