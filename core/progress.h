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
void nr_progress_note(nr_progress *p, const char *msg);
/* Milliseconds until the status line needs redrawing (-1: never). */
int nr_progress_tick_ms(nr_progress *p);
void nr_progress_tick(nr_progress *p);
/* Counts, time, every failure with its reason and logs, and the files
 * written (NULL-terminated list of "label", "path" pairs). */
void nr_progress_summary(nr_progress *p, const nr_job *job,
			 const char *const *files);

#endif
