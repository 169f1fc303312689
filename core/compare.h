/* nrunner report compare: per-endpoint p50 and p95 and per-test
 * durations of a job against a baseline (a results.json, or a directory
 * of them whose median is taken per key). */
#ifndef NR_COMPARE_H
#define NR_COMPARE_H

#include <stdio.h>

typedef struct nrc_compare_opts {
	double threshold; /* percent; a bigger rise is a regression */
	double min_count; /* endpoints with fewer samples are not counted */
	int markdown;     /* tables for a pull-request comment */
} nrc_compare_opts;

/* Prints the comparison to f.  Returns 1 when something regressed, 0
 * when not, -1 with a one-line reason when a file cannot be read. */
int nrc_report_compare(const char *base, const char *now,
		      const nrc_compare_opts *o, FILE *f, char *err, size_t errlen);

#endif
