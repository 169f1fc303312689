/* bench-html: the time to write results.html for a job's results, and
 * the time to write its junit.xml (the floor: another report of the same
 * tasks), as medians over RUNS; and the page's size.
 * Usage: bench-html RESULTS.json RUNS OUTDIR */
#include "html.h"
#include "report.h"
#include "runnable.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc != 4 || atoi(argv[2]) < 1) {
		fprintf(stderr, "usage: bench-html RESULTS.json RUNS OUTDIR\n");
		return 2;
	}
	int runs = atoi(argv[2]);
	char err[1024];
	char *text = nrc_read_file(argv[1], NULL);
	cJSON *res = text ? nrc_json_parse(text, argv[1], err, sizeof err) : NULL;
	free(text);
	if (!res) {
		fprintf(stderr, "bench-html: %s: cannot read\n", argv[1]);
		return 1;
	}
	char *html = nrc_xasprintf("%s/results.html", argv[3]);
	char *junit = nrc_xasprintf("%s/junit.xml", argv[3]);
	double *th = nrc_xcalloc((size_t)runs, sizeof *th);
	double *tj = nrc_xcalloc((size_t)runs, sizeof *tj);
	for (int i = 0; i < runs; i++) {
		double t0 = nrc_now();
		if (nrc_report_html(res, html, err, sizeof err) < 0) {
			fprintf(stderr, "bench-html: %s\n", err);
			return 1;
		}
		double t1 = nrc_now();
		if (nrc_report_junit(res, junit, err, sizeof err) < 0) {
			fprintf(stderr, "bench-html: %s\n", err);
			return 1;
		}
		th[i] = (t1 - t0) * 1000;
		tj[i] = (nrc_now() - t1) * 1000;
	}
	qsort(th, (size_t)runs, sizeof *th, cmp);
	qsort(tj, (size_t)runs, sizeof *tj, cmp);
	struct stat sh, sj;
	stat(html, &sh);
	stat(junit, &sj);
	printf("tasks %d\nhtml_ms %.1f\nhtml_bytes %lld\njunit_ms %.1f\njunit_bytes %lld\n",
	       cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(res, "tasks")),
	       th[runs / 2], (long long)sh.st_size, tj[runs / 2], (long long)sj.st_size);
	cJSON_Delete(res);
	free(html);
	free(junit);
	free(th);
	free(tj);
	return 0;
}
