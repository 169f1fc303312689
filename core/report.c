#include "config.h"

#include "report.h"
#include "html.h"
#include "runnable.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Output of a failed task shown in the JUnit report, from its end. */
#define OUTPUT_TAIL 8192

static const char *str(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* Writes to a temporary file beside path, then renames: a reader never
 * sees half a report. */
typedef struct out {
	FILE *f;
	char *tmp;
	const char *path;
} out;

static int out_open(out *o, const char *path, char *err, size_t errlen)
{
	o->path = path;
	o->tmp = nrc_xasprintf("%s.tmp.%ld", path, (long)getpid());
	o->f = fopen(o->tmp, "w");
	if (!o->f) {
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno));
		free(o->tmp);
		return -1;
	}
	return 0;
}

static int out_close(out *o, char *err, size_t errlen)
{
	int bad = ferror(o->f);
	bad |= fclose(o->f) != 0;
	if (bad || rename(o->tmp, o->path) < 0) {
		snprintf(err, errlen, "%s: cannot write: %s", o->path,
			 strerror(errno ? errno : EIO));
		unlink(o->tmp);
		free(o->tmp);
		return -1;
	}
	free(o->tmp);
	return 0;
}

/* The same for a report written elsewhere (results.html). */
struct nrc_report_file {
	out o;
};

nrc_report_file *nrc_report_file_open(const char *path, char *err, size_t errlen)
{
	nrc_report_file *r = nrc_xcalloc(1, sizeof *r);
	if (out_open(&r->o, path, err, errlen) < 0) {
		free(r);
		return NULL;
	}
	return r;
}

FILE *nrc_report_file_stream(nrc_report_file *r) { return r->o.f; }

int nrc_report_file_close(nrc_report_file *r, char *err, size_t errlen)
{
	int rc = out_close(&r->o, err, errlen);
	free(r);
	return rc;
}

int nrc_report_json(const cJSON *results, const char *path, char *err,
		   size_t errlen)
{
	out o;
	if (out_open(&o, path, err, errlen) < 0)
		return -1;
	/* Identifiers come from file names and recipes: any bytes.  The
	 * file is JSON that parses, whatever they are. */
	cJSON *valid = cJSON_Duplicate(results, 1);
	nrc_json_fix_utf8(valid);
	char *text = cJSON_Print(valid);
	cJSON_Delete(valid);
	fputs(text, o.f);
	fputc('\n', o.f);
	free(text);
	return out_close(&o, err, errlen);
}

/* --- JUnit XML --------------------------------------------------------- */

/* Text or attribute content: escaped, and with what XML 1.0 cannot hold
 * (control characters, invalid UTF-8) replaced. */
static void xml_text(FILE *f, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = (unsigned char)s[i];
		if (c == '&')
			fputs("&amp;", f);
		else if (c == '<')
			fputs("&lt;", f);
		else if (c == '>')
			fputs("&gt;", f);
		else if (c == '"')
			fputs("&quot;", f);
		else if (c == '\n' || c == '\t' || c == '\r')
			fputc(c, f);
		else if (c < 0x20 || c == 0x7f)
			fputc('?', f);
		else if (c < 0x80)
			fputc(c, f);
		else {
			size_t n = nrc_utf8_char_len((const unsigned char *)s + i, len - i);
			if (n) {
				fwrite(s + i, 1, n, f);
				i += n;
				continue;
			}
			fputc('?', f);
		}
		i++;
	}
}

static void xml_str(FILE *f, const char *s) { xml_text(f, s, strlen(s)); }

/* The end of a task's stdout or stderr file, for <system-out>. */
static void output_tail(FILE *f, const char *dir, const char *name,
			const char *tag)
{
	if (!dir)
		return;
	char *path = nrc_xasprintf("%s/%s", dir, name);
	size_t n;
	long from;
	char *buf = nrc_read_tail(path, OUTPUT_TAIL, &n, &from);
	free(path);
	if (buf && n) {
		fprintf(f, "      <%s>", tag);
		if (from)
			fprintf(f, "[... %ld bytes before ...]\n", from);
		xml_text(f, buf, n);
		fprintf(f, "</%s>\n", tag);
	}
	free(buf);
}

/* The earlier tries of a test that ran again (--retries), as Surefire
 * writes its reruns: <flakyFailure> and <flakyError> in a test that passed
 * at last, <rerunFailure> and <rerunError> in one that did not. */
