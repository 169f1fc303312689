/* What `nrunner run` shows a person: a live status line on a terminal,
 * one plain line per task otherwise, and a summary at the end. */
#ifndef NR_PROGRESS_H
#define NR_PROGRESS_H

#include "job.h"

#include <stdio.h>

typedef enum { NR_SHOW_ALL, NR_SHOW_FAILURES, NR_SHOW_NONE } nrc_show;

/* tty: draw a live status line; color: ANSI colours (never with NO_COLOR). */
nrc_progress *nrc_progress_new(FILE *out, int tty, int color, nrc_show show);
void nrc_progress_free(nrc_progress *p);

void nrc_progress_begin(nrc_progress *p, const nrc_job *job);
void nrc_progress_started(nrc_progress *p, const nrc_job_task *t);
void nrc_progress_finished(nrc_progress *p, const nrc_job_task *t);
/* A try failed and the task will run again (--retries). */
void nrc_progress_retry(nrc_progress *p, const nrc_job_task *t);
void nrc_progress_note(nrc_progress *p, const char *msg);
/* One line on stderr ("nrunner: ..."), clear of the status line. */
void nrc_progress_error(nrc_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Milliseconds until the status line needs redrawing (-1: never). */
int nrc_progress_tick_ms(nrc_progress *p);
void nrc_progress_tick(nrc_progress *p);
/* Counts, time, every failure with its reason and logs, and the files
 * (a list of "label", "path" pairs ending with a NULL label; a NULL path
 * is a file that could not be written).  Returns -1, having said so on
 * stderr, if the progress or the summary could not be written out. */
int nrc_progress_summary(nrc_progress *p, const nrc_job *job,
			 const char *const *files);

#endif
