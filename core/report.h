/* Reports from a job's results (the object results.json holds): JUnit XML
 * and TAP 13, and merging the results of several shards. */
#ifndef NR_REPORT_H
#define NR_REPORT_H

#include <cjson/cJSON.h>
#include <stdio.h>

/* A report file written beside its place and renamed into it at close,
 * so that a reader never sees half of one.  open and close return NULL
 * or -1 with a one-line reason; close frees r either way. */
typedef struct nrc_report_file nrc_report_file;
nrc_report_file *nrc_report_file_open(const char *path, char *err, size_t errlen);
FILE *nrc_report_file_stream(nrc_report_file *r);
int nrc_report_file_close(nrc_report_file *r, char *err, size_t errlen);

/* Each writes to path and returns 0, or -1 with a one-line reason. */
int nrc_report_json(const cJSON *results, const char *path, char *err,
		   size_t errlen);
int nrc_report_junit(const cJSON *results, const char *path, char *err,
		    size_t errlen);
int nrc_report_tap(const cJSON *results, const char *path, char *err,
		  size_t errlen);

/* The set a job leaves: DIR/results.json, DIR/junit.xml and
 * DIR/results.tap, plus copies of the reports where the user asked (junit
 * and tap may be NULL).  Each file is tried; each that cannot be written
 * is one line on stderr.  paths[3] receives, for each report, the path
 * written last, or NULL if none was (free them).  Returns the number of
 * files that could not be written. */
int nrc_report_write_set(const cJSON *results, const char *dir,
			const char *junit, const char *tap, char *paths[3]);

/* The same set and DIR/results.html (with a copy at html when it is not
 * NULL): paths[3] receives the page's path, or NULL.  Returns the number
 * of files that could not be written, each one line on stderr. */
int nrc_report_write_all(const cJSON *results, const char *dir,
			const char *junit, const char *tap, const char *html,
			char *paths[4]);

/* Reads several results.json files into one results object, tasks in
 * input order.  Overlapping shards (a task index twice) are an error. */
cJSON *nrc_report_merge(char *const *paths, size_t n, char *err, size_t errlen);

#endif