static void junit_tries(FILE *f, const cJSON *t, int passed)
{
	const cJSON *try;
	cJSON_ArrayForEach(try, cJSON_GetObjectItemCaseSensitive(t, "tries"))
	{
		const char *r = str(try, "result", "");
		const char *why = str(try, "fail_reason", NULL);
		const char *elem = !strcmp(r, "fail") ? passed ? "flakyFailure" : "rerunFailure"
						      : passed ? "flakyError" : "rerunError";
		fprintf(f, "      <%s message=\"", elem);
		xml_str(f, why ? why : r);
		fprintf(f, "\" type=\"%s\">\n        <stackTrace>try %g: %s", r,
			num(try, "attempt"), r);
		if (why) {
			fputs(": ", f);
			xml_str(f, why);
		}
		fputs("</stackTrace>\n", f);
		output_tail(f, str(try, "logs", NULL), "stdout", "system-out");
		output_tail(f, str(try, "logs", NULL), "stderr", "system-err");
		fprintf(f, "      </%s>\n", elem);
	}
}

int nrc_report_junit(const cJSON *results, const char *path, char *err,
		    size_t errlen)
{
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(results, "tasks");
	size_t n = 0, failures = 0, errors = 0, skipped = 0;
	const cJSON *t;
	cJSON_ArrayForEach(t, tasks)
	{
		const char *r = str(t, "result", "");
		n++;
		failures += !strcmp(r, "fail");
		errors += !strcmp(r, "error") || !strcmp(r, "interrupted");
		skipped += !strcmp(r, "skip") || !strcmp(r, "cancel");
	}
	out o;
	if (out_open(&o, path, err, errlen) < 0)
		return -1;
	FILE *f = o.f;
	char stamp[32] = "1970-01-01T00:00:00";
	time_t start = (time_t)num(results, "start");
	struct tm tm;
	if (gmtime_r(&start, &tm))
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuites name=\"nrunner\" tests=\"%zu\" failures=\"%zu\" "
		"errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\">\n",
		n, failures, errors, skipped, num(results, "duration"));
	fprintf(f, "  <testsuite name=\"nrunner\" tests=\"%zu\" failures=\"%zu\" "
		"errors=\"%zu\" skipped=\"%zu\" time=\"%.3f\" timestamp=\"%s\" "
		"hostname=\"",
		n, failures, errors, skipped, num(results, "duration"), stamp);
	xml_str(f, host);
	fprintf(f, "\" id=\"0\" package=\"nrunner\">\n");
	fprintf(f, "    <properties>\n      <property name=\"job_id\" value=\"");
	xml_str(f, str(results, "job_id", ""));
	fprintf(f, "\"/>\n    </properties>\n");
	cJSON_ArrayForEach(t, tasks)
	{
		const char *r = str(t, "result", "");
		const char *why = str(t, "fail_reason", NULL);
		fprintf(f, "    <testcase classname=\"");
		xml_str(f, str(t, "kind", ""));
		fprintf(f, "\" name=\"");
		xml_str(f, str(t, "id", ""));
		fprintf(f, "\" time=\"%.3f\"", num(t, "duration"));
		const char *elem = !strcmp(r, "fail") ? "failure"
				   : !strcmp(r, "error") || !strcmp(r, "interrupted") ? "error"
				   : !strcmp(r, "skip") || !strcmp(r, "cancel") ? "skipped"
				   : NULL;
		if (!elem && cJSON_GetObjectItemCaseSensitive(t, "tries")) {
			fprintf(f, ">\n");
			junit_tries(f, t, 1);
			fprintf(f, "    </testcase>\n");
			continue;
		}
		if (!elem) {
			fprintf(f, "/>\n");
			continue;
		}
		fprintf(f, ">\n      <%s message=\"", elem);
		xml_str(f, why ? why : r);
		if (strcmp(elem, "skipped")) {
			fprintf(f, "\" type=\"%s\">", r);
			fprintf(f, "result: %s\n", r);
			if (why) {
				fprintf(f, "fail_reason: ");
				xml_str(f, why);
				fputc('\n', f);
			}
			if (str(t, "logs", NULL)) {
				fprintf(f, "logs: ");
				xml_str(f, str(t, "logs", ""));
				fputc('\n', f);
			}
			fprintf(f, "</%s>\n", elem);
			junit_tries(f, t, 0);
			output_tail(f, str(t, "logs", NULL), "stdout", "system-out");
			output_tail(f, str(t, "logs", NULL), "stderr", "system-err");
		} else {
			fprintf(f, "\"/>\n");
		}
		fprintf(f, "    </testcase>\n");
	}
	fprintf(f, "  </testsuite>\n</testsuites>\n");
	return out_close(&o, err, errlen);
}

