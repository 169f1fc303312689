/* results.html: the job's results as one self-contained page. */
#ifndef NR_HTML_H
#define NR_HTML_H

#include <cjson/cJSON.h>

/* Writes the page for results (the object results.json holds) to path,
 * reading the task folders its tasks' "logs" name.  Returns 0, or -1
 * with a one-line reason. */
int nrc_report_html(const cJSON *results, const char *path, char *err,
		   size_t errlen);

/* DIR/results.html, and a copy where the user asked (copy may be NULL);
 * *path receives the last one written (free it). */
int nrc_report_html_set(const cJSON *results, const char *dir, const char *copy,
		       char **path, char *err, size_t errlen);

#endif
