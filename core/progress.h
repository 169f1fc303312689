/* What `nrunner run` shows a person: a live status line on a terminal,
 * one plain line per task otherwise, and a summary at the end. */
#ifndef NR_PROGRESS_H
#define NR_PROGRESS_H

#include "job.h"

#include <stdio.h>

typedef enum { NR_SHOW_ALL, NR_SHOW_FAILURES, NR_SHOW_NONE } nr_show;

/* tty: draw a live status line; color: ANSI colours (never with NO_COLOR). */
nr_progress *nr_progress_new(FILE *out, int tty, int color, nr_show show);
void nr_progress_free(nr_progress *p);

void nr_progress_begin(nr_progress *p, const nr_job *job);
void nr_progress_started(nr_progress *p, const nr_job_task *t);
void nr_progress_finished(nr_progress *p, const nr_job_task *t);
/* A try failed and the task will run again (--retries). */
void nr_progress_retry(nr_progress *p, const nr_job_task *t);
void nr_progress_note(nr_progress *p, const char *msg);
/* One line on stderr ("nrunner: ..."), clear of the status line. */
void nr_progress_error(nr_progress *p, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Milliseconds until the status line needs redrawing (-1: never). */
int nr_progress_tick_ms(nr_progress *p);
void nr_progress_tick(nr_progress *p);
/* Counts, time, every failure with its reason and logs, and the files
 * (a list of "label", "path" pairs ending with a NULL label; a NULL path
 * is a file that could not be written).  Returns -1, having said so on
 * stderr, if the progress or the summary could not be written out. */
int nr_progress_summary(nr_progress *p, const nr_job *job,
			 const char *const *files);

#endif