/* --- TAP 13 ------------------------------------------------------------ */

/* A YAML double-quoted scalar: valid UTF-8 (YAML's own escapes for
 * control characters, U+FFFD for bytes that are not UTF-8). */
static void yaml_str(FILE *f, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t len = strlen(s);
	fputc('"', f);
	for (size_t i = 0; i < len;) {
		size_t n = nrc_utf8_char_len(u + i, len - i);
		unsigned c = u[i];
		if (!n)
			fputs("\\uFFFD", f);
		else if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\x%02x", c);
		else if (n == 2 && c == 0xC2 && u[i + 1] < 0xA0)
			fprintf(f, "\\x%02x", u[i + 1]); /* C1 controls */
		else
			fwrite(u + i, 1, n, f);
		i += n ? n : 1;
	}
	fputc('"', f);
}

/* A test description: one line, no '#' (it starts a directive), control
 * characters escaped, so that a name cannot forge a line of its own. */
static void tap_desc(FILE *f, const char *s)
{
	char *t = nrc_xstrdup(s);
	for (char *c = t; *c; c++)
		if (*c == '#')
			*c = '_';
	nrc_fputs_safe(f, t, NULL);
	free(t);
}

int nrc_report_tap(const cJSON *results, const char *path, char *err,
		  size_t errlen)
{
	const cJSON *tasks = cJSON_GetObjectItemCaseSensitive(results, "tasks");
	out o;
	if (out_open(&o, path, err, errlen) < 0)
		return -1;
	FILE *f = o.f;
	fprintf(f, "TAP version 13\n1..%d\n", cJSON_GetArraySize(tasks));
	const cJSON *t;
	int i = 0;
	cJSON_ArrayForEach(t, tasks)
	{
		const char *r = str(t, "result", "");
		const char *why = str(t, "fail_reason", NULL);
		int okay = !strcmp(r, "pass") || !strcmp(r, "skip") ||
			   !strcmp(r, "warn") || !strcmp(r, "cancel") ||
			   !strcmp(r, "flaky");
		fprintf(f, "%sok %d - ", okay ? "" : "not ", ++i);
		tap_desc(f, str(t, "id", ""));
		if (!strcmp(r, "skip") || !strcmp(r, "cancel")) {
			fprintf(f, " # SKIP ");
			tap_desc(f, why ? why : r);
		}
		fputc('\n', f);
		/* A comment, not a directive: a TAP harness counts it as a
		 * pass, and a reader sees it was not a clean one. */
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "attempts")))
			fprintf(f, !strcmp(r, "flaky") ? "# flaky: passed on try %g\n"
						       : "# retried: %g tries\n",
				num(t, "attempts"));
		if (okay)
			continue;
		fprintf(f, "  ---\n  kind: ");
		yaml_str(f, str(t, "kind", ""));
		fprintf(f, "\n  result: %s\n", r);
		if (why) {
			fprintf(f, "  fail_reason: ");
			yaml_str(f, why);
			fputc('\n', f);
		}
		fprintf(f, "  duration_s: %.3f\n", num(t, "duration"));
		if (str(t, "logs", NULL)) {
			fprintf(f, "  logs: ");
			yaml_str(f, str(t, "logs", ""));
			fputc('\n', f);
		}
		fprintf(f, "  ...\n");
	}
	return out_close(&o, err, errlen);
}

typedef int (*writer)(const cJSON *, const char *, char *, size_t);

/* Writes one report; on failure says why, and forgets the path. */
static int write_one(writer w, const cJSON *results, const char *path,
		     char **written)
{
	char err[4200];
	if (w(results, path, err, sizeof err) < 0) {
		nrc_error("%s", err);
		return 1;
	}
	free(*written);
	*written = nrc_xstrdup(path);
	return 0;
}

int nrc_report_write_set(const cJSON *results, const char *dir,
			const char *junit, const char *tap, char *paths[3])
{
	static const char *const names[3] = {"results.json", "junit.xml",
					     "results.tap"};
	static const writer writers[3] = {nrc_report_json, nrc_report_junit,
					  nrc_report_tap};
	const char *copies[3] = {NULL, junit, tap};
	int failed = 0;
	for (int i = 0; i < 3; i++) {
		paths[i] = NULL;
		char *path = nrc_xasprintf("%s/%s", dir, names[i]);
		failed += write_one(writers[i], results, path, &paths[i]);
		free(path);
		if (copies[i])
			failed += write_one(writers[i], results, copies[i], &paths[i]);
	}
	return failed;
}

