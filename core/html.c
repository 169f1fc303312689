/* results.html: one self-contained page from a job's results.  The page
 * (core/report.html: markup, style and the script that draws it) is
 * embedded at build time; this file gathers what results.json does not
 * hold (output tails, the log, a flow's steps) from the task folders and
 * puts it all into the page as JSON. */
#include "config.h"

#include "html.h"
#include "report.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From report-html.c, generated from core/report.html. */
extern const char nrc_report_html_template[];

#define OUT_TAIL 8192   /* of a failed task's stdout and stderr */
#define LOG_LINES 40    /* log messages kept, from the end */
#define MAX_STEPS 500   /* step messages kept, from the start */

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The end of DIR/NAME as a string (NUL bytes made '?'), or NULL. */
static cJSON *tail_string(const char *dir, const char *name)
{
	char *path = nrc_xasprintf("%s/%s", dir, name);
	size_t len;
	long before;
	char *buf = nrc_read_tail(path, OUT_TAIL, &len, &before);
	free(path);
	if (!buf || !len) {
		free(buf);
		return NULL;
	}
	for (size_t i = 0; i < len; i++)
		if (!buf[i])
			buf[i] = '?';
	char *text = before ? nrc_xasprintf("[... %ld bytes before ...]\n%s", before, buf)
			    : nrc_xstrdup(buf);
	free(buf);
	cJSON *s = cJSON_CreateString(text);
	free(text);
	return s;
}

/* What the page shows of a task beyond results.json, from its folder:
 * the steps (running messages with a "step"), the end of its log, the
 * "failure" of its finished message, and for a task that did not pass
 * the end of its output. */
static cJSON *task_extra(const cJSON *t)
{
	const char *dir = str(t, "logs"), *result = str(t, "result");
	if (!dir)
		return NULL;
	cJSON *x = cJSON_CreateObject();
	char *path = nrc_xasprintf("%s/status.jsonl", dir);
	char *text = nrc_read_file(path, NULL);
	free(path);
	cJSON *steps = cJSON_CreateArray(), *log = cJSON_CreateArray();
	int nsteps = 0, nlog = 0;
	for (char *line = text, *nl; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		/* Most lines are "started" and "finished" with nothing to
		 * show: not parsed. */
		if (!strstr(line, "\"log\"") && !strstr(line, "\"step\"") &&
		    !strstr(line, "\"failure\""))
			continue;
		cJSON *m = cJSON_Parse(line);
		if (!m)
			continue;
		const char *status = str(m, "status");
		const char *lg = str(m, "log");
		if (lg && nlog++ >= LOG_LINES)
			cJSON_DeleteItemFromArray(log, 0);
		if (lg)
			cJSON_AddItemToArray(log, cJSON_CreateString(lg));
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(m, "step")) &&
		    nsteps++ < MAX_STEPS) {
			cJSON *s = cJSON_CreateObject();
			static const char *const keep[] = {"step", "name", "method", "url",
							   "http_status", "ms"};
			for (size_t i = 0; i < sizeof keep / sizeof *keep; i++) {
				cJSON *v = cJSON_GetObjectItemCaseSensitive(m, keep[i]);
				if (v)
					cJSON_AddItemToObject(s, keep[i], cJSON_Duplicate(v, 0));
			}
			cJSON_AddItemToArray(steps, s);
		}
		const cJSON *fail = cJSON_GetObjectItemCaseSensitive(m, "failure");
		if (status && !strcmp(status, "finished") && cJSON_IsObject(fail))
			cJSON_AddItemToObject(x, "failure", cJSON_Duplicate(fail, 1));
		cJSON_Delete(m);
	}
	free(text);
	if (nsteps > MAX_STEPS)
		cJSON_AddNumberToObject(x, "steps_cut", nsteps);
	if (nsteps)
		cJSON_AddItemToObject(x, "steps", steps);
	else
		cJSON_Delete(steps);
	if (nlog) {
		nrc_buf b = {0};
		const cJSON *l;
		cJSON_ArrayForEach(l, log)
		{
			nrc_buf_append(&b, l->valuestring, strlen(l->valuestring));
			nrc_buf_append(&b, "\n", 1);
		}
		nrc_buf_append(&b, "", 1);
		cJSON_AddStringToObject(x, "log", b.data);
		nrc_buf_free(&b);
	}
	cJSON_Delete(log);
	int passed = result && (!strcmp(result, "pass") || !strcmp(result, "skip") ||
				!strcmp(result, "cancel"));
	if (!passed) {
		cJSON *o = tail_string(dir, "stdout");
		if (o)
			cJSON_AddItemToObject(x, "stdout", o);
		o = tail_string(dir, "stderr");
		if (o)
			cJSON_AddItemToObject(x, "stderr", o);
	}
	if (!cJSON_GetArraySize(x)) {
		cJSON_Delete(x);
		return NULL;
	}
	return x;
}

/* JSON inside <script>: a "<" only ever appears in a string, where
 * \u003c means the same and cannot close the element or open a
 * comment. */
static void script_json(FILE *f, const char *json)
{
	for (const char *p = json; *p; p++) {
		const char *lt = strchr(p, '<');
		if (!lt) {
			fputs(p, f);
			break;
		}
		fwrite(p, 1, (size_t)(lt - p), f);
		fputs("\\u003c", f);
		p = lt;
	}
}

int nrc_report_html(const cJSON *results, const char *path, char *err,
		   size_t errlen)
{
	cJSON *page = cJSON_Duplicate(results, 1);
	cJSON *t;
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(page, "tasks"))
	{
		cJSON *x = task_extra(t);
		if (x)
			cJSON_AddItemToObject(t, "report", x);
	}
	char *json = cJSON_PrintUnformatted(page);
	cJSON_Delete(page);
	const char *mark = strstr(nrc_report_html_template, "@NR_DATA@");
	nrc_report_file *o = nrc_report_file_open(path, err, errlen);
	if (!o) {
		free(json);
		return -1;
	}
	FILE *f = nrc_report_file_stream(o);
	fwrite(nrc_report_html_template, 1, (size_t)(mark - nrc_report_html_template), f);
	script_json(f, json);
	fputs(mark + strlen("@NR_DATA@"), f);
	free(json);
	return nrc_report_file_close(o, err, errlen);
}

int nrc_report_html_set(const cJSON *results, const char *dir, const char *copy,
		       char **path, char *err, size_t errlen)
{
	*path = NULL;
	char *p = nrc_xasprintf("%s/results.html", dir);
	if (nrc_report_html(results, p, err, errlen) < 0 ||
	    (copy && nrc_report_html(results, copy, err, errlen) < 0)) {
		free(p);
		return -1;
	}
	if (copy) {
		free(p);
		p = nrc_xstrdup(copy);
	}
	*path = p;
	return 0;
}
