/* nrunner run --sysinfo: a runnable of the option's kind with uri "pre"
 * runs once the job's directory exists and before the tests (and the
 * dependencies), one with "post" after them; each gets Avocado's kwarg
 * output_dir, the job's directory (as Avocado's pre- and post-test
 * runnables get the test's), and keeps its own logs in pre-post/ there.
 * What ran goes into results.json as "pre_post".  The core names no kind:
 * the kind is the option's (configure's NR_SYSINFO_KIND by default). */
#ifndef NR_AROUND_H
#define NR_AROUND_H

#include "job.h"
#include "progress.h"
#include "registry.h"

typedef struct nrc_around nrc_around;

/* The pre and post runnables of `kind` (a kind the registry knows). */
nrc_around *nrc_around_new(nrc_registry *reg, const char *kind);
void nrc_around_free(nrc_around *a);

/* Appends the runnables that have not run yet to items (room for two),
 * for the plugins' job_begin; returns how many.  a may be NULL. */
size_t nrc_around_pending(const nrc_around *a, nrc_runnable **items);

/* Makes "pre" run first in the job's before_tasks, ahead of what was
 * there (the dependencies): call before nrc_job_run.  a may be NULL. */
void nrc_around_attach(nrc_around *a, nrc_job *job);

/* After nrc_job_run: runs "post" when the job ran and was not
 * interrupted, and records what ran in the job's results.  Returns the
 * exit bits that adds: a failure there fails no test, as in Avocado's
 * sysinfo; a crash is the runner's, an interruption the job's.  a may
 * be NULL. */
int nrc_around_finish(nrc_around *a, nrc_job *job, nrc_progress *progress);

#endif
