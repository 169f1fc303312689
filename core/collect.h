/* Task results from status streams: the messages of many tasks of many
 * jobs, interleaved as a status server receives them, or saved to files
 * and collected later (Avocado's "disconnected execution").  The results
 * have the shape of a job's results.json, so that core/report.c writes
 * their reports. */
#ifndef NR_COLLECT_H
#define NR_COLLECT_H

#include <cjson/cJSON.h>
#include <stddef.h>

typedef struct nrc_collector nrc_collector;

/* What a line was. */
typedef enum {
	NR_LINE_INVALID,  /* not JSON, not a status message, or no task id */
	NR_LINE_OK,
	NR_LINE_FINISHED, /* a task finished: see nrc_collector_last() */
} nrc_line_kind;

nrc_collector *nrc_collector_new(void);
void nrc_collector_free(nrc_collector *c);

/* Feeds one line (without its newline).  A message without "id" or
 * "job_id" gets default_id / default_job (a log named after its task);
 * either may be NULL. */
nrc_line_kind nrc_collector_line(nrc_collector *c, const char *line, size_t len,
			       const char *default_id, const char *default_job);

/* The task that finished last, as a results.json task (borrowed). */
const cJSON *nrc_collector_last(const nrc_collector *c);

/* Ends every task that has no finished message as interrupted, "no
 * finished message".  Returns how many. */
size_t nrc_collector_close(nrc_collector *c);

size_t nrc_collector_finished(const nrc_collector *c);
/* Task ids seen again after their task had finished: kept apart as
 * "ID#2", "ID#3"... */
size_t nrc_collector_duplicates(const nrc_collector *c);

/* The results as results.json holds them, tasks in input order (by the
 * number an id "N-..." starts with, then as they came). */
cJSON *nrc_collector_results(const nrc_collector *c, const char *job_id,
			    const char *results_dir, double start,
			    double duration, int interrupted);

/* The exit status bits that results stand for (nrunner(1)): 1 a task
 * failed or errored or timed out, 4 a runner failed, 8 interrupted.
 * failed (may be NULL) receives how many tasks make the 1. */
int nrc_results_exit_bits(const cJSON *results, size_t *failed);

#endif