int nrc_report_write_all(const cJSON *results, const char *dir,
			const char *junit, const char *tap, const char *html,
			char *paths[4])
{
	char err[4096];
	int failed = nrc_report_write_set(results, dir, junit, tap, paths);
	if (nrc_report_html_set(results, dir, html, &paths[3], err, sizeof err) < 0) {
		nrc_error("%s", err);
		failed++;
	}
	return failed;
}

/* --- merge ------------------------------------------------------------- */

static int by_index(const void *a, const void *b)
{
	double x = num(*(cJSON *const *)a, "index");
	double y = num(*(cJSON *const *)b, "index");
	return (x > y) - (x < y);
}

static void shift_worker(cJSON *t, double by)
{
	cJSON *w = cJSON_GetObjectItemCaseSensitive(t, "worker");
	if (cJSON_IsNumber(w) && by > 0)
		cJSON_SetNumberValue(w, w->valuedouble + by);
}

cJSON *nrc_report_merge(char *const *paths, size_t n, char *err, size_t errlen)
{
	cJSON **all = NULL;
	size_t count = 0;
	double start = 0, end = 0, jobs = 0;
	int interrupted = 0;
	cJSON *merged = NULL;
	cJSON **docs = nrc_xcalloc(n, sizeof *docs);
	for (size_t i = 0; i < n; i++) {
		char *text = nrc_read_file(paths[i], NULL);
		if (!text) {
			snprintf(err, errlen, "%s: cannot read results: %s", paths[i],
				 strerror(errno));
			goto out;
		}
		docs[i] = nrc_json_parse(text, paths[i], err, errlen);
		free(text);
		if (!docs[i])
			goto out;
		cJSON *tasks = cJSON_GetObjectItemCaseSensitive(docs[i], "tasks");
		if (!cJSON_IsArray(tasks)) {
			snprintf(err, errlen, "%s: \"tasks\": missing; is this an "
				 "nrunner results.json?", paths[i]);
			goto out;
		}
		double s = num(docs[i], "start"), d = num(docs[i], "duration");
		if (!start || s < start)
			start = s;
		if (s + d > end)
			end = s + d;
		jobs += num(docs[i], "jobs");
		interrupted |= cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(docs[i], "interrupted"));
		cJSON *t;
		int k = 0;
		cJSON_ArrayForEach(t, tasks)
		{
			if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(t, "index"))) {
				snprintf(err, errlen, "%s: \"tasks\"[%d]: \"index\": "
					 "missing", paths[i], k);
				goto out;
			}
			/* Each job's workers get lanes of their own in the
			 * merged timeline: after the earlier jobs' ones. */
			shift_worker(t, jobs - num(docs[i], "jobs"));
			const cJSON *try;
			cJSON_ArrayForEach(try, cJSON_GetObjectItemCaseSensitive(t, "tries"))
				shift_worker((cJSON *)try, jobs - num(docs[i], "jobs"));
			all = nrc_xrealloc(all, (count + 1) * sizeof *all);
			all[count++] = t;
			k++;
		}
	}
	if (count)
		qsort(all, count, sizeof *all, by_index);
	for (size_t i = 1; i < count; i++)
		if (num(all[i], "index") == num(all[i - 1], "index")) {
			snprintf(err, errlen,
				 "task %g (%s) is in more than one of the results; "
				 "merge the results of disjoint shards only",
				 num(all[i], "index"), str(all[i], "id", "?"));
			goto out;
		}
	merged = cJSON_CreateObject();
	cJSON_AddStringToObject(merged, "nrunner", PACKAGE_VERSION);
	cJSON_AddStringToObject(merged, "job_id", "merged");
	cJSON_AddNumberToObject(merged, "start", start);
	cJSON_AddNumberToObject(merged, "duration", end - start);
	cJSON_AddNumberToObject(merged, "jobs", jobs);
	cJSON_AddBoolToObject(merged, "interrupted", interrupted);
	cJSON *src = cJSON_AddArrayToObject(merged, "merged_from");
	for (size_t i = 0; i < n; i++)
		cJSON_AddItemToArray(src, cJSON_CreateString(paths[i]));
	cJSON *tasks = cJSON_AddArrayToObject(merged, "tasks");
	for (size_t i = 0; i < count; i++)
		cJSON_AddItemToArray(tasks, cJSON_Duplicate(all[i], 1));
out:
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(docs[i]);
	free(docs);
	free(all);
	return merged;
}
